// tags: common|engine — desc: the Engine interface every technique implements.
//
// An engine runs one vCPU of one VM until the next exit. Engines are listed
// explicitly in engines/registry.cpp; nothing in common/ knows their types.
// docs/adding-an-engine.md walks through a new one (engines/skeleton/ is the
// template); common/boot_state.h has the entry state a native-kernel engine
// starts from.
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
class PortIoHandler;

enum class Flavor : uint8_t { Native = 0, Pv = 1 };  // = enum vtb_flavor in the ABI
const char* flavor_name(Flavor f);

// Every run is bounded. 0 means "no bound" for that field; the Vm always
// passes a finite wall bound.
struct RunLimits {
  uint64_t max_guest_insns = 0;  // only for engines with caps().counts_instructions (the Vm refuses others)
  std::chrono::nanoseconds wall{0};
  // monotonic_ns() when the caller computed `wall` (0: unknown). An engine
  // that needs the time at entry may take it from here instead of reading
  // the clock again (~60 ns per read on the development host: a large share
  // of a port I/O round trip).
  uint64_t now_ns = 0;
};

// What an engine needs from the host and what it can do. Every field is read
// by common/ or harness/; the comment says who acts on it and how.
struct Caps {
  // Which kernel flavor it runs. The harness loads that image (tbk.elf or
  // tbk.pv.elf); the conformance matrix and `vtb bench` pick the workloads
  // whose manifest `flavors` name it; Vm::load refuses another flavor.
  Flavor flavor = Flavor::Native;
  // Label of every result: "kvm", "kvm@pvm", "kvm@nested-tcg", "bt", "pv".
  // Results of different labels are never mixed; manifest `expect` scopes
  // match it (beside the engine name and the registry's technique).
  std::string backend;
  // ok, or Status::unavailable("why"): `vtb list` prints the reason, `vtb run`
  // exits 3 with it, tests and conformance cells SKIP with it, bench cells
  // are skipped with it. Never a crash: probe cheaply (caps() runs often).
  Status available;
  // Vm::load refuses a second live VM in this process while one whose engine
  // owns the window is loaded (the in-process engines map guest memory at
  // fixed host addresses): `vtb run --vms` and `vtb bench` use a child per VM.
  bool owns_address_window = false;
  // Honours RunLimits::max_guest_insns. Vm::load refuses a VmConfig with an
  // instruction bound for an engine that cannot count.
  bool counts_instructions = false;
  // Needs /dev/kvm: `vtb list` says so beside the availability (JSON
  // `needs_dev_kvm`); where it is missing, the nested runner runs such an
  // engine (docs/kvm.md).
  bool needs_dev_kvm = false;
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
  // Optional: the Vm's port-I/O dispatch (common/port_io.h), handed over
  // before load() and valid for the engine's life. An engine may serve an
  // in/out through it without returning from run(); what it refuses
  // (PortIoResult::Exit) still comes back as a PortIo exit. Engines that
  // ignore it return every access as an Exit.
  virtual void set_port_io(PortIoHandler* /*h*/) {}
  // Optional: add the engine's own counters (names: docs/counters.md).
  //   The Vm already counts, for every engine, what reaches it through run():
  //     exit.port_io[.unclaimed], exit.mmio[.unclaimed], exit.halt,
  //     exit.shutdown, exit.guest_fault, exit.hypercall.unhandled,
  //     timer.ticks[_coalesced], irq.delivered, control.malformed_lines.
  //   Unscoped manifest checks (e.g. `expect = exit.port_io >= 1`) apply to
  //   every engine and read only these: they hold when every port/MMIO
  //   access of the guest comes back as an Exit or goes through the Vm's
  //   PortIoHandler (which counts exactly as for an Exit) — never served
  //   inside the engine any other way.
  //   The engine must add what only it sees, under the shared names:
  //     priv.<insn> (a privileged/sensitive instruction it emulated),
  //     fault.reflected.<vector> (an exception it delivered to the guest),
  //     exit.hypercall.<name> (a hypercall it served), and its own area
  //     (<engine>.*, mmu.*). Counts are exact; stats() adds the engine's totals
  //     since load() to what the Vm counted. The Vm calls it at every phase
  //     marker (per-phase snapshots) and at the end of Vm::run(), so it must
  //     be cheap enough for that and must not reset anything.
  virtual void stats(Counters& /*out*/) const {}
};

}  // namespace vtb
