// tags: harness|bench|tests — desc: --shard i/N: parsing, the cost model, units (warm + cold, nested), a deterministic cost-balanced split, host kinds.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "harness/bench/environment.h"
#include "harness/bench/nested_cells.h"
#include "harness/bench/shard.h"

using namespace vtb;
using namespace vtb::bench;

namespace {

Cell cell(const std::string& engine, const std::string& workload, const std::string& mode = "cold", int reps = 2) {
  Cell c;
  c.engine = engine;
  c.backend = engine;
  c.workload = workload;
  c.group = "micro";
  c.mode = mode;
  c.params = {{"n", "1000"}};
  c.repetitions = reps;
  return c;
}

CostModel model() {
  CostModel m;
  std::string err;
  EXPECT_TRUE(m.parse("# comment\n"
                      "bt\tfast\t0.01\n"
                      "bt  slow  2.0   # trailing comment\n"
                      "pv fast 0.03\n"
                      "pv slow 13\n"
                      "qemu-tcg fast 0.15\n"
                      "qemu-tcg slow 0.25\n",
                      &err))
      << err;
  return m;
}

// A matrix like the real one: engines x workloads, warm rows for bt, a few nested cells.
std::vector<Cell> matrix() {
  std::vector<Cell> cells;
  for (const char* e : {"bt", "pv", "qemu-tcg", "native", "kvm"})
    for (const char* w : {"fast", "slow", "w1", "w2", "w3", "w4", "w5"}) {
      cells.push_back(cell(e, w));
      if (std::string(e) == "bt") cells.push_back(cell(e, w, "warm"));
    }
  std::vector<Cell> kvm;
  for (const auto& c : cells)
    if (c.engine == "kvm") kvm.push_back(c);
  for (auto& c : nested_cells(kvm)) cells.push_back(c);
  return cells;
}

}  // namespace

TEST(Shard, ParsesIndexOverCount) {
  ShardSpec s;
  EXPECT_EQ(parse_shard("2/3", &s), "");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.str(), "2/3");
  EXPECT_TRUE(s.enabled());
  EXPECT_EQ(parse_shard("1/1", &s), "");
  for (const char* bad : {"0/3", "4/3", "3", "/3", "1/", "a/3", "1/b", "1/0", "-1/3", "1/3x", "1/20000"})
    EXPECT_NE(parse_shard(bad, &s), "") << bad;
  EXPECT_FALSE(ShardSpec{}.enabled());
}

TEST(Shard, CostModelFallsBackToWorkloadThenEngine) {
  CostModel m = model();
  EXPECT_DOUBLE_EQ(m.rep_seconds("bt", "slow"), 2.0);
  EXPECT_DOUBLE_EQ(m.rep_seconds("kvm", "slow"), 2.0);   // median over bt, pv, qemu-tcg
  EXPECT_DOUBLE_EQ(m.rep_seconds("pv", "other"), 6.515);  // pv's median
  EXPECT_DOUBLE_EQ(m.rep_seconds("kvm", "other"), 1.0);  // nothing known
  std::string err;
  CostModel bad;
  EXPECT_FALSE(bad.parse("bt fast\n", &err));
  EXPECT_NE(err.find("line 1"), std::string::npos);
  EXPECT_FALSE(bad.parse("bt fast x\n", &err));
  EXPECT_FALSE(bad.load("/nonexistent/cell_costs.tsv", &err));
}

TEST(Shard, CellCostCountsRepetitionsScaleWarmAndNested) {
  CostModel m = model();
  const double spawn = CostModel::kSpawnSeconds;
  EXPECT_DOUBLE_EQ(m.cell_seconds(cell("bt", "slow", "cold", 5), 1.0), 5 * (spawn + 2.0));
  EXPECT_DOUBLE_EQ(m.cell_seconds(cell("bt", "slow", "warm", 5), 1.0), 0);
  // --scale 2 doubles the part above the engine's fastest run (its start-up).
  EXPECT_DOUBLE_EQ(m.cell_seconds(cell("bt", "slow", "cold", 1), 2.0), spawn + 0.01 + 2 * (2.0 - 0.01));
  Cell nested = cell("kvm", "slow", "cold", 3);
  nested.backend = std::string(kNestedEngine) + "/npt";
  EXPECT_DOUBLE_EQ(m.cell_seconds(nested, 1.0), 3 * CostModel::kNestedFactor * 2.0);
}

