// tags: common|counters — desc: ScopedNs: adds the host nanoseconds of a scope to a total (the time.<path>_ns counters).
#pragma once
#include <cstdint>

#include "common/clock.h"

namespace vtb {

// Times an expensive engine path in one line:
//   { ScopedNs t(protect_ns_); mprotect(...); }
// The engine reports the total in stats() as time.<engine>.<path>_ns
// (docs/counters.md). Two clock reads (CLOCK_MONOTONIC, vDSO) per scope:
// for paths of microseconds, not for per-instruction work. Async-signal-safe.
class ScopedNs {
 public:
  explicit ScopedNs(uint64_t& total) : total_(total), t0_(monotonic_ns()) {}
  ~ScopedNs() { total_ += monotonic_ns() - t0_; }
  ScopedNs(const ScopedNs&) = delete;
  ScopedNs& operator=(const ScopedNs&) = delete;

 private:
  uint64_t& total_;
  uint64_t t0_;
};

}  // namespace vtb
