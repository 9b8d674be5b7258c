// tags: harness|cli — desc: `vtb list`: engines with technique, backend and availability; peers; workloads.
#include <cstdio>
#include <string>

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
    for (const auto& r : runners)
      j["engines"].push_back({{"name", r.name}, {"technique", r.technique}, {"backend", r.backend},
                              {"flavor", r.flavor}, {"peer", r.is_peer}, {"available", r.available.is_ok()},
                              {"reason", r.available.message()}, {"needs_dev_kvm", r.needs_dev_kvm}});
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

  printf("engines:\n");
  printf("  %-10s %-32s %-14s %-7s %s\n", "NAME", "TECHNIQUE", "BACKEND", "FLAVOR", "AVAILABLE");
  bool any_engine = false;
  for (const auto& r : runners) {
    if (r.is_peer) continue;
    any_engine = true;
    const std::string avail = (r.available ? "yes" : "no: " + r.available.message()) +
                              (r.needs_dev_kvm ? " (needs /dev/kvm)" : "");
    printf("  %-10s %-32s %-14s %-7s %s\n", r.name.c_str(), r.technique.c_str(), r.backend.c_str(), r.flavor.c_str(),
           avail.c_str());
  }
  if (!any_engine) printf("  (no engine built into this binary)\n");
  printf("peers:\n");
  for (const auto& r : runners) {
    if (!r.is_peer) continue;
    printf("  %-10s %-32s %-14s %-7s %s\n", r.name.c_str(), r.technique.c_str(), r.backend.c_str(), r.flavor.c_str(),
           r.available ? "yes" : ("no: " + r.available.message()).c_str());
  }
  printf("workloads (%s):\n", manifest_path.c_str());
  if (!ms) {
    printf("  (manifest unreadable)\n");
    error_line(ms.message());
    return kExitBadInput;
  }
  printf("  %-22s %-32s %-10s %s\n", "NAME", "COMMAND", "FLAVORS", "GROUPS");
  for (const auto& w : m.workloads) {
    std::string cl, fl, gr;
    if (!render_command_line(w, w.params, &cl)) cl = w.program + " " + w.args;
    for (const auto& f : w.flavors) fl += (fl.empty() ? "" : ",") + f;
    for (const auto& g : w.groups) gr += (gr.empty() ? "" : ",") + g;
    printf("  %-22s %-32s %-10s %s\n", w.name.c_str(), cl.c_str(), fl.c_str(), gr.c_str());
  }
  return 0;
}

}  // namespace vtb::cli
