// tags: harness|bench|tests — desc: --min-phase: which cells are scaled, the factor after a probe, the probe loop on a fake runner, sizes never scaled.
#include <gtest/gtest.h>

#include <cstdlib>

#include "harness/bench/nested_cells.h"
#include "harness/bench/phase_scale.h"

using namespace vtb::bench;

namespace {

// A memtouch-like cell: `pages` is a size, `rounds` the iteration count, `reps` the warm row's phases.
Cell cell() {
  Cell c;
  c.engine = c.backend = "bt";
  c.workload = "memtouch";
  c.group = "macro";
  c.mode = "cold";
  c.params = {{"pages", "1024"}, {"rounds", "1"}, {"reps", "2"}};
  c.iterations = {"rounds"};
  c.timeout_s = 120;
  return c;
}

PhaseScalePolicy policy(double min_phase = 0.2) {
  PhaseScalePolicy p;
  p.min_phase_s = min_phase;
  return p;
}

// A fake runner: each run's phase lasts `ns_per_round` x rounds, the rest of the run `fixed_s`.
struct FakeRunner {
  explicit FakeRunner(double ns) : ns_per_round(ns) {}
  double ns_per_round;
  double fixed_s = 0.1;
  std::vector<std::map<std::string, std::string>> seen;  // the params of every run
  ProbeRun operator()(const std::map<std::string, std::string>& params) {
    seen.push_back(params);
    const double rounds = std::strtod(params.at("rounds").c_str(), nullptr);
    ProbeRun r;
    r.shortest_phase_ns = uint64_t(ns_per_round * rounds);
    r.wall_s = fixed_s + double(r.shortest_phase_ns) * 1e-9;
    return r;
  }
};

}  // namespace

TEST(PhaseScale, AppliesToColdCellsWithIterationParamsOnly) {
  EXPECT_TRUE(phase_scaling_applies(cell(), policy()));
  EXPECT_FALSE(phase_scaling_applies(cell(), policy(0)));  // --min-phase 0, --quick, --scale
  Cell warm = cell();
  warm.mode = "warm";  // reads its cold cell's runs
  EXPECT_FALSE(phase_scaling_applies(warm, policy()));
  Cell census = cell();
  census.group = "census";
  EXPECT_FALSE(phase_scaling_applies(census, policy()));
  Cell fixed = cell();
  fixed.iterations.clear();  // hello, badptr: nothing to scale
  EXPECT_FALSE(phase_scaling_applies(fixed, policy()));
  Cell nested = cell();
  nested.backend = std::string(kNestedEngine) + "/npt";  // one runner session, planned before the matrix
  EXPECT_FALSE(phase_scaling_applies(nested, policy()));
  Cell skipped = cell();
  skipped.skip = "unavailable: no /dev/kvm";  // the plan (and its cost) is the same on every host
  EXPECT_TRUE(phase_scaling_applies(skipped, policy()));
}

