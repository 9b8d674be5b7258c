/* tags: engines|pv|tests — desc: pv test guest scenarios (boot cmdline): hello, mmu, stale, trap, timer, spin, user, user code inspection (wrpkru*, straddle_*, smc, kpatch), assist (vm_assist, then a kernel touch of user memory). */
#include <stdint.h>

#include "common/abi/vtb_abi.h"

#define KV VTB_KERNEL_VBASE
#define P 1ULL
#define W 2ULL
#define U 4ULL
#define PS 0x80ULL

struct tg_tf {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

uint64_t tg_iret_stub;
extern char tg_stub_0[], tg_stub_3[], tg_stub_6[], tg_stub_13[], tg_stub_14[], tg_stub_32[], tg_stub_128[],
    tg_stub_255[], user_prog_start[], user_prog_end[], tg_kstack_top[], user_wrpkru_start[], user_wrpkru_end[],
    user_wrpkru_imm_start[], user_wrpkru_imm_end[], user_straddle_start[], user_straddle_b[], user_straddle_end[],
    user_smc_start[], user_smc_end[], user_kpatch_start[], user_kpatch_end[];
void tg_enter(struct tg_tf *tf) __attribute__((noreturn));

static volatile struct vtb_shared_info *shared;
static volatile uint64_t counts[256];
static volatile uint64_t skip, last_cr2, syscalls;
static int want_fetch_pf; /* code-inspection scenarios: the user program ends with a refused fetch */

static long hc(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  register uint64_t fn __asm__("r11") = VTB_HYPERCALL_VA + VTB_HYPERCALL_STUB_SIZE * nr;
  long r;
  __asm__ volatile("call *%[fn]" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), [fn] "r"(fn) : "memory", "cc");
  return r;
}

static uint64_t slen(const char *s) {
  uint64_t n = 0;
  while (s[n]) n++;
  return n;
}
static void puts_(const char *s) { hc(VTB_HC_CONSOLE_IO, (uint64_t)s, slen(s), 0, 0); }
static void put_hex(uint64_t v) {
  char b[19];
  b[0] = '0', b[1] = 'x';
  for (int i = 0; i < 16; i++) b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
  b[18] = 0;
  puts_(b);
}
static void put_dec(uint64_t v) {
  char b[24];
  int i = 23;
  b[i] = 0;
  do b[--i] = (char)('0' + v % 10), v /= 10; while (v);
  puts_(b + i);
}
static void __attribute__((noreturn)) finish(uint32_t code) {
  hc(VTB_HC_IO, VTB_PORT_EXIT, 4, 1, code);
  for (;;) hc(VTB_HC_SCHED_OP, VTB_SCHED_SHUTDOWN, code, 0, 0);
}
static void check(int ok, const char *what) {
  puts_(what);
  puts_(ok ? ": ok\n" : ": FAILED\n");
  if (!ok) finish(1);
}
static int streq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static long mmu1(uint64_t ptr, uint64_t val) {
  struct vtb_mmu_update u = {ptr, val};
  uint64_t done = 99;
  long r = hc(VTB_HC_MMU_UPDATE, (uint64_t)&u, 1, (uint64_t)&done, 0);
  if (r == 0 && done != 1) return -1000;
  return r;
}

