// tags: engines|bt|tests — desc: bt-softmmu probe covers (softmmu_cover.cpp): later accesses through the same base served by one probe; page-crossing spans, side exits, faults and self-modifying stores inside a cover.
#include <gtest/gtest.h>

#include <vector>

#include "engines/bt/tests/softmmu_fixture.h"

namespace vtb::bt {
namespace {

// (Each snippet ends with `out %al,$0xf4; jmp .`: the jump ends the block,
// so that the zero bytes after it are not translated as accesses.)
class SoftmmuCoverTest : public SoftmmuFixture {
 protected:
  // Every register the cover may borrow holds a known value; after the run
  // each one not named in `changed` must still hold it.
  void seed(Regs* r) {
    r->rsi = 0x5151, r->rdi = 0x5252, r->rbp = 0x5353, r->r8 = 0x5858, r->r9 = 0x5959, r->r10 = 0x5a5a,
    r->r11 = 0x5b5b, r->r12 = 0x5c5c, r->r13 = 0x5d5d, r->r14 = 0x5e5e, r->r15 = 0x5f5f;
  }
  void expect_seeded(const Regs& r) {
    EXPECT_EQ(r.rdi, 0x5252u);
    EXPECT_EQ(r.rbp, 0x5353u);
    EXPECT_EQ(r.r8, 0x5858u);
    EXPECT_EQ(r.r9, 0x5959u);
    EXPECT_EQ(r.r10, 0x5a5au);
    EXPECT_EQ(r.r11, 0x5b5bu) << "the cover's register is put back";
    EXPECT_EQ(r.r12, 0x5c5cu);
    EXPECT_EQ(r.r13, 0x5d5du);
    EXPECT_EQ(r.r14, 0x5e5eu);
    EXPECT_EQ(r.r15, 0x5f5fu);
  }
};

// compute's insertion-sort step: a store, the base moved, a load below it.
// L: mov %rcx,(%rax); sub $8,%rax; mov -8(%rax),%rdx; dec %ebx; jnz L; out %al,$0xf4
const std::vector<uint8_t> kStoreMoveLoad = {0x48, 0x89, 0x08, 0x48, 0x83, 0xe8, 0x08, 0x48, 0x8b, 0x50,
                                             0xf8, 0xff, 0xcb, 0x75, 0xf1, 0xe6, 0xf4, 0xeb, 0xfe};

// The load is served by the store's probe: one fill for the page, then hits.
TEST_F(SoftmmuCoverTest, LaterAccessThroughTheSameBaseSharesTheProbe) {
  put(0x2000e0, 0xe0e0);
  put(0x2000e8, 0xe8e8);
  Regs r;
  seed(&r);
  r.rax = 0x600100, r.rcx = 0x1111, r.rbx = 3;
  Exit e = run(kStoreMoveLoad, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0x6000e8u);
  EXPECT_EQ(r.rdx, 0xe0e0u) << "third round: the load of 0x6000e0";
  EXPECT_EQ(get(0x200100), 0x1111u);
  EXPECT_EQ(get(0x2000f8), 0x1111u);
  EXPECT_EQ(get(0x2000f0), 0x1111u);
  EXPECT_EQ(r.rsi, 0x5151u);
  expect_seeded(r);
  // the block goes on at its start after `jnz L` (the body twice, `jz` the
  // side exit): one probe for the load and the second round's store and load
  EXPECT_EQ(counter("softmmu.probes_covered"), 3u) << "translated once";
  EXPECT_EQ(counter("softmmu.tlb_miss"), 1u) << "the first store's fill; every later access hits";
  EXPECT_EQ(counter("bt.blocks_translated"), 2u) << "the loop's block and the one at `out` (its side exit)";
}

// The loop continued at the block's start, left from either round: an odd
// and an even number of rounds, each store and load where it belongs.
TEST_F(SoftmmuCoverTest, LoopBodyTwiceInOneBlockLeavesFromEitherRound) {
  for (uint64_t rounds = 1; rounds <= 4; ++rounds) {
    for (uint64_t i = 0; i < 8; ++i) put(0x2000c0 + 8 * i, 0xc0 + i);
    Regs r;
    seed(&r);
    r.rax = 0x600100, r.rcx = 0x1111, r.rbx = rounds;
    Exit e = run(kStoreMoveLoad, &r);
    ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
    EXPECT_EQ(r.rax, 0x600100 - 8 * rounds) << rounds;
    EXPECT_EQ(r.rbx, 0u);
    // round k stores at 0x600100 - 8(k-1) and loads 0x600100 - 8(k+1)
    EXPECT_EQ(r.rdx, 0xc7u - rounds) << rounds;
    EXPECT_EQ(get(0x200100 - 8 * (rounds - 1)), 0x1111u) << rounds;
    EXPECT_EQ(get(0x200100 - 8 * rounds), 0xc8u - rounds) << "not stored yet: " << rounds;
    expect_seeded(r);
  }
}

// The span of the first round crosses into the next page (another frame):
// the first access alone (here bouncing: it crosses too), then the rest from
// the next instruction's block.
TEST_F(SoftmmuCoverTest, SpanCrossingAPageTakesTheFirstAccessAlone) {
  put(0x200fe8, 0x1111111122222222ULL);
  put(0x200ff0, 0x3333333344444444ULL);
  put(0x200ff8, 0);
  put(0x280000, 0);
  Regs r;
  seed(&r);
  r.rax = 0x600ffc, r.rcx = 0x8877665544332211ULL, r.rbx = 1;
  Exit e = run(kStoreMoveLoad, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200ff8), 0x4433221100000000ULL);
  EXPECT_EQ(get(0x280000), 0x88776655u);
  EXPECT_EQ(r.rdx, 0x4444444411111111ULL) << "the load of 0x600fec";
  EXPECT_EQ(r.rax, 0x600ff4u);
  expect_seeded(r);
  EXPECT_EQ(counter("softmmu.bounce"), 1u);
  EXPECT_GE(counter("softmmu.probes_covered"), 1u);
}

// A side exit inside the span (jnz taken before the covered load) puts the
// cover's register back.
TEST_F(SoftmmuCoverTest, SideExitInsideTheSpanRestoresTheRegister) {
  put(0x2000f0, 0xf0f0);
  Regs r;
  seed(&r);
  r.rax = 0x600100, r.rcx = 0x2222, r.rdx = 0x77;
  // mov %rcx,(%rax); sub $8,%rax; jnz 1f; mov -8(%rax),%rdx; 1: out %al,$0xf4
  Exit e = run({0x48, 0x89, 0x08, 0x48, 0x83, 0xe8, 0x08, 0x75, 0x04, 0x48, 0x8b, 0x50, 0xf8, 0xe6, 0xf4, 0xeb, 0xfe}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200100), 0x2222u);
  EXPECT_EQ(r.rdx, 0x77u) << "the load was jumped over";
  EXPECT_EQ(r.rsi, 0x5151u);
  expect_seeded(r);
  EXPECT_EQ(counter("softmmu.probes_covered"), 1u);
  // rax = 8: the branch falls through to the covered load
  r = Regs{};
  seed(&r);
  r.rax = 0x600010, r.rcx = 0x3333;
  put(0x200000, 0xabab);
  // mov %rcx,(%rax); sub $8,%rax; jz 1f; mov -8(%rax),%rdx; 1: out
  e = run({0x48, 0x89, 0x08, 0x48, 0x83, 0xe8, 0x08, 0x74, 0x04, 0x48, 0x8b, 0x50, 0xf8, 0xe6, 0xf4, 0xeb, 0xfe}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rdx, 0xababu);
  EXPECT_EQ(get(0x200010), 0x3333u);
  expect_seeded(r);
}

