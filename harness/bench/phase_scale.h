// tags: harness|bench — desc: `vtb bench --min-phase`: which cells may be lengthened, the next scale factor after a probe, the probe loop.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness/bench/matrix.h"

namespace vtb::bench {

// How a cell's phase is lengthened: its iteration parameters (the manifest's
// `iterations`) are multiplied by a power of two until its shortest measured
// phase 1 lasts at least min_phase_s (powers of two: cells of similar speed,
// e.g. bt and bt-direct, end up with the same params and stay comparable).
struct PhaseScalePolicy {
  double min_phase_s = 0;  // 0: off
  int max_factor = 4096;   // never more (the loops stay within a few seconds even then)
  int max_probes = 3;      // runs at most to find the factor (the last one is kept as repetition 1)
  double overshoot = 4;    // a scaled phase longer than this x min_phase_s is scaled back down
};

// Whether `c` is lengthened at all: min-phase on, a cold cell with iteration
// parameters, not a census cell, not a kvm@nested-tcg cell (its runs come
// from one runner session planned before the matrix). Whether the engine is
// available here is not asked: the shard plan must be the same on every host.
bool phase_scaling_applies(const Cell& c, const PhaseScalePolicy& p);
bool phase_scalable(const Cell& c);  // the same without the policy: the cell has something to scale

// `--phase-scales-from DIR`: the factors a earlier run found (its
// environment.json `phase_scales`, cell name -> factor), so that a companion
// run measures the same params (pv with and without protection: the analysis
// pairs cells by params). "" or a one-line error.
std::string load_phase_scales(const std::string& dir, std::map<std::string, int>* out);

// The factor to run next, after a run at `factor` whose shortest phase 1 was
// `phase_ns` (0: too short for the runner to time) and that took `wall_s` in
// all: `factor` when the phase is long enough or nothing larger is allowed,
// else the power of two that reaches min_phase_s (a zero-length phase: 64 x),
// capped by max_factor and by half the cell's timeout for the whole run. A
// scaled phase (factor > 1) beyond overshoot x min_phase_s gets the smaller
// power of two that still reaches it.
int next_phase_factor(int factor, uint64_t phase_ns, double wall_s, double timeout_s, const PhaseScalePolicy& p);

// `params` with every parameter named in `iterations` multiplied by `factor`.
std::map<std::string, std::string> with_iterations_scaled(const std::map<std::string, std::string>& params,
                                                          const std::vector<std::string>& iterations, int factor);

// One run of the probe: "" or its error; `transient` when the only problem is
// a phase too short to time; `shortest_phase_ns` / `wall_s` when measured.
struct ProbeRun {
  std::string error;
  bool transient = false;
  uint64_t shortest_phase_ns = 0;
  double wall_s = 0;
};

// The probe loop of a cell: runs `run(params)` at factor 1, then at the factor
// next_phase_factor asks for, at most p.max_probes times; stops at the first
// failure that is not a too-short phase. Returns the factor of the last run
// (the caller keeps that run as the cell's first repetition: its params are
// the cell's params from then on). `runs` receives the number of runs made.
int probe_phase_factor(const Cell& c, const PhaseScalePolicy& p,
                       const std::function<ProbeRun(const std::map<std::string, std::string>&)>& run, int* runs = nullptr);

}  // namespace vtb::bench