TEST(Shard, CellCostFollowsMinPhase) {
  CostModel m = model();
  const double spawn = CostModel::kSpawnSeconds, mean = CostModel::kMinPhaseMean;
  Cell fast = cell("pv", "fast", "cold", 5);  // 0.03 s a run, pv's fastest (0.03): no phase above it
  fast.iterations = {"n"};
  Cell slow = cell("pv", "slow", "cold", 5);  // 13 s: far above any minimum phase
  slow.iterations = {"n"};
  const double fast_plain = m.cell_seconds(fast, 1.0), slow_plain = m.cell_seconds(slow, 1.0);
  m.set_min_phase(0.2);
  // The probe at the planned params, then every repetition with a phase of ~1.5 x 0.2 s.
  EXPECT_DOUBLE_EQ(m.cell_seconds(fast, 1.0), spawn + 0.03 + 5 * (spawn + 0.03 + mean * 0.2));
  EXPECT_DOUBLE_EQ(m.cell_seconds(slow, 1.0), slow_plain);  // long enough: its first run is repetition 1
  Cell fixed = fast;
  fixed.iterations.clear();  // nothing the bench may scale
  EXPECT_DOUBLE_EQ(m.cell_seconds(fixed, 1.0), fast_plain);
  Cell warm = fast;
  warm.mode = "warm";
  EXPECT_DOUBLE_EQ(m.cell_seconds(warm, 1.0), 0);
  m.set_min_phase(0);
  EXPECT_DOUBLE_EQ(m.cell_seconds(fast, 1.0), fast_plain);
}

TEST(Shard, UnitsKeepWarmWithColdAndNestedTogether) {
  std::vector<Cell> cells = matrix();
  std::vector<ShardUnit> units = shard_units(cells, model(), 1.0);
  size_t covered = 0;
  for (const auto& u : units) {
    covered += u.cells.size();
    std::set<std::string> engines, workloads;
    for (size_t i : u.cells) {
      engines.insert(cells[i].backend.rfind(kNestedEngine, 0) == 0 ? kNestedEngine : cells[i].engine);
      workloads.insert(cells[i].workload);
    }
    EXPECT_EQ(engines.size(), 1u) << u.key;
    if (u.key == kNestedEngine) {
      EXPECT_EQ(u.cells.size(), 14u);  // 7 kvm workloads x npt/shadow: one runner session
      EXPECT_GE(u.cost_ms, int64_t(CostModel::kNestedSessionSeconds * 1000));
    } else {
      EXPECT_EQ(workloads.size(), 1u) << u.key;
      EXPECT_EQ(u.cells.size(), cells[u.cells[0]].engine == "bt" ? 2u : 1u) << u.key;
    }
  }
  EXPECT_EQ(covered, cells.size());
}

TEST(Shard, SplitCoversEveryCellOnceAndIsBalancedByCost) {
  std::vector<Cell> cells = matrix();
  const CostModel m = model();
  for (int n : {1, 2, 3, 5, 8}) {
    std::vector<int64_t> load;
    std::vector<int> of = assign_shards(cells, n, m, 1.0, &load);
    ASSERT_EQ(of.size(), cells.size());
    ASSERT_EQ(load.size(), size_t(n));
    std::vector<int64_t> sum(size_t(n), 0);
    int64_t largest = 0;
    for (const auto& u : shard_units(cells, m, 1.0)) {
      largest = std::max(largest, u.cost_ms);
      for (size_t i : u.cells) EXPECT_EQ(of[i], of[u.cells[0]]) << "a unit is split: " << u.key;
      sum[size_t(of[u.cells[0]])] += u.cost_ms;
    }
    EXPECT_EQ(sum, load);
    for (int s : of) EXPECT_TRUE(s >= 0 && s < n);
    // Greedy by cost: no shard is more than the largest unit above the least loaded one.
    const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
    EXPECT_LE(*hi - *lo, largest) << n << " shards";
  }
}

TEST(Shard, BalancesCostNotCount) {
  // One 13 s cell against twelve 0.2 s cells: two shards by count would be 7 + 6.
  std::vector<Cell> cells = {cell("pv", "slow", "cold", 1)};
  for (int i = 0; i < 12; ++i) cells.push_back(cell("qemu-tcg", "w" + std::to_string(i), "cold", 1));
  CostModel m;
  std::string err;
  ASSERT_TRUE(m.parse("pv slow 13\nqemu-tcg w0 0.2\n", &err));
  std::vector<int64_t> load;
  std::vector<int> of = assign_shards(cells, 2, m, 1.0, &load);
  EXPECT_EQ(std::count(of.begin(), of.end(), of[0]), 1) << "the expensive cell has a shard of its own";
}

