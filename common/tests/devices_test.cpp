// tags: common|tests — desc: register semantics of the UART, control device, PIT and PIC.
#include <gtest/gtest.h>

#include "common/abi/vtb_abi.h"
#include "common/clock.h"
#include "common/devices/control.h"
#include "common/devices/pic.h"
#include "common/devices/pit.h"
#include "common/devices/uart.h"

namespace vtb {
namespace {

void out8(Device& d, uint64_t off, uint8_t v) { d.write(off, &v, 1); }
uint8_t in8(Device& d, uint64_t off) {
  uint8_t v = 0;
  d.read(off, &v, 1);
  return v;
}

TEST(Uart, TransmitsAndReportsEmpty) {
  Uart u;
  for (char c : std::string("hi\n")) out8(u, 0, uint8_t(c));
  EXPECT_EQ(u.output(), "hi\n");
  EXPECT_EQ(in8(u, 5) & 0x60, 0x60);  // THRE|TEMT
}

TEST(Uart, DivisorLatchDoesNotTransmit) {
  Uart u;
  out8(u, 3, 0x80);  // DLAB
  out8(u, 0, 0x01);
  out8(u, 1, 0x00);
  out8(u, 3, 0x03);
  EXPECT_EQ(u.output(), "");
  out8(u, 3, 0x80);
  EXPECT_EQ(in8(u, 0), 0x01);
}

TEST(Control, ParsesPhasesRecordsAndExit) {
  ControlDevice c;
  c.feed_line("B 1", 100);
  c.feed_line("R result deadbeef", 150);
  c.feed_line("E 1", 300);
  c.feed_line("garbage", 400);
  c.feed_line("E 7", 500);  // end without begin
  ASSERT_EQ(c.phases().size(), 1u);
  EXPECT_EQ(c.phases()[0].phase, 1);
  EXPECT_EQ(c.phases()[0].end_ns - c.phases()[0].begin_ns, 200u);
  ASSERT_EQ(c.records().size(), 1u);
  EXPECT_EQ(c.records()[0].first, "result");
  EXPECT_EQ(c.records()[0].second, "deadbeef");
  EXPECT_EQ(c.malformed_lines(), 2u);
  EXPECT_FALSE(c.exited());
  uint32_t code = 3;
  c.exit_port()->write(0, reinterpret_cast<uint8_t*>(&code), 4);
  EXPECT_TRUE(c.exited());
  EXPECT_EQ(c.exit_code(), 3);
}

TEST(Control, ByteStreamThroughThePort) {
  ControlDevice c;
  for (char ch : std::string("B 2\nE 2\n")) out8(*c.ctrl_port(), 0, uint8_t(ch));
  ASSERT_EQ(c.phases().size(), 1u);
  EXPECT_EQ(c.phases()[0].phase, 2);
  EXPECT_GE(c.phases()[0].end_ns, c.phases()[0].begin_ns);
  EXPECT_GT(c.phases()[0].end_ns, 0u);
}

TEST(Pit, PeriodicChannel0FiresAndCoalesces) {
  int fired = 0;
  Pit pit([&](int irq) { fired += irq == 0; });
  out8(pit, 3, 0x34);  // channel 0, lo/hi, mode 2
  const uint16_t reload = VTB_PIT_HZ / VTB_TIMER_HZ;
  out8(pit, 0, uint8_t(reload));
  EXPECT_EQ(pit.next_event_ns(), 0u) << "armed only after the high byte";
  out8(pit, 0, uint8_t(reload >> 8));
  const uint64_t next = pit.next_event_ns();
  ASSERT_NE(next, 0u);
  EXPECT_NEAR(double(pit.period_ns()), 1e9 / VTB_TIMER_HZ, 1e4);
  pit.update(next - 1);
  EXPECT_EQ(fired, 0);
  pit.update(next);
  EXPECT_EQ(fired, 1);
  pit.update(next + 5 * pit.period_ns());  // 5 periods late: one edge, the rest coalesced
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(pit.ticks_coalesced(), 4u);
  EXPECT_GT(pit.next_event_ns(), next + 5 * pit.period_ns());
}

TEST(Pit, OneShotMode0FiresOnce) {
  int fired = 0;
  Pit pit([&](int) { ++fired; });
  out8(pit, 3, 0x30);  // channel 0, lo/hi, mode 0
  out8(pit, 0, 0x10);
  out8(pit, 0, 0x00);
  const uint64_t next = pit.next_event_ns();
  pit.update(next + 1000000000ULL);
  pit.update(next + 2000000000ULL);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(pit.next_event_ns(), 0u);
}

TEST(Pit, LatchReadsCountLowThenHigh) {
  Pit pit([](int) {});
  out8(pit, 3, 0x34);
  out8(pit, 0, 0xff);
  out8(pit, 0, 0xff);
  out8(pit, 3, 0x00);  // latch channel 0
  const uint16_t v = uint16_t(in8(pit, 0) | (in8(pit, 0) << 8));
  EXPECT_GT(v, 0u);
  EXPECT_LE(v, 0xffff);
}

void init_pics(Pic& p) {
  out8(*p.master(), 0, 0x11);
  out8(*p.master(), 1, VTB_IRQ_BASE);
  out8(*p.master(), 1, 0x04);
  out8(*p.master(), 1, 0x01);
  out8(*p.slave(), 0, 0x11);
  out8(*p.slave(), 1, VTB_IRQ_BASE + 8);
  out8(*p.slave(), 1, 0x02);
  out8(*p.slave(), 1, 0x01);
}

TEST(Pic, InitMaskAckEoi) {
  Pic p;
  init_pics(p);
  EXPECT_EQ(p.vector_base(0), VTB_IRQ_BASE);
  out8(*p.master(), 1, 0xff);  // mask all
  p.raise_irq(0);
  EXPECT_FALSE(p.pending());
  out8(*p.master(), 1, 0xfe);  // unmask IRQ 0
  EXPECT_TRUE(p.pending());
  EXPECT_EQ(p.acknowledge(), VTB_IRQ_BASE);
  EXPECT_FALSE(p.pending());
  p.raise_irq(0);
  EXPECT_FALSE(p.pending()) << "IRQ 0 is in service until EOI";
  out8(*p.master(), 0, 0x0b);  // OCW3: read ISR
  EXPECT_EQ(in8(*p.master(), 0), 0x01);
  out8(*p.master(), 0, 0x20);  // EOI
  EXPECT_TRUE(p.pending());
  EXPECT_EQ(p.acknowledge(), VTB_IRQ_BASE);
  EXPECT_EQ(p.delivered(), 2u);
}

TEST(Pic, PriorityAndCascade) {
  Pic p;
  init_pics(p);
  out8(*p.master(), 1, 0x00);
  out8(*p.slave(), 1, 0x00);
  p.raise_irq(12);
  p.raise_irq(4);
  EXPECT_EQ(p.acknowledge(), VTB_IRQ_BASE + 12)  // slave irq 12 via the cascade (master irq 2) beats irq 4
      << "vector of irq 12";
  out8(*p.slave(), 0, 0x20);
  out8(*p.master(), 0, 0x20);
  EXPECT_EQ(p.acknowledge(), VTB_IRQ_BASE + 4);
  EXPECT_EQ(p.acknowledge(), -1);
}

TEST(Pic, DrivesThePitThroughUpdate) {
  Pic p;
  Pit pit([&](int irq) { p.raise_irq(irq); });
  p.set_timer(&pit);
  init_pics(p);
  out8(*p.master(), 1, 0xfe);
  out8(pit, 3, 0x34);
  out8(pit, 0, 0x00);
  out8(pit, 0, 0x10);
  EXPECT_EQ(p.next_event_ns(), pit.next_event_ns());
  p.update(p.next_event_ns());
  EXPECT_TRUE(p.pending());
}

}  // namespace
}  // namespace vtb
