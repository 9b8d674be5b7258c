// tags: harness|json — desc: a RunReport as one JSON object (schema in docs/cli.md).
#include "harness/json_writer.h"
#include "harness/runner.h"

namespace vtb {

std::string report_to_json(const RunReport& r) {
  JsonWriter j;
  const RunResult& res = r.result;
  j.begin_object();
  j.key("engine").value(r.engine);
  j.key("backend").value(r.engine_label);
  j.key("technique").value(r.technique);
  j.key("workload").value(r.workload);
  j.key("params").begin_object();
  for (const auto& [k, v] : r.params) j.key(k).value(v);
  j.end_object();
  j.key("command_line").value(r.command_line);
  j.key("kernel").value(r.kernel_path);
  j.key("archive").value(r.archive_path);
  j.key("outcome").value(r.error == ErrorKind::None ? outcome_name(res.outcome) : "not_run");
  if (r.error == ErrorKind::None && res.outcome == Outcome::Exited)
    j.key("exit_code").value(res.exit_code);
  else
    j.key("exit_code").null();
  j.key("cli_exit").value(cli_exit_code(r));
  j.key("error").value(error_kind_name(r.error));
  j.key("message").value(r.error != ErrorKind::None ? r.error_message : res.message);
  j.key("wall_seconds").value(res.wall_seconds);
  j.key("phases").begin_array();
  for (const auto& p : res.phases) {
    j.begin_object();
    j.key("phase").value(p.phase);
    j.key("begin_ns").value(p.begin_ns);
    j.key("end_ns").value(p.end_ns);
    if (p.end_ns)
      j.key("seconds").value(p.seconds());
    else
      j.key("seconds").null();
    j.end_object();
  }
  j.end_array();
  j.key("records").begin_array();
  for (const auto& [k, v] : res.records) j.begin_object().key("key").value(k).key("value").value(v).end_object();
  j.end_array();
  j.key("counters").begin_object();
  for (const auto& [k, v] : res.counters.all()) j.key(k).value(v);
  j.end_object();
  j.key("check_failures").begin_array();
  for (const auto& c : r.check_failures) j.value(c);
  j.end_array();
  j.key("console").value(res.console);
  j.end_object();
  return j.str();
}

}  // namespace vtb
