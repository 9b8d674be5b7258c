// tags: engines|bt|tests — desc: the unmodified native tbk kernel + program archive under bt through vtb::Vm (hello, forkwait).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/sud.h"
#include "common/tests/tbk_boot.h"
#include "engines/bt/bt_engine.h"

#ifndef VTB_BT_TEST_KERNEL
#define VTB_BT_TEST_KERNEL ""
#endif
#ifndef VTB_BT_TEST_ARCHIVE
#define VTB_BT_TEST_ARCHIVE ""
#endif

namespace vtb {
namespace {

using test::env_or;

class BtKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!test::find_tbk(VTB_BT_TEST_KERNEL, VTB_BT_TEST_ARCHIVE, &kernel_, &archive_, &why)) GTEST_SKIP() << why;
  }
  RunResult run(const std::string& cmdline, int wall_s = 120, bool direct_user = false) {
    const unsigned long env_wall = std::strtoul(env_or("VTB_BT_KERNEL_WALL_S", "").c_str(), nullptr, 10);
    RunResult r = test::run_tbk(direct_user ? make_bt_direct_engine() : make_bt_engine(), kernel_, archive_, cmdline,
                                std::chrono::seconds(env_wall ? env_wall : (unsigned long)wall_s));
    std::printf("[ bt%s ] %s: outcome %s exit %d wall %.3f s (%s)\n", direct_user ? "-direct" : "", cmdline.c_str(),
                outcome_name(r.outcome), r.exit_code, r.wall_seconds, r.message.c_str());
    for (const auto& [k, v] : r.counters.all())
      std::printf("[ bt ]   %s = %llu\n", k.c_str(), static_cast<unsigned long long>(v));
    return r;
  }
  std::string kernel_, archive_;
};

TEST_F(BtKernel, HelloExitsZero) {
  const RunResult r = run("hello");
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("hello from tbk"), std::string::npos) << r.console;
  EXPECT_GT(r.counters.get("bt.blocks_translated"), 0u);
  EXPECT_GT(r.counters.get("priv.out"), 0u);
}

TEST_F(BtKernel, Forkwait1000ExitsZero) {
  const RunResult r = run("forkwait 1000");
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("forkwait: 1000 forks, 0 failures"), std::string::npos) << r.console;
  EXPECT_GE(r.counters.get("priv.syscall"), 2000u);
}

// Direct execution of guest user code (bt-direct): the same kernel, user code
// on the host CPU, its syscalls through Syscall User Dispatch.
TEST_F(BtKernel, DirectUserSyscallsArriveThroughSud) {
  std::string why;
  if (!sud_inclusive_available(&why)) GTEST_SKIP() << why;
  const RunResult r = run("syscall_loop 2000", 120, true);
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("syscall_loop: 2000 getpid calls, 0 mismatches"), std::string::npos) << r.console;
  // every user syscall is a SIGSYS bounce, and each returns to user code natively
  EXPECT_GE(r.counters.get("bt.direct_syscalls"), 2000u);
  EXPECT_GE(r.counters.get("bt.direct_entries"), 2000u);
  EXPECT_EQ(r.counters.get("priv.syscall"), r.counters.get("bt.direct_syscalls"));
}

TEST_F(BtKernel, DirectUserComputesWhatTranslatedUserComputes) {
  std::string why;
  if (!sud_inclusive_available(&why)) GTEST_SKIP() << why;
  const RunResult t = run("compute 20");
  const RunResult d = run("compute 20", 120, true);
  ASSERT_EQ(t.outcome, Outcome::Exited) << t.message;
  ASSERT_EQ(d.outcome, Outcome::Exited) << d.message;
  const size_t at = t.console.find("result ");
  ASSERT_NE(at, std::string::npos) << t.console;
  const std::string line = t.console.substr(at, t.console.find('\n', at) - at);
  EXPECT_NE(d.console.find(line), std::string::npos) << "translated: " << line << "\ndirect console:\n" << d.console;
  EXPECT_EQ(t.counters.get("bt.direct_entries"), 0u);
  EXPECT_GT(d.counters.get("bt.direct_entries"), 0u);
}

TEST_F(BtKernel, DirectUserFaultsAndTimerReachTheGuestKernel) {
  std::string why;
  if (!sud_inclusive_available(&why)) GTEST_SKIP() << why;
  // badptr: the child's load from a kernel address is a host SIGSEGV that
  // becomes a guest #PF; the kernel kills the child.
  const RunResult b = run("badptr", 60, true);
  EXPECT_EQ(b.exit_code, 0) << b.console;
  EXPECT_NE(b.console.find("child was killed by the kernel"), std::string::npos) << b.console;
  EXPECT_GE(b.counters.get("fault.reflected.14"), 1u);
  EXPECT_GE(b.counters.get("bt.direct_faults"), 1u);
  // compute: ~0.1 s of user code without a syscall; timer ticks must take it
  // out of the host CPU (asynchronous exit) and reach the guest kernel.
  const RunResult p = run("compute 2000", 60, true);
  EXPECT_EQ(p.exit_code, 0) << p.console;
  EXPECT_GE(p.counters.get("bt.direct_interrupts"), 1u);
  EXPECT_GE(p.counters.get("timer.ticks"), p.counters.get("bt.direct_interrupts"));
}

}  // namespace
}  // namespace vtb
