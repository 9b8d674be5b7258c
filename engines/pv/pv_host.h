// tags: engines|pv — desc: host plumbing: signal handlers, sigaltstack, Syscall User Dispatch, vCPU timer.
#pragma once
#include <cstdint>
#include <string>

#include "common/sud.h"

namespace vtb::pv {

// Process-wide handlers for SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP/SIGSYS and
// the timer signal. A signal that did not interrupt guest code (or the
// hypercall entry) falls back to the previous disposition.
bool install_signal_handlers(std::string* err);
void restore_signal_handlers();
// Serves a synchronous guest trap inside the signal handler (state already
// in the vCPU block): 0 = resume the (changed) guest state, else leave to
// the run loop with the exit prepared (vCPU sig = 0).
void set_sync_trap_hook(int (*hook)());
int timer_signal();
// Per vCPU thread: a 256 KiB sigaltstack, and Syscall User Dispatch in
// INCLUSIVE mode over the window (only guest code's `syscall`s dispatch).
bool setup_vcpu_thread(std::string* err);
// Syscall User Dispatch off again on this thread (engine destroyed).
void teardown_vcpu_thread();
// A periodic CLOCK_MONOTONIC timer that signals thread `tid`.
struct HostTimer {
  void* id = nullptr;  // timer_t; 0 is a valid id
  bool valid = false;
};
bool timer_start(HostTimer* timer, long tid, uint64_t period_ns, std::string* err);
void timer_stop(HostTimer* timer);

}  // namespace vtb::pv
