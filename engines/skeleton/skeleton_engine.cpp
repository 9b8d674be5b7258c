// tags: engines|skeleton — desc: the template engine: every interface point of vtb::Engine in a few lines; runs no guest (unavailable, with its reason).
//
// To start an engine, copy this folder (docs/adding-an-engine.md). What the
// Vm does around these calls: common/vm.cpp (Vm::load, Vm::run).
#include "engines/skeleton/skeleton_engine.h"

#include "common/boot_state.h"
#include "common/counters.h"
#include "common/guest_memory.h"
#include "common/interrupt_source.h"

namespace vtb {

namespace {

class SkeletonEngine : public Engine {
 public:
  // The registry name: `vtb run --engine skeleton`, engines/skeleton/known_failures.txt.
  std::string_view name() const override { return "skeleton"; }

  // Called often (vtb list, every run, every test): probe the host cheaply, never fail hard.
  Caps caps() const override {
    Caps c;
    c.flavor = Flavor::Native;  // tbk.elf, the unmodified kernel (Flavor::Pv: tbk.pv.elf)
    c.backend = "skeleton";     // the label of its results; a variant of the host gets its own ("kvm@pvm")
    // ok when this host can run it; otherwise the one-line reason that
    // `vtb list`, `vtb run` (exit 3), tests and bench/conformance skips show.
    c.available = Status::unavailable("skeleton: a template that runs no guest (copy engines/skeleton/ to start an engine)");
    c.owns_address_window = false;  // true: guest memory mapped at guest addresses in this process (one VM per process)
    c.counts_instructions = false;  // true: run() honours RunLimits::max_guest_insns
    c.needs_dev_kvm = false;
    return c;
  }

  // The Vm has placed kernel, archive, boot info, loader page tables and GDT
  // in `mem`; start the vCPU in the entry state (common/boot_state.h) and
  // keep `irq` (the common PIC+PIT) to ask for interrupts.
  Status load(const BootImage& boot, GuestMemory& mem, InterruptSource& irq) override {
    if (boot.flavor != Flavor::Native) return Status::bad_input("skeleton runs the native kernel flavor");
    mem_ = &mem;
    irq_ = &irq;
    regs_ = boot_entry_regs(boot);
    loaded_ = true;
    return Status::ok();
  }

  // Run guest code from regs_ until the next exit, and return it typed:
  //   PortIo  in/out: port, size, is_write, count, data (a buffer this engine
  //           owns; for a read the Vm fills it before the next run()),
  //   Mmio    an access to a guest-physical address without RAM (gpa),
  //   Halt    hlt with IF = 1 (the Vm sleeps to the next timer event),
  //   Shutdown / GuestFault (triple fault, an undeliverable fault: message),
  //   LimitReached when limits.wall has passed (the Vm checks only between exits),
  //   EngineError for what the engine cannot do. Never throw, never crash.
  // Before entering the guest with IF = 1: irq_->update(now); if
  // (irq_->pending()) deliver irq_->acknowledge() through the guest's IDT.
  Exit run(const RunLimits& /*limits*/) override {
    Exit e;
    e.kind = ExitKind::EngineError;
    e.message = loaded_ ? "skeleton: runs no guest" : "skeleton: run() before a successful load()";
    e.rip = regs_.rip;
    return e;
  }

  // Architectural state between run() calls (vtb run --json, tests, crash reports).
  Regs regs() const override { return regs_; }
  void set_regs(const Regs& r) override { regs_ = r; }

  // Optional: after the Vm served a PortIo/Mmio/Hypercall exit, before the
  // next run(): read data is in the exit's buffer, a hypercall's answer in
  // served.ret. The skeleton has nothing to finish.
  void complete(const Exit& /*served*/) override {}

  // Optional: the counters only this engine sees (common/engine.h says which
  // the Vm counts itself; names in docs/counters.md), e.g.
  // out.add("priv.cpuid", n). The skeleton emulates nothing.
  void stats(Counters& /*out*/) const override {}

 private:
  GuestMemory* mem_ = nullptr;
  InterruptSource* irq_ = nullptr;
  Regs regs_;
  bool loaded_ = false;
};

}  // namespace

std::unique_ptr<Engine> make_skeleton_engine() { return std::make_unique<SkeletonEngine>(); }

}  // namespace vtb
