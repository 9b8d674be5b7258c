// tags: harness|bench|tests — desc: reading a recorded `vtb run --json` report and picking the measured phase.
#include <gtest/gtest.h>

#include "harness/bench/run_report.h"

using namespace vtb::bench;

// The shape report_to_json (harness/runner.h) writes, console text first.
static const char* kRecorded = R"(booting tbk
{"engine":"qemu-tcg","backend":"qemu-tcg","technique":"reference machine","workload":"syscall",
 "params":{"n":"1000"},"outcome":"exited","exit_code":0,"cli_exit":0,"error":"none","message":"",
 "wall_seconds":0.31,
 "phases":[{"phase":1,"begin_ns":1000,"end_ns":51000,"seconds":5e-05},
           {"phase":1,"begin_ns":60000,"end_ns":80000,"seconds":2e-05},
           {"phase":2,"begin_ns":90000,"end_ns":0,"seconds":0}],
 "records":[{"key":"ops","value":"1000"},{"key":"sgdt","value":"ok"}],
 "counters":{"exit.port_io":2013,"priv.out":1000},"check_failures":[],"console":"x{y}\n"}
)";

TEST(RunReport, ParsesRecordedReport) {
  RunReport r;
  std::string err;
  ASSERT_TRUE(parse_run_report(kRecorded, &r, &err)) << err;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.engine, "qemu-tcg");
  EXPECT_EQ(r.backend, "qemu-tcg");
  ASSERT_EQ(r.phases.size(), 3u);
  ASSERT_NE(r.record("ops"), nullptr);
  EXPECT_EQ(*r.record("ops"), "1000");
  EXPECT_DOUBLE_EQ(r.counters.at("exit.port_io"), 2013);
  EXPECT_DOUBLE_EQ(r.wall_seconds, 0.31);
}

TEST(RunReport, PhaseSelection) {
  RunReport r;
  std::string err;
  ASSERT_TRUE(parse_run_report(kRecorded, &r, &err)) << err;
  uint64_t ns = 0;
  ASSERT_TRUE(phase_interval(r, 1, 0, &ns));
  EXPECT_EQ(ns, 50000u);  // cold: the first occurrence
  ASSERT_TRUE(phase_interval(r, 1, 1, &ns));
  EXPECT_EQ(ns, 20000u);  // warm: a later occurrence in the same VM
  EXPECT_EQ(phase_count(r, 1), 2);
  EXPECT_EQ(phase_count(r, 2), 0);  // never ended
  EXPECT_FALSE(phase_interval(r, 2, 0, &ns));
  EXPECT_FALSE(phase_interval(r, 3, 0, &ns));
}

TEST(RunReport, FailedRunIsNotOk) {
  RunReport r;
  std::string err;
  ASSERT_TRUE(parse_run_report(R"({"engine":"bt","outcome":"guest_fault","exit_code":-1,"message":"triple fault at 0x1000"})", &r, &err));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.message, "triple fault at 0x1000");
  ASSERT_TRUE(parse_run_report(R"({"outcome":"exited","exit_code":3})", &r, &err));
  EXPECT_FALSE(r.ok());
}

TEST(RunReport, RejectsGarbage) {
  RunReport r;
  std::string err;
  EXPECT_FALSE(parse_run_report("", &r, &err));
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(parse_run_report("Segmentation fault\n", &r, &err));
  EXPECT_FALSE(parse_run_report("{\"engine\":\"bt\"}\n", &r, &err));  // no outcome
  EXPECT_NE(err.find("outcome"), std::string::npos);
}
