// tags: engines|bt|tests — desc: the unmodified native tbk kernel + program archive under bt through vtb::Vm (hello, forkwait, buildlike's translation reuse, bt-direct incl. the isolation probes, wall limits of many short runs).
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/loader.h"
#include "common/sud.h"
#include "common/thread_timer.h"
#include "common/vm.h"
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
    return run_on(direct_user ? make_bt_direct_engine() : make_bt_engine(), direct_user ? "bt-direct" : "bt", cmdline,
                  wall_s);
  }
  RunResult run_on(std::unique_ptr<Engine> engine, const char* name, const std::string& cmdline, int wall_s = 120) {
    const unsigned long env_wall = std::strtoul(env_or("VTB_BT_KERNEL_WALL_S", "").c_str(), nullptr, 10);
    RunResult r = test::run_tbk(std::move(engine), kernel_, archive_, cmdline,
                                std::chrono::seconds(env_wall ? env_wall : (unsigned long)wall_s));
    std::printf("[ %s ] %s: outcome %s exit %d wall %.3f s (%s)\n", name, cmdline.c_str(),
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

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// Translations shared between address spaces (docs/bt.md), bt and
// bt-softmmu: buildlike N has N fork children (the compiler) and N/4 fork +
// exec of hello, both programs at the same addresses. Jobs beyond the first
// cost no translation (before: ~36 blocks per job: every child translated
// anew, every exit of hello dropped both programs' blocks at 0x400000), and
// every program ran its own code: the link value over all children's exit
// codes and hello's lines are the golden ones.
TEST_F(BtKernel, BuildlikeForkAndExecReuseTranslations) {
  for (bool soft : {false, true}) {
    auto go = [&](const std::string& cmd) {
      return run_on(soft ? make_bt_softmmu_engine() : make_bt_engine(), soft ? "bt-softmmu" : "bt", cmd);
    };
    const RunResult a = go("buildlike 20");
    ASSERT_EQ(a.outcome, Outcome::Exited) << a.message << "\nconsole:\n" << a.console;
    EXPECT_EQ(a.exit_code, 0) << a.console;
    EXPECT_NE(a.console.find("buildlike: 20 jobs, link f4487e134e613952, 0 failures"), std::string::npos) << a.console;
    EXPECT_EQ(count_of(a.console, "hello from tbk: 1 argument(s)"), 5u) << a.console;
    EXPECT_NE(a.console.find("argv[1] = unit19.o"), std::string::npos) << a.console;
    const RunResult b = go("buildlike 60");
    ASSERT_EQ(b.outcome, Outcome::Exited) << b.message;
    EXPECT_NE(b.console.find("buildlike: 60 jobs"), std::string::npos) << b.console;
    EXPECT_NE(b.console.find(", 0 failures"), std::string::npos) << b.console;
    EXPECT_EQ(count_of(b.console, "hello from tbk: 1 argument(s)"), 15u);
    const uint64_t ta = a.counters.get("bt.blocks_translated"), tb = b.counters.get("bt.blocks_translated");
    ASSERT_GE(tb, ta);
    EXPECT_LT(tb - ta, 40u * 2) << "40 more jobs (10 more execs of hello): under 2 blocks translated per job";
    EXPECT_GT(b.counters.get("bt.tc_reused_blocks"), a.counters.get("bt.tc_reused_blocks"))
        << "hello's blocks adopted at each exec";
    EXPECT_GT(b.counters.get("bt.space_shared"), 0u);
  }
}

TEST_F(BtKernel, Forkwait1000ExitsZero) {
  const RunResult r = run("forkwait 1000");
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("forkwait: 1000 forks, 0 failures"), std::string::npos) << r.console;
  EXPECT_GE(r.counters.get("priv.syscall"), 2000u);
}

// Port I/O served inside run() through the Vm's handler (bt and bt-direct):
// every in/out is still one exit.port_io (= its priv.* callout count), only
// the control lines' '\n' and the exit port leave run(), and the console is
// byte-identical to the run where every access is an exit (VTB_IO_IN_RUN=0).
TEST_F(BtKernel, PortIoServedInRunCountsLikeExits) {
  for (bool direct : {false, true}) {
    if (direct && !make_bt_direct_engine()->caps().available) continue;
    const std::string cmd = "micro_kernel out 3000 3";
    const RunResult r = run(cmd, 120, direct);
    setenv("VTB_IO_IN_RUN", "0", 1);
    const RunResult off = run(cmd, 120, direct);
    unsetenv("VTB_IO_IN_RUN");
    for (const RunResult* x : {&r, &off}) {
      ASSERT_EQ(x->outcome, Outcome::Exited) << x->message << x->console;
      EXPECT_EQ(x->exit_code, 0);
      const Counters& c = x->counters;
      EXPECT_EQ(c.get("exit.port_io"), c.get("priv.in") + c.get("priv.out") + c.get("priv.ins") + c.get("priv.outs"));
      ASSERT_EQ(x->phases.size(), 3u);
      for (size_t i = 0; i < x->phases.size(); ++i) {
        const PhaseTiming& p = x->phases[i];
        EXPECT_LT(p.begin_ns, p.end_ns);
        if (i) {
          EXPECT_LT(x->phases[i - 1].end_ns, p.begin_ns);
        }
        EXPECT_GE(p.counters.get("exit.port_io"), 3000u + 4u);  // the loop and "E 1\n"
      }
    }
    EXPECT_EQ(r.console, off.console);
    EXPECT_NE(r.console.find("micro_kernel: out x 3000: 3000 done"), std::string::npos) << r.console;
    EXPECT_EQ(off.counters.get("bt.port_io_in_run"), 0u);
    // In each phase only the end marker's '\n' left run().
    // ... and the loop's kernel `out`s took the light callout (no exit from translated code).
    for (const PhaseTiming& p : r.phases) {
      EXPECT_EQ(p.counters.get("exit.port_io") - p.counters.get("bt.port_io_in_run"), 1u);
      EXPECT_GE(p.counters.get("bt.port_io_light"), 3000u);
      EXPECT_LT(p.counters.get("bt.tc_exits"), 3000u);
    }
    // Over the run: one exit per control line plus the exit port, nothing else.
    const uint64_t lines = 2 * 3 + r.records.size();
    EXPECT_EQ(r.counters.get("exit.port_io") - r.counters.get("bt.port_io_in_run"), lines + 1);
  }
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

// The isolation workload (workloads/programs/isolation.c) on bt-direct, probe
// by probe: FS/GS loads reach guest memory only (killed), the bases read and
// written are the guest's, and jumps out of user memory are guest #PFs that
// kill the child, never the host.
TEST_F(BtKernel, DirectUserIsolationProbesStayInTheGuest) {
  std::string why;
  if (!sud_inclusive_available(&why)) GTEST_SKIP() << why;
  const RunResult r = run("isolation", 60, true);
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  if (r.counters.get("bt.fsgs_isolation") == 0) GTEST_SKIP() << "no FSGSBASE on this host: FS/GS probes see the host's";
  const std::pair<const char*, const char*> want[] = {
      {"fs_0", "killed"},   {"fs_0x28", "killed"},  {"rdfsbase", "guest"},
      {"rdgsbase", "guest"}, {"wrfsbase", "guest"}, {"wrgsbase", "guest"},
      {"mov_fs", "guest"},  {"moffs_host_range", "guest"}, {"fs_host_range", "guest"},  // sealed: zero
      {"jmp_1", "killed"},    {"jmp_0x8000", "killed"},
      {"jmp_0x7fff00000000", "killed"}, {"jmp_kernel_text", "killed"}};
  for (const auto& [probe, verdict] : want) {
    const auto it = std::find_if(r.records.begin(), r.records.end(), [&](const auto& kv) { return kv.first == probe; });
    ASSERT_NE(it, r.records.end()) << "no record for " << probe << "\nconsole:\n" << r.console;
    EXPECT_EQ(it->second, verdict) << probe << "\nconsole:\n" << r.console;
  }
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_GE(r.counters.get("bt.direct_outside"), 4u);  // the four jumps
}

// Translated user code (bt): the isolation probes' pointer walks — one whose
// loop runs with its address check hoisted (docs/bt.md, "Hoisted checks") —
// end with the child killed by a #PF; compute's loops get hoisted checks.
TEST_F(BtKernel, TranslatedPointerWalksAreKilledWithHoistedChecks) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  const RunResult r = run("isolation", 60);
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  for (const char* probe : {"walk_down", "walk_up_host_range"}) {
    const auto it = std::find_if(r.records.begin(), r.records.end(), [&](const auto& kv) { return kv.first == probe; });
    ASSERT_NE(it, r.records.end()) << "no record for " << probe << "\nconsole:\n" << r.console;
    EXPECT_EQ(it->second, "killed") << probe;
  }
  EXPECT_NE(r.console.find("walk_down: killed by vector 14"), std::string::npos) << r.console;
  EXPECT_GE(r.counters.get("bt.user_checks_hoisted"), 1u);
  EXPECT_GE(r.counters.get("bt.loop_entries_chained"), 1u);
  const RunResult c = run("compute 20");
  ASSERT_EQ(c.outcome, Outcome::Exited) << c.message;
  EXPECT_GE(c.counters.get("bt.user_checks_hoisted"), 1u);
  EXPECT_GE(c.counters.get("bt.loop_entries_chained"), 1u);
}

// The asynchronous-exit timer as the dispatcher uses it (common/thread_timer):
// ThreadTimer::armed_ns() != 0 must mean "an expiry is still to be signalled",
// since the dispatcher does not arm again while it says so.
int g_test_signal() { return SIGRTMIN + 6; }  // no engine uses it
ThreadTimer* volatile g_timer = nullptr;
volatile sig_atomic_t g_fires = 0;
void on_test_timer(int) {
  if (g_timer) g_timer->fired();
  g_fires = g_fires + 1;
}

class BtAsyncTimer : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction sa {};
    sa.sa_handler = on_test_timer;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ASSERT_EQ(sigaction(g_test_signal(), &sa, &old_), 0);
    g_timer = &timer_;
    ASSERT_TRUE(timer_.bind(g_test_signal()).is_ok());
  }
  void TearDown() override {
    timer_.cancel();
    g_timer = nullptr;
    sigaction(g_test_signal(), &old_, nullptr);
  }
  // Spins until the handler has run again (at most `ms`); false if it did not.
  static bool await_fire(sig_atomic_t before, int ms) {
    const uint64_t until = monotonic_ns() + uint64_t(ms) * 1000000;
    while (g_fires == before && monotonic_ns() < until) {}
    return g_fires != before;
  }
  ThreadTimer timer_;
  struct sigaction old_ {};
};

