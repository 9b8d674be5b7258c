// tags: engines|pv — desc: the PvEngine class (internal to engines/pv).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/engine.h"
#include "common/guest_memory.h"
#include "common/host_cpuid.h"
#include "common/interrupt_source.h"
#include "common/page_walk.h"
#include "common/port_io.h"
#include "engines/pv/pv_2as.h"
#include "engines/pv/pv_cpu.h"
#include "engines/pv/pv_engine.h"
#include "engines/pv/pv_host.h"
#include "engines/pv/pv_mmu.h"
#include "engines/pv/pv_pkru.h"
#include "engines/pv/pv_window.h"

namespace vtb::pv {

class PvEngine final : public Engine {
 public:
  explicit PvEngine(const PvOptions& opts);
  ~PvEngine() override;

  std::string_view name() const override { return "pv"; }
  Caps caps() const override;
  Status load(const BootImage& boot, GuestMemory& mem, InterruptSource& irq) override;
  Exit run(const RunLimits& limits) override;
  Regs regs() const override;
  void set_regs(const Regs& r) override;
  void stats(Counters& out) const override;
  void set_port_io(PortIoHandler* h) override { pio_ = h; }

  // Slow hypercall path (pv_hypercalls.cpp), called from the entry assembly.
  int hypercall_slow();
  // A synchronous guest trap, from the signal handler (state in the vCPU
  // block): true = resume the guest, false = pending_exit_ is set.
  bool serve_trap() {
    pending_exit_.reset();
    // pv@2as: user code never runs in this process; the run loop hands it over.
    return handle_signal() && win_.error().empty() && !(us_ && vtb_pv_cpu.mode == Mode::User);
  }

 private:
  // pv_hypercalls.cpp
  int64_t do_simple(uint64_t nr, const uint64_t a[4], bool* handled);
  int64_t new_baseptr(uint64_t root);  // pv@2as: with the user process switch
  int64_t hc_mmu_update(uint64_t reqs, uint64_t count, uint64_t done_va);
  int64_t hc_set_trap_table(uint64_t va, uint64_t n);
  int64_t hc_vm_assist(uint64_t type);
  // pv_events.cpp: a host fault of guest kernel code in the user half while
  // it lives only in the user process (pv@2as, vm_assist): a kernel-only
  // page is mapped here (true), a user page is a broken promise (false,
  // pending_exit_ set).
  bool kernel_fault_in_remote_half(uint64_t cr2, const WalkRequest& req);
  int64_t hc_multicall(uint64_t va, uint64_t n);
  int hc_iret();
  int hc_sched_op(uint64_t op, uint64_t arg);
  int exit_with(Exit e);
  // io / console_io through the Vm's handler inside the hypercall; Exit:
  // leave run() with `e` as before.
  PortIoResult serve_io(const Exit& e);
  bool io_resume_fast(PortIoResult res, int64_t ret);
  // pv_events.cpp: upcalls, faults, timers
  bool events_due(uint64_t now);
  // Deliver a pending event if vif allows; false only when an exit was set.
  bool deliver_events(bool* delivered);
  bool upcall(unsigned vector, bool has_err, uint64_t err, const char* what);
  bool handle_signal();      // after ExitReason::Signal; false: pending_exit_ set
  bool software_interrupt(unsigned n);  // `int n` at rip: upcall or #GP
  bool reflect(unsigned vector, uint64_t err, bool has_err, uint64_t cr2);
  void set_mode(Mode m);
  void arm_host_timer();
  Exit fault_exit(const std::string& msg, unsigned vector = 0, uint64_t err = 0, uint64_t addr = 0);
  // Guest virtual memory through the current page tables (never faults the host).
  bool copy_from_guest(uint64_t va, void* out, size_t len);
  bool copy_to_guest(uint64_t va, const void* in, size_t len);
  bool setup_thread(std::string* err);
  void resolve_protect_mode();
  bool setup_pkeys(std::string* err);
  bool run_user(Exit* e);  // pv@2as: guest user code in the user process until it traps

  PvOptions opts_;
  PvProtect protect_ = PvProtect::Mprotect;  // the mode in force (resolved at construction)
  std::string protect_error_;                // a forced mode that is unavailable, or a bad option
  PkeyGuard pkey_;                           // pkeys mode
  uint64_t pkru_writes_ = 0;
  // pv@pkeys W^X: TF set by the engine to single-step a store into a locked
  // code frame (pv_wx.cpp), and the guest's own TF at that moment.
  static constexpr uint64_t kTrapFlag = 0x100;
  bool wx_tf_set_ = false;
  uint64_t wx_guest_tf_ = 0;
  PvWindow win_;
  std::unique_ptr<PvUserSpace> us_;          // pv@2as (declared after win_: destroyed first)
  std::string reserve_error_;
  GuestMemory* mem_ = nullptr;
  InterruptSource* irq_ = nullptr;
  std::unique_ptr<PvMmu> mmu_;
  bool loaded_ = false;
  uint64_t trap_[256] = {};
  uint8_t trap_flags_[256] = {};
  std::optional<Exit> pending_exit_;
  uint8_t io_buf_[8] = {};
  std::vector<uint8_t> console_buf_;
  int pending_read_size_ = 0;
  PortIoHandler* pio_ = nullptr;  // the Vm's port-I/O dispatch (null: every access leaves run())
  uint64_t io_in_run_ = 0;        // pv.port_io_in_run
  // host thread state
  long thread_tid_ = 0;
  HostTimer timer_;
  uint64_t host_tick_ns_ = 0;
  std::string timer_error_;
  // counters
  uint64_t reflected_[256] = {};
  uint64_t syscall_bounce_ = 0, hidden_faults_ = 0, events_delivered_ = 0, batch_[4] = {};
  HostCpuidCache cpuid_;  // VTB_HC_CPUID answers
  uint64_t int80_refused_ = 0, sysenter_refused_ = 0, host_ticks_ = 0, blocks_ = 0;
  uint64_t last_hidden_va_ = ~0ULL, last_hidden_rip_ = ~0ULL;
  bool direct_user_ = false;  // the guest kernel made vm_assist(VTB_VMASST_DIRECT_USER_ACCESS)
  uint64_t syscall_bounce_ns_ = 0, hidden_fault_ns_ = 0;  // time.pv.* (ScopedNs)
};

extern PvEngine* g_engine;

}  // namespace vtb::pv
