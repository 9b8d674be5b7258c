// tags: engines|kvm|tests — desc: the user-space finish of lar/lsl/verr/verw/int n (kvm_pvm refuses them at CPL0): decoding, SDM rules, frames. No /dev/kvm needed.
#include <gtest/gtest.h>

#include <cstring>

#include "engines/kvm/kvm_emulate.h"
#include "engines/kvm/tests/tiny_guest.h"

namespace vtb::kvm::testing {
namespace {

constexpr uint64_t kGdt = kDataGpa + 0x400;  // our own GDT (the loader's stays untouched)
constexpr uint64_t kIdt = kDataGpa;          // TinyGuest's IDT page
constexpr uint64_t kStack = kDataGpa + 0x1000 - 8;
constexpr uint64_t kRflags = 0x202;  // IF, ZF clear

// Descriptors: 1 = kernel code (L, DPL0), 2 = data (writable, DPL0, G, limit 0xfffff),
// 3 = data DPL0 read-only, byte-granular limit 0x1234; 4..5 = LDT (system, 16 bytes);
// 6 = user data (DPL3, writable).
const uint64_t kDesc[] = {0,
                          0x00209a0000000000ULL,
                          0x00cf92000000ffffULL,
                          0x0000900000001234ULL,
                          0x0000820000000fffULL,
                          0,
                          0x00cff2000000ffffULL};

class KvmEmulate : public ::testing::Test {
 protected:
  void load(std::vector<uint8_t> code) {
    code.push_back(0x90);
    ASSERT_TRUE(guest_.build(code).is_ok());
    guest_.mem->write(kGdt, kDesc, sizeof kDesc);
    std::memset(&s_, 0, sizeof s_);
    s_.cr3 = guest_.boot.loader_cr3;
    s_.efer = 0x500;
    s_.cs.l = 1, s_.cs.selector = 0x08, s_.cs.dpl = 0;
    s_.ss.selector = 0x10;
    s_.gdt.base = kGdt, s_.gdt.limit = sizeof kDesc - 1;
    s_.idt.base = kIdt, s_.idt.limit = 0xfff;
    s_.ldt.unusable = 1;
    std::memset(&r_, 0, sizeof r_);
    r_.rip = kCodeGpa;
    r_.rflags = kRflags;
    r_.rsp = kStack;
  }
  std::string step() { return emulate_descriptor_insn(*guest_.mem, s_, &r_); }
  bool zf() const { return r_.rflags & 0x40; }