// A caller preempted between reading the clock and arming asks for an expiry
// that has already passed: the timer fires during timer_settime and the
// handler runs before it returns. That handled expiry was then recorded as
// pending, the dispatcher never armed again, and --timeout was ignored.
TEST_F(BtAsyncTimer, ExpiryHandledWhileArmingIsNotReportedPending) {
  int reported_pending = 0, never_fired = 0;
  for (int i = 0; i < 200; ++i) {
    const sig_atomic_t before = g_fires;
    timer_.want(monotonic_ns() - 1000, 0);
    if (!await_fire(before, 100)) ++never_fired;
    if (timer_.armed_ns() != 0) {
      ++reported_pending;
      timer_.cancel();  // start clean: the stale value would suppress every later arming
      ASSERT_TRUE(timer_.bind(g_test_signal()).is_ok());
    }
  }
  EXPECT_EQ(reported_pending, 0);
  EXPECT_EQ(never_fired, 0);
}

// The backstop: after an expiry the signal comes again every period until the
// timer is re-armed or disarmed, so one missed re-arm cannot stop the signals.
TEST_F(BtAsyncTimer, BackstopRepeatsUntilDisarmed) {
  timer_.set_backstop(10'000'000);
  const sig_atomic_t before = g_fires;
  timer_.want(monotonic_ns() + 1'000'000, 0);
  int repeats = 0;
  for (int i = 0; i < 4; ++i) repeats += await_fire(g_fires, 1000);
  EXPECT_EQ(repeats, 4);
  EXPECT_GE(g_fires - before, 4);
  timer_.disarm();
  const sig_atomic_t after = g_fires;
  EXPECT_FALSE(await_fire(after, 100)) << "a signal after disarm()";
}

