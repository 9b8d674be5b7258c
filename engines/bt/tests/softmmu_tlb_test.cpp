// tags: engines|bt|tests — desc: bt-softmmu's TLB as the architecture allows it: global entries across CR3 loads (CR4.PGE), invlpg of a 2 MiB page and of one index, the emulator's accesses (exception frame, IDT, iretq) served by the TLB: a #PF round trip with the TLB warm walks twice and exits 4 times (mov %cr2 inline).
#include <gtest/gtest.h>

#include <vector>

#include "engines/bt/tests/softmmu_fixture.h"

namespace vtb::bt {
namespace {

class SoftmmuTlbTest : public SoftmmuFixture {
 protected:
  void SetUp() override {
    setup(true);  // exceptions through the guest IDT
    put(0x5000 + 3 * 8, 0x5000 | 7);  // 0x603000: the data page table itself (the guest edits its PTEs there)
    put(0x200000, 0xaa);
    put(0x280000, 0xbb);
    put(0x210000, 0xcc);
    put(0x290000, 0xdd);
  }
};

// mov 0x600000,%rax; mov 0x601000,%rbx; out %al,$0xf4
const std::vector<uint8_t> kLoadBoth = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0x8b,
                                        0x1c, 0x25, 0x00, 0x10, 0x60, 0x00, 0xe6, 0xf4};

// CR4.PGE set: a CR3 load keeps the entry of a page whose PTE has G (it may
// stay stale until invlpg, as on the hardware) and drops the others; a CR4
// write drops the global ones too.
TEST_F(SoftmmuTlbTest, GlobalEntriesSurviveACr3LoadNonGlobalOnesDoNot) {
  put(0x5000, 0x200000 | 0x107);  // 0x600000: global
  Regs r;
  r.cr4 = 0xa0;  // PAE, PGE
  ASSERT_EQ(run(kLoadBoth, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xaau);
  EXPECT_EQ(r.rbx, 0xbbu);
  put(0x5000, 0x210000 | 0x107);  // both PTEs now name other frames, no invlpg
  put(0x5008, 0x290000 | 7);
  const uint64_t kept = counter("softmmu.tlb_kept_global");
  r = Regs{};
  r.cr4 = 0xa0;
  // mov %cr3,%rcx; mov %rcx,%cr3; (kLoadBoth)
  std::vector<uint8_t> code = {0x0f, 0x20, 0xd9, 0x0f, 0x22, 0xd9};
  code.insert(code.end(), kLoadBoth.begin(), kLoadBoth.end());
  ASSERT_EQ(run(code, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xaau) << "the global entry survived the CR3 load";
  EXPECT_EQ(r.rbx, 0xddu) << "the non-global one did not";
  EXPECT_GE(counter("softmmu.tlb_kept_global"), kept + 1);
  r = Regs{};
  r.cr4 = 0xa0;
  // mov %cr4,%rcx; mov %rcx,%cr4; (kLoadBoth)
  code = {0x0f, 0x20, 0xe1, 0x0f, 0x22, 0xe1};
  code.insert(code.end(), kLoadBoth.begin(), kLoadBoth.end());
  ASSERT_EQ(run(code, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xccu) << "a CR4 write drops global entries";
}

// set_regs with other paging registers (a new vCPU state) keeps no entry, global or not.
TEST_F(SoftmmuTlbTest, SetRegsWithOtherPagingRegistersDropsGlobalEntries) {
  put(0x5000, 0x200000 | 0x107);
  Regs r;
  r.cr4 = 0xa0;
  ASSERT_EQ(run(kLoadBoth, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xaau);
  put(0x5000, 0x210000 | 0x107);
  r = Regs{};
  r.cr4 = 0x2a0;  // OSFXSR too
  ASSERT_EQ(run(kLoadBoth, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xccu);
}

// Without CR4.PGE the G bit means nothing: a CR3 load drops that entry.
TEST_F(SoftmmuTlbTest, GlobalBitWithoutPgeIsFlushedByCr3) {
  put(0x5000, 0x200000 | 0x107);
  Regs r;
  r.cr4 = 0x20;
  // mov 0x600000,%rax; movq $0x210107,0x603000 (the PTE); mov %cr3,%rcx; mov %rcx,%cr3; mov 0x600000,%rbx; out
  ASSERT_EQ(run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x30, 0x60, 0x00,
                 0x07, 0x01, 0x21, 0x00, 0x0f, 0x20, 0xd9, 0x0f, 0x22, 0xd9, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00,
                 0x60, 0x00, 0xe6, 0xf4},
                &r)
                .kind,
            ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xaau);
  EXPECT_EQ(r.rbx, 0xccu);
}

// invlpg of any address in a 2 MiB page drops every entry filled from it
// (here the one of another 4 KiB piece of it, at another index).
TEST_F(SoftmmuTlbTest, InvlpgDropsEveryEntryOfALargePage) {
  put(0x3000 + 4 * 8, 0x200000 | 0x87);  // va 0x800000: a 2 MiB page at gpa 0x200000
  put(0x201000, 0x11);
  Regs r;
  // mov 0x801000,%rax; out
  ASSERT_EQ(run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x80, 0x00, 0xe6, 0xf4}, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0x11u);
  put(0x3000 + 4 * 8, 0x000000 | 0x87);  // now gpa 0: va 0x801000 is gpa 0x1000 (the PML4)
  r = Regs{};
  const std::vector<uint8_t> invlpg_then_load = {0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x80, 0x00,  // invlpg 0x800000
                                                 0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x80, 0x00,  // mov 0x801000,%rax
                                                 0xe6, 0xf4};
  ASSERT_EQ(run(invlpg_then_load, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, get(0x1000)) << "the entry of 0x801000 went with the invlpg of 0x800000";
}

// invlpg drops the page's own entries: another page at the same index stays.
TEST_F(SoftmmuTlbTest, InvlpgKeepsOtherPagesEntries) {
  Regs r;
  // mov 0x600000,%rax; invlpg 0xa00000 (same index, not cached); mov 0x600000,%rbx; out
  const uint64_t miss = counter("softmmu.tlb_miss");
  ASSERT_EQ(run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0xa0, 0x00, 0x48,
                 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4},
                &r)
                .kind,
            ExitKind::PortIo);
  EXPECT_EQ(r.rbx, 0xaau);
  EXPECT_EQ(counter("softmmu.tlb_miss"), miss + 1) << "0x600000 filled once";
}

// k page faults at 0x604000 (not present), each resolved by the guest's
// handler (maps it, iretq) and unmapped again (PTE cleared, invlpg) by the
// loop. The IDT read, the exception frame and iretq's pops hit the TLB.
std::vector<uint8_t> fault_loop(uint8_t k) {
  // mov $0x604000,%ebx; mov $k,%esi; L: movq $1,(%rbx); movq $0,0x603020; invlpg (%rbx); dec %esi; jnz L; out
  std::vector<uint8_t> c = {0xbb, 0x00, 0x40, 0x60, 0x00, 0xbe, k,    0x00, 0x00, 0x00, 0x48, 0xc7,
                            0x03, 0x01, 0x00, 0x00, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x20, 0x30, 0x60,
                            0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x01, 0x3b, 0xff, 0xce, 0x75, 0xe6, 0xe6, 0xf4};
  c.resize(0x100, 0x90);
  // 0x400100: mov %cr2,%rdi; add $8,%rsp (the error code); movq $0x204007,0x603020 (present, writable); iretq
  const std::vector<uint8_t> h = {0x0f, 0x20, 0xd7, 0x48, 0x83, 0xc4, 0x08, 0x48, 0xc7, 0x04, 0x25,
                                  0x20, 0x30, 0x60, 0x00, 0x07, 0x40, 0x20, 0x00, 0x48, 0xcf};
  c.insert(c.end(), h.begin(), h.end());
  return c;
}

TEST_F(SoftmmuTlbTest, PageFaultRoundTripWithAWarmTlbWalksTwice) {
  // IDT at va 0x600400: vector 14 -> 0x400100, kernel code selector, interrupt gate.
  const uint64_t gate = 0x0100 | (0x08ULL << 16) | (0xeULL << 40) | (1ULL << 47) | (0x0040ULL << 48);
  put(0x200400 + 14 * 16, gate);
  put(0x200400 + 14 * 16 + 8, 0);
  auto go = [&](uint8_t k) {
    Regs r;
    r.idt_base = 0x600400;
    r.idt_limit = 0xfff;
    const Exit e = run(fault_loop(k), &r);
    ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
    EXPECT_EQ(r.rsi, 0u);
    EXPECT_EQ(r.rdi, 0x604000u) << "the handler's mov %cr2 (inline) read the fault address";
    EXPECT_EQ(get(0x204000), 1u);
  };
  go(1);  // warms the TLB (stack, IDT, page table page)
  auto snap = [&] {
    return std::vector<uint64_t>{mmu_.stats().walks, mmu_.stats().tlb_hits, counter("fault.reflected.14"),
                                 mmu_.stats().guest_pf, counter("bt.inline.mov_from_cr2"), counter("bt.tc_exits")};
  };
  const auto a = snap();
  go(2);
  const auto b = snap();
  go(6);
  const auto c = snap();
  // The four extra round trips of the third run (both runs translate the same blocks).
  EXPECT_EQ(c[2] - b[2] - (b[2] - a[2]), 4u);
  EXPECT_EQ(c[3] - b[3] - (b[3] - a[3]), 4u);
  EXPECT_EQ(c[0] - b[0] - (b[0] - a[0]), 2u * 4) << "per fault: the walk that faults and the fill after iretq";
  EXPECT_EQ(c[1] - b[1] - (b[1] - a[1]), 3u * 4) << "per fault: IDT gate, frame, iretq's five slots in one";
  EXPECT_EQ(c[4] - b[4] - (b[4] - a[4]), 4u) << "mov %cr2 inline";
  EXPECT_EQ(c[5] - b[5] - (b[5] - a[5]), 4u * 4) << "per round trip: the faulting miss, iretq, the fill, invlpg";
}

}  // namespace
}  // namespace vtb::bt
