// tags: engines|pv|tests — desc: pv@2as robustness: the user process killed, stopped or out of time is a typed exit, never a hang or a leftover process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "engines/pv/pv_2as.h"
#include "engines/pv/pv_cpu_contention.h"
#include "engines/pv/tests/pv_test_util.h"

namespace vtb::pv::test {
namespace {

using namespace std::chrono_literals;

// The pv@2as user process of process `parent` (0: none yet): the one that
// runs guest user code (state R) when there is one, as there is while a
// guest program computes (one user process per guest address space: the
// others wait).
pid_t user_process(pid_t parent = getpid()) {
  pid_t any = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream f(e.path() / "stat");
    std::string stat;
    if (!std::getline(f, stat)) continue;
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid != parent || stat.substr(open + 1, close - open - 1) != "pv_user_host") continue;
    if (state == 'R') return pid_t(std::stoi(name));
    any = pid_t(std::stoi(name));
  }
  return any;
}

// Boots tbk in pv@2as with `cmdline`; `act` runs on another thread once the
// user process exists (its pid), while the guest runs.
RunResult run_2as(const std::string& cmdline, std::chrono::milliseconds wall, void (*act)(pid_t), pid_t* seen,
                  std::string* skip) {
  RunResult r;
  if (!std::ifstream(TBK_PV_ELF).good() || !std::ifstream(TBK_ARCHIVE).good()) {
    *skip = "tbk.pv.elf or programs.vtba not built";
    return r;
  }
  std::vector<uint8_t> archive;
  EXPECT_TRUE(read_file(TBK_ARCHIVE, &archive));
  std::atomic<bool> done{false};
  std::atomic<pid_t> pid{0};
  std::thread t([&] {
    while (!done && !(pid = user_process())) std::this_thread::sleep_for(5ms);
    if (pid && act) {
      std::this_thread::sleep_for(200ms);  // well into the guest program
      if (const pid_t now = user_process()) pid = now;  // the one running it (there may be more by now)
      act(pid);
    }
  });
  PvOptions o;
  o.protect = PvProtect::TwoAs;
  const bool ran = run_pv(TBK_PV_ELF, cmdline, archive, wall, &r, skip, o, 64);
  done = true;
  t.join();
  *seen = pid;
  if (ran) skip->clear();
  return r;
}

