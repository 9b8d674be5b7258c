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

// A Vm snapshot in small: an event count, a level and an on/off flag.
Counters snapshot(uint64_t port_io, uint64_t resident) {
  Counters c;
  c.add("exit.port_io", port_io);
  c.gauge("pv.direct_map_resident", resident);
  c.gauge("bt.user_isolation", 1);
  return c;
}

TEST(Counters, MinusKeepsEventIncreaseAndGaugeLevel) {
  Counters end = snapshot(14, 512);       // the direct map grew by 12 in the phase: the phase reports 512;
  end.gauge("pv.2as.spin_cap_ticks", 0);  // the flag is unchanged, still reported; a level of 0 is a level
  const Counters d = end.minus(snapshot(10, 500));
  EXPECT_EQ(d.get("exit.port_io"), 4u);
  EXPECT_FALSE(d.is_gauge("exit.port_io"));
  EXPECT_EQ(d.get("pv.direct_map_resident"), 512u);
  EXPECT_TRUE(d.is_gauge("pv.direct_map_resident"));
  EXPECT_EQ(d.get("bt.user_isolation"), 1u);
  EXPECT_EQ(d.all().count("pv.2as.spin_cap_ticks"), 1u);
  EXPECT_EQ(d.gauges().size(), 3u);
}

TEST(Counters, MergeAddsEventsByNameAndNeverSumsAGauge) {
  Counters a, b;
  a.add("exit.halt", 2);
  a.gauge("pv.pt_frames", 7);
  b.add("exit.halt", 3);
  b.set("kvm.exits", 9);
  b.gauge("pv.pt_frames", 9);
  a.merge(b);
  EXPECT_EQ(a.get("exit.halt"), 5u);
  EXPECT_EQ(a.get("kvm.exits"), 9u);
  EXPECT_EQ(a.get("pv.pt_frames"), 9u);  // the other side's level, not 16
  EXPECT_TRUE(a.is_gauge("pv.pt_frames"));
  EXPECT_FALSE(a.is_gauge("kvm.exits"));
  EXPECT_EQ(a.all().size(), 3u);
  a.clear();
  EXPECT_TRUE(a.gauges().empty());
}

}  // namespace
}  // namespace vtb
