// tags: engines|pv|tests — desc: vm_assist(direct user access): tbk reaches user memory through its direct map; pv@2as then maps no user page in the engine, and a kernel that breaks the promise gets a typed error.
#include <gtest/gtest.h>

#include <string>

#include "engines/pv/tests/pv_test_util.h"

namespace vtb::pv::test {
namespace {

using namespace std::chrono_literals;

PvOptions mode(PvProtect p) {
  PvOptions o;
  o.protect = p;
  return o;
}

// ctxswitch: two processes yield to each other N times, 2 N address-space
// switches. Before the assist the engine mirrored each switch's user-half
// diff in its own window (>= 2 host mmaps per round trip); in pv@2as it now
// maps none, whatever N (the user processes keep their own mappings). The
// same kernel in pv@mprotect runs user code in the engine process, so the
// window keeps mirroring every switch there (the assist is accepted, the
// kernel still uses its direct map).
TEST(PvDirectUser, OnlyTwoAsStopsMirroringTheUserHalfInTheEngine) {
  struct Cell {
    PvProtect mode;
    uint64_t n;
    bool remote;
  };
  for (const Cell& c : {Cell{PvProtect::TwoAs, 2000, true}, Cell{PvProtect::Mprotect, 500, false}}) {
    SCOPED_TRACE(pv_protect_name(c.mode));
    std::string skip = "unset";
    const RunResult r = boot_tbk("ctxswitch " + std::to_string(c.n), &skip, mode(c.mode));
    if (!skip.empty()) GTEST_SKIP() << skip;
    ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
    EXPECT_EQ(r.console, "ctxswitch: " + std::to_string(c.n) + " yields in each of 2 processes, child status 0\n");
    EXPECT_EQ(r.counters.get("exit.hypercall.vm_assist"), 1u);
    EXPECT_EQ(r.counters.get("pv.direct_user_access"), 1u);
    EXPECT_EQ(r.counters.get("pv.window_user_remote"), c.remote ? 1u : 0u);
    EXPECT_EQ(r.counters.get("pv.window_kernel_page_maps"), 0u);
    if (c.remote) {
      EXPECT_LT(r.counters.get("pv.map_ops"), 50u);
      EXPECT_LT(r.counters.get("host.mmap"), 50u);
    } else {
      EXPECT_GE(r.counters.get("pv.map_ops"), 2 * c.n);
    }
  }
}

// Every converted kernel path in pv@2as, with no user page in the engine:
// exec with argv and write (hello), wait status after fork with COW
// (forkwait), bad user pointers (badptr: -EFAULT and a killed child), the
// census report copied out to user memory.
struct Case {
  const char* cmdline;
  const char* console_has;
  uint64_t kernel_pages = 0;  // kernel-only user-half pages the kernel maps (census: its far-call trampoline)
};

class PvDirectUserPaths : public ::testing::TestWithParam<Case> {};

TEST_P(PvDirectUserPaths, RunInTwoAsThroughTheDirectMap) {
  std::string skip = "unset";
  const RunResult r = boot_tbk(GetParam().cmdline, &skip, mode(PvProtect::TwoAs));
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find(GetParam().console_has), std::string::npos) << r.console;
  EXPECT_EQ(r.counters.get("pv.window_user_remote"), 1u);
  EXPECT_EQ(r.counters.get("mmu.hidden_fault"), 0u);
  EXPECT_EQ(r.counters.get("pv.window_kernel_page_maps"), GetParam().kernel_pages);
  EXPECT_EQ(r.console.find("kernel half unavailable"), std::string::npos) << r.console;  // census report copied out
}

INSTANTIATE_TEST_SUITE_P(
    Programs, PvDirectUserPaths,
    ::testing::Values(Case{"run=hello one two", "hello from tbk: 2 argument(s)\n  argv[1] = one\n  argv[2] = two\n"},
                      Case{"forkwait 200", "forkwait: 200 forks, 0 failures\n"},
                      Case{"badptr", "badptr: child was killed by the kernel\n"}, Case{"census", "census: done: ", 1}),
    [](const ::testing::TestParamInfo<Case>& i) {
      std::string n = i.param.cmdline;
      n = n.substr(n.rfind('=') + 1);
      return n.substr(0, n.find(' '));
    });

// The hand-written guest makes the assist, reads its own kernel-only page of
// the user half through two frames, then reads a user page at its user
// address: pv@2as ends the run with a typed engine error naming the address;
// pv@mprotect still maps the user half, so the read succeeds.
RunResult assist_guest(PvProtect p, std::string* skip) {
  RunResult r;
  if (run_pv(PV_TEST_GUEST, "assist", {}, 20s, &r, skip, mode(p))) skip->clear();
  return r;
}

TEST(PvDirectUser, KernelTouchingUserMemoryAfterTheAssistIsAnEngineErrorIn2as) {
  std::string skip = "unset";
  const RunResult r = assist_guest(PvProtect::TwoAs, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  for (const char* line : {"unknown assist refused: ok", "direct user access accepted: ok",
                           "kernel-only page read: ok", "remapped kernel-only page read: ok"})
    EXPECT_NE(r.console.find(line), std::string::npos) << line << "\n" << r.console;
  EXPECT_EQ(r.console.find("user page read at its user address"), std::string::npos) << r.console;
  EXPECT_EQ(r.outcome, Outcome::EngineError);
  const std::string head = "pv@2as: the guest kernel touched user memory at va 0x400000 (rip 0x",
                    tail = ") after vm_assist(direct user access)";
  EXPECT_EQ(r.message.rfind(head, 0), 0u) << r.message;
  EXPECT_TRUE(r.message.size() > head.size() + tail.size() &&
              r.message.compare(r.message.size() - tail.size(), tail.size(), tail) == 0)
      << r.message;
  EXPECT_EQ(r.counters.get("exit.hypercall.vm_assist"), 2u);
  EXPECT_EQ(r.counters.get("pv.window_kernel_page_maps"), 2u);  // one per frame behind 0x401000
}

TEST(PvDirectUser, MprotectStillMapsTheUserHalfForTheKernel) {
  std::string skip = "unset";
  const RunResult r = assist_guest(PvProtect::Mprotect, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("user page read at its user address: ok"), std::string::npos) << r.console;
  EXPECT_EQ(r.counters.get("pv.direct_user_access"), 1u);
  EXPECT_EQ(r.counters.get("pv.window_user_remote"), 0u);
  EXPECT_EQ(r.counters.get("pv.window_kernel_page_maps"), 0u);
}

}  // namespace
}  // namespace vtb::pv::test
