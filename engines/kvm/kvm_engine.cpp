// tags: engines|kvm — desc: KvmEngine: load (long mode from the host), run loop (exits, interrupts, kicks), stats.
#include "engines/kvm/kvm_engine.h"

#include <sys/ioctl.h>
#include <time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/counters.h"
#include "common/guest_memory.h"
#include "common/interrupt_source.h"
#include "engines/kvm/kvm_backend.h"
#include "engines/kvm/kvm_emulate.h"
#include "engines/kvm/kvm_kick.h"
#include "engines/kvm/kvm_regs.h"
#include "engines/kvm/kvm_stats.h"
#include "engines/kvm/kvm_uapi.h"
#include "engines/kvm/kvm_vm.h"
#include "common/host_events.h"

namespace vtb {
namespace kvm {

namespace {

bool env_kernel_irqchip() {
  const char* v = std::getenv("VTB_KVM_IRQCHIP");
  return v && std::strcmp(v, "kernel") == 0;
}

std::string fmt_ms(std::chrono::nanoseconds ns) { return std::to_string(ns.count() / 1000000) + " ms"; }

void sleep_until(uint64_t abs_ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(abs_ns / 1000000000ULL);
  ts.tv_nsec = static_cast<long>(abs_ns % 1000000000ULL);
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);  // EINTR: the caller re-checks
}

class KvmEngine final : public Engine {
 public:
  std::string_view name() const override { return "kvm"; }

  Caps caps() const override {
    Caps c;
    c.flavor = Flavor::Native;
    c.needs_dev_kvm = true;
    c.owns_address_window = false;
    c.counts_instructions = false;
    c.backend = host_backend();
    c.available = probe_dev_kvm(dev_kvm_path());
    return c;
  }

  Status load(const BootImage& boot, GuestMemory& mem, InterruptSource& irq) override {
    if (vm_) return Status::bad_input("kvm engine: load() called twice");
    backend_ = host_backend();
    irq_ = &irq;
    mem_ = &mem;
    auto vm = std::make_unique<KvmVm>();
    VmOptions opt;
    opt.kernel_irqchip = env_kernel_irqchip();
    Status st = vm->create(dev_kvm_path(), mem, opt);
    if (!st) return st;
    kvm_regs r{};
    kvm_sregs s{};
    if (ioctl(vm->vcpu_fd(), KVM_GET_SREGS, &s) < 0) return errno_status("KVM_GET_SREGS");
    long_mode_state(boot, &r, &s);
    if (ioctl(vm->vcpu_fd(), KVM_SET_SREGS, &s) < 0) return errno_status("KVM_SET_SREGS (long mode)");
    if (ioctl(vm->vcpu_fd(), KVM_SET_REGS, &r) < 0) return errno_status("KVM_SET_REGS");
    vm_ = std::move(vm);
    run_ = vm_->run();
    // Stats are optional (kernels before 5.14 lack them): counters then stay empty.
    if (vcpu_stats_.open(vm_->vcpu_fd())) vcpu_stats_.snapshot(&vcpu_base_);
    if (vm_stats_.open(vm_->vm_fd())) vm_stats_.snapshot(&vm_base_);
    return Status::ok();
  }

