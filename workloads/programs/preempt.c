/* tags: workloads|programs — desc: preempt: a spinning child must not starve its sleeping parent (timer + preemption). */
#include "vtb.h"

int main(void) {
  uint64_t t0 = vtb_ticks();
  long pid = vtb_fork();
  if (pid == 0) {
    while (vtb_ticks() < t0 + 30) {} /* spin ~300 ms, never yielding */
    exit(0);
  }
  if (pid < 0) {
    printf("preempt: fork failed (%ld)\n", pid);
    return 1;
  }
  vtb_sleep(2);                        /* needs the timer to wake up ... */
  int early = vtb_ticks() < t0 + 30;   /* ... and preemption of the spinning child */
  int st = -1;
  long w = vtb_wait(pid, &st);
  printf("preempt: parent ran while the child was spinning: %s\n", early ? "yes" : "no");
  return early && w == pid && st == 0 ? 0 : 1;
}