// Faults stay precise: the first access's own (#PF, CR2, error code, nothing
// done, registers back), and a covered access whose page differs (the span
// crossed into an unmapped page) faults at its own instruction with the
// first one done.
TEST_F(SoftmmuCoverTest, FaultsArePreciseWithTheRegisterRestored) {
  // mov (%rax),%rdx; mov 8(%rax),%rcx; sub %rdi,%rdi; out  (0x700000 not mapped)
  const std::vector<uint8_t> two_loads = {0x48, 0x8b, 0x10, 0x48, 0x8b, 0x48, 0x08, 0x48, 0x29, 0xff, 0xe6, 0xf4, 0xeb, 0xfe};
  Regs r;
  seed(&r);
  r.rax = 0x700000, r.rcx = 0x99, r.rdx = 0x88;
  Exit e = run(two_loads, &r);
  ASSERT_NO_FATAL_FAILURE(expect_pf(e, r, 0x700000, 0));
  EXPECT_EQ(r.rcx, 0x99u);
  EXPECT_EQ(r.rdx, 0x88u);
  EXPECT_EQ(r.rsi, 0x5151u);
  expect_seeded(r);
  // 0x602ff8 is readable (read-only page), 0x603000 not mapped: the second load faults
  put(0x202ff8, 0x4242);
  r = Regs{};
  seed(&r);
  r.rax = 0x602ff8, r.rcx = 0x99, r.rdx = 0x88;
  e = run(two_loads, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.fault_addr, 0x603000u);
  EXPECT_EQ(r.rip, 0x400003u) << "at the covered load";
  EXPECT_EQ(r.rdx, 0x4242u) << "the first load done";
  EXPECT_EQ(r.rcx, 0x99u);
  expect_seeded(r);
  // mov %rcx,(%rax); mov %rdx,8(%rax); sub %rdi,%rdi on the read-only page: a write fault at the first store
  r = Regs{};
  seed(&r);
  r.rax = 0x602010, r.rcx = 1, r.rdx = 2;
  e = run({0x48, 0x89, 0x08, 0x48, 0x89, 0x50, 0x08, 0x48, 0x29, 0xff, 0xe6, 0xf4, 0xeb, 0xfe}, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.fault_addr, 0x602010u);
  EXPECT_EQ(e.error_code, 3u) << "present, write";
  EXPECT_EQ(r.rip, 0x400000u);
  EXPECT_EQ(get(0x202010), 0u);
  EXPECT_EQ(get(0x202018), 0u);
  expect_seeded(r);
  EXPECT_GE(counter("softmmu.probes_covered"), 2u);
}