/* Trap-table handlers land here. */
void tg_trap(struct tg_tf *tf) {
  counts[tf->vector & 0xff]++;
  if (tf->vector == VTB_PV_VECTOR_SYSCALL) {
    syscalls++;
    if (tf->rax == 1) tf->rax = tf->rdi + 1;
    else if (tf->rax == 3) check(0, "user program");
    else if (tf->rax == 4) puts_("user rounds ok\n");
    else if (tf->rax == 5) { /* patch the user's next 3 bytes into a WRPKRU through the direct map */
      volatile uint8_t *code = (volatile uint8_t *)(KV + 0x500000 + (tf->rip - 0x400000));
      code[0] = (uint8_t)(0x0e + (tf->rax >> 2)), code[1] = 0x01, code[2] = 0xef;
      tf->rax = 0;
    }
    return;
  }
  if (tf->vector == 32) return;
  if ((tf->cs & 3) == 3) { /* from user mode */
    if (tf->vector == 14) {
      puts_("user killed: page fault at ");
      put_hex(shared->cr2);
      puts_(" error ");
      put_hex(tf->error);
      puts_(" syscalls ");
      put_dec(syscalls);
      puts_("\n");
      if (want_fetch_pf) {
        check((tf->error & (P | U | 0x10)) == (P | U | 0x10) && shared->cr2 >= 0x400000 && shared->cr2 < 0x402000,
              "user instruction fetch refused");
        finish(0);
      }
      check(shared->cr2 == KV + 0x100000 && (tf->error & U), "kernel memory refused to user");
      finish(0);
    }
    tf->rip += 2; /* int $0x80 / sysenter: refused, skip */
    return;
  }
  if (tf->vector == 14) last_cr2 = shared->cr2;
  tf->rip += skip;
}

static void set_traps(void) {
  static struct vtb_trap_info t[8];
  char *h[8] = {tg_stub_0, tg_stub_3, tg_stub_6, tg_stub_13, tg_stub_14, tg_stub_32, tg_stub_128, tg_stub_255};
  uint8_t v[8] = {0, 3, 6, 13, 14, 32, 128, 255};
  for (int i = 0; i < 8; i++) t[i] = (struct vtb_trap_info){v[i], 0, 0, 0, (uint64_t)h[i]};
  check(hc(VTB_HC_SET_TRAP_TABLE, (uint64_t)t, 8, 0, 0) == 0, "set_trap_table");
}

/* Page tables at fixed frames (RAM arrives zeroed):
 * 0x400000 PML4, 0x401000 kernel PDPT, 0x402000 kernel PD (2 MiB direct map),
 * 0x403000 user PDPT, 0x404000 user PD, 0x405000 user PT (va 0x400000..). */
#define PML4 0x400000ULL
#define KPDPT 0x401000ULL
#define KPD 0x402000ULL
#define UPDPT 0x403000ULL
#define UPD 0x404000ULL
#define UPT 0x405000ULL
static void build_space(uint64_t ram) {
  check(hc(VTB_HC_PIN_TABLE, PML4, 4, 0, 0) == 0, "pin pml4");
  static struct vtb_mmu_update b[16];
  int n = 0;
  for (uint64_t pa = 0; pa < ram; pa += 2ULL << 20) b[n++] = (struct vtb_mmu_update){KPD + (pa >> 21) * 8, pa | P | W | PS};
  uint64_t done = 0;
  check(hc(VTB_HC_MMU_UPDATE, (uint64_t)b, (uint64_t)n, (uint64_t)&done, 0) == 0 && done == (uint64_t)n,
        "direct map entries (unpinned table)");
  struct vtb_mmu_update l[6] = {
      {KPDPT, KPD | P | W},          {PML4 + 16 * 8, KPDPT | P | W}, {UPT, 0x500000 | P | W | U},
      {UPD + 2 * 8, UPT | P | W | U}, {UPDPT, UPD | P | W | U},      {PML4, UPDPT | P | W | U}};
  check(hc(VTB_HC_MMU_UPDATE, (uint64_t)l, 6, (uint64_t)&done, 0) == 0 && done == 6, "link tables");
  check(hc(VTB_HC_NEW_BASEPTR, PML4, 0, 0, 0) == 0, "new_baseptr");
}

