// tags: harness|bench|tests — desc: `vtb compare` (cell specs, the table, both questions it must answer) and `vtb bench --target-cv`; counts, not timings.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "harness/bench/child_process.h"
#include "harness/bench/compare.h"
#include "harness/bench/results_dir.h"
#include "harness/json.h"

using namespace vtb::bench;

TEST(Compare, ParsesCellSpecs) {
  CellSpec c;
  ASSERT_EQ(parse_cell_spec("bt/forkwait@n=50,reps=3:warm", &c), "");
  EXPECT_EQ(c.engine, "bt");
  EXPECT_EQ(c.workload, "forkwait");
  EXPECT_EQ(c.params, (std::map<std::string, std::string>{{"n", "50"}, {"reps", "3"}}));
  EXPECT_TRUE(c.warm);
  ASSERT_EQ(parse_cell_spec("pv/micro_syscall", &c), "");
  EXPECT_FALSE(c.warm);
  EXPECT_TRUE(c.params.empty());
  for (const char* bad : {"bt", "/forkwait", "bt/", "bt/forkwait@n", "bt/forkwait@=1"})
    EXPECT_NE(parse_cell_spec(bad, &c), "") << bad;
}

namespace {

// Runs `vtb compare`; "" when the engines are not available here.
std::string compare(const std::vector<std::string>& args) {
  const char* vtb = std::getenv("VTB_BIN");
  if (!vtb) return "";
  std::vector<std::string> argv = {vtb, "compare"};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildResult r = run_child(argv, 300);
  if (!r.exited || r.exit_code != 0) {
    ADD_FAILURE() << r.describe() << " " << r.err;
    return "";
  }
  return r.out;
}

// The A and B columns of a counter row ("  name   A   B   B-A   B/A").
bool row(const std::string& out, const std::string& name, double* a, double* b) {
  const size_t p = out.find("\n  " + name + " ");
  if (p == std::string::npos) return false;
  std::istringstream in(out.substr(p + 3 + name.size()));
  return bool(in >> *a >> *b);
}

}  // namespace

TEST(Compare, SortsDifferencesLargestFirstAndSeparatesTime) {
  CompareSide a{"A", {100, 110, 90}, {{"x", {1, 1, 1}}, {"y", {5, 5, 5}}, {"same", {2, 2, 2}}, {"t_ns", {10, 10, 10}}},
                {{"g.level", {500, 500, 500}}}};
  CompareSide b{"B", {300, 310, 290}, {{"x", {4, 4, 4}}, {"y", {5.5, 5.5, 5.5}}, {"same", {2, 2, 2}}, {"t_ns", {90, 90, 90}}},
                {{"g.level", {700, 700, 700}}}};
  const std::string s = format_comparison(a, b, 0);
  EXPECT_NE(s.find("3 reps, cv 10.0%"), std::string::npos) << s;
  EXPECT_NE(s.find("3x"), std::string::npos) << s;  // 300 / 100
  const size_t counts = s.find("counts per op");
  ASSERT_NE(counts, std::string::npos) << s;
  EXPECT_LT(s.find("t_ns"), counts) << s;            // a time counter: its own table
  EXPECT_LT(s.find("\n  x "), s.find("\n  y ")) << s;  // |+3| before |+0.5|
  EXPECT_EQ(s.find("same"), std::string::npos) << s;  // no difference: not listed
  EXPECT_EQ(format_comparison(a, b, 1).find("\n  y "), std::string::npos);  // --top 1
  // A gauge: its own table, after the counts, as the median level (not per op).
  const size_t levels = s.find("gauges, levels at the phase's end (not per op) (median level");
  ASSERT_NE(levels, std::string::npos) << s;
  EXPECT_LT(counts, levels) << s;
  double ga = -1, gb = -1;
  ASSERT_TRUE(row(s.substr(levels), "g.level", &ga, &gb)) << s;
  EXPECT_EQ(ga, 500);
  EXPECT_EQ(gb, 700);
}


// "Why is pv's syscall slower than bt's?": the protection switches and the
// syscall bounce, per op, from phase 1 only.
TEST(Compare, PvVersusBtSyscallNamesTheProtectionSwitches) {
  if (!std::getenv("VTB_BIN")) GTEST_SKIP() << "VTB_BIN not set";
  // The mode whose switches are mprotects: a host with PKU picks pv@pkeys by itself.
  setenv("VTB_PV_PROTECT", "mprotect", 1);
  const std::string out = compare({"bt/micro_syscall@n=2000", "pv/micro_syscall@n=2000", "-r", "1", "--top", "0"});
  unsetenv("VTB_PV_PROTECT");
  ASSERT_FALSE(out.empty());
  double a = -1, b = -1;
  ASSERT_TRUE(row(out, "pv.kernel_protect_ops", &a, &b)) << out;
  EXPECT_EQ(a, 0);
  EXPECT_GE(b, 2);  // at least a protect and an unprotect per system call
  ASSERT_TRUE(row(out, "pv.syscall_bounce", &a, &b)) << out;
  EXPECT_EQ(a, 0);
  EXPECT_NEAR(b, 1, 0.01);  // one bounce per syscall; boot is not in phase 1
  ASSERT_TRUE(row(out, "priv.syscall", &a, &b)) << out;
  EXPECT_NEAR(a, 1, 0.01);
  EXPECT_EQ(b, 0);
  EXPECT_NE(out.find("time.pv.protect_ns"), std::string::npos) << out;
}

