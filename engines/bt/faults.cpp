// tags: engines|bt — desc: host signal handling (every handler enters through bt_signal_trampoline): faults in translated or directly executed guest code become dispatcher exits; engine faults become EngineError.
#include <signal.h>
#include <sys/ucontext.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"
#include "common/host_events.h"

extern "C" void bt_fault_return();

namespace vtb::bt {

namespace {
Runtime* g_rt = nullptr;
struct sigaction g_old[32];
const int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
thread_local bool t_altstack = false;
thread_local std::string t_stack;

void ensure_altstack() {
  if (t_altstack) return;
  t_stack.resize(256 * 1024);
  stack_t ss{};
  ss.ss_sp = t_stack.data();
  ss.ss_size = t_stack.size();
  ss.ss_flags = 0;
  sigaltstack(&ss, nullptr);
  t_altstack = true;
}

struct sigaction g_old_async;
}  // namespace

// Every thread that runs translated code needs the altstack: the guest rsp
// may be anything when a signal arrives. The one of the thread that runs the
// guest tells bt_signal_trampoline that a signal is from that thread.
void prepare_thread_signals() {
  ensure_altstack();
  bt_direct_host.alt_lo = reinterpret_cast<uint64_t>(t_stack.data());
  bt_direct_host.alt_hi = bt_direct_host.alt_lo + t_stack.size();
}

// Every handler enters through bt_signal_trampoline (bt_entry.S): host FS/GS
// bases first. (No signal is added to the handlers' masks: a mask change makes
// every signal delivery and sigreturn take the kernel's slow path, ~100 ns per
// SUD bounce here; the trampoline clears `live` instead, so that a signal
// nested in a handler is never taken for the guest's.)
void install_signal_handlers(Runtime* rt) {
  g_rt = rt;
  ensure_altstack();
  struct sigaction sa{};
  sa.sa_sigaction = reinterpret_cast<void (*)(int, siginfo_t*, void*)>(&bt_signal_trampoline);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (int s : kSignals) sigaction(s, &sa, &g_old[s]);
  struct sigaction as = sa;
  as.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigaction(Runtime::async_signal_number(), &as, &g_old_async);
}

void remove_signal_handlers() {
  for (int s : kSignals) sigaction(s, &g_old[s], nullptr);
  // SIG_IGN first: discards an expiry still pending for this thread.
  signal(Runtime::async_signal_number(), SIG_IGN);
  sigaction(Runtime::async_signal_number(), &g_old_async, nullptr);
  g_rt = nullptr;
}

bool Runtime::handle_host_signal(int sig, void* info_v, void* uctx_v, const SignalFrame* fr) {
  siginfo_t* info = static_cast<siginfo_t*>(info_v);
  ucontext_t* uc = static_cast<ucontext_t*>(uctx_v);
  greg_t* g = uc->uc_mcontext.gregs;
  const uint64_t rip = uint64_t(g[REG_RIP]);
  if (direct_guest_interrupted(rip, fr) ||
      (in_guest_ && !in_direct_ && (user_tc_.contains(rip) || kernel_tc_.contains(rip)))) {
    hf_.sig = sig;
    hf_.code = info->si_code;
    hf_.addr = reinterpret_cast<uint64_t>(sig == SIGSYS ? info->si_call_addr : info->si_addr);
    hf_.trapno = uint64_t(g[REG_TRAPNO]);
    hf_.err = uint64_t(g[REG_ERR]);
    capture_guest(uctx_v, rip, fr);
    return true;
  }
  if (fr->vcpu && in_run_ && !in_guest_) {
    char buf[160];
    snprintf(buf, sizeof buf, "bt: host signal %d in the engine itself at rip 0x%llx (address 0x%llx)", sig,
             (unsigned long long)rip, (unsigned long long)reinterpret_cast<uint64_t>(info->si_addr));
    error_ = buf;
    siglongjmp(engine_fault_jmp_, 1);
  }
  return false;
}

void Runtime::engine_fatal(const std::string& msg) {
  if (in_run_) {
    error_ = msg;
    in_guest_ = false;
    siglongjmp(engine_fault_jmp_, 1);
  }
  fprintf(stderr, "%s\n", msg.c_str());
  abort();
}

// The guest registers of the interrupted code go to the vCPU block and the
// thread leaves through bt_fault_return to the dispatcher (hf_ says why).
void Runtime::capture_guest(void* uctx_v, uint64_t rip, const SignalFrame* fr) {
  ucontext_t* uc = static_cast<ucontext_t*>(uctx_v);
  greg_t* g = uc->uc_mcontext.gregs;
  {
    AsmVcpu* a = asm_vcpu();
    a->gpr[RAX] = uint64_t(g[REG_RAX]);
    a->gpr[RCX] = uint64_t(g[REG_RCX]);
    a->gpr[RDX] = uint64_t(g[REG_RDX]);
    a->gpr[RBX] = uint64_t(g[REG_RBX]);
    a->gpr[RSP] = uint64_t(g[REG_RSP]);
    a->gpr[RBP] = uint64_t(g[REG_RBP]);
    a->gpr[RSI] = uint64_t(g[REG_RSI]);
    a->gpr[RDI] = uint64_t(g[REG_RDI]);
    a->gpr[R8] = uint64_t(g[REG_R8]);
    a->gpr[R9] = uint64_t(g[REG_R9]);
    a->gpr[R10] = uint64_t(g[REG_R10]);
    a->gpr[R11] = uint64_t(g[REG_R11]);
    a->gpr[R12] = uint64_t(g[REG_R12]);
    a->gpr[R13] = uint64_t(g[REG_R13]);
    a->gpr[R14] = uint64_t(g[REG_R14]);
    a->gpr[R15] = uint64_t(g[REG_R15]);
    a->rflags = (uint64_t(g[REG_EFL]) & kLiveFlags) | 2;
    if (in_direct_) unseal_after_direct(fr);
    hf_.tc_rip = rip;
    g[REG_RIP] = reinterpret_cast<greg_t>(&bt_fault_return);
    g[REG_EFL] &= ~greg_t(kFlagDF | kFlagTF | kFlagAC);
  }
}

}  // namespace vtb::bt

// The C++ side of bt_signal_trampoline. 1: the signal now returns into host
// code (the host's FS/GS bases stay); 0: it resumes the interrupted code.
extern "C" int bt_on_signal(int sig, siginfo_t* info, void* uctx, const vtb::bt::SignalFrame* fr) {
  using vtb::bt::g_rt;
  using vtb::bt::Runtime;
  const int saved = errno;
  vtb::count_host(sig == SIGSYS ? vtb::HostEvent::Sigsys : vtb::HostEvent::Signal);
  int to_host = 0;
  if (sig == Runtime::async_signal_number()) {
    if (g_rt) to_host = g_rt->on_async_signal(uctx, fr);
  } else if (g_rt && g_rt->handle_host_signal(sig, info, uctx, fr)) {
    to_host = 1;
  } else {
    // Not ours: restore the previous disposition and let the fault happen again.
    sigaction(sig, &vtb::bt::g_old[sig], nullptr);
  }
  errno = saved;
  return to_host;
}
