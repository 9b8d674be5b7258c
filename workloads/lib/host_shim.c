/* tags: workloads|lib — desc: host-native shim: the vtb.h API on Linux, control records to $VTB_CTRL_FD. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>
#include "vtb.h"

long vtb_write(int fd, const void *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, (const char *)buf + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return done ? (long)done : -errno;
    done += (size_t)n;
  }
  return (long)done;
}
long vtb_getpid(void) { return syscall(SYS_getpid); } /* a real round trip, never cached */
long vtb_fork(void) {
  long r = fork();
  return r < 0 ? -errno : r;
}
/* Programs are looked up next to this executable (the native/ folder), as
 * the kernel looks them up in its archive. */
long vtb_exec(const char *name, char *const argv[]) {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0 || strchr(name, '/')) return -VTB_EINVAL;
  path[n] = 0;
  char *slash = strrchr(path, '/');
  if (!slash || (size_t)(slash - path) + 2 + strlen(name) > sizeof path) return -VTB_EINVAL;
  strcpy(slash + 1, name);
  execv(path, argv);
  return -errno;
}
static long wait_flags(long pid, int *status, int flags) {
  int st = 0;
  pid_t r = waitpid(pid > 0 ? (pid_t)pid : -1, &st, flags);
  if (r < 0) return errno == ECHILD ? -VTB_ECHILD : -errno;
  if (r == 0) return 0;
  if (status)
    *status = WIFEXITED(st) ? WEXITSTATUS(st)
              : WTERMSIG(st) == SIGKILL ? (VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL)
                                        : (VTB_WSTATUS_KILLED | WTERMSIG(st));
  return r;
}
long vtb_wait(long pid, int *status) { return wait_flags(pid, status, 0); }
/* Polls every millisecond up to the deadline (tick = 10 ms). */
long vtb_wait_timeout(long pid, int *status, uint64_t ticks) {
  if (!ticks) return vtb_wait(pid, status);
  const uint64_t end = vtb_ticks() + ticks;
  for (;;) {
    long r = wait_flags(pid, status, WNOHANG);
    if (r != 0 || vtb_ticks() >= end) return r;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, 0);
  }
}
/* Only a child by pid here (SIGKILL): Linux has no "my descendants" target,
 * and kill(-1) would reach every process of the user. -1 is refused. */
long vtb_kill(long pid) {
  if (pid <= 0) return -VTB_EINVAL;
  return kill((pid_t)pid, SIGKILL) == 0 ? 1 : (errno == ESRCH ? -VTB_ESRCH : -errno);
}
void *vtb_mmap(void *hint, size_t len, int prot) {
  int p = PROT_READ | ((prot & VTB_PROT_WRITE) ? PROT_WRITE : 0);
  void *r = mmap(hint, len, p, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return r == MAP_FAILED ? (void *)(intptr_t)-errno : r;
}
long vtb_munmap(void *addr, size_t len) { return munmap(addr, len) ? -errno : 0; }
long vtb_yield(void) { return sched_yield(); }
long vtb_sleep(uint64_t ticks) {
  struct timespec ts = {(time_t)(ticks / VTB_TIMER_HZ), (long)(ticks % VTB_TIMER_HZ) * (1000000000L / VTB_TIMER_HZ)};
  while (nanosleep(&ts, &ts) && errno == EINTR) {}
  return 0;
}
uint64_t vtb_ticks(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * VTB_TIMER_HZ + (uint64_t)ts.tv_nsec / (1000000000L / VTB_TIMER_HZ);
}
long vtb_ctrl(const void *buf, size_t len) {
  static int fd = -2;
  if (fd == -2) {
    const char *s = getenv("VTB_CTRL_FD");
    fd = (s && *s) ? (int)vtb_atou(s, (uint64_t)-1) : -1;
  }
  if (fd < 0) return (long)len; /* discarded */
  return vtb_write(fd, buf, len);
}
long vtb_ktest(const char *name, uint64_t n) { return -VTB_ENOSYS; }
