// tags: harness|cli — desc: `vtb list`: engines (technique, backend, availability, options); peers; workloads with their parameters.
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "engines/registry.h"
#include "harness/cli_parse.h"
#include "harness/commands.h"
#include "harness/json.h"
#include "harness/manifest.h"
#include "harness/runner.h"

namespace vtb::cli {

int cmd_list(int argc, char** argv) {
  bool json = false;
  std::string manifest_path;
  CLI::App app{"Lists the engines (technique, backend, availability, options), the peers and the workloads\n"
               "(with their parameters and defaults).",
               "vtb list"};
  init_app(app);
  app.add_flag("--json", json, "everything as one JSON object");
  app.add_option("--manifest", manifest_path, "workload manifest (default: the built one)");
  if (int rc = parse_cli(app, argc, argv); rc >= 0) return rc;
  std::vector<RunnerInfo> runners = list_runners();
  Manifest m;
  if (manifest_path.empty()) manifest_path = default_manifest_path();
  Status ms = load_manifest(manifest_path, &m);

  if (json) {
    Json j = {{"engines", Json::array()}};
    for (const auto& r : runners) {
      Json options = Json::object();
      if (const EngineInfo* info = find_engine(r.name))
        for (const auto& o : info->options) {
          Json values = Json::array();
          for (const auto& v : o.values) values.push_back({{"value", v.value}, {"what", v.what}});
          options[std::string(o.name)] = {{"what", o.what}, {"values", values}};
        }
      j["engines"].push_back({{"name", r.name}, {"technique", r.technique}, {"backend", r.backend},
                              {"flavor", r.flavor}, {"peer", r.is_peer}, {"available", r.available.is_ok()},
                              {"reason", r.available.message()}, {"needs_dev_kvm", r.needs_dev_kvm},
                              {"options", options}});
    }
    j["manifest"] = manifest_path;
    if (!ms) j["manifest_error"] = ms.message();
    j["workloads"] = Json::array();
    for (const auto& w : m.workloads) {
      Json params = Json::object();
      for (const auto& [k, v] : w.params) params[k] = v;
      j["workloads"].push_back({{"name", w.name}, {"program", w.program}, {"args", w.args}, {"params", params},
                                {"flavors", w.flavors}, {"groups", w.groups}, {"peers", w.peers},
                                {"timeout_s", w.timeout_s}, {"exit_code", w.exit_code}});
    }
    printf("%s\n", dump_json(j).c_str());
    return ms ? 0 : kExitBadInput;
  }

  const auto row = [](const auto&... f) { fmt::print("  {:<10} {:<32} {:<14} {:<7} {}\n", f...); };
  fmt::print("engines:\n");
  row("NAME", "TECHNIQUE", "BACKEND", "FLAVOR", "AVAILABLE");
  bool any_engine = false;
  for (const auto& r : runners) {
    if (r.is_peer) continue;
    any_engine = true;
    row(r.name, r.technique, r.backend, r.flavor,
        (r.available ? "yes" : "no: " + r.available.message()) + (r.needs_dev_kvm ? " (needs /dev/kvm)" : ""));
    if (const EngineInfo* info = find_engine(r.name))
      for (const auto& o : info->options) {
        std::string values;
        for (const auto& v : o.values) values += (values.empty() ? "" : "|") + std::string(v.value);
        fmt::print("  {:<10} option {}={} (default {}): {}\n", "", o.name, values, o.values.front().value, o.what);
      }
  }
  if (!any_engine) fmt::print("  (no engine built into this binary)\n");
  fmt::print("  options: --engine NAME:option=value[,option=value] (e.g. pv:protect=off), in vtb run and as\n"
             "  a series of its own in vtb bench --engines\n");
  fmt::print("peers:\n");
  for (const auto& r : runners)
    if (r.is_peer) row(r.name, r.technique, r.backend, r.flavor, r.available ? "yes" : "no: " + r.available.message());
  fmt::print("workloads ({}):\n", manifest_path);
  if (!ms) {
    fmt::print("  (manifest unreadable)\n");
    error_line(ms.message());
    return kExitBadInput;
  }
  fmt::print("  {:<22} {:<24} {:<32} {:<10} {}\n", "NAME", "PARAMETERS (defaults)", "COMMAND", "FLAVORS", "GROUPS");
  for (const auto& w : m.workloads) {
    std::string cl, fl, gr, ps;
    if (!render_command_line(w, w.params, &cl)) cl = w.program + " " + w.args;
    for (const auto& f : w.flavors) fl += (fl.empty() ? "" : ",") + f;
    for (const auto& g : w.groups) gr += (gr.empty() ? "" : ",") + g;
    for (const auto& [k, v] : w.params) ps += (ps.empty() ? "" : " ") + k + "=" + v;
    fmt::print("  {:<22} {:<24} {:<32} {:<10} {}\n", w.name, ps.empty() ? "-" : ps, cl, fl, gr);
  }
  fmt::print("  set a parameter with vtb run --param k=v (bench cells: ENGINE/WORKLOAD@k=v in vtb compare)\n");
  return 0;
}

}  // namespace vtb::cli