static void scenario_mmu(uint64_t ram) {
  build_space(ram);
  *(volatile uint64_t *)0x400000 = 0x1234;
  check(*(volatile uint64_t *)(KV + 0x500000) == 0x1234, "user page reflected");
  check(mmu1(UPT + 8, 0x2000000 | P | W | U) == -VTB_EPERM, "frame beyond RAM refused");
  check(mmu1(UPT + 8, (ram - 4096) | P | W | U) == -VTB_EPERM, "engine's shared frame refused");
  check(mmu1(UPT + 16, UPT | P | W | U) == -VTB_EPERM, "writable mapping of a page table refused");
  check(mmu1(UPT + 16, UPT | P | U) == 0, "read-only mapping of a page table allowed");
  check(*(volatile uint64_t *)0x402000 == (0x500000 | P | W | U), "page table readable through it");
  check(hc(VTB_HC_NEW_BASEPTR, PML4 + 0x123, 0, 0, 0) == -VTB_EINVAL, "unaligned base pointer refused");
  check(hc(VTB_HC_NEW_BASEPTR, 0x4000000, 0, 0, 0) == -VTB_EINVAL, "base pointer beyond RAM refused");
  check(hc(VTB_HC_NEW_BASEPTR, UPT, 0, 0, 0) == -VTB_EINVAL, "level-1 table as base pointer refused");
  *(volatile uint64_t *)(KV + 0x406000) = 0x7fff000 | P; /* a PML4 pointing outside RAM */
  check(hc(VTB_HC_NEW_BASEPTR, 0x406000, 0, 0, 0) == -VTB_EPERM, "bogus base pointer refused");
  check(mmu1(UPD + 3 * 8, PML4 | P | W) == -VTB_EINVAL, "PML4 linked as a page table refused");
  check(mmu1(PML4 + 15 * 8, 0x407000 | P | W) == 0 && mmu1(0x407000 + 511 * 8, 0 | P | W | PS) == -VTB_EINVAL,
        "mapping into the host-reserved range refused");
  check(*(volatile uint64_t *)0x400000 == 0x1234, "engine consistent after refusals");
  static struct vtb_mmu_update b[8];
  for (int i = 0; i < 8; i++) b[i] = (struct vtb_mmu_update){UPT + 8 * (3 + i), (0x503000 + 0x1000ULL * i) | P | W | U};
  uint64_t done = 0;
  check(hc(VTB_HC_MMU_UPDATE, (uint64_t)b, 8, (uint64_t)&done, 0) == 0 && done == 8, "batch of 8");
  for (int i = 0; i < 8; i++) *(volatile uint64_t *)(0x403000 + 0x1000ULL * i) = 0x100 + i;
  int ok = 1;
  for (int i = 0; i < 8; i++) ok &= *(volatile uint64_t *)(KV + 0x503000 + 0x1000ULL * i) == 0x100 + (uint64_t)i;
  check(ok, "batch reflected");
  check(mmu1(UPT, 0x510000 | P | W | U) == 0, "remap");
  *(volatile uint64_t *)0x400000 = 0x5678;
  check(*(volatile uint64_t *)(KV + 0x510000) == 0x5678 && *(volatile uint64_t *)(KV + 0x500000) == 0x1234,
        "remap reflected");
  puts_("writing a page table directly\n");
  *(volatile uint64_t *)(KV + UPT + 8) = 0x600000 | P | W | U; /* ignores the rules: #PF, no handler */
  check(0, "direct page-table write went through");
}

/* A released page table stays read-only until the kernel writes it as
 * ordinary memory; the engine hands it back zeroed and then lets the write
 * through (no fault reaches the guest: no trap table is set). */
static void scenario_stale(uint64_t ram) {
  build_space(ram);
  const uint64_t t = 0x408000;
  check(mmu1(UPD + 5 * 8, t | P | W | U) == 0, "table linked");
  check(mmu1(t, 0x520000 | P | W | U) == 0, "entry in it");
  check(hc(VTB_HC_UNPIN_TABLE, t, 1, VTB_UNPIN_ZERO, 0) == 0, "table released");
  check(*(volatile uint64_t *)(KV + t) == 0, "released table handed back zeroed");
  *(volatile uint64_t *)(KV + t) = 0x77;
  check(*(volatile uint64_t *)(KV + t) == 0x77, "released table writable again");
  finish(0);
}

