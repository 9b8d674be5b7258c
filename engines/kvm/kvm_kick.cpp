// tags: engines|kvm — desc: the kick timer and its signal handler (immediate_exit).
#include "engines/kvm/kvm_kick.h"
#include "common/host_events.h"

#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <mutex>

namespace vtb::kvm {

namespace {

thread_local kvm_run* volatile t_run = nullptr;

void on_kick(int) {
  count_host(HostEvent::Signal);
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
  });
}

}  // namespace

int Kicker::signal_number() { return SIGRTMIN + 4; }

Status Kicker::enter(kvm_run* run) {
  install_handler();
  if (Status st = timer_.bind(signal_number()); !st) return st;
  t_run = run;
  return Status::ok();
}

void Kicker::leave() { t_run = nullptr; }

void Kicker::want(uint64_t abs_ns, uint64_t now_ns) { timer_.want(abs_ns, now_ns); }

}  // namespace vtb::kvm
