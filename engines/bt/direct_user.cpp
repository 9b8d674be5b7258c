// tags: engines|bt — desc: direct execution of guest user code (the option beside translating it): SUD syscalls, faults and timer exits back into the guest kernel, and what keeps it from the host (FS/GS bases, the vCPU block, jumps out of its memory).
#include <signal.h>
#include <sys/auxv.h>

#include <cstring>

#include "common/scoped_ns.h"
#include "common/abi/vtb_abi.h"
#include "common/sud.h"
#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

namespace vtb::bt {

extern "C" {
__attribute__((visibility("hidden"))) DirectHost bt_direct_host{};
}

// Syscalls issued anywhere in the window raise SIGSYS on this thread: guest
// user code, and also a jump into the translation caches (which lie in the
// window too; their bytes may hold a `syscall` in the middle of an
// instruction). Host code (the PIE at 0x55..., libraries at 0x7f...) lies
// outside the range.
Status Runtime::enable_direct_thread() {
  if (sud_thread_) return Status::ok();
  std::string err;
  if (!sud_enable_inclusive(VTB_WINDOW_LO, VTB_WINDOW_HI - VTB_WINDOW_LO, &err))
    return Status::unavailable("bt-direct: " + err);
  sud_thread_ = true;
  return Status::ok();
}

bool Runtime::guest_user_pc(uint64_t rip) {
  return rip >= VTB_WINDOW_LO && rip < VTB_USER_TOP &&
         !(rip >= VTB_HOST_RESERVED_USER_LO && rip < VTB_HOST_RESERVED_USER_HI);
}

// Guest user code runs natively from the jump in bt_enter_direct until a
// signal handler takes it off the CPU; it may have jumped anywhere (out of the
// window, into a translation cache), so everything but the entry assembly on
// the vCPU thread is guest code then.
bool Runtime::direct_guest_interrupted(uint64_t rip, const SignalFrame* fr) const {
  return fr->vcpu && fr->live && in_direct_ &&
         !(rip >= reinterpret_cast<uint64_t>(bt_asm_begin) && rip < reinterpret_cast<uint64_t>(bt_asm_end));
}

// The bases host code runs with on this thread (the run thread may change
// between runs). Without FSGSBASE (CPU or kernel) they cannot be switched
// cheaply: guest user code then sees the host's (bt.fsgs_isolation 0).
void Runtime::record_thread_bases() {
  bt_direct_host.fsgs = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) ? 1 : 0;
  if (!bt_direct_host.fsgs) return;
  __asm__ volatile("rdfsbase %0" : "=r"(bt_direct_host.host_fs));
  __asm__ volatile("rdgsbase %0" : "=r"(bt_direct_host.host_gs));
}

// Before a direct entry: the vCPU block is within the guest's reach while its
// user code runs, so it holds nothing of the host's then (stack pointer, code
// and data pointers, MXCSR) and none of the kernel's scratch values; what the
// guest may overwrite there and the host trusts is kept here.
void Runtime::seal_for_direct() {
  AsmVcpu* a = asm_vcpu();
  a->fs_base = canonical_address(a->fs_base);  // wrfsbase in the entry would fault on the host otherwise
  a->gs_base = canonical_address(a->gs_base);
  sealed_.budget = a->budget;
  sealed_.vif = a->vif;
  sealed_.fs_base = a->fs_base;
  sealed_.gs_base = a->gs_base;
  sealed_.kernel_gs_base = a->kernel_gs_base;
  memcpy(sealed_.inline_count, a->inline_count, sizeof sealed_.inline_count);
  a->host_sp = a->exit_fn = a->fault_rec = 0;
  a->host_mxcsr = 0;
  a->s0 = a->s1 = a->s2 = a->s4 = a->s5 = a->s6 = a->ea = 0;
}

// In the signal handler that takes directly executed guest user code off the
// CPU (the trampoline cleared `live` and installed the host's bases): the
// guest's bases at the signal become its virtual ones, and the host's fields of the vCPU block are
// put back before bt_fault_return reads them.
void Runtime::unseal_after_direct(const SignalFrame* fr) {
  AsmVcpu* a = asm_vcpu();
  a->host_sp = bt_direct_host.host_sp;
  a->host_mxcsr = bt_direct_host.host_mxcsr;
  put_host_fields();  // exit_fn, fault_rec and the address checks' bounds
  a->budget = sealed_.budget;
  a->vif = sealed_.vif;
  a->kernel_gs_base = sealed_.kernel_gs_base;
  memcpy(a->inline_count, sealed_.inline_count, sizeof a->inline_count);
  sync_inline_state();  // the derived fields and the inline cpuid answer, whatever the guest wrote there
  unsigned v[4];
  guest_cpuid(uint32_t(cpuid_key_), uint32_t(cpuid_key_ >> 32), v);
  a->fs_base = fr->switched ? fr->fs : sealed_.fs_base;
  a->gs_base = fr->switched ? fr->gs : sealed_.gs_base;
  cpu_.fs.base = a->fs_base;
  cpu_.gs.base = a->gs_base;
}

