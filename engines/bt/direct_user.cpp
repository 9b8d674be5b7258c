// tags: engines|bt — desc: direct execution of guest user code (the option beside translating it): SUD syscalls, faults and timer exits back into the guest kernel.
#include <signal.h>

#include <cstring>

#include "common/abi/vtb_abi.h"
#include "common/sud.h"
#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

namespace vtb::bt {

// Syscalls issued from guest user addresses raise SIGSYS on this thread; host
// code (the PIE at 0x55..., libraries at 0x7f...) lies outside the range.
Status Runtime::enable_direct_thread() {
  if (sud_thread_) return Status::ok();
  std::string err;
  if (!sud_enable_inclusive(VTB_WINDOW_LO, VTB_USER_TOP - VTB_WINDOW_LO, &err))
    return Status::unavailable("bt-direct: " + err);
  sud_thread_ = true;
  return Status::ok();
}

bool Runtime::in_direct_range(uint64_t rip) const {
  return in_direct_ && rip >= VTB_WINDOW_LO && rip < VTB_USER_TOP && !user_tc_.contains(rip);
}

// The native guest user code left through a signal (hf_, registers already in
// the vCPU block): turn it into what the guest kernel must see. False: engine
// error (error_ set).
bool Runtime::direct_exit() {
  const uint64_t pc = hf_.tc_rip;
  cpu_.rip = pc;
  if (hf_.sig == async_signal_number()) {  // timer or wall deadline: the dispatcher delivers
    ++st_.direct_interrupts;
    return true;
  }
  if (hf_.sig == SIGSYS) {  // rip is after the syscall, rax the number
    ++st_.direct_syscalls;
    ++st_.priv[uint8_t(CalloutOp::Syscall)];
    do_syscall();
    return true;
  }
  ++st_.direct_faults;
  if (hf_.sig == SIGSEGV) {
    if (hf_.trapno == 14) {
      GuestFaultInfo f;
      const HostFaultAction act = (hf_.err & 0x10) ? mem_->host_fetch_fault(hf_.addr, true, &f)
                                                   : mem_->host_fault(hf_.addr, hf_.err & 2, true, &f);
      switch (act) {
        case HostFaultAction::Retry:
          ++st_.hidden_fault;
          return true;
        case HostFaultAction::TracedWrite:
          mem_->drop_write_trace(hf_.addr);
          ++st_.pte_untraced;
          return true;
        case HostFaultAction::Unknown: {
          char buf[128];
          snprintf(buf, sizeof buf, "bt-direct: host fault at 0x%llx from guest user pc 0x%llx is not a guest address",
                   (unsigned long long)hf_.addr, (unsigned long long)pc);
          error_ = buf;
          return false;
        }
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
        raise(insn[1], 0, false, 0, true);
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
