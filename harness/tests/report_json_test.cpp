// tags: harness|tests — desc: the JSON helpers (parse, dump, safe lookups) and the RunReport serialisation.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/json.h"
#include "harness/runner.h"

namespace vtb {
namespace {

TEST(Json, DumpsValidJsonFromAnyBytes) {
  Json j = {{"s", std::string("a\"b\n\x01\xff\xc3")}, {"inf", 1.0 / 0.0}, {"u", 18446744073709551615ULL}};
  const std::string s = dump_json(j);
  // Invalid UTF-8 becomes U+FFFD, control characters \u00XX, infinity null.
  EXPECT_EQ(s, "{\"s\":\"a\\\"b\\n\\u0001\xef\xbf\xbd\xef\xbf\xbd\",\"inf\":null,\"u\":18446744073709551615}");
  Json back;
  std::string err;
  ASSERT_TRUE(parse_json(s, &back, &err)) << err;
  EXPECT_EQ(json_u64(json_at(back, "u")), 18446744073709551615ULL);
  EXPECT_TRUE(json_at(back, "inf").is_null());
}

TEST(Json, ReadsGoogleBenchmarkNonFiniteTokensAsNull) {
  Json j;
  std::string err;
  ASSERT_TRUE(parse_json(R"({"a": NaN, "b": [Infinity, -Infinity], "c": "NaN here", "d": -1})", &j, &err)) << err;
  EXPECT_TRUE(j["a"].is_null());
  EXPECT_TRUE(j["b"][0].is_null() && j["b"][1].is_null());
  EXPECT_EQ(json_string(j["c"]), "NaN here");  // inside a string: kept
  EXPECT_EQ(json_i64(j["d"]), -1);
  EXPECT_FALSE(parse_json("[Nan]", &j, &err));
  EXPECT_FALSE(err.empty());
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

TEST(Json, LookupsNeverThrow) {
  Json j = {{"n", -3}, {"f", 2.5}, {"s", "x"}};
  EXPECT_EQ(json_find(j, "missing"), nullptr);
  EXPECT_EQ(json_find(Json::array(), "n"), nullptr);
  EXPECT_TRUE(json_at(j, "missing").is_null());
  EXPECT_EQ(json_u64(j["n"], 7), 7u);  // negative: the default
  EXPECT_EQ(json_i64(j["n"]), -3);
  EXPECT_EQ(json_u64(j["f"]), 2u);
  EXPECT_EQ(json_double(j["s"], 1.5), 1.5);
  EXPECT_EQ(json_string(j["n"]), "");
}

TEST(ReportJson, CarriesEveryField) {
  RunReport r;
  r.engine = "qemu-tcg";
  r.engine_label = "qemu-tcg";
  r.workload = "forkwait";
  r.params = {{"n", "10"}};
  r.command_line = "forkwait 10";
  r.result.outcome = Outcome::Exited;
  r.result.exit_code = 0;
  r.result.console = "hi\n\"q\"";
  r.result.phases.push_back({1, 1000, 3000, {}, false});
  r.result.records.emplace_back("iterations", "10");
  r.result.counters.set("exit.port_io", 42);
  std::string s = report_to_json(r);
  for (const char* want : {R"("engine":"qemu-tcg")", R"("params":{"n":"10"})", R"("outcome":"exited")",
                           R"("exit_code":0)", R"("cli_exit":0)", R"("error":"none")",
                           R"("phases":[{"phase":1,"begin_ns":1000,"end_ns":3000,"seconds":2.0)",
                           R"("records":[{"key":"iterations","value":"10"}])", R"("counters":{"exit.port_io":42})",
                           R"("console":"hi\n\"q\"")"})
    EXPECT_NE(s.find(want), std::string::npos) << want << "\nin: " << s;
  // A peer's phase carries no counters; a Vm's ended phase carries its deltas.
  EXPECT_EQ(s.find(R"("counters":{"exit)"), s.rfind(R"("counters":{"exit)"));
  r.result.phases[0].has_counters = true;
  r.result.phases[0].counters.set("exit.port_io", 40);
  r.result.phases.push_back({2, 3000, 0, {}, true});  // never ended: no counters
  Json j;
  std::string err;
  ASSERT_TRUE(parse_json(report_to_json(r), &j, &err)) << err;
  EXPECT_EQ(j["phases"][0]["counters"], Json({{"exit.port_io", 40}}));
  EXPECT_FALSE(j["phases"][1].contains("counters"));
  EXPECT_TRUE(j["phases"][1]["seconds"].is_null());
  EXPECT_EQ(j["counters"]["exit.port_io"], 42);
  EXPECT_EQ(j["gauges"], Json::array());
}

// A gauge's name is listed once in "gauges" whether the run's counters or a phase's carry it.
TEST(ReportJson, ListsTheGauges) {
  RunReport r;
  r.result.outcome = Outcome::Exited;
  r.result.counters.add("exit.port_io", 42);
  r.result.counters.gauge("pv.pt_frames", 9);
  r.result.phases.push_back({1, 1000, 3000, {}, true});
  r.result.phases[0].counters.gauge("pv.pt_frames", 8);
  r.result.phases[0].counters.gauge("bt.tc_bytes", 4096);
  Json j;
  std::string err;
  ASSERT_TRUE(parse_json(report_to_json(r), &j, &err)) << err;
  EXPECT_EQ(j["gauges"], Json({"bt.tc_bytes", "pv.pt_frames"}));
  EXPECT_EQ(j["phases"][0]["counters"]["pv.pt_frames"], 8);
  EXPECT_EQ(j["counters"]["pv.pt_frames"], 9);
}

TEST(ReportJson, SetupFailureHasNoExitCode) {
  RunReport r;
  r.engine = "foo";
  r.error = ErrorKind::BadInput;
  r.error_message = "unknown engine 'foo'";
  std::string s = report_to_json(r);
  EXPECT_NE(s.find(R"("outcome":"not_run")"), std::string::npos) << s;
  EXPECT_NE(s.find(R"("exit_code":null)"), std::string::npos) << s;
  EXPECT_NE(s.find(R"("cli_exit":2)"), std::string::npos) << s;
  EXPECT_NE(s.find(R"("error":"bad_input")"), std::string::npos) << s;
}

TEST(CliExitCode, MapsOutcomes) {
  RunReport r;
  r.result.outcome = Outcome::Exited;
  r.result.exit_code = 0;
  EXPECT_EQ(cli_exit_code(r), kExitOk);
  r.result.exit_code = 1;
  EXPECT_EQ(cli_exit_code(r), kExitGuestNonZero);
  r.result.exit_code = 0x7d;  // VTB_EXIT_PANIC
  EXPECT_EQ(cli_exit_code(r), kExitGuestCrash);
  r.result.outcome = Outcome::Shutdown;
  EXPECT_EQ(cli_exit_code(r), kExitGuestCrash);
  r.result.outcome = Outcome::GuestFault;
  EXPECT_EQ(cli_exit_code(r), kExitGuestCrash);
  r.result.outcome = Outcome::LimitReached;
  EXPECT_EQ(cli_exit_code(r), kExitLimit);
  r.result.outcome = Outcome::EngineError;
  EXPECT_EQ(cli_exit_code(r), kExitEngineError);
  r.error = ErrorKind::Unavailable;
  EXPECT_EQ(cli_exit_code(r), kExitUnavailable);
  r.error = ErrorKind::HostError;
  EXPECT_EQ(cli_exit_code(r), kExitHostError);
  r.error = ErrorKind::BadInput;
  EXPECT_EQ(cli_exit_code(r), kExitBadInput);
}

}  // namespace
}  // namespace vtb