static void scenario_trap(void) {
  set_traps();
  skip = 3;
  __asm__ volatile("xor %%edx, %%edx\n\txor %%ecx, %%ecx\n\tmov $1, %%eax\n\t.byte 0x48, 0xf7, 0xf1" ::: "rax", "rcx", "rdx");
  check(counts[0] == 1, "#DE reflected");
  skip = 0;
  __asm__ volatile("int3");
  check(counts[3] == 1, "#BP reflected");
  skip = 2;
  __asm__ volatile("ud2");
  check(counts[6] == 1, "#UD reflected");
  skip = 1;
  __asm__ volatile("cli");
  check(counts[13] == 1, "#GP on a privileged instruction reflected");
  skip = 3;
  uint64_t bad = KV + 0x40000000ULL + 0x123;
  __asm__ volatile("mov %0, %%rax\n\t.byte 0x48, 0x8b, 0x00" ::"r"(bad) : "rax", "memory");
  check(counts[14] == 1 && last_cr2 == bad, "#PF reflected with cr2");
  finish(0);
}

static uint64_t now_ns(void) {
  uint64_t t = (uint64_t)hc(VTB_HC_RDTSC, 0, 0, 0, 0);
  return t / (shared->tsc_hz / 1000000) * 1000; /* microsecond resolution is enough here */
}

static void scenario_timer(void) {
  set_traps();
  check(hc(VTB_HC_SET_TIMER, 1000000, 0, 0, 0) == 0, "set_timer 1 ms");
  shared->vif = 1;
  uint64_t t0 = now_ns();
  while (counts[32] < 5 && now_ns() - t0 < 3000000000ULL) {
  }
  check(counts[32] >= 5, "timer events delivered");
  shared->vif = 0;
  uint64_t before = counts[32];
  t0 = now_ns();
  while (now_ns() - t0 < 30000000ULL) {
  }
  check(counts[32] == before && shared->pending, "masked by vif, marked pending");
  shared->vif = 1;
  hc(VTB_HC_NULL, 0, 0, 0, 0);
  check(counts[32] >= before + 1, "pending event delivered at the next hypercall");
  shared->vif = 0;
  before = counts[32];
  hc(VTB_HC_SCHED_OP, VTB_SCHED_BLOCK, 0, 0, 0);
  check(counts[32] > before, "block returns after an event");
  hc(VTB_HC_SET_TIMER, 0, 0, 0, 0);
  finish(0);
}

static void scenario_user(uint64_t ram) {
  set_traps();
  build_space(ram);
  check(mmu1(UPT + 8, 0x501000 | P | W | U) == 0, "user stack page");
  char *dst = (char *)(KV + 0x500000);
  for (char *s = user_prog_start; s < user_prog_end; s++) *dst++ = *s;
  check(hc(VTB_HC_STACK_SWITCH, (uint64_t)tg_kstack_top, 0, 0, 0) == 0, "stack_switch");
  struct tg_tf *tf = (struct tg_tf *)((uint64_t)tg_kstack_top - sizeof(struct tg_tf));
  for (uint64_t *p = (uint64_t *)tf; p < (uint64_t *)tg_kstack_top; p++) *p = 0;
  tf->rip = 0x400000;
  tf->cs = VTB_PV_CS_USER;
  tf->rflags = 0x202;
  tf->rsp = 0x402000;
  tf->ss = VTB_PV_SS_USER;
  tg_enter(tf);
}

/* A program of up to two pages at 0x400000 (frames 0x500000, 0x501000),
 * its stack at 0x402000 (frame 0x502000); entry at `entry`. */
