// tags: common — desc: a phase of a guest run, timed by the host at its markers.
#pragma once
#include <cstdint>

namespace vtb {

struct PhaseTiming {
  int phase = 0;
  uint64_t begin_ns = 0, end_ns = 0;  // host CLOCK_MONOTONIC at the marker's '\n' (end 0: never ended)
  double seconds() const { return double(end_ns - begin_ns) * 1e-9; }
};

}  // namespace vtb
