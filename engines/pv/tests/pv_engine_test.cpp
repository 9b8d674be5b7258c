// tags: engines|pv|tests — desc: pv engine with the hand-written test guest: hypercalls, faults, timer, limits, user mode.
#include <gtest/gtest.h>

#include "engines/pv/tests/pv_test_util.h"

namespace vtb::pv::test {
namespace {

using namespace std::chrono_literals;

RunResult guest(const std::string& scenario, std::chrono::milliseconds wall = 20s, PvOptions opts = {}) {
  RunResult r;
  std::string skip;
  if (!run_pv(PV_TEST_GUEST, scenario, {}, wall, &r, &skip, opts)) {
    r.outcome = Outcome::EngineError;
    r.message = "SKIP: " + skip;
  }
  return r;
}

#define SKIP_IF_UNAVAILABLE(r) \
  if ((r).message.rfind("SKIP: ", 0) == 0) GTEST_SKIP() << (r).message

// The guest ran its scenario to the end: exit 0, no failed check.
void expect_clean_exit(const RunResult& r) {
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_EQ(r.console.find("FAILED"), std::string::npos) << r.console;
}

TEST(PvEngine, Caps) {
  PvOptions m;
  m.protect = PvProtect::Mprotect;
  auto e = make_pv_engine(m);
  const Caps c = e->caps();
  EXPECT_EQ(c.flavor, Flavor::Pv);
  EXPECT_TRUE(c.owns_address_window);
  EXPECT_EQ(c.backend, "pv@mprotect");
  EXPECT_EQ(e->name(), "pv");
  PvOptions o;
  o.protect_kernel = false;
  EXPECT_EQ(make_pv_engine(o)->caps().backend, "pv@off");
}

TEST(PvEngine, HypercallsConsoleAndPortIo) {
  RunResult r = guest("hello");
  SKIP_IF_UNAVAILABLE(r);
  expect_clean_exit(r);
  EXPECT_NE(r.console.find("hello from a pv guest\n"), std::string::npos) << r.console;
  EXPECT_EQ(r.counters.get("exit.hypercall.null"), 101u);  // 100 + one inside the multicall
  EXPECT_GE(r.counters.get("exit.hypercall.console_io"), 6u);
  EXPECT_EQ(r.counters.get("exit.hypercall.multicall"), 1u);
  EXPECT_EQ(r.counters.get("exit.hypercall.io"), 2u);  // the UART read and the exit port
}

TEST(PvEngine, MmuUpdateValidation) {
  RunResult r = guest("mmu");
  SKIP_IF_UNAVAILABLE(r);
  for (const char* line :
       {"user page reflected: ok", "frame beyond RAM refused: ok", "engine's shared frame refused: ok",
        "writable mapping of a page table refused: ok", "read-only mapping of a page table allowed: ok",
        "page table readable through it: ok", "unaligned base pointer refused: ok",
        "base pointer beyond RAM refused: ok", "level-1 table as base pointer refused: ok",
        "bogus base pointer refused: ok", "PML4 linked as a page table refused: ok",
        "mapping into the host-reserved range refused: ok", "engine consistent after refusals: ok",
        "batch reflected: ok", "remap reflected: ok"})
    EXPECT_NE(r.console.find(line), std::string::npos) << line << "\n" << r.console;
  EXPECT_EQ(r.console.find("FAILED"), std::string::npos) << r.console;
  // The guest then ignores the rules and writes a page table: a typed exit.
  EXPECT_EQ(r.outcome, Outcome::GuestFault) << r.message;
  EXPECT_NE(r.message.find("vector 14"), std::string::npos) << r.message;
  EXPECT_GE(r.counters.get("mmu.validated_update"), 10u);
  EXPECT_GE(r.counters.get("mmu.update_batch.2_8"), 2u);
  EXPECT_GE(r.counters.get("mmu.update_batch.1"), 8u);
  EXPECT_GT(r.counters.get("pv.map_ops"), 0u);
}

TEST(PvEngine, ReleasedTableStaysReadOnlyUntilWritten) {
  RunResult r = guest("stale");
  SKIP_IF_UNAVAILABLE(r);
  expect_clean_exit(r);
  EXPECT_EQ(r.counters.get("pv.stale_table_release"), 1u);
}

TEST(PvEngine, FaultReflection) {
  RunResult r = guest("trap");
  SKIP_IF_UNAVAILABLE(r);
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  for (const char* v : {"0", "3", "6", "13", "14"})
    EXPECT_EQ(r.counters.get(std::string("fault.reflected.") + v), 1u) << v;
}

TEST(PvEngine, TimerUpcallsFollowVirtualIf) {
  RunResult r = guest("timer");
  SKIP_IF_UNAVAILABLE(r);
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_GE(r.counters.get("pv.events_delivered"), 7u);
  EXPECT_EQ(r.counters.get("pv.block"), 1u);
}

TEST(PvEngine, WallLimitStopsSpinningGuestWithEventsOff) {
  RunResult r = guest("spin", 300ms);
  SKIP_IF_UNAVAILABLE(r);
  EXPECT_EQ(r.outcome, Outcome::LimitReached) << r.message;
  EXPECT_LT(r.wall_seconds, 5.0);
}

// Every protecting mode keeps guest user code out of guest-kernel memory
// (pkeys: through its shim, pv_protect_test.cpp).
class PvIsolation : public ::testing::TestWithParam<PvProtect> {};

TEST_P(PvIsolation, UserSyscallsBounceAndKernelMemoryIsProtected) {
  PvOptions m;
  m.protect = GetParam();
  RunResult r = guest("user", 20s, m);
  SKIP_IF_UNAVAILABLE(r);
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("user killed: page fault at 0x0000080000100000"), std::string::npos) << r.console;
  EXPECT_EQ(r.counters.get("pv.syscall_bounce"), 101u);
  EXPECT_EQ(r.counters.get("pv.int80_refused"), 1u);
  EXPECT_EQ(r.counters.get("pv.sysenter_refused"), 1u);
  EXPECT_EQ(r.counters.get("fault.reflected.13"), 1u);
  EXPECT_EQ(r.counters.get("fault.reflected.6"), 1u);
  EXPECT_EQ(r.counters.get("fault.reflected.14"), 1u);
  const uint64_t bounces = r.counters.get("pv.syscall_bounce"), ops = r.counters.get("pv.kernel_protect_ops");
  if (GetParam() == PvProtect::Mprotect) {
    // One mprotect to protect on each return to user mode, one (plus one per
    // run of page-table frames) to unprotect on each entry to the kernel.
    EXPECT_GE(ops, 2 * bounces);
    EXPECT_LE(ops, 5 * bounces);
  } else {
    // pv@2as: no protection switch at all; every user entry is a handoff to
    // the user process, which took each syscall and fault as a trap.
    EXPECT_LT(ops, 10u);
    EXPECT_GE(r.counters.get("pv.2as.handoffs"), bounces + 3);
    EXPECT_GE(r.counters.get("pv.2as.user_mmaps"), 1u);
    // Every mapping of the user process came through its mapper thread, one
    // read-only log per resume that carried changes (each log: >= 1 entry).
    EXPECT_GE(r.counters.get("pv.2as.mapper_logs"), 1u);
    EXPECT_GE(r.counters.get("pv.2as.user_mmaps"), r.counters.get("pv.2as.mapper_logs"));
    EXPECT_LE(r.counters.get("pv.2as.user_mmaps"), r.counters.get("pv.2as.log_entries"));
    EXPECT_EQ(r.counters.get("pv.2as.handoffs"),
              r.counters.get("pv.2as.engine_spins") + r.counters.get("pv.2as.engine_futex_waits"));
    EXPECT_EQ(r.counters.get("pv.2as.handoffs"),
              r.counters.get("pv.2as.user_spins") + r.counters.get("pv.2as.user_futex_waits"));
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, PvIsolation, ::testing::Values(PvProtect::Mprotect, PvProtect::TwoAs),
                         [](const auto& info) { return std::string(pv_protect_name(info.param)) == "2as"
                                                           ? std::string("TwoAs")
                                                           : std::string(pv_protect_name(info.param)); });

TEST(PvEngine, UnprotectedModeIsReallyUnprotected) {
  PvOptions o;
  o.protect_kernel = false;
  RunResult r = guest("user", 20s, o);
  SKIP_IF_UNAVAILABLE(r);
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message;
  EXPECT_EQ(r.exit_code, 1);  // the user program read kernel memory and reported it
  EXPECT_NE(r.console.find("user program: FAILED"), std::string::npos) << r.console;
}

TEST(PvEngine, HypercallWithUnusableStackIsATypedExit) {
  RunResult r = guest("badstack");
  SKIP_IF_UNAVAILABLE(r);
  EXPECT_EQ(r.outcome, Outcome::GuestFault) << r.message;
  EXPECT_NE(r.message.find("unreadable guest stack"), std::string::npos) << r.message;
}

TEST(PvEngine, IretWithUnreadableFrameIsATypedExit) {
  RunResult r = guest("badiret");
  SKIP_IF_UNAVAILABLE(r);
  EXPECT_EQ(r.outcome, Outcome::GuestFault) << r.message;
  EXPECT_NE(r.message.find("iret with an unreadable frame"), std::string::npos) << r.message;
}

TEST(PvEngine, RejectsNativeFlavorImage) {
  auto eng = make_pv_engine();
  if (!eng->caps().available) GTEST_SKIP() << eng->caps().available.message();
  VmConfig cfg;
  cfg.mem_mib = 16;
  Status st;
  auto vm = Vm::create(cfg, std::move(eng), &st);
  ASSERT_TRUE(vm);
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(read_file(PV_TEST_GUEST, &bytes));
  GuestImage img;
  ASSERT_TRUE(parse_elf(std::move(bytes), "tg", &img.kernel));
  img.flavor = Flavor::Native;
  st = vm->load(img);
  EXPECT_FALSE(st);
  EXPECT_EQ(st.kind(), ErrorKind::BadInput);
}

}  // namespace
}  // namespace vtb::pv::test
