// tags: engines|pv|tests — desc: tbk.pv.elf on the pv engine: same console and exit code as the native kernel under QEMU.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/abi/vtb_abi.h"
#include "engines/pv/tests/pv_test_util.h"

namespace vtb::pv::test {
namespace {

using namespace std::chrono_literals;

struct Case {
  const char* cmdline;
  const char* console;  // exact, or a prefix when `prefix`
  int exit_code;
  bool prefix = false;
};

class PvKernel : public ::testing::TestWithParam<Case> {};

TEST_P(PvKernel, SameConsoleAndExitCodeAsNative) {
  const Case& c = GetParam();
  std::string skip = "unset";
  RunResult r = boot_tbk(c.cmdline, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, c.exit_code) << r.console;
  if (c.prefix)
    EXPECT_EQ(r.console.rfind(c.console, 0), 0u) << r.console;
  else
    EXPECT_EQ(r.console, c.console);
  EXPECT_GT(r.counters.get("exit.hypercall.new_baseptr"), 0u);
  EXPECT_GT(r.counters.get("mmu.validated_update"), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Programs, PvKernel,
    ::testing::Values(Case{"hello", "hello from tbk: 0 argument(s)\n", 0},
                      Case{"run=hello one two", "hello from tbk: 2 argument(s)\n  argv[1] = one\n  argv[2] = two\n", 0},
                      Case{"syscall_loop 2000", "syscall_loop: 2000 getpid calls, 0 mismatches\n", 0},
                      Case{"forkwait 1000", "forkwait: 1000 forks, 0 failures\n", 0},
                      Case{"compute 20", "result ", 0, true},
                      Case{"memtouch 300", "memtouch: 300 pages touched, sum 33630, munmap 0\n", 0},
                      Case{"ctxswitch 500", "ctxswitch: 500 yields in each of 2 processes, child status 0\n", 0},
                      Case{"preempt", "preempt: parent ran while the child was spinning: yes\n", 0},
                      Case{"no_such_program", "tbk: no program 'no_such_program' in the archive\n", VTB_EXIT_PANIC,
                           true}),
    [](const auto& info) {
      std::string n;
      for (const char* p = info.param.cmdline; *p && *p != ' '; ++p) n += (std::isalnum(*p) ? *p : '_');
      return n + "_" + std::to_string(info.index);
    });

// io / console_io served inside the hypercall through the Vm's handler:
// each is still one exit.port_io, only the control lines' '\n' and the exit
// port leave run(), and the console is byte-identical to the run where each
// one leaves run() as an exit (VTB_IO_IN_RUN=0).
TEST(PvKernelCounters, PortIoServedInHypercallCountsLikeExits) {
  std::string skip = "unset";
  const std::string cmd = "micro_kernel out 3000 3";
  const RunResult r = boot_tbk(cmd, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  setenv("VTB_IO_IN_RUN", "0", 1);
  const RunResult off = boot_tbk(cmd, &skip);
  unsetenv("VTB_IO_IN_RUN");
  for (const RunResult* x : {&r, &off}) {
    ASSERT_EQ(x->outcome, Outcome::Exited) << x->message << x->console;
    EXPECT_EQ(x->exit_code, 0);
    const Counters& c = x->counters;
    EXPECT_EQ(c.get("exit.port_io"), c.get("exit.hypercall.io") + c.get("exit.hypercall.console_io"));
    ASSERT_EQ(x->phases.size(), 3u);
    for (size_t i = 0; i < x->phases.size(); ++i) {
      EXPECT_LT(x->phases[i].begin_ns, x->phases[i].end_ns);
      if (i) {
        EXPECT_LT(x->phases[i - 1].end_ns, x->phases[i].begin_ns);
      }
      EXPECT_GE(x->phases[i].counters.get("exit.port_io"), 3000u + 4u);
    }
  }
  EXPECT_EQ(r.console, off.console);
  EXPECT_NE(r.console.find("micro_kernel: out x 3000: 3000 done"), std::string::npos) << r.console;
  EXPECT_EQ(off.counters.get("pv.port_io_in_run"), 0u);
  for (const PhaseTiming& p : r.phases)
    EXPECT_EQ(p.counters.get("exit.port_io") - p.counters.get("pv.port_io_in_run"), 1u);
  const uint64_t lines = 2 * 3 + r.records.size();
  EXPECT_EQ(r.counters.get("exit.port_io") - r.counters.get("pv.port_io_in_run"), lines + 1);
}

TEST(PvKernelCounters, ForkwaitCountsBouncesBatchesAndProtection) {
  std::string skip = "unset";
  RunResult r = boot_tbk("forkwait 1000", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
  for (const auto& [k, v] : r.counters.all()) std::printf("  %-32s %llu\n", k.c_str(), (unsigned long long)v);
  EXPECT_GE(r.counters.get("pv.syscall_bounce"), 3000u);  // fork + wait + exit per iteration
  EXPECT_GE(r.counters.get("mmu.update_batch.2_8"), 1000u);  // fork marks the parent COW in batches
  EXPECT_GT(r.counters.get("pv.kernel_protect_ops"), 0u);
  EXPECT_GT(r.counters.get("exit.hypercall.iret"), 3000u);
  EXPECT_GT(r.counters.get("exit.hypercall.unpin_table"), 1000u);
}

// Page tables come from a pool and go back to it zeroed by the engine and
// still read-only: a fork+exit re-protects nothing for its tables (before:
// 12 mprotects per fork), and mprotect mode pays only its switches.
TEST(PvKernelCounters, ReleasedTablesAreReusedWithoutReprotection) {
  std::string skip = "unset";
  PvOptions off;
  off.protect = PvProtect::Off;
  RunResult r = boot_tbk("forkwait 200", &skip, off);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
  EXPECT_LT(r.counters.get("pv.kernel_protect_ops"), 50u);
  EXPECT_EQ(r.counters.get("pv.stale_table_release"), 0u);
  PvOptions mp;
  mp.protect = PvProtect::Mprotect;
  skip = "unset";
  r = boot_tbk("forkwait 200", &skip, mp);
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
  // 3 syscalls + 2 COW faults per fork: 5 returns to user (1 each) and 5
  // kernel entries (1 + one run of tables each).
  EXPECT_LE(r.counters.get("pv.kernel_protect_ops"), 16u * 200u);
  EXPECT_GE(r.counters.get("pv.kernel_protect_ops"), 10u * 200u);
}

TEST(PvKernelCounters, UnmapIsBatched) {
  std::string skip = "unset";
  RunResult r = boot_tbk("memtouch 300", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
  // munmap of 300 touched pages: chunks of 64 entries, one mmu_update each
  // (4 x 64 + 44), not one per page.
  EXPECT_GE(r.counters.get("mmu.update_batch.9_64"), 5u);
  EXPECT_LT(r.counters.get("exit.hypercall.mmu_update"), 300u + 60u);  // the 300 demand faults + the rest
  EXPECT_LT(r.counters.get("exit.hypercall.invlpg"), 20u);
}

// Issue 13: the per-operation cost must not grow with the round count. tbk
// reuses freed frames first (the most recent first) and clears or copies a
// frame through the engine (clear_page / copy_page), never through its
// direct map; so the direct map's populated pages -- what every mprotect of
// the kernel range walks -- stay as few after 8 rounds of map / touch /
// unmap (or fork + copy-on-write) as after 1 (before: +1024 per round),
// and so do the page tables (before: +2 a round of memtouch).
TEST(PvKernelCounters, DirectMapStaysSmallAcrossRounds) {
  struct Cell {
    const char* cmd;  // the round count follows
    uint64_t pages;   // frames one round takes
    const char* hypercall;
  };
  for (const Cell& c : {Cell{"memtouch 1024", 1024, "exit.hypercall.clear_page"},
                        Cell{"micro_user pgfault 512 1", 512, "exit.hypercall.clear_page"},
                        Cell{"micro_user cowfault 512 1", 512, "exit.hypercall.copy_page"}}) {
    SCOPED_TRACE(c.cmd);
    PvOptions off;
    off.protect = PvProtect::Off;
    std::string skip = "unset";
    const RunResult one = boot_tbk(std::string(c.cmd) + " 1", &skip, off);
    if (!skip.empty()) GTEST_SKIP() << skip;
    const RunResult eight = boot_tbk(std::string(c.cmd) + " 8", &skip, off);
    for (const RunResult* r : {&one, &eight}) ASSERT_EQ(r->outcome, Outcome::Exited) << r->message << r->console;
    EXPECT_EQ(eight.exit_code, 0) << eight.console;
    const uint64_t r1 = one.counters.get("pv.direct_map_resident"), r8 = eight.counters.get("pv.direct_map_resident");
    if (r1 == 0) GTEST_SKIP() << "/proc/self/pagemap gives no present bits here";
    EXPECT_LE(r8, r1 + 8) << "1 round: " << r1 << " populated direct-map pages, 8 rounds: " << r8;
    EXPECT_LT(r8, c.pages / 4);  // not one per frame the rounds used
    // munmap of the top mapping lowers tbk's mmap pointer: each round maps
    // the same addresses again, through the same page tables.
    EXPECT_EQ(eight.counters.get("pv.pt_frames"), one.counters.get("pv.pt_frames"));
    // Rounds 2-8 reuse the frames round 1 freed: every demand-zero page is
    // cleared (every COW copy made) by the engine.
    EXPECT_GE(eight.counters.get(c.hypercall), 7 * c.pages);
  }
}

TEST(PvKernelCounters, BadptrChildIsKilledKernelSurvives) {
  std::string skip = "unset";
  RunResult r = boot_tbk("badptr", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("badptr: child was killed by the kernel\n"), std::string::npos) << r.console;
  EXPECT_GE(r.counters.get("fault.reflected.14"), 1u);
}

}  // namespace
}  // namespace vtb::pv::test
