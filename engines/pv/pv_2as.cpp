// tags: engines|pv — desc: pv@2as engine side: start the user process, hand guest user state over the doorbell, log mapping changes.
#include "engines/pv/pv_2as.h"

#include <cpuid.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>

#include "common/host_events.h"
#include "common/clock.h"
#include "common/scoped_ns.h"
#include "engines/pv/pv_mmu.h"

namespace vtb::pv {
namespace {

constexpr size_t kDoorBytes = PV_DOOR_BYTES, kRegionBytes = PV_DOOR_BYTES + PV_MAPLOG_BYTES;
// The most a hand-over spins before its futex wait in the spin mode
// (VTB_PV_2AS_SPIN_US; pv_door.h's pv_spin: it spins only while the peer
// has been answering within this). 5-10 µs left ctxswitch bimodal up to
// 180 µs on the dev VM, 30 and 100 µs did not (docs/pv.md).
constexpr uint64_t kDefaultSpinUs = 30;
constexpr uint64_t kMaxSpinUs = 1000;

// VTB_PV_USER_HOST, else next to the running binary (an install:
// <prefix>/libexec/vtb/), else the one built with the engine.
const char* user_host_path() {
  if (const char* e = std::getenv("VTB_PV_USER_HOST"); e && *e) return e;
  static const std::string found = [] {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      std::string dir(self, size_t(n));
      dir.resize(dir.rfind('/'));
      const std::string p = dir + "/../libexec/vtb/pv_user_host";
      if (access(p.c_str(), X_OK) == 0) return p;
    }
    return std::string(PV_USER_HOST_PATH);
  }();
  return found.c_str();
}

long futex(volatile uint32_t* w, int op, uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, const_cast<uint32_t*>(w), op, val, ts, nullptr, 0);
}

std::string errno_text(const char* what, int e) { return std::string(what) + ": " + std::strerror(e); }

std::string hex_va(uint64_t va) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", (unsigned long long)va);
  return b;
}

const char* setup_step(uint64_t s) {
  switch (s) {
    case 1: return "placed inside the guest window (no ASLR?)";
    case 2: return "PR_SET_PDEATHSIG";
    case 3: return "reserving the guest window";
    case 4: return "sigaltstack";
    case 5: return "signal handlers";
    case 6: return "Syscall User Dispatch";
    case 7: return "seccomp filter";
    case 8: return "the mapper thread (clone or its seccomp filter)";
  }
  return "set-up";
}

// TSC ticks per nanosecond, measured once per process against the
// monotonic clock over 2 ms (the spin bounds are in ticks: both processes
// read the TSC, the user process has no clock of its own).
double tsc_per_ns() {
  static const double rate = [] {
    const uint64_t ns0 = monotonic_ns(), t0 = __rdtsc();
    uint64_t ns = ns0;
    while ((ns = monotonic_ns()) - ns0 < 2000000) _mm_pause();
    return double(__rdtsc() - t0) / double(ns - ns0);
  }();
  return rate;
}

}  // namespace

// What the mode stands on, probed without side effects: the user-process
// binary (the rest -- SUD, seccomp filters, eventfd -- is checked where the
// engine picks its mode, or fails the start with its reason).
bool PvUserSpace::available(std::string* why) {
  if (access(user_host_path(), X_OK) != 0) {
    *why = errno_text((std::string("pv: protection mode 2as: user-process binary ") + user_host_path()).c_str(), errno);
    return false;
  }
  return true;
}

PvUserSpace::~PvUserSpace() {
  if ((pinned_ || colocate_saved_) && syscall(SYS_gettid) == pinned_tid_) sched_setaffinity(0, sizeof old_mask_, &old_mask_);
  for (auto& sl : slots_) close_slot(*sl);
}

void PvUserSpace::close_slot(Slot& sl) {
  kill_process(sl);
  if (sl.door) munmap(sl.door, kRegionBytes);
  if (sl.door_fd >= 0) close(sl.door_fd);
  if (sl.done_fd >= 0) close(sl.done_fd);
  sl.door_fd = sl.done_fd = -1;
  sl.door = nullptr;
  sl.maplog = nullptr;
}

void PvUserSpace::kill_process(Slot& sl) {
  if (sl.pid <= 0) return;
  if (sl.door) {
    sl.door->cmd_exit = 1;
    post_to_user(sl);
  }
  kill(sl.pid, SIGKILL);
  int st = 0;
  while (waitpid(sl.pid, &st, 0) < 0 && errno == EINTR) {
  }
  sl.pid = -1;
}

