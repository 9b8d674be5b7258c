// tags: engines|bt|tests — desc: shadow MMU with real guest page tables: hidden faults, precise #PF, self-modifying code, traced PTE stores.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "common/counters.h"
#include "common/guest_memory.h"
#include "engines/bt/runtime.h"
#include "engines/bt/shadow_mmu.h"
#include "engines/bt/tests/paged_run.h"

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
  Exit run(const std::vector<uint8_t>& code, Regs* r) { return test::run_paged(*rt_, *mem_, code, r, 0x610000); }
  Exit cont(Regs* r) { return test::run_paged_cont(*rt_, r); }
  // Two more address spaces next to A (cr3 0x1000), sharing A's code table:
  // B (cr3 0x8000): 0x600000 -> 0x200000 as in A, 0x601000 -> 0x300000 (A: 0x201000),
  //   0x602000 -> 0x202000 as in A but supervisor-only, 0x620000 -> its own PT;
  // C (cr3 0xc000): code only.
  void add_spaces() {
    auto put = [&](uint64_t gpa, uint64_t v) { mem_->write_obj(gpa, v); };
    put(0x8000, 0x9000 | 7);
    put(0x9000, 0xa000 | 7);
    put(0xa000 + 2 * 8, 0x4000 | 7);
    put(0xa000 + 3 * 8, 0xb000 | 7);
    put(0xb000 + 0 * 8, 0x200000 | 7);
    put(0xb000 + 1 * 8, 0x300000 | 7);
    put(0xb000 + 2 * 8, 0x202000 | 3);
    put(0xb000 + 32 * 8, 0xb000 | 7);
    put(0xc000, 0xd000 | 7);
    put(0xd000, 0xe000 | 7);
    put(0xe000 + 2 * 8, 0x4000 | 7);
    for (uint64_t i = 0; i < 3; ++i) put(0x200000 + i * 0x1000, 0xa0 + i);
    put(0x300000, uint64_t(0xb1));
  }
  uint64_t counter(const char* n) { return test::runtime_counter(*rt_, n); }
  std::unique_ptr<GuestMemory> mem_;
  ShadowMmu mmu_;
  std::unique_ptr<Runtime> rt_;
};

TEST_F(MmuTest, PageFaultThroughGuestTablesIsPrecise) {
  Regs r;
  r.rax = 0x77;
  Exit e = run(test::kLoadUnmapped, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x700000u);
  EXPECT_EQ(e.error_code & 1, 0u) << "not present";
  EXPECT_EQ(r.rip, 0x400000u);
  EXPECT_EQ(r.rax, 0x77u);
}

TEST_F(MmuTest, SelfModifyingCodeIsRetranslated) {
  Regs r;
  Exit e = run(test::kSelfModifyingLoop, &r);
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

// A CR3 switch re-validates the mirror: a page the new tables map to the same
// frame keeps its host mapping (no fault), a page whose frame differs sees the
// new frame, and a page that is supervisor-only in the new tables is not left
// reachable.
TEST_F(MmuTest, Cr3SwitchKeepsSharedFrameAndRemapsChangedOne) {
  add_spaces();
  Regs r;
  // mov 0x600000,%rax; mov 0x601000,%rbx; mov 0x602000,%rcx; mov $0x8000,%rdx; mov %rdx,%cr3;
  // mov 0x600000,%rsi; mov 0x601000,%rdi; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x10, 0x60, 0x00,
                0x48, 0x8b, 0x0c, 0x25, 0x00, 0x20, 0x60, 0x00, 0x48, 0xc7, 0xc2, 0x00, 0x80, 0x00, 0x00, 0x0f,
                0x22, 0xda, 0x48, 0x8b, 0x34, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0x8b, 0x3c, 0x25, 0x00, 0x10,
                0x60, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0xa0u);
  EXPECT_EQ(r.rbx, 0xa1u);
  EXPECT_EQ(r.rcx, 0xa2u);
  EXPECT_EQ(r.rsi, 0xa0u) << "shared frame";
  EXPECT_EQ(r.rdi, 0xb1u) << "the new space's frame, not the old one";
  EXPECT_EQ(counter("mmu.hidden_fault"), 3u) << "no fault after the switch: kept and eagerly remapped";
  const auto& s = mmu_.stats();
  EXPECT_GE(s.cr3_kept, 1u);
  EXPECT_EQ(s.flushes, 0u);
  uint64_t gpa = 0;
  EXPECT_EQ(mmu_.mirror_prot(0x600000, &gpa), 1);
  EXPECT_EQ(gpa, 0x200000u);
  EXPECT_EQ(mmu_.mirror_prot(0x601000, &gpa), 1);
  EXPECT_EQ(gpa, 0x300000u);
  EXPECT_EQ(mmu_.mirror_prot(0x602000), 0) << "supervisor-only in the new space: parked, not reachable";
}

