// tags: harness|bench — desc: kvm@nested-tcg cells: builds them, runs the nested runner once, hands each cell its reports.
#include "harness/bench/nested_cells.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "harness/bench/child_process.h"
#include "harness/json.h"
#include "harness/bench/results_dir.h"

namespace vtb::bench {

namespace {
const char* const kModes[][2] = {{"npt", "1"}, {"shadow", "0"}};  // backend suffix, kvm_amd npt=
}

bool take_nested_engine(std::vector<std::string>* engines, bool* direct_too) {
  auto it = std::find(engines->begin(), engines->end(), kNestedEngine);
  if (it == engines->end()) return false;
  engines->erase(it);
  *direct_too = std::find(engines->begin(), engines->end(), "kvm") != engines->end();
  if (!*direct_too) engines->push_back("kvm");
  return true;
}

std::vector<Cell> nested_cells(const std::vector<Cell>& kvm_cells) {
  std::vector<Cell> out;
  for (const Cell& k : kvm_cells) {
    if (k.engine != "kvm" || k.mode != "cold") continue;
    for (const auto& m : kModes) {
      Cell c = k;
      c.backend = std::string(kNestedEngine) + "/" + m[0];
      if (c.skip.rfind("unavailable:", 0) == 0) c.skip.clear();
      // Every exit costs 30-170 us under TCG: the child's own limit scales.
      c.timeout_s = k.timeout_s * 20;
      out.push_back(c);
    }
  }
  return out;
}

std::string nested_micro_item(const Cell& c) {
  std::string item = c.workload;
  std::string p;
  for (const auto& [k, v] : c.params) p += (p.empty() ? "" : "+") + k + "=" + v;
  return p.empty() ? item : item + ":" + p;
}

NestedReports run_nested(const std::vector<Cell>& cells, int reps, const std::string& source_dir,
                         const std::string& build_dir, const std::string& work_dir) {
  NestedReports out;
  out.log = work_dir;
  std::string micro;
  double budget = 180;  // boot, module loads, the runner's own checks
  double longest = 60;
  std::set<std::string> seen;
  for (const Cell& c : cells) {
    if (!c.skip.empty() || !seen.insert(c.workload).second) continue;
    micro += (micro.empty() ? "" : ",") + nested_micro_item(c);
    budget += c.timeout_s * reps * 2;
    longest = std::max(longest, c.timeout_s);
  }
  if (micro.empty()) return out;
  std::vector<std::string> argv = {
      "/usr/bin/env",
      "NESTED_VTB=1",
      "NPT_MODES=1,0",
      "IRQCHIP_MODES=user",
      "GTEST_FILTER=-*",
      "MICRO=" + micro,
      "REPS=" + std::to_string(reps),
      "TMO=" + std::to_string(int(budget)),
      "TMO_TEST=" + std::to_string(int(longest)),
      "VTB_NESTED_WORK=" + work_dir,
      // This very build (dynamic vtb + its libraries, kvm_engine_tests, tbk):
      // the nested VM runs the code being benchmarked, with no second build.
      "VTB_NESTED_PREBUILT=" + build_dir,
      source_dir + "/harness/nested/run_nested.sh"};
  ChildResult r = run_child(argv, budget + 1200);  // + the first static build
  if (!r.started) {
    out.error = "nested runner did not start: " + r.error;
    return out;
  }
  Json res;
  std::string perr;
  if (!read_text(work_dir + "/result.json", &out.raw) || !parse_json(out.raw, &res, &perr)) {
    const std::string tail = last_line(r.err.empty() ? r.out : r.err);
    out.error = "nested runner " + r.describe() + ", no result.json" + (tail.empty() ? "" : ": " + tail);
    out.raw.clear();
    return out;
  }
  const Json* blocks = json_find(res, "blocks");
  if (!blocks) {
    out.error = "nested runner: result.json has no blocks";
    return out;
  }
  // Block names from init.sh: "vtb-run <workload> npt=<0|1> irqchip=user rep=<r>".
  for (const Cell& c : cells) {
    const char* npt = "";
    for (const auto& m : kModes)
      if (c.backend == std::string(kNestedEngine) + "/" + m[0]) npt = m[1];
    for (int rep = 1; rep <= reps; ++rep) {
      const std::string key = "vtb-run " + c.workload + " npt=" + npt + " irqchip=user rep=" + std::to_string(rep);
      const Json* b = json_find(*blocks, key);
      out.by_cell[c.name()].push_back(b ? dump_json(*b) : std::string());
    }
  }
  return out;
}

}  // namespace vtb::bench
