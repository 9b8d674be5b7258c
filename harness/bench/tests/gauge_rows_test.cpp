// tags: harness|bench|tests — desc: `vtb bench` and `vtb merge` report a gauge as its level (never per op) and an event count per op.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "harness/bench/child_process.h"
#include "harness/bench/results_dir.h"
#include "harness/bench/run_report.h"
#include "harness/json.h"

using namespace vtb::bench;

namespace {

// The results folder a `vtb bench` / `vtb merge` output names ("results: DIR (...)").
std::string results_of(const std::string& out) {
  const size_t at = out.find("results: ");
  if (at == std::string::npos) return "";
  return out.substr(at + 9, out.find(' ', at + 9) - at - 9);
}

// The measured iteration rows of DIR/bench.json.
std::vector<vtb::Json> measured_rows(const std::string& dir) {
  std::string text, err;
  vtb::Json j;
  std::vector<vtb::Json> rows;
  if (!read_text(dir + "/bench.json", &text) || !vtb::parse_json(text, &j, &err)) {
    ADD_FAILURE() << dir << "/bench.json: " << err;
    return rows;
  }
  for (const auto& r : j["benchmarks"])
    if (r.value("run_type", "") == "iteration" && !r.value("error_occurred", false)) rows.push_back(r);
  return rows;
}

// Checks one row: every gauge a whole number with no "/op" twin (a level);
// bt's translated bytes and pv's page-table frames at their level; one
// system call per op counted per op.
void check_row(const vtb::Json& row, const std::string& where) {
  const std::string name = row.value("name", "");
  SCOPED_TRACE(where + ": " + name);
  std::string counter;
  bool gauge = false;
  int gauges = 0;
  for (const auto& [k, v] : row.items()) {
    if (!v.is_number() || !row_counter_key(k, &counter, &gauge) || !gauge) continue;
    ++gauges;
    EXPECT_EQ(v.get<double>(), std::floor(v.get<double>())) << k << ": a level is a whole number";
    EXPECT_FALSE(row.contains(k + "/op")) << k;
  }
  const double ops = row.value("ops", 0.0);
  ASSERT_GT(ops, 100);
  if (name.rfind("bt/", 0) == 0) {
    EXPECT_GE(row.value("bt.tc_bytes", 0.0), 4096) << "bt.tc_bytes divided by " << ops << " ops?";
    ASSERT_TRUE(row.contains("bt.user_isolation"));
    EXPECT_NEAR(row.value("priv.syscall/op", 0.0), 1.0, 0.01);  // an event count: per op
    EXPECT_GE(gauges, 2);
  } else if (name.rfind("pv/", 0) == 0) {
    EXPECT_GE(row.value("pv.pt_frames", 0.0), 4) << "4-level paging: at least 4 table frames";
    EXPECT_GE(row.value("pv.direct_map_resident", 0.0), 1);
    ASSERT_TRUE(row.contains("pv.fsgs_isolation"));
    EXPECT_GE(gauges, 3);
  }
}

}  // namespace

// A shard of bt and pv cells, then `vtb merge` of it: both folders' rows carry
// the gauges as levels and the events per op (merging never sums a level).
TEST(Bench, GaugesAreLevelsInShardAndMergedRows) {
  const char* vtb = std::getenv("VTB_BIN");
  if (!vtb) GTEST_SKIP() << "VTB_BIN not set";
  const std::string out = ::testing::TempDir() + "/vtb_gauges_" + std::to_string(getpid());
  ChildResult b = run_child({vtb, "bench", "--engines", "bt,pv", "--workloads", "micro_syscall", "--repetitions", "1",
                             "--shard", "1/1", "--out", out + "/shards"},
                            300);
  ASSERT_TRUE(b.exited && b.exit_code == 0) << b.describe() << b.err;
  const std::string shard = results_of(b.out);
  ASSERT_FALSE(shard.empty()) << b.out;
  ChildResult m = run_child({vtb, "merge", out + "/shards", "--out", out + "/merged"}, 120);
  ASSERT_TRUE(m.exited && m.exit_code == 0) << m.describe() << m.err;
  const std::string merged = results_of(m.out);
  ASSERT_FALSE(merged.empty()) << m.out;
  int bt = 0;
  for (const std::string& dir : {shard, merged}) {
    const auto rows = measured_rows(dir);
    for (const auto& row : rows) {
      check_row(row, dir);
      bt += row.value("name", "").rfind("bt/", 0) == 0;
    }
  }
  EXPECT_GE(bt, 2) << "no measured bt row: " << b.out;  // cold in each folder at least
  // The merged rows are the shard's: the same level of each gauge.
  const auto a = measured_rows(shard), c = measured_rows(merged);
  ASSERT_EQ(a.size(), c.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (const char* g : {"bt.tc_bytes", "pv.pt_frames", "pv.direct_map_resident"})
      EXPECT_EQ(a[i].value(g, -1.0), c[i].value(g, -1.0)) << g;
}
