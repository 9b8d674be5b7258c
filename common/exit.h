// tags: common|vm — desc: the closed set of exits every engine returns from run().
#pragma once
#include <cstdint>
#include <string>

namespace vtb {

enum class ExitKind : uint8_t {
  PortIo,       // in/out (and string forms): bus dispatch by the Vm
  Mmio,         // access to a guest-physical address with no RAM behind it
  Hypercall,    // a hypercall the engine did not handle itself
  Halt,         // hlt with nothing to run: the Vm waits for the next event
  Shutdown,     // triple fault, or the guest asked to stop (sched_op shutdown)
  GuestFault,   // a fault the guest could not handle (no IDT entry, double fault...)
  LimitReached, // RunLimits: wall time or instruction budget used up
  EngineError,  // the engine cannot continue (unsupported instruction, host failure)
};

const char* exit_kind_name(ExitKind k);

// One exit. The engine owns `data` (like kvm_run's I/O area): for a write it
// holds the bytes written; for a read the Vm fills it before the next run().
// It stays valid until the next call to run().
struct Exit {
  ExitKind kind = ExitKind::EngineError;
  // PortIo
  uint16_t port = 0;
  // PortIo, Mmio: access size in bytes (1, 2, 4, 8), direction, repeat count
  uint8_t size = 0;
  bool is_write = false;
  uint32_t count = 1;       // >1 only for rep ins/outs
  uint8_t* data = nullptr;  // size * count bytes
  // Mmio
  uint64_t gpa = 0;
  // Hypercall
  uint64_t nr = 0;
  uint64_t args[4] = {0, 0, 0, 0};
  int64_t ret = 0;          // the Vm's answer, handed back through Engine::complete()
  // GuestFault
  uint8_t vector = 0;
  uint64_t error_code = 0;
  uint64_t fault_addr = 0;
  // Shutdown, GuestFault, LimitReached, EngineError: one line for the user
  std::string message;
  uint64_t rip = 0;         // guest rip at the exit, when the engine knows it
};

}  // namespace vtb