// After a switch to a space that does not map the page, an access faults to
// the guest (no stale mapping), even though the host mapping is only parked.
TEST_F(MmuTest, Cr3SwitchToSpaceWithoutThePageFaults) {
  add_spaces();
  Regs r;
  // mov 0x600000,%rax; mov $0xc000,%rdx; mov %rdx,%cr3; mov 0x600000,%rbx; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0xc2, 0x00, 0xc0, 0x00, 0x00, 0x0f,
                0x22, 0xda, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x600000u);
  EXPECT_EQ(e.error_code & 1, 0u) << "not present";
  EXPECT_EQ(r.rax, 0xa0u);
  EXPECT_EQ(mmu_.stats().parks, 1u);
  EXPECT_EQ(mmu_.mirror_prot(0x600000), 0);
}

// A parked page comes back with mprotect, never a second mmap: first through a
// fault (it is not hot yet), then eagerly at the CR3 load.
TEST_F(MmuTest, ParkedPageIsRevivedInPlace) {
  add_spaces();
  Regs r;
  // mov 0x600000,%rax; (cr3 C; cr3 A); mov 0x600000,%rbx; (cr3 C; cr3 A); mov 0x600000,%rcx; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0xc2, 0x00, 0xc0, 0x00, 0x00, 0x0f,
                0x22, 0xda, 0x48, 0xc7, 0xc2, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xda, 0x48, 0x8b, 0x1c, 0x25,
                0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0xc2, 0x00, 0xc0, 0x00, 0x00, 0x0f, 0x22, 0xda, 0x48, 0xc7,
                0xc2, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xda, 0x48, 0x8b, 0x0c, 0x25, 0x00, 0x00, 0x60, 0x00,
                0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0xa0u);
  EXPECT_EQ(r.rbx, 0xa0u);
  EXPECT_EQ(r.rcx, 0xa0u);
  const auto& s = mmu_.stats();
  EXPECT_EQ(s.maps, 1u) << "one mmap for 0x600000, then only mprotect";
  EXPECT_EQ(s.parks, 2u);
  EXPECT_EQ(s.upgrades, 2u) << "revived by the fault, then eagerly";
  EXPECT_EQ(counter("mmu.hidden_fault"), 2u) << "the first read and the first revival";
  EXPECT_EQ(mmu_.mirror_prot(0x600000), 1);
}

// A traced PTE store that removes R/W for the same frame (COW marking)
// downgrades the mirror page in place; the next write faults to the guest.
TEST_F(MmuTest, PteDowngradeMakesLaterWriteFault) {
  Regs r;
  // movq $5,0x600000; movq $0x200005,0x620000 (PTE: present, user, read-only); movq $6,0x600000; out %al,$0xf4
  Exit e = run({0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x05, 0x00, 0x00, 0x00, 0x48, 0xc7, 0x04, 0x25,
                0x00, 0x00, 0x62, 0x00, 0x05, 0x00, 0x20, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00,
                0x06, 0x00, 0x00, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x600000u);
  EXPECT_EQ(e.error_code & 3, 3u) << "present, write";
  uint64_t v = 0;
  mem_->read_obj(0x200000, &v);
  EXPECT_EQ(v, 5u) << "the second write must not reach the frame";
  const auto& s = mmu_.stats();
  EXPECT_EQ(s.downgrades, 1u);
  EXPECT_EQ(s.unmaps, 0u);
  EXPECT_EQ(mmu_.mirror_prot(0x600000), 1);
}

// A traced store that changes the frame of a mirrored page remaps it at once.
TEST_F(MmuTest, PteFrameChangeRemapsEagerly) {
  mem_->write_obj(0x200000, uint64_t(0x1111));
  mem_->write_obj(0x201000, uint64_t(0x2222));
  Regs r;
  // mov 0x600000,%rbx; movq $0x201007,0x620000; mov 0x600000,%rax; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x62, 0x00, 0x07,
                0x10, 0x20, 0x00, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0x2222u);
  EXPECT_GE(mmu_.stats().eager, 1u);
  uint64_t gpa = 0;
  EXPECT_EQ(mmu_.mirror_prot(0x600000, &gpa), 1);
  EXPECT_EQ(gpa, 0x201000u);
  // Only the first read of 0x600000 (the store to the table alias is emulated, not mapped).
  EXPECT_EQ(counter("mmu.hidden_fault"), 1u);
}