// Any of them: an idle one that died (killed from outside) is as fatal as
// the running one, found at the next wait rather than when it is needed.
bool PvUserSpace::dead(std::string* err) {
  int st = 0;
  pid_t r = 0;
  const Slot* gone = nullptr;
  for (auto& sl : slots_) {
    if (sl->pid <= 0 || (r = waitpid(sl->pid, &st, WNOHANG)) == 0) continue;
    sl->pid = -1;
    gone = sl.get();
    break;
  }
  if (r == 0) return false;
  if (r < 0)
    *err = errno_text("pv@2as: the user process vanished (waitpid)", errno);
  else if (WIFSIGNALED(st))
    *err = "pv@2as: the user process died with signal " + std::to_string(WTERMSIG(st)) +
           (WTERMSIG(st) == SIGSEGV ? " (a fault in its trap handler or a bad resume frame)" : "");
  else
    *err = "pv@2as: the user process exited with status " + std::to_string(WEXITSTATUS(st)) +
           (WEXITSTATUS(st) == 127   ? std::string(" (exec of ") + user_host_path() + " failed)"
            : WEXITSTATUS(st) == 126 ? std::string(" (could not pass it its file descriptors)")
            : WEXITSTATUS(st) == 2   ? std::string(" (it could not map its door)")
            : WEXITSTATUS(st) == 3 && gone && gone->door && gone->door->map_failed
                ? " (its mapper could not apply the mapping at " + hex_va(gone->door->map_fail_va) + ": " +
                      std::strerror(int(gone->door->map_fail_errno)) + ")"
                : std::string());
  return true;
}

// VTB_PV_2AS_SPIN_US (the most a hand-over spins, 0-1000; 0: futex only) and
// VTB_PV_2AS_SPIN_GATE (0: spin whatever the host's load: measurements, tests).
bool PvUserSpace::configure(std::string* err) {
  // A number in [lo, hi]; unset keeps *out.
  auto number = [err](const char* name, const char* what, uint64_t lo, uint64_t hi, uint64_t* out) {
    const char* e = std::getenv(name);
    if (!e || !*e) return true;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(e, &end, 10);
    if (errno || *end || *e == '-' || n < lo || n > hi) {
      *err = std::string("pv@2as: ") + name + "='" + e + "' is not a number of " + what + " (" + std::to_string(lo) +
             "-" + std::to_string(hi) + ")";
      return false;
    }
    *out = n;
    return true;
  };
  // One of `values` (its index in *out: "a, b or c" in the message); unset keeps *out.
  auto one_of = [err](const char* name, std::initializer_list<const char*> values, unsigned* out) {
    const char* e = std::getenv(name);
    if (!e || !*e) return true;
    std::string list;
    unsigned i = 0;
    for (const char* v : values) {
      if (std::strcmp(e, v) == 0) {
        *out = i;
        return true;
      }
      list += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + std::string(v);
      ++i;
    }
    *err = std::string("pv@2as: ") + name + "='" + e + "' is not " + list;
    return false;
  };
  spin_us_ = kDefaultSpinUs;
  uint64_t procs = kDefaultProcs;
  unsigned quiet = 0, gate = 1, yield = 1;  // auto; gated; yield when co-located
  if (!number("VTB_PV_2AS_SPIN_US", "microseconds", 0, kMaxSpinUs, &spin_us_) ||
      !number("VTB_PV_2AS_PROCS", "user processes", 1, kMaxProcs, &procs) ||
      !one_of("VTB_PV_2AS_QUIET", {"auto", "pin", "spin"}, &quiet) ||
      !one_of("VTB_PV_2AS_SPIN_GATE", {"0", "1"}, &gate) || !one_of("VTB_PV_2AS_YIELD", {"0", "1", "2"}, &yield))
    return false;
  max_procs_ = unsigned(procs);
  quiet_mode_ = quiet == 1 ? QuietMode::Pin : quiet == 2 ? QuietMode::Spin : QuietMode::Auto;
  gate_ = gate == 1;
  yield_ = yield;
  return true;
}

bool PvUserSpace::start(int mem_fd, bool fsgs, int preempt_sig, std::string* err) {
  if (running()) return true;
  if (!xsave_size_) {
    // The engine's FP/SIMD image (XCR0 components, standard format) and the
    // bits the hardware accepts in MXCSR (a bad value would make xrstor fault).
    unsigned a = 0, b = 0, c = 0, d = 0;
    __get_cpuid_count(0xd, 0, &a, &b, &c, &d);
    xsave_size_ = std::min<uint32_t>(b, PV_FPU_AREA);
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0_ = (uint64_t(hi) << 32) | lo;
    alignas(16) uint8_t fx[512] = {};
    __asm__ volatile("fxsave64 %0" : "=m"(fx));
    std::memcpy(&mxcsr_mask_, fx + 28, 4);
    if (!mxcsr_mask_) mxcsr_mask_ = 0xffbf;
    // Where each XCR0 component ends in the standard format, asked once:
    // `cpuid` traps on a virtual host (~1-5 µs each), too dear per trap.
    for (unsigned i = 2; i < 63; ++i) {
      if (!(xcr0_ >> i & 1)) continue;
      unsigned ca = 0, cb = 0, cc = 0, cd = 0;
      __get_cpuid_count(0xd, i, &ca, &cb, &cc, &cd);
      xsave_end_[i] = cb + ca;  // offset + size
    }
  }
  mem_fd_ = mem_fd;
  fsgs_ = fsgs;
  preempt_sig_ = preempt_sig;
  spin_ = pv_spin{};
  log_cap_ = PV_DOOR_LOG_MAX;  // VTB_PV_2AS_LOG_CAP: a smaller log (tests: the overflow replay)
  if (const char* e = std::getenv("VTB_PV_2AS_LOG_CAP"); e && *e)
    log_cap_ = std::clamp<uint64_t>(std::strtoull(e, nullptr, 10), 2, PV_DOOR_LOG_MAX);
  if (slots_.empty()) slots_.push_back(std::make_unique<Slot>());
  s_ = slots_[0].get();
  if (!spawn(*s_, err)) return false;
  spin_ = pv_spin{spin_us_ && spin_cpus() ? uint64_t(tsc_per_ns() * 1000.0 * double(spin_us_)) : 0, 0};
  return true;
}

