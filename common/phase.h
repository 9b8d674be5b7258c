// tags: common — desc: a phase of a guest run, timed by the host at its markers, with its counter deltas.
#pragma once
#include <cstdint>

#include "common/counters.h"

namespace vtb {

struct PhaseTiming {
  int phase = 0;
  uint64_t begin_ns = 0, end_ns = 0;  // host CLOCK_MONOTONIC at the marker's '\n' (end 0: never ended)
  // Every counter (Vm loop, devices, engine stats()) at the begin marker; at
  // the end marker it becomes the difference end - begin (counters that did
  // not move are dropped). Empty where nobody snapshots (qemu/native peers).
  Counters counters;
  bool has_counters = false;  // a snapshot was taken (the Vm's engines)
  double seconds() const { return double(end_ns - begin_ns) * 1e-9; }
};

}  // namespace vtb
