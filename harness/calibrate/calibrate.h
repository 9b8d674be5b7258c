// tags: harness|calibrate — desc: `vtb calibrate`: this host's unit cost of every host event an engine performs (median and spread over repetitions).
#pragma once
#include <string>
#include <vector>

namespace vtb::calibrate {

// One host event's cost. Every figure is nanoseconds per event; `reps` batches of
// `batch` events each, the per-event cost of each batch summarised by median/min/max.
struct UnitCost {
  std::string name;     // the counter it prices: host.<name> (docs/counters.md), or a reference figure
  std::string what;     // one line: what one event is here
  bool available = true;
  std::string reason;   // why not, when !available
  int reps = 0;
  int batch = 0;
  double median_ns = 0, min_ns = 0, max_ns = 0;
  double seconds = 0;   // wall time of the probe, warm-up included
};

// A probe measures `batch` events and returns the nanoseconds per event, or a
// negative value with *err set when the host cannot do it.
struct Probe {
  const char* name;
  const char* what;
  int batch;
  double (*run)(int batch, std::string* err);
};

const std::vector<Probe>& host_probes();    // host_probes.cpp: signals, SUD, syscall, cpuid, callout, futex
const std::vector<Probe>& memory_probes();  // memory_probes.cpp: mmap, mprotect, munmap, madvise
const std::vector<Probe>& kvm_probes();     // kvm_probes.cpp: KVM_RUN exits through vtb::Vm

// Runs every probe `reps` times after one warm-up batch (scale multiplies each batch).
std::vector<UnitCost> measure_all(int reps, double scale);

// {"schema": "vtb-calibration/1", "repetitions", "seconds", "costs": {name: {...}}} as text.
std::string to_json_text(const std::vector<UnitCost>& costs, int reps, double seconds);

// `vtb calibrate [--json] [--reps N] [--quick]` (exit 0, or 2 on bad input).
int cmd_calibrate(int argc, char** argv);

}  // namespace vtb::calibrate
