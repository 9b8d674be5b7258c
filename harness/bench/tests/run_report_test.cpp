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

// A pv report as report_to_json writes it since counters have kinds: the
// gauges are named, phase 1 holds their level at its end.
static const char* kWithGauges = R"({"engine":"pv","backend":"pv@mprotect","workload":"micro_syscall",
 "params":{"n":"200"},"outcome":"exited","exit_code":0,
 "phases":[{"phase":1,"begin_ns":0,"end_ns":100000,
            "counters":{"exit.port_io":4,"pv.syscall_bounce":200,"pv.direct_map_resident":512,"pv.fsgs_isolation":1}}],
 "records":[{"key":"ops","value":"200"}],
 "counters":{"exit.port_io":90,"pv.syscall_bounce":260,"pv.direct_map_resident":520,"pv.fsgs_isolation":1},
 "gauges":["pv.direct_map_resident","pv.fsgs_isolation"]})";

TEST(RunReport, RowCountersReportAGaugeAsItsLevelAndAnEventPerOp) {
  RunReport r;
  std::string err;
  ASSERT_TRUE(parse_run_report(kWithGauges, &r, &err)) << err;
  EXPECT_TRUE(r.is_gauge("pv.direct_map_resident"));
  EXPECT_FALSE(r.is_gauge("pv.syscall_bounce"));
  const auto row = row_counters(r, phase_occurrence(r, 1, 0), 200, 200);
  EXPECT_DOUBLE_EQ(row.at("pv.direct_map_resident"), 512);  // the level, not 512 / 200
  EXPECT_DOUBLE_EQ(row.at("pv.fsgs_isolation"), 1);
  EXPECT_EQ(row.count("pv.direct_map_resident/op"), 0u);
  EXPECT_DOUBLE_EQ(row.at("pv.syscall_bounce/op"), 1.0);
  EXPECT_DOUBLE_EQ(row.at("exit.port_io/op"), 0.02);
  EXPECT_EQ(row.size(), 4u);
  // Without phase counters: run totals, counts over every phase-1 op, gauges at the run's end.
  const auto run = row_counters(r, nullptr, 200, 400);
  EXPECT_DOUBLE_EQ(run.at("pv.direct_map_resident"), 520);
  EXPECT_DOUBLE_EQ(run.at("pv.syscall_bounce/op"), 0.65);
  // A report from before the kinds (no "gauges"): every counter per op, as then.
  RunReport old;
  ASSERT_TRUE(parse_run_report(kRecorded, &old, &err)) << err;
  EXPECT_TRUE(old.gauges.empty());
  EXPECT_DOUBLE_EQ(row_counters(old, nullptr, 1000, 2000).at("priv.out/op"), 0.5);
}

TEST(RunReport, RowCounterKeysNameTheKind) {
  std::string name;
  bool gauge = true;
  ASSERT_TRUE(row_counter_key("priv.syscall/op", &name, &gauge));
  EXPECT_EQ(name, "priv.syscall");
  EXPECT_FALSE(gauge);
  ASSERT_TRUE(row_counter_key("pv.pt_frames", &name, &gauge));
  EXPECT_EQ(name, "pv.pt_frames");
  EXPECT_TRUE(gauge);
  for (const char* not_counter : {"ns_per_op", "ops", "phase_ns", "wall_s", "real_time", "run_name", "a/b.c"})
    EXPECT_FALSE(row_counter_key(not_counter, &name, &gauge)) << not_counter;
}
