// tags: common|devices — desc: 16550 UART subset (transmit path).
#include "common/devices/uart.h"

#include <unistd.h>

namespace vtb {
namespace {
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kLsrThre = 0x20, kLsrTemt = 0x40;
}  // namespace

void Uart::read(uint64_t offset, uint8_t* data, unsigned size) {
  uint8_t v = 0;
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case 0: v = dlab ? dll_ : 0; break;          // RBR: nothing received
    case 1: v = dlab ? dlm_ : ier_; break;
    case 2: v = 0x01; break;                     // IIR: no interrupt pending
    case 3: v = lcr_; break;
    case 4: v = mcr_; break;
    case 5: v = kLsrThre | kLsrTemt; break;      // LSR
    case 6: v = 0xb0; break;                     // MSR: CTS, DSR, DCD
    case 7: v = scr_; break;
  }
  for (unsigned i = 0; i < size; ++i) data[i] = i == 0 ? v : 0;
}

void Uart::write(uint64_t offset, const uint8_t* data, unsigned size) {
  const uint8_t v = data[0];
  const bool dlab = lcr_ & kLcrDlab;
  switch (offset) {
    case 0:
      if (dlab) {
        dll_ = v;
      } else {
        out_.push_back(static_cast<char>(v));
        if (echo_) (void)!::write(1, &v, 1);
      }
      break;
    case 1: (dlab ? dlm_ : ier_) = v; break;
    case 3: lcr_ = v; break;
    case 4: mcr_ = v; break;
    case 7: scr_ = v; break;
    default: break;  // FCR and read-only registers
  }
}

}  // namespace vtb
