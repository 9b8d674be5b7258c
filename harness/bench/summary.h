// tags: harness|bench — desc: the bench's summary table (median per-op time, ratios vs native and qemu-tcg) and TTY progress line.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/median.h"

namespace vtb::bench {

// What one cell (engine x workload x mode) produced over its repetitions.
struct CellOutcome {
  std::string engine, backend, workload, group, mode, params;
  std::vector<double> ns_per_op;  // one per successful repetition
  std::string error;              // the first failure of a skipped, lost or partly lost cell
  int failed_reps = 0;            // repetitions that produced no measurement
};

using vtb::median;  // NaN when empty

// The spread of a cell's repetitions: median, min, max, mean and the
// coefficient of variation (sample standard deviation / mean; NaN for fewer
// than 2 values or a mean of 0).
struct Spread {
  size_t n = 0;
  double median = NAN, min = NAN, max = NAN, mean = NAN, cv = NAN;
};
Spread spread_of(const std::vector<double>& v);

// Baselines of `workload` that contradict themselves: "native-slower-than-tcg"
// (native median above qemu-tcg's), "all-engines-faster-than-native".
std::vector<std::string> baseline_flags(const std::vector<CellOutcome>& cells, const std::string& workload);

// The table printed at the end of `vtb bench`: one line per measured cell
// with the repetitions, median per-op time, its spread (cv, min .. max) and
// ratio to the native and qemu-tcg cells of the same workload, baseline flags
// and a legend; then the lost repetitions and every skipped/lost cell. A cell
// whose cv exceeds `cv_flag` (a fraction) is flagged `cv>X%`: its ratios are
// not trustworthy.
inline constexpr double kCvFlagDefault = 0.05;
std::string format_summary(const std::vector<CellOutcome>& cells, double cv_flag = kCvFlagDefault);

// The cv above which the summary flags a cell: --target-cv when given (the
// run's own standard, > 0), else kCvFlagDefault.
double cv_flag_threshold(double target_cv);

// "1.23 us", "456 ns", "7.8 ms", "2.01 s".
std::string format_ns(double ns);

// Progress line on stderr, only when stderr is a TTY.
class Progress {
 public:
  explicit Progress(int total);
  void step(const std::string& what);  // one repetition finished
  void finish();
  int done() const { return done_; }
  void add_total(int n) { total_ += n; }  // more repetitions were scheduled (--target-cv)

 private:
  int total_, done_ = 0;
  uint64_t start_ns_;
  bool tty_;
};

}  // namespace vtb::bench