// Start a user process in `sl` and wait until it is ready (its door reset,
// its log empty, it maps nothing of the guest yet). The current process
// stays current.
bool PvUserSpace::spawn(Slot& sl, std::string* err) {
  if (sl.door_fd < 0) {
    sl.door_fd = int(syscall(SYS_memfd_create, "vtb-pv-door", MFD_CLOEXEC));
    if (sl.door_fd < 0 || ftruncate(sl.door_fd, off_t(kRegionBytes)) != 0) {
      *err = errno_text("pv@2as: door memfd", errno);
      return false;
    }
    void* p = mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE, MAP_SHARED, sl.door_fd, 0);
    if (p == MAP_FAILED) {
      *err = errno_text("pv@2as: door mmap", errno);
      return false;
    }
    sl.door = static_cast<pv_door*>(p);
    sl.maplog = reinterpret_cast<pv_maplog*>(static_cast<char*>(p) + kDoorBytes);
  }
  if (sl.done_fd >= 0) close(sl.done_fd);
  sl.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (sl.done_fd < 0) {
    *err = errno_text("pv@2as: eventfd", errno);
    return false;
  }
  std::memset(sl.door, 0, offsetof(pv_door, trap_fpu));
  sl.maplog->seq = 0;
  sl.maplog->n = 0;
  sl.outstanding = 0;
  sl.mapper_tid = -1;
  sl.door->magic = PV_DOOR_MAGIC;
  sl.door->engine_pid = uint64_t(getpid());
  sl.door->preempt_sig = uint32_t(preempt_sig_);
  sl.door->fsgs = fsgs_ ? 1 : 0;
  sl.door->spin_cap = 0;  // until the contention gate has seen a quiet epoch (run)
  sl.seen = 0;
  sl.log.clear();
  sl.overflow = false;
  sl.has_root = false;
  sl.shadow.clear();
  const char* path = user_host_path();
  char* const argv[] = {const_cast<char*>("vtb-pv-user"), nullptr};
  char* const envp[] = {nullptr};
  const int mem_fd = mem_fd_, door_fd = sl.door_fd, done_fd = sl.done_fd;
  const pid_t pid = fork();
  if (pid < 0) {
    *err = errno_text("pv@2as: fork", errno);
    return false;
  }
  if (pid == 0) {  // async-signal-safe calls only until execve
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Its own process group: a stopped user process in the engine's group
    // gets the kernel's SIGHUP + SIGCONT when another member's exit orphans
    // that group (seen once: "died with signal 1" instead of "does not
    // answer"); the engine's death still kills it (PDEATHSIG).
    setpgid(0, 0);
    // Above the target numbers first (either may be 3 or 4 already, CLOEXEC).
    const int m = fcntl(mem_fd, F_DUPFD, 10), d = fcntl(door_fd, F_DUPFD, 10), t = fcntl(done_fd, F_DUPFD, 10);
    if (m < 0 || d < 0 || t < 0 || dup2(m, PV_DOOR_MEMFD) < 0 || dup2(d, PV_DOOR_DOORFD) < 0 ||
        dup2(t, PV_DOOR_DONEFD) < 0)
      _exit(126);
    syscall(SYS_close_range, PV_DOOR_DONEFD + 1, ~0U, 0);  // nothing else of the engine's
    execve(path, argv, envp);
    _exit(127);
  }
  sl.pid = pid;
  ++spawns_;
  // Where the others run (pinned or co-located): there too.
  if (pinned_) sched_setaffinity(pid, sizeof one_cpu_, &one_cpu_);
  else if (place_ != Place::Free) sched_setaffinity(pid, sizeof user_mask_, &user_mask_);
  Slot* const was = s_;
  s_ = &sl;
  const uint64_t counts[3] = {spins_, spin_misses_, futex_waits_};  // per handoff: not the start-up
  static PvCpu boot;  // no ticks: only the start-up limit applies
  bool ok = wait_trap(boot, 10000000000ULL, err);
  spins_ = counts[0], spin_misses_ = counts[1], futex_waits_ = counts[2];
  if (!ok) {
    if (err->empty()) *err = "pv@2as: the user process did not start within 10 s";
  } else if (sl.door->trap.sig == PV_DOOR_BAD_SETUP) {
    *err = std::string("pv@2as: the user process failed its set-up: ") + setup_step(sl.door->trap.addr) +
           (sl.door->trap.err ? ": " + std::string(std::strerror(int(sl.door->trap.err))) : std::string());
    ok = false;
  } else if (sl.door->trap.sig != PV_DOOR_BOOTED) {
    *err = "pv@2as: the user process did not start";
    ok = false;
  } else {
    sl.mapper_tid = pid_t(sl.door->mapper_tid);  // before any guest code ran: its own word
    if (pinned_) sched_setaffinity(sl.mapper_tid, sizeof one_cpu_, &one_cpu_);
    else if (place_ != Place::Free) sched_setaffinity(sl.mapper_tid, sizeof user_mask_, &user_mask_);
  }
  if (!ok && sl.pid > 0) kill_process(sl);
  s_ = was;
  return ok;
}

