// tags: common|tests — desc: counters keep stable slots and merge by name.
#include <gtest/gtest.h>

#include "common/counters.h"

namespace vtb {
namespace {

TEST(Counters, SlotIsStableAcrossInsertions) {
  Counters c;
  uint64_t& s = c.slot("exit.port_io");
  for (int i = 0; i < 100; ++i) c.add("priv.x" + std::to_string(i));
  s += 5;
  EXPECT_EQ(c.get("exit.port_io"), 5u);
  EXPECT_EQ(c.get("missing"), 0u);
}

TEST(Counters, MergeAddsByName) {
  Counters a, b;
  a.add("exit.halt", 2);
  b.add("exit.halt", 3);
  b.set("kvm.exits", 9);
  a.merge(b);
  EXPECT_EQ(a.get("exit.halt"), 5u);
  EXPECT_EQ(a.get("kvm.exits"), 9u);
  EXPECT_EQ(a.all().size(), 2u);
}

}  // namespace
}  // namespace vtb
