// tags: harness|bench — desc: `vtb bench`: registers the matrix with Google Benchmark, runs each cell in a child `vtb run`, writes results/.
#include "harness/bench/bench_main.h"

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/clock.h"
#include "harness/bench/child_process.h"
#include "harness/bench/environment.h"
#include "harness/atomic_file.h"
#include "harness/bench/matrix.h"
#include "harness/bench/nested_cells.h"
#include "harness/bench/phase_scale.h"
#include "harness/bench/results_dir.h"
#include "harness/bench/run_report.h"
#include "harness/bench/shard.h"
#include "harness/bench/summary.h"
#include "harness/cli_parse.h"
#include "harness/commands.h"
#include "harness/json.h"
#include "harness/manifest.h"
#include "harness/runner.h"

#ifndef VTB_SOURCE_DIR
#define VTB_SOURCE_DIR "."
#endif

namespace vtb {
namespace bench {
namespace {

constexpr int kMeasuredPhase = 1;  // the workload's measured loop (docs/benchmarks.md)


struct Options {
  MatrixOptions m;
  // The source tree's results/ while it exists (the README's layout); a moved or installed binary
  // writes ./results.
  std::string out_root = access(VTB_SOURCE_DIR, F_OK) == 0 ? std::string(VTB_SOURCE_DIR) + "/results" : "results";
  std::string vtb_path;
  bool list_only = false;
  bool scale_set = false, reps_set = false, min_phase_set = false;
  double target_cv = 0;     // --target-cv: repeat cells until their cv is below it (0: off)
  int max_repetitions = 10; // --max-repetitions: the bound of --target-cv
  std::string phase_scales_from;          // --phase-scales-from DIR
  std::map<std::string, int> phase_scales;  // its factors by cell name
  ShardSpec shard;
  std::vector<std::string> gb_flags;
};

// The options that decide what a run measures, in one canonical line: the
// shards of one sweep must agree on it (`vtb merge` compares it). --out,
// --vtb and --shard are not part of it.
std::string canonical_options(const Options& o) {
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  char scale[32];
  std::snprintf(scale, sizeof scale, "%g", o.m.scale);
  std::string gb;
  for (const auto& f : o.gb_flags) gb += (gb.empty() ? "" : " ") + f;
  // Factors taken from another run decide the params: their content (not the folder's path) is part of the line.
  std::string fixed;
  for (const auto& [cell, f] : o.phase_scales) fixed += cell + "=" + std::to_string(f) + "\n";
  char min_phase[32];
  std::snprintf(min_phase, sizeof min_phase, "%g", o.m.min_phase);
  return "engines=" + sorted(o.m.engines) + ";workloads=" + sorted(o.m.workloads) + ";groups=" + sorted(o.m.groups) +
         ";quick=" + (o.m.quick ? "1" : "0") + ";repetitions=" + std::to_string(o.m.repetitions) + ";scale=" + scale +
         ";min_phase=" + min_phase + (fixed.empty() ? "" : ";phase_scales=" + hex64(fnv1a64(fixed))) +
         ";benchmark_flags=" + gb;
}

// Parses the options with CLI11. Returns -1 to go on, else the exit code
// (0 after --help, 2 after a usage error reported on one line).
int parse_options(int argc, char** argv, Options* o) {
  CLI::App app{"Runs every (engine, workload) cell in a child `vtb run --json`, keeps every repetition, writes\n"
               "DIR/<date>_<host>_<commit>/{bench.json,environment.json,summary.txt[,census.json]} and prints\n"
               "a summary table (median, cv, min .. max, repetitions, ratios, baseline flags). Options of\n"
               "Google Benchmark pass through as --benchmark_*=VALUE.",
               "vtb bench"};
  cli::init_app(app);
  std::string engines, workloads, groups, shard;
  app.add_option("--engines", engines, "a,b: engines and peers; kvm@nested-tcg: the kvm cells in the nested runner");
  app.add_option("--workloads", workloads, "x,y: workloads");
  app.add_option("--groups", groups, "micro,macro,census: workload groups");
  app.add_flag("--quick", o->m.quick, "the quick suite (2 repetitions, scale 1)");
  auto* reps = app.add_option("--repetitions", o->m.repetitions, "repetitions per cell")->check(CLI::Range(1, 1000));
  app.add_option("--target-cv", o->target_cv, "repeat a cell until its cv is below this fraction (e.g. 0.05)")
      ->check(CLI::Range(1e-9, 10.0));
  app.add_option("--max-repetitions", o->max_repetitions, "the bound of --target-cv (default 10)")
      ->check(CLI::Range(1, 1000));
  auto* scale = app.add_option("--scale", o->m.scale, "multiply the workloads' counts")->check(CLI::Range(1e-9, 1000.0));
  auto* min_phase = app.add_option("--min-phase", o->m.min_phase,
                                   "SECONDS a measured phase must last: a shorter cell's iteration counts are scaled up "
                                   "(default 0.2; 0: off; --quick and --scale: 0 unless given)")
                        ->check(CLI::Range(0.0, 60.0));
  app.add_option("--phase-scales-from", o->phase_scales_from,
                 "DIR: a results folder whose cells' --min-phase factors are used instead of probing (the same params)");
  app.add_option("--shard", shard, "i/N: the i-th of N cost-balanced parts of the selection (vtb merge joins them)");
  app.add_option("--out", o->out_root, "DIR (default: results/ of the source tree)");
  app.add_option("--vtb", o->vtb_path, "the vtb binary that runs the cells (default: this one)");
  app.add_flag("--list", o->list_only, "list the cells and stop");
  app.allow_extras();
  app.footer("--engines kvm@nested-tcg: two series, kvm@nested-tcg/npt and kvm@nested-tcg/shadow, exact exit\n"
             "counts, TCG-scale timings (docs/kvm.md). Shards and merging: docs/benchmarks.md.");
  if (int rc = cli::parse_cli(app, argc, argv); rc >= 0) return rc;
  for (const std::string& a : app.remaining()) {
    std::string bad;
    if (a.rfind("--benchmark_out", 0) == 0) bad = "--benchmark_out is set by vtb bench (use --out DIR)";
    else if (a.rfind("--benchmark_", 0) != 0) bad = "unknown option '" + a + "'";
    if (!bad.empty()) {
      cli::error_line("bench: " + bad + " (vtb bench --help)");
      return kExitBadInput;
    }
    o->gb_flags.push_back(a);
  }
  if (!engines.empty()) o->m.engines = split_list(engines);
  if (!workloads.empty()) o->m.workloads = split_list(workloads);
  if (!groups.empty()) o->m.groups = split_list(groups);
  if (!shard.empty()) {
    if (std::string e = parse_shard(shard, &o->shard); !e.empty()) {
      cli::error_line("bench: " + e);
      return kExitBadInput;
    }
  }
  o->reps_set = reps->count() > 0;
  o->scale_set = scale->count() > 0;
  o->min_phase_set = min_phase->count() > 0;
  if (!o->phase_scales_from.empty()) {
    if (std::string e = load_phase_scales(o->phase_scales_from, &o->phase_scales); !e.empty()) {
      cli::error_line("bench: " + e);
      return kExitBadInput;
    }
  }
  // The quick suite keeps the manifest's CI-sized loops; --scale sets the sizes by hand.
  if ((o->m.quick || o->scale_set) && !o->min_phase_set) o->m.min_phase = 0;
  if (o->m.quick) {
    if (!o->reps_set) o->m.repetitions = 2;
    if (!o->scale_set) o->m.scale = 1.0;  // the manifest defaults are CI-sized; shorter loops fall below the runner's marker resolution
  }
  return -1;
}

// One printable line for Google Benchmark's JSON (no quotes, backslashes or control characters).
std::string one_line(const std::string& s) {
  std::string o;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    o += c == '"' ? '\'' : c == '\\' ? '/' : c < 0x20 ? ' ' : ch;
  }
  return o.size() > 400 ? o.substr(0, 400) : o;
}

// Whether Google Benchmark wrote anything to `path` (it opens the file even when no benchmark runs).
bool has_content(const std::string& path) {
  std::string text;
  return read_text(path, &text) && text.find_first_not_of(" \t\r\n") != std::string::npos;
}

// The bench.json of a run in which no cell ran.
std::string empty_bench_json(const std::string& host, const std::string& commit) {
  Json ctx = Json::object();
  ctx["host_name"] = Json(host);
  ctx["vtb.commit"] = Json(commit);
  Json j = Json::object();
  j["context"] = ctx;
  j["benchmarks"] = Json::array();
  return dump_json(j, 2) + "\n";
}

// The cell ("engine/workload/mode") of a Google Benchmark row.
std::string row_cell(const Json& row) {
  const std::string rn = json_string(json_at(row, "run_name"));
  return rn.substr(0, rn.find("/iterations:"));
}

struct CellState {
  std::vector<RunReport> reports;  // one per finished repetition (cold cells)
  std::vector<bool> rep_ok;
  std::string first_error;
  CellOutcome outcome;
  int calls = 0;
  int probe_runs = 0;  // --min-phase: runs made to find the cell's phase scale (the last one is repetition 1)
  bool scale_taken = false;  // its factor came from --phase-scales-from
};

constexpr int kTransientRetries = 5;  // runs tried for one repetition whose phase came out zero-length

struct Suite {
  std::vector<Cell> cells;
  std::string label_suffix;  // ";host=..;host_kind=..[;shard=i/N]": where each cell ran
  NestedReports nested;  // reports of the kvm@nested-tcg cells (one runner session)
  std::vector<CellState> state;
  std::string vtb;
  std::unique_ptr<Progress> progress;
  Json census = Json::object();
  PhaseScalePolicy phase_policy;  // --min-phase
  std::map<std::string, int> fixed_scales;  // --phase-scales-from: factors not probed

