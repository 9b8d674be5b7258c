// tags: engines|bt|tests — desc: check hoisting on self-loops: a decreasing-pointer loop enters past its address check, results as native; upward walks, walks down from the upper user range and below 0 still stop.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "engines/bt/tests/machine_suite.h"
#include "engines/bt/tests/snippet.h"
#include "engines/bt/tests/user_mode.h"

namespace vtb::bt::test {
namespace {

class LoopHoist : public MachineSuite<LoopHoist> {
 protected:
  // Guest memory at [at, at + len) for one test (PROT_NONE again afterwards).
  struct Pages {
    Pages(Machine& m, uint64_t at, size_t len) : at(at), len(len) {
      ok = mmap(reinterpret_cast<void*>(at), len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                0) != MAP_FAILED;
      if (ok) m.mem.add(at, len, true, false);
    }
    ~Pages() {
      mmap(reinterpret_cast<void*>(at), len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    }
    uint64_t at;
    size_t len;
    bool ok = false;
  };
};

// compute's insertion-sort inner loop (buf[j+1] = buf[j]; j-- while buf[j] > v):
//   top: mov %r15,(%rax); sub $8,%rax; sub $1,%edx; je out; mov -8(%rax),%r15; cmp %r15,%rcx; jb top; out:
const std::vector<uint8_t> kShiftLoop = {0x4c, 0x89, 0x38, 0x48, 0x83, 0xe8, 0x08, 0x83, 0xea, 0x01, 0x74, 0x09,
                                         0x4c, 0x8b, 0x78, 0xf8, 0x4c, 0x39, 0xf9, 0x72, 0xeb};

// The loop's store check is hoisted (its base moves by -8 per iteration):
// the back edge is chained past it, and registers and memory are those of
// the same bytes run natively — for an exit by each of the two branches.
TEST_F(LoopHoist, DecreasingPointerLoopEntersPastItsCheckAndMatchesNative) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  Regs w = user_regs();
  ASSERT_EQ(m_->run_bt({0x48, 0x83, 0xc2, 0x01}, &w).kind, ExitKind::PortIo);  // the end stub's translation first
  struct Case { const char* what; uint64_t v; uint32_t n; };
  const Case cases[] = {{"shifts all, counter ends it", 5, 300}, {"stops at a smaller element", 2005, 1000}};
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    auto fill = [&] {
      auto* buf = reinterpret_cast<uint64_t*>(m_->data());
      for (int i = 0; i < 0x400; ++i) buf[i] = 10 * uint64_t(i);
    };
    Regs r = user_regs();
    r.rax = kData + 8 * 0x3ff;  // &buf[j + 1], j = 0x3fe
    r.r15 = 10 * 0x3fe;         // buf[j]
    r.rcx = k.v;
    r.rdx = k.n;
    Regs n = r;
    fill();
    m_->run_native(kShiftLoop, &n);
    std::vector<uint8_t> native(m_->data(), m_->data() + 0x2000);
    fill();
    const uint64_t h0 = counter("bt.user_checks_hoisted"), c0 = counter("bt.loop_entries_chained");
    const uint64_t f0 = counter("bt.user_isolation_faults");
    Exit e = m_->run_bt(kShiftLoop, &r);
    ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
    EXPECT_EQ(r.rax, n.rax);
    EXPECT_EQ(r.rdx, n.rdx);
    EXPECT_EQ(r.r15, n.r15);
    EXPECT_EQ(r.rflags & 0xcd5, n.rflags & 0xcd5);
    EXPECT_EQ(memcmp(native.data(), m_->data(), native.size()), 0) << "memory differs from the native run";
    EXPECT_GE(counter("bt.user_checks_hoisted") - h0, 1u) << "the store's check at the loop head is hoisted";
    EXPECT_GE(counter("bt.loop_entries_chained") - c0, 1u) << "the back edge is chained past it";
    EXPECT_EQ(counter("bt.user_isolation_faults") - f0, 0u);
  }
}

// (Each test runs its code at its own address: a retranslation with the
// exact check is remembered per guest pc for the whole suite.)

// A base that moves up is never hoisted (it walks toward the hole): a loop
// in the low range keeps its check, and one walking up into the host's range
// in the second GiB is stopped there by it (the guest's #PF, nothing written).
TEST_F(LoopHoist, UpwardWalkKeepsItsCheckAndStopsAtTheHole) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  // top: mov %rsi,(%rax); add $8,%rax; sub $1,%edx; jne top
  Regs r = user_regs();
  r.rax = kData;
  r.rdx = 100;
  r.rsi = 0x77;
  const uint64_t h0 = counter("bt.user_checks_hoisted"), c0 = counter("bt.loop_entries_chained");
  Exit e = m_->run_bt({0x48, 0x89, 0x30, 0x48, 0x83, 0xc0, 0x08, 0x83, 0xea, 0x01, 0x75, 0xf4}, &r, kCode + 0x100);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, kData + 800);
  EXPECT_EQ(reinterpret_cast<uint64_t*>(m_->data())[99], 0x77u);
  EXPECT_EQ(counter("bt.user_checks_hoisted") - h0, 0u);
  EXPECT_EQ(counter("bt.loop_entries_chained") - c0, 0u);
  // top: mov %rsi,(%rax); add $8,%rax; jmp top — from two pages below the hole
  Pages below(*m_, VTB_HOST_RESERVED_USER_LO - 0x2000, 0x2000);
  ASSERT_TRUE(below.ok);
  Regs u = user_regs();
  u.rax = below.at;
  u.rsi = 0x99;
  const uint64_t f0 = counter("bt.user_isolation_faults");
  e = m_->run_bt({0x48, 0x89, 0x30, 0x48, 0x83, 0xc0, 0x08, 0xeb, 0xf7}, &u, kCode + 0x200);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 6, VTB_HOST_RESERVED_USER_LO, kCode + 0x200));  // user write, not present
  EXPECT_EQ(u.rax, VTB_HOST_RESERVED_USER_LO);
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(VTB_HOST_RESERVED_USER_LO - 8), 0x99u);
  EXPECT_EQ(counter("bt.user_isolation_faults") - f0, 1u) << "stopped by the check";
}