// Guest user code fetches (or would fetch) an instruction at `va` outside
// its memory: the #PF the guest's tables give such a fetch (#GP for a
// non-canonical address). cpu_.rip is already the instruction's.
void Runtime::raise_outside_fetch(uint64_t va) {
  ++st_.direct_outside;
  const GuestFaultInfo f = mem_->fetch_fault(va, true);
  raise(f.vector, f.error, true, f.addr);
}

// The native guest user code left through a signal (hf_, registers already in
// the vCPU block): turn it into what the guest kernel must see. False: engine
// error (error_ set).
bool Runtime::direct_exit() {
  const uint64_t pc = hf_.tc_rip;
  cpu_.rip = pc;
  if (!guest_user_pc(pc)) {
    // It jumped out of its memory (below the window, above it, into guest
    // kernel text, into the host's ranges or a translation cache) and the
    // signal caught it there: a fetch fault at the address it runs at.
    ++st_.direct_faults;
    raise_outside_fetch(pc);
    return true;
  }
  if (hf_.sig == async_signal_number()) {  // timer or wall deadline: the dispatcher delivers
    ++st_.direct_interrupts;
    return true;
  }
  if (hf_.sig == SIGSYS) {  // rip is after the instruction
    // Syscall User Dispatch hands over every host system call, and on a host
    // kernel with IA-32 emulation `int $0x80` (and `sysenter`) are system
    // calls too. Only `syscall` is the guest's system call; the bytes before
    // the reported address tell which instruction it was. (All three are two
    // bytes long, and the CPU has just executed them at these host addresses,
    // so they are read there: a walk of the guest's tables would add ~150 ns
    // to every system call.)
    uint8_t b[2] = {0, 0};
    const bool got = guest_user_pc(pc - 2);
    if (got) memcpy(b, reinterpret_cast<const void*>(pc - 2), 2);
    const SudInsn insn = got ? sud_insn(b) : SudInsn::Other;
    if (insn == SudInsn::Syscall) {  // rax the number
      ++st_.direct_syscalls;
      ++st_.priv[uint8_t(CalloutOp::Syscall)];
      do_syscall();
      return true;
    }
    ++st_.direct_faults;
    if (insn == SudInsn::SoftInt) {  // int $0x80: the guest's own gate decides, as for any `int n`
      cpu_.rip = pc;
      raise(b[1], 0, false, 0, 2);
    } else {  // sysenter (#UD in long mode on AMD, and for bt) or nothing we know
      cpu_.rip = pc - 2;
      raise(6);
    }
    return true;
  }
  ++st_.direct_faults;
  if (hf_.sig == SIGSEGV) {
    if (hf_.trapno == 14) {
      GuestFaultInfo f;
      const bool fetch = hf_.err & 0x10;
      HostFaultAction act;
      {
        ScopedNs timed(st_.host_fault_ns);
        act = fetch ? mem_->host_fetch_fault(hf_.addr, true, &f) : mem_->host_fault(hf_.addr, hf_.err & 2, true, &f);
      }
      switch (act) {
        case HostFaultAction::Retry:
          ++st_.hidden_fault;
          return true;
        case HostFaultAction::TracedWrite:
          mem_->drop_write_trace(hf_.addr);
          ++st_.pte_untraced;
          return true;
        case HostFaultAction::Unknown:
          // Not a guest address (the host's ranges in the window, the
          // read-only lookup tables): the guest instruction chose it, so it
          // is the guest's #PF, never an engine error.
          if (fetch) {
            raise_outside_fetch(hf_.addr);
          } else {
            ++st_.direct_outside;
            raise_outside_access(hf_.addr, hf_.err & 2, true);
          }
          return true;
        case HostFaultAction::Guest:
          raise(f.vector, f.error, true, f.addr);
          return true;
      }
    }
    if (hf_.trapno == 13 && (hf_.err & 7) == 2) {
      // `int n` through a host IDT gate the host refuses: the guest's own
      // gate decides (software interrupt, return address after it).
      uint8_t insn[2] = {0, 0};
      GuestFaultInfo f;
      if (mem_->read(pc, insn, 2, true, &f) && insn[0] == 0xcd && insn[1] == uint8_t(hf_.err >> 3)) {
        cpu_.rip = pc + 2;
        raise(insn[1], 0, false, 0, 2);
        return true;
      }
    }
  }
  // Otherwise (a privileged instruction at CPL 3, a non-canonical address,
  // SIGILL/SIGFPE/SIGTRAP/SIGBUS) the exception the signal stands for.
  raise_signal_exception(true);  // int3 ran natively: rip is already after it
  return true;
}

}  // namespace vtb::bt
