// tags: harness|bench — desc: `vtb merge`: checks that shard folders are of one sweep and joins them into one results folder.
#include "harness/bench/merge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "harness/bench/results_dir.h"
#include "harness/bench/summary.h"
#include "harness/cli_parse.h"
#include "harness/json.h"

#ifndef VTB_SOURCE_DIR
#define VTB_SOURCE_DIR "."
#endif

namespace vtb::bench {

namespace {

namespace fs = std::filesystem;

constexpr int kExitMissing = 1, kExitBad = 2, kExitHost = 5;


// The fields of shard.json that every shard of one sweep shares.
const char* const kSweepFields[] = {"commit", "manifest_hash", "options", "plan_hash", "count"};

// Environment fields that are per shard (summarised, not compared).
const std::set<std::string> kPerShardEnv = {"date", "host", "host_kind", "shard", "shard_estimated_seconds",
                                           "bench_seconds", "cells", "cells_lost_or_skipped", "repetitions_total",
                                           "repetitions_lost", "arguments", "phase_scales", "probe_runs"};

std::map<std::string, std::string> label_fields(const std::string& label) {
  std::map<std::string, std::string> out;
  std::istringstream in(label);
  std::string part;
  while (std::getline(in, part, ';')) {
    auto eq = part.find('=');
    if (eq != std::string::npos) out[part.substr(0, eq)] = part.substr(eq + 1);
  }
  return out;
}

std::string shard_str(int i, int n) { return std::to_string(i) + "/" + std::to_string(n); }

std::string utc_now() {
  time_t now = time(nullptr);
  tm g{};
  gmtime_r(&now, &g);
  char d[32];
  strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%SZ", &g);
  return d;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// A lost row for one repetition of a cell the merge has no row for.
Json missing_row(const Json& cell, int rep, const std::string& reason) {
  const std::string name = json_string(json_at(cell, "cell"));
  const int reps = int(json_i64(json_at(cell, "repetitions"), 1));
  const std::string gb_name = name + "/iterations:1/repeats:" + std::to_string(reps) + "/manual_time";
  Json r = Json::object();
  r["name"] = Json(gb_name);
  r["family_index"] = Json(0);
  r["per_family_instance_index"] = Json(0);
  r["run_name"] = Json(gb_name);
  r["run_type"] = Json("iteration");
  r["repetitions"] = Json(reps);
  r["repetition_index"] = Json(rep);
  r["threads"] = Json(1);
  r["error_occurred"] = Json(true);
  r["error_message"] = Json(reason);
  r["iterations"] = Json(0);
  r["real_time"] = Json(0);
  r["cpu_time"] = Json(0);
  r["time_unit"] = Json("us");
  r["label"] = json_at(cell, "label");
  return r;
}

// The summary of one cell from its rows (as bench_main keeps it while running).
CellOutcome outcome_of(const Json& cell, const std::vector<Json>& rows) {
  auto f = label_fields(rows.empty() ? json_string(json_at(cell, "label")) : json_string(json_at(rows.front(), "label")));
  CellOutcome o;
  o.engine = f["engine"];
  o.backend = f["backend"];
  o.workload = f["workload"];
  o.group = f["group"];
  o.mode = f["mode"];
  o.params = f["params"];
  for (const Json& r : rows) {
    if (json_string(json_at(r, "run_type")) != "iteration") continue;
    if (json_at(r, "error_occurred") == true) {
      ++o.failed_reps;
      if (o.error.empty()) o.error = json_string(json_at(r, "error_message"));
    } else {
      o.ns_per_op.push_back(json_double(json_at(r, "ns_per_op")));
    }
  }
  return o;
}

}  // namespace

std::string read_shard_folder(const std::string& path, ShardFolder* out) {
  out->path = path;
  out->name = fs::path(path).lexically_normal().filename().string();
  if (out->name.empty()) out->name = fs::path(path).lexically_normal().parent_path().filename().string();
  std::string err;
  if (!read_text(path + "/shard.json", &out->shard_text))
    return path + " is not a shard folder: no shard.json (vtb bench --shard i/N writes one)";
  if (!parse_json(out->shard_text, &out->shard, &err)) return path + "/shard.json: " + err;
  if (!read_text(path + "/environment.json", &out->env_text) || !parse_json(out->env_text, &out->env, &err))
    return path + "/environment.json: " + (err.empty() ? "cannot read" : err);
  if (!read_json_file(path + "/bench.json", &out->bench, &err)) return err;
  if (!json_at(out->bench, "benchmarks").is_array()) return path + "/bench.json: not Google Benchmark JSON";
  read_text(path + "/summary.txt", &out->summary);
  read_text(path + "/nested.json", &out->nested);
  if (fs::exists(path + "/census.json") && !read_json_file(path + "/census.json", &out->census, &err)) return err;
  out->index = int(json_i64(json_at(out->shard, "shard"), 0));
  return "";
}

std::string find_shard_folders(const std::vector<std::string>& dirs, std::vector<std::string>* out) {
  for (const auto& d : dirs) {
    if (fs::exists(d + "/bench.json")) {
      out->push_back(d);
      continue;
    }
    std::error_code ec;
    if (!fs::is_directory(d, ec)) return d + ": no such results folder";
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(d, ec)) {
      const std::string n = e.path().filename().string();
      if (!n.empty() && n[0] != '.' && fs::exists(e.path() / "bench.json")) found.push_back(e.path().string());
    }
    if (found.empty()) return d + ": no results folder (with bench.json) in it";
    std::sort(found.begin(), found.end());
    out->insert(out->end(), found.begin(), found.end());
  }
  return "";
}

std::string merge_shards(const std::vector<ShardFolder>& shards, const std::vector<std::string>& arguments,
                         MergeResult* out) {
  if (shards.empty()) return "no shard folders to merge";
  std::vector<const ShardFolder*> by_index;
  for (const auto& s : shards) by_index.push_back(&s);
  std::stable_sort(by_index.begin(), by_index.end(), [](auto* a, auto* b) { return a->index < b->index; });
  const ShardFolder& first = *by_index.front();
  const int n = int(json_i64(json_at(first.shard, "count"), 0));
  for (const ShardFolder* s : by_index) {
    for (const char* f : kSweepFields) {
      const std::string a = dump_json(json_at(first.shard, f)), b = dump_json(json_at(s->shard, f));
      if (a != b)
        return s->name + " and " + first.name + " are not shards of one sweep: they differ in " + f + " (" + b +
               " vs " + a + ")";
    }
    if (s->index < 1 || s->index > n) return s->name + ": shard index " + std::to_string(s->index) + " not in 1.." + std::to_string(n);
  }
  for (size_t i = 1; i < by_index.size(); ++i)
    if (by_index[i]->index == by_index[i - 1]->index)
      return "shard " + shard_str(by_index[i]->index, n) + " given twice: " + by_index[i - 1]->name + " and " +
             by_index[i]->name + " (keep one)";

  const Json& plan = json_at(first.shard, "cells");
  std::map<std::string, size_t> cell_index;
  for (size_t i = 0; i < plan.size(); ++i) cell_index[json_string(json_at(plan[i], "cell"))] = i;
  std::vector<std::vector<Json>> rows(plan.size());
  std::map<int, const ShardFolder*> present;
  for (const ShardFolder* s : by_index) {
    present[s->index] = s;
    for (const Json& row : json_at(s->bench, "benchmarks")) {
      std::string rn = json_string(json_at(row, "run_name")).empty() ? json_string(json_at(row, "name")) : json_string(json_at(row, "run_name"));
      const std::string cell = rn.substr(0, rn.find("/iterations:"));
      auto it = cell_index.find(cell);
      if (it == cell_index.end()) return s->name + ": bench.json row '" + rn + "' is not a cell of the sweep's plan";
      if (json_i64(json_at(plan[it->second], "shard")) != s->index)
        return s->name + ": has cell " + cell + " of shard " + shard_str(int(json_i64(json_at(plan[it->second], "shard"))), n);
      rows[it->second].push_back(row);
    }
  }

  // Every cell in plan order (the order of an unsharded run); lost rows for the cells no shard has.
  Json benchmarks = Json::array();
  std::vector<CellOutcome> outcomes;
  std::vector<std::string> outcome_kind;  // the host kind of the shard that ran it ("" when none did)
  std::map<int, std::vector<std::string>> missing_by_shard;
  int lost = 0, family = 0, reps_total = 0, reps_lost = 0;
  for (size_t i = 0; i < plan.size(); ++i, ++family) {
    const int k = int(json_i64(json_at(plan[i], "shard")));
    if (rows[i].empty()) {
      const std::string reason =
          present.count(k) ? "not run: shard " + shard_str(k, n) + " has no row for this cell (filtered out, or the shard stopped)"
                           : "not run: shard " + shard_str(k, n) + " is missing (it failed or its folder was not given to vtb merge)";
      for (int r = 0; r < int(json_i64(json_at(plan[i], "repetitions"), 1)); ++r) rows[i].push_back(missing_row(plan[i], r, reason));
      missing_by_shard[k].push_back(json_string(json_at(plan[i], "cell")));
    }
    for (Json row : rows[i]) {
      row["family_index"] = Json(family);
      row["per_family_instance_index"] = Json(0);
      benchmarks.push_back(row);
    }
    outcomes.push_back(outcome_of(plan[i], rows[i]));
    outcome_kind.push_back(present.count(k) ? json_string(json_at(present[k]->env, "host_kind")) : "");
    if (outcomes.back().ns_per_op.empty()) ++lost;
    reps_total += int(outcomes.back().ns_per_op.size()) + outcomes.back().failed_reps;
    reps_lost += outcomes.back().failed_reps;
  }
  out->count = n;
  out->missing.clear();
  out->missing_cells = 0;
  for (const auto& [k, cells] : missing_by_shard) {
    out->missing.push_back("shard " + shard_str(k, n) + (present.count(k) ? "" : " missing") + ": " +
                           std::to_string(cells.size()) + " cells not run: " + join(cells, ", "));
    out->missing_cells += int(cells.size());
  }

  // Hosts and host kinds: kept per shard, never pooled.
  std::vector<std::string> hosts, kinds;
  for (const ShardFolder* s : by_index) {
    for (auto [list, key] : {std::pair{&hosts, "host"}, std::pair{&kinds, "host_kind"}}) {
      const std::string v = json_string(s->env[key]);
      if (std::find(list->begin(), list->end(), v) == list->end()) list->push_back(v);
    }
  }
  // Google Benchmark's context of the first shard that ran a cell (an empty shard writes a minimal one).
  const ShardFolder* ran = &first;
  for (const ShardFolder* s : by_index)
    if (!json_at(s->bench, "benchmarks").empty()) { ran = s; break; }
  Json ctx = Json::object();
  for (const auto& [k, v] : json_at(ran->bench, "context").items())
    if (k != "vtb.shard") ctx[k] = v;
  ctx["host_name"] = Json(join(hosts, ","));
  ctx["vtb.host"] = Json(join(hosts, ","));
  ctx["vtb.merged"] = Json(std::to_string(present.size()) + " of " + std::to_string(n) + " shards");
  out->bench = Json::object();
  out->bench["context"] = ctx;
  out->bench["benchmarks"] = benchmarks;

  // environment.json: what all shards share, then each shard's own record.
  Json env = Json::object();
  env["date"] = Json(utc_now());
  env["merged"] = Json(true);
  env["host"] = Json(join(hosts, ","));
  env["host_kind"] = Json(kinds.size() == 1 ? kinds.front() : "mixed");
  Json kinds_json = Json::array();
  for (const auto& k : kinds) kinds_json.push_back(Json(k));
  env["host_kinds"] = kinds_json;
  for (const auto& [k, v] : first.env.items()) {
    if (kPerShardEnv.count(k)) continue;
    bool same = true;
    for (const ShardFolder* s : by_index) same = same && dump_json(json_at(s->env, k)) == dump_json(v);
    env[k] = same ? v : Json("mixed (see shards)");
  }
  double longest = 0, total = 0;
  Json shard_envs = Json::array();
  Json missing_shards = Json::array();
  for (int k = 1; k <= n; ++k) {
    auto it = present.find(k);
    if (it == present.end()) {
      missing_shards.push_back(Json(shard_str(k, n)));
      continue;
    }
    const double secs = json_double(json_at(it->second->env, "bench_seconds"));
    longest = std::max(longest, secs);
    total += secs;
    Json e = Json::object();
    e["folder"] = Json(it->second->name);
    for (const auto& [key, v] : it->second->env.items()) e[key] = v;
    shard_envs.push_back(e);
  }
  env["shards_count"] = Json(n);
  env["shards_present"] = Json(present.size());
  env["missing_shards"] = missing_shards;
  env["bench_seconds"] = Json(longest);
  env["bench_seconds_total"] = Json(std::round(total * 10) / 10);
  env["cells"] = Json(plan.size());
  env["cells_lost_or_skipped"] = Json(lost);
  env["repetitions_total"] = reps_total;  // the one unit for lost work (docs/benchmarks.md)
  env["repetitions_lost"] = reps_lost;
  env["cells_missing"] = Json(out->missing_cells);
  // --min-phase: every shard's cells with their factors (a cell runs in one shard), and the probe runs of all.
  Json phase_scales = Json::object();
  int64_t probe_runs = 0;
  for (const ShardFolder* s : by_index) {
    for (const auto& [cell, f] : json_at(s->env, "phase_scales").items()) phase_scales[cell] = f;
    probe_runs += json_i64(json_at(s->env, "probe_runs"));
  }
  env["phase_scales"] = phase_scales;
  env["probe_runs"] = Json(probe_runs);
  Json args = Json::array();
  for (const auto& a : arguments) args.push_back(Json(a));
  env["arguments"] = args;
  env["shards"] = shard_envs;
  out->env = env;

  // The census of every engine (one census cell per engine and workload: a unit of one shard).
  out->census = Json();
  out->nested.clear();
  for (const ShardFolder* s : by_index) {
    for (const auto& [engine, v] : s->census.items()) {
      if (!out->census.is_object()) out->census = Json::object();
      if (!out->census.contains(engine)) out->census[engine] = v;
    }
    if (out->nested.empty()) out->nested = s->nested;
  }

  // summary.txt: the shards, the table over every cell, the n/a pairs of the selection.
  std::string sum = "merged " + std::to_string(present.size()) + " of " + std::to_string(n) + " shards of " +
                    json_string(json_at(first.shard, "commit")) + " (" + json_string(json_at(first.shard, "options")) + ")\n";
  for (int k = 1; k <= n; ++k) {
    auto it = present.find(k);
    if (it == present.end()) {
      sum += fmt::format("  shard {:<7} MISSING: {} cells not run\n", shard_str(k, n), missing_by_shard[k].size());
    } else {
      const Json& e = it->second->env;
      sum += fmt::format("  shard {:<7} {} ({}): {:.0f} cells in {:.0f} s\n", shard_str(k, n), json_string(json_at(e, "host")),
                         json_string(json_at(e, "host_kind")), json_double(json_at(e, "cells")),
                         json_double(json_at(e, "bench_seconds")));
    }
  }
  const double cv_flag = cv_flag_threshold(json_double(json_at(first.env, "target_cv")));
  if (kinds.size() <= 1) {
    sum += "\n" + format_summary(outcomes, cv_flag);
  } else {
    // One table per host kind (a ratio never pairs cells of different kinds), then the cells no shard ran.
    std::vector<std::string> groups = kinds;
    groups.push_back("");
    for (const auto& kind : groups) {
      std::vector<CellOutcome> part;
      for (size_t i = 0; i < outcomes.size(); ++i)
        if (outcome_kind[i] == kind) part.push_back(outcomes[i]);
      if (!part.empty())
        sum += "\nhost kind: " + (kind.empty() ? std::string("none (cells no shard ran)") : kind) + "\n" +
               format_summary(part, cv_flag);
    }
  }
  std::istringstream first_summary(first.summary);
  for (std::string line; std::getline(first_summary, line);)
    if (line.rfind("n/a  ", 0) == 0) sum += line + "\n";
  out->summary = sum;
  return "";
}

int merge_main(int argc, char** argv) {
  std::string out_root = std::string(VTB_SOURCE_DIR) + "/results";
  std::vector<std::string> dirs, arguments;
  for (int i = 0; i < argc; ++i) arguments.push_back(argv[i]);
  CLI::App app{"Joins the results folders of `vtb bench --shard i/N` (each SHARD_DIR a shard folder, or a\n"
               "folder holding them) into DIR/<date>_merged_<commit>/. Refuses shards of different commits,\n"
               "manifests, options or splits; every cell of a missing shard is listed and kept in the merged\n"
               "bench.json as a lost cell (exit 1).",
               "vtb merge"};
  cli::init_app(app);
  app.add_option("--out", out_root, "DIR (default: results/ of the source tree)");
  app.add_option("SHARD_DIR", dirs, "shard results folders")->required();
  if (int rc = cli::parse_cli(app, argc, argv); rc >= 0) return rc;

  std::vector<std::string> paths;
  std::string err = find_shard_folders(dirs, &paths);
  std::vector<ShardFolder> shards(paths.size());
  for (size_t i = 0; err.empty() && i < paths.size(); ++i) err = read_shard_folder(paths[i], &shards[i]);
  MergeResult m;
  if (err.empty()) err = merge_shards(shards, arguments, &m);
  if (!err.empty()) { std::fprintf(stderr, "vtb merge: %s\n", err.c_str()); return kExitBad; }

  ResultsDir out;
  const std::string commit = json_string(json_at(m.env, "commit")) + ((json_at(m.env, "commit_dirty") == true) ? "+dirty" : "");
  bool ok = out.create(out_root, results_folder_name(long(time(nullptr)), "merged", commit), &err) &&
            out.write_file("bench.json", dump_json(m.bench, 2) + "\n", &err) &&
            out.write_file("environment.json", dump_json(m.env, 2) + "\n", &err) &&
            out.write_file("summary.txt", m.summary, &err) &&
            (m.census.is_null() || out.write_file("census.json", dump_json(m.census, 2) + "\n", &err)) &&
            (m.nested.empty() || out.write_file("nested.json", m.nested, &err));
  // Each shard's own records, as it wrote them.
  for (size_t i = 0; ok && i < shards.size(); ++i) {
    const ShardFolder& s = shards[i];
    const std::string sub = "shards/" + std::to_string(s.index) + "of" + std::to_string(m.count) + "/";
    ok = out.write_file(sub + "environment.json", s.env_text, &err) && out.write_file(sub + "shard.json", s.shard_text, &err) &&
         (s.summary.empty() || out.write_file(sub + "summary.txt", s.summary, &err));
  }
  const std::string final_path = ok ? out.commit(&err) : "";
  std::fputs(m.summary.c_str(), stdout);
  if (final_path.empty()) {
    std::fprintf(stderr, "vtb merge: results not written: %s\n", err.c_str());
    return kExitHost;
  }
  for (const auto& line : m.missing) std::fprintf(stderr, "vtb merge: %s\n", line.c_str());
  std::printf("\nresults: %s (merged %.0f of %d shards: %.0f cells, %.0f of %.0f repetitions lost, %d cells missing)\n",
              final_path.c_str(), json_double(json_at(m.env, "shards_present")), m.count, json_double(json_at(m.env, "cells")),
              json_double(json_at(m.env, "repetitions_lost")), json_double(json_at(m.env, "repetitions_total")),
              m.missing_cells);
  return m.missing.empty() ? 0 : kExitMissing;
}

}  // namespace vtb::bench