  // Index of the cold cell of the same engine/workload (for warm cells).
  int cold_of(size_t i) const {
    for (size_t j = 0; j < cells.size(); ++j)
      if (cells[j].mode == "cold" && cells[j].engine == cells[i].engine && cells[j].workload == cells[i].workload) return int(j);
    return -1;
  }

  // Runs one repetition of cold cell i in a child process. Returns "" or the error.
  std::string run_child_rep(size_t i, int rep_index, RunReport* rep) {
    const Cell& c = cells[i];
    if (c.backend.rfind(kNestedEngine, 0) == 0) return nested_rep(c, rep_index, rep);
    std::vector<std::string> argv = {vtb, "run", "--engine", c.engine, "--workload", c.workload, "--json"};
    for (const auto& [k, v] : c.params) { argv.push_back("--param"); argv.push_back(k + "=" + v); }
    // The child enforces the manifest timeout itself; ours is the backstop for a hung child.
    ChildResult r = run_child(argv, c.timeout_s * 2 + 30);
    if (!r.started) return "could not start vtb: " + r.error;
    if (!r.exited) {
      std::string tail = last_line(r.err);
      return "vtb run " + r.describe() + (tail.empty() ? "" : ": " + tail);
    }
    std::string perr;
    if (!parse_run_report(r.out, rep, &perr)) {
      std::string tail = last_line(r.err);
      return "vtb run exit code " + std::to_string(r.exit_code) + ", " + perr + (tail.empty() ? "" : ": " + tail);
    }
    if (rep->wall_seconds == 0) rep->wall_seconds = r.wall_seconds;
    if (r.exit_code == kExitUnavailable) return "unavailable: " + (rep->message.empty() ? last_line(r.err) : rep->message);
    return "";
  }

