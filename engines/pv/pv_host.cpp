// tags: engines|pv — desc: signal handlers (guest faults, SUD bounces, ticks), sigaltstack, SUD, timers.
#include "engines/pv/pv_host.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "common/clock.h"
#include "common/sud.h"
#include "engines/pv/pv_cpu.h"
#include "common/host_events.h"
#include "engines/pv/pv_pkru.h"


namespace vtb::pv {
namespace {

const int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
struct sigaction g_old[NSIG];
bool g_installed = false;
int (*g_sync_hook)() = nullptr;
thread_local bool t_setup = false;
thread_local uint64_t t_altstack = 0;  // this thread's sigaltstack (kept once made)

bool in_window(uint64_t a) { return a >= VTB_WINDOW_LO && a < VTB_WINDOW_HI; }
bool in_entry_asm(uint64_t a) {
  return a >= uint64_t(vtb_pv_asm_begin) && a < uint64_t(vtb_pv_asm_end);
}

// Guest code was interrupted: code in the window, or anything outside the
// entry assembly while guest code runs (a guest jump out of the window
// faults there: it is the guest's fault, not the host's).
bool interrupted_guest(const PvCpu& v, uint64_t rip) {
  return v.active && (in_window(rip) || (v.in_guest && !in_entry_asm(rip)));
}

// The guest's FS/GS bases at the signal (the trampoline read them) become
// its saved state when the signal leaves to host code.
void keep_guest_bases(PvCpu& v) {
  v.guest_fs = v.sig_fs;
  v.guest_gs = v.sig_gs;
  v.in_guest = 0;
}

// Copy the interrupted guest state into the vCPU block.
void copy_in(ucontext_t* uc, int sig, siginfo_t* si) {
  PvCpu& v = vtb_pv_cpu;
  greg_t* g = uc->uc_mcontext.gregs;
  v.gpr[RAX] = g[REG_RAX]; v.gpr[RCX] = g[REG_RCX]; v.gpr[RDX] = g[REG_RDX]; v.gpr[RBX] = g[REG_RBX];
  v.gpr[RSP] = g[REG_RSP]; v.gpr[RBP] = g[REG_RBP]; v.gpr[RSI] = g[REG_RSI]; v.gpr[RDI] = g[REG_RDI];
  v.gpr[R8] = g[REG_R8];   v.gpr[R9] = g[REG_R9];   v.gpr[R10] = g[REG_R10]; v.gpr[R11] = g[REG_R11];
  v.gpr[R12] = g[REG_R12]; v.gpr[R13] = g[REG_R13]; v.gpr[R14] = g[REG_R14]; v.gpr[R15] = g[REG_R15];
  v.rip = uint64_t(g[REG_RIP]);
  v.rflags = uint64_t(g[REG_EFL]);
  v.sig = sig;
  v.si_code = si->si_code;
  v.trapno = uint64_t(g[REG_TRAPNO]);
  v.err = uint64_t(g[REG_ERR]);
  v.addr = sig == SIGSYS ? uint64_t(si->si_call_addr) : uint64_t(si->si_addr);
}

// Resume the guest state of the vCPU block when the signal returns.
void copy_out(ucontext_t* uc) {
  const PvCpu& v = vtb_pv_cpu;
  greg_t* g = uc->uc_mcontext.gregs;
  g[REG_RAX] = greg_t(v.gpr[RAX]); g[REG_RCX] = greg_t(v.gpr[RCX]); g[REG_RDX] = greg_t(v.gpr[RDX]);
  g[REG_RBX] = greg_t(v.gpr[RBX]); g[REG_RSP] = greg_t(v.gpr[RSP]); g[REG_RBP] = greg_t(v.gpr[RBP]);
  g[REG_RSI] = greg_t(v.gpr[RSI]); g[REG_RDI] = greg_t(v.gpr[RDI]); g[REG_R8] = greg_t(v.gpr[R8]);
  g[REG_R9] = greg_t(v.gpr[R9]);   g[REG_R10] = greg_t(v.gpr[R10]); g[REG_R11] = greg_t(v.gpr[R11]);
  g[REG_R12] = greg_t(v.gpr[R12]); g[REG_R13] = greg_t(v.gpr[R13]); g[REG_R14] = greg_t(v.gpr[R14]);
  g[REG_R15] = greg_t(v.gpr[R15]);
  g[REG_RIP] = greg_t(v.rip);
  g[REG_EFL] = greg_t(v.rflags);
}

// Leave to the run loop: the signal returns to vtb_pv_signal_exit on the host stack.
void exit_guest(ucontext_t* uc, int sig, siginfo_t* si, ExitReason why) {
  PvCpu& v = vtb_pv_cpu;
  greg_t* g = uc->uc_mcontext.gregs;
  copy_in(uc, sig, si);
  keep_guest_bases(v);
  v.exit_reason = why;
  g[REG_RIP] = greg_t(vtb_pv_signal_exit);
  g[REG_RSP] = greg_t(v.host_rsp);
  g[REG_EFL] = 0x202;
}

// 1: the signal now returns into host code (the trampoline keeps the host's
// FS/GS bases); 0: it returns where it interrupted.
int on_signal(int sig, siginfo_t* si, void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  count_host(sig == SIGSYS ? HostEvent::Sigsys : HostEvent::Signal);
  PvCpu& v = vtb_pv_cpu;
  const uint64_t rip = uint64_t(uc->uc_mcontext.gregs[REG_RIP]);
  const bool guest = interrupted_guest(v, rip);
  if (sig == timer_signal()) {
    if (!v.active) return 0;
    v.timer_fired = 1;
    if (!guest) return 0;  // host code: the flag is checked at the next hypercall or exit
    const uint64_t now = monotonic_ns();
    if (now >= v.deadline_ns) {
      v.limit_hit = 1;
      exit_guest(uc, sig, si, ExitReason::Signal);
      return 1;
    } else if (v.mode == Mode::User || (v.shared && v.shared->vif)) {
      exit_guest(uc, sig, si, ExitReason::Signal);
      return 1;
    } else if (v.shared && v.timer_period_ns && now >= v.timer_next_ns) {
      v.shared->pending = 1;  // delivered when the guest re-enables events
    }
    return 0;
  }
  if (guest) {
    // Synchronous guest traps (faults, bounced syscalls) are served right
    // here: the interrupted code is guest code, so the engine may run, and
    // sigreturn restores the guest's FP state. The signal then returns
    // straight into the guest kernel's handler.
    if (g_sync_hook) {
      copy_in(uc, sig, si);
      const int r = g_sync_hook();
      if (r == 0) {
        copy_out(uc);
        // sigreturn restores PKRU from the frame: the mode's, not the
        // interrupted code's (a bounced syscall enters the guest kernel).
        if (v.pkeys) pkru_port().write_frame(uc, v.mode == Mode::User ? v.pkru_user : v.pkru_kernel);
        return 0;
      }
      v.sig = 0;  // served: the run loop returns the exit the hook prepared
    }
    keep_guest_bases(v);
    v.exit_reason = ExitReason::Signal;
    uc->uc_mcontext.gregs[REG_RIP] = greg_t(vtb_pv_signal_exit);
    uc->uc_mcontext.gregs[REG_RSP] = greg_t(v.host_rsp);
    uc->uc_mcontext.gregs[REG_EFL] = 0x202;
    return 1;
  }
  if (v.active && rip >= uint64_t(vtb_pv_touch_begin) && rip < uint64_t(vtb_pv_touch_end)) {
    keep_guest_bases(v);
    v.exit_reason = ExitReason::BadStack;
    v.addr = uint64_t(si->si_addr);
    uc->uc_mcontext.gregs[REG_RIP] = greg_t(vtb_pv_signal_exit);
    uc->uc_mcontext.gregs[REG_RSP] = greg_t(v.host_rsp);
    return 1;
  }
  // Not the guest's: restore the previous disposition; the fault recurs there.
  sigaction(sig, &g_old[sig], nullptr);
  return 0;
}

}  // namespace

int timer_signal() { return SIGRTMIN + 2; }

void set_sync_trap_hook(int (*hook)()) { g_sync_hook = hook; }

bool install_signal_handlers(std::string* err) {
  if (g_installed) return true;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(vtb_pv_signal_trampoline);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, timer_signal());
  for (int s : kSignals)
    if (sigaction(s, &sa, &g_old[s]) != 0) {
      *err = std::string("sigaction: ") + std::strerror(errno);
      return false;
    }
  if (sigaction(timer_signal(), &sa, &g_old[timer_signal()]) != 0) {
    *err = std::string("sigaction(timer): ") + std::strerror(errno);
    return false;
  }
  g_installed = true;
  return true;
}