TEST(Shard, SplitIsDeterministicAndIgnoresAvailabilityAndInputOrderOfEqualCosts) {
  std::vector<Cell> cells = matrix();
  const CostModel m = model();
  std::vector<int> a = assign_shards(cells, 3, m, 1.0, nullptr);
  EXPECT_EQ(assign_shards(cells, 3, m, 1.0, nullptr), a);
  // The same matrix on a host where kvm is unavailable: the same split (it must merge).
  std::vector<Cell> elsewhere = cells;
  for (auto& c : elsewhere)
    if (c.engine == "kvm" && c.backend == "kvm") c.skip = "unavailable: no /dev/kvm";
  EXPECT_EQ(assign_shards(elsewhere, 3, m, 1.0, nullptr), a);
  EXPECT_EQ(plan_fingerprint(elsewhere, a), plan_fingerprint(cells, a));
  // A different split or a different cell list is a different plan.
  std::vector<int> b = assign_shards(cells, 2, m, 1.0, nullptr);
  EXPECT_NE(plan_fingerprint(cells, b), plan_fingerprint(cells, a));
  std::vector<Cell> fewer(cells.begin() + 1, cells.end());
  EXPECT_NE(plan_fingerprint(fewer, std::vector<int>(a.begin() + 1, a.end())), plan_fingerprint(cells, a));
}

TEST(Shard, MoreShardsThanUnitsLeavesSomeEmpty) {
  std::vector<Cell> cells = {cell("bt", "fast"), cell("bt", "fast", "warm"), cell("pv", "fast")};
  std::vector<int64_t> load;
  std::vector<int> of = assign_shards(cells, 4, model(), 1.0, &load);
  EXPECT_EQ(of[0], of[1]);
  EXPECT_NE(of[0], of[2]);
  EXPECT_EQ(std::count(load.begin(), load.end(), 0), 2);
}

TEST(Shard, RecordListsThePlan) {
  std::vector<Cell> cells = matrix();
  const CostModel m = model();
  std::vector<int64_t> load;
  std::vector<int> of = assign_shards(cells, 3, m, 1.0, &load);
  SweepKey key{"abc+dirty", "m1", "engines=;quick=1", plan_fingerprint(cells, of)};
  Json r = shard_record(ShardSpec{2, 3}, key, cells, of, load, m, 1.0);
  EXPECT_EQ(json_i64(json_at(r, "shard")), 2);
  EXPECT_EQ(json_i64(json_at(r, "count")), 3);
  EXPECT_EQ(json_string(json_at(r, "plan_hash")), key.plan_hash);
  EXPECT_EQ(json_at(r, "estimated_seconds").size(), 3u);
  ASSERT_EQ(json_at(r, "cells").size(), cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    EXPECT_EQ(json_string(json_at(json_at(r, "cells")[i], "cell")), cells[i].name());
    EXPECT_EQ(json_i64(json_at(json_at(r, "cells")[i], "shard")), of[i] + 1);
    EXPECT_EQ(json_string(json_at(json_at(r, "cells")[i], "label")), cells[i].label());
  }
  EXPECT_EQ(hex64(fnv1a64("")), "cbf29ce484222325");
  EXPECT_EQ(hex64(fnv1a64("a")), "af63dc4c8601ec8c");
  EXPECT_EQ(file_fingerprint("/nonexistent"), "");
}

TEST(Environment, HostKindWordsMatchTheAnalysis) {
  // analysis/tests/test_host_kinds.py checks tidy.host_kind() gives the same words for this record.
  Json env = Json::object();
  env["cpu_model"] = Json("AMD EPYC");
  env["cpu_count"] = Json(2);
  env["kernel"] = Json("Linux 6.18.44-fc-v782 #1 SMP PREEMPT_DYNAMIC @0");
  env["kvm_backend"] = Json("none");
  env["running_under_hypervisor"] = Json("present");
  EXPECT_EQ(host_kind(env), "AMD EPYC x2, Linux 6.18.44-fc-v782, kvm none, virtualized");
  env["cpu_model"] = Json("odd;cpu=x");  // a label separator never leaks into the label
  EXPECT_EQ(host_kind(env).find_first_of(";="), std::string::npos);
  env["host_kind"] = Json("given");
  EXPECT_EQ(host_kind(env), "given");
}
