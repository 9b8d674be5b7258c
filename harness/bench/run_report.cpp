// tags: harness|bench — desc: reads a `vtb run --json` report (harness/runner.h defines the writer).
#include "harness/bench/run_report.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "harness/json.h"

namespace vtb::bench {

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string str_of(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return dump_json(v);
  return "";
}

const Json* first_of(const Json& o, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (const Json* v = json_find(o, k)) return v;
  return nullptr;
}

void flatten_counters(const Json& v, const std::string& prefix, std::map<std::string, double>* out) {
  if (v.is_number()) { (*out)[prefix] = v.get<double>(); return; }
  if (v.is_object())
    for (const auto& [k, x] : v.items()) flatten_counters(x, prefix.empty() ? k : prefix + "." + k, out);
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
  const Json& root = json_at(j, "result").is_object() ? json_at(j, "result") : j;
  if (const Json* v = first_of(root, {"outcome", "status"})) r.outcome = str_of(*v);
  if (const Json* v = first_of(root, {"exit_code", "guest_exit_code", "code"})) r.exit_code = int(json_i64(*v, -1));
  if (const Json* v = first_of(root, {"message", "error"})) r.message = str_of(*v);
  if (const Json* v = first_of(root, {"engine"})) {
    if (v->is_object()) {
      r.engine = str_of(json_at(*v, "name"));
      r.backend = str_of(json_at(*v, "backend"));
      if (r.backend.empty()) r.backend = str_of(json_at(*v, "label"));
    } else {
      r.engine = str_of(*v);
    }
  }
  if (const Json* v = first_of(root, {"backend", "engine_backend", "engine_label", "label"}); v && r.backend.empty()) r.backend = str_of(*v);
  r.workload = str_of(json_at(root, "workload"));
  if (const Json* v = json_find(root, "params"); v && v->is_object())
    for (const auto& [k, x] : v->items()) r.params[k] = str_of(x);
  if (const Json* v = first_of(root, {"wall_seconds", "wall_s"})) r.wall_seconds = json_double(*v);
  if (const Json* v = first_of(root, {"phases"}); v && v->is_array()) {
    for (const Json& p : *v) {
      ReportPhase ph;
      if (const Json* n = first_of(p, {"phase", "id", "n"})) ph.phase = int(json_i64(*n));
      if (const Json* b = first_of(p, {"begin_ns", "begin"})) ph.begin_ns = json_u64(*b);
      if (const Json* e = first_of(p, {"end_ns", "end"})) ph.end_ns = json_u64(*e);
      if (const Json* c = json_find(p, "counters"); c && c->is_object()) {
        ph.has_counters = true;
        flatten_counters(*c, "", &ph.counters);
      }
      r.phases.push_back(ph);
    }
  }
  if (const Json* v = first_of(root, {"records"})) {
    if (v->is_array()) {
      for (const Json& rec : *v) {
        if (rec.is_array() && rec.size() >= 2) r.records.emplace_back(str_of(rec[0]), str_of(rec[1]));
        else if (rec.is_object()) r.records.emplace_back(str_of(json_at(rec, "key")), str_of(json_at(rec, "value")));
      }
    } else if (v->is_object()) {
      for (const auto& [k, x] : v->items()) r.records.emplace_back(k, str_of(x));
    }
  }
  if (const Json* v = first_of(root, {"counters"})) flatten_counters(*v, "", &r.counters);
  if (const Json* v = json_find(root, "gauges"); v && v->is_array())
    for (const Json& g : *v)
      if (g.is_string()) r.gauges.insert(g.get<std::string>());
  if (r.outcome.empty()) {
    if (err) *err = "run report has no outcome";
    return false;
  }
  *out = std::move(r);
  return true;
}

std::map<std::string, double> row_counters(const RunReport& r, const ReportPhase* ph, double ops, double run_ops) {
  const bool phase_counts = ph && ph->has_counters;
  std::map<std::string, double> out;
  for (const auto& [name, v] : phase_counts ? ph->counters : r.counters) {
    if (r.is_gauge(name)) out[name] = v;
    else out[name + "/op"] = v / (phase_counts ? ops : run_ops);
  }
  return out;
}

bool row_counter_key(const std::string& key, std::string* name, bool* gauge) {
  const bool per_op = key.size() > 3 && key.compare(key.size() - 3, 3, "/op") == 0;
  const std::string n = per_op ? key.substr(0, key.size() - 3) : key;
  if (n.find('.') == std::string::npos || n.find('/') != std::string::npos) return false;
  *name = n;
  *gauge = !per_op;
  return true;
}

bool phase_interval(const RunReport& r, int phase, int occurrence, uint64_t* ns) {
  const ReportPhase* p = phase_occurrence(r, phase, occurrence);
  if (p) *ns = p->end_ns - p->begin_ns;
  return p != nullptr;
}

// The number of operations the measured phase performed.
uint64_t op_count(const RunReport& r, const std::map<std::string, std::string>& params) {
  // The workload says it with a record ("R ops N", or its loop count).
  for (const char* k : {"ops", "iterations", "pages"}) {
    if (const std::string* v = r.record(k)) {
      uint64_t n = std::strtoull(v->c_str(), nullptr, 10);
      if (n) return n;
    }
  }
  for (const char* k : {"n", "iters", "iterations", "count", "pages"}) {
    auto it = params.find(k);
    if (it != params.end()) {
      uint64_t n = std::strtoull(it->second.c_str(), nullptr, 10);
      if (n) return n;
    }
  }
  for (const auto& [k, v] : params) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (!v.empty() && !*end && n) return n;
  }
  return 1;
}

const ReportPhase* phase_occurrence(const RunReport& r, int phase, int occurrence) {
  int seen = 0;
  for (const auto& p : r.phases) {
    if (p.phase != phase || p.end_ns == 0 || p.end_ns < p.begin_ns) continue;
    if (seen++ == occurrence) return &p;
  }
  return nullptr;
}

int phase_count(const RunReport& r, int phase) {
  return int(std::count_if(r.phases.begin(), r.phases.end(),
                           [&](const ReportPhase& p) { return p.phase == phase && p.end_ns >= p.begin_ns && p.end_ns; }));
}

uint64_t shortest_phase(const RunReport& r, int phase) {
  uint64_t best = 0;
  bool any = false;
  for (int k = 0, n = phase_count(r, phase); k < n; ++k) {
    uint64_t ns = 0;
    if (!phase_interval(r, phase, k, &ns)) continue;
    best = any ? std::min(best, ns) : ns;
    any = true;
  }
  return best;
}

}  // namespace vtb::bench
