// tags: engines|bt|tests — desc: translations shared between address spaces (code keys, set-aside and adopted blocks) under both MMUs: a space that maps the same code frames runs the blocks already made, other bytes at the same address never run another's translation, writes into a shared or adopted frame are caught.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <tuple>
#include <vector>

#include "common/counters.h"
#include "common/guest_memory.h"
#include "engines/bt/runtime.h"
#include "engines/bt/shadow_mmu.h"
#include "engines/bt/soft_mmu.h"
#include "engines/bt/tests/paged_run.h"

namespace vtb::bt {
namespace {

// mov $5,%ecx; xor %eax,%eax; L: add %ecx,%eax; dec %ecx; jnz L; out %al,$0xf4   (al = 15)
const std::vector<uint8_t> kSum5 = {0xb9, 0x05, 0x00, 0x00, 0x00, 0x31, 0xc0, 0x01,
                                    0xc8, 0xff, 0xc9, 0x75, 0xfa, 0xe6, 0xf4};
// mov $7,%eax; out %al,$0xf4   (al = 7: other bytes at the same address)
const std::vector<uint8_t> kSeven = {0xb8, 0x07, 0x00, 0x00, 0x00, 0xe6, 0xf4};

// Three address spaces, all at CPL 0 with code at va 0x400000 and the stack
// at 0x600000 (gpa 0x200000):
//   A (cr3 0x1000) and B (cr3 0x8000) share one code page table: 0x400000 -> gpa 0x100000;
//   C (cr3 0xc000): 0x400000 -> gpa 0x110000.
template <class Mmu, bool kSoft>
struct Config {
  using MmuType = Mmu;
  static constexpr bool soft = kSoft;
};

template <class C>
class CodeReuse : public ::testing::Test {
 protected:
  static constexpr uint64_t kA = 0x1000, kB = 0x8000, kC = 0xc000;
  void SetUp() override {
    Status st;
    mem_ = GuestMemory::create(4 << 20, &st);
    ASSERT_TRUE(mem_) << st.message();
    for (const auto& [root, pd, code_pt] : {std::tuple{kA, 0x3000, 0x4000}, {kB, 0xa000, 0x4000}, {kC, 0xe000, 0xf000}}) {
      put(root, (root + 0x1000) | 7);  // PML4[0] -> PDPT
      put(root + 0x1000, uint64_t(pd) | 7);
      put(uint64_t(pd) + 2 * 8, uint64_t(code_pt) | 7);  // 0x400000
      put(uint64_t(pd) + 3 * 8, 0x5000 | 7);             // 0x600000
    }
    put(0x4000, 0x100000 | 7);
    put(0x4000 + 8, 0x101000 | 7);  // A and B: 0x401000 -> gpa 0x101000
    put(0xf000, 0x110000 | 7);
    put(0x5000, 0x200000 | 7);
    RuntimeOptions opt;
    opt.softmmu = C::soft;
    opt.reflect_exceptions = true;  // the engine's setting: user-range code is keyed by address space
    mmu_.attach(mem_.get(), nullptr);
    rt_ = Runtime::create(&mmu_, opt, &st);
    ASSERT_TRUE(rt_) << st.message();
    mmu_.attach(mem_.get(), rt_.get());
  }
  void put(uint64_t gpa, uint64_t v) { mem_->write_obj(gpa, v); }
  // Runs from `rip` in the space `cr3` until the out to 0xf4; returns al.
  uint64_t go(uint64_t cr3, uint64_t rip = 0x400000) {
    Regs r;
    r.rip = rip;
    r.rsp = 0x600800;
    r.cs.selector = 0x08;
    r.cr3 = cr3;
    r.cr0 = 0x80050033;
    r.efer = 0xd01;
    r.rflags = 2;
    rt_->set_regs(r);
    const Exit e = test::run_paged_cont(*rt_, &r);
    EXPECT_EQ(e.kind, ExitKind::PortIo) << e.message;
    EXPECT_EQ(e.port, 0xf4);
    return r.rax & 0xff;
  }
  // A store by the guest kernel's emulated path (the MMU's write: code-write detection included) in space cr3.
  void guest_write(uint64_t cr3, uint64_t va, const std::vector<uint8_t>& bytes) {
    Regs r = rt_->regs();
    r.cr3 = cr3;
    r.cs.selector = 0x08;
    r.cr0 = 0x80050033;
    r.efer = 0xd01;
    rt_->set_regs(r);
    GuestFaultInfo f;
    ASSERT_TRUE(mmu_.write(va, bytes.data(), bytes.size(), false, &f));
  }
  uint64_t counter(const char* n) { return test::runtime_counter(*rt_, n); }
  std::unique_ptr<GuestMemory> mem_;
  typename C::MmuType mmu_;
  std::unique_ptr<Runtime> rt_;
};

using Configs = ::testing::Types<Config<ShadowMmu, false>, Config<SoftMmu, true>>;
TYPED_TEST_SUITE(CodeReuse, Configs);

// A fork child: its code pages are the parent's frames, so it runs the
// parent's blocks (nothing translated); a space with other bytes at the same
// address runs its own code, and the first space keeps its blocks.
TYPED_TEST(CodeReuse, SpaceMappingTheSameFramesRunsTheBlocksAlreadyMade) {
  this->mem_->write(0x100000, kSum5.data(), kSum5.size());
  this->mem_->write(0x110000, kSeven.data(), kSeven.size());
  EXPECT_EQ(this->go(this->kA), 15u);
  const uint64_t n1 = this->counter("bt.blocks_translated");
  EXPECT_GE(n1, 1u);
  EXPECT_EQ(this->go(this->kB), 15u);
  EXPECT_EQ(this->counter("bt.blocks_translated"), n1) << "B maps A's code frame: A's blocks run";
  EXPECT_EQ(this->counter("bt.space_shared"), 1u);
  EXPECT_EQ(this->go(this->kC), 7u) << "C has other bytes at 0x400000: its own translation";
  const uint64_t n2 = this->counter("bt.blocks_translated");
  EXPECT_GT(n2, n1);
  EXPECT_EQ(this->counter("bt.space_new"), 2u);
  EXPECT_EQ(this->go(this->kA), 15u);
  EXPECT_EQ(this->go(this->kB), 15u);
  EXPECT_EQ(this->go(this->kC), 7u);
  EXPECT_EQ(this->counter("bt.blocks_translated"), n2) << "every space keeps its translations across switches";
  EXPECT_EQ(this->counter("bt.tc_invalidate"), 0u);
}

// Self-modifying code in a space that shares another's blocks: B's own store
// into the shared frame (translated code) is caught, and A, which maps the
// same frame, runs the new bytes too.
TYPED_TEST(CodeReuse, StoreIntoASharedFrameIsCaughtInEverySpace) {
  // 0x400000: mov $1,%eax; out %al,$0xf4
  // 0x400010: movb $2,0x400001; jmp 0x400000
  std::vector<uint8_t> code(0x1d, 0x90);
  const uint8_t head[] = {0xb8, 0x01, 0x00, 0x00, 0x00, 0xe6, 0xf4};
  const uint8_t patch[] = {0xc6, 0x04, 0x25, 0x01, 0x00, 0x40, 0x00, 0x02, 0xe9, 0xe3, 0xff, 0xff, 0xff};
  std::copy(std::begin(head), std::end(head), code.begin());
  code.resize(0x10);
  code.insert(code.end(), std::begin(patch), std::end(patch));
  this->mem_->write(0x100000, code.data(), code.size());
  EXPECT_EQ(this->go(this->kA), 1u);
  EXPECT_EQ(this->go(this->kB), 1u);
  EXPECT_EQ(this->counter("bt.space_shared"), 1u);
  EXPECT_EQ(this->go(this->kB, 0x400010), 2u) << "the store into the shared frame must be seen";
  EXPECT_GE(this->counter("bt.tc_invalidate"), 1u);
  EXPECT_EQ(this->go(this->kA), 2u) << "A maps the written frame: never the old translation";
}

// exec: a written frame's blocks are set aside; the same bytes at the same
// address (again in that frame, or in another space's frame) adopt them, other
// bytes never do; a store into an adopted frame is caught.
TYPED_TEST(CodeReuse, SameBytesAreAdoptedOtherBytesAreTranslated) {
  this->mem_->write(0x100000, kSum5.data(), kSum5.size());
  EXPECT_EQ(this->go(this->kA), 15u);
  const uint64_t n1 = this->counter("bt.blocks_translated");
  this->guest_write(this->kA, 0x400000, kSeven);
  const uint64_t aside = this->counter("bt.tc_set_aside");
  EXPECT_EQ(aside, n1) << "every block of the written frame is kept aside";
  EXPECT_EQ(this->go(this->kA), 7u) << "other bytes: never the set-aside translation";
  const uint64_t n2 = this->counter("bt.blocks_translated");
  EXPECT_GT(n2, n1);
  EXPECT_EQ(this->counter("bt.tc_reused_blocks"), 0u);
  this->guest_write(this->kA, 0x400000, kSum5);  // the first program again, same frame
  EXPECT_EQ(this->go(this->kA), 15u);
  EXPECT_EQ(this->counter("bt.blocks_translated"), n2) << "adopted, not translated";
  const uint64_t reused = this->counter("bt.tc_reused_blocks");
  EXPECT_GE(reused, 1u);
  // The same bytes in another space's fresh frame (exec into new frames).
  this->guest_write(this->kA, 0x400000, kSeven);
  this->mem_->write(0x110000, kSum5.data(), kSum5.size());
  EXPECT_EQ(this->go(this->kC), 15u);
  EXPECT_EQ(this->counter("bt.blocks_translated"), n2) << "adopted from A's set-aside blocks";
  EXPECT_GT(this->counter("bt.tc_reused_blocks"), reused);
  EXPECT_EQ(this->go(this->kA), 7u);
  EXPECT_EQ(this->counter("bt.blocks_translated"), n2) << "A's second program adopted back too";
  // A store into the adopted frame (mov $6,%ecx): caught.
  this->guest_write(this->kC, 0x400001, {0x06});
  EXPECT_EQ(this->go(this->kC), 21u);
  EXPECT_EQ(this->go(this->kA), 7u);
}

// A code page remapped to another frame inside one space (the guest writes
// the PTE and invalidates the page): the blocks of the old frame must not run
// there after the invlpg.
TYPED_TEST(CodeReuse, InvlpgOfARemappedCodePageDropsItsBlocks) {
  this->mem_->write(0x100000, kSum5.data(), kSum5.size());
  this->mem_->write(0x110000, kSeven.data(), kSeven.size());
  // 0x401000: invlpg 0x400000; jmp 0x400000
  const std::vector<uint8_t> inval = {0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x40, 0x00, 0xe9, 0xf3, 0xef, 0xff, 0xff};
  this->mem_->write(0x101000, inval.data(), inval.size());
  EXPECT_EQ(this->go(this->kA), 15u);
  this->put(0x4000, 0x110000 | 7);  // A's 0x400000 -> gpa 0x110000 now (B shares the table)
  EXPECT_EQ(this->go(this->kA, 0x401000), 7u) << "the other frame's code, after invlpg";
  EXPECT_GE(this->counter("bt.tc_stale_space"), 1u);
}

}  // namespace
}  // namespace vtb::bt
