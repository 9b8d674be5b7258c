/* tags: workloads|programs — desc: forkwait N: N x (fork, child exits, parent waits), as in Adams & Agesen 2006. */
#include "vtb.h"

int main(int argc, char **argv) {
  uint64_t n = vtb_atou(argc > 1 ? argv[1] : 0, 1000);
  uint64_t failures = 0;
  vtb_phase_begin(1);
  for (uint64_t i = 0; i < n; i++) {
    long pid = vtb_fork();
    if (pid == 0) exit(0);
    if (pid < 0) {
      failures++;
      break;
    }
    int st = -1;
    if (vtb_wait(pid, &st) != pid || st != 0) failures++;
  }
  vtb_phase_end(1);
  vtb_result("iterations", "%lu", n);
  printf("forkwait: %lu forks, %lu failures\n", n, failures);
  return failures ? 1 : 0;
}