  Exit run(const RunLimits& limits) override {
    if (!vm_) return error_exit("kvm engine: run() before a successful load()", false);
    if (dead_) return error_exit("kvm engine: the vCPU stopped after " + dead_reason_ + "; load a new VM", false);
    uint64_t now = monotonic_ns();
    const uint64_t deadline = limits.wall.count() > 0 ? now + uint64_t(limits.wall.count()) : 0;
    wall_ = limits.wall;
    if (Status st = kick_.enter(run_); !st) return error_exit(st.message(), false);
    struct Leave {
      Kicker& k;
      ~Leave() { k.leave(); }
    } leave{kick_};

    // `now` is re-read only after a kick or a halt: the common exit path
    // reads the clock once per run() (it is on every exit's cost).
    for (bool first = true;; first = false) {
      if (!first) now = monotonic_ns();
      if (deadline && now >= deadline) return limit_exit();
      if (halted_) {
        if (!wait_for_interrupt(deadline)) return limit_exit();
        now = monotonic_ns();
      }
      uint64_t kick_at = deadline;
      if (!vm_->kernel_irqchip()) {
        irq_->update(now);
        run_->request_interrupt_window = 0;
        if (irq_->pending()) {
          if (run_->ready_for_interrupt_injection && run_->if_flag) {
            const int vec = irq_->acknowledge();
            if (vec >= 0) {
              kvm_interrupt ki{static_cast<uint32_t>(vec)};
              if (ioctl(vm_->vcpu_fd(), KVM_INTERRUPT, &ki) < 0) return error_exit(sys("KVM_INTERRUPT"), true);
              ++injected_;
            }
          } else {
            run_->request_interrupt_window = 1;
          }
        }
        const uint64_t ev = irq_->next_event_ns();
        if (ev && (!kick_at || ev < kick_at)) kick_at = ev;
      }
      kick_.want(kick_at, now);

      count_host(HostEvent::KvmRun);
      if (ioctl(vm_->vcpu_fd(), KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) {
          run_->immediate_exit = 0;
          ++kicks_;
          continue;
        }
        return error_exit(sys("KVM_RUN"), true);
      }
      switch (run_->exit_reason) {
        case KVM_EXIT_IO: {
          Exit e;
          e.kind = ExitKind::PortIo;
          e.port = run_->io.port;
          e.size = run_->io.size;
          e.is_write = run_->io.direction == KVM_EXIT_IO_OUT;
          e.count = run_->io.count;
          e.data = reinterpret_cast<uint8_t*>(run_) + run_->io.data_offset;
          return e;
        }
        case KVM_EXIT_MMIO: {
          Exit e;
          e.kind = ExitKind::Mmio;
          e.gpa = run_->mmio.phys_addr;
          e.size = static_cast<uint8_t>(run_->mmio.len);
          e.is_write = run_->mmio.is_write != 0;
          e.data = run_->mmio.data;
          return e;
        }
        case KVM_EXIT_HLT: {
          halted_ = true;
          Exit e;
          e.kind = ExitKind::Halt;
          return e;
        }
        case KVM_EXIT_IRQ_WINDOW_OPEN:
          ++window_exits_;
          continue;
        case KVM_EXIT_INTR:
          ++kicks_;
          continue;
        case KVM_EXIT_SHUTDOWN:
          return fatal(ExitKind::Shutdown, "triple fault (KVM_EXIT_SHUTDOWN)");
        case KVM_EXIT_SYSTEM_EVENT:
          return fatal(ExitKind::Shutdown, "system event " + std::to_string(run_->system_event.type));
        case KVM_EXIT_FAIL_ENTRY:
          return fatal(ExitKind::EngineError,
                       "VM entry failed (KVM_EXIT_FAIL_ENTRY, hardware reason 0x" +
                           hex(run_->fail_entry.hardware_entry_failure_reason) + ")");
        case KVM_EXIT_INTERNAL_ERROR: {
          if (run_->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && finish_in_user_space()) continue;
          std::string m = "KVM internal error (suberror " + std::to_string(run_->internal.suberror);
          if (run_->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) m += ": instruction emulation failed";
          m += ")";
          if (backend_ == "kvm@pvm")
            m += " [kvm@pvm cannot emulate some CPL0 instructions, e.g. int3: a backend limitation]";
          return fatal(ExitKind::EngineError, m);
        }
        case KVM_EXIT_EXCEPTION:
        case KVM_EXIT_DEBUG:
          return fatal(ExitKind::EngineError, "unexpected debug/exception exit " + std::to_string(run_->exit_reason));
        default:
          return fatal(ExitKind::EngineError, "unhandled KVM exit reason " + std::to_string(run_->exit_reason));
      }
    }
  }

  // An instruction the in-kernel emulator refused (kvm_pvm: every CPL0
  // instruction is emulated there, and LAR/LSL/VERR/VERW are not
  // implemented): finished here when kvm_emulate knows it, counted as
  // kvm.user.emulated.<insn>. False leaves the error to the caller.
  bool finish_in_user_space() {
    kvm_regs r{};
    kvm_sregs s{};
    if (!mem_ || ioctl(vm_->vcpu_fd(), KVM_GET_REGS, &r) < 0 || ioctl(vm_->vcpu_fd(), KVM_GET_SREGS, &s) < 0)
      return false;
    const std::string insn = emulate_descriptor_insn(*mem_, s, &r);
    if (insn.empty() || ioctl(vm_->vcpu_fd(), KVM_SET_REGS, &r) < 0) return false;
    ++emulated_[insn];
    return true;
  }

  Regs regs() const override {
    Regs out;
    if (!vm_) return out;
    kvm_regs r{};
    kvm_sregs s{};
    ioctl(vm_->vcpu_fd(), KVM_GET_REGS, &r);
    ioctl(vm_->vcpu_fd(), KVM_GET_SREGS, &s);
    to_vtb(r, s, &out);
    out.kernel_gs_base = read_msr(0xc0000102);
    return out;
  }

  void set_regs(const Regs& in) override {
    if (!vm_) return;
    kvm_regs r{};
    kvm_sregs s{};
    ioctl(vm_->vcpu_fd(), KVM_GET_SREGS, &s);
    from_vtb(in, &r, &s);
    ioctl(vm_->vcpu_fd(), KVM_SET_SREGS, &s);
    ioctl(vm_->vcpu_fd(), KVM_SET_REGS, &r);
    write_msr(0xc0000102, in.kernel_gs_base);
    halted_ = false;
  }

