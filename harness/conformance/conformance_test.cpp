// tags: harness|conformance — desc: the engine x workload conformance matrix (GoogleTest, value-parameterized): exit code, console, counter bounds; skips with reasons; known failures from engines/<name>/known_failures.txt.
//
// Cells: every registered engine and the qemu-tcg reference x every manifest
// workload whose flavor the engine runs (peers: the workloads that name
// them). Default: the `smoke` group with numeric parameters capped at
// VTB_CONFORMANCE_CAP (500) so CI stays short; VTB_CONFORMANCE=full runs
// every workload with its manifest parameters. docs/conformance.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/conformance/known_failures.h"
#include "harness/manifest.h"
#include "harness/runner.h"

namespace vtb {
namespace {

struct Cell {
  std::string engine, workload;
  bool available = true;
  std::string unavailable_reason;
};

void PrintTo(const Cell& c, std::ostream* os) { *os << c.engine << " x " << c.workload; }

bool full_mode() {
  const char* e = getenv("VTB_CONFORMANCE");
  return e && std::string(e) == "full";
}

uint64_t smoke_cap() {
  const char* e = getenv("VTB_CONFORMANCE_CAP");
  return e && *e ? strtoull(e, nullptr, 10) : 500;
}

const Manifest& manifest() {
  static Manifest m;
  static bool loaded = false;
  if (!loaded) {
    loaded = true;
    if (Status s = load_manifest(default_manifest_path(), &m); !s)
      fprintf(stderr, "conformance: cannot load the manifest: %s\n", s.message().c_str());
  }
  return m;
}

std::vector<Cell> all_cells() {
  std::vector<Cell> out;
  for (const RunnerInfo& r : list_runners()) {
    if (r.name == "native") continue;  // host-native programs are a benchmark baseline, not a VM
    for (const Workload& w : manifest().workloads) {
      if (r.is_peer ? !w.runs_on_peer(r.name) : !w.has_flavor(r.flavor)) continue;
      out.push_back({r.name, w.name, bool(r.available), r.available.message()});
    }
  }
  return out;
}

// engines/<name>/known_failures.txt (known_failures.h: "<workload>[@full]
// <reason>" per line). A malformed file fails the cell instead of being
// ignored.
Status known_failure(const std::string& engine, const std::string& workload, std::string* reason) {
  std::vector<std::string> names;
  for (const Workload& w : manifest().workloads) names.push_back(w.name);
  std::vector<KnownFailure> list;
  Status s = load_known_failures(VTB_SOURCE_DIR, engine, &names, &list);
  *reason = known_failure_reason(list, workload, full_mode());
  return s;
}

std::map<std::string, int>& tally() {
  static std::map<std::string, int> t;
  return t;
}

class Conformance : public ::testing::TestWithParam<Cell> {};

TEST_P(Conformance, RunsAndMeetsManifest) {
  const Cell& c = GetParam();
  const Workload* w = manifest().find(c.workload);
  ASSERT_NE(w, nullptr) << c.workload;
  if (!c.available) {
    tally()["skipped"]++;
    GTEST_SKIP() << c.engine << " not available on this host: " << c.unavailable_reason;
  }
  if (!full_mode() && !w->has_group("smoke")) {
    tally()["skipped"]++;
    GTEST_SKIP() << "not in the smoke group (VTB_CONFORMANCE=full runs it)";
  }
  std::string why;
  const Status kf = known_failure(c.engine, c.workload, &why);
  ASSERT_TRUE(kf) << kf.message();
  if (!why.empty()) {
    tally()["known-failed"]++;
    GTEST_SKIP() << "known failure (engines/" << c.engine << "/known_failures.txt): " << why;
  }
  RunRequest req;
  req.engine = c.engine;
  req.workload = c.workload;
  if (!full_mode()) {
    uint64_t cap = smoke_cap();
    for (const auto& [k, v] : w->params) {
      char* end = nullptr;
      unsigned long long n = strtoull(v.c_str(), &end, 10);
      if (!v.empty() && !*end && n > cap) req.params[k] = std::to_string(cap);
    }
  }
  RunReport r = run_one(req);
  const int code = cli_exit_code(r);
  if (code == kExitUnavailable) {
    tally()["skipped"]++;
    GTEST_SKIP() << c.engine << " not available: " << r.error_message;
  }
  tally()["ran"]++;
  ASSERT_EQ(r.error, ErrorKind::None) << r.error_message;
  ASSERT_EQ(r.result.outcome, Outcome::Exited) << outcome_name(r.result.outcome) << ": " << r.result.message
                                               << "\nconsole:\n" << r.result.console;
  EXPECT_EQ(r.result.exit_code, w->exit_code) << "console:\n" << r.result.console;
  // The runner checks the manifest: golden console, `contains` lines, counter bounds.
  for (const auto& f : r.check_failures) ADD_FAILURE() << f;
  if (!r.check_failures.empty()) ADD_FAILURE() << "console:\n" << r.result.console;
  // Golden console of the suite (workloads/golden/<workload>.txt, when the
  // manifest names none): checked when the run used the manifest's defaults.
  if (w->golden.empty() && r.params == w->params) {
    std::ifstream g(std::string(VTB_SOURCE_DIR) + "/workloads/golden/" + c.workload + ".txt");
    if (g) {
      std::stringstream text;
      text << g.rdbuf();
      EXPECT_NE(r.result.console.find(text.str()), std::string::npos)
          << "console lacks workloads/golden/" << c.workload << ".txt\nconsole:\n" << r.result.console;
    }
  }
  // Optional: the same console as the reference machine (VTB_CONFORMANCE_REFERENCE=1),
  // for every workload but the census (whose output is per-engine by design).
  const char* ref = getenv("VTB_CONFORMANCE_REFERENCE");
  if (ref && std::string(ref) == "1" && c.engine != "qemu-tcg" && !w->has_group("census") &&
      w->runs_on_peer("qemu-tcg")) {
    RunRequest qreq = req;
    qreq.engine = "qemu-tcg";
    RunReport q = run_one(qreq);
    if (cli_exit_code(q) == kExitOk) {
      EXPECT_EQ(r.result.console, q.result.console) << "console differs from qemu-tcg";
    }
  }
  if (!HasFailure()) tally()["passed"]++;
}

std::string cell_name(const ::testing::TestParamInfo<Cell>& info) {
  std::string s = info.param.engine + "__" + info.param.workload;
  for (char& ch : s)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Matrix, Conformance, ::testing::ValuesIn(all_cells()), cell_name);

// Prints the tally of this process's cells (ctest runs one cell per process;
// docs/conformance.md shows how to get the whole-matrix count).
class Summary : public ::testing::Environment {
 public:
  void TearDown() override {
    auto& t = tally();
    printf("conformance: %d passed, %d ran, %d skipped, %d known-failed (mode %s)\n", t["passed"], t["ran"],
           t["skipped"], t["known-failed"], full_mode() ? "full" : "smoke");
  }
};
const auto* const kSummary = ::testing::AddGlobalTestEnvironment(new Summary);

}  // namespace
}  // namespace vtb