TEST(PhaseScale, NextFactorIsThePowerOfTwoThatReachesTheMinimum) {
  const PhaseScalePolicy p = policy(0.2);
  EXPECT_EQ(next_phase_factor(1, 7'000'000, 0.1, 120, p), 32);     // 7 ms -> 32 x = 224 ms
  EXPECT_EQ(next_phase_factor(1, 100'000'000, 0.2, 120, p), 2);    // 100 ms -> 200 ms
  EXPECT_EQ(next_phase_factor(1, 200'000'000, 0.3, 120, p), 1);    // long enough
  EXPECT_EQ(next_phase_factor(1, 30'000'000'000, 31, 120, p), 1);  // a slow cell (kvm@pvm): never scaled
  // A scaled run far beyond the minimum (its probe was below the marker resolution): scaled back.
  EXPECT_EQ(next_phase_factor(2048, 3'470'000'000, 3.6, 120, p), 128);  // 1.7 ms per x1 -> 128 x = 217 ms
  EXPECT_EQ(next_phase_factor(16, 700'000'000, 0.8, 120, p), 16);        // within 4 x the minimum: kept
  EXPECT_EQ(next_phase_factor(4, 100'000'000'000, 101, 300, p), 1);      // never below the planned params
  EXPECT_EQ(next_phase_factor(8, 50'000'000, 0.1, 120, p), 32);    // from a scaled run: 8 x 4
  EXPECT_EQ(next_phase_factor(1, 0, 0.1, 120, p), 64);             // too short to time: 64 x, then probe again
  EXPECT_EQ(next_phase_factor(1, 10, 0.1, 120, p), p.max_factor);  // capped
  EXPECT_EQ(next_phase_factor(p.max_factor, 10, 0.1, 120, p), p.max_factor);
  EXPECT_EQ(next_phase_factor(1, 7'000'000, 0.1, 120, policy(0)), 1);  // off
  // The whole run at the new factor stays within half the timeout: 50 s of
  // boot + 10 ms x 32 would exceed 100 s / 2, so no scaling at all.
  EXPECT_EQ(next_phase_factor(1, 10'000'000, 50, 100, p), 1);
  EXPECT_EQ(next_phase_factor(1, 10'000'000, 1, 10, p), 32);       // 0.99 s + 10 ms x 32 <= 5 s
  EXPECT_EQ(next_phase_factor(1, 10'000'000, 4.81, 10, p), 16);    // 4.8 s + 10 ms x 32 > 5 s: halved
}

TEST(PhaseScale, OnlyIterationParamsAreMultiplied) {
  const Cell c = cell();
  auto p = with_iterations_scaled(c.params, c.iterations, 32);
  EXPECT_EQ(p.at("rounds"), "32");
  EXPECT_EQ(p.at("pages"), "1024");  // a size: bounded by guest memory, never scaled
  EXPECT_EQ(p.at("reps"), "2");      // the warm row's phase count
  EXPECT_EQ(with_iterations_scaled(c.params, c.iterations, 1), c.params);
  EXPECT_EQ(with_iterations_scaled({{"n", "20000"}}, {"n"}, 4096).at("n"), "81920000");
}

TEST(PhaseScale, AShortCellIsProbedThenScaled) {
  FakeRunner run(7'000'000);  // 7 ms per round, like compute natively
  int runs = 0;
  const Cell c = cell();
  const int f = probe_phase_factor(c, policy(), std::ref(run), &runs);
  EXPECT_EQ(f, 32);
  EXPECT_EQ(runs, 2);  // the probe at the manifest's params, then the kept run at 32 x
  ASSERT_EQ(run.seen.size(), 2u);
  EXPECT_EQ(run.seen[0].at("rounds"), "1");
  EXPECT_EQ(run.seen[1].at("rounds"), "32");
  for (const auto& s : run.seen) EXPECT_EQ(s.at("pages"), "1024");
}

TEST(PhaseScale, AnOvershootIsScaledBack) {
  // The first run's phase looks 100 x shorter than it is (below the runner's resolution).
  std::vector<std::string> seen;
  auto run = [&](const std::map<std::string, std::string>& p) {
    seen.push_back(p.at("rounds"));
    const uint64_t rounds = std::strtoull(p.at("rounds").c_str(), nullptr, 10);
    return ProbeRun{"", false, rounds == 1 ? 20'000u : rounds * 2'000'000u, 0.1};
  };
  int runs = 0;
  EXPECT_EQ(probe_phase_factor(cell(), policy(), run, &runs), 128);
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "4096", "128"}));  // 8.2 s, then 256 ms: kept
  EXPECT_EQ(runs, 3);
}

TEST(PhaseScale, ALongCellRunsOnceAtItsParams) {
  FakeRunner run(300'000'000);  // 0.3 s: its first run is already repetition 1
  int runs = 0;
  EXPECT_EQ(probe_phase_factor(cell(), policy(), std::ref(run), &runs), 1);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(run.seen[0], cell().params);
}

TEST(PhaseScale, MinPhaseZeroNeverScales) {
  FakeRunner run(1'000);
  int runs = 0;
  EXPECT_EQ(probe_phase_factor(cell(), policy(0), std::ref(run), &runs), 1);
  EXPECT_EQ(runs, 1);
}

TEST(PhaseScale, ProbesAreBoundedAndAFailureStopsThem) {
  // A loop whose phase does not grow (nonlinear): the factor keeps rising, at most max_probes runs.
  int calls = 0;
  std::vector<std::string> seen;
  auto flat = [&](const std::map<std::string, std::string>& p) {
    ++calls;
    seen.push_back(p.at("rounds"));
    return ProbeRun{"", false, 1'000'000, 0.1};
  };
  int runs = 0;
  const int f = probe_phase_factor(cell(), policy(), flat, &runs);
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(f, policy().max_factor);  // 256 x, then the cap
  // Each factor applies to the planned params (1 round), never to a scaled run's.
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "256", "4096"}));
  // A failed run (a guest error) ends the probe: that repetition is lost as it would be without scaling.
  calls = 0;
  auto broken = [&](const std::map<std::string, std::string>&) {
    ++calls;
    return ProbeRun{"guest guest_fault (exit code -1)", false, 0, 0.1};
  };
  EXPECT_EQ(probe_phase_factor(cell(), policy(), broken, &runs), 1);
  EXPECT_EQ(calls, 1);
  // A phase too short to time (zero length) is a reason to scale, not a loss.
  std::vector<std::string> rounds;
  auto tiny = [&](const std::map<std::string, std::string>& p) {
    rounds.push_back(p.at("rounds"));
    const bool zero = p.at("rounds") == "1";
    return ProbeRun{zero ? "phase 1 has zero length" : "", zero, zero ? 0u : 250'000'000u, 0.4};
  };
  EXPECT_EQ(probe_phase_factor(cell(), policy(), tiny, &runs), 64);
  EXPECT_EQ(rounds, (std::vector<std::string>{"1", "64"}));
}
