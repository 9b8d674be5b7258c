/* tags: workloads|programs — desc: micro_kernel OP N: one kernel-mode micro loop (VTB_SYS_KTEST OP N) inside phase 1. */
#include "vtb.h"

int main(int argc, char **argv) {
  const char *op = argc > 1 ? argv[1] : "null";
  uint64_t n = vtb_atou(argc > 2 ? argv[2] : 0, 1000);
  /* reps > 1 repeats the measured loop, each time inside its own phase 1:
   * the first occurrence is the cold run, the last the warm one (vtb bench). */
  uint64_t reps = vtb_atou(argc > 3 ? argv[3] : 0, 1);
  long r = 0;
  for (uint64_t k = 0; k < reps && r >= 0; k++) {
    vtb_phase_begin(1);
    r = vtb_ktest(op, n);
    vtb_phase_end(1);
  }
  if (r < 0) {
    printf("micro_kernel: %s: error %ld\n", op, r);
    return 1;
  }
  vtb_result("ops", "%lu", n);
  printf("micro_kernel: %s x %lu: %ld done\n", op, n, r);
  return (uint64_t)r == n ? 0 : 1;
}
