// tags: common — desc: a one-shot CLOCK_MONOTONIC timer that signals the calling thread (SIGEV_THREAD_ID); engines use it to get back control at a host deadline.
#pragma once
#include <sys/types.h>
#include <time.h>

#include <cstdint>

#include "common/status.h"

namespace vtb {

// The signal handler is the caller's business (what it does is engine
// specific: set immediate_exit, unchain translated code, ...).
class ThreadTimer {
 public:
  ThreadTimer() = default;
  ~ThreadTimer();
  ThreadTimer(const ThreadTimer&) = delete;
  ThreadTimer& operator=(const ThreadTimer&) = delete;

  // Binds the timer to the calling thread with signal `signo` (re-created
  // when the thread changes; cheap when it does not) and unblocks `signo`
  // in this thread.
  Status bind(int signo);
  // Ensure an expiry at or before `abs_ns` (0: nothing wanted). Re-arms only
  // when the armed expiry is later than wanted or already past; an early
  // signal is harmless (callers re-check the time and loop).
  void want(uint64_t abs_ns, uint64_t now_ns);
  // Backstop (0, the default: one-shot): every arming also gives the timer
  // this period, so after an expiry the signal comes again every `period_ns`
  // until the next arming, disarm() or cancel(). An owner that re-arms after
  // each signal never sees the period; one whose expiry was handled but not
  // followed by a re-arm is late by at most one period instead of forever.
  void set_backstop(uint64_t period_ns) { backstop_ns_ = period_ns; }
  // Stop the timer (expiry and backstop); it stays bound.
  void disarm();
  // Disarm and delete the timer (a later bind() creates a new one).
  void cancel();
  // The handler calls this: the armed expiry has happened. armed_ns() != 0
  // therefore always means "an expiry at or before it is still to be
  // signalled": want() publishes the value before it arms the timer.
  void fired() { armed_ns_ = 0; }
  uint64_t armed_ns() const { return armed_ns_; }

 private:
  bool have_timer_ = false;
  timer_t timer_{};
  pid_t tid_ = 0;
  uint64_t backstop_ns_ = 0;
  volatile uint64_t armed_ns_ = 0;
};

}  // namespace vtb
