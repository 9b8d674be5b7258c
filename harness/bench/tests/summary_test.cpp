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
  // One unit for lost work: repetitions (kvm: no repetition ran; counted as 0 of its 0).
  EXPECT_NE(s.find("repetitions: 0 of 7 lost (1 cells without any measurement)"), std::string::npos) << s;
  // Spread: native 90..110, cv 10%; a peer has no cold/warm.
  auto nat = s.substr(s.find("\nmacro   forkwait             native"));
  nat = nat.substr(1, nat.find('\n', 1) - 1);
  EXPECT_NE(nat.find(" -  "), std::string::npos) << nat;
  EXPECT_NE(nat.find("10.0%"), std::string::npos) << nat;
  EXPECT_NE(nat.find("90 ns .. 110 ns"), std::string::npos) << nat;
  EXPECT_EQ(s.find("native-slower-than-tcg"), std::string::npos) << s;
  EXPECT_NE(s.find("kvm cold (1): unavailable: no /dev/kvm\n      forkwait"), std::string::npos) << s;
}

TEST(Summary, PartlyLostCellIsMeasuredAndListed) {
  CellOutcome c{"qemu-tcg", "qemu-tcg", "micro_out", "micro", "cold", "n=1", {100, 120}, "phase 1 has zero length"};
  c.failed_reps = 1;
  std::string s = format_summary({c});
  EXPECT_NE(s.find("micro_out            qemu-tcg                     -        2     110 ns  12.9%      100 ns .. 120 ns"),
            std::string::npos) << s;
  EXPECT_NE(s.find("repetitions: 1 of 3 lost (0 cells without any measurement)"), std::string::npos) << s;
  EXPECT_NE(s.find("fewer than 3 repetitions"), std::string::npos) << s;
  EXPECT_NE(s.find("micro_out[1 of 3 reps]"), std::string::npos) << s;
}

TEST(Summary, FlagsBaselinesThatContradictThemselves) {
  // native cpuid traps on this host: 4.3 us native, 50 ns under TCG.
  std::vector<CellOutcome> cells = {
      {"native", "native", "micro_cpuid_user", "micro", "cold", "n=1", {4300, 4310, 4320}, ""},
      {"qemu-tcg", "qemu-tcg", "micro_cpuid_user", "micro", "cold", "n=1", {50, 51, 52}, ""},
      {"bt", "bt", "micro_cpuid_user", "micro", "cold", "n=1", {40, 41, 42}, ""},
      {"bt", "bt", "micro_cpuid_user", "micro", "warm", "n=1", {40, 41, 42}, ""},
  };
  EXPECT_EQ(baseline_flags(cells, "micro_cpuid_user"),
            (std::vector<std::string>{"native-slower-than-tcg", "all-engines-faster-than-native"}));
  std::string s = format_summary(cells);
  auto line = s.substr(s.find("\nmicro   micro_cpuid_user     native"));
  line = line.substr(1, line.find('\n', 1) - 1);
  EXPECT_NE(line.find("native-slower-than-tcg,all-engines-faster-than-native"), std::string::npos) << line;
  EXPECT_NE(s.find("\nnative-slower-than-tcg: the native baseline"), std::string::npos) << s;
  EXPECT_NE(s.find("micro_cpuid_user     bt                           warm"), std::string::npos) << s;
  // A consistent workload: no flag.
  cells[0].ns_per_op = {10, 10, 10};
  EXPECT_TRUE(baseline_flags(cells, "micro_cpuid_user").empty());
  EXPECT_TRUE(baseline_flags(cells, "other").empty());
}

TEST(Summary, FlagsCellsWhoseRepetitionsDisagree) {
  std::vector<CellOutcome> cells = {
      {"bt", "bt", "compute", "macro", "cold", "n=6400", {100, 101, 99, 100, 100}, ""},  // cv 0.7 %
      {"native", "native", "compute", "macro", "cold", "n=6400", {15, 46, 20, 30, 25}, ""},  // cv ~44 %
      {"qemu-tcg", "qemu-tcg", "compute", "macro", "cold", "n=200", {500}, ""},  // one repetition: no cv
  };
  auto line_of = [](const std::string& s, const std::string& backend) {
    auto l = s.substr(s.find("compute              " + backend));
    return l.substr(0, l.find('\n'));
  };
  std::string s = format_summary(cells);
  EXPECT_NE(line_of(s, "native").find("cv>5%"), std::string::npos) << s;
  EXPECT_EQ(line_of(s, "bt").find("cv>"), std::string::npos) << s;
  EXPECT_EQ(line_of(s, "qemu-tcg").find("cv>"), std::string::npos) << s;
  EXPECT_NE(s.find("\ncv>5%: 1 cells whose repetitions disagree"), std::string::npos) << s;
  // --target-cv 0.005 is the run's own standard: bt's 0.7 % is above it.
  s = format_summary(cells, cv_flag_threshold(0.005));
  EXPECT_NE(line_of(s, "bt").find("cv>0.5%"), std::string::npos) << s;
  EXPECT_NE(s.find("cv>0.5%: 2 cells"), std::string::npos) << s;
  EXPECT_DOUBLE_EQ(cv_flag_threshold(0), kCvFlagDefault);
  // A steady run has no such line.
  EXPECT_EQ(format_summary({cells[0]}).find("cv>"), std::string::npos);
}

TEST(Summary, SpreadOf) {
  Spread s = spread_of({});
  EXPECT_EQ(s.n, 0u);
  EXPECT_TRUE(std::isnan(s.cv));
  s = spread_of({5});
  EXPECT_EQ(s.median, 5);
  EXPECT_TRUE(std::isnan(s.cv));  // one value: no spread
  s = spread_of({90, 100, 110});
  EXPECT_DOUBLE_EQ(s.mean, 100);
  EXPECT_DOUBLE_EQ(s.cv, 0.1);
  EXPECT_EQ(s.min, 90);
  EXPECT_EQ(s.max, 110);
}

TEST(Summary, FormatNs) {
  EXPECT_EQ(format_ns(12.0), "12 ns");
  EXPECT_EQ(format_ns(1234.0), "1.23 us");
  EXPECT_EQ(format_ns(2.5e9), "2.5 s");
  EXPECT_EQ(format_ns(NAN), "-");
}