  // A kvm@nested-tcg repetition: its report came from the one runner session.
  std::string nested_rep(const Cell& c, int rep_index, RunReport* rep) {
    if (!nested.error.empty()) return nested.error;
    auto it = nested.by_cell.find(c.name());
    if (it == nested.by_cell.end() || rep_index >= int(it->second.size()) || it->second[size_t(rep_index)].empty())
      return "the nested runner produced no report for this run (log: " + nested.log + "/serial.log)";
    std::string perr;
    if (!parse_run_report(it->second[size_t(rep_index)], rep, &perr)) return "nested report: " + perr;
    return "";
  }

  // One measured run of cold cell i: "" or the error; *phase_ns its first
  // phase 1. A zero-length phase is a timing-resolution miss of the runner,
  // not a property of the cell: that repetition is measured again (a fresh
  // run; *transient when it stays zero). A repetition lost among measured ones
  // would also trip Google Benchmark 1.7.1's aggregate statistics (a crash
  // seen in the default suite).
  std::string measure_cold(size_t i, int rep_index, RunReport* rep, uint64_t* phase_ns, bool* transient,
                           bool* have_report) {
    const bool census = cells[i].group == "census";
    std::string err;
    for (int attempt = 0; attempt < kTransientRetries; ++attempt) {
      *rep = RunReport{};
      *phase_ns = 0;
      *transient = false;
      err = run_child_rep(i, rep_index, rep);
      *have_report = err.empty();
      if (err.empty() && !rep->ok() && !(census && !rep->records.empty())) {
        err = "guest " + rep->outcome + " (exit code " + std::to_string(rep->exit_code) + ")" +
              (rep->message.empty() ? "" : ": " + rep->message);
      }
      if (err.empty() && !phase_interval(*rep, kMeasuredPhase, 0, phase_ns)) {
        if (census) *phase_ns = uint64_t(rep->wall_seconds * 1e9);
        else err = "the run reported no complete phase 1 (no B 1 / E 1 markers)";
      }
      if (err.empty() && *phase_ns == 0 && !census) {
        err = "phase 1 has zero length: both markers got one host timestamp (loop too short for the runner's timing; raise the op count)";
        *transient = true;  // a timing-resolution miss: the next repetition may measure
      }
      if (!*transient) break;
    }
    return err;
  }

  // The params of cold cell i (and of its warm row, which reads its runs) are
  // now its iteration counts x f: every later repetition runs them.
  void set_phase_scale(size_t i, int f) {
    cells[i].phase_scale = f;
    for (size_t j = 0; j < cells.size(); ++j)
      if (cells[j].mode == "warm" && cold_of(j) == int(i)) {
        cells[j].params = cells[i].params;
        cells[j].phase_scale = f;
      }
  }