  // kvm.<stat> (vCPU) and kvm.vm.<stat> (VM): totals since load(), so that
  // the Vm may snapshot them at every phase marker. kvm.user.* count what this
  // engine did in user space without leaving run().
  void stats(Counters& out) const override {
    if (!vm_) return;
    std::vector<uint64_t> now;
    if (vcpu_stats_.snapshot(&now)) StatsReader::add_deltas(vcpu_stats_.names(), vcpu_base_, now, "kvm.", out);
    if (vm_stats_.snapshot(&now)) StatsReader::add_deltas(vm_stats_.names(), vm_base_, now, "kvm.vm.", out);
    for (const auto& [insn, n] : emulated_)
      if (n) out.add("kvm.user.emulated." + insn, n);
    if (kicks_) out.add("kvm.user.kicks", kicks_);
    if (injected_) out.add("kvm.user.irq_injected", injected_);
    if (window_exits_) out.add("kvm.user.irq_window_exits", window_exits_);
  }

 private:
  static std::string hex(uint64_t v) {
    char b[32];
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
    return b;
  }
  static std::string sys(const char* what) { return std::string(what) + ": " + std::strerror(errno); }
  static Status errno_status(const char* what) { return Status::host_error(sys(what)); }

  std::string reg_dump() const {
    kvm_regs r{};
    kvm_sregs s{};
    if (ioctl(vm_->vcpu_fd(), KVM_GET_REGS, &r) < 0 || ioctl(vm_->vcpu_fd(), KVM_GET_SREGS, &s) < 0)
      return "(registers unavailable)";
    return dump(r, s);
  }
  uint64_t cur_rip() const {
    kvm_regs r{};
    return ioctl(vm_->vcpu_fd(), KVM_GET_REGS, &r) == 0 ? r.rip : 0;
  }

  Exit error_exit(std::string msg, bool with_regs) {
    Exit e;
    e.kind = ExitKind::EngineError;
    if (with_regs && vm_) {
      e.rip = cur_rip();
      msg += "; " + reg_dump();
    }
    e.message = "kvm: " + msg;
    return e;
  }

  // Shutdown/EngineError: the vCPU state is not resumable.
  Exit fatal(ExitKind k, const std::string& what) {
    Exit e;
    e.kind = k;
    e.rip = cur_rip();
    e.message = "kvm (" + backend_ + "): " + what + "; " + reg_dump();
    dead_ = true;
    dead_reason_ = what;
    return e;
  }

  Exit limit_exit() {
    Exit e;
    e.kind = ExitKind::LimitReached;
    e.rip = cur_rip();
    e.message = "kvm (" + backend_ + "): wall-clock limit of " + fmt_ms(wall_) + " reached" +
                (halted_ ? " while the guest was halted" : "") + "; " + reg_dump();
    if (backend_ == "kvm@pvm")
      e.message += " [on kvm@pvm, vmcall/vmmcall and user code in the upper half hang KVM_RUN]";
    return e;
  }

  // The guest executed hlt: stay halted until an interrupt can be delivered
  // (IF=1 and one is pending) or the deadline passes (false).
  bool wait_for_interrupt(uint64_t deadline) {
    if (vm_->kernel_irqchip()) {  // hlt never exits to user space with the in-kernel irqchip
      halted_ = false;
      return true;
    }
    for (;;) {
      const uint64_t now = monotonic_ns();
      if (deadline && now >= deadline) return false;
      irq_->update(now);
      if (irq_->pending() && run_->if_flag) {
        halted_ = false;
        return true;
      }
      uint64_t until = irq_->next_event_ns();
      if (!until || until <= now) until = now + 1000000;  // nothing armed: poll each ms
      if (deadline && deadline < until) until = deadline;
      sleep_until(until);
    }
  }

  // One-entry struct kvm_msrs (see kvm_uapi.h for why not the uapi struct).
  struct OneMsr {
    uapi::MsrsHeader hdr{1, 0};
    kvm_msr_entry e{};
  };
  uint64_t read_msr(uint32_t index) const {
    OneMsr m;
    m.e.index = index;
    return ioctl(vm_->vcpu_fd(), uapi::kGetMsrs, &m) == 1 ? m.e.data : 0;
  }
  void write_msr(uint32_t index, uint64_t v) {
    OneMsr m;
    m.e.index = index;
    m.e.data = v;
    ioctl(vm_->vcpu_fd(), uapi::kSetMsrs, &m);
  }

  std::unique_ptr<KvmVm> vm_;
  kvm_run* run_ = nullptr;
  InterruptSource* irq_ = nullptr;
  Kicker kick_;
  std::string backend_;
  std::chrono::nanoseconds wall_{0};
  bool halted_ = false, dead_ = false;
  std::string dead_reason_;
  StatsReader vcpu_stats_, vm_stats_;
  std::vector<uint64_t> vcpu_base_, vm_base_;
  uint64_t kicks_ = 0, injected_ = 0, window_exits_ = 0;
  GuestMemory* mem_ = nullptr;
  std::map<std::string, uint64_t> emulated_;  // kvm.user.emulated.<insn>
};

}  // namespace
}  // namespace kvm

std::unique_ptr<Engine> make_kvm_engine() { return std::make_unique<kvm::KvmEngine>(); }

}  // namespace vtb
