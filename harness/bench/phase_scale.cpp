// tags: harness|bench — desc: `vtb bench --min-phase`: the scale factor of a short cell from a probe run, and the probe loop.
#include "harness/bench/phase_scale.h"

#include <algorithm>
#include <cstdlib>

#include "harness/bench/nested_cells.h"
#include "harness/bench/results_dir.h"
#include "harness/json.h"

namespace vtb::bench {

bool phase_scalable(const Cell& c) {
  return c.mode == "cold" && c.group != "census" && !c.iterations.empty() && c.backend.rfind(kNestedEngine, 0) != 0;
}

bool phase_scaling_applies(const Cell& c, const PhaseScalePolicy& p) { return p.min_phase_s > 0 && phase_scalable(c); }

std::string load_phase_scales(const std::string& dir, std::map<std::string, int>* out) {
  const std::string path = dir + "/environment.json";
  std::string text, err;
  Json env;
  if (!read_text(path, &text)) return "--phase-scales-from: cannot read " + path;
  if (!parse_json(text, &env, &err)) return "--phase-scales-from: " + path + ": " + err;
  const Json& scales = json_at(env, "phase_scales");
  if (!scales.is_object()) return "--phase-scales-from: " + path + " has no phase_scales (a run with --min-phase writes them)";
  const int max_factor = PhaseScalePolicy{}.max_factor;
  for (const auto& [cell, f] : scales.items()) {
    const int64_t v = json_i64(f, 0);
    if (v < 1 || v > max_factor) return "--phase-scales-from: " + path + ": " + cell + ": factor not in 1.." + std::to_string(max_factor);
    (*out)[cell] = int(v);
  }
  return "";
}

int next_phase_factor(int factor, uint64_t phase_ns, double wall_s, double timeout_s, const PhaseScalePolicy& p) {
  const double target_ns = p.min_phase_s * 1e9;
  if (p.min_phase_s <= 0) return factor;
  if (double(phase_ns) >= target_ns) {
    // A scaled run far beyond the minimum (the probe's phase was below the
    // runner's resolution, or the loop is not linear): back to the power of
    // two that reaches it, never below 1.
    if (factor <= 1 || double(phase_ns) <= p.overshoot * target_ns) return factor;
    const double want = double(factor) * target_ns / double(phase_ns);
    int next = 1;
    while (double(next) < want) next *= 2;
    return std::min(next, factor);
  }
  if (factor >= p.max_factor) return factor;
  const double want = phase_ns == 0 ? double(factor) * 64 : double(factor) * target_ns / double(phase_ns);
  int next = factor;
  while (double(next) < want && next < p.max_factor) next *= 2;
  next = std::min(next, p.max_factor);
  // The whole run at `next` (the part outside the phase does not grow) stays within half the timeout.
  const double phase_s = double(phase_ns) * 1e-9;
  const double fixed = std::max(0.0, wall_s - phase_s);
  while (next > factor && fixed + phase_s / factor * next > timeout_s / 2) next /= 2;
  return std::max(next, factor);
}

std::map<std::string, std::string> with_iterations_scaled(const std::map<std::string, std::string>& params,
                                                          const std::vector<std::string>& iterations, int factor) {
  std::map<std::string, std::string> out = params;
  if (factor <= 1) return out;
  for (const auto& k : iterations) {
    auto it = out.find(k);
    if (it == out.end()) continue;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end) continue;  // the manifest checks iteration params are integers
    it->second = std::to_string(n * static_cast<unsigned long long>(factor));
  }
  return out;
}

int probe_phase_factor(const Cell& c, const PhaseScalePolicy& p,
                       const std::function<ProbeRun(const std::map<std::string, std::string>&)>& run, int* runs) {
  int factor = 1, made = 0;
  for (;;) {
    const ProbeRun r = run(with_iterations_scaled(c.params, c.iterations, factor));
    ++made;
    if (!r.error.empty() && !r.transient) break;  // a real failure: the repetition is lost at this factor
    const int next = next_phase_factor(factor, r.transient ? 0 : r.shortest_phase_ns, r.wall_s, c.timeout_s, p);
    if (next == factor || made >= p.max_probes) break;
    factor = next;
  }
  if (runs) *runs = made;
  return factor;
}

}  // namespace vtb::bench
