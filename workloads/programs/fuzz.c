/* tags: workloads|programs — desc: fuzz: the `vtb fuzz` driver: runs COUNT generated or bit-flipped programs, one child each, one record per child.
 *
 * fuzz KIND SEED FIRST COUNT [BUDGET]   (KIND: flip | rand | seq; docs/reliability.md)
 * For each index i in [FIRST, FIRST+COUNT): fork; the child runs program
 * (KIND, SEED, i) — flip: exec of archive entry "f<i>" (a bit-flipped copy of
 * a real program, written by `vtb fuzz`); rand/seq: the code page from
 * harness/fuzz/fuzz_gen.h, generated here, mapped at the first mmap address
 * and called. The parent waits at most BUDGET timer ticks (default 50; 0 =
 * forever), then kills it, and prints "@fz <i> <status>" (status in hex: exit
 * code, or VTB_WSTATUS_KILLED | vector, or VTB_WSTATUS_KILLED |
 * VTB_WSTATUS_BY_KILL for a program that ran out of its budget: a guest
 * hang). Whatever the program forked and left running is killed and reaped
 * before the next one. The child's output (and the kernel's kill line) comes
 * just before its record. */
#include "vtb.h"
#include "harness/fuzz/fuzz_gen.h"
#ifdef VTB_HOST_NATIVE
#include <sys/mman.h>
#endif

static uint8_t *map_pages(void) {
#ifdef VTB_HOST_NATIVE
  void *p = mmap((void *)VTB_USER_MMAP_BASE, 2 * 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? 0 : (uint8_t *)p;
#else
  void *p = vtb_mmap(0, 2 * 4096, VTB_PROT_WRITE);
  return VTB_MMAP_FAILED(p) ? 0 : (uint8_t *)p;
#endif
}

static int run_child(int kind, uint64_t seed, uint64_t i) {
  if (kind == FZ_FLIP) {
    char name[24], idx[24];
    snprintf(name, sizeof name, "f%lu", (unsigned long)i);
    snprintf(idx, sizeof idx, "%s", fz_flip_args[fz_flip_template(seed, i)]);
    char *argv[] = {name, idx[0] ? idx : 0, 0};
    long e = vtb_exec(name, argv);
    printf("fz: exec %s: %ld\n", name, e);
    return 99;
  }
  uint8_t *page = map_pages();
  if (!page) {
    printf("fz: mmap failed\n");
    return 98;
  }
  if ((uint64_t)page != VTB_USER_MMAP_BASE) printf("fz: code at %p\n", page);
  if (kind == FZ_RAND) {
    fz_gen_rand(seed, i, page);
    ((void (*)(void))page)();
    return 0;
  }
  uint8_t *data = page + 4096;
  fz_gen_seq(seed, i, page, (uint64_t)data, data);
  ((void (*)(void))page)();
  uint64_t *st = (uint64_t *)(data + FZ_STATE_OFF);
  st[4] &= 0xcd5; /* the arithmetic flags (stored in the %rsp slot) */
  uint64_t h = fz_fnv(FZ_FNV0, st, 16 * 8);
  h = fz_fnv(h, data, FZ_DATA_BYTES);
  printf("fz: seq %lx\n", (unsigned long)h);
  return (int)(h & 0x3f);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    printf("usage: fuzz flip|rand|seq SEED FIRST COUNT [BUDGET_TICKS]\n");
    return 2;
  }
  int kind = strcmp(argv[1], "flip") == 0 ? FZ_FLIP : strcmp(argv[1], "rand") == 0 ? FZ_RAND : FZ_SEQ;
  uint64_t seed = vtb_atou(argv[2], 0), first = vtb_atou(argv[3], 0), count = vtb_atou(argv[4], 0);
  uint64_t budget = vtb_atou(argc > 5 ? argv[5] : 0, FZ_BUDGET_TICKS);
  printf("@fz start %s %lu %lu %lu\n", argv[1], (unsigned long)seed, (unsigned long)first, (unsigned long)count);
  for (uint64_t i = first; i < first + count; ++i) {
    long pid = vtb_fork();
    if (pid < 0) {
      printf("@fz %lu fork %ld\n", (unsigned long)i, pid);
      continue;
    }
    if (pid == 0) exit(run_child(kind, seed, i));
    int status = -1;
    long w = vtb_wait_timeout(pid, &status, budget);
    if (w == 0) {  /* out of budget */
      vtb_kill(pid);
      w = vtb_wait(pid, &status);
    }
    vtb_kill(-1); /* what it forked and left behind (orphans are ours now) */
    for (int st; vtb_wait(-1, &st) > 0;) {}
    printf("@fz %lu %x\n", (unsigned long)i, w == pid ? status : 0xfff);
  }
  printf("@fz done\n");
  return 0;
}