// Spinning needs a CPU for each side: two online and allowed, not pinned to one.
bool PvUserSpace::spin_cpus() const {
  cpu_set_t m;
  return !pinned_ && sysconf(_SC_NPROCESSORS_ONLN) >= 2 && sched_getaffinity(0, sizeof m, &m) == 0 &&
         CPU_COUNT(&m) >= 2;
}

// The mapper has applied every log posted to `sl` (one eventfd token
// each): only then may the engine write the next one (guest user code that
// posts a trap without waiting for its resume must not make the mapper read
// a log half rewritten). A mapper that does not answer within 5 s, or a
// process that died, is an engine error.
bool PvUserSpace::confirm_logs(Slot& sl, std::string* err) {
  int idle = 0;
  bool waited = false;
  while (sl.outstanding) {
    uint64_t n = 0;
    if (read(sl.done_fd, &n, sizeof n) == ssize_t(sizeof n)) {
      sl.outstanding -= std::min(n, sl.outstanding);
      continue;
    }
    if (errno != EAGAIN && errno != EINTR) {
      *err = errno_text("pv@2as: reading the mapper's eventfd", errno);
      return false;
    }
    if (!waited) ++mapper_waits_;
    waited = true;
    pollfd p{sl.done_fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) continue;
    if (dead(err)) return false;
    if (++idle > 100) {
      *err = "pv@2as: the user process does not apply its mapping log (5 s)";
      kill_process(sl);
      return false;
    }
  }
  return true;
}

bool PvUserSpace::post_log(Slot& sl) {
  pv_maplog& m = *sl.maplog;
  const size_t n = std::min<size_t>(sl.log.size(), PV_DOOR_LOG_MAX);
  std::memcpy(m.log, sl.log.data(), n * sizeof(pv_door_log));
  m.n = n;
  sl.log.clear();
  ++sl.outstanding;
  ++mapper_logs_;
  return post(*sl.door, &m.seq, &sl.door->mapper_sleeps, &mapper_wakes_);
}

// VTB_PV_2AS_QUIET=pin (and auto's choice when resumes carry mappings): in a quiet epoch both sides run on
// the CPU this thread is on (a futex hand-over is then a switch on one CPU,
// not a wake-up of an idle one: an IPI, a VM exit on a virtual host); in a
// contended one they get their own affinity back (the scheduler then keeps
// them together by itself). Counted per change.
void PvUserSpace::place(Place want) {
  if (want == place_ || pinned_ || !running()) return;
  if (want != Place::Free) {
    const int cpu = sched_getcpu();
    if (cpu < 0) return;
    if (!colocate_saved_) {
      if (sched_getaffinity(0, sizeof old_mask_, &old_mask_) != 0) return;
      colocate_saved_ = true;
      pinned_tid_ = syscall(SYS_gettid);
    }
    CPU_ZERO(&one_cpu_);
    CPU_SET(cpu, &one_cpu_);
    user_mask_ = one_cpu_;
    if (want == Place::Apart) {  // the user processes on every other allowed CPU
      CPU_XOR(&user_mask_, &old_mask_, &one_cpu_);
      if (!CPU_ISSET(cpu, &old_mask_) || CPU_COUNT(&user_mask_) == 0) return;
    }
    if (sched_setaffinity(0, sizeof one_cpu_, &one_cpu_) != 0 || !set_user_affinity(user_mask_)) {
      sched_setaffinity(0, sizeof old_mask_, &old_mask_);
      set_user_affinity(old_mask_);
      place_ = Place::Free;
      return;
    }
  } else {
    sched_setaffinity(0, sizeof old_mask_, &old_mask_);
    set_user_affinity(old_mask_);
  }
  if (want == Place::Together || place_ == Place::Together) ++colocations_;
  if (want == Place::Apart || place_ == Place::Apart) ++separations_;
  place_ = want;
}

// Every user process (the current one must take it; an idle one may be gone).
bool PvUserSpace::set_user_affinity(const cpu_set_t& m) {
  for (auto& sl : slots_) {
    if (sl->pid <= 0) continue;
    if (sched_setaffinity(sl->pid, sizeof m, &m) != 0 && sl.get() == s_) return false;
    if (sl->mapper_tid > 0) sched_setaffinity(sl->mapper_tid, sizeof m, &m);
  }
  return true;
}