  void run(benchmark::State& st, size_t i) {
    const Cell& c = cells[i];
    CellState& cs = state[i];
    int rep_index = cs.calls++;
    std::string err;
    RunReport rep;
    uint64_t phase_ns = 0;
    int occurrence = 0;  // the measured phase-1 occurrence (warm: the last one)
    bool have_report = false;
    bool transient = false;
    for (auto _ : st) {
      if (!c.skip.empty()) {
        err = c.skip;
      } else if (!cs.first_error.empty()) {
        err = "not run: an earlier repetition failed (" + cs.first_error + ")";
      } else if (c.mode == "warm") {
        int ci = cold_of(i);
        const CellState* cold = ci >= 0 ? &state[size_t(ci)] : nullptr;
        if (!cold || rep_index >= int(cold->reports.size()) || !cold->rep_ok[size_t(rep_index)]) {
          err = "not measured: the cold run of this repetition failed";
        } else {
          rep = cold->reports[size_t(rep_index)];
          have_report = true;
          int n = phase_count(rep, kMeasuredPhase);
          occurrence = n - 1;
          if (n < 2 || !phase_interval(rep, kMeasuredPhase, n - 1, &phase_ns))
            err = "not measured: the run reported phase 1 once (the workload does not repeat its loop in one VM), cold only";
          else if (phase_ns == 0)
            err = "not measured: the warm phase 1 has zero length";
        }
      } else {
        const bool census = c.group == "census";
        auto fixed = rep_index == 0 && phase_scalable(c) ? fixed_scales.find(c.name()) : fixed_scales.end();
        if (fixed != fixed_scales.end()) {
          // --phase-scales-from: the factor another run found (no probe).
          cells[i].params = with_iterations_scaled(c.params, c.iterations, fixed->second);
          set_phase_scale(i, fixed->second);
          cs.scale_taken = true;
          err = measure_cold(i, rep_index, &rep, &phase_ns, &transient, &have_report);
        } else if (rep_index == 0 && phase_scaling_applies(c, phase_policy)) {
          // --min-phase: the first run is the probe; a short phase is run again
          // with its iteration counts scaled, and the last run is repetition 1.
          const Cell planned = c;  // the lambda changes cells[i] (= c): the factors apply to the planned params
          const int f = probe_phase_factor(planned, phase_policy, [&](const std::map<std::string, std::string>& params) {
            cells[i].params = params;
            err = measure_cold(i, rep_index, &rep, &phase_ns, &transient, &have_report);
            return ProbeRun{err, transient, shortest_phase(rep, kMeasuredPhase), rep.wall_seconds};
          }, &cs.probe_runs);
          set_phase_scale(i, f);
        } else {
          err = measure_cold(i, rep_index, &rep, &phase_ns, &transient, &have_report);
        }
        cs.reports.push_back(rep);
        cs.rep_ok.push_back(err.empty());
        if (census && have_report && !census_has(c.engine)) add_census(c, rep);
      }
      if (!err.empty()) {
        err = one_line(err);
        st.SkipWithError(err.c_str());
        break;
      }
      st.SetIterationTime(std::max(1e-9, double(phase_ns) * 1e-9));
    }
    // The backend the run itself reports wins (e.g. kvm@nested-tcg): series never mix backends.
    // A cell whose backend is a series of that backend (kvm@nested-tcg/npt) keeps it.
    Cell labelled = c;
    const bool sub_series = have_report && c.backend.rfind(rep.backend + "/", 0) == 0;
    if (have_report && !rep.backend.empty() && !sub_series) labelled.backend = rep.backend;
    st.SetLabel(one_line(labelled.label() + label_suffix));
    if (have_report && !rep.backend.empty()) cs.outcome.backend = labelled.backend;
    if (err.empty()) {
      uint64_t ops = op_count(rep, c.params);
      double ns_per_op = double(phase_ns) / double(ops);
      st.counters["ns_per_op"] = ns_per_op;
      st.counters["ops"] = double(ops);
      st.counters["phase_ns"] = double(phase_ns);
      st.counters["wall_s"] = rep.wall_seconds;
      // Counts of the measured phase-1 occurrence per op (cold: the first,
      // warm: the last), so cold and warm rows differ where the work differs.
      // A report without per-phase counters (peers) has only run totals: those
      // are divided by the operations of every phase-1 occurrence.
      const double run_ops = double(ops) * double(std::max(1, phase_count(rep, kMeasuredPhase)));
      const ReportPhase* ph = phase_occurrence(rep, kMeasuredPhase, occurrence);
      // A gauge (a level: pages resident, a cap, a flag) is its value at the
      // phase's end (the run's end without phase counters), never divided.
      for (const auto& [key, v] : row_counters(rep, ph, double(ops), run_ops)) st.counters[key] = v;
      // Counts the guest kernel reports about itself (tbk.syscall_pf_compat:
      // system calls that took the kvm_pvm compatibility path) label the cell too.
      for (const auto& [name, v] : rep.records) {
        char* end = nullptr;
        const double n = std::strtod(v.c_str(), &end);
        if (name.rfind("tbk.", 0) == 0 && !v.empty() && !*end) st.counters[name + "/op"] = n / run_ops;
      }
      cs.outcome.ns_per_op.push_back(ns_per_op);
    } else if (cs.first_error.empty() && c.mode == "cold" && !transient) {
      cs.first_error = err;  // deterministic failures (crash, unavailable, guest error): stop repeating
    }
    if (!err.empty()) ++cs.outcome.failed_reps;
    if (!err.empty() && cs.outcome.error.empty()) cs.outcome.error = err;
    progress->step(c.name() + (err.empty() ? "" : " (lost)"));
  }