// --timeout must hold on every run: the wall deadline reaches the dispatcher
// only through the asynchronous-exit timer (or its backstops), and a timer
// that is lost once (the re-arm race fixed in ThreadTimer::want) leaves a
// guest loop running until it is killed from outside. Many short runs of
// looping workloads under host CPU contention (a preempted vCPU thread is
// what opened the race) must each end LimitReached, none more than 1 s late.
class BtWallLimit : public BtKernel {
 protected:
  struct Tally {
    int runs = 0, not_limit = 0, overran = 0;
    std::string first_problem;
  };

  // Boots `cmdline` bounded by `wall` (the harness's Vm, as `vtb run`).
  RunResult run_for(const std::string& cmdline, std::chrono::nanoseconds wall, bool direct_user) {
    GuestImage img;
    img.kernel = kernel_elf_;
    img.archive = archive_bytes_;
    img.cmdline = cmdline;
    img.flavor = Flavor::Native;
    VmConfig cfg;
    cfg.limits.wall = wall;
    Status err;
    auto vm = Vm::create(cfg, direct_user ? make_bt_direct_engine() : make_bt_engine(), &err);
    EXPECT_TRUE(vm) << err.message();
    if (!vm) return {};
    err = vm->load(img);
    EXPECT_TRUE(err.is_ok()) << err.message();
    if (!err) return {};
    return vm->run();
  }