// A store that takes U away from a page drops it from the mirror.
TEST_F(MmuTest, PteStoreRemovingUserDropsThePage) {
  Regs r;
  // mov 0x600000,%rax; movq $0x200003,0x620000 (present, writable, supervisor); out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x62, 0x00,
                0x03, 0x00, 0x20, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(mmu_.mirror_prot(0x600000), -1);
  EXPECT_EQ(mmu_.stats().unmaps, 1u);
}

// A supervisor-only page whose frame a store changes is dropped, not mapped
// eagerly: the new frame must not become reachable without a kernel access.
TEST_F(MmuTest, PteFrameChangeOfSupervisorPageDrops) {
  mem_->write_obj(0x5000 + 2 * 8, uint64_t(0x202000 | 3));  // 0x602000: supervisor, writable
  Regs r;
  // mov 0x602000,%rax; movq $0x203003,0x620010 (another frame, supervisor); out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x20, 0x60, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x10, 0x00, 0x62, 0x00,
                0x03, 0x30, 0x20, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(mmu_.mirror_prot(0x602000), -1);
  EXPECT_EQ(mmu_.stats().eager, 0u);
}

// invlpg re-walks the current tables: a PTE changed behind the MMU's back
// (not a traced store) is seen after invlpg.
TEST_F(MmuTest, InvlpgRevalidatesAgainstCurrentTables) {
  add_spaces();
  Regs r;
  // mov 0x600000,%rax; out %al,$0xf4; invlpg 0x600000; mov 0x600000,%rbx; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4, 0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x60,
                0x00, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0xa0u);
  mem_->write_obj(0x5000, uint64_t(0x300007));  // untraced: a host-side write
  e = cont(&r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rbx, 0xb1u);
  uint64_t gpa = 0;
  EXPECT_EQ(mmu_.mirror_prot(0x600000, &gpa), 1);
  EXPECT_EQ(gpa, 0x300000u);
}

// A page table emptied by traced stores stays traced (dormant) for its reuse
// as a table; written through a user-half alias it is retired (user data).
TEST_F(MmuTest, EmptiedTableStaysTracedUntilUsedAsUserData) {
  mem_->write_obj(0x3000 + 4 * 8, uint64_t(0x7000 | 7));   // PD[4] (0x800000) -> PT 0x7000
  mem_->write_obj(0x7000, uint64_t(0x300000 | 7));         // 0x800000 -> 0x300000
  mem_->write_obj(0x5000 + 33 * 8, uint64_t(0x7000 | 7));  // 0x621000 -> PT 0x7000 (its alias)
  mem_->write_obj(0x300000, uint64_t(0x33));
  Regs r;
  // mov 0x800000,%rax; movq $0,0x621000; out %al,$0xf4; movq $0x300007,0x621000; mov 0x800000,%rbx; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x80, 0x00, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x10, 0x62, 0x00,
                0x00, 0x00, 0x00, 0x00, 0xe6, 0xf4, 0x48, 0xc7, 0x04, 0x25, 0x00, 0x10, 0x62, 0x00, 0x07, 0x00,
                0x30, 0x00, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x80, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0x33u);
  EXPECT_EQ(mmu_.stats().dormant, 1u);
  EXPECT_TRUE(mmu_.traced(0x621000)) << "dormant: still traced";
  EXPECT_EQ(mmu_.mirror_prot(0x800000), -1);
  e = cont(&r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rbx, 0x33u);
  EXPECT_TRUE(mmu_.traced(0x621000)) << "a table on a mirrored page's walk again";
  EXPECT_EQ(mmu_.mirror_prot(0x621000), 1) << "its alias is read-only again";
}

