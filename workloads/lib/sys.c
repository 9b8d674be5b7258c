/* tags: workloads|lib — desc: guest system call stubs (`syscall`, Linux-like registers, enum vtb_sys). */
#include "vtb.h"

static inline long sc(long nr, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

long vtb_write(int fd, const void *buf, size_t len) { return sc(VTB_SYS_WRITE, fd, (long)buf, (long)len); }
long vtb_getpid(void) { return sc(VTB_SYS_GETPID, 0, 0, 0); }
long vtb_fork(void) { return sc(VTB_SYS_FORK, 0, 0, 0); }
long vtb_exec(const char *name, char *const argv[]) { return sc(VTB_SYS_EXEC, (long)name, (long)argv, 0); }
long vtb_wait(long pid, int *status) { return sc(VTB_SYS_WAIT, pid, (long)status, 0); }
long vtb_wait_timeout(long pid, int *status, uint64_t ticks) { return sc(VTB_SYS_WAIT, pid, (long)status, (long)ticks); }
long vtb_kill(long pid) { return sc(VTB_SYS_KILL, pid, 0, 0); }
void *vtb_mmap(void *hint, size_t len, int prot) { return (void *)sc(VTB_SYS_MMAP, (long)hint, (long)len, prot); }
long vtb_munmap(void *addr, size_t len) { return sc(VTB_SYS_MUNMAP, (long)addr, (long)len, 0); }
long vtb_yield(void) { return sc(VTB_SYS_YIELD, 0, 0, 0); }
long vtb_sleep(uint64_t ticks) { return sc(VTB_SYS_SLEEP, (long)ticks, 0, 0); }
uint64_t vtb_ticks(void) { return (uint64_t)sc(VTB_SYS_TICKS, 0, 0, 0); }
long vtb_ctrl(const void *buf, size_t len) { return sc(VTB_SYS_CTRL, (long)buf, (long)len, 0); }
long vtb_ktest(const char *name, uint64_t n) { return sc(VTB_SYS_KTEST, (long)name, (long)n, 0); }
void exit(int code) {
  sc(VTB_SYS_EXIT, code, 0, 0);
  for (;;) {}
}
