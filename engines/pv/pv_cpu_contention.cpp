// tags: engines|pv — desc: pv@2as: CPU contention per 10 ms epoch from Linux PSI (/proc/pressure/cpu) or the run queue.
#include "engines/pv/pv_cpu_contention.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vtb::pv {
namespace {

// The whole (small) file from offset 0, NUL-terminated; false if unreadable.
bool read_at0(int fd, char* buf, size_t cap) {
  const ssize_t n = pread(fd, buf, cap - 1, 0);
  if (n <= 0) return false;
  buf[n] = 0;
  return true;
}

}  // namespace

CpuContention::CpuContention(const char* psi_path, const char* loadavg_path) {
  cpus_ = sysconf(_SC_NPROCESSORS_ONLN);
  psi_fd_ = open(psi_path, O_RDONLY | O_CLOEXEC);
  char b[256];
  if (psi_fd_ >= 0 && !read_at0(psi_fd_, b, sizeof b)) {  // PSI compiled in but off: EOPNOTSUPP
    close(psi_fd_);
    psi_fd_ = -1;
  }
  if (psi_fd_ < 0) loadavg_fd_ = open(loadavg_path, O_RDONLY | O_CLOEXEC);
}

CpuContention::~CpuContention() {
  if (psi_fd_ >= 0) close(psi_fd_);
  if (loadavg_fd_ >= 0) close(loadavg_fd_);
}

// PSI: the "some" line's cumulative stall (µs). Else the run queue's
// running tasks ("a b c R/T pid").
bool CpuContention::sample(uint64_t* stall_us, double* avg10, long* running) {
  char b[256];
  if (psi_fd_ >= 0) {
    if (!read_at0(psi_fd_, b, sizeof b) || std::strncmp(b, "some ", 5) != 0) return false;
    const char* t = std::strstr(b, "total=");
    const char* a = std::strstr(b, "avg10=");
    const char* eol = std::strchr(b, '\n');
    if (!t || !a || (eol && (t > eol || a > eol))) return false;
    *stall_us = std::strtoull(t + 6, nullptr, 10);
    *avg10 = std::strtod(a + 6, nullptr);
    return true;
  }
  if (loadavg_fd_ < 0 || !read_at0(loadavg_fd_, b, sizeof b)) return false;
  double a = 0, c = 0, d = 0;
  long r = 0, n = 0;
  if (std::sscanf(b, "%lf %lf %lf %ld/%ld", &a, &c, &d, &r, &n) != 5) return false;
  *running = r;
  return true;
}

bool CpuContention::quiet(uint64_t now_ns) {
  if (started_ && now_ns - epoch_start_ns_ < kEpochNs) return quiet_;
  uint64_t stall = 0;
  double avg10 = 100;
  long running = 0;
  if (!sample(&stall, &avg10, &running)) {  // nothing to go by: contended (futex only)
    quiet_ = false;
    return false;
  }
  if (psi_fd_ >= 0) {
    // The first verdict, before an epoch of our own: the kernel's 10 s average (%).
    const double share = started_ ? double(stall - epoch_stall_us_) * 1000.0 / double(now_ns - epoch_start_ns_)
                                  : avg10 / 100.0;
    quiet_ = share <= kMaxStallShare;
    epoch_stall_us_ = stall;
  } else {
    quiet_ = running <= cpus_;  // the reader and its peer are among the running
  }
  if (started_) ++(quiet_ ? quiet_epochs_ : contended_epochs_);
  started_ = true;
  epoch_start_ns_ = now_ns;
  return quiet_;
}

}  // namespace vtb::pv
