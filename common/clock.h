// tags: common — desc: the host clock every timing in vtb uses (CLOCK_MONOTONIC, ns).
#pragma once
#include <cstdint>
#include <ctime>

namespace vtb {

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

}  // namespace vtb
