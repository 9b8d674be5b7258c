// tags: common|vm — desc: the Vm's port-I/O dispatch as engines see it: serve an access without an exit.
#pragma once
#include <cstdint>

namespace vtb {

// What became of an access handed to PortIoHandler::handle().
enum class PortIoResult : uint8_t {
  // Not served, nothing done, nothing counted: the engine returns the same
  // access from run() as an ExitKind::PortIo (the exit port, a control line
  // ending in '\n' — phase markers and the end of the run belong to the Vm's
  // loop).
  Exit,
  // Served and counted exactly as the Vm counts a PortIo exit; a read's data
  // is in `data`. The engine continues the guest.
  Served,
  // Served as above, and the access reached the interrupt controller or the
  // timer: an interrupt may now be deliverable or the next timer event moved.
  // The engine looks at its InterruptSource (as it does after a PortIo exit)
  // before the guest runs on.
  ServedIrq,
};

// Handed by the Vm to the engine (Engine::set_port_io) before load(). An
// engine that serves port I/O through it keeps every count the Vm keeps for
// a PortIo exit (`exit.port_io` once per access or string access,
// `exit.port_io.unclaimed`, the devices' own counts); one that does not use
// it returns every access as an Exit, as before.
class PortIoHandler {
 public:
  virtual ~PortIoHandler() = default;
  // One access of `count` elements of `size` bytes (1, 2, 4) at `data`
  // (count > 1 only for string I/O), in port order. Deterministic in its
  // refusal: an access answered Exit once is answered Exit again.
  virtual PortIoResult handle(uint16_t port, bool write, uint8_t size, uint32_t count, uint8_t* data) = 0;
};

}  // namespace vtb
