// tags: harness|bench — desc: `vtb compare A B`: per-op time and per-op counter differences of two cells, largest first.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace vtb::bench {

// One side of a comparison: per-repetition values of the measured phase.
struct CompareSide {
  std::string title;                                  // what was measured, one line
  std::vector<double> ns_per_op;                      // one per repetition
  std::map<std::string, std::vector<double>> per_op;  // counter -> per repetition (0 where absent)
  std::map<std::string, std::vector<double>> gauges;  // gauge -> its level at the phase's end, per repetition
};

// A cell as the user names it: ENGINE/WORKLOAD[@k=v,...][:cold|:warm].
struct CellSpec {
  std::string engine, workload;
  std::map<std::string, std::string> params;
  bool warm = false;
};
// Returns "" or a one-line error.
std::string parse_cell_spec(const std::string& s, CellSpec* out);

// The comparison table (B against A): time per op with spread, then the time
// counters (*_ns), the counts per op and the gauges (levels, not per op), each
// sorted by |B - A|, at most `top` rows each (0: all).
std::string format_comparison(const CompareSide& a, const CompareSide& b, size_t top);

int compare_main(int argc, char** argv);

}  // namespace vtb::bench
