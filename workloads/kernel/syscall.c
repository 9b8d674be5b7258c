/* tags: kernel|syscall — desc: system call dispatch (enum vtb_sys) with user-pointer validation. */
#include "kern.h"
#include "ktest/ktest.h"

#define ARG_BYTES 512

/* User bytes [uva, uva + len) to the console or the control port, a chunk
 * at a time (uaccess.c); the range was vma-checked. */
static long user_out(uint64_t uva, uint64_t len, int ctrl) {
  char buf[256];
  for (uint64_t done = 0; done < len;) {
    uint64_t n = len - done < sizeof buf ? len - done : sizeof buf;
    if (copy_from_user(buf, uva + done, n) < 0) return done ? (long)done : -VTB_EFAULT;
    for (uint64_t i = 0; i < n; i++) {
      if (ctrl) plat_outb(VTB_PORT_CTRL, (uint8_t)buf[i]);
      else kputc(buf[i]);
    }
    done += n;
  }
  return (long)len;
}

static long sys_exec(uint64_t name_uva, uint64_t argv_uva, struct trapframe *tf) {
  static char name[VTB_ARCHIVE_NAME_MAX], strs[ARG_BYTES];
  static char *argv[33];
  if (copy_str_from_user(name, name_uva, sizeof name) < 0) return -VTB_EFAULT;
  int argc = 0;
  uint64_t used = 0;
  if (!argv_uva) argv[argc++] = name;
  for (; argv_uva && argc < 32; argc++) {
    if (!user_range_ok(argv_uva + 8 * (uint64_t)argc, 8, 0)) return -VTB_EFAULT;
    uint64_t s;
    if (copy_from_user(&s, argv_uva + 8 * (uint64_t)argc, 8) < 0) return -VTB_EFAULT;
    if (!s) break;
    long n = copy_str_from_user(strs + used, s, ARG_BYTES - used);
    if (n < 0) return n;
    argv[argc] = strs + used;
    used += (uint64_t)n + 1;
  }
  if (!argc) argv[argc++] = name;
  argv[argc] = 0;
  long r = proc_exec_image(cur, name, argc, argv);
  (void)tf; /* on success the frame was rewritten for the new image */
  return r;
}

/* Kernel-mode micro loops and the census: workloads/kernel/ktest. */
static long sys_ktest(uint64_t name_uva, uint64_t n) {
  char name[16];
  if (copy_str_from_user(name, name_uva, sizeof name) < 0) return -VTB_EFAULT;
  return ktest_run(name, n);
}

void syscall_dispatch(struct trapframe *tf) {
  uint64_t a0 = tf->rdi, a1 = tf->rsi, a2 = tf->rdx;
  long r;
  kstats.syscalls++;
  switch (tf->rax) {
    case VTB_SYS_EXIT: proc_exit((int)(a0 & 0xff));
    case VTB_SYS_WRITE:
      if (a0 != 1 && a0 != 2) { r = -VTB_EINVAL; break; }
      if (!user_range_ok(a1, a2, 0)) { r = -VTB_EFAULT; break; }
      r = user_out(a1, a2, 0);
      break;
    case VTB_SYS_GETPID: r = cur->pid; break;
    case VTB_SYS_FORK: r = proc_fork(tf); break;
    case VTB_SYS_EXEC: r = sys_exec(a0, a1, tf); break;
    case VTB_SYS_WAIT: r = proc_wait((int)a0, a1, a2); break;
    case VTB_SYS_MMAP: r = proc_mmap(a0, a1, a2); break;
    case VTB_SYS_MUNMAP: r = proc_munmap(a0, a1); break;
    case VTB_SYS_YIELD: sched(); r = 0; break;
    case VTB_SYS_SLEEP: r = proc_sleep(a0); break;
    case VTB_SYS_CTRL:
      if (!user_range_ok(a0, a1, 0)) { r = -VTB_EFAULT; break; }
      r = user_out(a0, a1, 1);
      break;
    case VTB_SYS_TICKS: r = (long)ticks; break;
    case VTB_SYS_KTEST: r = sys_ktest(a0, a1); break;
    case VTB_SYS_KILL: r = ((long)a0 > 0 && a0 <= 0x7fffffff) || (long)a0 == -1 ? proc_kill_pid((int)(long)a0) : -VTB_EINVAL; break;
    default: r = -VTB_ENOSYS; break;
  }
  tf->rax = (uint64_t)r;
}
