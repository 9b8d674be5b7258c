/* tags: workloads|programs — desc: buildlike N: a build-like mixed load: N jobs, each forks a "compiler" child (compute + console) and execs a short program, then a final "link" over all outputs. */
#include "vtb.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  return x ^ (x >> 33);
}

/* The "compiler": hash a 16 KiB buffer a few times (CPU + memory). */
static uint64_t compile(uint64_t job) {
  static uint64_t buf[2048];
  uint64_t h = job * 0x9e3779b97f4a7c15ULL + 1;
  for (int round = 0; round < 8; round++)
    for (int i = 0; i < 2048; i++) h = buf[i] = mix(h ^ buf[i] ^ (uint64_t)i);
  return h;
}

int main(int argc, char **argv) {
  uint64_t n = vtb_atou(argc > 1 ? argv[1] : 0, 20), failures = 0, link = 0;
  vtb_phase_begin(1);
  for (uint64_t j = 0; j < n; j++) {
    long pid = vtb_fork();
    if (pid == 0) {
      uint64_t h = compile(j);
      printf("buildlike: cc unit%lu.c -> %lx\n", j, h & 0xffffffff);
      exit((int)(h & 0x7f));
    }
    int st = -1;
    if (pid < 0 || vtb_wait(pid, &st) != pid || st != (int)(compile(j) & 0x7f)) failures++;
    link = mix(link ^ (uint64_t)st);
    if (j % 4 == 3) { /* now and then a short tool: fork + exec */
      char arg[24];
      snprintf(arg, sizeof arg, "unit%lu.o", j);
      char *av[] = {"hello", arg, 0};
      long p2 = vtb_fork();
      if (p2 == 0) {
        vtb_exec("hello", av);
        exit(127);
      }
      if (p2 < 0 || vtb_wait(p2, &st) != p2 || st != 0) failures++;
    }
  }
  vtb_phase_end(1);
  vtb_result("jobs", "%lu", n);
  printf("buildlike: %lu jobs, link %lx, %lu failures\n", n, link, failures);
  return failures ? 1 : 0;
}
