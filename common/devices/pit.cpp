// tags: common|devices — desc: 8254 PIT model.
#include "common/devices/pit.h"

#include "common/abi/vtb_abi.h"
#include "common/clock.h"

namespace vtb {
namespace {
uint64_t reload_ticks(uint16_t r) { return r == 0 ? 65536 : r; }
uint64_t ticks_to_ns(uint64_t ticks) { return ticks * 1000000000ULL / VTB_PIT_HZ; }
}  // namespace

uint16_t Pit::current_count(const Channel& c, uint64_t now_ns) const {
  if (!c.armed) return c.reload;
  const uint64_t elapsed = (now_ns - c.start_ns) * VTB_PIT_HZ / 1000000000ULL;
  const uint64_t n = reload_ticks(c.reload);
  if (c.mode == 0) return elapsed >= n ? 0 : uint16_t(n - elapsed);
  return uint16_t(n - elapsed % n);
}

void Pit::load(Channel& c, int index) {
  c.armed = true;
  c.start_ns = monotonic_ns();
  if (index == 0) c.next_ns = c.start_ns + ticks_to_ns(reload_ticks(c.reload));
}

void Pit::read(uint64_t offset, uint8_t* data, unsigned size) {
  for (unsigned i = 0; i < size; ++i) data[i] = 0;
  if (offset > 2) return;  // mode register is write-only
  Channel& c = ch_[offset];
  const uint16_t v = c.latched ? c.latch : current_count(c, monotonic_ns());
  uint8_t out;
  if (c.access == 1) {
    out = uint8_t(v);
  } else if (c.access == 2) {
    out = uint8_t(v >> 8);
  } else {
    out = c.read_hi_next ? uint8_t(v >> 8) : uint8_t(v);
    c.read_hi_next = !c.read_hi_next;
  }
  if (c.latched && (c.access != 3 || !c.read_hi_next)) c.latched = false;
  data[0] = out;
}

void Pit::write(uint64_t offset, const uint8_t* data, unsigned size) {
  const uint8_t v = data[0];
  if (offset == 3) {
    const unsigned sel = v >> 6;
    if (sel == 3) return;  // read-back command: not modelled
    Channel& c = ch_[sel];
    const uint8_t access = (v >> 4) & 3;
    if (access == 0) {  // counter latch
      c.latch = current_count(c, monotonic_ns());
      c.latched = true;
      c.read_hi_next = false;
      return;
    }
    c.access = access;
    c.mode = (v >> 1) & 7;
    if (c.mode > 5) c.mode -= 4;  // modes 6, 7 alias 2, 3
    c.write_hi_next = false;
    c.read_hi_next = false;
    c.armed = false;
    return;
  }
  if (offset > 2) return;
  Channel& c = ch_[offset];
  if (c.access == 1) {
    c.reload = (c.reload & 0xff00) | v;
  } else if (c.access == 2) {
    c.reload = uint16_t((c.reload & 0x00ff) | (v << 8));
  } else if (!c.write_hi_next) {
    c.pending_lo = v;
    c.write_hi_next = true;
    return;
  } else {
    c.reload = uint16_t(c.pending_lo | (v << 8));
    c.write_hi_next = false;
  }
  load(c, int(offset));
}

void Pit::update(uint64_t now_ns) {
  Channel& c = ch_[0];
  if (!c.armed || now_ns < c.next_ns) return;
  const uint64_t period = ticks_to_ns(reload_ticks(c.reload));
  raise_irq_(0);
  ++fired_;
  if (c.mode == 0) {
    c.armed = false;
    return;
  }
  const uint64_t late = (now_ns - c.next_ns) / period;  // whole periods missed
  coalesced_ += late;
  c.next_ns += (late + 1) * period;
}

uint64_t Pit::next_event_ns() const { return ch_[0].armed ? ch_[0].next_ns : 0; }

uint64_t Pit::period_ns() const { return ch_[0].armed ? ticks_to_ns(reload_ticks(ch_[0].reload)) : 0; }

}  // namespace vtb
