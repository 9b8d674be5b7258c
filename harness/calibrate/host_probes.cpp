// tags: harness|calibrate — desc: probes for host crossings without memory-map changes: SIGSEGV and SUD SIGSYS round trips, a raw syscall, cpuid, an in-process callout, futex handoffs between two processes (free, on one CPU, across two), pv@2as's mapper relay on one CPU, spin handoffs across two CPUs, an fd passed with SCM_RIGHTS, a seccomp user-notification round trip.
#include <cpuid.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

#include "common/clock.h"
#include "common/median.h"
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

// Shared words (a `Shared`, zeroed) in a MAP_SHARED memfd page and a child process that runs
// `peer(shared)` and exits: the two host processes of a doorbell (pv@2as: the engine process and the
// guest-user process). The child is killed and reaped when the probe ends.
template <class Shared>
class PeerProcess {
  static_assert(sizeof(Shared) <= 4096);

 public:
  template <class Fn>
  PeerProcess(Fn peer, std::string* err) {
    const int fd = memfd_create("vtb-calibrate-door", MFD_CLOEXEC);
    void* p = fd < 0 || ftruncate(fd, 4096) != 0
                  ? MAP_FAILED
                  : mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) *err = std::string("a shared memfd page: ") + std::strerror(errno);
    if (fd >= 0) close(fd);
    if (p == MAP_FAILED) return;
    shared_ = new (p) Shared{};
    pid_ = fork();
    if (pid_ < 0) *err = std::string("fork: ") + std::strerror(errno);
    if (pid_ == 0) {
      peer(shared_);
      _exit(0);
    }
  }
  ~PeerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (shared_) munmap(shared_, 4096);
  }
  bool ok() const { return pid_ > 0; }
  Shared* shared() const { return shared_; }
  // The child has exited or was killed (it is not reaped here: the destructor does that).
  bool gone() const {
    siginfo_t si{};
    return waitid(P_PID, id_t(pid_), &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != 0;
  }

 private:
  Shared* shared_ = nullptr;
  pid_t pid_ = -1;
};

bool pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return sched_setaffinity(0, sizeof one, &one) == 0;
}

// This thread's CPU affinity set to one CPU for the life of the object (a child forked meanwhile
// inherits it), then put back.
class ScopedCpu {
 public:
  ScopedCpu(int cpu, std::string* err) {
    if (sched_getaffinity(0, sizeof old_, &old_) != 0) {
      *err = std::string("sched_getaffinity: ") + std::strerror(errno);
      return;
    }
    if (!pin_to(cpu)) {
      *err = std::string("sched_setaffinity: ") + std::strerror(errno);
      return;
    }
    ok_ = true;
  }
  ~ScopedCpu() {
    if (ok_) sched_setaffinity(0, sizeof old_, &old_);
  }
  bool ok() const { return ok_; }

 private:
  cpu_set_t old_{};
  bool ok_ = false;
};

// The first two CPUs this thread may run on; false when it may run on fewer than two.
bool two_cpus(int* a, int* b) {
  cpu_set_t m;
  if (sched_getaffinity(0, sizeof m, &m) != 0) return false;
  *a = *b = -1;
  for (int c = 0; c < CPU_SETSIZE && *b < 0; ++c) {
    if (!CPU_ISSET(c, &m)) continue;
    (*a < 0 ? *a : *b) = c;
  }
  return *b >= 0;
}

// Two processes pass a token through a shared word with FUTEX_WAIT/FUTEX_WAKE (not private: the
// word is shared memory): one handoff = from one side's FUTEX_WAKE to the other's return from its
// FUTEX_WAIT (round trip / 2), the wake call included. The child first pins itself to `peer_cpu`
// (>= 0); this process has the affinity it was given.
double futex_token(int n, int peer_cpu, std::string* err) {
  PeerProcess<std::atomic<int>> peer([n, peer_cpu](std::atomic<int>* w) {
    if (peer_cpu >= 0) pin_to(peer_cpu);  // the child: its affinity is never put back
    for (int i = 0; i < n; ++i) {
      while (w->load() != 1) futex(w, FUTEX_WAIT, 0);
      w->store(0);
      futex(w, FUTEX_WAKE, 1);
    }
  }, err);
  if (!peer.ok()) return -1;
  std::atomic<int>* w = peer.shared();
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) {
    w->store(1);
    futex(w, FUTEX_WAKE, 1);
    while (w->load() != 0) futex(w, FUTEX_WAIT, 1);
  }
  return per_event(t0, 2 * n);
}

// Unpinned: the scheduler places the two processes (on this 2-vCPU VM bimodal: ~2.4 us when it keeps
// them on one CPU, ~11 us when a wake-up must reach the other, idle one: an IPI, a VM exit). Prices
// host.futex_wait, and pv@2as's futex hand-overs where nothing says where its sides ran (futex only).
double futex_handoff(int n, std::string* err) { return futex_token(n, -1, err); }