// Above the diff cap a CR3 load drops the user half as before.
TEST_F(MmuTest, Cr3LoadAboveDiffCapFlushes) {
  mmu_.diff_cap = 0;
  Regs r;
  // mov 0x600000,%rax; mov $0x1000,%rdx; mov %rdx,%cr3; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0xc7, 0xc2, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22,
                0xda, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(mmu_.stats().flushes, 1u);
  EXPECT_EQ(mmu_.mirror_prot(0x600000), -1);
}

// Random address spaces, CR3 switches, traced PTE stores (current and other
// spaces), invlpg, reads and writes; every access is checked against a
// reference walk of the current tables: reads see the frame the tables name
// now, writes fault exactly when the tables forbid them, and no write reaches
// a frame through a stale or too-permissive mirror page.
TEST_F(MmuTest, RandomAddressSpacesMatchReferenceWalk) {
  constexpr int kSpaces = 3, kPages = 8, kFrames = 8, kChunks = 250;
  constexpr uint64_t kData = 0x800000, kAlias = 0xa00000, kFrame0 = 0x300000, kAliasTable = 0x30000;
  auto pml4 = [](int i) { return uint64_t(0x10000 + i * 0x4000); };
  auto pt = [&](int i) { return pml4(i) + 0x3000; };
  auto put = [&](uint64_t gpa, uint64_t v) { mem_->write_obj(gpa, v); };
  for (uint64_t i = 16; i < 64; ++i) put(0x4000 + i * 8, (0x100000 + i * 0x1000) | 7);  // 256 KiB of code
  for (int i = 0; i < kSpaces; ++i) {
    put(pml4(i), (pml4(i) + 0x1000) | 7);
    put(pml4(i) + 0x1000, (pml4(i) + 0x2000) | 7);
    put(pml4(i) + 0x2000 + 2 * 8, 0x4000 | 7);          // code
    put(pml4(i) + 0x2000 + 4 * 8, pt(i) | 7);           // data pages of this space
    put(pml4(i) + 0x2000 + 5 * 8, kAliasTable | 7);     // every space's PT, writable (shared table)
    put(kAliasTable + uint64_t(i) * 8, pt(i) | 3);
  }
  std::mt19937 rng(20261128);
  auto rnd = [&](uint32_t n) { return uint32_t(rng() % n); };
  // not present, RO user, RW user, RW supervisor, RO supervisor, and with A/D set
  const uint64_t kFlags[] = {0, 0x5, 0x7, 0x3, 0x1, 0x67, 0x25, 0x63, 0x7, 0x67, 0x27, 0x65};
  auto random_pte = [&]() {
    const uint64_t f = kFlags[rnd(12)];
    return f ? (kFrame0 + rnd(kFrames) * 0x1000) | f : 0;
  };
  uint64_t pte[kSpaces][kPages];
  uint32_t content[kFrames];
  for (int f = 0; f < kFrames; ++f) {
    content[f] = 0x1000 + f;
    mem_->write_obj(kFrame0 + f * 0x1000, content[f]);
  }
  for (int i = 0; i < kSpaces; ++i)
    for (int k = 0; k < kPages; ++k) put(pt(i) + k * 8, pte[i][k] = random_pte());
  auto le32 = [](std::vector<uint8_t>& c, uint64_t v) {
    for (int b = 0; b < 4; ++b) c.push_back(uint8_t(v >> (8 * b)));
  };
  int cur = 0;
  uint64_t reads = 0, faults = 0, writes = 0, stores = 0;
  for (int chunk = 0; chunk < kChunks; ++chunk) {
    struct Expect { bool fault; uint64_t va; uint32_t value; };
    std::vector<Expect> expect;
    std::vector<uint8_t> code;
    bool ends_in_fault = false;
    const int start_space = cur;
    for (int op = 0; op < 40 && !ends_in_fault; ++op) {
      const uint32_t kind = rnd(100);
      const int k = int(rnd(kPages));
      const uint64_t va = kData + uint64_t(k) * 0x1000 + 4 * rnd(4);
      const uint64_t e = pte[cur][k];
      const int frame = int(((e & ~0xfffULL) - kFrame0) / 0x1000);
      if (kind < 15) {  // mov $cr3,%rdx; mov %rdx,%cr3
        cur = int(rnd(kSpaces));
        code.insert(code.end(), {0x48, 0xc7, 0xc2});
        le32(code, pml4(cur));
        code.insert(code.end(), {0x0f, 0x22, 0xda});
      } else if (kind < 55) {  // mov va,%eax; out %eax,$0xe0
        const uint64_t pva = va & ~0xfffULL;
        code.insert(code.end(), {0x8b, 0x04, 0x25});
        le32(code, pva);
        if (!(e & 1)) {
          expect.push_back({true, pva, 0});
          ends_in_fault = true;
        } else {
          code.insert(code.end(), {0xe7, 0xe0});
          expect.push_back({false, pva, content[frame]});
        }
      } else if (kind < 67) {  // movl $v,va
        const uint64_t pva = va & ~0xfffULL;
        const uint32_t v = uint32_t(rng());
        code.insert(code.end(), {0xc7, 0x04, 0x25});
        le32(code, pva);
        le32(code, v);
        if ((e & 3) != 3) {
          expect.push_back({true, pva, 0});
          ends_in_fault = true;
        } else {
          content[frame] = v;
        }
      } else if (kind < 90) {  // movq $pte,alias(space j, page k): a traced (or not yet traced) PTE store
        const int j = int(rnd(kSpaces));
        pte[j][k] = random_pte();
        code.insert(code.end(), {0x48, 0xc7, 0x04, 0x25});
        le32(code, kAlias + uint64_t(j) * 0x1000 + uint64_t(k) * 8);
        le32(code, pte[j][k]);
        ++stores;
      } else {  // invlpg va
        code.insert(code.end(), {0x0f, 0x01, 0x3c, 0x25});
        le32(code, va);
      }
    }
    if (!ends_in_fault) code.insert(code.end(), {0xe6, 0xf4});
    ASSERT_LE(code.size(), 1024u);
    const uint64_t at = 0x400000 + uint64_t(chunk) * 1024;
    mem_->write(0x100000 + uint64_t(chunk) * 1024, code.data(), code.size());
    Regs r;
    r.rip = at;
    r.rsp = 0x610000;
    r.cs.selector = 0x08;
    r.cr3 = pml4(start_space);
    r.cr0 = 0x80050033;
    r.efer = 0xd01;
    r.rflags = 2;
    rt_->set_regs(r);
    size_t next = 0;
    for (;;) {
      Exit ex = cont(&r);
      if (ex.kind == ExitKind::PortIo && ex.port == 0xe0) {
        ASSERT_LT(next, expect.size());
        ASSERT_FALSE(expect[next].fault) << "chunk " << chunk << " va 0x" << std::hex << expect[next].va;
        uint32_t got;
        memcpy(&got, ex.data, 4);
        ASSERT_EQ(got, expect[next].value) << "chunk " << chunk << " read of 0x" << std::hex << expect[next].va;
        ++next;
        ++reads;
        continue;
      }
      if (ends_in_fault) {
        ASSERT_EQ(ex.kind, ExitKind::GuestFault) << "chunk " << chunk << ": " << ex.message;
        ASSERT_EQ(next + 1, expect.size());
        EXPECT_EQ(ex.vector, 14);
        EXPECT_EQ(ex.fault_addr, expect[next].va) << "chunk " << chunk;
        ++faults;
      } else {
        ASSERT_EQ(ex.kind, ExitKind::PortIo) << "chunk " << chunk << ": " << ex.message;
        ASSERT_EQ(ex.port, 0xf4) << "chunk " << chunk;
        ASSERT_EQ(next, expect.size());
      }
      break;
    }
    for (int f = 0; f < kFrames; ++f) {
      uint32_t v = 0;
      mem_->read_obj(kFrame0 + f * 0x1000, &v);
      ASSERT_EQ(v, content[f]) << "chunk " << chunk << " frame " << f;
    }
    writes += expect.size();
  }
  EXPECT_GT(reads, 800u);
  EXPECT_GT(faults, 100u);
  EXPECT_GT(stores, 500u);
  const auto& s = mmu_.stats();
  EXPECT_GT(s.cr3_kept, 0u);
  EXPECT_GT(s.downgrades + s.parks + s.upgrades, 0u);
}

}  // namespace
}  // namespace vtb::bt