// VTB_PV_2AS_QUIET=auto (the default): which quiet mode pays is decided by
// whether the user process is there to catch the resume spinning. A resume
// of the process that just trapped, without mapping changes, is two
// hand-overs that spinning makes ~0.1 µs each instead of ~2.4 µs local
// switches. A resume that carries mappings (it goes to the sleeping mapper
// thread, which then wakes the guest thread), that goes to another process (one per address space: it
// has been asleep since its own last trap) or that the process did not
// catch spinning (the engine's work outlasted its spin) must wake a
// sleeper, on the other CPU when the two sides are not co-located (an IPI:
// a VM exit on this virtual host, ~35 µs more than a local switch).
// Break-even is about one such resume in ten: per 10 ms epoch, the next
// epoch spins when fewer than that were (the first co-locates; an epoch
// without hand-overs keeps the choice; after a spinning epoch that failed
// only on uncaught resumes -- every hand-over of it spun --, co-location
// holds for kHoldEpochs, as such epochs look fine while co-located).
bool PvUserSpace::pick_spin(uint64_t now, bool wakes) {
  if (!spin_.cap) return false;  // one CPU or pinned: nothing to spin on
  if (now - mix_epoch_ns_ >= CpuContention::kEpochNs) {
    uint64_t user_sleeps = 0;
    for (const auto& sl : slots_)
      if (sl->door) user_sleeps += sl->door->user_futex_waits;  // guest-writable data: a hint, bounded below
    const uint64_t slept = user_sleeps > mix_user_sleeps_ ? user_sleeps - mix_user_sleeps_ : 0;
    mix_user_sleeps_ = user_sleeps;
    if (mix_handoffs_) {
      const bool woke_few = mix_wakes_ * 10 < mix_handoffs_;
      // judged only on an epoch spent spinning whole (not one the gate found contended)
      const bool caught = mix_spun_ < mix_handoffs_ || slept * 10 < mix_handoffs_;
      if (!caught) hold_ = kHoldEpochs;
      spin_pick_ = woke_few && caught && !hold_;
    }
    if (hold_) --hold_;
    if (mix_epoch_ns_) ++(spin_pick_ ? spin_epochs_ : pin_epochs_);
    mix_epoch_ns_ = now;
    mix_handoffs_ = mix_wakes_ = mix_spun_ = 0;
  }
  ++mix_handoffs_;
  if (wakes || (trapped_ && trapped_ != s_)) ++mix_wakes_;
  return spin_pick_;
}

void PvUserSpace::pin_here() {
  if (pinned_ || !running()) return;
  const char* e = std::getenv("VTB_PV_2AS_PIN");  // opt-in: it pays only on an idle host (docs/pv.md)
  if (!e || std::strcmp(e, "1") != 0) return;
  const int cpu = sched_getcpu();
  if (cpu < 0 || sched_getaffinity(0, sizeof old_mask_, &old_mask_) != 0) return;
  CPU_ZERO(&one_cpu_);
  CPU_SET(cpu, &one_cpu_);
  if (sched_setaffinity(0, sizeof one_cpu_, &one_cpu_) != 0) return;
  if (!set_user_affinity(one_cpu_)) {
    sched_setaffinity(0, sizeof old_mask_, &old_mask_);
    set_user_affinity(old_mask_);
    return;
  }
  pinned_ = true;
  pinned_tid_ = syscall(SYS_gettid);
  spin_.cap = s_->door->spin_cap = 0;  // one CPU for both: a spinner would only hold off the other side
}

void PvUserSpace::append(uint64_t op, uint64_t va, uint64_t len, uint64_t gpa_prot) {
  if (switching_) {  // a switch's changes: switch_end decides whose they are
    held_.push_back(pv_door_log{op, va, len, gpa_prot});
    return;
  }
  if (!s_ || !s_->door) return;
  track(*s_, op, va, len, gpa_prot);
  if (s_->overflow) return;
  if (s_->log.size() == log_cap_) {
    s_->overflow = true;  // the engine re-logs the whole user half before the next resume
    return;
  }
  s_->log.push_back(pv_door_log{op, va, len, gpa_prot});
}

void PvUserSpace::mapped(uint64_t va, uint64_t len, uint64_t gpa, int prot) {
  append(PV_LOG_MAP, va, len, gpa | uint64_t(prot & 7));
}
void PvUserSpace::unmapped(uint64_t va, uint64_t len) { append(PV_LOG_UNMAP, va, len, 0); }

void PvUserSpace::begin_replay() {
  ++replays_;
  s_->overflow = false;
  s_->log.clear();
  append(PV_LOG_RESET, 0, 0, 0);
}

void PvUserSpace::switch_begin() {
  switching_ = s_ != nullptr;
  held_.clear();
}

