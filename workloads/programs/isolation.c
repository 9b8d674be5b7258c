/* tags: workloads|programs — desc: isolation: guest user code probes the host through FS/GS, rdfsbase/wrfsbase, segment loads, EFLAGS.AC, jumps out of its memory, a written WRPKRU and pointer walks down past its image and up into the host range; each probe runs in a child that the kernel must kill (or that must see only guest state). */
#include "vtb.h"

/* Each probe runs in a forked child. It either dies by a guest exception
 * (the kernel kills it: VTB_WSTATUS_KILLED | vector) or exits with a code
 * that says what it saw. What must never happen: the child reads a host
 * value, or the host process dies (then this program never reports). */
enum { SAW_ZERO = 0, SAW_VALUE = 3, SURVIVED = 4 };

static void probe_fs_load(uint64_t off) {
  uint64_t v;
  if (off == 0) __asm__ volatile("movq %%fs:0, %0" : "=r"(v));
  else __asm__ volatile("movq %%fs:0x28, %0" : "=r"(v));
  printf("isolation: %%fs:0x%lx read 0x%lx\n", off, v);
  exit(v ? SAW_VALUE : SAW_ZERO);
}

static void probe_rdbase(int gs) {
  uint64_t v;
  if (gs) __asm__ volatile("rdgsbase %0" : "=r"(v));
  else __asm__ volatile("rdfsbase %0" : "=r"(v));
  printf("isolation: rd%sbase read 0x%lx\n", gs ? "gs" : "fs", v);
  exit(v ? SAW_VALUE : SAW_ZERO);
}

/* Changes the FS/GS base or selector, then makes system calls: host code
 * runs in between and must use its own bases. */
static void probe_change(int how) {
  uint64_t base = 0x1000;
  if (how == 0) __asm__ volatile("wrfsbase %0" ::"r"(base));
  if (how == 1) __asm__ volatile("wrgsbase %0" ::"r"(base));
  if (how == 2) __asm__ volatile("movw %w0, %%fs" ::"r"(0x2bu));
  /* EFLAGS.AC on: host code entered from here must not inherit it (with
   * the host's CR0.AM its own misaligned accesses would raise #AC). */
  if (how == 3) __asm__ volatile("pushfq\n\torq $0x40000, (%%rsp)\n\tpopfq" ::: "cc", "memory");
  for (int i = 0; i < 3; i++) vtb_getpid();
  vtb_yield();
  exit(SURVIVED);
}

/* Reads the host's range in the second GiB (bt keeps its vCPU block there:
 * host stack pointer, exit function) through the two operand forms bt once
 * copied unchecked: moffs and an %fs: operand (guest FS base 0). Killed, or
 * a zero (bt-direct seals the block while guest code runs), never a value. */
#define HOST_SLOT (VTB_HOST_RESERVED_USER_LO + 0x88)
static void probe_host_read(int how) {
  uint64_t v;
  if (how == 0) __asm__ volatile("movabsq %c1, %%rax" : "=a"(v) : "i"(HOST_SLOT));
  else __asm__ volatile("movq %%fs:(%1), %0" : "=r"(v) : "r"(HOST_SLOT));
  printf("isolation: host range read 0x%lx\n", v);
  exit(v ? SAW_VALUE : SAW_ZERO);
}

/* Writes a WRPKRU (0f 01 ef) with eax = ecx = edx = 0 (every protection
 * key enabled) into a data page, runs it, then reads kernel text. pv@pkeys
 * must refuse to run the page (or, when the 0f ends one page and 01 ef
 * starts the next, whichever of the two runs second); elsewhere WRPKRU is
 * #UD (no PKU, or the guest's CR4.PKE off). Killed, or a zero, never a
 * value. The 0f is computed, so that no WRPKRU sits in this program's code. */
static volatile uint8_t one = 1;
static uint8_t code_buf[2 * 4096] __attribute__((aligned(4096)));
static void probe_wrpkru(int straddle) {
  static const uint8_t pre[] = {0x31, 0xc0, 0x31, 0xc9, 0x31, 0xd2}; /* xor eax, ecx, edx */
  uint8_t *p = code_buf + (straddle ? 4096 - 7 : 0);                  /* straddle: the 0f is byte 4095 */
  for (int i = 0; i < 6; i++) p[i] = pre[i];
  p[6] = (uint8_t)(0x0e + one);
  p[7] = 0x01, p[8] = 0xef, p[9] = 0xc3; /* ...01 ef: wrpkru; ret */
  ((void (*)(void))p)();
  uint64_t v = *(volatile uint64_t *)(VTB_KERNEL_VBASE + VTB_KERNEL_PHYS_LOAD);
  printf("isolation: after wrpkru, kernel text read 0x%lx\n", v);
  exit(v ? SAW_VALUE : SAW_ZERO);
}

