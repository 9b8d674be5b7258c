// tags: common|stats — desc: median of a sample (the bench's summaries, its shard planning, calibrate's probes).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace vtb {

// The middle of a sorted copy of `v` (the mean of the two middle values for
// an even count); NaN when `v` is empty.
inline double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace vtb
