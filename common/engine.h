// tags: common|engine — desc: the Engine interface every technique implements.
//
// An engine runs one vCPU of one VM until the next exit. Engines are listed
// explicitly in engines/registry.cpp; nothing in common/ knows their types.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/exit.h"
#include "common/regs.h"
#include "common/status.h"

namespace vtb {

class GuestMemory;
class Counters;
class InterruptSource;

enum class Flavor : uint8_t { Native = 0, Pv = 1 };  // = enum vtb_flavor in the ABI
const char* flavor_name(Flavor f);

// Every run is bounded. 0 means "no bound" for that field; the Vm always
// passes a finite wall bound.
struct RunLimits {
  uint64_t max_guest_insns = 0;  // engines that cannot count instructions ignore it (caps)
  std::chrono::nanoseconds wall{0};
};

// What an engine needs from the host and what it can do.
struct Caps {
  Flavor flavor = Flavor::Native;  // which kernel flavor it runs
  bool needs_dev_kvm = false;
  bool owns_address_window = false;  // in-process engines: one VM per host process
  bool counts_instructions = false;  // honours RunLimits::max_guest_insns
  std::string backend;  // label for results: "kvm", "kvm@pvm", "kvm@nested-tcg", "bt", "pv"
  Status available;     // ok, or Unavailable with the reason (e.g. "no /dev/kvm")
};

// Where the loader put things; handed to Engine::load.
struct BootImage {
  uint64_t entry = 0;          // 64-bit kernel entry (guest virtual)
  uint64_t boot_info_gpa = 0;  // struct vtb_boot_info, passed in %rdi
  uint64_t loader_cr3 = 0;     // gpa of the loader-built PML4 (identity 0..1G + direct map)
  uint64_t loader_gdt_gpa = 0; // gpa of the loader GDT (null, code64 0x08, data 0x10)
  uint64_t kernel_lo_gpa = 0, kernel_hi_gpa = 0;  // physical extent of the kernel image
  Flavor flavor = Flavor::Native;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // MANDATORY. Stable short name ("kvm", "bt", "pv").
  virtual std::string_view name() const = 0;
  // MANDATORY. Capabilities; may probe the host (e.g. /dev/kvm) but is cheap.
  virtual Caps caps() const = 0;
  // MANDATORY. Take the VM's memory (already holding the image) and put the
  // vCPU in the state the kernel's 64-bit entry expects: long mode, paging
  // on with `boot.loader_cr3`, rip = entry, rdi = boot_info_gpa, IF = 0.
  // `irq` outlives the engine; the engine asks it for interrupts to inject.
  virtual Status load(const BootImage& boot, GuestMemory& mem, InterruptSource& irq) = 0;
  // MANDATORY. Run until the next exit or until `limits` is reached. Never
  // throws; guest misbehaviour is a typed Exit, never a host crash. For a
  // PortIo/Mmio read the caller fills exit.data before calling run() again.
  virtual Exit run(const RunLimits& limits) = 0;
  // MANDATORY. Architectural state of the vCPU (valid between run() calls).
  virtual Regs regs() const = 0;
  virtual void set_regs(const Regs& r) = 0;
  // Optional: called after the Vm served a PortIo, Mmio or Hypercall exit,
  // before the next run(). Read data already sits in the engine's buffer;
  // an engine that needs the Vm's hypercall answer reads `served.ret` here.
  virtual void complete(const Exit& /*served*/) {}
  // Optional: add the engine's own counters (taxonomy in common/counters.h).
  virtual void stats(Counters& /*out*/) const {}
};

}  // namespace vtb
