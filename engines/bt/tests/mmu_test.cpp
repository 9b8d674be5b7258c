// tags: engines|bt|tests — desc: shadow MMU with real guest page tables: hidden faults, precise #PF, self-modifying code, traced PTE stores.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "common/counters.h"
#include "common/guest_memory.h"
#include "engines/bt/runtime.h"
#include "engines/bt/shadow_mmu.h"

namespace vtb::bt {
namespace {

// va 0x400000.. (16 pages) -> gpa 0x100000 (code, RW); va 0x600000.. (64 pages) -> gpa 0x200000 (data);
// va 0x620000 -> gpa 0x5000 (the data page table itself, so the guest can write its PTEs).
class MmuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status st;
    mem_ = GuestMemory::create(4 << 20, &st);
    ASSERT_TRUE(mem_) << st.message();
    auto put = [&](uint64_t gpa, uint64_t v) { mem_->write_obj(gpa, v); };
    put(0x1000, 0x2000 | 7);              // PML4[0] -> PDPT
    put(0x2000, 0x3000 | 7);              // PDPT[0] -> PD
    put(0x3000 + 2 * 8, 0x4000 | 7);      // PD[2] (0x400000) -> PT code
    put(0x3000 + 3 * 8, 0x5000 | 7);      // PD[3] (0x600000) -> PT data
    for (uint64_t i = 0; i < 16; ++i) put(0x4000 + i * 8, (0x100000 + i * 0x1000) | 7);
    for (uint64_t i = 0; i < 32; ++i) put(0x5000 + i * 8, (0x200000 + i * 0x1000) | 7);
    put(0x5000 + 32 * 8, 0x5000 | 7);     // va 0x620000 -> the data PT
    mmu_.attach(mem_.get(), nullptr);
    RuntimeOptions opt;
    rt_ = Runtime::create(&mmu_, opt, &st);
    ASSERT_TRUE(rt_) << st.message();
    mmu_.attach(mem_.get(), rt_.get());
  }
  Exit run(const std::vector<uint8_t>& code, Regs* r) {
    mem_->write(0x100000, code.data(), code.size());
    r->rip = 0x400000;
    r->rsp = 0x610000;
    r->cs.selector = 0x08;
    r->cr3 = 0x1000;
    r->cr0 = 0x80050033;
    r->efer = 0xd01;
    r->rflags = 2;
    rt_->set_regs(*r);
    RunLimits lim;
    lim.wall = std::chrono::seconds(5);
    Exit e = rt_->run(lim);
    *r = rt_->regs();
    return e;
  }
  uint64_t counter(const char* n) {
    Counters c;
    rt_->stats(c);
    return c.get(n);
  }
  std::unique_ptr<GuestMemory> mem_;
  ShadowMmu mmu_;
  std::unique_ptr<Runtime> rt_;
};

TEST_F(MmuTest, PageFaultThroughGuestTablesIsPrecise) {
  Regs r;
  r.rax = 0x77;
  // mov 0x700000,%rax (not mapped by the guest); out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x70, 0x00, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x700000u);
  EXPECT_EQ(e.error_code & 1, 0u) << "not present";
  EXPECT_EQ(r.rip, 0x400000u);
  EXPECT_EQ(r.rax, 0x77u);
}

TEST_F(MmuTest, SelfModifyingCodeIsRetranslated) {
  Regs r;
  // xor %ecx,%ecx; L: mov $1,%eax; inc %ecx; cmp $2,%ecx; je 1f; movb $2,0x400003; jmp L; 1: out %al,$0xf4
  Exit e = run({0x31, 0xc9, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xff, 0xc1, 0x83, 0xf9, 0x02, 0x74, 0x0a, 0xc6, 0x04, 0x25,
                0x03, 0x00, 0x40, 0x00, 0x02, 0xeb, 0xea, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(e.port, 0xf4);
  EXPECT_EQ(r.rax & 0xff, 2u) << "the patched immediate must be executed";
  EXPECT_GE(counter("bt.tc_invalidate"), 1u);
  EXPECT_GE(counter("mmu.hidden_fault"), 1u);
}

TEST_F(MmuTest, TracedPteStoreUpdatesTheMirror) {
  uint64_t a = 0x1111, b = 0x2222;
  mem_->write_obj(0x200000, a);
  mem_->write_obj(0x201000, b);
  Regs r;
  // mov 0x600000,%rbx; movq $0x201007,0x620000 (PTE of 0x600000, no invlpg); mov 0x600000,%rax; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x62, 0x00, 0x07,
                0x10, 0x20, 0x00, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rbx, 0x1111u);
  EXPECT_EQ(r.rax, 0x2222u) << "the mirror must follow the traced PTE store";
  EXPECT_GE(counter("mmu.pte_write_trap"), 1u);
  uint64_t pte = 0;
  mem_->read_obj(0x5000, &pte);
  EXPECT_EQ(pte & ~0x60ULL, 0x201007u);
}

}  // namespace
}  // namespace vtb::bt
