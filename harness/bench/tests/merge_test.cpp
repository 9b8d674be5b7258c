// tags: harness|bench|tests — desc: vtb merge: one sweep only, every cell in plan order, missing shards by cell, hosts and host kinds kept.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness/bench/merge.h"
#include "harness/bench/shard.h"

using namespace vtb;
using namespace vtb::bench;

namespace {

Cell cell(const std::string& engine, const std::string& workload, const std::string& mode = "cold") {
  Cell c;
  c.engine = engine;
  c.backend = engine;
  c.workload = workload;
  c.group = workload == "census" ? "census" : "micro";
  c.mode = mode;
  c.params = {{"n", "10"}};
  c.repetitions = 2;
  return c;
}

// A sweep of `n` shards over a small plan, as `vtb bench --shard i/n` would write them.
struct Sweep {
  std::vector<Cell> plan;
  std::vector<int> shard_of;
  std::vector<int64_t> load;
  CostModel costs;
  SweepKey key;

  explicit Sweep(int n) {
    for (const char* e : {"bt", "qemu-tcg", "native"})
      for (const char* w : {"micro_a", "micro_b", "micro_c"}) {
        plan.push_back(cell(e, w));
        if (std::string(e) == "bt") plan.push_back(cell(e, w, "warm"));
      }
    shard_of = assign_shards(plan, n, costs, 1.0, &load);
    key = SweepKey{"abc123+dirty", "m-hash", "engines=;quick=1", plan_fingerprint(plan, shard_of)};
  }

  ShardFolder shard(int index, const std::string& host = "h1", const std::string& kind = "K1") const {
    const int n = int(load.size());
    ShardFolder f;
    f.index = index;
    f.name = "2026-01-01-0000_" + host + "_abc123-dirty_shard-" + std::to_string(index) + "of" + std::to_string(n);
    f.path = "/x/" + f.name;
    f.shard = shard_record(ShardSpec{index, n}, key, plan, shard_of, load, costs, 1.0);
    f.env = Json::object();
    f.env["date"] = Json("2026-01-01T00:00:0" + std::to_string(index) + "Z");
    f.env["host"] = Json(host);
    f.env["host_kind"] = Json(kind);
    f.env["commit"] = Json("abc123");
    f.env["commit_dirty"] = Json(true);
    f.env["cpu_model"] = Json(kind + " CPU");
    f.env["repetitions"] = Json(2);
    f.env["shard"] = Json(std::to_string(index) + "/" + std::to_string(n));
    f.env["bench_seconds"] = Json(10 * index);
    f.summary = "table\nn/a  native/micro_x: the manifest does not run it on this peer\n";
    Json rows = Json::array();
    for (size_t i = 0; i < plan.size(); ++i) {
      if (shard_of[i] != index - 1) continue;
      const std::string gb = plan[i].name() + "/iterations:1/repeats:2/manual_time";
      for (int r = 0; r < 2; ++r) {
        Json row = Json::object();
        row["name"] = Json(gb);
        row["family_index"] = Json(7);
        row["run_name"] = Json(gb);
        row["run_type"] = Json("iteration");
        row["repetition_index"] = Json(r);
        row["ns_per_op"] = Json(100 + r);
        row["label"] = Json(plan[i].label() + ";host=" + host + ";host_kind=" + kind +
                                           ";shard=" + std::to_string(index) + "/" + std::to_string(n));
        rows.push_back(row);
      }
      Json agg = Json::object();
      agg["name"] = Json(gb + "_mean");
      agg["run_name"] = Json(gb);
      agg["run_type"] = Json("aggregate");
      rows.push_back(agg);
    }
    f.bench = Json::object();
    f.bench["context"] = Json::object();
    f.bench["benchmarks"] = rows;
    if (index == 1) {
      Json census = Json::object();
      census["bt"] = Json::object();
      f.census = census;
    }
    return f;
  }
};

std::vector<std::string> cells_of(const Json& bench) {
  std::vector<std::string> out;
  for (const Json& r : json_at(bench, "benchmarks")) {
    if (json_string(json_at(r, "run_type")) != "iteration" || json_i64(json_at(r, "repetition_index")) != 0) continue;
    const std::string rn = json_string(json_at(r, "run_name"));
    out.push_back(rn.substr(0, rn.find("/iterations:")));
  }
  return out;
}

}  // namespace

