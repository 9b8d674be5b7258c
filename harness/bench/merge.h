// tags: harness|bench — desc: `vtb merge`: joins the results folders of `vtb bench --shard i/N` into one results folder.
#pragma once
#include <string>
#include <vector>

#include "harness/json.h"

namespace vtb::bench {

// One shard's results folder as `vtb merge` reads it.
struct ShardFolder {
  std::string path, name;
  Json env, bench, shard;  // environment.json, bench.json, shard.json
  Json census;             // census.json (null when absent)
  std::string env_text, summary, shard_text, nested;  // kept verbatim in the merged folder
  int index = 0;           // shard.json "shard" (1-based)
};

// Reads a shard folder; "" or a one-line error.
std::string read_shard_folder(const std::string& path, ShardFolder* out);

// The shard folders named on the command line: each DIR is a shard folder
// (it has bench.json) or a folder holding shard folders (hidden ones skipped).
// "" or a one-line error.
std::string find_shard_folders(const std::vector<std::string>& dirs, std::vector<std::string>* out);

struct MergeResult {
  Json bench;           // the merged bench.json: every shard's rows in plan order, missing cells as lost rows
  Json env;             // the merged environment.json ("merged": true, "shards": each shard's environment)
  Json census;          // the census of every engine (null when no shard ran one)
  std::string nested;   // nested.json of the shard that ran the kvm@nested-tcg cells
  std::string summary;  // summary.txt
  int count = 0;        // N
  std::vector<std::string> missing;  // one line per shard with cells the merge has no row for, naming each cell
  int missing_cells = 0;
};

// Checks that the shards are of one sweep (commit, manifest, options, plan,
// N; each index once) and joins them. Returns "" or a one-line refusal.
std::string merge_shards(const std::vector<ShardFolder>& shards, const std::vector<std::string>& arguments,
                         MergeResult* out);

// `vtb merge [--out DIR] SHARD_DIR...`: 0 merged, 1 merged but cells are
// missing (listed by cell), 2 bad input or shards of different sweeps, 5
// the results folder could not be written.
int merge_main(int argc, char** argv);

}  // namespace vtb::bench
