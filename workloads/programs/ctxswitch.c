/* tags: workloads|programs — desc: ctxswitch N: parent and child ping-pong through yield, N rounds each. */
#include "vtb.h"

int main(int argc, char **argv) {
  uint64_t n = vtb_atou(argc > 1 ? argv[1] : 0, 10000);
  vtb_phase_begin(1);
  long pid = vtb_fork();
  if (pid < 0) {
    printf("ctxswitch: fork failed (%ld)\n", pid);
    return 1;
  }
  for (uint64_t i = 0; i < n; i++) vtb_yield();
  if (pid == 0) exit(0);
  int st = -1;
  long w = vtb_wait(pid, &st);
  vtb_phase_end(1);
  vtb_result("iterations", "%lu", n);
  printf("ctxswitch: %lu yields in each of 2 processes, child status %d\n", n, st);
  return w == pid && st == 0 ? 0 : 1;
}
