// tags: harness|bench — desc: summary table and progress display of `vtb bench`.
#include "harness/bench/summary.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "common/clock.h"

namespace vtb::bench {

Spread spread_of(const std::vector<double>& v) {
  Spread s;
  s.n = v.size();
  if (v.empty()) return s;
  s.median = median(v);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  if (v.size() >= 2 && s.mean != 0) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.cv = std::sqrt(ss / double(v.size() - 1)) / std::fabs(s.mean);
  }
  return s;
}

std::string format_ns(double ns) {
  if (!std::isfinite(ns)) return "-";
  if (ns >= 1e9) return fmt::format("{:.3g} s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.3g} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.3g} us", ns / 1e3);
  return fmt::format("{:.3g} ns", ns);
}

static std::string ratio_str(double a, double b) {
  if (!std::isfinite(a) || !std::isfinite(b) || b <= 0) return "-";
  return fmt::format("{:.3g}x", a / b);
}

std::vector<std::string> baseline_flags(const std::vector<CellOutcome>& cells, const std::string& workload) {
  double nat = NAN, tcg = NAN, slowest_engine = NAN;
  int engines = 0;
  for (const auto& c : cells) {
    if (c.workload != workload || c.ns_per_op.empty() || c.mode != "cold") continue;
    const double m = median(c.ns_per_op);
    if (c.engine == "native") nat = m;
    else if (c.engine == "qemu-tcg") tcg = m;
    else {
      ++engines;
      slowest_engine = std::isnan(slowest_engine) ? m : std::max(slowest_engine, m);
    }
  }
  std::vector<std::string> flags;
  // An emulator cannot beat the host it runs on: native slower than TCG means
  // the native run pays for something the guest does not (a host instruction
  // that traps, e.g. cpuid under a hypervisor).
  if (nat > 0 && tcg > 0 && nat > tcg) flags.push_back("native-slower-than-tcg");
  // Every engine faster than native: the native program is not the same work.
  if (nat > 0 && engines > 0 && slowest_engine < nat) flags.push_back("all-engines-faster-than-native");
  return flags;
}

double cv_flag_threshold(double target_cv) { return target_cv > 0 ? target_cv : kCvFlagDefault; }