// Writes to ah/ch/dh/bh (byte registers 4..7 without REX) change rax..rbx:
// they drop the base's cover like any write, so this loop — whose tracked
// moves net 0 while each iteration carries 64 KiB into rax — keeps its check
// and is stopped at the hole.
TEST_F(LoopHoist, HighByteWritesDropTheBase) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  Pages below(*m_, VTB_HOST_RESERVED_USER_LO - kCheckMaxDisp - 0x40000, kCheckMaxDisp + 0x40000);
  ASSERT_TRUE(below.ok);
  // top: mov (%rax),%rbx; mov $0xff,%ah (c6 /0); add $0x100,%rax; mov $1,%ah; sub $0x100,%rax; jmp top
  const std::vector<uint8_t> code = {0x48, 0x8b, 0x18, 0xc6, 0xc4, 0xff, 0x48, 0x81, 0xc0, 0x00, 0x01, 0x00, 0x00,
                                     0xc6, 0xc4, 0x01, 0x48, 0x81, 0xe8, 0x00, 0x01, 0x00, 0x00, 0xeb, 0xe7};
  Regs r = user_regs();
  r.rax = below.at;  // on the quick check's fast side for 4 iterations
  const uint64_t h0 = counter("bt.user_checks_hoisted"), f0 = counter("bt.user_isolation_faults");
  Exit e = m_->run_bt(code, &r, kCode + 0x500);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 4, VTB_HOST_RESERVED_USER_LO, kCode + 0x500));  // user read, not present
  EXPECT_EQ(counter("bt.user_checks_hoisted") - h0, 0u);
  EXPECT_EQ(counter("bt.user_isolation_faults") - f0, 1u) << "stopped by the check";
  // mov (%rax),%rbx; xchg %r8,%rax (49 90, not a nop); sub $8,%rax; jmp top: not hoisted either
  Regs x = user_regs();
  x.rax = kData + 0x100;
  x.r8 = VTB_HOST_RESERVED_USER_LO + 0x100;  // swapped in on the first iteration
  const uint64_t h1 = counter("bt.user_checks_hoisted"), f1 = counter("bt.user_isolation_faults");
  e = m_->run_bt({0x48, 0x8b, 0x18, 0x49, 0x90, 0x48, 0x83, 0xe8, 0x08, 0xeb, 0xf5}, &x, kCode + 0x600);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 4, VTB_HOST_RESERVED_USER_LO + 0xf8, kCode + 0x600));
  EXPECT_EQ(counter("bt.user_checks_hoisted") - h1, 0u);
  EXPECT_EQ(counter("bt.user_isolation_faults") - f1, 1u);
}

