// tags: harness|bench|tests — desc: child runs: exit codes, captured output, crashes and timeouts are values.
#include <gtest/gtest.h>
#include <signal.h>

#include "harness/bench/child_process.h"

using namespace vtb::bench;

TEST(ChildProcess, CapturesOutputAndExitCode) {
  ChildResult r = run_child({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 10);
  ASSERT_TRUE(r.started);
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
}

TEST(ChildProcess, CrashIsReportedNotFatal) {
  ChildResult r = run_child({"/bin/sh", "-c", "kill -SEGV $$"}, 10);
  ASSERT_TRUE(r.started);
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_NE(r.describe().find("signal 11"), std::string::npos) << r.describe();
}

TEST(ChildProcess, TimeoutKillsTheGroup) {
  // The grandchild (sleep) holds the pipes too; the group kill ends it.
  ChildResult r = run_child({"/bin/sh", "-c", "sleep 30 & sleep 30"}, 0.5);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.exited);
  EXPECT_LT(r.wall_seconds, 10.0);
  EXPECT_NE(r.describe().find("timed out"), std::string::npos);
}

TEST(ChildProcess, MissingBinary) {
  ChildResult r = run_child({"/nonexistent/vtb", "run"}, 5);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.describe().find("could not start"), std::string::npos);
}
