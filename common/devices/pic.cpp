// tags: common|devices — desc: dual 8259A PIC model.
#include "common/devices/pic.h"

#include "common/devices/pit.h"

namespace vtb {

Pic::Pic() {
  chip_[0].nm = "pic8259-master";
  chip_[1].nm = "pic8259-slave";
  chip_[0].base = 0x08;  // BIOS defaults until the guest reprograms them
  chip_[1].base = 0x70;
}

int Pic::Chip::best() const {
  const uint8_t req = irr & ~imr;
  for (int i = 0; i < 8; ++i) {
    if (isr & (1u << i)) return -1;  // a higher-or-equal priority irq is in service
    if (req & (1u << i)) return i;
  }
  return -1;
}

void Pic::Chip::read(uint64_t offset, uint8_t* data, unsigned size) {
  for (unsigned i = 0; i < size; ++i) data[i] = 0;
  data[0] = offset == 0 ? (read_isr ? isr : irr) : imr;
}

void Pic::Chip::write(uint64_t offset, const uint8_t* data, unsigned size) {
  const uint8_t v = data[0];
  if (offset == 0) {
    if (v & 0x10) {  // ICW1
      init_step = 2;
      need_icw4 = v & 1;
      single = v & 2;
      irr = isr = 0;
      imr = 0;
      read_isr = false;
      auto_eoi = false;
    } else if (v & 0x08) {  // OCW3
      if ((v & 3) == 2) read_isr = false;
      if ((v & 3) == 3) read_isr = true;
    } else {  // OCW2
      const unsigned op = v >> 5;
      if (op == 1) {  // non-specific EOI: clear the highest-priority in-service bit
        for (int i = 0; i < 8; ++i)
          if (isr & (1u << i)) {
            isr &= uint8_t(~(1u << i));
            break;
          }
      } else if (op == 3) {  // specific EOI
        isr &= uint8_t(~(1u << (v & 7)));
      }
    }
    return;
  }
  switch (init_step) {
    case 2:
      base = v & 0xf8;
      init_step = single ? (need_icw4 ? 4 : 0) : 3;
      break;
    case 3:
      init_step = need_icw4 ? 4 : 0;
      break;
    case 4:
      auto_eoi = v & 2;
      init_step = 0;
      break;
    default:
      imr = v;
      break;
  }
}

void Pic::raise_irq(int irq) {
  if (irq < 0 || irq > 15) return;
  if (irq < 8) {
    chip_[0].irr |= uint8_t(1u << irq);
  } else {
    chip_[1].irr |= uint8_t(1u << (irq - 8));
    chip_[0].irr |= 1u << 2;  // cascade
  }
}

void Pic::update(uint64_t now_ns) {
  if (pit_) pit_->update(now_ns);
}

bool Pic::pending() const {
  const int m = chip_[0].best();
  if (m < 0) return false;
  if (m == 2) return chip_[1].best() >= 0;
  return true;
}

int Pic::acknowledge() {
  Chip& m = chip_[0];
  const int irq = m.best();
  if (irq < 0) return -1;
  if (irq == 2) {
    Chip& s = chip_[1];
    const int sirq = s.best();
    if (sirq < 0) {
      m.irr &= uint8_t(~(1u << 2));  // spurious cascade
      return -1;
    }
    s.irr &= uint8_t(~(1u << sirq));
    if (!(s.irr & ~s.imr)) m.irr &= uint8_t(~(1u << 2));
    if (!s.auto_eoi) s.isr |= uint8_t(1u << sirq);
    if (!m.auto_eoi) m.isr |= 1u << 2;
    ++delivered_;
    return s.base + sirq;
  }
  m.irr &= uint8_t(~(1u << irq));
  if (!m.auto_eoi) m.isr |= uint8_t(1u << irq);
  ++delivered_;
  return m.base + irq;
}

uint64_t Pic::next_event_ns() const { return pit_ ? pit_->next_event_ns() : 0; }

}  // namespace vtb
