// tags: harness|json — desc: a RunReport as one JSON object (schema in docs/cli.md).
#include <set>
#include <string>

#include "harness/json.h"
#include "harness/runner.h"

namespace vtb {

namespace {

Json counters_json(const Counters& c) {
  Json o = Json::object();
  for (const auto& [k, v] : c.all()) o[k] = v;
  return o;
}

}  // namespace

std::string report_to_json(const RunReport& r) {
  const RunResult& res = r.result;
  Json j = Json::object();
  j["engine"] = r.engine;
  j["backend"] = r.engine_label;
  j["technique"] = r.technique;
  j["workload"] = r.workload;
  j["params"] = Json::object();
  for (const auto& [k, v] : r.params) j["params"][k] = v;
  j["command_line"] = r.command_line;
  j["kernel"] = r.kernel_path;
  j["archive"] = r.archive_path;
  j["outcome"] = r.error == ErrorKind::None ? outcome_name(res.outcome) : "not_run";
  if (r.error == ErrorKind::None && res.outcome == Outcome::Exited)
    j["exit_code"] = res.exit_code;
  else
    j["exit_code"] = nullptr;
  j["cli_exit"] = cli_exit_code(r);
  j["error"] = error_kind_name(r.error);
  j["message"] = r.error != ErrorKind::None ? r.error_message : res.message;
  j["wall_seconds"] = res.wall_seconds;
  j["phases"] = Json::array();
  for (const auto& p : res.phases) {
    Json ph = {{"phase", p.phase}, {"begin_ns", p.begin_ns}, {"end_ns", p.end_ns}};
    ph["seconds"] = p.end_ns ? Json(p.seconds()) : Json(nullptr);
    // What moved between the two markers (only ended phases of a Vm run).
    if (p.has_counters && p.end_ns) ph["counters"] = counters_json(p.counters);
    j["phases"].push_back(std::move(ph));
  }
  j["records"] = Json::array();
  for (const auto& [k, v] : res.records) j["records"].push_back({{"key", k}, {"value", v}});
  j["counters"] = counters_json(res.counters);
  // The counters that are levels (docs/counters.md, kinds): a phase holds their value at its end.
  std::set<std::string> gauges(res.counters.gauges().begin(), res.counters.gauges().end());
  for (const auto& p : res.phases) gauges.insert(p.counters.gauges().begin(), p.counters.gauges().end());
  j["gauges"] = Json::array();
  for (const auto& g : gauges) j["gauges"].push_back(g);
  j["check_failures"] = r.check_failures;
  j["console"] = res.console;
  return dump_json(j);
}

}  // namespace vtb
