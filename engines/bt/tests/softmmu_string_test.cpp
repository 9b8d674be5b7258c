// tags: engines|bt|tests — desc: bt-softmmu's rep stos/scas page runs (softmmu_runtime.cpp): element fills of each size, the one-byte-pattern memset, repe/repne scans that stop at the right element with rcx/rdi/ZF as the hardware leaves them; a zero count takes no callout.
#include <gtest/gtest.h>

#include <vector>

#include "engines/bt/tests/softmmu_fixture.h"

namespace vtb::bt {
namespace {

using SoftmmuStringTest = SoftmmuFixture;

TEST_F(SoftmmuStringTest, RepStosAndScasRuns) {
  put(0x200300, 5);
  put(0x200308, 5);
  put(0x200310, 5);
  put(0x200318, 9);
  put(0x200320, 5);
  put(0x200400, 0x4200000000000000ULL);  // byte 7 of 0x600400 is 0x42
  put(0x200408, 0x42);
  put(0x200500 + 13 * 8, 7);
  Regs r;
  const std::vector<uint8_t> code = {
      0xbf, 0x00, 0x01, 0x60, 0x00,  // mov $0x600100,%edi
      0xb9, 0x05, 0x00, 0x00, 0x00,  // mov $5,%ecx
      0xb8, 0x34, 0x12, 0x00, 0x00,  // mov $0x1234,%eax
      0x66, 0xf3, 0xab,              // rep stosw
      0xbf, 0x00, 0x02, 0x60, 0x00,  // mov $0x600200,%edi
      0xb9, 0x03, 0x00, 0x00, 0x00,  // mov $3,%ecx
      0x48, 0xb8, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,  // movabs $0x0707070707070707,%rax
      0xf3, 0x48, 0xab,              // rep stosq
      0xbf, 0x00, 0x03, 0x60, 0x00,  // mov $0x600300,%edi
      0xb9, 0x05, 0x00, 0x00, 0x00,  // mov $5,%ecx
      0xb8, 0x05, 0x00, 0x00, 0x00,  // mov $5,%eax
      0xf3, 0x48, 0xaf,              // repe scasq: stops after the 4th element (9)
      0x49, 0x89, 0xca,              // mov %rcx,%r10
      0x49, 0x89, 0xfb,              // mov %rdi,%r11
      0xbf, 0x00, 0x04, 0x60, 0x00,  // mov $0x600400,%edi
      0xb9, 0x10, 0x00, 0x00, 0x00,  // mov $16,%ecx
      0xb8, 0x42, 0x00, 0x00, 0x00,  // mov $0x42,%eax
      0xf2, 0xae,                    // repne scasb: stops at byte 7
      0x48, 0x89, 0xca,              // mov %rcx,%rdx
      0x48, 0x89, 0xfe,              // mov %rdi,%rsi
      0xbf, 0x00, 0x05, 0x60, 0x00,  // mov $0x600500,%edi
      0xb9, 0x14, 0x00, 0x00, 0x00,  // mov $20,%ecx
      0x31, 0xc0,                    // xor %eax,%eax
      0xf3, 0x48, 0xaf,              // repe scasq: 13 zeros (8 at a time, then one by one), stops at the 14th
      0x49, 0x89, 0xc8,              // mov %rcx,%r8
      0x49, 0x89, 0xf9,              // mov %rdi,%r9
      0xe6, 0xf4};
  const Exit e = run(code, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200100), 0x1234123412341234ULL);
  EXPECT_EQ(get(0x200108), 0x1234u) << "five words, not one more";
  EXPECT_EQ(get(0x200200), 0x0707070707070707ULL);
  EXPECT_EQ(get(0x200210), 0x0707070707070707ULL);
  EXPECT_EQ(get(0x200218), 0u) << "three quadwords";
  EXPECT_EQ(r.r10, 1u) << "repe scasq: one element left";
  EXPECT_EQ(r.r11, 0x600320u) << "rdi past the differing element";
  EXPECT_EQ(r.rdx, 8u) << "repne scasb: 8 bytes compared";
  EXPECT_EQ(r.rsi, 0x600408u);
  EXPECT_EQ(r.r8, 6u) << "repe scasq: 14 of 20 compared";
  EXPECT_EQ(r.r9, 0x600570u);
  EXPECT_FALSE(r.rflags & 0x40) << "ZF: the last compared differs";
}

// A rep form with rcx 0 touches nothing and leaves the flags: it is skipped
// in translated code (no callout), even with its operands unmapped.
TEST_F(SoftmmuStringTest, RepWithZeroCountTakesNoExit) {
  Regs r;
  // mov $0x700000,%edi (unmapped); xor %ecx,%ecx; stc; rep stosq; repe cmpsb; out %al,$0xf4
  const Exit e = run({0xbf, 0x00, 0x00, 0x70, 0x00, 0x31, 0xc9, 0xf9, 0xf3, 0x48, 0xab, 0xf3, 0xa6, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rdi, 0x700000u);
  EXPECT_TRUE(r.rflags & 1) << "CF as stc left it";
  EXPECT_EQ(counter("priv.string_seg"), 0u);
}

}  // namespace
}  // namespace vtb::bt
