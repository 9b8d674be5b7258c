// tags: engines|pv — desc: upcalls: event (timer) delivery under the virtual IF, fault reflection, syscall bounces.
#include <signal.h>
#include <sys/mman.h>

#include <cstdio>

#include "common/abi/vtb_abi.h"
#include "common/scoped_ns.h"
#include "common/clock.h"
#include "common/page_walk.h"
#include "common/sud.h"
#include "engines/pv/pv_engine_impl.h"
#include "engines/pv/pv_host.h"

namespace vtb::pv {
namespace {

std::string hex(uint64_t x) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", (unsigned long long)x);
  return b;
}

bool has_error_code(unsigned v) { return v == 8 || (v >= 10 && v <= 14) || v == 17; }

const char* vector_name(unsigned v) {
  static const char* const n[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?",
                                  "#TS", "#NP", "#SS", "#GP", "#PF", "?",   "#MF", "#AC", "#MC", "#XM"};
  if (v < 20) return n[v];
  if (v == VTB_PV_VECTOR_SYSCALL) return "syscall";
  return "event";
}

}  // namespace

void PvEngine::set_mode(Mode m) {
  PvCpu& v = vtb_pv_cpu;
  if (m == v.mode) return;  // user->user, kernel->kernel: nothing to switch
  v.mode = m;  // first: PKRU is always written for the mode the vCPU is in
  switch (protect_) {
    case PvProtect::Mprotect:
      if (m == Mode::User) mmu_->protect_kernel();
      else mmu_->unprotect_kernel();
      break;
    case PvProtect::Pkeys:
      pkru_port().write(m == Mode::User ? v.pkru_user : v.pkru_kernel);
      ++pkru_writes_;
      // A single-stepped store that has not completed (an event came
      // first): its page is W+X only while that one user instruction runs.
      if (m == Mode::Kernel && mmu_->wx_stepping()) mmu_->wx_end_step();
      break;
    case PvProtect::TwoAs:
    case PvProtect::Off:
      break;
  }
}

bool PvEngine::events_due(uint64_t now) {
  const PvCpu& v = vtb_pv_cpu;
  if (v.timer_period_ns && now >= v.timer_next_ns) return true;
  irq_->update(now);
  return irq_->pending();
}

bool PvEngine::deliver_events(bool* delivered) {
  PvCpu& v = vtb_pv_cpu;
  *delivered = false;
  v.timer_fired = 0;
  const uint64_t now = monotonic_ns();
  if (!events_due(now)) {
    v.shared->pending = 0;
    return true;
  }
  if (v.mode == Mode::Kernel && !v.shared->vif) {
    v.shared->pending = 1;  // the guest checks it when it sets vif again
    return true;
  }
  int vector;
  if (v.timer_period_ns && now >= v.timer_next_ns) {
    vector = VTB_IRQ_BASE + VTB_IRQ_TIMER;
    v.timer_next_ns += v.timer_period_ns;
    if (v.timer_next_ns <= now) v.timer_next_ns = now + v.timer_period_ns;  // coalesce missed ticks
  } else {
    vector = irq_->acknowledge();
    if (vector < 0) return true;
  }
  v.shared->pending = 0;
  v.shared->ticks = v.shared->ticks + 1;
  if (!upcall(unsigned(vector), false, 0, "event")) return false;
  ++events_delivered_;
  *delivered = true;
  return true;
}

bool PvEngine::upcall(unsigned vector, bool has_err, uint64_t err, const char* what) {
  PvCpu& v = vtb_pv_cpu;
  const bool from_user = v.mode == Mode::User;
  if (!trap_[vector]) {
    pending_exit_ = fault_exit(std::string("pv: unhandled ") + what + " " + vector_name(vector) + " (vector " +
                                   std::to_string(vector) + ") in guest " + (from_user ? "user" : "kernel") +
                                   " mode at rip " + hex(v.rip) + ", error " + hex(err) +
                                   (vector == 14 ? ", cr2 " + hex(v.shared->cr2) : std::string()) +
                                   ": no trap-table entry",
                               vector, err, vector == 14 ? v.shared->cr2 : 0);
    return false;
  }
  uint64_t sp = from_user ? v.kernel_sp : v.gpr[RSP];
  if (from_user && !sp) {
    pending_exit_ = fault_exit("pv: upcall from user mode but no kernel stack was registered (stack_switch)", vector);
    return false;
  }
  sp = (sp & ~15ULL) - sizeof(vtb_pv_trap_frame);
  if (from_user && wx_tf_set_) {  // a single-stepped store that has not run (pv_wx.cpp): the guest's own TF back
    v.rflags = (v.rflags & ~kTrapFlag) | wx_guest_tf_;
    wx_tf_set_ = false;  // set_mode(Kernel) below ends the step
  }
  vtb_pv_trap_frame f;
  f.error_code = has_err ? err : 0;
  f.rip = v.rip;
  f.cs = from_user ? VTB_PV_CS_USER : VTB_PV_CS_KERNEL;
  f.rflags = (v.rflags & ~0x200ULL) | ((from_user || v.shared->vif) ? 0x200 : 0);
  f.rsp = v.gpr[RSP];
  f.ss = from_user ? VTB_PV_SS_USER : VTB_PV_SS_KERNEL;
  if (!copy_to_guest(sp, &f, sizeof f)) {
    Exit e = fault_exit("pv: double fault: cannot push the upcall frame for vector " + std::to_string(vector) +
                            " at kernel rsp " + hex(sp),
                        8, 0, sp);
    e.kind = ExitKind::Shutdown;
    pending_exit_ = e;
    return false;
  }
  if (from_user) set_mode(Mode::Kernel);
  v.gpr[RSP] = sp;
  v.rip = trap_[vector];
  v.rflags = 0x202;
  v.shared->vif = 0;
  return true;
}

