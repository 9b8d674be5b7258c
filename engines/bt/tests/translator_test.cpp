// tags: engines|bt|tests — desc: snippet table tests: bytes + input state → expected registers/flags/memory under bt.
#include <gtest/gtest.h>

#include "engines/bt/tests/snippet.h"

namespace vtb::bt::test {
namespace {

TEST(BtSnippet, Smoke) {
  Machine m;
  ASSERT_TRUE(m.ok()) << m.error;
  Regs r = initial_regs();
  r.rax = 5;
  // add $0x7,%rax
  Exit e = m.run_bt({0x48, 0x83, 0xc0, 0x07}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(e.port, 0xf4);
  EXPECT_EQ(r.rax, 12u);
}

}  // namespace
}  // namespace vtb::bt::test
