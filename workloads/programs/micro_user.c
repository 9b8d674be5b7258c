/* tags: workloads|programs — desc: micro_user OP N [REPS [ROUNDS]]: one user-mode micro loop (syscall, callret, pgfault, cowfault, cpuid, rdtsc, pushfpopf) inside phase 1. */
#include "vtb.h"

typedef uint64_t (*fn_t)(uint64_t);
__attribute__((noinline)) static uint64_t step(uint64_t x) { return x * 3 + 1; }
static fn_t volatile fnp = step; /* volatile: a real indirect call every time */

static long run(const char *op, uint64_t n, uint64_t *check) {
  if (!strcmp(op, "syscall")) {
    long pid = vtb_getpid();
    for (uint64_t i = 0; i < n; i++)
      if (vtb_getpid() != pid) return -1;
  } else if (!strcmp(op, "callret")) {
    uint64_t x = 1;
    for (uint64_t i = 0; i < n; i++) x = fnp(x);
    *check = x;
  } else if (!strcmp(op, "pgfault")) {
    /* n fresh anonymous pages, one write each: n demand-zero faults */
    uint8_t *p = vtb_mmap(0, n * VTB_PAGE_SIZE, VTB_PROT_READ | VTB_PROT_WRITE);
    if (VTB_MMAP_FAILED(p)) return -2;
    for (uint64_t i = 0; i < n; i++) p[i * VTB_PAGE_SIZE] = 1;
    for (uint64_t i = 0; i < n; i++) *check += p[i * VTB_PAGE_SIZE];
    vtb_munmap(p, n * VTB_PAGE_SIZE);
  } else if (!strcmp(op, "cowfault")) {
    /* touch n pages, fork, the child writes each: n copy-on-write faults */
    uint8_t *p = vtb_mmap(0, n * VTB_PAGE_SIZE, VTB_PROT_READ | VTB_PROT_WRITE);
    if (VTB_MMAP_FAILED(p)) return -2;
    for (uint64_t i = 0; i < n; i++) p[i * VTB_PAGE_SIZE] = 1;
    long pid = vtb_fork();
    if (pid < 0) return -3;
    if (pid == 0) {
      for (uint64_t i = 0; i < n; i++) p[i * VTB_PAGE_SIZE] = 2;
      exit(0);
    }
    int st = -1;
    if (vtb_wait(pid, &st) != pid || st != 0) return -4;
    for (uint64_t i = 0; i < n; i++) *check += p[i * VTB_PAGE_SIZE]; /* still 1: parent's copy */
    vtb_munmap(p, n * VTB_PAGE_SIZE);
  } else if (!strcmp(op, "cpuid")) {
    for (uint64_t i = 0; i < n; i++) {
      uint32_t a = 0, b, c = 0, d;
      __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    }
  } else if (!strcmp(op, "rdtsc")) {
    for (uint64_t i = 0; i < n; i++) {
      uint32_t lo, hi;
      __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    }
  } else if (!strcmp(op, "pushfpopf")) {
    for (uint64_t i = 0; i < n; i++) __asm__ volatile("pushfq; popfq" ::: "cc", "memory");
  } else {
    return -5;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *op = argc > 1 ? argv[1] : "syscall";
  uint64_t n = vtb_atou(argc > 2 ? argv[2] : 0, 1000), check = 0;
  /* reps > 1 repeats the measured loop, each time inside its own phase 1:
   * the first occurrence is the cold run, the last the warm one (vtb bench). */
  uint64_t reps = vtb_atou(argc > 3 ? argv[3] : 0, 1);
  /* rounds repeats the loop inside each phase 1: the iteration count of the
   * ops whose N is a size (pgfault, cowfault: N pages); the bench may scale it. */
  uint64_t rounds = vtb_atou(argc > 4 ? argv[4] : 0, 1);
  long r = 0;
  int ok = 1;
  for (uint64_t k = 0; k < reps && r >= 0; k++) {
    vtb_phase_begin(1);
    for (uint64_t j = 0; j < rounds && r >= 0; j++) {
      check = 0;
      r = run(op, n, &check);
      if (!strcmp(op, "pgfault") || !strcmp(op, "cowfault")) ok &= check == n;
    }
    vtb_phase_end(1);
  }
  if (r < 0) {
    printf("micro_user: %s: error %ld\n", op, r);
    return 1;
  }
  vtb_result("ops", "%lu", n * rounds);
  printf("micro_user: %s x %lu: %s\n", op, n, ok ? "ok" : "wrong result");
  return ok ? 0 : 1;
}
