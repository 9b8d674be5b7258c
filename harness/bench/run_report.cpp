// tags: harness|bench — desc: reads a `vtb run --json` report (harness/runner.h defines the writer).
#include "harness/bench/run_report.h"

#include <algorithm>
#include <cctype>

#include "harness/bench/json_value.h"

namespace vtb::bench {

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string str_of(const Json& v) {
  if (v.is_string()) return v.as_string();
  if (v.is_number()) return to_json(v);
  if (v.type() == Json::Type::Bool) return v.as_bool() ? "true" : "false";
  return "";
}

const Json* first_of(const Json& o, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (const Json* v = o.find(k)) return v;
  return nullptr;
}

void flatten_counters(const Json& v, const std::string& prefix, std::map<std::string, double>* out) {
  if (v.is_number()) { (*out)[prefix] = v.as_double(); return; }
  if (v.is_object())
    for (const auto& [k, x] : v.members()) flatten_counters(x, prefix.empty() ? k : prefix + "." + k, out);
}
}  // namespace

bool RunReport::ok() const {
  std::string o = lower(outcome);
  return (o == "exited" || o == "ok" || o == "exit") && exit_code == 0;
}

const std::string* RunReport::record(const std::string& key) const {
  for (const auto& [k, v] : records)
    if (k == key) return &v;
  return nullptr;
}

bool parse_run_report(const std::string& text, RunReport* out, std::string* err) {
  // The report is the last top-level object: try from each '{' that starts a line, last first.
  Json j;
  std::string perr;
  bool parsed = false;
  for (size_t pos = text.size(); pos-- > 0;) {
    if (text[pos] != '{' || (pos > 0 && text[pos - 1] != '\n')) continue;
    if (parse_json(std::string_view(text).substr(pos), &j, &perr) && j.is_object()) { parsed = true; break; }
  }
  if (!parsed) {
    if (err) *err = text.empty() ? "no JSON report on stdout" : "no JSON run report on stdout (" + perr + ")";
    return false;
  }
  RunReport r;
  const Json& root = j.find("result") && j["result"].is_object() ? j["result"] : j;
  if (const Json* v = first_of(root, {"outcome", "status"})) r.outcome = str_of(*v);
  if (const Json* v = first_of(root, {"exit_code", "guest_exit_code", "code"})) r.exit_code = int(v->as_i64(-1));
  if (const Json* v = first_of(root, {"message", "error"})) r.message = str_of(*v);
  if (const Json* v = first_of(root, {"engine"})) {
    if (v->is_object()) {
      r.engine = str_of((*v)["name"]);
      r.backend = str_of((*v)["backend"]);
      if (r.backend.empty()) r.backend = str_of((*v)["label"]);
    } else {
      r.engine = str_of(*v);
    }
  }
  if (const Json* v = first_of(root, {"backend", "engine_backend", "engine_label", "label"}); v && r.backend.empty()) r.backend = str_of(*v);
  if (const Json* v = first_of(root, {"wall_seconds", "wall_s"})) r.wall_seconds = v->as_double();
  if (const Json* v = first_of(root, {"phases"}); v && v->is_array()) {
    for (const Json& p : v->items()) {
      ReportPhase ph;
      ph.phase = int(first_of(p, {"phase", "id", "n"}) ? first_of(p, {"phase", "id", "n"})->as_i64(0) : 0);
      if (const Json* b = first_of(p, {"begin_ns", "begin"})) ph.begin_ns = b->as_u64();
      if (const Json* e = first_of(p, {"end_ns", "end"})) ph.end_ns = e->as_u64();
      r.phases.push_back(ph);
    }
  }
  if (const Json* v = first_of(root, {"records"})) {
    if (v->is_array()) {
      for (const Json& rec : v->items()) {
        if (rec.is_array() && rec.items().size() >= 2) r.records.emplace_back(str_of(rec.items()[0]), str_of(rec.items()[1]));
        else if (rec.is_object()) r.records.emplace_back(str_of(rec["key"]), str_of(rec["value"]));
      }
    } else if (v->is_object()) {
      for (const auto& [k, x] : v->members()) r.records.emplace_back(k, str_of(x));
    }
  }
  if (const Json* v = first_of(root, {"counters"})) flatten_counters(*v, "", &r.counters);
  if (r.outcome.empty()) {
    if (err) *err = "run report has no outcome";
    return false;
  }
  *out = std::move(r);
  return true;
}

bool phase_interval(const RunReport& r, int phase, int occurrence, uint64_t* ns) {
  int seen = 0;
  for (const auto& p : r.phases) {
    if (p.phase != phase || p.end_ns == 0 || p.end_ns < p.begin_ns) continue;
    if (seen++ == occurrence) { *ns = p.end_ns - p.begin_ns; return true; }
  }
  return false;
}

int phase_count(const RunReport& r, int phase) {
  return int(std::count_if(r.phases.begin(), r.phases.end(),
                           [&](const ReportPhase& p) { return p.phase == phase && p.end_ns >= p.begin_ns && p.end_ns; }));
}

}  // namespace vtb::bench
