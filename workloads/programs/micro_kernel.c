/* tags: workloads|programs — desc: micro_kernel OP N: one kernel-mode micro loop (VTB_SYS_KTEST OP N) inside phase 1. */
#include "vtb.h"

int main(int argc, char **argv) {
  const char *op = argc > 1 ? argv[1] : "null";
  uint64_t n = vtb_atou(argc > 2 ? argv[2] : 0, 1000);
  vtb_phase_begin(1);
  long r = vtb_ktest(op, n);
  vtb_phase_end(1);
  if (r < 0) {
    printf("micro_kernel: %s: error %ld\n", op, r);
    return 1;
  }
  vtb_result("ops", "%lu", n);
  printf("micro_kernel: %s x %lu: %ld done\n", op, n, r);
  return (uint64_t)r == n ? 0 : 1;
}