static void scenario_inspect(uint64_t ram, const char *start, const char *end, const char *entry) {
  set_traps();
  build_space(ram);
  check(mmu1(UPT + 8, 0x501000 | P | W | U) == 0, "second code page");
  check(mmu1(UPT + 16, 0x502000 | P | W | U) == 0, "user stack page");
  char *dst = (char *)(KV + 0x500000);
  for (const char *s = start; s < end; s++) *dst++ = *s;
  want_fetch_pf = 1;
  check(hc(VTB_HC_STACK_SWITCH, (uint64_t)tg_kstack_top, 0, 0, 0) == 0, "stack_switch");
  struct tg_tf *tf = (struct tg_tf *)((uint64_t)tg_kstack_top - sizeof(struct tg_tf));
  for (uint64_t *p = (uint64_t *)tf; p < (uint64_t *)tg_kstack_top; p++) *p = 0;
  tf->rip = 0x400000 + (uint64_t)(entry - start);
  tf->cs = VTB_PV_CS_USER;
  tf->rflags = 0x202;
  tf->rsp = 0x403000;
  tf->ss = VTB_PV_SS_USER;
  tg_enter(tf);
}

/* vm_assist(direct user access), then the kernel's own (kernel-only) page
 * of the user half is read twice, through two frames; then the kernel
 * breaks its promise and reads a user page at its user address (pv@2as: an
 * engine error; other modes keep the user half mapped: it reads). */
static void scenario_assist(uint64_t ram) {
  build_space(ram);
  check(hc(VTB_HC_VM_ASSIST, 99, 0, 0, 0) == -VTB_EINVAL, "unknown assist refused");
  check(hc(VTB_HC_VM_ASSIST, VTB_VMASST_DIRECT_USER_ACCESS, 0, 0, 0) == 0, "direct user access accepted");
  *(volatile uint64_t *)(KV + 0x501000) = 0x1111;
  *(volatile uint64_t *)(KV + 0x502000) = 0x2222;
  check(mmu1(UPT + 8, 0x501000 | P | W) == 0, "kernel-only page in the user half");
  check(*(volatile uint64_t *)0x401000 == 0x1111, "kernel-only page read");
  check(mmu1(UPT + 8, 0x502000 | P | W) == 0, "kernel-only page remapped");
  check(*(volatile uint64_t *)0x401000 == 0x2222, "remapped kernel-only page read");
  *(volatile uint64_t *)(KV + 0x500000) = 0x3333;
  check(*(volatile uint64_t *)0x400000 == 0x3333, "user page read at its user address");
  finish(0);
}

static void ctrl(const char *s) {
  for (; *s; s++) hc(VTB_HC_IO, VTB_PORT_CTRL, 1, 1, (uint8_t)*s);
}

/* "bench_null N" | "bench_mmu B N": phase 1 brackets N operations. */
static void scenario_bench(const char *c, uint64_t ram) {
  uint64_t a = 0, b = 0;
  while (*c && *c != ' ') c++;
  while (*c == ' ') c++;
  while (*c >= '0' && *c <= '9') a = a * 10 + (uint64_t)(*c++ - '0');
  while (*c == ' ') c++;
  while (*c >= '0' && *c <= '9') b = b * 10 + (uint64_t)(*c++ - '0');
  if (b == 0) { /* null hypercalls */
    ctrl("B 1\n");
    for (uint64_t i = 0; i < a; i++) hc(VTB_HC_NULL, 0, 0, 0, 0);
    ctrl("E 1\n");
    finish(0);
  }
  /* mmu_update: a batches of b PTEs, each entry flipping between two frames */
  build_space(ram);
  static struct vtb_mmu_update u[64];
  if (a > 64) finish(3);
  ctrl("B 1\n");
  for (uint64_t i = 0; i < b; i++) {
    for (uint64_t k = 0; k < a; k++)
      u[k] = (struct vtb_mmu_update){UPT + 8 * (16 + k), (0x600000 + 0x1000 * k + ((i & 1) ? 0x100000 : 0)) | P | W | U};
    if (hc(VTB_HC_MMU_UPDATE, (uint64_t)u, a, 0, 0) != 0) finish(4);
  }
  ctrl("E 1\n");
  finish(0);
}