// A covered store into the code's own frame: the frame holds translations, so
// the span's probe finds no write tag and the fill invalidates them; the
// patched immediate runs in the next round.
TEST_F(SoftmmuCoverTest, CoveredStoreIntoCodeIsSelfModifyingCode) {
  Regs r;
  r.rbx = 0x400000;
  // xor %ecx,%ecx; L: mov $1,%eax; inc %ecx; cmp $2,%ecx; je 1f; movb $0,0x30(%rbx);
  // add $0,%rsi; movb $2,0x3(%rbx); jmp L; 1: out %al,$0xf4
  Exit e = run({0x31, 0xc9, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xff, 0xc1, 0x83, 0xf9, 0x02, 0x74, 0x0e, 0xc6, 0x43,
                0x30, 0x00, 0x48, 0x83, 0xc6, 0x00, 0xc6, 0x43, 0x03, 0x02, 0xeb, 0xe6, 0xe6, 0xf4, 0xeb, 0xfe},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax & 0xff, 2u) << "the patched immediate must be executed";
  EXPECT_GE(counter("bt.tc_invalidate"), 1u);
  EXPECT_GE(mmu_.stats().code_store, 1u);
  EXPECT_GE(counter("softmmu.probes_covered"), 1u) << "the patching store was covered";
}

// A scratch register the next instructions overwrite before reading it is
// not reloaded after the access (nothing between can see it); a fault at the
// access still puts it back. The same for a cover's register after its span.
TEST_F(SoftmmuCoverTest, DeadScratchRegisterIsNotReloaded) {
  Regs r;
  seed(&r);
  r.rax = 0x600200, r.rcx = 0x4444;
  // mov %rcx,(%rax); mov $7,%r11d; out %al,$0xf4
  const std::vector<uint8_t> code = {0x48, 0x89, 0x08, 0x41, 0xbb, 0x07, 0x00, 0x00, 0x00, 0xe6, 0xf4, 0xeb, 0xfe};
  Exit e = run(code, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200200), 0x4444u);
  EXPECT_EQ(r.r11, 7u);
  EXPECT_EQ(r.r10, 0x5a5au);
  EXPECT_EQ(counter("softmmu.scratch_dead"), 1u);
  r = Regs{};
  seed(&r);
  r.rax = 0x700000, r.rcx = 0x4444;
  e = run(code, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.fault_addr, 0x700000u);
  EXPECT_EQ(r.rip, 0x400000u);
  expect_seeded(r);
  // a cover whose register is overwritten after the span:
  // mov %rcx,(%rax); mov 8(%rax),%rdx; sub %rdi,%rdi; mov %rdx,%r11; out
  r = Regs{};
  seed(&r);
  r.rax = 0x600300, r.rcx = 0x5555;
  put(0x200308, 0x6666);
  e = run({0x48, 0x89, 0x08, 0x48, 0x8b, 0x50, 0x08, 0x48, 0x29, 0xff, 0x49, 0x89, 0xd3, 0xe6, 0xf4, 0xeb, 0xfe}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200300), 0x5555u);
  EXPECT_EQ(r.rdx, 0x6666u);
  EXPECT_EQ(r.r11, 0x6666u);
  EXPECT_EQ(r.r10, 0x5a5au);
  EXPECT_EQ(r.rdi, 0u);
  EXPECT_EQ(counter("softmmu.probes_covered"), 1u);
  EXPECT_EQ(counter("softmmu.scratch_dead"), 3u) << "the first run's twice, the cover's";
}

}  // namespace
}  // namespace vtb::bt
