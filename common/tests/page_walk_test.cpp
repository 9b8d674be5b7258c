// tags: common|tests — desc: the guest page-table walker: permissions, A/D, huge pages, canonical form.
#include <gtest/gtest.h>

#include "common/page_walk.h"

namespace vtb {
namespace {

constexpr uint64_t P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80, XD = 1ULL << 63;

class Walk : public ::testing::Test {
 protected:
  void SetUp() override {
    Status err;
    mem = GuestMemory::create(4 << 20, &err);
    ASSERT_TRUE(mem);
    // PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000; va 0x400000 -> 0x100000
    set(0x1000, 0x2000 | P | RW | US);
    set(0x2000, 0x3000 | P | RW | US);
    set(0x3000 + 2 * 8, 0x4000 | P | RW | US);
    set(0x4000, 0x100000 | P | US);                 // 0x400000: user, read-only
    set(0x4008, 0x101000 | P | RW);                 // 0x401000: supervisor, writable
    set(0x4010, 0x102000 | P | RW | US | XD);       // 0x402000: user, writable, no-exec
    set(0x3000 + 4 * 8, 0x200000 | P | RW | PS);    // 0x800000: 2 MiB page
  }
  void set(uint64_t gpa, uint64_t v) { mem->write_obj(gpa, v); }
  uint64_t get(uint64_t gpa) {
    uint64_t v = 0;
    mem->read_obj(gpa, &v);
    return v;
  }
  WalkResult w(uint64_t va, bool write, bool user, bool fetch = false) {
    WalkRequest r;
    r.write = write;
    r.user = user;
    r.fetch = fetch;
    return walk_page_tables(*mem, 0x1000, va, r);
  }
  std::unique_ptr<GuestMemory> mem;
};

TEST_F(Walk, TranslatesAndSetsAccessed) {
  auto r = w(0x400123, false, true);
  ASSERT_EQ(r.status, WalkStatus::Ok);
  EXPECT_EQ(r.gpa, 0x100123u);
  EXPECT_EQ(r.level, 1);
  EXPECT_TRUE(get(0x4000) & A);
  EXPECT_FALSE(get(0x4000) & D);
  EXPECT_TRUE(get(0x1000) & A);
}

TEST_F(Walk, WriteToReadOnlyUserPageFaults) {
  auto r = w(0x400000, true, true);
  EXPECT_EQ(r.status, WalkStatus::PageFault);
  EXPECT_EQ(r.error_code, kPfPresent | kPfWrite | kPfUser);
}

TEST_F(Walk, SupervisorWriteHonoursCr0Wp) {
  WalkRequest r;
  r.write = true;
  r.cr0_wp = false;
  EXPECT_EQ(walk_page_tables(*mem, 0x1000, 0x400000, r).status, WalkStatus::Ok);
  r.cr0_wp = true;
  EXPECT_EQ(walk_page_tables(*mem, 0x1000, 0x400000, r).status, WalkStatus::PageFault);
}

TEST_F(Walk, UserAccessToSupervisorPageFaults) {
  auto r = w(0x401000, false, true);
  EXPECT_EQ(r.status, WalkStatus::PageFault);
  EXPECT_EQ(r.error_code, kPfPresent | kPfUser);
  EXPECT_EQ(w(0x401000, true, false).status, WalkStatus::Ok);
  EXPECT_TRUE(get(0x4008) & D) << "dirty set on write";
}

TEST_F(Walk, NotPresentFaultHasNoPresentBit) {
  auto r = w(0x403000, true, true);
  EXPECT_EQ(r.status, WalkStatus::PageFault);
  EXPECT_EQ(r.error_code, kPfWrite | kPfUser);
}

TEST_F(Walk, FetchFromNoExecPageFaults) {
  EXPECT_EQ(w(0x402000, false, true).status, WalkStatus::Ok);
  auto r = w(0x402000, false, true, true);
  EXPECT_EQ(r.status, WalkStatus::PageFault);
  EXPECT_EQ(r.error_code, kPfPresent | kPfUser | kPfFetch);
}

TEST_F(Walk, HugePage) {
  auto r = w(0x9abcde, false, false);
  ASSERT_EQ(r.status, WalkStatus::Ok);
  EXPECT_EQ(r.level, 2);
  EXPECT_EQ(r.gpa, 0x200000u + 0x1abcde);
}

TEST_F(Walk, ReservedBitsInHugePdeFault) {
  set(0x3000 + 4 * 8, 0x200000 | P | RW | PS | 0x2000);  // bit 13 reserved in a 2 MiB PDE
  auto r = w(0x800000, false, false);
  EXPECT_EQ(r.status, WalkStatus::PageFault);
  EXPECT_TRUE(r.error_code & kPfReserved);
}

TEST_F(Walk, NonCanonicalAddress) {
  EXPECT_EQ(w(0x0000800000000000ULL, false, false).status, WalkStatus::NonCanonical);
  EXPECT_TRUE(is_canonical(0xffff800000000000ULL));
  EXPECT_FALSE(is_canonical(0x8000000000000000ULL));
}

TEST_F(Walk, TablePointerOutsideRamIsBadTable) {
  set(0x1000 + 8, (64ULL << 20) | P | RW);
  EXPECT_EQ(w(0x8000000000ULL, false, false).status, WalkStatus::BadTable);
}

}  // namespace
}  // namespace vtb
