// tags: common|devices — desc: dual 8259A PIC (master 0x20, slave 0xa0) + the engines' InterruptSource.
#pragma once
#include <cstdint>

#include "common/bus.h"
#include "common/interrupt_source.h"

namespace vtb {

class Pit;

// Edge-triggered 8259A pair with the slave cascaded on master IRQ 2:
// ICW1..ICW4 initialisation, IMR (OCW1), non-specific and specific EOI
// (OCW2), IRR/ISR read-back (OCW3), auto-EOI. Register master() at 0x20
// (2 ports) and slave() at 0xa0 (2 ports). As the InterruptSource it also
// clocks the PIT, so engines see one object.
class Pic : public InterruptSource {
 public:
  Pic();
  Device* master() { return &chip_[0]; }
  Device* slave() { return &chip_[1]; }
  void set_timer(Pit* pit) { pit_ = pit; }
  void raise_irq(int irq);  // edge on line irq (0..15)

  // InterruptSource
  void update(uint64_t now_ns) override;
  bool pending() const override;
  int acknowledge() override;
  uint64_t next_event_ns() const override;

  uint8_t imr(int chip) const { return chip_[chip].imr; }
  uint8_t isr(int chip) const { return chip_[chip].isr; }
  uint8_t irr(int chip) const { return chip_[chip].irr; }
  uint8_t vector_base(int chip) const { return chip_[chip].base; }
  uint64_t delivered() const { return delivered_; }

 private:
  struct Chip : Device {
    const char* nm = "pic8259";
    uint8_t irr = 0, isr = 0, imr = 0xff, base = 0;
    uint8_t init_step = 0;  // 0: ready; 2,3,4: expecting that ICW
    bool need_icw4 = false, single = false, auto_eoi = false, read_isr = false;
    const char* name() const override { return nm; }
    void read(uint64_t offset, uint8_t* data, unsigned size) override;
    void write(uint64_t offset, const uint8_t* data, unsigned size) override;
    int best() const;  // highest-priority deliverable irq on this chip, or -1
  };
  Chip chip_[2];
  Pit* pit_ = nullptr;
  uint64_t delivered_ = 0;
};

}  // namespace vtb
