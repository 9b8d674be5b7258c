/* tags: workloads|programs — desc: forkwait N [REPS]: N x (fork, child exits, parent waits), as in Adams & Agesen 2006. */
#include "vtb.h"

/* One measured loop; returns the number of failed iterations. */
static uint64_t forkwait(uint64_t n) {
  uint64_t failures = 0;
  for (uint64_t i = 0; i < n; i++) {
    long pid = vtb_fork();
    if (pid == 0) exit(0);
    if (pid < 0) return failures + 1;
    int st = -1;
    if (vtb_wait(pid, &st) != pid || st != 0) failures++;
  }
  return failures;
}

int main(int argc, char **argv) {
  uint64_t n = vtb_atou(argc > 1 ? argv[1] : 0, 1000);
  /* REPS > 1 repeats the loop, each time inside its own phase 1: the first
   * occurrence is the cold run, the last the warm one (vtb bench). */
  uint64_t reps = vtb_atou(argc > 2 ? argv[2] : 0, 1);
  uint64_t failures = 0;
  for (uint64_t k = 0; k < reps && !failures; k++) {
    vtb_phase_begin(1);
    failures = forkwait(n);
    vtb_phase_end(1);
  }
  vtb_result("iterations", "%lu", n);
  printf("forkwait: %lu forks, %lu failures\n", n, failures);
  return failures ? 1 : 0;
}
