// tags: harness|bench|tests — desc: the summary table: medians, ratios vs native and qemu-tcg, lost cells listed.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/bench/summary.h"

using namespace vtb::bench;

TEST(Summary, Median) {
  EXPECT_TRUE(std::isnan(median({})));
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
}

TEST(Summary, RatiosAgainstBaselines) {
  std::vector<CellOutcome> cells = {
      {"native", "native", "forkwait", "macro", "cold", "n=10", {100, 110, 90}, ""},
      {"qemu-tcg", "qemu-tcg", "forkwait", "macro", "cold", "n=10", {1000, 1000}, ""},
      {"bt", "bt", "forkwait", "macro", "cold", "n=10", {500, 500}, ""},
      {"kvm", "kvm", "forkwait", "macro", "cold", "n=10", {}, "unavailable: no /dev/kvm"},
  };
  std::string s = format_summary(cells);
  // bt: 500 ns/op = 5x native (median 100) and 0.5x qemu-tcg.
  auto line = s.substr(s.find("\nmacro   forkwait             bt"));
  line = line.substr(1, line.find('\n', 1) - 1);
  EXPECT_NE(line.find("500 ns"), std::string::npos) << line;
  EXPECT_NE(line.find("5x"), std::string::npos) << line;
  EXPECT_NE(line.find("0.5x"), std::string::npos) << line;
  EXPECT_NE(s.find("lost repetitions of measured cells (1)"), std::string::npos) << s;
  EXPECT_NE(s.find("kvm cold (1): unavailable: no /dev/kvm\n      forkwait"), std::string::npos) << s;
}

TEST(Summary, PartlyLostCellIsMeasuredAndListed) {
  CellOutcome c{"qemu-tcg", "qemu-tcg", "micro_out", "micro", "cold", "n=1", {100, 120}, "phase 1 has zero length"};
  c.failed_reps = 1;
  std::string s = format_summary({c});
  EXPECT_NE(s.find("micro_out            qemu-tcg               cold     2       110 ns"), std::string::npos) << s;
  EXPECT_NE(s.find("micro_out[1 of 3 reps]"), std::string::npos) << s;
}

TEST(Summary, FormatNs) {
  EXPECT_EQ(format_ns(12.0), "12 ns");
  EXPECT_EQ(format_ns(1234.0), "1.23 us");
  EXPECT_EQ(format_ns(2.5e9), "2.5 s");
  EXPECT_EQ(format_ns(NAN), "-");
}
