// tags: harness|bench — desc: `vtb compare A B`: two cells (run now, from `vtb run --json` files or a results folder) side by side.
#include "harness/bench/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "harness/bench/child_process.h"
#include "harness/bench/matrix.h"
#include "harness/bench/results_dir.h"
#include "harness/bench/run_report.h"
#include "harness/bench/summary.h"
#include "harness/cli_parse.h"
#include "harness/commands.h"
#include "harness/json.h"
#include "harness/manifest.h"
#include "harness/runner.h"

namespace vtb::bench {

namespace {

constexpr int kMeasuredPhase = 1;

// bt.translate_ns, bt.translate_ns_cold, time.pv.protect_ns, ...
bool is_time_counter(const std::string& name) {
  return (name.size() > 3 && name.compare(name.size() - 3, 3, "_ns") == 0) || name.find("_ns_") != std::string::npos;
}

// Adds one repetition's values to `into`; counters absent from it count 0.
void add_values(std::map<std::string, std::vector<double>>* into, size_t before,
                const std::map<std::string, double>& values) {
  for (const auto& [k, v] : values) {
    auto& vals = (*into)[k];
    vals.resize(before, 0.0);
    vals.push_back(v);
  }
  for (auto& [k, vals] : *into) vals.resize(before + 1, 0.0);
}

void add_rep(CompareSide* s, double ns_per_op, const std::map<std::string, double>& per_op,
             const std::map<std::string, double>& gauges) {
  const size_t before = s->ns_per_op.size();
  s->ns_per_op.push_back(ns_per_op);
  add_values(&s->per_op, before, per_op);
  add_values(&s->gauges, before, gauges);
}

// The measured occurrence of phase 1 in one report (cold: the first, warm:
// the last of at least two) and its per-op values. Returns "" or the error.
std::string add_report(const RunReport& r, bool warm, CompareSide* s) {
  const int n = phase_count(r, kMeasuredPhase);
  if (n == 0) return "the run reported no complete phase 1";
  if (warm && n < 2) return "warm needs phase 1 at least twice (a reps parameter >= 2)";
  const ReportPhase* p = phase_occurrence(r, kMeasuredPhase, warm ? n - 1 : 0);
  if (!p->has_counters) return "the report has no per-phase counters (a peer, or a report older than them)";
  const double ops = double(op_count(r, r.params));
  std::map<std::string, double> per_op, gauges;
  for (const auto& [k, v] : p->counters) {
    if (r.is_gauge(k)) gauges[k] = v;
    else per_op[k] = v / ops;
  }
  add_rep(s, double(p->end_ns - p->begin_ns) / ops, per_op, gauges);
  return "";
}

std::string describe(const CellSpec& c) {
  std::string s = c.engine + "/" + c.workload;
  std::string ps;
  for (const auto& [k, v] : c.params) ps += (ps.empty() ? "" : ",") + k + "=" + v;
  return s + (ps.empty() ? "" : "@" + ps) + (c.warm ? " warm" : " cold");
}

// Runs the cell `reps` times, each in a child `vtb run --json`.
std::string run_side(const CellSpec& spec, int reps, const std::string& vtb, CompareSide* s) {
  CellSpec c = spec;
  if (c.warm && !c.params.count("reps")) {
    // A warm measurement needs the loop twice in one VM.
    Manifest m;
    const Workload* w = load_manifest(default_manifest_path(), &m) ? m.find(c.workload) : nullptr;
    if (w && w->params.count("reps")) c.params["reps"] = "2";
  }
  s->title = describe(c) + " (run now, " + std::to_string(reps) + " repetitions)";
  for (int i = 0; i < reps; ++i) {
    std::vector<std::string> argv = {vtb, "run", "--engine", c.engine, "--workload", c.workload, "--json"};
    for (const auto& [k, v] : c.params) argv.insert(argv.end(), {"--param", k + "=" + v});
    ChildResult cr = run_child(argv, 900);
    if (!cr.started) return "could not start vtb: " + cr.error;
    RunReport r;
    std::string err;
    if (!parse_run_report(cr.out, &r, &err) || r.outcome == "not_run")
      return std::string(cr.exited && cr.exit_code == kExitBadInput ? "bad input: " : "") + describe(c) + ": " +
             (cr.err.empty() ? err : last_line(cr.err));
    if (!r.ok()) return describe(c) + ": guest " + r.outcome + (r.message.empty() ? "" : ": " + r.message);
    if (std::string e = add_report(r, c.warm, s); !e.empty()) return describe(c) + ": " + e;
  }
  return "";
}

std::string file_side(const std::string& path, bool warm, CompareSide* s) {
  std::string text, err;
  if (!read_text(path, &text)) return path + ": cannot read";
  RunReport r;
  if (!parse_run_report(text, &r, &err)) return path + ": " + err;
  s->title = path + " (" + r.engine + "/" + r.workload + (warm ? " warm" : " cold") + ")";
  if (std::string e = add_report(r, warm, s); !e.empty()) return path + ": " + e;
  return "";
}

// Every measured repetition of cell ENGINE/WORKLOAD/MODE in DIR/bench.json.
std::string results_side(const std::string& dir, const CellSpec& c, CompareSide* s) {
  std::string text, err;
  const std::string path = (std::filesystem::path(dir) / "bench.json").lexically_normal().string();
  if (!read_text(path, &text)) return path + ": cannot read";
  Json j;
  if (!parse_json(text, &j, &err)) return path + ": " + err;
  const std::string prefix = c.engine + "/" + c.workload + "/" + (c.warm ? "warm" : "cold") + "/";
  for (const Json& row : json_at(j, "benchmarks")) {
    if (json_string(json_at(row, "run_type")) != "iteration" || json_at(row, "error_occurred") == true) continue;
    if (json_string(json_at(row, "name")).rfind(prefix, 0) != 0) continue;
    std::map<std::string, double> per_op, gauges;
    std::string name;
    bool gauge = false;
    for (const auto& [k, v] : row.items())
      if (v.is_number() && row_counter_key(k, &name, &gauge)) (gauge ? gauges : per_op)[name] = v;
    add_rep(s, json_double(json_at(row, "ns_per_op"), NAN), per_op, gauges);
  }
  if (s->ns_per_op.empty()) return path + ": no measured repetition of " + prefix.substr(0, prefix.size() - 1);
  s->title = describe(c) + " (" + path + ", " + std::to_string(s->ns_per_op.size()) + " repetitions)";
  return "";
}

std::string fmt_count(double v) {
  if (!std::isfinite(v)) return "-";
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e6 || a < 1e-3) return fmt::format("{:.3g}", v);
  if (a >= 100) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

std::string fmt_ratio(double a, double b) {
  if (!(a > 0) || !std::isfinite(b)) return "-";
  return fmt::format("{:.3g}x", b / a);
}

std::string spread_line(const Spread& s) {
  if (s.n < 2) return fmt::format("{} repetition (no spread)", s.n);
  return fmt::format("{} reps, cv {:.1f}%, {} .. {}", s.n, 100 * s.cv, format_ns(s.min), format_ns(s.max));
}

}  // namespace

std::string parse_cell_spec(const std::string& text, CellSpec* out) {
  CellSpec c;
  std::string s = text;
  for (const char* mode : {":warm", ":cold"}) {
    const std::string m = mode;
    if (s.size() > m.size() && s.compare(s.size() - m.size(), m.size(), m) == 0) {
      c.warm = m == ":warm";
      s.resize(s.size() - m.size());
      break;
    }
  }
  const size_t at = s.find('@');
  const std::string cell = s.substr(0, at);
  const size_t slash = cell.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == cell.size())
    return "bad cell '" + text + "' (ENGINE/WORKLOAD[@k=v,...][:cold|:warm], e.g. bt/forkwait:warm)";
  c.engine = cell.substr(0, slash);
  c.workload = cell.substr(slash + 1);
  if (at != std::string::npos) {
    for (const std::string& kv : split_list(s.substr(at + 1))) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return "bad parameter '" + kv + "' in '" + text + "' (k=v)";
      c.params[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  *out = c;
  return "";
}

std::string format_comparison(const CompareSide& a, const CompareSide& b, size_t top) {
  std::string o;
  o += fmt::format("A: {}\nB: {}\n", a.title, b.title);
  o += fmt::format("measured: phase 1 (cold: its first occurrence; warm: its last), per operation\n\n");
  const Spread sa = spread_of(a.ns_per_op), sb = spread_of(b.ns_per_op);
  o += fmt::format("{:<36} {:>12} {:>12} {:>13} {:>9}\n", "", "A", "B", "B - A", "B / A");
  o += fmt::format("{:<36} {:>12} {:>12} {:>13} {:>9}\n", "time per op (median)", format_ns(sa.median),
                   format_ns(sb.median), (sb.median >= sa.median ? "+" : "-") + format_ns(std::fabs(sb.median - sa.median)),
                   fmt_ratio(sa.median, sb.median));
  o += fmt::format("  A: {}\n  B: {}\n", spread_line(sa), spread_line(sb));

  struct Row { std::string name; double a, b; };
  std::vector<Row> times, counts, levels;
  auto rows_of = [&](std::map<std::string, std::vector<double>> CompareSide::*values, auto&& pick) {
    std::set<std::string> names;
    for (const auto& [k, v] : a.*values) names.insert(k);
    for (const auto& [k, v] : b.*values) names.insert(k);
    for (const auto& k : names) {
      auto med = [&](const CompareSide& s) {
        auto it = (s.*values).find(k);
        return it == (s.*values).end() ? 0.0 : median(it->second);
      };
      Row r{k, med(a), med(b)};
      if (r.a != r.b) pick(k).push_back(r);
    }
  };
  rows_of(&CompareSide::per_op, [&](const std::string& k) -> std::vector<Row>& { return is_time_counter(k) ? times : counts; });
  rows_of(&CompareSide::gauges, [&](const std::string&) -> std::vector<Row>& { return levels; });
  auto emit = [&](std::vector<Row>& rows, const std::string& heading, const char* what) {
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row& x, const Row& y) { return std::fabs(x.b - x.a) > std::fabs(y.b - y.a); });
    o += "\n" + heading + " (" + what + ", largest |B - A| first):\n";
    if (rows.empty()) o += "  (none differ)\n";
    const size_t n = top ? std::min(top, rows.size()) : rows.size();
    for (size_t i = 0; i < n; ++i) {
      const Row& r = rows[i];
      o += fmt::format("  {:<34} {:>12} {:>12} {:>13} {:>9}\n", r.name, fmt_count(r.a), fmt_count(r.b),
                       (r.b >= r.a ? "+" : "") + fmt_count(r.b - r.a), fmt_ratio(r.a, r.b));
    }
    if (n < rows.size()) o += fmt::format("  ... {} more (--top 0 for all)\n", rows.size() - n);
  };
  emit(times, "time counters, ns per op (time.*: ScopedNs scopes, nested ones overlap)", "median per op");
  emit(counts, "counts per op", "median per op");
  emit(levels, "gauges, levels at the phase's end (not per op)", "median level");
  return o;
}

