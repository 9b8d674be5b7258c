// tags: common|counters — desc: host.* counters: the host events (signals, mmaps, mprotects, KVM_RUNs, ...) an engine performs, counted where they happen.
//
// Every engine counts its host calls with one line at the call site,
//   vtb::count_host(vtb::HostEvent::Mprotect);
// into process-wide atomic counters (lock-free, so a signal handler may count).
// vtb::Vm reports the events between its creation and the end of its run as
// host.<name> (docs/counters.md); `vtb calibrate` prices each kind on this host
// (docs/calibrate.md), so a cell decomposes into Σ count × unit cost and the
// remainder (analysis/decompose.py). One VM per process (vtb run --vms and vtb
// bench use a child per VM): the process-wide count is the VM's count.
#pragma once
#include <atomic>
#include <cstdint>

namespace vtb {

enum class HostEvent : unsigned {
  Signal,     // a host signal delivered to an engine's handler (faults, traps, timer and kick signals), SIGSYS excluded
  Sigsys,     // a Syscall User Dispatch SIGSYS delivered to an engine's handler
  Mmap,       // an mmap call (MAP_FIXED remaps and PROT_NONE "unmaps" of the guest window included)
  Mprotect,   // an mprotect call
  Munmap,     // a munmap call
  Madvise,    // a madvise call
  KvmRun,     // a KVM_RUN ioctl (one user-space exit round trip each)
  FutexWait,  // a futex wait that hands the CPU to another thread
  Cpuid,      // a host cpuid instruction executed for the guest
  TimerArm,   // a host timer (re)armed: one timer_settime syscall
  MprotectPages,  // pages covered by the Mprotect calls (the cost grows with the populated range)
  kCount
};

inline constexpr const char* kHostEventNames[] = {"signal", "sigsys",   "mmap",  "mprotect", "munmap",
                                                  "madvise", "kvm_run", "futex_wait", "cpuid", "timer_arm",
                                                  "mprotect_pages"};
static_assert(sizeof(kHostEventNames) / sizeof(kHostEventNames[0]) == unsigned(HostEvent::kCount));

inline std::atomic<uint64_t> g_host_events[unsigned(HostEvent::kCount)];

inline void count_host(HostEvent e, uint64_t n = 1) {
  g_host_events[unsigned(e)].fetch_add(n, std::memory_order_relaxed);
}

// One mmap or mprotect call over `bytes`: the call, and for mprotect the pages it covers
// (an mmap's range says little: the engines "unmap" whole windows with one PROT_NONE mmap).
inline void count_host_range(HostEvent call, uint64_t bytes) {
  count_host(call);
  if (call == HostEvent::Mprotect) count_host(HostEvent::MprotectPages, (bytes + 4095) >> 12);
}

// The process's counts now: Vm takes one at creation and reports the difference.
struct HostEventSnapshot {
  uint64_t n[unsigned(HostEvent::kCount)] = {};
  static HostEventSnapshot now() {
    HostEventSnapshot s;
    for (unsigned i = 0; i < unsigned(HostEvent::kCount); ++i) s.n[i] = g_host_events[i].load(std::memory_order_relaxed);
    return s;
  }
};

}  // namespace vtb
