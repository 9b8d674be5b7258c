// tags: harness|calibrate — desc: probes for host crossings without memory-map changes: SIGSEGV and SUD SIGSYS round trips, a raw syscall, cpuid, an in-process callout, a futex handoff.
#include <cpuid.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/clock.h"
#include "common/sud.h"
#include "harness/calibrate/calibrate.h"

// A load from the address in rdi whose resume point the SIGSEGV handler knows.
extern "C" void vtb_cal_fault(const void* p);
extern "C" char vtb_cal_fault_resume[];
asm(".text\n"
    ".globl vtb_cal_fault\n.type vtb_cal_fault,@function\n"
    "vtb_cal_fault:\n  movq (%rdi), %rax\n"
    ".globl vtb_cal_fault_resume\n"
    "vtb_cal_fault_resume:\n  ret\n"
    ".size vtb_cal_fault, .-vtb_cal_fault\n");

namespace vtb::calibrate {

namespace {

double per_event(uint64_t t0, int n) { return double(monotonic_ns() - t0) / n; }

void on_segv(int, siginfo_t*, void* ucv) {
  static_cast<ucontext_t*>(ucv)->uc_mcontext.gregs[REG_RIP] = greg_t(vtb_cal_fault_resume);
}

void on_sigsys(int, siginfo_t*, void* ucv) { static_cast<ucontext_t*>(ucv)->uc_mcontext.gregs[REG_RAX] = 0; }

// Installs `fn` for `sig` for the life of the object, then puts the old one back.
struct ScopedHandler {
  int sig;
  struct sigaction old {};
  bool ok;
  ScopedHandler(int s, void (*fn)(int, siginfo_t*, void*)) : sig(s) {
    struct sigaction sa {};
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ok = sigaction(sig, &sa, &old) == 0;
  }
  ~ScopedHandler() {
    if (ok) sigaction(sig, &old, nullptr);
  }
};

double signal_segv(int n, std::string* err) {
  ScopedHandler h(SIGSEGV, on_segv);
  if (!h.ok) return *err = std::string("sigaction: ") + std::strerror(errno), -1;
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) vtb_cal_fault(nullptr);
  return per_event(t0, n);
}

double sud_sigsys(int n, std::string* err) {
  std::string why;
  if (!sud_inclusive_available(&why)) return *err = why, -1;
  // mov eax, 39 (getpid); syscall; ret: the one range whose syscalls are dispatched.
  static const uint8_t code[] = {0xb8, 0x27, 0, 0, 0, 0x0f, 0x05, 0xc3};
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return *err = std::string("mmap: ") + std::strerror(errno), -1;
  std::memcpy(page, code, sizeof code);
  mprotect(page, 4096, PROT_READ | PROT_EXEC);
  auto fn = reinterpret_cast<long (*)()>(page);
  ScopedHandler h(SIGSYS, on_sigsys);
  double r = -1;
  if (h.ok && sud_enable_inclusive(uint64_t(page), 4096, err)) {
    const uint64_t t0 = monotonic_ns();
    for (int i = 0; i < n; ++i) fn();
    r = per_event(t0, n);
    sud_disable();
  } else if (!h.ok) {
    *err = std::string("sigaction: ") + std::strerror(errno);
  }
  munmap(page, 4096);
  return r;
}

double raw_syscall(int n, std::string*) {
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) syscall(SYS_getppid);
  return per_event(t0, n);
}

double host_cpuid(int n, std::string*) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) __cpuid_count(0, 0, a, b, c, d);
  asm volatile("" ::"r"(a), "r"(b), "r"(c), "r"(d));
  return per_event(t0, n);
}

// An engine's callout: an indirect call into C++ that the compiler cannot see through.
__attribute__((noinline)) uint64_t callout_target(uint64_t x) {
  asm volatile("" : "+r"(x)::"memory");
  return x + 1;
}

double callout(int n, std::string*) {
  uint64_t (*volatile fn)(uint64_t) = callout_target;
  uint64_t x = 0;
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) x = fn(x);
  asm volatile("" ::"r"(x));
  return per_event(t0, n);
}

long futex(std::atomic<int>* w, int op, int val) {
  return syscall(SYS_futex, reinterpret_cast<int*>(w), op, val, nullptr, nullptr, 0);
}

// Two threads pass a token back and forth with FUTEX_WAIT/FUTEX_WAKE: one handoff =
// the time from one thread's wake to the other's return from its wait (round trip / 2).
double futex_handoff(int n, std::string*) {
  std::atomic<int> word{0};
  std::thread peer([&] {
    for (int i = 0; i < n; ++i) {
      while (word.load() != 1) futex(&word, FUTEX_WAIT_PRIVATE, 0);
      word.store(0);
      futex(&word, FUTEX_WAKE_PRIVATE, 1);
    }
  });
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) {
    word.store(1);
    futex(&word, FUTEX_WAKE_PRIVATE, 1);
    while (word.load() != 0) futex(&word, FUTEX_WAIT_PRIVATE, 1);
  }
  const double r = per_event(t0, 2 * n);
  peer.join();
  return r;
}

}  // namespace

const std::vector<Probe>& host_probes() {
  static const std::vector<Probe> p = {
      {"signal", "SIGSEGV raised by a load, handled, sigreturn to the next instruction", 12000, signal_segv},
      {"sigsys", "Syscall User Dispatch: a dispatched syscall's SIGSYS, handled, sigreturn", 12000, sud_sigsys},
      {"syscall", "a raw host syscall (getppid), for reference", 60000, raw_syscall},
      {"cpuid", "host cpuid leaf 0 (traps to the hypervisor when virtualized)", 6000, host_cpuid},
      {"callout", "an indirect call into host C++ and back (no kernel entry)", 600000, callout},
      {"futex_handoff", "one FUTEX_WAKE->FUTEX_WAIT handoff between two threads (round trip / 2)", 6000, futex_handoff},
  };
  return p;
}

}  // namespace vtb::calibrate
