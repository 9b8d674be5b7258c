// tags: engines|kvm — desc: the kick timer and its signal handler (immediate_exit).
#include "engines/kvm/kvm_kick.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace vtb::kvm {

namespace {

thread_local kvm_run* volatile t_run = nullptr;
thread_local pid_t t_tid = 0;  // cached: run() is on the per-exit path, gettid is a syscall

void on_kick(int) {
  kvm_run* r = t_run;
  if (r) r->immediate_exit = 1;
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(Kicker::signal_number(), &sa, nullptr);
    pthread_atfork(nullptr, nullptr, [] { t_tid = 0; });  // a forked child has a new tid
  });
}

}  // namespace

int Kicker::signal_number() { return SIGRTMIN + 4; }

Kicker::~Kicker() {
  if (have_timer_) timer_delete(timer_);
}

Status Kicker::enter(kvm_run* run) {
  install_handler();
  if (t_tid == 0) t_tid = static_cast<pid_t>(syscall(SYS_gettid));
  const pid_t tid = t_tid;
  if (!have_timer_ || tid != tid_) {
    if (have_timer_) timer_delete(timer_);
    have_timer_ = false;
    sigevent sev;
    std::memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signal_number();
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
    sigaddset(&s, signal_number());
    pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
  }
  t_run = run;
  return Status::ok();
}

void Kicker::leave() { t_run = nullptr; }

void Kicker::want(uint64_t abs_ns, uint64_t now_ns) {
  if (!have_timer_ || abs_ns == 0) return;
  if (armed_ns_ > now_ns && armed_ns_ <= abs_ns) return;  // an earlier kick is already pending
  itimerspec its{};
  its.it_value.tv_sec = static_cast<time_t>(abs_ns / 1000000000ULL);
  its.it_value.tv_nsec = static_cast<long>(abs_ns % 1000000000ULL);
  if (timer_settime(timer_, TIMER_ABSTIME, &its, nullptr) == 0) armed_ns_ = abs_ns;
}

}  // namespace vtb::kvm