  void register_cell(size_t i, int repetitions) {
    Suite* s = this;
    benchmark::RegisterBenchmark(cells[i].name().c_str(), [s, i](benchmark::State& st) { s->run(st, i); })
        ->Iterations(1)
        ->Repetitions(repetitions)
        ->ReportAggregatesOnly(false)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }

  // --target-cv: rounds of more repetitions (doubling, at most `max_reps` in
  // all) for every measured cold cell whose cv is not below `target` (or that
  // has fewer than 3 repetitions), with its warm cell. Each round's rows join
  // bench.json in `dir` (repetition_index continued; the aggregates of
  // repeated cells dropped: they covered one round). Returns "" or an error.
  std::string repeat_until_cv(double target, int max_reps, const std::string& dir, benchmark::BenchmarkReporter* quiet) {
    const std::string path = dir + "/bench.json";
    std::string text, err;
    Json all;
    if (!read_text(path, &text) || !parse_json(text, &all, &err)) return "bench.json unreadable: " + err;
    std::set<std::string> repeated;
    for (int round = 1;; ++round) {
      std::vector<std::pair<size_t, int>> again;
      for (size_t i = 0; i < cells.size(); ++i) {
        const CellState& cs = state[i];
        if (cells[i].mode != "cold" || !cells[i].skip.empty() || !cs.first_error.empty()) continue;
        if (cs.outcome.ns_per_op.empty() || cs.calls >= max_reps) continue;
        const Spread sp = spread_of(cs.outcome.ns_per_op);
        if (sp.n >= 3 && sp.cv < target) continue;
        const int k = std::min(cs.calls, max_reps - cs.calls);
        again.emplace_back(i, k);
        for (size_t j = 0; j < cells.size(); ++j)
          if (cells[j].mode == "warm" && cold_of(j) == int(i)) again.emplace_back(j, k);
      }
      if (again.empty()) break;
      benchmark::ClearRegisteredBenchmarks();
      std::sort(again.begin(), again.end());
      for (const auto& [i, k] : again) {
        register_cell(i, k);
        progress->add_total(k);
        repeated.insert(cells[i].name());
      }
      std::map<std::string, int> before;  // rows per cell so far
      for (const Json& r : json_at(all, "benchmarks"))
        if (json_string(json_at(r, "run_type")) == "iteration") ++before[row_cell(r)];
      benchmark::RunSpecifiedBenchmarks(quiet);
      Json next;
      if (!read_text(path, &text) || !parse_json(text, &next, &err)) return "round " + std::to_string(round) + ": " + err;
      for (Json r : json_at(next, "benchmarks")) {
        if (json_string(json_at(r, "run_type")) != "iteration") continue;
        r["repetition_index"] = before[row_cell(r)] + json_i64(json_at(r, "repetition_index"));
        all["benchmarks"].push_back(std::move(r));
      }
    }
    if (repeated.empty()) return "";
    Json rows = Json::array();
    std::map<std::string, int> total;
    for (const Json& r : all["benchmarks"])
      if (json_string(json_at(r, "run_type")) == "iteration") ++total[row_cell(r)];
    for (Json r : all["benchmarks"]) {
      const std::string cell = row_cell(r);
      if (!repeated.count(cell)) { rows.push_back(std::move(r)); continue; }
      if (json_string(json_at(r, "run_type")) != "iteration") continue;
      r["repetitions"] = total[cell];
      rows.push_back(std::move(r));
    }
    // Rows of one cell together, in the order the cells were planned.
    std::stable_sort(rows.begin(), rows.end(), [](const Json& a, const Json& b) {
      return json_i64(json_at(a, "family_index")) < json_i64(json_at(b, "family_index"));
    });
    all["benchmarks"] = std::move(rows);
    std::string werr;
    if (!write_file_atomic(path, dump_json(all, 2) + "\n", &werr)) return werr;
    return "";
  }

  bool census_has(const std::string& engine) const {
    const Json& e = json_at(census, engine);
    return e.is_object() && !json_at(e, "records").empty();
  }

