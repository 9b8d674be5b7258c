/* tags: workloads|programs — desc: badptr: children touch kernel addresses (text, and a data page the kernel has used); the kernel kills them and the parent reports it. */
#include "vtb.h"

/* The child touches `addr` and must be killed by the kernel (#PF). */
static int child_killed(volatile uint64_t *k) {
  long pid = vtb_fork();
  if (pid == 0) {
    uint64_t v = *k; /* must never return */
    printf("badptr: child read kernel memory at %p (0x%lx): isolation is broken\n", (void *)k, v);
    exit(3);
  }
  if (pid < 0) {
    printf("badptr: fork failed (%ld)\n", pid);
    return 0;
  }
  int st = 0;
  long w = vtb_wait(pid, &st);
  return w == pid && (st & VTB_WSTATUS_KILLED);
}

int main(void) {
#ifdef VTB_HOST_NATIVE
  /* host: the Linux kernel's text (tbk's address may be mapped here, e.g.
   * inside a sanitizer's shadow memory) */
  volatile uint64_t *text = (volatile uint64_t *)0xffffffff81000000ULL;
  volatile uint64_t *data = (volatile uint64_t *)0xffffffff81000000ULL;
#else
  /* the kernel image, and a kernel data page (the boot info, through the
   * kernel's direct map): isolation must hold for data as well as text */
  volatile uint64_t *text = (volatile uint64_t *)(VTB_KERNEL_VBASE + VTB_KERNEL_PHYS_LOAD);
  volatile uint64_t *data = (volatile uint64_t *)(VTB_KERNEL_VBASE + VTB_BOOTINFO_GPA);
#endif
  int killed = child_killed(text) && child_killed(data);
  printf("badptr: child %s\n", killed ? "was killed by the kernel" : "was NOT killed");
  vtb_result("child_killed", "%d", killed);
  return killed ? 0 : 1;
}
