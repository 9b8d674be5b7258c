// tags: common|tests — desc: buses dispatch by range and reject overlaps.
#include <gtest/gtest.h>

#include "common/bus.h"

namespace vtb {
namespace {

struct Reg : Device {
  uint64_t last_off = ~0ULL;
  uint8_t val = 0;
  const char* name() const override { return "reg"; }
  void read(uint64_t off, uint8_t* d, unsigned) override { last_off = off; d[0] = val; }
  void write(uint64_t off, const uint8_t* d, unsigned) override { last_off = off; val = d[0]; }
};

TEST(Bus, DispatchesWithOffset) {
  Bus b("pio");
  Reg r;
  ASSERT_TRUE(b.add(0x3f8, 8, &r));
  uint8_t v = 7;
  EXPECT_TRUE(b.write(0x3fd, &v, 1));
  EXPECT_EQ(r.last_off, 5u);
  EXPECT_EQ(r.val, 7);
  uint8_t out = 0;
  EXPECT_TRUE(b.read(0x3f8, &out, 1));
  EXPECT_EQ(out, 7);
  EXPECT_EQ(r.last_off, 0u);
}

TEST(Bus, UnclaimedReadsAllOnes) {
  Bus b("pio");
  uint8_t d[2] = {0, 0};
  EXPECT_FALSE(b.read(0x1234, d, 2));
  EXPECT_EQ(d[0], 0xff);
  EXPECT_EQ(d[1], 0xff);
  EXPECT_FALSE(b.write(0x1234, d, 1));
}

TEST(Bus, RejectsOverlaps) {
  Bus b("pio");
  Reg a, c;
  ASSERT_TRUE(b.add(0x40, 4, &a));
  EXPECT_EQ(b.add(0x43, 1, &c).kind(), ErrorKind::BadInput);  // inside
  EXPECT_FALSE(b.add(0x3c, 8, &c));                           // straddles the start
  EXPECT_FALSE(b.add(0x40, 4, &c));                           // same range
  EXPECT_TRUE(b.add(0x44, 1, &c));                            // adjacent is fine
  EXPECT_TRUE(b.add(0x3f, 1, &c));
  EXPECT_FALSE(b.add(0x50, 0, &c));                           // empty
  Status s = b.add(0x41, 2, &c);
  EXPECT_NE(s.message().find("overlaps"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vtb
