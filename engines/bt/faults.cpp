// tags: engines|bt — desc: host signal handling: faults in translated code become dispatcher exits; engine faults become EngineError.
#include <signal.h>
#include <sys/ucontext.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

extern "C" void bt_fault_return();

namespace vtb::bt {

namespace {
Runtime* g_rt = nullptr;
struct sigaction g_old[32];
const int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
thread_local bool t_altstack = false;

void on_signal(int sig, siginfo_t* info, void* uctx) {
  if (g_rt && g_rt->handle_host_signal(sig, info, uctx)) return;
  // Not ours: restore the previous disposition and let the fault happen again.
  sigaction(sig, &g_old[sig], nullptr);
}

void ensure_altstack() {
  if (t_altstack) return;
  static thread_local std::string stack;
  stack.resize(256 * 1024);
  stack_t ss{};
  ss.ss_sp = stack.data();
  ss.ss_size = stack.size();
  ss.ss_flags = 0;
  sigaltstack(&ss, nullptr);
  t_altstack = true;
}

void on_async(int, siginfo_t*, void* uctx) {
  const int saved = errno;
  if (g_rt) g_rt->on_async_signal(uctx);
  errno = saved;
}
struct sigaction g_old_async;
}  // namespace

// Every thread that runs translated code needs the altstack: the guest rsp
// may be anything when a signal arrives.
void prepare_thread_signals() { ensure_altstack(); }

void install_signal_handlers(Runtime* rt) {
  g_rt = rt;
  ensure_altstack();
  struct sigaction sa{};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (int s : kSignals) sigaction(s, &sa, &g_old[s]);
  struct sigaction as{};
  as.sa_sigaction = on_async;
  as.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&as.sa_mask);
  sigaction(Runtime::async_signal_number(), &as, &g_old_async);
}

void remove_signal_handlers() {
  for (int s : kSignals) sigaction(s, &g_old[s], nullptr);
  // SIG_IGN first: discards an expiry still pending for this thread.
  signal(Runtime::async_signal_number(), SIG_IGN);
  sigaction(Runtime::async_signal_number(), &g_old_async, nullptr);
  g_rt = nullptr;
}

bool Runtime::handle_host_signal(int sig, void* info_v, void* uctx_v) {
  siginfo_t* info = static_cast<siginfo_t*>(info_v);
  ucontext_t* uc = static_cast<ucontext_t*>(uctx_v);
  greg_t* g = uc->uc_mcontext.gregs;
  const uint64_t rip = uint64_t(g[REG_RIP]);
  if (in_guest_ && (user_tc_.contains(rip) || kernel_tc_.contains(rip) || in_direct_range(rip))) {
    hf_.sig = sig;
    hf_.code = info->si_code;
    hf_.addr = reinterpret_cast<uint64_t>(sig == SIGSYS ? info->si_call_addr : info->si_addr);
    hf_.trapno = uint64_t(g[REG_TRAPNO]);
    hf_.err = uint64_t(g[REG_ERR]);
    capture_guest(uctx_v, rip);
    return true;
  }
  if (in_run_ && !in_guest_) {
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
void Runtime::capture_guest(void* uctx_v, uint64_t rip) {
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
    hf_.tc_rip = rip;
    g[REG_RIP] = reinterpret_cast<greg_t>(&bt_fault_return);
    g[REG_EFL] &= ~greg_t(kFlagDF | kFlagTF | kFlagAC);
  }
}

}  // namespace vtb::bt