  void add_census(const Cell& c, const RunReport& rep) {
    Json e = census.contains(c.engine) ? census[c.engine] : Json::object();
    e["backend"] = Json(rep.backend.empty() ? c.backend : rep.backend);
    Json recs = e.contains("records") ? e["records"] : Json::object();
    for (const auto& [k, v] : rep.records) recs[c.workload == "census" ? k : c.workload + "." + k] = Json(v);
    e["records"] = recs;
    census[c.engine] = e;
  }
};

// Google Benchmark's display reporter: silent (the progress line and the
// summary table are ours; the JSON file reporter keeps every row).
class QuietReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace
}  // namespace bench

int bench_main(int argc, char** argv) {
  using namespace bench;
  Options opt;
  if (int rc = parse_options(argc, argv, &opt); rc >= 0) return rc;

  Manifest manifest;
  Status ms = load_manifest(default_manifest_path(), &manifest);
  if (!ms) { std::fprintf(stderr, "vtb bench: %s\n", ms.message().c_str()); return kExitBadInput; }
  std::vector<RunnerInfo> runners = list_runners();

  Suite suite;
  suite.phase_policy.min_phase_s = opt.m.min_phase;
  suite.fixed_scales = opt.phase_scales;
  std::vector<std::string> na;
  bool direct_kvm = false;
  const std::string options_line = canonical_options(opt);
  const bool nested = take_nested_engine(&opt.m.engines, &direct_kvm);
  std::string merr = build_matrix(manifest.workloads, runners, opt.m, &suite.cells, &na);
  if (!merr.empty()) { std::fprintf(stderr, "vtb bench: %s\n", merr.c_str()); return kExitBadInput; }
  if (nested) {
    std::vector<Cell> kvm_cells;
    for (const auto& c : suite.cells)
      if (c.engine == "kvm") kvm_cells.push_back(c);
    if (!direct_kvm)
      suite.cells.erase(std::remove_if(suite.cells.begin(), suite.cells.end(),
                                       [](const Cell& c) { return c.engine == "kvm"; }),
                        suite.cells.end());
    for (auto& c : nested_cells(kvm_cells)) suite.cells.push_back(c);
  }
  if (suite.cells.empty()) { std::fprintf(stderr, "vtb bench: no cell matches the filters\n"); return kExitBadInput; }

  // The plan: every cell of the selection with its shard (one shard unless --shard).
  const std::vector<Cell> plan = suite.cells;
  std::vector<int> shard_of(plan.size(), 0);
  std::vector<int64_t> shard_ms;
  CostModel costs;
  if (opt.shard.enabled()) {
    std::string cerr;
    const std::string tsv =
        default_data_path("VTB_CELL_COSTS", "cell_costs.tsv", std::string(VTB_SOURCE_DIR) + "/harness/bench/cell_costs.tsv");
    if (!costs.load(tsv, &cerr)) {
      std::fprintf(stderr, "vtb bench: %s\n", cerr.c_str());
      return kExitHostError;
    }
    costs.set_min_phase(opt.m.min_phase);
    shard_of = assign_shards(plan, opt.shard.count, costs, opt.m.scale, &shard_ms);
    suite.cells.clear();
    for (size_t i = 0; i < plan.size(); ++i)
      if (shard_of[i] == opt.shard.index - 1) suite.cells.push_back(plan[i]);
  }
  const std::string plan_hash = plan_fingerprint(plan, shard_of);
  std::string shard_line;
  if (opt.shard.enabled()) {
    shard_line = fmt::format("shard {}: {} of {} cells, estimated {:.0f} s; all shards:", opt.shard.str(),
                             suite.cells.size(), plan.size(), double(shard_ms[size_t(opt.shard.index - 1)]) / 1000);
    for (int64_t ms : shard_ms) shard_line += " " + std::to_string((ms + 500) / 1000) + " s";
  }

  if (opt.list_only) {
    for (const auto& c : suite.cells)
      std::printf("%-28s reps=%d params=%s%s\n", c.name().c_str(), c.repetitions, c.params_str().c_str(),
                  c.skip.empty() ? "" : ("  SKIP: " + c.skip).c_str());
    for (const auto& n : na) std::printf("n/a  %s\n", n.c_str());
    if (!shard_line.empty()) std::printf("%s\n", shard_line.c_str());
    return 0;
  }

  suite.vtb = opt.vtb_path.empty() ? self_exe_path() : opt.vtb_path;
  if (suite.vtb.empty() || access(suite.vtb.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "vtb bench: cannot execute the vtb binary '%s' (use --vtb PATH)\n", suite.vtb.c_str());
    return kExitBadInput;
  }

  // Where and from what this run is, read once: the folder name, the sweep key and every cell's label.
  const Json start_env = collect_environment(VTB_SOURCE_DIR, Json::object());
  const bool dirty = start_env.value("commit_dirty", false);
  const std::string commit = json_string(json_at(start_env, "commit"));
  const std::string host = json_string(json_at(start_env, "host"));
  // Every cell's label says where it ran: merged shards keep hosts (and host kinds) apart.
  const std::string kind = host_kind(start_env);
  suite.label_suffix = ";host=" + host + ";host_kind=" + kind + (opt.shard.enabled() ? ";shard=" + opt.shard.str() : "");
  const std::string folder =
      results_folder_name(long(time(nullptr)), host, commit + (dirty ? "+dirty" : "")) +
      (opt.shard.enabled() ? "_shard-" + std::to_string(opt.shard.index) + "of" + std::to_string(opt.shard.count) : "");
  // What the shards of one sweep must share (`vtb merge` refuses a shard that differs).
  const SweepKey key{commit + (dirty ? "+dirty" : ""), file_fingerprint(manifest.path), options_line, plan_hash};
  ResultsDir out;
  std::string err;
  if (!out.create(opt.out_root, folder, &err)) {
    std::fprintf(stderr, "vtb bench: %s\n", err.c_str());
    return kExitHostError;
  }

  std::vector<Cell> nested_list;
  for (const auto& c : suite.cells)
    if (c.backend.rfind(kNestedEngine, 0) == 0) nested_list.push_back(c);
  if (!nested_list.empty()) {
    std::fprintf(stderr, "vtb bench: running %zu kvm@nested-tcg cells in one nested-runner session (QEMU TCG; minutes)\n",
                 nested_list.size());
    const char* tmp = std::getenv("TMPDIR");
    const std::string work = std::string(tmp && *tmp ? tmp : "/tmp") + "/vtb-nested-" + std::to_string(getpid());
    // The build this vtb belongs to: <build>/harness/vtb.
    std::string build = suite.vtb.substr(0, suite.vtb.rfind('/'));
    build = build.substr(0, build.rfind('/'));
    suite.nested = run_nested(nested_list, opt.m.repetitions, VTB_SOURCE_DIR, build, work);
    if (!suite.nested.error.empty()) std::fprintf(stderr, "vtb bench: %s\n", suite.nested.error.c_str());
    // The runner's own record (every RESULT line and JSON block) stays with the results.
    if (!suite.nested.raw.empty() && !out.write_file("nested.json", suite.nested.raw, &err))
      std::fprintf(stderr, "vtb bench: %s\n", err.c_str());
    // The work folder (initramfs, logs) is kept when the session failed or
    // left a run without a report: the cells' errors point at its serial.log.
    bool complete = suite.nested.error.empty();
    for (const auto& [cell, reports] : suite.nested.by_cell)
      for (const auto& r : reports) complete = complete && !r.empty();
    std::error_code ec;
    if (complete) std::filesystem::remove_all(work, ec);
  }

  int total = 0;
  for (const auto& c : suite.cells) total += c.repetitions;
  suite.state.resize(suite.cells.size());
  suite.progress = std::make_unique<Progress>(total);

  benchmark::ClearRegisteredBenchmarks();
  std::vector<std::string> gb_args = {"vtb-bench", "--benchmark_out=" + out.temp_path() + "/bench.json",
                                      "--benchmark_out_format=json"};
  for (const auto& f : opt.gb_flags) gb_args.push_back(f);
  std::vector<char*> gb_argv;
  for (auto& s : gb_args) gb_argv.push_back(s.data());
  int gb_argc = int(gb_argv.size());
  gb_argv.push_back(nullptr);
  benchmark::Initialize(&gb_argc, gb_argv.data());
  if (benchmark::ReportUnrecognizedArguments(gb_argc, gb_argv.data())) return kExitBadInput;

  benchmark::AddCustomContext("vtb.commit", commit + (dirty ? "+dirty" : ""));
  benchmark::AddCustomContext("vtb.host", host);
  benchmark::AddCustomContext("vtb.kvm_backend", detect_kvm_backend());
  benchmark::AddCustomContext("vtb.suite", opt.m.quick ? "quick" : "default");
  benchmark::AddCustomContext("vtb.manifest", manifest.path);
  if (opt.shard.enabled()) benchmark::AddCustomContext("vtb.shard", opt.shard.str());
  if (!shard_line.empty()) std::fprintf(stderr, "vtb bench: %s\n", shard_line.c_str());

  for (size_t i = 0; i < suite.cells.size(); ++i) suite.register_cell(i, suite.cells[i].repetitions);

  std::string load_start = load_average();
  uint64_t t0 = monotonic_ns();
  QuietReporter quiet;
  if (!suite.cells.empty()) benchmark::RunSpecifiedBenchmarks(&quiet);
  if (opt.target_cv > 0 && !suite.cells.empty() && has_content(out.temp_path() + "/bench.json")) {
    const std::string more = suite.repeat_until_cv(opt.target_cv, opt.max_repetitions, out.temp_path(), &quiet);
    if (!more.empty()) std::fprintf(stderr, "vtb bench: --target-cv: %s\n", more.c_str());
  }
  benchmark::Shutdown();
  // No cell ran (an empty shard, a filter that matched nothing): still a valid, empty bench.json.
  if (!has_content(out.temp_path() + "/bench.json") &&
      !out.write_file("bench.json", empty_bench_json(host, key.commit), &err)) {
    std::fprintf(stderr, "vtb bench: results not written: %s\n", err.c_str());
    return kExitHostError;
  }
  suite.progress->finish();
  double secs = double(monotonic_ns() - t0) * 1e-9;

  std::vector<CellOutcome> outcomes;
  int lost = 0, reps_total = 0, reps_lost = 0, probe_runs = 0;
  Json phase_scales = Json::object();  // --min-phase: the factor of every cell that was probed
  for (size_t i = 0; i < suite.cells.size(); ++i) {
    const Cell& c = suite.cells[i];
    CellOutcome o = suite.state[i].outcome;
    o.engine = c.engine;
    if (o.backend.empty()) o.backend = c.backend;
    o.workload = c.workload;
    o.group = c.group;
    o.mode = c.mode;
    o.params = c.params_str();
    if (suite.state[i].calls == 0) o.error = "not run (filtered out by --benchmark_filter)";
    if (suite.state[i].probe_runs > 0 || suite.state[i].scale_taken) phase_scales[c.name()] = Json(c.phase_scale);
    probe_runs += suite.state[i].probe_runs;
    if (o.ns_per_op.empty()) ++lost;
    reps_total += int(o.ns_per_op.size()) + o.failed_reps;
    reps_lost += o.failed_reps;
    outcomes.push_back(o);
  }
  std::string summary = format_summary(outcomes, cv_flag_threshold(opt.target_cv));
  for (const auto& n : na) summary += "n/a  " + n + "\n";

  Json extra = Json::object();
  extra["suite"] = Json(opt.m.quick ? "quick" : "default");
  extra["quick"] = Json(opt.m.quick);
  extra["repetitions"] = Json(opt.m.repetitions);
  extra["scale"] = Json(opt.m.scale);
  extra["min_phase"] = Json(opt.m.min_phase);
  extra["phase_scales"] = phase_scales;  // cell -> factor of its iteration params (1: long enough as planned)
  extra["probe_runs"] = Json(probe_runs);  // runs made to find them (the last of each cell is its repetition 1)
  extra["phase_scales_from"] = opt.phase_scales_from.empty() ? Json(nullptr) : Json(opt.phase_scales_from);
  extra["bench_seconds"] = Json(std::round(secs * 10) / 10);
  extra["cells"] = Json(suite.cells.size());
  extra["cells_lost_or_skipped"] = Json(lost);
  extra["repetitions_total"] = reps_total;  // lost work is counted in repetitions (summary, analysis)
  extra["repetitions_lost"] = reps_lost;
  extra["target_cv"] = opt.target_cv > 0 ? Json(opt.target_cv) : Json(nullptr);
  extra["load_average_start"] = Json(load_start);
  extra["load_average_end"] = Json(load_average());
  extra["manifest"] = Json(manifest.path);
  extra["manifest_hash"] = Json(key.manifest_hash);
  extra["options"] = Json(key.options);
  extra["plan_hash"] = Json(key.plan_hash);
  extra["cells_in_selection"] = Json(plan.size());
  if (opt.shard.enabled()) {
    extra["shard"] = Json(opt.shard.str());
    extra["shard_estimated_seconds"] = Json(double(shard_ms[size_t(opt.shard.index - 1)] / 100) / 10);
  }
  Json args = Json::array();
  for (int i = 0; i < argc; ++i) args.push_back(Json(argv[i]));
  extra["arguments"] = args;
  Json env = collect_environment(VTB_SOURCE_DIR, extra, /*calibrate=*/true);
  bool ok = out.write_file("environment.json", dump_json(env, 2) + "\n", &err) &&
            out.write_file("summary.txt", summary, &err) &&
            (suite.census.empty() || out.write_file("census.json", dump_json(suite.census, 2) + "\n", &err)) &&
            (!opt.shard.enabled() ||
             out.write_file("shard.json",
                            dump_json(shard_record(opt.shard, key, plan, shard_of, shard_ms, costs, opt.m.scale), 1) +
                                "\n",
                            &err));
  std::string final_path = ok ? out.commit(&err) : "";
  std::fputs(summary.c_str(), stdout);
  if (final_path.empty()) {
    std::fprintf(stderr, "vtb bench: results not written: %s\n", err.c_str());
    return kExitHostError;
  }
  std::printf("\nresults: %s (%s%d cells, %d of %d repetitions lost, %.0f s)\n", final_path.c_str(),
              opt.shard.enabled() ? ("shard " + opt.shard.str() + ": ").c_str() : "", int(suite.cells.size()), reps_lost,
              reps_total, secs);
  return 0;
}

}  // namespace vtb