  Tally stress(bool direct_user, int runs) {
    std::vector<uint8_t> bytes;
    Status s = read_file(kernel_, &bytes);
    EXPECT_TRUE(s.is_ok()) << s.message();
    s = parse_elf(std::move(bytes), kernel_, &kernel_elf_);
    EXPECT_TRUE(s.is_ok()) << s.message();
    s = read_file(archive_, &archive_bytes_);
    EXPECT_TRUE(s.is_ok()) << s.message();
    // Loops without an end in the time given: exit-heavy (syscalls), pure
    // chained user loops, fork/COW/scheduling, and census's user-mode popf
    // row, which waits for more timer ticks than can come (vtb_ticks()
    // syscalls: the bt-direct x census conformance cell that hung).
    const char* loops[] = {"syscall_loop 2147483648", "compute 100000000", "forkwait 100000000", "census 1000000"};
    const int limits_ms[] = {50, 100, 150, 200};
    // Host CPU contention on a small host (2 CPUs: the vCPU thread gets
    // preempted), two spinning threads at most elsewhere.
    std::atomic<bool> stop{false};
    std::vector<std::thread> hogs;
    const unsigned nhogs = std::clamp(std::thread::hardware_concurrency(), 1u, 2u);
    for (unsigned i = 0; i < nhogs; ++i)
      hogs.emplace_back([&stop] {
        volatile uint64_t x = 0;
        while (!stop.load(std::memory_order_relaxed)) x = x + 1;
      });
    // A run that hangs would hang the test until ctest's timeout: say which
    // one and fail the process instead.
    std::mutex mu;
    std::condition_variable cv;
    int finished = -1;
    std::string current;
    std::thread watchdog([&] {
      std::unique_lock<std::mutex> lk(mu);
      for (int seen = -1;;) {
        if (!cv.wait_for(lk, std::chrono::seconds(30), [&] { return finished != seen; })) {
          std::fprintf(stderr, "BtWallLimit: run '%s' still going 30 s past its start: --timeout ignored\n",
                       current.c_str());
          std::fflush(stderr);
          std::_Exit(1);
        }
        seen = finished;
        if (seen >= runs) return;
      }
    });
    Tally t;
    for (int i = 0; i < runs; ++i) {
      const std::string cmd = loops[i % 4];
      const int ms = limits_ms[(i / 4) % 4];
      {
        std::lock_guard<std::mutex> lk(mu);
        current = cmd + " (" + std::to_string(ms) + " ms)";
      }
      const uint64_t t0 = monotonic_ns();
      const RunResult r = run_for(cmd, std::chrono::milliseconds(ms), direct_user);
      const double took = double(monotonic_ns() - t0) * 1e-9;
      ++t.runs;
      const bool late = took > ms * 1e-3 + 1.0;
      const bool not_limit = r.outcome != Outcome::LimitReached;
      t.not_limit += not_limit;
      t.overran += late;
      if ((late || not_limit) && t.first_problem.empty())
        t.first_problem = cmd + " with " + std::to_string(ms) + " ms: outcome " + outcome_name(r.outcome) + " (" +
                          r.message + ") after " + std::to_string(took) + " s";
      {
        std::lock_guard<std::mutex> lk(mu);
        finished = i;
      }
      cv.notify_all();
    }
    {
      std::lock_guard<std::mutex> lk(mu);
      finished = runs;
    }
    cv.notify_all();
    watchdog.join();
    stop = true;
    for (auto& h : hogs) h.join();
    std::printf("[ bt%s ] %d wall-limited runs: %d not limit_reached, %d overran by > 1 s\n",
                direct_user ? "-direct" : "", t.runs, t.not_limit, t.overran);
    return t;
  }

  ElfImage kernel_elf_;
  std::vector<uint8_t> archive_bytes_;
};

TEST_F(BtWallLimit, EveryShortRunEndsAtItsLimit) {
  const Tally t = stress(false, 64);
  EXPECT_EQ(t.runs, 64);
  EXPECT_EQ(t.not_limit, 0) << t.first_problem;
  EXPECT_EQ(t.overran, 0) << t.first_problem;
}

TEST_F(BtWallLimit, DirectUserEveryShortRunEndsAtItsLimit) {
  std::string why;
  if (!sud_inclusive_available(&why)) GTEST_SKIP() << why;
  const Tally t = stress(true, 64);
  EXPECT_EQ(t.runs, 64);
  EXPECT_EQ(t.not_limit, 0) << t.first_problem;
  EXPECT_EQ(t.overran, 0) << t.first_problem;
}

}  // namespace
}  // namespace vtb
