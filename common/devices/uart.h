// tags: common|devices — desc: 16550 UART subset at 0x3f8: the guest console.
#pragma once
#include <string>

#include "common/bus.h"

namespace vtb {

// Transmit only: THR writes append to the console; LSR always reports the
// transmitter empty (THRE|TEMT); no receive data; the other registers
// (IER, LCR, MCR, SCR, divisor latch) are stored and read back.
class Uart : public Device {
 public:
  const char* name() const override { return "uart16550"; }
  void read(uint64_t offset, uint8_t* data, unsigned size) override;
  void write(uint64_t offset, const uint8_t* data, unsigned size) override;
  const std::string& output() const { return out_; }
  void set_echo(bool on) { echo_ = on; }

 private:
  std::string out_;
  bool echo_ = false;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0, dlm_ = 0;
};

}  // namespace vtb
