// tags: engines|pv|tests — desc: PvMmu directly: promotion, refcounts, pin/unpin and bottom-up teardown.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <vector>

#include "common/abi/vtb_abi.h"
#include "engines/pv/pv_mmu.h"

namespace vtb::pv {
namespace {

constexpr uint64_t P = 1, W = 2, U = 4, PS = 0x80;

struct MmuFixture : ::testing::Test {
  void SetUp() override {
    if (!win.reserve()) GTEST_SKIP() << "cannot reserve the window: " << win.error();
    Status st;
    mem = GuestMemory::create(16 << 20, &st);
    ASSERT_TRUE(mem) << st.message();
    mmu = std::make_unique<PvMmu>(*mem, win, (16 << 20) - 4096);
    ASSERT_TRUE(win.reset());
    // A loader-like boot root at 0x10000 (identity 2 MiB page 0 only).
    mem->write_obj<uint64_t>(0x10000, 0x11000 | P | W);
    mem->write_obj<uint64_t>(0x11000, 0x12000 | P | W);
    mem->write_obj<uint64_t>(0x12000, 0 | P | W | PS);
    ASSERT_TRUE(mmu->boot(0x10000)) << win.error();
  }
  void TearDown() override { win.reset(); }
  // The tbk kernel's order: pin the root, fill tables, link bottom-up.
  void build(uint64_t pml4, uint64_t pdpt, uint64_t pd, uint64_t pt, uint64_t frame) {
    ASSERT_EQ(mmu->pin(pml4, 4), 0);
    ASSERT_EQ(mmu->update(pt, frame | P | W | U), 0);
    ASSERT_EQ(mmu->update(pd + 2 * 8, pt | P | W | U), 0);
    ASSERT_EQ(mmu->update(pdpt, pd | P | W | U), 0);
    ASSERT_EQ(mmu->update(pml4, pdpt | P | W | U), 0);
    ASSERT_TRUE(mmu->flush());
  }
  PvWindow win;
  std::unique_ptr<GuestMemory> mem;
  std::unique_ptr<PvMmu> mmu;
};

TEST_F(MmuFixture, LinkingPromotesAndUnlinkingDemotes) {
  build(0x100000, 0x101000, 0x102000, 0x103000, 0x200000);
  EXPECT_TRUE(mmu->is_page_table(0x103000));
  EXPECT_TRUE(mmu->is_page_table(0x100000));
  EXPECT_FALSE(mmu->is_page_table(0x200000));
  EXPECT_EQ(mmu->update(0x103000 + 8, 0x103000 | P | W | U), -VTB_EPERM);  // PT writable
  EXPECT_EQ(mmu->update(0x100000 + 8, 0x103000 | P | W), -VTB_EINVAL);     // PT at the wrong level
  EXPECT_EQ(mmu->update(0x101000, 0), 0);                                   // unlink the PD
  EXPECT_FALSE(mmu->is_page_table(0x102000));
  EXPECT_FALSE(mmu->is_page_table(0x103000));
  EXPECT_EQ(mmu->update(0x103000 + 8, 0x103000 | P | W | U), 0);  // ordinary memory again
}

TEST_F(MmuFixture, FrameWithWritableUserMappingCannotBecomeATable) {
  build(0x100000, 0x101000, 0x102000, 0x103000, 0x104000);  // 0x104000 mapped writable
  EXPECT_EQ(mmu->update(0x102000 + 3 * 8, 0x104000 | P | W | U), -VTB_EPERM);
  EXPECT_FALSE(mmu->is_page_table(0x104000));
}

// clear_page / copy_page: whole ordinary frames only, through the engine's
// mapping; a live page table, the shared page (beyond usable RAM) and a
// misaligned address are refused and leave memory as it was.
TEST_F(MmuFixture, PageClearAndCopyWriteOnlyOrdinaryFrames) {
  const auto at = [this](uint64_t gpa) {
    uint64_t v = ~0ULL;
    mem->read_obj(gpa, &v);
    return v;
  };
  build(0x100000, 0x101000, 0x102000, 0x103000, 0x200000);
  for (uint64_t i = 0; i < 512; ++i) mem->write_obj<uint64_t>(0x300000 + 8 * i, 0x1111000000000000ULL + i);
  const uint64_t src = 0x300000;
  EXPECT_EQ(mmu->page_write(0x200000, &src), 0);  // the mapped user frame gets a copy
  for (uint64_t i = 0; i < 512; i += 97) EXPECT_EQ(at(0x200000 + 8 * i), 0x1111000000000000ULL + i);
  EXPECT_EQ(mmu->page_write(0x300000, nullptr), 0);
  for (uint64_t i = 0; i < 512; i += 97) EXPECT_EQ(at(0x300000 + 8 * i), 0u);
  const uint64_t pt_entry = at(0x103000);
  EXPECT_EQ(mmu->page_write(0x103000, nullptr), -VTB_EPERM);  // a live table
  EXPECT_EQ(mmu->page_write(0x103000, &src), -VTB_EPERM);
  EXPECT_EQ(at(0x103000), pt_entry);
  const uint64_t shared = (16 << 20) - 4096, odd = 0x200008;
  EXPECT_EQ(mmu->page_write(shared, nullptr), -VTB_EINVAL);  // not usable RAM
  EXPECT_EQ(mmu->page_write(0x200000, &shared), -VTB_EINVAL);
  EXPECT_EQ(mmu->page_write(odd, nullptr), -VTB_EINVAL);
  EXPECT_EQ(mmu->page_write(0x200000, &odd), -VTB_EINVAL);
  EXPECT_EQ(at(0x200000), 0x1111000000000000ULL);
}

TEST_F(MmuFixture, NewBaseptrReflectsAndBottomUpTeardownReleasesEverything) {
  build(0x100000, 0x101000, 0x102000, 0x103000, 0x200000);
  ASSERT_EQ(mmu->new_baseptr(0x100000), 0);
  mem->write_obj<uint64_t>(0x200000, 0xfeed);
  EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(0x400000), 0xfeedu);  // reflected at the guest va
  build(0x300000, 0x301000, 0x302000, 0x303000, 0x200000);
  EXPECT_EQ(mmu->unpin(0x300000, 4), 0) << "not current: may be released";
  EXPECT_FALSE(mmu->is_page_table(0x303000));
  ASSERT_EQ(mmu->new_baseptr(0x100000), 0);
  EXPECT_EQ(mmu->unpin(0x100000, 4), -VTB_EINVAL) << "the current root stays";
  // Switch to another space, then tear the first down bottom-up, as tbk does.
  build(0x300000, 0x301000, 0x302000, 0x303000, 0x210000);
  ASSERT_EQ(mmu->new_baseptr(0x300000), 0);
  EXPECT_EQ(mmu->unpin(0x103000, 1), 0);
  EXPECT_FALSE(mmu->is_page_table(0x103000));
  EXPECT_EQ(mmu->new_baseptr(0x100000), -VTB_EINVAL) << "a torn root cannot be loaded";
  EXPECT_EQ(mmu->unpin(0x102000, 2), 0);
  EXPECT_EQ(mmu->unpin(0x101000, 3), 0);
  EXPECT_EQ(mmu->unpin(0x100000, 4), 0);
  EXPECT_FALSE(mmu->is_page_table(0x100000));
  EXPECT_FALSE(mmu->is_page_table(0x101000));
  // The parent entry still names the freed table, but nothing follows it.
  EXPECT_EQ(mmu->update(0x102000 + 2 * 8, 0), 0);
}

// pv@2as with direct user access: the user half is the user process's
// alone, and a kernel-only leaf there (no U, as tbk's census trampoline)
// is never in its picture: only the U page reaches the listener.
TEST_F(MmuFixture, RemoteUserHalfLeavesKernelOnlyPagesOutOfTheUserProcess) {
  struct Seen final : WindowListener {
    std::vector<uint64_t> mapped_va;
    void mapped(uint64_t va, uint64_t len, uint64_t, int) override {
      for (uint64_t o = 0; o < len; o += VTB_PAGE_SIZE) mapped_va.push_back(va + o);
    }
    void unmapped(uint64_t, uint64_t) override {}
  } seen;
  ASSERT_TRUE(win.set_user_remote()) << win.error();
  win.set_listener(&seen);
  build(0x100000, 0x101000, 0x102000, 0x103000, 0x200000);        // 0x400000: user page
  ASSERT_EQ(mmu->update(0x103000 + 8, 0x201000 | P | W), 0);       // 0x401000: kernel-only
  ASSERT_TRUE(mmu->flush());
  ASSERT_EQ(mmu->new_baseptr(0x100000), 0);
  win.set_listener(nullptr);
  EXPECT_EQ(seen.mapped_va, std::vector<uint64_t>{0x400000});
}

}  // namespace
}  // namespace vtb::pv