  TinyGuest guest_;
  kvm_sregs s_{};
  kvm_regs r_{};
};

TEST_F(KvmEmulate, LarOfADataSegmentGivesItsAccessRights) {
  load({0x0f, 0x02, 0xc2});  // lar eax, edx
  r_.rdx = 0x10;
  r_.rax = 0xffffffffffffffffULL;
  ASSERT_EQ(step(), "lar");
  EXPECT_TRUE(zf());
  EXPECT_EQ(r_.rax, 0x00cf9200u);  // the second dword masked by 00FFFF00, zero-extended
  EXPECT_EQ(r_.rip, kCodeGpa + 3);
}

TEST_F(KvmEmulate, LslScalesAPageGranularLimit) {
  load({0x0f, 0x03, 0xc2, 0x0f, 0x03, 0xc2});  // lsl eax, edx twice
  r_.rdx = 0x10;
  ASSERT_EQ(step(), "lsl");
  EXPECT_TRUE(zf());
  EXPECT_EQ(r_.rax, 0xffffffffu);
  r_.rdx = 0x18;  // byte-granular
  ASSERT_EQ(step(), "lsl");
  EXPECT_EQ(r_.rax, 0x1234u);
  EXPECT_EQ(r_.rip, kCodeGpa + 6);
}

TEST_F(KvmEmulate, InvalidSelectorsClearZfAndLeaveTheDestination) {
  load({0x0f, 0x02, 0xc2, 0x0f, 0x02, 0xc2, 0x0f, 0x02, 0xc2});
  r_.rax = 0x5555;
  r_.rflags |= 0x40;
  r_.rdx = 0;  // null
  ASSERT_EQ(step(), "lar");
  EXPECT_FALSE(zf());
  r_.rdx = 0x80;  // beyond the GDT limit
  ASSERT_EQ(step(), "lar");
  EXPECT_FALSE(zf());
  r_.rdx = 0x13;  // DPL 0 descriptor through an RPL 3 selector
  ASSERT_EQ(step(), "lar");
  EXPECT_FALSE(zf());
  EXPECT_EQ(r_.rax, 0x5555u);
}

TEST_F(KvmEmulate, RexAndOperandSizePrefixes) {
  load({0x4c, 0x0f, 0x02, 0xca,    // lar r9, rdx
        0x66, 0x0f, 0x02, 0xc2});  // lar ax, dx
  r_.rdx = 0x10;
  r_.rax = 0x1111222233334444ULL;
  ASSERT_EQ(step(), "lar");
  EXPECT_EQ(r_.r9, 0x00cf9200u);
  EXPECT_EQ(r_.rip, kCodeGpa + 4);
  ASSERT_EQ(step(), "lar");
  EXPECT_EQ(r_.rax, 0x1111222233339200ULL);  // 16-bit form: FF00 mask, upper bits kept
}

TEST_F(KvmEmulate, VerrAndVerwFollowTheSegmentType) {
  load({0x0f, 0x00, 0xe2, 0x0f, 0x00, 0xe2, 0x0f, 0x00, 0xea, 0x0f, 0x00, 0xea, 0x0f, 0x00, 0xea});
  r_.rdx = 0x10;  // writable data: readable
  ASSERT_EQ(step(), "verr");
  EXPECT_TRUE(zf());
  r_.rdx = 0x20;  // the LDT: a system segment, neither
  ASSERT_EQ(step(), "verr");
  EXPECT_FALSE(zf());
  r_.rdx = 0x10;
  ASSERT_EQ(step(), "verw");
  EXPECT_TRUE(zf());
  r_.rdx = 0x18;  // read-only data
  ASSERT_EQ(step(), "verw");
  EXPECT_FALSE(zf());
  r_.rdx = 0x08;  // code is never writable
  ASSERT_EQ(step(), "verw");
  EXPECT_FALSE(zf());
}

TEST_F(KvmEmulate, IntNDeliversThroughTheGuestIdt) {
  load({0xcd, 0x20});  // TinyGuest's IDT: vector 0x20 -> interrupt gate at kCodeGpa + 27, selector 0x08
  r_.rsp = kStack;
  ASSERT_EQ(step(), "int");
  EXPECT_EQ(r_.rip, kCodeGpa + 27);
  EXPECT_EQ(r_.rflags & 0x200, 0u);  // interrupt gate: IF cleared
  const uint64_t frame_at = (kStack & ~0xfULL) - 40;
  EXPECT_EQ(r_.rsp, frame_at);
  uint64_t f[5];
  guest_.mem->read(frame_at, f, sizeof f);  // identity map: gva = gpa
  EXPECT_EQ(f[0], kCodeGpa + 2);  // return rip: after `int`
  EXPECT_EQ(f[1], 0x08u);
  EXPECT_EQ(f[2], kRflags);
  EXPECT_EQ(f[3], kStack);
  EXPECT_EQ(f[4], 0x10u);
}

TEST_F(KvmEmulate, OtherInstructionsAndFormsAreLeftAlone) {
  load({0x0f, 0x02, 0x02});  // lar eax, [rdx]: memory operand
  const kvm_regs before = r_;
  EXPECT_EQ(step(), "");
  EXPECT_EQ(std::memcmp(&before, &r_, sizeof r_), 0);
  load({0xcd, 0x21});  // int 0x21: no present gate
  EXPECT_EQ(step(), "");
  load({0x0f, 0x02, 0xc2});
  s_.cs.dpl = 3;  // CPL3 int n is not ours; lar at CPL3 still is, with CPL in the rules
  r_.rdx = 0x10;
  ASSERT_EQ(step(), "lar");
  EXPECT_FALSE(zf());  // DPL 0 < CPL 3
  load({0x0f, 0x02, 0xc2});
  s_.cs.dpl = 3;
  r_.rdx = 0x33;  // user data DPL 3
  ASSERT_EQ(step(), "lar");
  EXPECT_TRUE(zf());
}

}  // namespace
}  // namespace vtb::kvm::testing