int compare_main(int argc, char** argv) {
  CLI::App app{"Compares two cells: per-op time (median, spread) and per-op counters of phase 1, largest\n"
               "difference first. A cell: ENGINE/WORKLOAD[@k=v,...][:cold|:warm], run now in child\n"
               "processes; or a `vtb run --json` report FILE[:cold|:warm]; or, with --results DIR,\n"
               "the cell's repetitions in DIR/bench.json. Examples:\n"
               "  vtb compare bt/micro_syscall pv/micro_syscall\n"
               "  vtb compare bt/forkwait bt/forkwait:warm",
               "vtb compare"};
  cli::init_app(app);
  std::string a_spec, b_spec, results, vtb;
  int reps = 3;
  size_t top = 15;
  app.add_option("A", a_spec, "the baseline cell")->required();
  app.add_option("B", b_spec, "the cell compared with it")->required();
  app.add_option("-r,--repetitions", reps, "runs of each cell run now (median and spread)")->check(CLI::Range(1, 100));
  app.add_option("--results", results, "take both cells from this results folder (its bench.json)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--top", top, "rows per counter table (0: all)");
  app.add_option("--vtb", vtb, "the vtb binary to run cells with (default: this one)");
  if (int rc = cli::parse_cli(app, argc, argv); rc >= 0) return rc;
  if (vtb.empty()) vtb = self_exe_path();

  CompareSide sides[2];
  const std::string specs[2] = {a_spec, b_spec};
  for (int i = 0; i < 2; ++i) {
    std::string spec = specs[i], err;
    bool warm = false;
    std::string file = spec;
    for (const char* m : {":warm", ":cold"})
      if (file.size() > 5 && file.compare(file.size() - 5, 5, m) == 0) {
        warm = std::string(m) == ":warm";
        file.resize(file.size() - 5);
      }
    if (results.empty() && std::filesystem::is_regular_file(file)) {
      err = file_side(file, warm, &sides[i]);
    } else {
      CellSpec c;
      err = parse_cell_spec(spec, &c);
      if (err.empty()) err = results.empty() ? run_side(c, reps, vtb, &sides[i]) : results_side(results, c, &sides[i]);
    }
    if (!err.empty()) {
      cli::error_line("compare: " + err);
      return err.rfind("bad ", 0) == 0 ? kExitBadInput : kExitEngineError;
    }
  }
  std::fputs(format_comparison(sides[0], sides[1], top).c_str(), stdout);
  return 0;
}

}  // namespace vtb::bench