// Both processes pinned to the CPU this thread is on: a handoff is a switch on one CPU. Prices
// pv@2as's futex hand-overs with its two sides together (co-located, pinned, or kept together by the
// scheduler under contention: docs/calibrate.md).
double futex_handoff_pinned(int n, std::string* err) {
  const int cpu = sched_getcpu();
  if (cpu < 0) return *err = std::string("sched_getcpu: ") + std::strerror(errno), -1;
  ScopedCpu here(cpu, err);
  if (!here.ok()) return -1;
  return futex_token(n, -1, err);
}

// pv@2as's door and mapping-log words (engines/pv/pv_2as.cpp, user_host/uh_mapper.S): counters bumped
// by one side, and a flag per waiter saying it sleeps on its futex (a poster wakes only a sleeper).
struct RelayWords {
  std::atomic<int> seq, to_user, to_engine;
  std::atomic<int> mapper_sleeps, user_sleeps, engine_sleeps;
};

// Bumps `w` and wakes its waiter if it sleeps: true when it did.
bool relay_post(std::atomic<int>* w, std::atomic<int>* sleeps) {
  w->fetch_add(1);
  if (!sleeps->load()) return false;
  futex(w, FUTEX_WAKE, 1);
  return true;
}

// Waits (FUTEX_WAIT in 20 ms slices, `*sleeps` set meanwhile) until `w` is no longer `seen`; false
// after `limit_ns` without a change or when `gone()` says the other side died.
template <class Gone>
bool relay_wait(std::atomic<int>* w, int seen, std::atomic<int>* sleeps, uint64_t limit_ns, Gone gone) {
  const uint64_t t0 = monotonic_ns();
  sleeps->store(1);
  bool changed = true;
  while (w->load() == seen) {
    const timespec slice{0, 20000000};
    syscall(SYS_futex, reinterpret_cast<int*>(w), FUTEX_WAIT, seen, &slice, nullptr, 0);
    if (w->load() != seen) break;
    if (gone() || monotonic_ns() - t0 > limit_ns) {
      changed = false;
      break;
    }
  }
  sleeps->store(0);
  return changed;
}

// The user process of the relay: its mapper thread M (a pthread) waits on `seq`, writes an 8-byte
// token to `token_fd` and posts `to_user`; its guest thread G (this one) waits on `to_user` and posts
// `to_engine`. Either exits the process after 10 s without work (the engine died or gave up).
[[noreturn]] void relay_user(RelayWords* w, int token_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct Mapper {
    RelayWords* w;
    int fd;
  };
  static Mapper m;
  m = {w, token_fd};
  pthread_t tid;
  if (pthread_create(&tid, nullptr, [](void*) -> void* {
        const auto never = [] { return false; };
        for (int seen = 0;;) {
          if (!relay_wait(&m.w->seq, seen, &m.w->mapper_sleeps, 10000000000ULL, never)) _exit(1);
          seen = m.w->seq.load();
          const uint64_t one = 1;
          if (write(m.fd, &one, sizeof one) != ssize_t(sizeof one)) _exit(1);
          relay_post(&m.w->to_user, &m.w->user_sleeps);
        }
      }, nullptr) != 0)
    _exit(1);
  const auto never = [] { return false; };
  for (int seen = 0;;) {
    if (!relay_wait(&w->to_user, seen, &w->user_sleeps, 10000000000ULL, never)) _exit(1);
    seen = w->to_user.load();
    relay_post(&w->to_engine, &w->engine_sleeps);
  }
}