void tg_main(uint64_t boot_pa) {
  const struct vtb_boot_info *bi = (const struct vtb_boot_info *)(KV + boot_pa);
  shared = (volatile struct vtb_shared_info *)(KV + bi->shared_gpa);
  tg_iret_stub = bi->hypercall_va + VTB_HYPERCALL_STUB_SIZE * VTB_HC_IRET;
  const char *c = bi->cmdline;
  if (streq(c, "hello")) {
    puts_("hello from a pv guest\n");
    int ok = 1;
    for (int i = 0; i < 100; i++) ok &= hc(VTB_HC_NULL, 0, 0, 0, 0) == 0;
    check(ok, "null hypercall");
    long t1 = hc(VTB_HC_RDTSC, 0, 0, 0, 0), t2 = hc(VTB_HC_RDTSC, 0, 0, 0, 0);
    check(t2 > t1, "rdtsc");
    uint32_t id[4] = {0, 0, 0, 0};
    check(hc(VTB_HC_CPUID, 0, 0, (uint64_t)id, 0) == 0 && id[1] != 0, "cpuid");
    static struct vtb_multicall m[3] = {{VTB_HC_NULL, {0}, 7}, {VTB_HC_RDTSC, {0}, 0}, {VTB_HC_IO, {0}, 0}};
    check(hc(VTB_HC_MULTICALL, (uint64_t)m, 3, 0, 0) == 0 && m[0].result == 0 && m[1].result != 0 &&
              (long)m[2].result == -VTB_EINVAL,
          "multicall");
    check(hc(VTB_HC_IO, VTB_PORT_UART + 5, 1, 0, 0) & 0x20, "port read through the Vm");
    finish(0);
  }
  if (streq(c, "mmu")) scenario_mmu(bi->mem_bytes + 4096);
  if (streq(c, "trap")) scenario_trap();
  if (streq(c, "stale")) scenario_stale(bi->mem_bytes + 4096);
  if (streq(c, "timer")) scenario_timer();
  if (streq(c, "user")) scenario_user(bi->mem_bytes + 4096);
  if (streq(c, "assist")) scenario_assist(bi->mem_bytes + 4096);
  if (streq(c, "wrpkru")) scenario_inspect(bi->mem_bytes + 4096, user_wrpkru_start, user_wrpkru_end, user_wrpkru_start);
  if (streq(c, "wrpkru_imm"))
    scenario_inspect(bi->mem_bytes + 4096, user_wrpkru_imm_start, user_wrpkru_imm_end, user_wrpkru_imm_start);
  if (streq(c, "straddle_a"))
    scenario_inspect(bi->mem_bytes + 4096, user_straddle_start, user_straddle_end, user_straddle_start);
  if (streq(c, "straddle_b"))
    scenario_inspect(bi->mem_bytes + 4096, user_straddle_start, user_straddle_end, user_straddle_b);
  if (streq(c, "kpatch"))
    scenario_inspect(bi->mem_bytes + 4096, user_kpatch_start, user_kpatch_end, user_kpatch_start);
  if (streq(c, "smc")) scenario_inspect(bi->mem_bytes + 4096, user_smc_start, user_smc_end, user_smc_start);
  if (c[0] == 'b' && c[1] == 'e' && c[2] == 'n' && c[3] == 'c' && c[4] == 'h') scenario_bench(c, bi->mem_bytes + 4096);
  if (streq(c, "badstack")) { /* jump (not call) to a stub with an unusable stack */
    uint64_t stub = bi->hypercall_va + VTB_HYPERCALL_STUB_SIZE * VTB_HC_NULL;
    __asm__ volatile("mov $0x1000, %%rsp\n\tjmp *%0" ::"r"(stub));
  }
  if (streq(c, "badiret")) { /* iret with rsp beyond RAM */
    __asm__ volatile("mov $0x20000000, %%rsp\n\tjmp *%0" ::"r"(tg_iret_stub));
  }
  if (streq(c, "spin")) {
    shared->vif = 0;
    for (;;) __asm__ volatile("" ::: "memory");
  }
  puts_("unknown scenario\n");
  finish(2);
}
