// tags: engines|pv — desc: pv@2as: CPU contention per 10 ms epoch from run-queue samples (/proc/loadavg running tasks vs online CPUs).
#include "engines/pv/pv_cpu_contention.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace vtb::pv {

CpuContention::CpuContention(const char* loadavg_path) {
  cpus_ = sysconf(_SC_NPROCESSORS_ONLN);
  loadavg_fd_ = open(loadavg_path, O_RDONLY | O_CLOEXEC);
}

CpuContention::~CpuContention() {
  if (loadavg_fd_ >= 0) close(loadavg_fd_);
}

// The run queue's running tasks ("a b c R/T pid"), read from offset 0.
bool CpuContention::running(long* n) {
  char b[256];
  if (loadavg_fd_ < 0) return false;
  const ssize_t got = pread(loadavg_fd_, b, sizeof b - 1, 0);
  if (got <= 0) return false;
  b[got] = 0;
  double x = 0, y = 0, z = 0;
  long t = 0;
  return std::sscanf(b, "%lf %lf %lf %ld/%ld", &x, &y, &z, n, &t) == 5;
}

bool CpuContention::quiet(uint64_t now_ns, long own_extra) {
  if (started_ && now_ns - last_sample_ns_ < kSampleNs) return quiet_;
  long run = 0;
  if (!running(&run)) {  // nothing to go by: contended (futex only)
    quiet_ = false;
    return false;
  }
  last_sample_ns_ = now_ns;
  ++samples_total_;
  ++samples_;
  if (run - own_extra > cpus_) ++busy_;  // ours counted as 2 (both want a CPU to spin on), whether running now or not
  if (!started_) {  // the first verdict: this sample
    started_ = true;
    epoch_start_ns_ = now_ns;
    quiet_ = busy_ == 0;
    samples_ = busy_ = 0;
    return quiet_;
  }
  if (now_ns - epoch_start_ns_ < kEpochNs) return quiet_;
  bool q = busy_ * 4 <= samples_;
  if (hold_) {  // held off after a contended epoch
    --hold_;
    q = false;
  } else if (!q) {  // 1, 2, 4, ... kMaxHoldEpochs epochs off while contention lasts
    hold_ = hold_len_;
    hold_len_ = hold_len_ * 2 > kMaxHoldEpochs ? kMaxHoldEpochs : hold_len_ * 2;
  } else {
    hold_len_ = 1;
  }
  ++(q ? quiet_epochs_ : contended_epochs_);
  quiet_ = q;
  epoch_start_ns_ = now_ns;
  samples_ = busy_ = 0;
  return quiet_;
}

}  // namespace vtb::pv