// pv@2as's resume through the mapper thread, all three parties pinned to the CPU this thread is on
// (such resumes co-locate): the engine E (this process) collects the last log's eventfd token,
// bumps `seq`, wakes M if it sleeps, yields once if it woke it, and waits on `to_engine`; M writes
// its token and wakes the guest thread G; G posts back to E. Measured against the plain round trip
// E <-> G through the same words (E posts `to_user` itself, the same yield), in alternating chunks
// of 25 rounds: one event = one relay round less one plain round (the median over the chunk pairs),
// what one mapping log adds to a resume, its mmaps excluded. Prices pv.2as.mapper_logs.
double mapper_relay(int n, std::string* err) {
  const int cpu = sched_getcpu();
  if (cpu < 0) return *err = std::string("sched_getcpu: ") + std::strerror(errno), -1;
  ScopedCpu here(cpu, err);
  if (!here.ok()) return -1;
  const int token_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (token_fd < 0) return *err = std::string("eventfd: ") + std::strerror(errno), -1;
  double r = -1;
  {
    PeerProcess<RelayWords> user([token_fd](RelayWords* w) { relay_user(w, token_fd); }, err);
    RelayWords* w = user.shared();
    const auto gone = [&user] { return user.gone(); };
    const int chunk = std::min(n, 25);
    std::vector<double> extra;
    bool token_due = false;
    int seen = 0;
    for (int done = 0; user.ok() && r < 0 && done + chunk <= n; done += chunk) {
      double ns[2] = {0, 0};
      for (int relay = 0; relay < 2 && err->empty(); ++relay) {
        const uint64_t t0 = monotonic_ns();
        for (int i = 0; i < chunk; ++i) {
          uint64_t token = 0;
          if (relay && token_due && read(token_fd, &token, sizeof token) != ssize_t(sizeof token)) {
            *err = "mapper_relay: the mapper's eventfd token is missing";
            break;
          }
          token_due = token_due || relay;
          if (relay_post(relay ? &w->seq : &w->to_user, relay ? &w->mapper_sleeps : &w->user_sleeps))
            sched_yield();
          if (!relay_wait(&w->to_engine, seen, &w->engine_sleeps, 5000000000ULL, gone)) {
            *err = "mapper_relay: the user process did not post back within 5 s (or died)";
            break;
          }
          seen = w->to_engine.load();
        }
        ns[relay] = double(monotonic_ns() - t0);
      }
      if (!err->empty()) break;
      extra.push_back((ns[1] - ns[0]) / chunk);
      if (done + 2 * chunk > n) r = median(extra);
    }
  }
  close(token_fd);
  if (r <= 0 && err->empty()) *err = "mapper_relay: the relay round was not dearer than the plain round trip";
  return err->empty() ? r : -1;
}

// The processes pinned to two different CPUs: every handoff wakes a sleeper on the other CPU. Prices
// pv@2as's futex waits after a spin that missed (the sides were spinning one per CPU).
double futex_handoff_cross(int n, std::string* err) {
  int mine = -1, theirs = -1;
  if (!two_cpus(&mine, &theirs)) return *err = "fewer than two CPUs allowed: no cross-CPU hand-over", -1;
  ScopedCpu here(mine, err);
  if (!here.ok()) return -1;
  return futex_token(n, theirs, err);
}

// A FUTEX_WAKE on a shared word nobody waits on: the waker's cost when the peer was spinning.
// Prices host.futex_wake (a wake that woke no one).
double futex_wake(int n, std::string*) {
  std::atomic<int> word{0};
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) futex(&word, FUTEX_WAKE, 1);
  return per_event(t0, n);
}

// Spin until `w` holds `v` (pause; after a while yield the CPU: with 2 vCPUs under load the peer may
// not be running, and a spinner that never yields would measure the scheduler's time slice).
void spin_until(std::atomic<int>* w, int v) {
  for (unsigned k = 1; w->load(std::memory_order_acquire) != v; ++k) {
    __builtin_ia32_pause();
    if (k % 256 == 0) sched_yield();
  }
}

// The same token passed by spinning on the shared word, no system call, each process pinned to its
// own CPU (pv@2as spins only in quiet epochs, when each side has a CPU): one handoff = round trip / 2.
// Prices host.spin_handoff and pv@2as's hand-overs caught spinning. Unavailable with fewer than two
// CPUs (pv@2as does not spin there either).
double spin_handoff(int n, std::string* err) {
  int mine = -1, theirs = -1;
  if (!two_cpus(&mine, &theirs)) return *err = "fewer than two CPUs allowed: no spinning hand-over", -1;
  ScopedCpu here(mine, err);
  if (!here.ok()) return -1;
  PeerProcess<std::atomic<int>> peer([n, theirs](std::atomic<int>* w) {
    pin_to(theirs);
    for (int i = 0; i < n; ++i) {
      spin_until(w, 1);
      w->store(0, std::memory_order_release);
    }
  }, err);
  if (!peer.ok()) return -1;
  std::atomic<int>* w = peer.shared();
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; i < n; ++i) {
    w->store(1, std::memory_order_release);
    spin_until(w, 0);
  }
  return per_event(t0, 2 * n);
}