// A decreasing base in the upper user range passes the hoisted check only on
// its slow side, and from there it would walk into the hole: that side exits,
// the instruction is retranslated with the exact check, and the walk stops at
// the hole's top with the guest's #PF.
TEST_F(LoopHoist, DownwardWalkFromTheUpperRangeStopsAtTheHole) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  Pages upper(*m_, VTB_HOST_RESERVED_USER_HI, kCheckMaxDisp + 0x2000);
  ASSERT_TRUE(upper.ok);
  // top: mov %rsi,(%rax); sub $0x1000,%rax; jmp top
  Regs r = user_regs();
  r.rax = VTB_HOST_RESERVED_USER_HI + kCheckMaxDisp + 0x1000;  // above the quick check's widened bound
  r.rsi = 0x5a5a;
  const uint64_t h0 = counter("bt.user_checks_hoisted"), f0 = counter("bt.user_isolation_faults");
  const uint64_t i0 = counter("bt.tc_invalidate");
  Exit e = m_->run_bt({0x48, 0x89, 0x30, 0x48, 0x81, 0xe8, 0x00, 0x10, 0x00, 0x00, 0xeb, 0xf4}, &r, kCode + 0x300);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 6, VTB_HOST_RESERVED_USER_HI - 0x1000, kCode + 0x300));
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(VTB_HOST_RESERVED_USER_HI), 0x5a5au) << "the walk ran down to the range's bottom";
  EXPECT_GE(counter("bt.user_checks_hoisted") - h0, 1u) << "the first translation hoisted it";
  EXPECT_EQ(counter("bt.tc_invalidate") - i0, 1u) << "one block dropped: the retranslation with the exact check";
  EXPECT_EQ(counter("bt.user_isolation_faults") - f0, 1u) << "stopped by the (exact) check";
}

// A base that wraps below 0 on the hoisted path: its accesses lie in the
// host kernel half (2^64 - 2 MiB up) or wrap to the bottom of the user range;
// the host's #PF there becomes the guest's #PF, the host goes on.
TEST_F(LoopHoist, DownwardWalkBelowZeroEndsInAGuestFault) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  Pages low(*m_, VTB_WINDOW_LO, 0x41000);
  ASSERT_TRUE(low.ok);
  for (uint64_t a : {0x10000, 0x30000, 0x50000}) *reinterpret_cast<uint64_t*>(a) = a + 1;
  // top: mov (%rax),%rbx; sub $0x20000,%rax; jmp top — 0x50000, 0x30000, 0x10000, then -0x10000
  Regs r = user_regs();
  r.rax = 0x50000;
  const uint64_t h0 = counter("bt.user_checks_hoisted"), c0 = counter("bt.loop_entries_chained");
  const uint64_t f0 = counter("bt.user_isolation_faults");
  Exit e = m_->run_bt({0x48, 0x8b, 0x18, 0x48, 0x81, 0xe8, 0x00, 0x00, 0x02, 0x00, 0xeb, 0xf4}, &r, kCode + 0x400);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 4, uint64_t(-0x10000), kCode + 0x400));  // user read, not present
  EXPECT_EQ(r.rax, uint64_t(-0x10000));
  EXPECT_EQ(r.rbx, 0x10001u);
  EXPECT_GE(counter("bt.user_checks_hoisted") - h0, 1u);
  EXPECT_GE(counter("bt.loop_entries_chained") - c0, 1u);
  EXPECT_EQ(counter("bt.user_isolation_faults") - f0, 0u) << "a host fault, not the check, stopped it";
  // The runtime still works.
  Regs k = user_regs();
  EXPECT_EQ(m_->run_bt({0x48, 0x83, 0xc2, 0x01}, &k).kind, ExitKind::PortIo);
}

}  // namespace
}  // namespace vtb::bt::test
