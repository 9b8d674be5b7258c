// tags: common|devices — desc: 8254 PIT (channel 0 drives IRQ 0), clocked by host time.
#pragma once
#include <cstdint>
#include <functional>

#include "common/bus.h"

namespace vtb {

// Ports 0x40..0x43. Channel 0 in modes 0 (one shot), 2 and 3 (periodic)
// raises IRQ 0 through `raise_irq`. Counter latch and lo/hi access work for
// all three channels; channels 1 and 2 drive nothing. Time comes from the
// `now_ns` passed to update(): the 1.193182 MHz input is derived from it.
class Pit : public Device {
 public:
  explicit Pit(std::function<void(int)> raise_irq) : raise_irq_(std::move(raise_irq)) {}
  const char* name() const override { return "pit8254"; }
  void read(uint64_t offset, uint8_t* data, unsigned size) override;
  void write(uint64_t offset, const uint8_t* data, unsigned size) override;

  void update(uint64_t now_ns);           // fire IRQ 0 if due (coalescing missed ticks)
  uint64_t next_event_ns() const;         // 0 when channel 0 is not armed
  uint64_t period_ns() const;             // channel 0 period (0 when not armed)
  uint64_t ticks_fired() const { return fired_; }
  uint64_t ticks_coalesced() const { return coalesced_; }

 private:
  struct Channel {
    uint16_t reload = 0;       // 0 means 65536
    uint8_t access = 3;        // 1 lo, 2 hi, 3 lo then hi
    uint8_t mode = 0;
    bool write_hi_next = false, read_hi_next = false;
    bool latched = false;
    uint16_t latch = 0;
    uint8_t pending_lo = 0;
    bool armed = false;
    uint64_t start_ns = 0;     // when the current count started
    uint64_t next_ns = 0;      // channel 0: next IRQ edge
  };
  uint16_t current_count(const Channel& c, uint64_t now_ns) const;
  void load(Channel& c, int index);

  Channel ch_[3];
  std::function<void(int)> raise_irq_;
  uint64_t fired_ = 0, coalesced_ = 0;
};

}  // namespace vtb
