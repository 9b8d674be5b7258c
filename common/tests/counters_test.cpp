// tags: common|tests — desc: counters keep stable slots and merge by name; a phase keeps an event count's increase and a gauge's level.
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

TEST(Counters, MinusKeepsEventIncreaseAndGaugeLevel) {
  Counters begin, end;
  begin.add("exit.port_io", 10);
  begin.gauge("pv.direct_map_resident", 500);
  begin.gauge("bt.user_isolation", 1);
  end.add("exit.port_io", 14);
  end.gauge("pv.direct_map_resident", 512);  // grew by 12 in the phase: the phase reports 512
  end.gauge("bt.user_isolation", 1);         // unchanged: still reported (an event count would be left out)
  end.gauge("pv.2as.spin_cap_ticks", 0);     // a level of 0 is a level
  const Counters d = end.minus(begin);
  EXPECT_EQ(d.get("exit.port_io"), 4u);
  EXPECT_FALSE(d.is_gauge("exit.port_io"));
  EXPECT_EQ(d.get("pv.direct_map_resident"), 512u);
  EXPECT_TRUE(d.is_gauge("pv.direct_map_resident"));
  EXPECT_EQ(d.get("bt.user_isolation"), 1u);
  EXPECT_EQ(d.all().count("pv.2as.spin_cap_ticks"), 1u);
  EXPECT_EQ(d.gauges().size(), 3u);
}

TEST(Counters, MergeNeverSumsAGauge) {
  Counters a, b;
  a.gauge("pv.pt_frames", 7);
  a.add("exit.halt", 1);
  b.gauge("pv.pt_frames", 9);
  b.add("exit.halt", 1);
  a.merge(b);
  EXPECT_EQ(a.get("pv.pt_frames"), 9u);
  EXPECT_TRUE(a.is_gauge("pv.pt_frames"));
  EXPECT_EQ(a.get("exit.halt"), 2u);
  a.clear();
  EXPECT_TRUE(a.gauges().empty());
}

}  // namespace
}  // namespace vtb