void PvUserSpace::switch_end(const PvMmu& mmu) {
  if (!switching_) return;
  switching_ = false;
  const uint64_t root = mmu.cr3(), incarnation = mmu.root_incarnation(root), foreign = mmu.foreign_updates();
  Slot* const out = s_;
  // The outgoing process maps its root's user half as the window had it
  // (its log holds every change since it last ran): current as of now.
  out->gen = foreign;
  out->changes = mmu.root_changes(out->root);
  const auto same_root = [&](const Slot& sl) {
    return sl.has_root && sl.root == root && sl.incarnation == incarnation && sl.pid > 0;
  };
  const auto current_to = [&](Slot* sl) {
    s_ = sl;
    sl->has_root = true;
    sl->root = root;
    sl->incarnation = incarnation;
    sl->used = ++use_clock_;
  };
  // 1. A process that maps this root and saw no change of it since: as it is.
  for (auto& sl : slots_)
    if (same_root(*sl) && sl->gen == foreign && sl->changes == mmu.root_changes(root)) {
      held_.clear();
      ++clean_switches_;
      current_to(sl.get());
      return;
    }
  // 2. The window's change, applied to the outgoing process: when its root
  // is gone or it is the only one (its mappings are the window's).
  Slot* pick = nullptr;
  if (!out->has_root || max_procs_ <= 1) pick = out;
  // 3. Else a process that maps nothing anyone needs (a free one, or this
  // root's stale one), a new one, the least recently used one.
  for (auto& sl : slots_)
    if (!pick && sl.get() != out && sl->pid > 0 && (!sl->has_root || same_root(*sl))) pick = sl.get();
  if (!pick && slots_.size() < max_procs_) {
    auto sl = std::make_unique<Slot>();
    std::string why;
    if (spawn(*sl, &why)) {
      pick = sl.get();
      slots_.push_back(std::move(sl));
    } else {
      ++spawn_failures_;  // the outgoing process serves, as with one (correct, slower)
      close_slot(*sl);
    }
  }
  if (!pick)
    for (auto& sl : slots_)
      if (sl.get() != out && sl->pid > 0 && (!pick || sl->used < pick->used)) pick = sl.get();
  if (!pick) pick = out;
  if (pick == out) {
    ++diff_switches_;
    std::vector<pv_door_log> held;
    held.swap(held_);
    current_to(out);
    for (const pv_door_log& e : held) append(e.op, e.va, e.len, e.gpa_prot);
    return;
  }
  held_.clear();
  ++replay_switches_;
  current_to(pick);
  // What it will map once its log is applied, made what the new root maps:
  // only the pages that differ (a process reused for the next child of the
  // same program differs in its private pages only).
  struct Pages final : WindowListener {
    std::map<uint64_t, uint64_t> want;  // page -> gpa | prot
    void mapped(uint64_t va, uint64_t len, uint64_t gpa, int prot) override {
      add_pages(&want, va, len, gpa | uint64_t(prot & 7));
    }
    void unmapped(uint64_t, uint64_t) override {}
  } pages;
  mmu.replay(pages);
  log_difference(pages.want);
}

// Page by page: each page of the run [va, va + len) -> its frame | prot.
void PvUserSpace::add_pages(std::map<uint64_t, uint64_t>* pages, uint64_t va, uint64_t len, uint64_t gpa_prot) {
  for (uint64_t o = 0; o < len; o += VTB_PAGE_SIZE) (*pages)[va + o] = gpa_prot + o;
}

// Keep `sl`'s picture of its mappings in step with its log.
void PvUserSpace::track(Slot& sl, uint64_t op, uint64_t va, uint64_t len, uint64_t gpa_prot) {
  if (op == PV_LOG_RESET) {
    sl.shadow.clear();
    return;
  }
  sl.shadow.erase(sl.shadow.lower_bound(va), sl.shadow.lower_bound(va + len));
  if (op == PV_LOG_MAP) add_pages(&sl.shadow, va, len, gpa_prot);
}

// Log what turns the current process's mappings into `want` (page -> gpa |
// prot), in runs: unmaps first, then maps.
void PvUserSpace::log_difference(const std::map<uint64_t, uint64_t>& want) {
  std::vector<pv_door_log> out;
  const auto add = [&out](uint64_t op, uint64_t va, uint64_t gpa_prot) {
    if (!out.empty()) {
      pv_door_log& l = out.back();
      if (l.op == op && l.va + l.len == va && (op == PV_LOG_UNMAP || l.gpa_prot + l.len == gpa_prot)) {
        l.len += VTB_PAGE_SIZE;
        return;
      }
    }
    out.push_back(pv_door_log{op, va, VTB_PAGE_SIZE, op == PV_LOG_UNMAP ? 0 : gpa_prot});
  };
  for (const auto& [va, gp] : s_->shadow)
    if (!want.count(va)) add(PV_LOG_UNMAP, va, 0);
  for (const auto& [va, gp] : want) {
    const auto it = s_->shadow.find(va);
    if (it == s_->shadow.end() || it->second != gp) add(PV_LOG_MAP, va, gp);
  }
  for (const pv_door_log& e : out) append(e.op, e.va, e.len, e.gpa_prot);
}

void PvUserSpace::root_released(uint64_t root) {
  for (auto& sl : slots_)
    if (sl->has_root && sl->root == root && sl.get() != s_) sl->has_root = false;
}

bool PvUserSpace::post_to_user(Slot& sl) {
  return post(*sl.door, &sl.door->to_user, &sl.door->user_sleeps, &wakes_);
}

// A resume's post: its TSC stamped in the door, `word` bumped, its waiter
// woken only when `sleeps` says it sleeps (counted in *wakes). True: woken.
bool PvUserSpace::post(pv_door& d, volatile uint32_t* word, volatile uint32_t* sleeps, uint64_t* wakes) {
  d.resume_tsc = __rdtsc();
  __atomic_store_n(word, *word + 1, __ATOMIC_SEQ_CST);
  if (!__atomic_load_n(sleeps, __ATOMIC_SEQ_CST)) return false;
  ++*wakes;
  futex(word, FUTEX_WAKE, 1, nullptr);
  return true;
}

