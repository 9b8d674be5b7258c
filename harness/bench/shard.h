// tags: harness|bench — desc: `vtb bench --shard i/N`: the cost model and the deterministic, cost-balanced split of the matrix.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/json.h"
#include "harness/bench/matrix.h"

namespace vtb::bench {

// "i/N" of `--shard` (1 <= i <= N). count == 0: not sharded.
struct ShardSpec {
  int index = 0;
  int count = 0;
  bool enabled() const { return count > 0; }
  std::string str() const;  // "2/3"
};

// Parses "i/N"; returns "" or a one-line error.
std::string parse_shard(const std::string& text, ShardSpec* out);

// Seconds per repetition of each (engine, workload) cell, as measured on the
// development machine (harness/bench/cell_costs.tsv, written by
// analysis/cell_costs.py). Only ever used to balance shards: the split it
// gives is the same on every host for the same commit, manifest and options.
class CostModel {
 public:
  // Lines "engine<TAB or spaces>workload<...>seconds"; '#' starts a comment.
  bool parse(const std::string& text, std::string* err);
  bool load(const std::string& path, std::string* err);
  // The table's value; else the median over the engines that ran the
  // workload; else the engine's median; else 1 s.
  double rep_seconds(const std::string& engine, const std::string& workload) const;
  // Expected seconds of a whole cell: repetitions x (process start + the
  // run, the part above the engine's fastest run scaled by `scale`). A warm
  // cell costs nothing (it reads its cold cell's runs); a kvm@nested-tcg cell
  // costs kNestedFactor x the kvm cell (every exit is emulated by TCG).
  // With a minimum phase (set_min_phase), a cell that --min-phase lengthens
  // (that part shorter than it) runs kMinPhaseMean x min_phase per
  // repetition instead, plus one probe run as planned.
  double cell_seconds(const Cell& c, double scale) const;
  void set_min_phase(double seconds) { min_phase_ = seconds; }

  static constexpr double kMinPhaseMean = 1.5;  // powers of two: a scaled phase lies in [1, 2) x min_phase

  static constexpr double kSpawnSeconds = 0.05;    // one child `vtb run` process
  static constexpr double kNestedFactor = 20;      // as the nested cells' own timeout
  static constexpr double kNestedSessionSeconds = 180;  // boot, module loads, static build check

 private:
  std::map<std::pair<std::string, std::string>, double> table_;
  double min_phase_ = 0;
};

// A set of cells that must run in one shard: a cold cell with its warm row
// (the warm row reads the cold cell's runs), or every kvm@nested-tcg cell (one
// nested-runner session).
struct ShardUnit {
  std::string key;            // "engine/workload" or "kvm@nested-tcg"
  std::vector<size_t> cells;  // indices into the cell list
  int64_t cost_ms = 0;        // expected milliseconds (integer: the same on every host)
};

std::vector<ShardUnit> shard_units(const std::vector<Cell>& cells, const CostModel& costs, double scale);

// The split: for every cell its shard (0-based), and the expected
// milliseconds of each shard. Units are taken by cost, most expensive first
// (ties by key), each to the least-loaded shard (ties: the lowest index):
// deterministic, and no shard exceeds the ideal share by more than the
// largest unit.
std::vector<int> assign_shards(const std::vector<Cell>& cells, int count, const CostModel& costs, double scale,
                               std::vector<int64_t>* shard_ms);

// 64-bit FNV-1a (fingerprints of the manifest and of the plan; not a secure hash).
uint64_t fnv1a64(std::string_view s, uint64_t h = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t v);  // 16 lowercase hex digits

// The plan's fingerprint: every cell's name, params, repetitions and shard.
std::string plan_fingerprint(const std::vector<Cell>& cells, const std::vector<int>& shard_of);

// fnv1a64 of a file's bytes as hex64, "" when unreadable.
std::string file_fingerprint(const std::string& path);

// What the shards of one sweep share; `vtb merge` refuses shards that differ in any of it.
struct SweepKey {
  std::string commit;         // short id, "+dirty" when the tree differed from it
  std::string manifest_hash;  // file_fingerprint of workloads/manifest
  std::string options;        // the canonical options line (selection, repetitions, scale, GB flags)
  std::string plan_hash;      // plan_fingerprint: the cells and their split
};

// shard.json of a shard's results folder: the key, the shard, the expected
// seconds of every shard and the whole plan (every cell with its shard,
// repetitions, expected seconds and label), so that a merge can name every
// cell of a shard that is missing.
Json shard_record(const ShardSpec& shard, const SweepKey& key, const std::vector<Cell>& plan,
                  const std::vector<int>& shard_of, const std::vector<int64_t>& shard_ms, const CostModel& costs,
                  double scale);

}  // namespace vtb::bench