/* A pointer walk in a tight loop (bt takes the address check of a loop
 * whose pointer only moves down out of the loop, docs/bt.md): down from this
 * program's data past the bottom of its image, or up from below the host's
 * range in the second GiB into it. Killed at the first page it may not
 * touch; never a value. */
static void probe_walk(int up) {
  static uint64_t start_word = 1;
  uint64_t p = up ? VTB_HOST_RESERVED_USER_LO - 0x2000 : (uint64_t)&start_word, v = 0;
  if (up) __asm__ volatile("1: movq (%1), %0\n\taddq $4096, %1\n\tjmp 1b" : "=&r"(v), "+r"(p) : : "cc", "memory");
  else __asm__ volatile("1: movq (%1), %0\n\tsubq $4096, %1\n\tjmp 1b" : "=&r"(v), "+r"(p) : : "cc", "memory");
  printf("isolation: walk ended at 0x%lx\n", p);
  exit(SURVIVED);
}

static void probe_jump(uint64_t target) {
  __asm__ volatile("jmp *%0" ::"r"(target));
  exit(SURVIVED);
}

struct probe {
  const char *name;
  int kind; /* 0 fs load, 1 rd base, 2 change, 3 jump, 4 host-range read, 5 wrpkru, 6 pointer walk */
  uint64_t arg;
};

static const struct probe probes[] = {
    {"fs_0", 0, 0},
    {"fs_0x28", 0, 0x28},
    {"rdfsbase", 1, 0},
    {"rdgsbase", 1, 1},
    {"wrfsbase", 2, 0},
    {"wrgsbase", 2, 1},
    {"mov_fs", 2, 2},
    {"eflags_ac", 2, 3},
    {"moffs_host_range", 4, 0},
    {"fs_host_range", 4, 1},
    {"walk_down", 6, 0},
    {"walk_up_host_range", 6, 1},
    {"jmp_1", 3, 1},
    {"jmp_0x8000", 3, 0x8000},
    {"jmp_0x7fff00000000", 3, 0x7fff00000000ULL},
#ifndef VTB_HOST_NATIVE
    {"jmp_kernel_text", 3, VTB_KERNEL_VBASE + VTB_KERNEL_PHYS_LOAD},
    {"wrpkru_written", 5, 0},
    {"wrpkru_straddle", 5, 1},
#endif
};

int main(void) {
  int bad = 0;
  for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    const struct probe *p = &probes[i];
    long pid = vtb_fork();
    if (pid == 0) {
      if (p->kind == 0) probe_fs_load(p->arg);
      if (p->kind == 1) probe_rdbase((int)p->arg);
      if (p->kind == 2) probe_change((int)p->arg);
      if (p->kind == 4) probe_host_read((int)p->arg);
      if (p->kind == 5) probe_wrpkru((int)p->arg);
      if (p->kind == 6) probe_walk((int)p->arg);
      probe_jump(p->arg);
    }
    if (pid < 0) {
      printf("isolation: fork failed (%ld)\n", pid);
      return 2;
    }
    int st = 0;
    vtb_wait(pid, &st);
    const char *verdict;
    if (st & VTB_WSTATUS_KILLED) {
      /* a guest exception: fine for every probe */
      printf("isolation: %s: killed by vector %d\n", p->name, st & 0xff);
      verdict = "killed";
    } else if (st == SAW_ZERO || (st == SURVIVED && p->kind == 2)) {
      printf("isolation: %s: guest state only (exit %d)\n", p->name, st);
      verdict = "guest";
    } else {
      printf("isolation: %s: BROKEN (exit %d)\n", p->name, st);
      verdict = "broken";
      bad++;
    }
    vtb_result(p->name, "%s", verdict);
  }
  printf("isolation: %d probe(s) broken\n", bad);
  return bad ? 1 : 0;
}