// Spin briefly (pv_door.h's policy), then sleep on the futex in 20 ms
// slices: an engine tick (EINTR) preempts the user process, which answers
// with a trap; a process that died, does not answer a preempt within 2 s or
// posts nothing within `limit_ns` (when set) is an engine error.
bool PvUserSpace::wait_trap(PvCpu& v, uint64_t limit_ns, std::string* err) {
  const uint64_t t0 = limit_ns ? monotonic_ns() : 0;
  const uint64_t tsc0 = __rdtsc();
  const uint32_t seen = s_->seen;
  pv_door& d = *s_->door;
  const uint64_t bound = spin_now_ ? pv_spin_bound(&spin_) : 0;
  const bool got = bound && pv_spin_until(&d.to_engine, seen, tsc0, bound);
  if (got)
    ++spins_;
  else if (bound)
    ++spin_misses_;
  if (!got) {
    ++futex_waits_;
    count_host(HostEvent::FutexWait);  // host.futex_wait: priced at calibrate's futex_handoff round trip
    uint64_t preempted_at = 0;
    __atomic_store_n(&d.engine_sleeps, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&d.to_engine, __ATOMIC_SEQ_CST) == seen) {
      const timespec ts{0, 20000000};
      futex(&d.to_engine, FUTEX_WAIT, seen, &ts);
      if (__atomic_load_n(&d.to_engine, __ATOMIC_SEQ_CST) != seen) break;
      if (dead(err)) {
        __atomic_store_n(&d.engine_sleeps, 0, __ATOMIC_SEQ_CST);
        return false;
      }
      const uint64_t now = monotonic_ns();
      if (v.timer_fired && !preempted_at) {  // the engine's tick: stop guest user code
        v.timer_fired = 0;
        ++preempts_;
        preempted_at = now;
        kill(s_->pid, preempt_sig_);
      }
      if (limit_ns && now - t0 > limit_ns) {
        __atomic_store_n(&d.engine_sleeps, 0, __ATOMIC_SEQ_CST);
        return false;
      }
      if (preempted_at && now - preempted_at > 2000000000ULL) {
        *err = "pv@2as: the user process does not answer (no trap 2 s after a preempt)";
        kill_process();
        __atomic_store_n(&d.engine_sleeps, 0, __ATOMIC_SEQ_CST);
        return false;
      }
    }
    __atomic_store_n(&d.engine_sleeps, 0, __ATOMIC_SEQ_CST);
  }
  s_->seen = __atomic_load_n(&d.to_engine, __ATOMIC_ACQUIRE);
  pv_spin_learn(&spin_, d.trap_tsc, tsc0);
  return true;
}

bool PvUserSpace::run(PvCpu& v, int timer_sig, std::string* err) {
  if (!running()) {
    *err = "pv@2as: the user process is not running";
    return false;
  }
  pv_door& d = *s_->door;
  pv_door_frame& r = d.resume;
  std::memcpy(r.gpr, v.gpr, sizeof r.gpr);
  r.rip = v.rip;
  r.rflags = v.rflags;
  r.fs_base = v.guest_fs;
  r.gs_base = v.guest_gs;
  r.fpu_len = v.fpu_valid ? xsave_size_ : 0;
  if (r.fpu_len) std::memcpy(d.resume_fpu, v.fpu, r.fpu_len);
  const bool with_log = !s_->log.empty();
  if (with_log && !confirm_logs(*s_, err)) return false;
  log_entries_ += s_->log.size();
  ++handoffs_;
  // Both sides spin only while the host's CPUs are not contended (an epoch's
  // verdict: the user process reads its cap from the door at each wait).
  const uint64_t now = monotonic_ns();
  const bool spin_quiet = quiet_mode_ == QuietMode::Spin || (quiet_mode_ == QuietMode::Auto && pick_spin(now, with_log));
  // The mapper of the process just served may not be back asleep yet: ours, not contention.
  const long own_extra = s_->mapper_tid > 0 && !__atomic_load_n(&d.mapper_sleeps, __ATOMIC_ACQUIRE) ? 1 : 0;
  const bool quiet = (spin_.cap || !spin_quiet) && (!gate_ || contention_.quiet(now, own_extra));
  if (!spin_quiet) {
    place(quiet ? Place::Together : Place::Free);  // quiet: both sides on this CPU, futex hand-overs as local switches
    spin_now_ = false;
  } else {
    spin_now_ = spin_.cap && quiet;
    place(spin_now_ ? Place::Apart : Place::Free);  // a spinner never holds the CPU its peer needs
  }
  if (spin_now_) ++mix_spun_;
  d.spin_cap = spin_now_ ? spin_.cap : 0;
  {
    ScopedNs timed(handoff_ns_);  // post (to the mapper first when there are mappings), guest user code, the trap's post
    const bool woke = with_log ? post_log(*s_) : post_to_user(*s_);
    // Co-located: give the CPU to the thread just woken before this one
    // sleeps. Else the engine usually reaches its futex wait first, and the
    // user process's post must wake it (a FUTEX_WAKE and a wake-up more per
    // hand-over); yielded, the engine is still runnable when the post comes.
    if (woke && (yield_ == 2 || ((pinned_ || place_ == Place::Together) && yield_ == 1))) {
      ++yields_;
      sched_yield();
    }
    if (!wait_trap(v, 0, err)) return false;
  }
  trapped_ = s_;
  return take_trap(v, timer_sig, err);
}

