// tags: common|tests — desc: the shared entry state agrees with what place_image wrote: GDT descriptors, page tables, a free stack.
#include <gtest/gtest.h>

#include "common/abi/vtb_abi.h"
#include "common/boot_state.h"
#include "common/loader.h"
#include "common/page_walk.h"
#include "common/tests/elf_builder.h"

namespace vtb {
namespace {

constexpr uint64_t kPhys = 0x200000, kVirt = VTB_KERNEL_VBASE + kPhys;

class BootState : public ::testing::Test {
 protected:
  void SetUp() override {
    Status s;
    mem = GuestMemory::create(16 << 20, &s);
    ASSERT_TRUE(mem) << s.message();
    GuestImage img;
    ASSERT_TRUE(parse_elf(test::build_elf({{kVirt, kPhys, {0xf4}, 0x1000}}, kVirt), "t.elf", &img.kernel));
    img.cmdline = "hello";
    ASSERT_TRUE(place_image(img, *mem, &boot));
    r = boot_entry_regs(boot);
  }
  // The hidden attributes a CPU loads from the loader GDT entry for `sel` (accessed bit set).
  uint16_t loaded_attrib(uint16_t sel) {
    uint64_t d = 0;
    EXPECT_TRUE(mem->read_obj(boot.loader_gdt_gpa + sel, &d));
    return uint16_t(((d >> 40) & 0xff) | ((d >> 52) & 0xf) << 12 | 1);
  }
  std::unique_ptr<GuestMemory> mem;
  BootImage boot;
  Regs r;
};

TEST_F(BootState, EntryRegistersComeFromTheBootImage) {
  EXPECT_EQ(r.rip, kVirt);
  EXPECT_EQ(r.rdi, boot.boot_info_gpa);
  EXPECT_EQ(r.cr3, boot.loader_cr3);
  EXPECT_EQ(r.gdt_base, boot.loader_gdt_gpa);
  EXPECT_EQ(r.rflags & 0x200, 0u);  // IF = 0
  EXPECT_EQ(r.idt_limit, 0);
}

TEST_F(BootState, LongModeIsConsistent) {
  EXPECT_EQ(r.cr0 & 0x80000001, 0x80000001u);  // PG PE
  EXPECT_TRUE(r.cr4 & 0x20);                   // PAE
  EXPECT_EQ(r.efer & 0x500, 0x500u);           // LME LMA
  EXPECT_TRUE(r.cs.attrib & (1 << 13));        // L
  EXPECT_FALSE(r.cs.attrib & (1 << 14));       // D must be 0 with L
}

TEST_F(BootState, SegmentsAreTheLoaderGdtEntries) {
  EXPECT_EQ(r.gdt_limit + 1u, 3 * 8u);
  EXPECT_EQ(r.cs.attrib, loaded_attrib(r.cs.selector));
  for (const Segment* s : {&r.ds, &r.es, &r.fs, &r.gs, &r.ss}) {
    EXPECT_EQ(s->selector, kBootDataSelector);
    EXPECT_EQ(s->attrib, loaded_attrib(s->selector));
  }
}

TEST_F(BootState, EntryAndStackAreMappedAndTheStackIsFree) {
  WalkRequest fetch;
  fetch.fetch = true;
  WalkResult w = walk_page_tables(*mem, r.cr3, r.rip, fetch);
  ASSERT_EQ(w.status, WalkStatus::Ok);
  EXPECT_EQ(w.gpa, kPhys);
  WalkRequest push;
  push.write = true;
  w = walk_page_tables(*mem, r.cr3, r.rsp - 8, push);
  ASSERT_EQ(w.status, WalkStatus::Ok);
  EXPECT_EQ(w.gpa, r.rsp - 8);
  // The page below the stack top holds nothing the loader wrote.
  EXPECT_EQ(r.rsp % 16, 0u);
  EXPECT_GE(r.rsp - VTB_PAGE_SIZE, VTB_PAGE_SIZE);
  for (uint64_t a : {boot.loader_gdt_gpa, boot.loader_cr3, boot.kernel_lo_gpa})
    EXPECT_TRUE(a >= r.rsp || a + VTB_PAGE_SIZE <= r.rsp - VTB_PAGE_SIZE) << std::hex << a;
}

}  // namespace
}  // namespace vtb