// Gone for good: reaped by the engine, not left as a zombie or an orphan.
void expect_gone(pid_t pid) {
  ASSERT_GT(pid, 0);
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(Pv2as, KilledUserProcessIsAnEngineError) {
  std::string skip = "unset";
  pid_t pid = 0;
  const auto t0 = std::chrono::steady_clock::now();
  RunResult r = run_2as("compute 100000000", 60s, [](pid_t p) { kill(p, SIGKILL); }, &pid, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(r.outcome, Outcome::EngineError) << r.message;
  EXPECT_NE(r.message.find("user process died with signal 9"), std::string::npos) << r.message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  expect_gone(pid);
}

TEST(Pv2as, StoppedUserProcessIsAnEngineErrorNotAHang) {
  std::string skip = "unset";
  pid_t pid = 0;
  RunResult r = run_2as("compute 100000000", 60s, [](pid_t p) { kill(p, SIGSTOP); }, &pid, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(r.outcome, Outcome::EngineError) << r.message;
  EXPECT_NE(r.message.find("does not answer"), std::string::npos) << r.message;
  expect_gone(pid);
}

TEST(Pv2as, WallLimitStopsUserCode) {
  std::string skip = "unset";
  pid_t pid = 0;
  RunResult r = run_2as("compute 100000000", 500ms, nullptr, &pid, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(r.outcome, Outcome::LimitReached) << r.message;
  EXPECT_GE(r.counters.get("pv.2as.preempts"), 1u);
  EXPECT_LT(r.wall_seconds, 5.0);
  expect_gone(pid);  // the Vm (and its engine) are gone: so is the process
}

// What guest user code shares its process with: its own pages of guest
// RAM, the user process's code, stack and door -- no guest-kernel frame, no
// library, nothing else of the host -- and a seccomp filter (the system
// calls it may make once guest code runs).
struct Seen {
  std::string maps, status;
  std::vector<std::string> tasks;  // each thread's status
};
Seen g_seen;

TEST(Pv2as, UserProcessMapsOnlyGuestUserPagesAndIsFiltered) {
  std::string skip = "unset";
  pid_t pid = 0;
  g_seen = {};
  RunResult r = run_2as("compute 100000000", 2s, [](pid_t p) {
    for (const char* f : {"maps", "status"}) {
      std::ifstream in("/proc/" + std::to_string(p) + "/" + f);
      std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      (std::string(f) == "maps" ? g_seen.maps : g_seen.status) = all;
    }
    for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(p) + "/task")) {
      std::ifstream in(t.path() / "status");
      g_seen.tasks.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  }, &pid, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(r.outcome, Outcome::LimitReached) << r.message;
  ASSERT_FALSE(g_seen.maps.empty());
  EXPECT_NE(g_seen.status.find("NoNewPrivs:\t1"), std::string::npos) << g_seen.status;
  EXPECT_NE(g_seen.status.find("Seccomp:\t2"), std::string::npos) << g_seen.status;
  // Two threads: the guest thread and the mapper, each under its own filter;
  // the mapper blocks every signal (SIGKILL and SIGSTOP cannot be).
  ASSERT_EQ(g_seen.tasks.size(), 2u);
  int mappers = 0;
  for (const std::string& t : g_seen.tasks) {
    EXPECT_NE(t.find("Seccomp:\t2"), std::string::npos) << t;
    EXPECT_NE(t.find("NoNewPrivs:\t1"), std::string::npos) << t;
    if (t.find("SigBlk:\tfffffffffffbfeff") != std::string::npos) ++mappers;
  }
  EXPECT_EQ(mappers, 1);
  std::istringstream lines(g_seen.maps);
  std::string line;
  int guest_ram = 0, door_rw = 0, log_ro = 0;
  while (std::getline(lines, line)) {
    unsigned long long lo = 0, hi = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%llx-%llx", &lo, &hi), 2) << line;
    EXPECT_EQ(line.find(".so"), std::string::npos) << "a library in the user process: " << line;
    EXPECT_EQ(line.find("pv_tests"), std::string::npos) << line;
    if (line.find("vtb-pv-door") != std::string::npos) {
      // The door is read-write, the mapping log after it read-only.
      unsigned long long off = 0;
      char perms[8] = {};
      ASSERT_EQ(std::sscanf(line.c_str(), "%*x-%*x %4s %llx", perms, &off), 2) << line;
      if (off == 0 && std::string(perms) == "rw-s") ++door_rw;
      if (off == PV_DOOR_BYTES && std::string(perms) == "r--s") ++log_ro;
      EXPECT_TRUE(off == 0 || off == PV_DOOR_BYTES) << line;
      EXPECT_TRUE(std::string(perms) != "rw-s" || off == 0) << "the mapping log writable: " << line;
    } else if (line.find("vtb-guest-ram") != std::string::npos) {
      ++guest_ram;  // only user pages: below the host-reserved kernel range
      EXPECT_GE(lo, VTB_WINDOW_LO) << line;
      EXPECT_LE(hi, VTB_HOST_RESERVED_KERNEL_LO) << line;
    } else if (lo < VTB_WINDOW_HI) {
      EXPECT_EQ(line.find("rw"), std::string::npos) << "host memory in the window: " << line;
      EXPECT_NE(line.find("---p"), std::string::npos) << "host memory in the window: " << line;
    }
  }
  EXPECT_GE(guest_ram, 1) << g_seen.maps;
  EXPECT_EQ(door_rw, 1) << g_seen.maps;
  EXPECT_EQ(log_ro, 1) << g_seen.maps;
}

// One user process per guest address space (VTB_PV_2AS_PROCS, default 4):
// a switch back to an address space whose tables did not change since it
// last ran changes no mapping at all; with one process every switch is
// logged as the window's change. Forks: each child's new root is logged
// into a reused process (only the pages that differ), the parent's return
// is clean. Counts, and the programs' own checks.
TEST(Pv2as, EachAddressSpaceKeepsItsOwnUserProcess) {
  std::string skip = "unset";
  pid_t pid = 0;
  const RunResult many = run_2as("ctxswitch 2000", 60s, nullptr, &pid, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(many.outcome, Outcome::Exited) << many.message;
  EXPECT_EQ(many.console, "ctxswitch: 2000 yields in each of 2 processes, child status 0\n");
  EXPECT_GE(many.counters.get("pv.2as.clean_switches"), 4000u);
  EXPECT_LT(many.counters.get("pv.2as.user_mmaps"), 100u);
  EXPECT_LE(many.counters.get("pv.2as.procs"), uint64_t(PvUserSpace::kDefaultProcs));
  EXPECT_EQ(many.counters.get("pv.2as.proc_spawns"), many.counters.get("pv.2as.procs"));

  setenv("VTB_PV_2AS_PROCS", "1", 1);
  skip = "unset";
  const RunResult one = run_2as("ctxswitch 2000", 60s, nullptr, &pid, &skip);
  unsetenv("VTB_PV_2AS_PROCS");
  ASSERT_EQ(one.outcome, Outcome::Exited) << one.message;
  EXPECT_EQ(one.console, many.console);
  EXPECT_EQ(one.counters.get("pv.2as.procs"), 1u);
  EXPECT_EQ(one.counters.get("pv.2as.clean_switches"), 0u);
  EXPECT_GE(one.counters.get("pv.2as.diff_switches"), 4000u);
  EXPECT_GE(one.counters.get("pv.2as.user_mmaps"), 4000u);

  skip = "unset";
  const RunResult forks = run_2as("forkwait 200", 60s, nullptr, &pid, &skip);
  ASSERT_EQ(forks.outcome, Outcome::Exited) << forks.message;
  EXPECT_EQ(forks.console, "forkwait: 200 forks, 0 failures\n");
  EXPECT_GE(forks.counters.get("pv.2as.replay_switches"), 200u);  // each child: a new root
  EXPECT_GE(forks.counters.get("pv.2as.clean_switches"), 200u);   // each parent's return
  EXPECT_LE(forks.counters.get("pv.2as.proc_spawns"), uint64_t(PvUserSpace::kDefaultProcs));
  EXPECT_GE(forks.counters.get("pv.2as.mapper_logs"), 200u);  // each child's replay at least
}

// A log too small for one resume's changes: the engine logs a reset and
// replays every mapped run (VTB_PV_2AS_LOG_CAP shrinks the log); the
// fork-heavy program still runs exactly as with a big log.
TEST(Pv2as, LogOverflowReplaysTheWholeUserHalf) {
  setenv("VTB_PV_2AS_LOG_CAP", "3", 1);
  setenv("VTB_PV_2AS_PROCS", "1", 1);  // every switch through the log (with more, most need no change)
  std::string skip = "unset";
  pid_t pid = 0;
  RunResult r = run_2as("forkwait 200", 60s, nullptr, &pid, &skip);
  unsetenv("VTB_PV_2AS_LOG_CAP");
  unsetenv("VTB_PV_2AS_PROCS");
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
  EXPECT_EQ(r.console, "forkwait: 200 forks, 0 failures\n");
  EXPECT_GE(r.counters.get("pv.2as.log_replays"), 200u);  // at least one per fork
}

// Runs `cmdline` in pv@2as for `wall` with `var`=`val` set, reading the
// user process's CPU count (its affinity) while it runs; *before: this
// thread's affinity before the run. False: skip (the reason in *skip).
int g_user_cpus = -1;

RunResult run_reading_user_cpus(const char* var, const char* val, const char* cmdline,
                                std::chrono::milliseconds wall, cpu_set_t* before, std::string* skip) {
  RunResult r;
  if (sched_getaffinity(0, sizeof *before, before) != 0 || CPU_COUNT(before) < 2) {
    *skip = "one CPU: nothing to pin";
    return r;
  }
  setenv(var, val, 1);
  pid_t pid = 0;
  g_user_cpus = -1;
  r = run_2as(cmdline, wall, [](pid_t p) {
    cpu_set_t m;
    if (sched_getaffinity(p, sizeof m, &m) == 0) g_user_cpus = CPU_COUNT(&m);
  }, &pid, skip);
  unsetenv(var);
  return r;
}

// Both sides were on one CPU, neither spun, and this thread has its affinity back.
void expect_one_cpu_no_spin_affinity_restored(const RunResult& r, const cpu_set_t& before) {
  EXPECT_EQ(g_user_cpus, 1);
  EXPECT_EQ(r.counters.get("pv.2as.engine_spins") + r.counters.get("pv.2as.engine_spin_misses"), 0u);
  EXPECT_EQ(r.counters.get("pv.2as.user_spins") + r.counters.get("pv.2as.user_spin_misses"), 0u);
  cpu_set_t after;
  ASSERT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after)) << CPU_COUNT(&after) << " CPUs after, " << CPU_COUNT(&before) << " before";
}

// Both sides on the vCPU thread's CPU, no spinning, and the thread's own
// affinity back when the engine goes: VTB_PV_2AS_PIN=1 (for the whole run,
// pv.2as.pinned) and the default quiet mode (VTB_PV_2AS_QUIET=pin, one
// co-location in a quiet epoch; the gate off here: every epoch is quiet).
TEST(Pv2as, PinningAndQuietColocationPutBothSidesOnOneCpuAndRestoreTheThread) {
  setenv("VTB_PV_2AS_QUIET", "pin", 1);  // auto would spin for this stream of system calls
  struct Case {
    const char *var, *val, *cmdline, *counter;
  };
  for (const Case& c : {Case{"VTB_PV_2AS_PIN", "1", "compute 100000000", "pv.2as.pinned"},
                        Case{"VTB_PV_2AS_SPIN_GATE", "0", "micro_user syscall 200000 1", "pv.2as.colocations"}}) {
    cpu_set_t before;
    std::string skip = "unset";
    RunResult r = run_reading_user_cpus(c.var, c.val, c.cmdline, 1s, &before, &skip);
    if (!skip.empty()) GTEST_SKIP() << skip;
    EXPECT_NE(r.outcome, Outcome::EngineError) << c.var << ": " << r.message;
    EXPECT_EQ(r.counters.get(c.counter), 1u) << c.var;
    if (std::string(c.var) == "VTB_PV_2AS_PIN") {
      EXPECT_EQ(r.counters.get("pv.2as.spin_cap_ticks"), 0u);
    }
    expect_one_cpu_no_spin_affinity_restored(r, before);
  }
  unsetenv("VTB_PV_2AS_QUIET");
}


// Every hand-over is counted once on each side: a trap the engine caught
// spinning or after a futex wait, a resume the user process caught likewise.
// `spin_us`: VTB_PV_2AS_SPIN_US; VTB_PV_2AS_QUIET=spin and the contention
// gate off, so that spinning is tried whatever the host's load (counts only: which waits hit depends on it).
void expect_each_handoff_counted_once(const RunResult& r);

RunResult counted_syscalls(const char* spin_us, std::string* skip) {
  setenv("VTB_PV_2AS_SPIN_US", spin_us, 1);
  setenv("VTB_PV_2AS_SPIN_GATE", "0", 1);
  setenv("VTB_PV_2AS_QUIET", "spin", 1);
  pid_t pid = 0;
  RunResult r = run_2as("micro_user syscall 2000 1", 60s, nullptr, &pid, skip);
  unsetenv("VTB_PV_2AS_SPIN_US");
  unsetenv("VTB_PV_2AS_SPIN_GATE");
  unsetenv("VTB_PV_2AS_QUIET");
  if (skip->empty()) {
    EXPECT_EQ(r.outcome, Outcome::Exited) << r.message;
    expect_each_handoff_counted_once(r);
  }
  return r;
}

void expect_each_handoff_counted_once(const RunResult& r) {
  const uint64_t n = r.counters.get("pv.2as.handoffs");
  EXPECT_GE(n, 2000u);
  EXPECT_EQ(r.counters.get("pv.2as.engine_spins") + r.counters.get("pv.2as.engine_futex_waits"), n);
  EXPECT_EQ(r.counters.get("pv.2as.user_spins") + r.counters.get("pv.2as.user_futex_waits"), n);
  // A spin that ran out ends in a futex wait -- counted when the wait ends,
  // so each user process's last wait (for a resume that never comes: the
  // run is over) may be a miss without its wait.
  EXPECT_LE(r.counters.get("pv.2as.engine_spin_misses"), r.counters.get("pv.2as.engine_futex_waits"));
  EXPECT_LE(r.counters.get("pv.2as.user_spin_misses"),
            r.counters.get("pv.2as.user_futex_waits") + r.counters.get("pv.2as.procs"));
}

bool two_cpus() {
  cpu_set_t m;
  return sysconf(_SC_NPROCESSORS_ONLN) >= 2 && sched_getaffinity(0, sizeof m, &m) == 0 && CPU_COUNT(&m) >= 2;
}

TEST(Pv2as, SpinningHandOversAreCountedOncePerSide) {
  std::string skip = "unset";
  const RunResult r = counted_syscalls("30", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  if (!two_cpus()) {  // one CPU: futex only, whatever was asked
    EXPECT_EQ(r.counters.get("pv.2as.spin_cap_ticks"), 0u);
    EXPECT_EQ(r.counters.get("pv.2as.engine_spins") + r.counters.get("pv.2as.engine_spin_misses"), 0u);
    return;
  }
  EXPECT_GT(r.counters.get("pv.2as.spin_cap_ticks"), 0u);
  // The first wait after the start spins (no average yet): each side tried.
  EXPECT_GE(r.counters.get("pv.2as.engine_spins") + r.counters.get("pv.2as.engine_spin_misses"), 1u);
  EXPECT_GE(r.counters.get("pv.2as.user_spins") + r.counters.get("pv.2as.user_spin_misses"), 1u);
}

TEST(Pv2as, NoSpinningIsFutexOnlyOnBothSides) {
  std::string skip = "unset";
  const RunResult r = counted_syscalls("0", &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(r.counters.get("pv.2as.spin_cap_ticks"), 0u);
  for (const char* c : {"engine_spins", "engine_spin_misses", "user_spins", "user_spin_misses"})
    EXPECT_EQ(r.counters.get(std::string("pv.2as.") + c), 0u) << c;
  EXPECT_EQ(r.counters.get("pv.2as.engine_futex_waits"), r.counters.get("pv.2as.handoffs"));
}

// VTB_PV_2AS_QUIET=auto (the default), every epoch quiet (the gate off): a
// stream of system calls (resumes without mapping changes) spins once the
// boot's epochs are over; a stream of page faults (each resume maps the
// faulting page, so the user process blocks in a vetted mmap)
// stays co-located. Counts of the per-epoch choice, not timings. (A
// context switch carries none: each address space has its own process.)
TEST(Pv2as, AutoQuietModeSpinsForSystemCallsAndColocatesForMappings) {
  if (!two_cpus()) GTEST_SKIP() << "one CPU: nothing to spin on";
  setenv("VTB_PV_2AS_SPIN_GATE", "0", 1);
  std::string skip = "unset";
  pid_t pid = 0;
  const RunResult sys = run_2as("micro_user syscall 50000 1", 60s, nullptr, &pid, &skip);
  if (skip.empty()) {
    EXPECT_EQ(sys.outcome, Outcome::Exited) << sys.message;
    EXPECT_GT(sys.counters.get("pv.2as.spin_epochs"), sys.counters.get("pv.2as.pin_epochs"));
    EXPECT_GE(sys.counters.get("pv.2as.engine_spins") + sys.counters.get("pv.2as.engine_spin_misses"), 1u);
    expect_each_handoff_counted_once(sys);
    skip = "unset";
    const RunResult sw = run_2as("micro_user pgfault 2048 4 1", 60s, nullptr, &pid, &skip);
    EXPECT_EQ(sw.outcome, Outcome::Exited) << sw.message;
    EXPECT_GE(sw.counters.get("pv.2as.pin_epochs"), 1u);
    EXPECT_EQ(sw.counters.get("pv.2as.spin_epochs"), 0u);
    EXPECT_GE(sw.counters.get("pv.2as.colocations"), 1u);
  }
  unsetenv("VTB_PV_2AS_SPIN_GATE");
  if (!skip.empty()) GTEST_SKIP() << skip;
}

// A malformed setting is bad input with one line naming it, at load.
TEST(Pv2as, MalformedSpinSettingIsBadInput) {
  for (const auto& [var, val] : {std::pair{"VTB_PV_2AS_SPIN_US", "3x"}, std::pair{"VTB_PV_2AS_SPIN_US", "1001"},
                                 std::pair{"VTB_PV_2AS_SPIN_GATE", "maybe"}, std::pair{"VTB_PV_2AS_QUIET", "nap"}}) {
    PvOptions o;
    o.protect = PvProtect::TwoAs;
    auto eng = make_pv_engine(o);
    if (!eng->caps().available) GTEST_SKIP() << eng->caps().available.message();
    if (!std::ifstream(TBK_PV_ELF).good()) GTEST_SKIP() << "tbk.pv.elf not built";
    VmConfig cfg;
    cfg.mem_mib = 16;
    Status st;
    auto vm = Vm::create(cfg, std::move(eng), &st);
    ASSERT_TRUE(vm) << st.message();
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(read_file(TBK_PV_ELF, &bytes));
    GuestImage img;
    ASSERT_TRUE(parse_elf(std::move(bytes), TBK_PV_ELF, &img.kernel));
    img.cmdline = "compute 1";
    img.flavor = Flavor::Pv;
    setenv(var, val, 1);
    st = vm->load(img);
    unsetenv(var);
    EXPECT_EQ(st.kind(), ErrorKind::BadInput) << var << "=" << val << ": " << st.message();
    EXPECT_NE(st.message().find(var), std::string::npos) << st.message();
    EXPECT_EQ(st.message().find('\n'), std::string::npos) << st.message();
    EXPECT_EQ(user_process(), 0) << "a user process was left after a refused load";
  }
}

// The contention gate, on a run-queue file of the test's own: a sample is
// busy when more tasks run than there are CPUs; per 10 ms epoch quiet when at most a quarter of the samples (one a
// millisecond at most) were busy; the first verdict is the first sample's;
// a contended epoch holds the next 1, 2, 4, ... epochs contended.
void write_running(const std::string& path, long running) {
  std::ofstream(path, std::ios::trunc) << "0.50 0.40 0.30 " << running << "/100 4242\n";
}

TEST(Pv2asContention, RunQueueSamplesDecideEachEpoch) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const std::string la = ::testing::TempDir() + "/loadavg_" + std::to_string(getpid());
  const uint64_t t = 1000000000, e = CpuContention::kEpochNs, ms = CpuContention::kSampleNs;
  write_running(la, cpus + 1);  // one more than the CPUs
  EXPECT_FALSE(CpuContention(la.c_str()).quiet(t));
  EXPECT_TRUE(CpuContention(la.c_str()).quiet(t, 1));  // the one more is a thread of ours (a mapper awake)
  write_running(la, cpus + 2);
  EXPECT_FALSE(CpuContention(la.c_str()).quiet(t, 1));  // and one more that is not
  write_running(la, cpus);  // as many as the CPUs: quiet
  CpuContention c(la.c_str());
  EXPECT_TRUE(c.quiet(t));
  write_running(la, cpus + 1);
  EXPECT_TRUE(c.quiet(t + ms / 2));  // within a millisecond: no sample, the last verdict
  EXPECT_EQ(c.samples(), 1u);
  EXPECT_TRUE(c.quiet(t + ms));  // a busy sample; the epoch is not over
  for (uint64_t i = 2; i <= 9; ++i) {
    write_running(la, cpus);
    EXPECT_TRUE(c.quiet(t + i * ms)) << i;  // within the epoch: the first verdict
  }
  EXPECT_TRUE(c.quiet(t + e));  // 1 busy of 10: quiet
  for (uint64_t i = 1; i <= 10; ++i) {
    write_running(la, i % 2 ? cpus + 1 : cpus);  // half of them busy
    c.quiet(t + e + i * ms);
  }
  EXPECT_FALSE(c.quiet(t + 2 * e + ms));
  // Contention lasts: held off 1, then 2, 4 epochs between contended ones.
  uint64_t now = t + 2 * e + ms;
  const auto epoch = [&](long running) {  // ten samples, the verdict at the epoch's end
    write_running(la, running);
    for (uint64_t i = 1; i < 10; ++i) c.quiet(now + i * ms);
    now += 10 * ms;
    return c.quiet(now);
  };
  for (unsigned hold : {1u, 2u, 4u}) {
    for (unsigned k = 0; k < hold; ++k) EXPECT_FALSE(epoch(cpus)) << "held " << k << " of " << hold;
    EXPECT_FALSE(epoch(cpus + 1)) << "contended after a hold of " << hold;
  }
  for (unsigned k = 0; k < 8; ++k) EXPECT_FALSE(epoch(1)) << "held " << k << " of 8";
  EXPECT_TRUE(epoch(1));  // free again after the hold
  EXPECT_TRUE(epoch(1));
  EXPECT_FALSE(epoch(cpus + 1));  // after a quiet epoch the hold starts at 1 again
  EXPECT_FALSE(epoch(1));
  EXPECT_TRUE(epoch(1));
  EXPECT_EQ(c.quiet_epochs(), 4u);
  EXPECT_EQ(c.contended_epochs(), 4u + 1 + 2 + 4 + 8 + 1 + 1);
  std::remove(la.c_str());
  CpuContention none("/nonexistent/loadavg");  // nothing to go by: never spin
  EXPECT_FALSE(none.quiet(t));
  EXPECT_FALSE(none.quiet(t + e));
}

// The engine's process dies (SIGKILL, no destructor runs): its user process
// goes with it (parent-death signal), nothing is left running.
TEST(Pv2as, UserProcessDiesWithTheEngine) {
  if (!std::ifstream(TBK_PV_ELF).good()) GTEST_SKIP() << "tbk.pv.elf not built";
  const pid_t engine = fork();
  ASSERT_GE(engine, 0);
  if (engine == 0) {
    std::string skip;
    pid_t pid = 0;
    run_2as("compute 100000000", 60s, nullptr, &pid, &skip);
    _exit(0);
  }
  pid_t user = 0;
  for (int i = 0; i < 2000 && !(user = user_process(engine)); ++i) std::this_thread::sleep_for(5ms);
  ASSERT_GT(user, 0) << "no user process appeared";
  std::this_thread::sleep_for(100ms);
  kill(engine, SIGKILL);
  int st = 0;
  ASSERT_EQ(waitpid(engine, &st, 0), engine);
  bool gone = false;
  for (int i = 0; i < 400 && !gone; ++i) {  // the orphan is killed and reaped by init
    gone = kill(user, 0) != 0 && errno == ESRCH;
    if (!gone) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(gone) << "user process " << user << " outlived its engine";
}

}  // namespace
}  // namespace vtb::pv::test