TEST(Merge, JoinsEveryCellInPlanOrderWithItsHost) {
  Sweep s(3);
  std::vector<ShardFolder> shards = {s.shard(3, "h3"), s.shard(1, "h1"), s.shard(2, "h2")};  // any order
  MergeResult m;
  ASSERT_EQ(merge_shards(shards, {"merge"}, &m), "");
  std::vector<std::string> want;
  for (const auto& c : s.plan) want.push_back(c.name());
  EXPECT_EQ(cells_of(m.bench), want);
  EXPECT_TRUE(m.missing.empty());
  EXPECT_EQ(m.missing_cells, 0);
  // Aggregates are kept, family indices renumbered in plan order.
  int iterations = 0, aggregates = 0;
  int64_t last_family = -1;
  for (const Json& r : json_at(m.bench, "benchmarks")) {
    (json_string(json_at(r, "run_type")) == "iteration" ? iterations : aggregates)++;
    EXPECT_GE(json_i64(json_at(r, "family_index")), last_family);
    last_family = json_i64(json_at(r, "family_index"));
    if (json_string(json_at(r, "run_type")) == "iteration") {
      EXPECT_NE(json_string(json_at(r, "label")).find(";host=h"), std::string::npos);
    }
  }
  EXPECT_EQ(iterations, int(s.plan.size()) * 2);
  EXPECT_EQ(aggregates, int(s.plan.size()));
  EXPECT_EQ(last_family, int64_t(s.plan.size()) - 1);
  EXPECT_TRUE((json_at(m.env, "merged") == true));
  EXPECT_EQ(json_string(json_at(m.env, "host")), "h1,h2,h3");
  EXPECT_EQ(json_string(json_at(m.env, "host_kind")), "K1");
  EXPECT_EQ(json_string(json_at(m.env, "commit")), "abc123");
  EXPECT_EQ(json_i64(json_at(m.env, "cells")), int64_t(s.plan.size()));
  EXPECT_EQ(json_double(json_at(m.env, "bench_seconds")), 30);
  EXPECT_EQ(json_double(json_at(m.env, "bench_seconds_total")), 60);
  ASSERT_EQ(json_at(m.env, "shards").size(), 3u);
  EXPECT_EQ(json_string(json_at(json_at(m.env, "shards")[1], "shard")), "2/3");
  EXPECT_EQ(json_string(json_at(json_at(m.env, "shards")[1], "host")), "h2");
  EXPECT_TRUE(m.census.contains("bt"));
  EXPECT_NE(m.summary.find("merged 3 of 3 shards"), std::string::npos);
  EXPECT_NE(m.summary.find("n/a  native/micro_x"), std::string::npos);
}

// --min-phase: each shard scales its own cells; the rows keep the params as run, the merged
// environment joins every shard's factors and sums the probe runs.
TEST(Merge, JoinsEveryShardsPhaseScales) {
  Sweep s(2);
  std::vector<ShardFolder> shards = {s.shard(1), s.shard(2)};
  int64_t probes = 0;
  for (auto& f : shards) {
    Json scales = Json::object();
    for (size_t i = 0; i < s.plan.size(); ++i)
      if (s.shard_of[i] == f.index - 1 && s.plan[i].mode == "cold") scales[s.plan[i].name()] = Json(f.index * 16);
    f.env["phase_scales"] = scales;
    f.env["probe_runs"] = Json(f.index * 3);
    probes += f.index * 3;
    for (Json& row : f.bench["benchmarks"])  // the params as run, as bench_main labels them
      if (json_string(json_at(row, "run_type")) == "iteration")
        row["label"] = Json(json_string(json_at(row, "label")) + ";phase_scale=" + std::to_string(f.index * 16));
  }
  MergeResult m;
  ASSERT_EQ(merge_shards(shards, {"merge"}, &m), "");
  const Json& scales = json_at(m.env, "phase_scales");
  int cold = 0;
  for (size_t i = 0; i < s.plan.size(); ++i) {
    if (s.plan[i].mode != "cold") continue;
    ++cold;
    EXPECT_EQ(json_i64(json_at(scales, s.plan[i].name())), (s.shard_of[i] + 1) * 16) << s.plan[i].name();
  }
  EXPECT_EQ(int(scales.size()), cold);
  EXPECT_EQ(json_i64(json_at(m.env, "probe_runs")), probes);
  for (const Json& r : json_at(m.bench, "benchmarks")) {
    if (json_string(json_at(r, "run_type")) == "iteration") {
      EXPECT_NE(json_string(json_at(r, "label")).find(";phase_scale="), std::string::npos);
    }
  }
}

TEST(Merge, HostKindsAreKeptApart) {
  Sweep s(2);
  std::vector<ShardFolder> shards = {s.shard(1, "a", "EPYC x2"), s.shard(2, "b", "Xeon x64")};
  MergeResult m;
  ASSERT_EQ(merge_shards(shards, {}, &m), "");
  EXPECT_EQ(json_string(json_at(m.env, "host_kind")), "mixed");
  ASSERT_EQ(json_at(m.env, "host_kinds").size(), 2u);
  EXPECT_EQ(json_string(json_at(m.env, "cpu_model")), "mixed (see shards)");  // never one value for both
  EXPECT_EQ(json_string(json_at(json_at(m.env, "shards")[1], "cpu_model")), "Xeon x64 CPU");
  // The summary has one table per kind: no "vs native" ratio pairs a cell with another kind's native.
  EXPECT_NE(m.summary.find("host kind: EPYC x2\n"), std::string::npos) << m.summary;
  EXPECT_NE(m.summary.find("host kind: Xeon x64\n"), std::string::npos) << m.summary;
}

