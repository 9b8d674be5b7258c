/* tags: workloads|programs — desc: badptr: a child touches a kernel address; the kernel kills it and the parent reports it. */
#include "vtb.h"

int main(void) {
  long pid = vtb_fork();
  if (pid == 0) {
#ifdef VTB_HOST_NATIVE
    /* host: the Linux kernel's text (tbk's address may be mapped here, e.g.
     * inside a sanitizer's shadow memory) */
    volatile uint64_t *k = (volatile uint64_t *)0xffffffff81000000ULL;
#else
    volatile uint64_t *k = (volatile uint64_t *)(VTB_KERNEL_VBASE + VTB_KERNEL_PHYS_LOAD);
#endif
    uint64_t v = *k; /* must never return */
    printf("badptr: child read kernel memory (0x%lx): isolation is broken\n", v);
    exit(3);
  }
  if (pid < 0) {
    printf("badptr: fork failed (%ld)\n", pid);
    return 1;
  }
  int st = 0;
  long w = vtb_wait(pid, &st);
  int killed = w == pid && (st & VTB_WSTATUS_KILLED);
  printf("badptr: child %s\n", killed ? "was killed by the kernel" : "was NOT killed");
  vtb_result("child_killed", "%d", killed);
  return killed ? 0 : 1;
}
