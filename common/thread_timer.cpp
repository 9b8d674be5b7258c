// tags: common — desc: ThreadTimer: per-thread POSIX timer (SIGEV_THREAD_ID), armed at absolute CLOCK_MONOTONIC deadlines.
#include "common/thread_timer.h"
#include "common/host_events.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace vtb {

namespace {
thread_local pid_t t_tid = 0;  // cached: bind() is on per-exit paths, gettid is a syscall
struct AtFork {
  AtFork() { pthread_atfork(nullptr, nullptr, [] { t_tid = 0; }); }  // a forked child has a new tid
};
}  // namespace

ThreadTimer::~ThreadTimer() { cancel(); }

void ThreadTimer::cancel() {
  if (have_timer_) timer_delete(timer_);
  have_timer_ = false;
  armed_ns_ = 0;
}

Status ThreadTimer::bind(int signo) {
  static AtFork at_fork;
  if (t_tid == 0) t_tid = static_cast<pid_t>(syscall(SYS_gettid));
  const pid_t tid = t_tid;
  if (have_timer_ && tid == tid_) return Status::ok();
  if (have_timer_) timer_delete(timer_);
  have_timer_ = false;
  sigevent sev;
  std::memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = signo;
#ifdef sigev_notify_thread_id
  sev.sigev_notify_thread_id = tid;
#else
  sev._sigev_un._tid = tid;
#endif
  if (timer_create(CLOCK_MONOTONIC, &sev, &timer_) != 0)
    return Status::host_error(std::string("timer_create: ") + std::strerror(errno));
  have_timer_ = true;
  tid_ = tid;
  armed_ns_ = 0;
  // The signal must reach this thread even if the caller had blocked it.
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, signo);
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
  return Status::ok();
}

void ThreadTimer::disarm() {
  if (!have_timer_) return;
  armed_ns_ = 0;
  itimerspec its{};
  timer_settime(timer_, 0, &its, nullptr);
}

void ThreadTimer::want(uint64_t abs_ns, uint64_t now_ns) {
  if (!have_timer_ || abs_ns == 0) return;
  if (armed_ns_ > now_ns && armed_ns_ <= abs_ns) return;  // an earlier expiry is already pending
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(abs_ns / 1000000000ULL);
  its.it_value.tv_nsec = static_cast<long>(abs_ns % 1000000000ULL);
  its.it_interval.tv_sec = static_cast<time_t>(backstop_ns_ / 1000000000ULL);
  its.it_interval.tv_nsec = static_cast<long>(backstop_ns_ % 1000000000ULL);
  // Publish the expiry *before* arming. The signal can come as soon as
  // timer_settime arms the timer (at its return when abs_ns has already
  // passed: the thread was preempted since the caller read the clock), and
  // the handler's fired() must be the last word. Stored after the call, a
  // handled expiry could be recorded as still pending, and a caller that
  // skips arming while an earlier expiry is pending then never armed the
  // timer again (bt: --timeout ignored, runs hung). A signal for an older
  // expiry landing between the store and the call only makes the next caller
  // re-arm needlessly.
  armed_ns_ = abs_ns;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  count_host(HostEvent::TimerArm);
  if (timer_settime(timer_, TIMER_ABSTIME, &its, nullptr) != 0) armed_ns_ = 0;
}

}  // namespace vtb
