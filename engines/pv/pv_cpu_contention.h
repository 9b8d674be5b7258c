// tags: engines|pv — desc: pv@2as: do other tasks want the CPUs the two sides would spin on (run-queue samples per 10 ms epoch)? Gates the hand-over's spinning.
#pragma once
#include <cstdint>

namespace vtb::pv {

// Whether the host has a CPU for each side of a spinning hand-over: a
// spinner only pays while both sides run at once; when other tasks want the
// CPUs, a spinner takes the CPU (and the scheduler credit) its peer or
// another task needs, and a futex sleeper is the better neighbour
// (docs/pv.md, "Adaptive hand-over"). Measured by sampling the run queue
// (`/proc/loadavg`'s running tasks, at most one sample a millisecond): a
// sample is busy when more tasks run than there are CPUs, the two sides of
// the hand-over counted as running whether they are at that moment or not
// (the one that sleeps on its futex is not in the count, the one about to
// sleep is: an exact count would see futex mode as contended by itself;
// this one errs the other way, and a spinning epoch that finds another task
// then ends the spinning). Per 10 ms epoch: quiet when at most a
// quarter of the samples were busy. The first verdict is the first sample's;
// a contended epoch holds spinning off for 1, then 2, 4, ... up to
// kMaxHoldEpochs more epochs while contention lasts (a spinner that makes
// others wait comes back for one epoch in 17 at most), 1 again after a
// quiet one.
// (Not PSI: its stall time counts a futex hand-over's own wake-up waits, and
// misses two other tasks that run without waiting while ours would.)
class CpuContention {
 public:
  // The path is the kernel's; tests pass a file of their own.
  explicit CpuContention(const char* loadavg_path = "/proc/loadavg");
  ~CpuContention();
  CpuContention(const CpuContention&) = delete;
  CpuContention& operator=(const CpuContention&) = delete;

  // True when the host's CPUs are free for both sides.
  // `own_extra`: threads of ours known to be runnable beyond the two sides
  // at this moment (pv@2as: a mapper thread not yet back asleep); they do
  // not make a sample busy.
  bool quiet(uint64_t now_ns, long own_extra = 0);

  uint64_t quiet_epochs() const { return quiet_epochs_; }
  uint64_t contended_epochs() const { return contended_epochs_; }
  uint64_t samples() const { return samples_total_; }

  static constexpr uint64_t kEpochNs = 10000000;  // 10 ms
  static constexpr uint64_t kSampleNs = 1000000;  // 1 ms
  static constexpr unsigned kMaxHoldEpochs = 16;  // epochs held contended after a contended one, at most

 private:
  bool running(long* n);

  int loadavg_fd_ = -1;
  long cpus_ = 1;
  uint64_t epoch_start_ns_ = 0, last_sample_ns_ = 0;
  unsigned samples_ = 0, busy_ = 0, hold_ = 0, hold_len_ = 1;
  bool quiet_ = false, started_ = false;
  uint64_t quiet_epochs_ = 0, contended_epochs_ = 0, samples_total_ = 0;
};

}  // namespace vtb::pv
