// tags: harness|bench — desc: summary table and progress display of `vtb bench`.
#include "harness/bench/summary.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "common/clock.h"

namespace vtb::bench {

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

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
  char b[32];
  if (!std::isfinite(ns)) return "-";
  if (ns >= 1e9) std::snprintf(b, sizeof b, "%.3g s", ns / 1e9);
  else if (ns >= 1e6) std::snprintf(b, sizeof b, "%.3g ms", ns / 1e6);
  else if (ns >= 1e3) std::snprintf(b, sizeof b, "%.3g us", ns / 1e3);
  else std::snprintf(b, sizeof b, "%.3g ns", ns);
  return b;
}

static std::string ratio_str(double a, double b) {
  if (!std::isfinite(a) || !std::isfinite(b) || b <= 0) return "-";
  char s[32];
  std::snprintf(s, sizeof s, "%.3gx", a / b);
  return s;
}

std::string format_summary(const std::vector<CellOutcome>& cells) {
  // Baselines: the cold median of native and qemu-tcg per workload.
  std::map<std::string, double> nat, tcg;
  for (const auto& c : cells) {
    if (c.ns_per_op.empty() || c.mode != "cold") continue;
    if (c.engine == "native") nat[c.workload] = median(c.ns_per_op);
    if (c.engine == "qemu-tcg") tcg[c.workload] = median(c.ns_per_op);
  }
  std::vector<const CellOutcome*> ok, bad;
  for (const auto& c : cells) {
    if (!c.ns_per_op.empty()) ok.push_back(&c);
    if (!c.error.empty() || c.ns_per_op.empty()) bad.push_back(&c);
  }
  std::stable_sort(ok.begin(), ok.end(), [](auto* a, auto* b) {
    return std::tie(a->group, a->workload, a->engine, a->mode) < std::tie(b->group, b->workload, b->engine, b->mode);
  });
  std::string o;
  char line[512];
  std::snprintf(line, sizeof line, "%-7s %-20s %-22s %-5s %4s %12s %10s %10s\n", "group", "workload", "backend", "mode",
                "reps", "median/op", "vs native", "vs tcg");
  o += line;
  o += std::string(96, '-') + "\n";
  for (auto* c : ok) {
    double m = median(c->ns_per_op);
    auto n = nat.find(c->workload);
    auto t = tcg.find(c->workload);
    std::snprintf(line, sizeof line, "%-7s %-20s %-22s %-5s %4zu %12s %10s %10s\n", c->group.c_str(), c->workload.c_str(),
                  (c->backend.empty() ? c->engine : c->backend).c_str(), c->mode.c_str(), c->ns_per_op.size(),
                  format_ns(m).c_str(), n == nat.end() ? "-" : ratio_str(m, n->second).c_str(),
                  t == tcg.end() ? "-" : ratio_str(m, t->second).c_str());
    o += line;
  }
  if (ok.empty()) o += "(no cell produced a measurement)\n";
  if (!bad.empty()) {
    // Grouped by (engine, mode, reason) so one cause reads as one line; every cell is named.
    std::map<std::tuple<std::string, std::string, std::string>, std::vector<std::string>> groups;
    for (auto* c : bad)
      groups[{c->engine, c->mode, c->error.empty() ? "no successful repetition" : c->error}].push_back(
          c->ns_per_op.empty() ? c->workload
                               : c->workload + "[" + std::to_string(c->failed_reps) + " of " +
                                     std::to_string(c->failed_reps + int(c->ns_per_op.size())) + " reps]");
    o += "\nskipped or lost cells, or lost repetitions of measured cells (" + std::to_string(bad.size()) + "):\n";
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
  char b[32];
  int t = int(s + 0.5);
  std::snprintf(b, sizeof b, "%dm%02ds", t / 60, t % 60);
  return b;
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