// One byte of data and room for one descriptor: a message of send_fd / recv_fd.
struct FdMessage {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  FdMessage() {
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

// Sends `fd` over the unix socket `sock` with SCM_RIGHTS.
bool send_fd(int sock, int fd) {
  FdMessage msg;
  cmsghdr* c = CMSG_FIRSTHDR(&msg.m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &msg.m, 0) == 1;
}

// The descriptor a send_fd on the other end passed, or -1.
int recv_fd(int sock) {
  FdMessage msg;
  const cmsghdr* c = recvmsg(sock, &msg.m, MSG_CMSG_CLOEXEC) == 1 ? CMSG_FIRSTHDR(&msg.m) : nullptr;
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

// One file descriptor (a memfd, as guest RAM is) passed over a unix socketpair with SCM_RIGHTS:
// sendmsg, recvmsg of the new descriptor, close of it, in one process (the hand-over between the two
// processes is priced apart). Prices nothing: it measures passing pv@2as's guest-RAM memfd once per
// resume that carries mappings instead of vetting each mmap, a design docs/pv.md rejects as unsound.
double scm_rights(int n, std::string* err) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return *err = std::string("socketpair: ") + std::strerror(errno), -1;
  const int fd = memfd_create("vtb-calibrate-scm", MFD_CLOEXEC);
  double r = -1;
  if (fd < 0) *err = std::string("memfd_create: ") + std::strerror(errno);
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; fd >= 0 && i < n; ++i) {
    int got = -1;
    if (!send_fd(sv[0], fd) || (got = recv_fd(sv[1])) < 0) {
      *err = std::string("SCM_RIGHTS over a socketpair: ") + std::strerror(errno);
      break;
    }
    close(got);
    if (i == n - 1) r = per_event(t0, n);
  }
  if (fd >= 0) close(fd);
  close(sv[0]);
  close(sv[1]);
  return r;
}

// A child whose getppid is a seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER; the
// listener passed to this process with SCM_RIGHTS) makes `n` of them; this process receives each and
// answers CONTINUE. Both on the CPU this thread is on. One event = one notified system call's round
// trip (child -> this process -> child: two switches on one CPU, the system call's own work
// excluded). Prices pv@2as's pv.2as.map_checks: before the memfd was passed, each user-process mmap of
// guest RAM waited for the engine's check this way (docs/pv.md).
double seccomp_notify(int n, std::string* err) {
  const int cpu = sched_getcpu();
  if (cpu < 0) return *err = std::string("sched_getcpu: ") + std::strerror(errno), -1;
  ScopedCpu here(cpu, err);
  if (!here.ok()) return -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return *err = std::string("socketpair: ") + std::strerror(errno), -1;
  const pid_t pid = fork();
  if (pid == 0) {
    sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{sizeof f / sizeof f[0], f};
    const int l = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                      ? int(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog))
                      : -1;
    if (l < 0 || !send_fd(sv[1], l)) _exit(1);
    close(l);
    for (int i = 0; i < n; ++i) syscall(SYS_getppid);
    _exit(0);
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return *err = std::string("fork: ") + std::strerror(errno), -1;
  }
  const int l = recv_fd(sv[0]);
  close(sv[0]);
  double r = -1;
  if (l < 0) *err = "seccomp user notification unavailable (the child could not install its filter)";
  const uint64_t t0 = monotonic_ns();
  for (int i = 0; l >= 0 && i < n; ++i) {
    seccomp_notif req{};
    seccomp_notif_resp resp{};
    if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      *err = std::string("SECCOMP_IOCTL_NOTIF_RECV: ") + std::strerror(errno);
      break;
    }
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &resp) != 0) {
      *err = std::string("SECCOMP_IOCTL_NOTIF_SEND: ") + std::strerror(errno);
      break;
    }
    if (i == n - 1) r = per_event(t0, n);
  }
  if (l >= 0) close(l);  // a child still waiting gets ENOSYS and goes on
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
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
      {"futex_handoff",
       "one FUTEX_WAKE->FUTEX_WAIT handoff between two processes on a shared word, unpinned (round trip / 2)", 3000,
       futex_handoff},
      {"futex_handoff_pinned",
       "the same futex handoff with both processes pinned to one CPU (pv@2as co-located; round trip / 2)", 3000,
       futex_handoff_pinned},
      {"mapper_relay",
       "what pv@2as's mapper thread adds to a resume: E->M->G->E relay (eventfd token, yield) less E<->G, one CPU",
       2000, mapper_relay},
      {"futex_handoff_cross",
       "the same futex handoff with the processes pinned to two different CPUs (a wake-up on the other CPU)", 500,
       futex_handoff_cross},
      {"futex_wake", "FUTEX_WAKE on a shared word nobody waits on", 60000, futex_wake},
      {"spin_handoff", "one handoff between two processes spinning on a shared word, one per CPU (round trip / 2)",
       1000, spin_handoff},
      {"scm_rights", "sendmsg + recvmsg of one memfd with SCM_RIGHTS over a unix socketpair, close of the copy",
       6000, scm_rights},
      {"seccomp_notify",
       "a seccomp user notification's round trip: a child's notified getppid answered CONTINUE, one CPU", 3000,
       seccomp_notify},
  };
  return p;
}

}  // namespace vtb::calibrate