// "How do bt cold and warm translation differ on forkwait?": warm translates
// (almost) nothing in phase 1.
TEST(Compare, BtColdVersusWarmForkwaitTranslatesOnlyWhenCold) {
  if (!std::getenv("VTB_BIN")) GTEST_SKIP() << "VTB_BIN not set";
  const std::string out = compare({"bt/forkwait@n=50", "bt/forkwait@n=50:warm", "-r", "1", "--top", "0"});
  ASSERT_FALSE(out.empty());
  EXPECT_NE(out.find("B: bt/forkwait@n=50,reps=2 warm"), std::string::npos) << out;
  double a = -1, b = -1;
  ASSERT_TRUE(row(out, "bt.blocks_translated", &a, &b)) << out;
  EXPECT_GT(a, 0);
  EXPECT_LT(b, a / 10);
}

// `vtb bench --target-cv`: more repetitions until the cv is below the target
// (or fewer than 3 were measured), bounded; every round's rows in bench.json.
TEST(Bench, TargetCvRepeatsCellsWithinTheBound) {
  const char* vtb = std::getenv("VTB_BIN");
  if (!vtb) GTEST_SKIP() << "VTB_BIN not set";
  for (const auto& [target, want] : std::vector<std::pair<std::string, int>>{{"0.000000001", 5}, {"9", 4}}) {
    const std::string out = ::testing::TempDir() + "/vtb_target_cv_" + std::to_string(getpid()) + "_" + std::to_string(want);
    ChildResult r = run_child({vtb, "bench", "--engines", "native", "--workloads", "micro_syscall", "--repetitions", "2",
                               "--target-cv", target, "--max-repetitions", "5", "--out", out},
                              300);
    ASSERT_TRUE(r.exited && r.exit_code == 0) << r.describe() << r.err;
    if (r.out.find("native/micro_syscall") != std::string::npos && r.out.find("unavailable") != std::string::npos)
      GTEST_SKIP() << "native unavailable";
    const size_t at = r.out.find("results: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string dir = r.out.substr(at + 9, r.out.find(' ', at + 9) - at - 9);
    std::string text, err;
    vtb::Json j;
    ASSERT_TRUE(vtb::bench::read_text(dir + "/bench.json", &text) && vtb::parse_json(text, &j, &err)) << err;
    std::set<int64_t> reps;
    int rows = 0, measured = 0;
    for (const auto& row : j["benchmarks"]) {
      if (row.value("run_type", "") != "iteration") continue;
      ++rows;
      measured += !row.value("error_occurred", false);
      reps.insert(row.value("repetition_index", int64_t(-1)));
      EXPECT_EQ(row.value("repetitions", 0), want);
    }
    EXPECT_EQ(rows, want) << target << "\n" << r.out;
    EXPECT_EQ(int(reps.size()), want) << target;  // repetition_index continues across rounds
    // The summary counts the measured repetitions (a loaded host may lose one to a zero-length phase).
    EXPECT_NE(r.out.find("native                       -        " + std::to_string(measured)), std::string::npos) << r.out;
  }
}

// Saved `vtb run --json` reports are cells too: a report against itself differs in nothing.
TEST(Compare, SavedReportsAreCells) {
  const char* vtb = std::getenv("VTB_BIN");
  if (!vtb) GTEST_SKIP() << "VTB_BIN not set";
  const std::string file = ::testing::TempDir() + "/vtb_compare_" + std::to_string(getpid()) + ".json";
  ChildResult r = run_child({vtb, "run", "-e", "bt", "-w", "micro_syscall", "-p", "n=500", "--quiet", "--out", file}, 120);
  if (r.exited && r.exit_code == 3) GTEST_SKIP() << "bt unavailable";
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.describe() << r.err;
  const std::string out = compare({file, file});
  EXPECT_NE(out.find("A: " + file + " (bt/micro_syscall cold)"), std::string::npos) << out;
  EXPECT_NE(out.find("counts per op (median per op, largest |B - A| first):\n  (none differ)"), std::string::npos) << out;
  // A report has one phase 1: no warm measurement in it.
  ChildResult w = run_child({vtb, "compare", file, file + ":warm"}, 60);
  EXPECT_EQ(w.exit_code, 4) << w.out;
  EXPECT_NE(w.err.find("warm needs phase 1 at least twice"), std::string::npos) << w.err;
  std::remove(file.c_str());
}
