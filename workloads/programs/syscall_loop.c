/* tags: workloads|programs — desc: syscall_loop N: N getpid round trips inside phase 1. */
#include "vtb.h"

int main(int argc, char **argv) {
  uint64_t n = vtb_atou(argc > 1 ? argv[1] : 0, 100000);
  long pid = vtb_getpid();
  long bad = 0;
  vtb_phase_begin(1);
  for (uint64_t i = 0; i < n; i++)
    if (vtb_getpid() != pid) bad++;
  vtb_phase_end(1);
  vtb_result("iterations", "%lu", n);
  printf("syscall_loop: %lu getpid calls, %ld mismatches\n", n, bad);
  return bad ? 1 : 0;
}
