// tags: engines|kvm — desc: kicks KVM_RUN out at a host deadline: a per-thread POSIX timer + immediate_exit.
#pragma once
#include <linux/kvm.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>

#include "common/status.h"
#include "common/thread_timer.h"

namespace vtb::kvm {

// A CLOCK_MONOTONIC timer that signals the thread running the vCPU
// (SIGEV_THREAD_ID). The handler sets kvm_run::immediate_exit of the run
// page registered for that thread, so a signal that lands just before
// KVM_RUN is not lost: KVM_RUN then returns EINTR at once.
class Kicker {
 public:
  Kicker() = default;
  Kicker(const Kicker&) = delete;
  Kicker& operator=(const Kicker&) = delete;

  // Call at the start of every run(): binds the timer to the calling thread
  // (re-created when the thread changes) and publishes `run` to the handler.
  Status enter(kvm_run* run);
  // Call before returning from run(): the handler stops touching `run`.
  void leave();
  // Ensure a kick at or before `abs_ns` (0: nothing wanted). Re-arms only
  // when the armed expiry is later than wanted or already past; an early
  // kick is harmless (the caller re-checks the time and loops).
  void want(uint64_t abs_ns, uint64_t now_ns);
  uint64_t armed_ns() const { return timer_.armed_ns(); }

  static int signal_number();

 private:
  ThreadTimer timer_;
};

}  // namespace vtb::kvm