// The posted frame is guest-writable data: only values the engine can
// serve safely get into the vCPU block (the FP image is sanitised so that
// the engine's xrstor cannot fault).
bool PvUserSpace::take_trap(PvCpu& v, int timer_sig, std::string* err) {
  const pv_door_frame t = s_->door->trap;
  if (t.sig == PV_DOOR_BAD_SETUP) {  // after the start: only guest code can have posted it
    *err = "pv@2as: the user process posted a set-up failure after its start";
    kill_process();
    return false;
  }
  std::memcpy(v.gpr, t.gpr, sizeof v.gpr);
  v.rip = t.rip;
  v.rflags = t.rflags;
  v.guest_fs = t.fs_base;
  v.guest_gs = t.gs_base;
  v.sig = int(t.sig) == preempt_sig_ ? timer_sig : int(t.sig);
  v.si_code = int(t.si_code);
  v.trapno = t.trapno;
  v.err = t.err;
  v.addr = t.addr;
  const uint64_t n = std::min<uint64_t>(t.fpu_len, xsave_size_);
  if (n >= 512) {
    std::memcpy(v.fpu, s_->door->trap_fpu, n);
    uint32_t mxcsr;
    std::memcpy(&mxcsr, v.fpu + 24, 4);
    mxcsr &= mxcsr_mask_;
    std::memcpy(v.fpu + 24, &mxcsr, 4);
    uint64_t bv = 3;  // x87 + SSE
    if (n >= 576) {
      std::memcpy(&bv, v.fpu + 512, 8);
      bv &= xcr0_ & PV_XSTATE_LO;
      for (unsigned i = 2; i < 63; ++i)  // only components that came over whole
        if ((bv >> i & 1) && xsave_end_[i] > n) bv &= ~(1ULL << i);
    }
    std::memset(v.fpu + 512, 0, 64);  // header: XCOMP_BV and the reserved bytes 0
    std::memcpy(v.fpu + 512, &bv, 8);
    v.fpu_valid = 1;
  }
  return true;
}

void PvUserSpace::stats(Counters& out) const {
  out.add("pv.2as.handoffs", handoffs_);
  out.gauge("pv.2as.pinned", pinned_ ? 1 : 0);
  out.add("pv.2as.colocations", colocations_);
  out.add("pv.2as.separations", separations_);
  out.add("pv.2as.spin_epochs", spin_epochs_);
  out.add("pv.2as.pin_epochs", pin_epochs_);
  out.gauge("pv.2as.spin_cap_ticks", spin_.cap);  // 0: futex only
  out.add("pv.2as.quiet_epochs", contention_.quiet_epochs());
  out.add("pv.2as.contended_epochs", contention_.contended_epochs());
  out.add("pv.2as.runqueue_samples", contention_.samples());
  out.add("pv.2as.engine_spins", spins_);
  out.add("pv.2as.engine_spin_misses", spin_misses_);
  out.add("pv.2as.engine_futex_waits", futex_waits_);
  out.add("pv.2as.engine_wakes", wakes_);
  out.add("pv.2as.preempts", preempts_);
  out.add("pv.2as.log_entries", log_entries_);
  out.add("pv.2as.mapper_logs", mapper_logs_);
  out.add("pv.2as.mapper_wakes", mapper_wakes_);
  out.add("pv.2as.mapper_waits", mapper_waits_);
  out.add("pv.2as.yields", yields_);
  out.add("time.pv.2as.handoff_ns", handoff_ns_);
  if (replays_) out.add("pv.2as.log_replays", replays_);
  uint64_t u[5] = {};  // kept by the user processes: data
  for (const auto& sl : slots_)
    if (sl->door) {
      u[0] += sl->door->user_spins;
      u[1] += sl->door->user_spin_misses;
      u[2] += sl->door->user_futex_waits;
      u[3] += sl->door->user_wakes;
      u[4] += sl->door->user_maps;
    }
  if (!slots_.empty()) {
    out.add("pv.2as.user_spins", u[0]);
    out.add("pv.2as.user_spin_misses", u[1]);
    out.add("pv.2as.user_futex_waits", u[2]);
    out.add("pv.2as.user_wakes", u[3]);
    out.add("pv.2as.user_mmaps", u[4]);
  }
  out.gauge("pv.2as.procs", slots_.size());
  out.add("pv.2as.proc_spawns", spawns_);
  out.add("pv.2as.clean_switches", clean_switches_);
  out.add("pv.2as.diff_switches", diff_switches_);
  out.add("pv.2as.replay_switches", replay_switches_);
  if (spawn_failures_) out.add("pv.2as.spawn_failures", spawn_failures_);
}

}  // namespace vtb::pv
