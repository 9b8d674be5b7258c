// tags: engines|pv — desc: pv@2as: is the host's CPU contended right now (PSI stall share per epoch, else the run queue)? Gates the hand-over's spinning.
#pragma once
#include <cstdint>

namespace vtb::pv {

// Whether other work waits for a CPU: a spinning hand-over only pays while
// both sides have a CPU of their own; on a contended host a spinner takes
// the CPU (and the scheduler credit) its peer or another task needs, and a
// futex sleeper is the better neighbour (docs/pv.md, "Adaptive hand-over").
// Measured per epoch: the share of wall time in which some task waited for
// a CPU (`/proc/pressure/cpu`, "some" total, Linux PSI), else, where PSI is
// off, the run queue (`/proc/loadavg` running tasks > online CPUs).
class CpuContention {
 public:
  // The paths are the kernel's; tests pass files of their own.
  explicit CpuContention(const char* psi_path = "/proc/pressure/cpu", const char* loadavg_path = "/proc/loadavg");
  ~CpuContention();
  CpuContention(const CpuContention&) = delete;
  CpuContention& operator=(const CpuContention&) = delete;

  // True when the last finished epoch was quiet (before the first: PSI's
  // own 10 s average, or the run queue now). Re-measures when an epoch has
  // passed since the last look.
  bool quiet(uint64_t now_ns);

  uint64_t quiet_epochs() const { return quiet_epochs_; }
  uint64_t contended_epochs() const { return contended_epochs_; }
  bool uses_psi() const { return psi_fd_ >= 0; }

  static constexpr uint64_t kEpochNs = 10000000;  // 10 ms
  static constexpr double kMaxStallShare = 0.10;  // PSI "some" share above which the CPU is contended

 private:
  bool sample(uint64_t* stall_us, double* avg10, long* running);

  int psi_fd_ = -1, loadavg_fd_ = -1;
  long cpus_ = 1;
  uint64_t epoch_start_ns_ = 0, epoch_stall_us_ = 0;
  bool quiet_ = false, started_ = false;
  uint64_t quiet_epochs_ = 0, contended_epochs_ = 0;
};

}  // namespace vtb::pv