std::string format_summary(const std::vector<CellOutcome>& cells, double cv_flag) {
  // Baselines: the cold median of native and qemu-tcg per workload.
  std::map<std::string, double> nat, tcg;
  std::set<std::pair<std::string, std::string>> has_warm;  // (engine, workload) with a warm cell
  for (const auto& c : cells) {
    if (c.mode == "warm") has_warm.insert({c.engine, c.workload});
    if (c.ns_per_op.empty() || c.mode != "cold") continue;
    if (c.engine == "native") nat[c.workload] = median(c.ns_per_op);
    if (c.engine == "qemu-tcg") tcg[c.workload] = median(c.ns_per_op);
  }
  std::vector<const CellOutcome*> ok, bad;
  int reps_total = 0, reps_lost = 0, cells_unmeasured = 0;
  for (const auto& c : cells) {
    if (!c.ns_per_op.empty()) ok.push_back(&c);
    if (!c.error.empty() || c.ns_per_op.empty()) bad.push_back(&c);
    reps_total += int(c.ns_per_op.size()) + c.failed_reps;
    reps_lost += c.failed_reps;
    cells_unmeasured += c.ns_per_op.empty();
  }
  std::stable_sort(ok.begin(), ok.end(), [](auto* a, auto* b) {
    return std::tie(a->group, a->workload, a->engine, a->mode) < std::tie(b->group, b->workload, b->engine, b->mode);
  });
  std::string o;
  const auto row = [&](auto&&... f) {
    o += fmt::format("{:<7} {:<20} {:<28} {:<5} {:>4} {:>10} {:>6} {:>21} {:>9} {:>9} {}\n", f...);
  };
  row("group", "workload", "backend", "mode", "reps", "median/op", "cv", "min .. max", "vs native", "vs tcg", "flags");
  o += std::string(132, '-') + "\n";
  std::set<std::string> flags_seen;
  bool few_reps = false;
  const std::string noisy = fmt::format("cv>{:g}%", 100 * cv_flag);
  int noisy_cells = 0;
  for (auto* c : ok) {
    const Spread sp = spread_of(c->ns_per_op);
    auto n = nat.find(c->workload);
    auto t = tcg.find(c->workload);
    // cold/warm only where the engine has both (a peer or a one-shot workload has neither).
    const std::string mode = has_warm.count({c->engine, c->workload}) ? c->mode : "-";
    std::string flags;
    if (sp.n < 3) few_reps = true;
    if (sp.n >= 2 && sp.cv > cv_flag) {
      flags = noisy;
      ++noisy_cells;
    }
    if (c->engine == "native" || c->engine == "qemu-tcg")
      for (const auto& f : baseline_flags(cells, c->workload)) {
        flags += (flags.empty() ? "" : ",") + f;
        flags_seen.insert(f);
      }
    row(c->group, c->workload, c->backend.empty() ? c->engine : c->backend, mode, sp.n, format_ns(sp.median),
        sp.n >= 2 ? fmt::format("{:.1f}%", 100 * sp.cv) : "-",
        sp.n >= 2 ? format_ns(sp.min) + " .. " + format_ns(sp.max) : "-",
        n == nat.end() ? "-" : ratio_str(sp.median, n->second), t == tcg.end() ? "-" : ratio_str(sp.median, t->second),
        flags);
  }
  if (ok.empty()) o += "(no cell produced a measurement)\n";
  o += "\nmedian/op: median over the repetitions of the measured phase per operation; cv: sample standard\n"
       "deviation / mean; min .. max: the range of the repetitions. No interval is given: a confidence\n"
       "interval needs at least 3 repetitions (the analysis computes it where there are).\n";
  if (few_reps) o += "Cells with fewer than 3 repetitions: their cv and range only indicate the spread.\n";
  if (noisy_cells)
    o += fmt::format("{}: {} cells whose repetitions disagree by more than that: ratios resting on them are not\n"
                     "  trustworthy (more repetitions: --target-cv; longer phases: --min-phase).\n",
                     noisy, noisy_cells);
  if (flags_seen.count("native-slower-than-tcg"))
    o += "native-slower-than-tcg: the native baseline is slower than an emulator on this host (a host\n"
         "  instruction traps, e.g. cpuid under a hypervisor): ratios vs native are not overheads there.\n";
  if (flags_seen.count("all-engines-faster-than-native"))
    o += "all-engines-faster-than-native: every engine beats the native run: the native program does\n"
         "  other work than the guest (ratios vs native are not overheads there).\n";
  o += fmt::format("\nrepetitions: {} of {} lost ({} cells without any measurement)\n", reps_lost, reps_total,
                   cells_unmeasured);
  if (!bad.empty()) {
    // Grouped by (engine, mode, reason) so one cause reads as one line; every cell is named.
    std::map<std::tuple<std::string, std::string, std::string>, std::vector<std::string>> groups;
    for (auto* c : bad)
      groups[{c->engine, c->mode, c->error.empty() ? "no successful repetition" : c->error}].push_back(
          c->ns_per_op.empty() ? c->workload
                               : c->workload + "[" + std::to_string(c->failed_reps) + " of " +
                                     std::to_string(c->failed_reps + int(c->ns_per_op.size())) + " reps]");
    o += "skipped or lost cells, or lost repetitions of measured cells (" + std::to_string(bad.size()) + "):\n";
    for (const auto& [key, ws] : groups) {
      const auto& [engine, mode, reason] = key;
      std::string names;
      for (const auto& w : ws) names += (names.empty() ? "" : ",") + w;
      o += "  " + engine + " " + mode + " (" + std::to_string(ws.size()) + "): " + reason + "\n      " + names + "\n";
    }
  }
  return o;
}

Progress::Progress(int total) : total_(total), start_ns_(monotonic_ns()), tty_(isatty(2) == 1) {}

static std::string mmss(double s) {
  const int t = int(s + 0.5);
  return fmt::format("{}m{:02}s", t / 60, t % 60);
}

void Progress::step(const std::string& what) {
  ++done_;
  if (!tty_) return;
  double el = double(monotonic_ns() - start_ns_) * 1e-9;
  double eta = done_ ? el / done_ * (total_ - done_) : 0;
  std::fprintf(stderr, "\r\033[K[%d/%d] elapsed %s ETA %s  %s", done_, total_, mmss(el).c_str(), mmss(eta).c_str(),
               what.substr(0, 50).c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (tty_ && done_) std::fprintf(stderr, "\r\033[K");
}

}  // namespace vtb::bench
