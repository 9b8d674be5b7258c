// tags: harness|tests — desc: the JSON writer (escaping, nesting, commas) and the RunReport serialisation.
#include <gtest/gtest.h>

#include "harness/json_writer.h"
#include "harness/runner.h"

namespace vtb {
namespace {

TEST(JsonWriter, NestsAndSeparates) {
  JsonWriter j;
  j.begin_object().key("a").value(1).key("b").begin_array().value("x").value(true).null().end_array();
  j.key("c").begin_object().end_object().key("d").value(uint64_t(18446744073709551615ULL)).end_object();
  EXPECT_EQ(j.str(), R"({"a":1,"b":["x",true,null],"c":{},"d":18446744073709551615})");
}

TEST(JsonWriter, EscapesStrings) {
  EXPECT_EQ(JsonWriter::escape("a\"b\\c\n\t\r"), R"("a\"b\\c\n\t\r")");
  EXPECT_EQ(JsonWriter::escape(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(JsonWriter::escape(std::string("nul\0x", 5)), R"("nul\u0000x")");
  // Valid UTF-8 passes through; invalid bytes become \u00XX.
  EXPECT_EQ(JsonWriter::escape("\xc3\xa9"), "\"\xc3\xa9\"");
  EXPECT_EQ(JsonWriter::escape("\xff\xc3"), R"("\u00ff\u00c3")");
  EXPECT_EQ(JsonWriter::escape("\xe0\x80\x80"), R"("\u00e0\u0080\u0080")");  // overlong
}

TEST(JsonWriter, NumbersAndNonFinite) {
  JsonWriter j;
  j.begin_array().value(1.5).value(-2.0).value(1.0 / 0.0).value(int64_t(-7)).end_array();
  EXPECT_EQ(j.str(), "[1.5,-2,null,-7]");
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
  r.result.phases.push_back({1, 1000, 3000});
  r.result.records.emplace_back("iterations", "10");
  r.result.counters.set("exit.port_io", 42);
  std::string s = report_to_json(r);
  for (const char* want : {R"("engine":"qemu-tcg")", R"("params":{"n":"10"})", R"("outcome":"exited")",
                           R"("exit_code":0)", R"("cli_exit":0)", R"("error":"none")",
                           R"("phases":[{"phase":1,"begin_ns":1000,"end_ns":3000,"seconds":2e-06}])",
                           R"("records":[{"key":"iterations","value":"10"}])", R"("counters":{"exit.port_io":42})",
                           R"("console":"hi\n\"q\"")"})
    EXPECT_NE(s.find(want), std::string::npos) << want << "\nin: " << s;
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