TEST(Merge, RefusesShardsOfDifferentSweeps) {
  Sweep s(3);
  MergeResult m;
  for (const char* field : {"commit", "manifest_hash", "options", "plan_hash"}) {
    std::vector<ShardFolder> shards = {s.shard(1), s.shard(2), s.shard(3)};
    shards[2].shard[field] = Json("other");
    std::string err = merge_shards(shards, {}, &m);
    EXPECT_NE(err.find("not shards of one sweep"), std::string::npos) << err;
    EXPECT_NE(err.find(field), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << "one line";
  }
  std::vector<ShardFolder> n_differs = {s.shard(1), Sweep(2).shard(2)};
  EXPECT_NE(merge_shards(n_differs, {}, &m), "");
  std::vector<ShardFolder> twice = {s.shard(1), s.shard(2), s.shard(2, "again")};
  EXPECT_NE(merge_shards(twice, {}, &m).find("given twice"), std::string::npos);
  EXPECT_NE(merge_shards({}, {}, &m), "");
}

TEST(Merge, MissingShardIsReportedByCell) {
  Sweep s(3);
  std::vector<ShardFolder> shards = {s.shard(1), s.shard(3)};
  // Shard 3 lost one cell (e.g. --benchmark_filter, or it stopped).
  Json kept = Json::array();
  std::string dropped;
  for (const Json& r : json_at(shards[1].bench, "benchmarks")) {
    const std::string rn = json_string(json_at(r, "run_name"));
    if (dropped.empty()) dropped = rn.substr(0, rn.find("/iterations:"));
    if (rn.rfind(dropped + "/", 0) != 0) kept.push_back(r);
  }
  shards[1].bench["benchmarks"] = kept;
  MergeResult m;
  ASSERT_EQ(merge_shards(shards, {}, &m), "");
  std::vector<std::string> want;
  for (const auto& c : s.plan) want.push_back(c.name());
  EXPECT_EQ(cells_of(m.bench), want) << "every cell of the plan, run or not";
  int missing2 = 0;
  for (size_t i = 0; i < s.plan.size(); ++i) missing2 += s.shard_of[i] == 1;
  ASSERT_EQ(m.missing.size(), 2u);
  EXPECT_NE(m.missing[0].find("shard 2/3 missing: " + std::to_string(missing2) + " cells"), std::string::npos) << m.missing[0];
  EXPECT_NE(m.missing[1].find(dropped), std::string::npos) << m.missing[1];
  EXPECT_EQ(m.missing_cells, missing2 + 1);
  int lost_rows = 0;
  for (const Json& r : json_at(m.bench, "benchmarks")) {
    if (!(json_at(r, "error_occurred") == true)) continue;
    ++lost_rows;
    EXPECT_NE(json_string(json_at(r, "error_message")).find("shard"), std::string::npos);
    EXPECT_NE(json_string(json_at(r, "label")).find("engine="), std::string::npos) << "the plan's label";
  }
  EXPECT_EQ(lost_rows, 2 * (missing2 + 1));
  EXPECT_EQ(json_at(m.env, "missing_shards").size(), 1u);
  EXPECT_NE(m.summary.find("MISSING"), std::string::npos);
}

TEST(Merge, RejectsRowsOutsideThePlan) {
  Sweep s(2);
  std::vector<ShardFolder> shards = {s.shard(1), s.shard(2)};
  Json rows = json_at(shards[0].bench, "benchmarks");
  Json stray = Json::object();
  stray["run_name"] = Json("bt/unknown/cold/iterations:1/manual_time");
  rows.push_back(stray);
  shards[0].bench["benchmarks"] = rows;
  MergeResult m;
  EXPECT_NE(merge_shards(shards, {}, &m).find("not a cell"), std::string::npos);
}

TEST(Merge, ReadsFoldersAndFindsShardsInAParent) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("vtb-merge-test-" + std::to_string(getpid()));
  fs::remove_all(root);
  Sweep s(2);
  for (int i = 1; i <= 2; ++i) {
    ShardFolder f = s.shard(i);
    fs::create_directories(root / f.name);
    std::ofstream(root / f.name / "bench.json") << dump_json(f.bench);
    std::ofstream(root / f.name / "environment.json") << dump_json(f.env);
    std::ofstream(root / f.name / "shard.json") << dump_json(f.shard);
  }
  fs::create_directories(root / ".tmp-unfinished");
  std::vector<std::string> found;
  ASSERT_EQ(find_shard_folders({root.string()}, &found), "");
  ASSERT_EQ(found.size(), 2u);
  ShardFolder f;
  ASSERT_EQ(read_shard_folder(found[1], &f), "");
  EXPECT_EQ(f.index, 2);
  EXPECT_TRUE(f.census.is_null());
  fs::create_directories(root / "plain");
  std::ofstream(root / "plain" / "bench.json") << "{\"benchmarks\": []}";
  EXPECT_NE(read_shard_folder((root / "plain").string(), &f).find("not a shard folder"), std::string::npos);
  EXPECT_NE(find_shard_folders({(root / "none").string()}, &found), "");
  fs::remove_all(root);
}
