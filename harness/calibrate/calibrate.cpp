// tags: harness|calibrate — desc: runs the probes, summarises repetitions (median, min, max), prints a table or JSON.
#include "harness/calibrate/calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "harness/cli_parse.h"

namespace vtb::calibrate {

namespace {

UnitCost measure(const Probe& p, int reps, double scale) {
  UnitCost c;
  c.name = p.name;
  c.what = p.what;
  c.batch = std::max(1, int(std::lround(p.batch * scale)));
  std::string err;
  if (p.run(c.batch, &err) < 0) {  // warm-up batch; also the availability check
    c.available = false;
    c.reason = err.empty() ? "probe failed" : err;
    return c;
  }
  std::vector<double> v;
  for (int i = 0; i < reps; ++i) {
    const double ns = p.run(c.batch, &err);
    if (ns < 0) {
      c.available = false;
      c.reason = err;
      return c;
    }
    v.push_back(ns);
  }
  std::sort(v.begin(), v.end());
  c.reps = int(v.size());
  const size_t n = v.size();
  c.median_ns = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  c.min_ns = v.front();
  c.max_ns = v.back();
  return c;
}

}  // namespace

std::vector<UnitCost> measure_all(int reps, double scale) {
  std::vector<UnitCost> out;
  for (const auto* list : {&host_probes(), &memory_probes(), &kvm_probes()})
    for (const Probe& p : *list) {
      const uint64_t t0 = monotonic_ns();
      out.push_back(measure(p, reps, scale));
      out.back().seconds = double(monotonic_ns() - t0) * 1e-9;
    }
  return out;
}

std::string to_json_text(const std::vector<UnitCost>& costs, int reps, double seconds) {
  nlohmann::ordered_json j;
  j["schema"] = "vtb-calibration/1";
  j["repetitions"] = reps;
  j["seconds"] = std::round(seconds * 100) / 100;
  j["unit"] = "ns per event";
  nlohmann::ordered_json all = nlohmann::ordered_json::object();
  for (const UnitCost& c : costs) {
    nlohmann::ordered_json e;
    e["what"] = c.what;
    e["available"] = c.available;
    if (!c.available) {
      e["reason"] = c.reason;
    } else {
      e["median_ns"] = c.median_ns;
      e["min_ns"] = c.min_ns;
      e["max_ns"] = c.max_ns;
      e["reps"] = c.reps;
      e["batch"] = c.batch;
    }
    e["seconds"] = std::round(c.seconds * 1000) / 1000;
    all[c.name] = e;
  }
  j["costs"] = all;
  return j.dump(2);
}

int cmd_calibrate(int argc, char** argv) {
  bool json = false;
  int reps = 7;
  double scale = 1.0;
  bool quick = false;
  CLI::App app{"This host's unit cost of every host event an engine performs (ns per event: median, min and\n"
               "max over N repetitions). vtb bench writes the same figures into environment.json\n"
               "(\"calibration\"); docs/calibrate.md.",
               "vtb calibrate"};
  cli::init_app(app);
  app.add_flag("--json", json, "the figures as one JSON object");
  auto* reps_opt = app.add_option("--reps", reps, "repetitions (default 7)")->check(CLI::Range(1, 100));
  app.add_flag("--quick", quick, "3 smaller repetitions");
  if (int rc = cli::parse_cli(app, argc, argv); rc >= 0) return rc;
  if (quick) {
    scale = 0.25;
    if (!reps_opt->count()) reps = 3;
  }
  const uint64_t t0 = monotonic_ns();
  const std::vector<UnitCost> costs = measure_all(reps, scale);
  const double secs = double(monotonic_ns() - t0) * 1e-9;
  if (json) {
    std::printf("%s\n", to_json_text(costs, reps, secs).c_str());
    return 0;
  }
  std::printf("%-22s %12s %12s %12s  %s\n", "event", "median ns", "min ns", "max ns", "what");
  for (const UnitCost& c : costs) {
    if (c.available)
      std::printf("%-22s %12.1f %12.1f %12.1f  %s\n", c.name.c_str(), c.median_ns, c.min_ns, c.max_ns, c.what.c_str());
    else
      std::printf("%-22s %12s %12s %12s  unavailable: %s\n", c.name.c_str(), "-", "-", "-", c.reason.c_str());
  }
  std::printf("(%d repetitions each, %.1f s)\n", reps, secs);
  return 0;
}

}  // namespace vtb::calibrate
