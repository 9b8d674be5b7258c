// tags: common|devices — desc: what an engine sees of the interrupt controller.
#pragma once
#include <cstdint>

namespace vtb {

// Implemented by the PIC+PIT pair in common/devices; engines see only this.
// All times are host CLOCK_MONOTONIC nanoseconds.
class InterruptSource {
 public:
  virtual ~InterruptSource() = default;
  // Bring timers up to `now_ns` (raise lines whose time has come).
  virtual void update(uint64_t now_ns) = 0;
  // True when an unmasked interrupt is pending (does not acknowledge).
  virtual bool pending() const = 0;
  // INTA cycle: the vector to deliver, or -1 when nothing is pending.
  virtual int acknowledge() = 0;
  // When the next timer event is due, or 0 when no timer is programmed.
  virtual uint64_t next_event_ns() const = 0;
};

// Never raises anything: for driving an engine without the Vm (tests).
class NoInterrupts : public InterruptSource {
 public:
  void update(uint64_t) override {}
  bool pending() const override { return false; }
  int acknowledge() override { return -1; }
  uint64_t next_event_ns() const override { return 0; }
};

}  // namespace vtb