bool PvEngine::reflect(unsigned vector, uint64_t err, bool has_err, uint64_t cr2) {
  PvCpu& v = vtb_pv_cpu;
  if (vector == 14) v.shared->cr2 = cr2;
  if (!upcall(vector, has_err, err, "fault")) return false;
  ++reflected_[vector];
  return true;
}

// `int n` at v.rip (two bytes): delivered when the guest's trap table opens
// vector n to the current mode, else the #GP(n*8+2) the CPU gives.
bool PvEngine::software_interrupt(unsigned n) {
  PvCpu& v = vtb_pv_cpu;
  if (trap_[n] && (v.mode == Mode::Kernel || (trap_flags_[n] & VTB_TRAP_FLAG_USER))) {
    v.rip += 2;
    return upcall(n, false, 0, "int");
  }
  if (n == 0x80) ++int80_refused_;
  return reflect(13, (uint64_t(n) << 3) | 2, true, 0);
}

bool PvEngine::handle_signal() {
  PvCpu& v = vtb_pv_cpu;
  const int sig = v.sig;
  if (sig == timer_signal()) {
    ++host_ticks_;
    if (v.limit_hit) {
      Exit e;
      e.kind = ExitKind::LimitReached;
      e.rip = v.rip;
      e.message = std::string("pv: wall-clock limit reached while the guest ran (rip ") + hex(v.rip) +
                  (v.shared->vif || v.mode == Mode::User ? ")" : ", events masked)");
      pending_exit_ = e;
      return false;
    }
    return true;  // the run loop delivers what is due
  }
  if (sig == SIGSYS) {
    // Only a `syscall` instruction is the guest's system call; `int $0x80`
    // and `sysenter` (host system calls under IA-32 emulation) are refused as
    // the hardware would (common/sud.h).
    uint8_t b[2] = {0, 0};
    const SudInsn insn = v.rip >= 2 && copy_from_guest(v.rip - 2, b, 2) ? sud_insn(b) : SudInsn::Other;
    if (insn == SudInsn::SoftInt && b[1] == 0x80) {
      v.rip -= 2;
      return software_interrupt(0x80);
    }
    if (insn != SudInsn::Syscall) {  // sysenter (its return address is not kept) or unknown
      ++sysenter_refused_;
      return reflect(6, 0, false, 0);
    }
    if (v.mode == Mode::User) {
      ++syscall_bounce_;
      ScopedNs timed(syscall_bounce_ns_);
      v.gpr[RCX] = v.rip;  // as the syscall instruction leaves them
      v.gpr[R11] = v.rflags;
      return upcall(VTB_PV_VECTOR_SYSCALL, false, 0, "syscall");
    }
    return reflect(6, 0, false, 0);  // `syscall` in the pv kernel: not allowed there
  }
  const unsigned trapno = unsigned(v.trapno);
  switch (sig) {
    case SIGSEGV:
    case SIGBUS: {
      if (trapno == 13 && (v.err & 2))  // `int n` through an IDT gate the host refuses
        return software_interrupt(unsigned(v.err >> 3) & 0xff);
      if (trapno != 14 && sig == SIGSEGV) return reflect(trapno ? trapno : 13, v.err, has_error_code(trapno), 0);
      // #SS (a stack access at a non-canonical address): the host sends SIGBUS, no CR2.
      if (trapno == 12 && sig == SIGBUS) return reflect(12, v.err, true, 0);
      const uint64_t cr2 = v.addr;
      WalkRequest req;
      req.write = (v.err & 2) != 0;
      req.fetch = (v.err & 16) != 0;
      req.user = v.mode == Mode::User;
      req.set_ad = false;
      if (!req.user && win_.user_remote() && cr2 >= VTB_WINDOW_LO && cr2 < VTB_HOST_RESERVED_KERNEL_LO)
        return kernel_fault_in_remote_half(cr2, req);
      const WalkResult w = walk_page_tables(*mem_, mmu_->cr3(), cr2, req);
      if (w.status == WalkStatus::NonCanonical) return reflect(13, 0, true, 0);
      if (w.status == WalkStatus::Ok) {
        // pv@pkeys W^X: a fetch from a page not yet inspected, a write to a
        // locked code frame (pv_wx.cpp). A page that holds a PKRU-changing
        // sequence never runs: the fetch is the guest's #PF (P, I/D, U).
        switch (mmu_->wx_fault(cr2, w.gpa, req.write, req.fetch || cr2 == v.rip)) {
          case PvMmu::WxFault::Served: return win_.error().empty();
          case PvMmu::WxFault::Step:  // one instruction, then SIGTRAP (below)
            if (!wx_tf_set_) wx_guest_tf_ = v.rflags & kTrapFlag;
            wx_tf_set_ = true;
            v.rflags |= kTrapFlag;
            return win_.error().empty();
          case PvMmu::WxFault::Refused:
            return reflect(14, kPfPresent | kPfFetch | (req.user ? uint64_t(kPfUser) : 0), true, cr2);
          case PvMmu::WxFault::NotMine: break;
        }
        if (cr2 < VTB_HOST_RESERVED_KERNEL_LO && !mmu_->is_page_table(w.gpa)) {
          // The guest allows it: the window is out of step (hidden fault).
          if (cr2 == last_hidden_va_ && v.rip == last_hidden_rip_) {
            Exit e;
            e.kind = ExitKind::EngineError;
            e.rip = v.rip;
            e.message = "pv: window mirror out of step at va " + hex(cr2) + " (repeated fault)";
            pending_exit_ = e;
            return false;
          }
          last_hidden_va_ = cr2, last_hidden_rip_ = v.rip;
          ++hidden_faults_;
          ScopedNs timed(hidden_fault_ns_);
          return mmu_->resync_page(cr2);
        }
        // A released page table the kernel now writes as ordinary memory.
        if (v.mode == Mode::Kernel && req.write && mmu_->release_stale_table(cr2)) return win_.error().empty();
        // Allowed by the guest's tables but refused by the engine: a write to
        // a page-table frame, or kernel memory from user mode.
        const uint64_t e = kPfPresent | (req.write ? uint64_t(kPfWrite) : 0) | (req.user ? uint64_t(kPfUser) : 0) |
                           (req.fetch ? uint64_t(kPfFetch) : 0);
        return reflect(14, e, true, cr2);
      }
      last_hidden_va_ = ~0ULL;
      return reflect(14, w.error_code, true, cr2);
    }
    case SIGILL: {
      uint8_t b[2] = {0, 0};
      if (copy_from_guest(v.rip, b, 2) && b[0] == 0x0f && b[1] == 0x34) ++sysenter_refused_;
      return reflect(6, 0, false, 0);
    }
    case SIGFPE:
      return reflect(trapno == 16 || trapno == 19 ? trapno : 0, 0, false, 0);
    case SIGTRAP:
      if (trapno == 1 && wx_tf_set_) {  // the single-stepped store (pv@pkeys W^X) is done
        wx_tf_set_ = false;
        if (!mmu_->wx_end_step()) return win_.error().empty();
        v.rflags = (v.rflags & ~kTrapFlag) | wx_guest_tf_;
        if (!wx_guest_tf_) return true;  // the guest was not single-stepping itself
      }
      return reflect(trapno == 1 ? 1 : 3, 0, false, 0);
    default: {
      Exit e;
      e.kind = ExitKind::EngineError;
      e.message = "pv: unexpected host signal " + std::to_string(sig) + " in guest code";
      pending_exit_ = e;
      return false;
    }
  }
}

bool PvEngine::kernel_fault_in_remote_half(uint64_t cr2, const WalkRequest& req) {
  PvCpu& v = vtb_pv_cpu;
  const WalkResult w = walk_page_tables(*mem_, mmu_->cr3(), cr2, req);
  if (w.status == WalkStatus::Ok && !w.user && !mmu_->is_page_table(w.gpa)) {
    // A kernel-only page of the user half (tbk's census trampoline): the
    // kernel's own memory, mapped here until its range changes.
    const int prot = PROT_READ | (w.writable ? PROT_WRITE : 0) | (w.executable ? PROT_EXEC : 0);
    return win_.map_kernel_page(cr2 & ~uint64_t(VTB_PAGE_SIZE - 1), mem_->fd(),
                                w.gpa & ~uint64_t(VTB_PAGE_SIZE - 1), prot);
  }
  Exit e;
  e.kind = ExitKind::EngineError;
  e.rip = v.rip;
  e.message = "pv@2as: the guest kernel touched user memory at va " + hex(cr2) + " (rip " + hex(v.rip) +
              ") after vm_assist(direct user access)";
  pending_exit_ = e;
  return false;
}

}  // namespace vtb::pv