void restore_signal_handlers() {
  if (!g_installed) return;
  for (int s : kSignals) sigaction(s, &g_old[s], nullptr);
  // A tick still queued must not kill the process (an RT signal's default).
  signal(timer_signal(), SIG_IGN);
  g_installed = false;
}

void teardown_vcpu_thread() {
  if (!t_setup) return;
  sud_disable();
  t_setup = false;  // the sigaltstack stays: later signals may still use it
}

bool setup_vcpu_thread(std::string* err) {
  if (t_setup) {
    vtb_pv_cpu.altstack = t_altstack;  // the thread that runs the vCPU now
    return true;
  }
  constexpr size_t kAlt = PV_ALTSTACK_SIZE;
  void* p = mmap(nullptr, kAlt, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    *err = std::string("sigaltstack mmap: ") + std::strerror(errno);
    return false;
  }
  stack_t ss{};
  ss.ss_sp = p;
  ss.ss_size = kAlt;
  if (sigaltstack(&ss, nullptr) != 0) {
    *err = std::string("sigaltstack: ") + std::strerror(errno);
    return false;
  }
  if (!sud_enable_inclusive(VTB_WINDOW_LO, VTB_WINDOW_HI - VTB_WINDOW_LO, err)) return false;
  t_altstack = vtb_pv_cpu.altstack = uint64_t(p);
  t_setup = true;
  return true;
}


bool timer_start(HostTimer* timer, long tid, uint64_t period_ns, std::string* err) {
  timer_stop(timer);
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = timer_signal();
  sev._sigev_un._tid = int(tid);
  timer_t t;
  if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0) {
    *err = std::string("timer_create: ") + std::strerror(errno);
    return false;
  }
  itimerspec its{};
  its.it_interval.tv_sec = time_t(period_ns / 1000000000ULL);
  its.it_interval.tv_nsec = long(period_ns % 1000000000ULL);
  its.it_value = its.it_interval;
  if (timer_settime(t, 0, &its, nullptr) != 0) {
    *err = std::string("timer_settime: ") + std::strerror(errno);
    timer_delete(t);
    return false;
  }
  timer->id = static_cast<void*>(t);
  timer->valid = true;
  return true;
}

void timer_stop(HostTimer* timer) {
  if (timer->valid) {
    timer_delete(static_cast<timer_t>(timer->id));
    timer->valid = false;
  }
}

}  // namespace vtb::pv

extern "C" int vtb_pv_on_signal(int sig, void* info, void* uc) {
  return vtb::pv::on_signal(sig, static_cast<siginfo_t*>(info), uc);
}
