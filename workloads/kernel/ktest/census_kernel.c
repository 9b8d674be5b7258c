/* tags: kernel|census — desc: the kernel-mode half of the sensitive-instruction census: each raw instruction, checked against the kernel's own state. */
#include "kern.h"
#include "ktest/ktest.h"

/* The native plat defines these (its GDT/IDT); the pv flavor has no
 * descriptor tables of its own and keeps these weak defaults (0). */
__attribute__((weak)) uint64_t *tbk_census_gdt;
__attribute__((weak)) uint16_t tbk_census_gdt_limit;
__attribute__((weak)) const void *tbk_census_idt;
__attribute__((weak)) uint16_t tbk_census_idt_limit;

extern char census_tramp_start[], census_tramp_end[], census_tramp_fc[], census_tramp_fj[], census_tramp_back[];
extern char census_tramp_call_target[], census_tramp_jmp_target[], census_tramp_jmp_back[], census_tramp_jmp[];

#define KCS 0x08 /* the kernel's code selector (both flavors: VTB_PV_CS_KERNEL) */
#define IF_FLAG 0x200ULL

static struct vtb_census_report *rep;
static uint64_t census_ldt[1] __attribute__((aligned(16))) = {0x0040f2000000abcdULL};

struct __attribute__((packed)) dtr { uint16_t limit; uint64_t base; };

/* Record the outcome of one check: a trap during it wins over the values. */
static void put(int insn, int ok, uint64_t seen) {
  struct vtb_census_result *r = &rep->r[insn];
  if (ktest_vector >= 0) {
    r->status = VTB_CS_TRAP;
    r->vector = (uint32_t)ktest_vector;
  } else {
    r->status = ok ? VTB_CS_OK : VTB_CS_WRONG;
    r->seen = seen;
  }
}

static void check_tables(void) {
  struct dtr d = {0, 0};
  __asm__ volatile(KT_ARM "sgdt %0" KT_DISARM : "=m"(d)::"r11", "memory");
  put(VTB_CI_SGDT, rep->gdt_base && d.base == rep->gdt_base && d.limit == rep->gdt_limit, d.base);
  d.base = 0, d.limit = 0;
  __asm__ volatile(KT_ARM "sidt %0" KT_DISARM : "=m"(d)::"r11", "memory");
  put(VTB_CI_SIDT, rep->idt_base && d.base == rep->idt_base && d.limit == rep->idt_limit, d.base);
  uint64_t v = 0xdead;
  __asm__ volatile(KT_ARM "sldt %0" KT_DISARM : "+r"(v)::"r11", "memory");
  put(VTB_CI_SLDT, rep->ldt_sel && (v & 0xffff) == rep->ldt_sel, v & 0xffff);
  v = 0xdead;
  __asm__ volatile(KT_ARM "str %0" KT_DISARM : "+r"(v)::"r11", "memory");
  put(VTB_CI_STR, rep->tr_sel && (v & 0xffff) == rep->tr_sel, v & 0xffff);
}

static void check_smsw(void) {
  uint64_t v = 0xdead;
  if (plat_flavor() == VTB_FLAVOR_NATIVE && rep->cr0 != ~0ULL) {
    /* Set CR0.TS for the duration: a host value cannot match by accident. */
    uint64_t want = (rep->cr0 | 8) & 0xffff;
    __asm__ volatile(KT_ARM "mov %1, %%cr0\n\tsmsw %0\n\tclts" KT_DISARM
                     : "+r"(v)
                     : "r"(rep->cr0 | 8)
                     : "r11", "memory");
    put(VTB_CI_SMSW, (v & 0xffff) == want, v & 0xffff);
  } else {
    __asm__ volatile(KT_ARM "smsw %0" KT_DISARM : "+r"(v)::"r11", "memory");
    put(VTB_CI_SMSW, 0, v & 0xffff); /* the pv kernel has no CR0 of its own */
  }
}

static uint64_t raw_flags(void) {
  uint64_t f;
  __asm__ volatile("pushfq; popq %0" : "=r"(f)::"memory");
  return f;
}

/* Spin until `ticks` moves or `limit` iterations pass; returns iterations. */
static uint64_t spin_for_tick(uint64_t limit) {
  uint64_t t0 = ticks, i = 0;
  while (ticks == t0 && i < limit) {
    __asm__ volatile("" ::: "memory");
    i++;
  }
  return i;
}

static void check_flags(void) {
  /* PUSHF: the kernel's own IF, on and off. */
  ktest_vector = -1;
  plat_irq_enable();
  uint64_t on = raw_flags();
  plat_irq_disable();
  uint64_t off = raw_flags();
  put(VTB_CI_PUSHF, (on & IF_FLAG) && !(off & IF_FLAG), (off & IF_FLAG) ? off : on);

  /* POPF clearing IF must stop the timer: calibrate the loop on one tick
   * period, then wait 5 periods with IF cleared by a raw popf. */
  const uint64_t bound = 4000000000ULL;
  struct vtb_census_result *r = &rep->r[VTB_CI_POPF];
  plat_irq_enable();
  uint64_t w = spin_for_tick(bound); /* align to a tick edge */
  /* The longest of three tick periods: under host load two ticks can come
   * back to back (a late host timer delivers the missed one at once), and a
   * period measured on such a pair made the 20-period wait for the resumed
   * timer below too short ("ticks-stopped" on bt, 2 of 15 runs at load 6). */
  uint64_t period = 0;
  for (int k = 0; k < 3 && w < bound; k++) {
    uint64_t p = spin_for_tick(bound);
    if (p >= bound) w = bound;
    if (p > period) period = p;
  }
  if (w >= bound || period >= bound || period == 0) {
    plat_irq_disable();
    r->status = VTB_CS_WRONG, r->vector = 4, r->seen = ticks; /* no timer ticks at all */
    return;
  }
  uint64_t f = 0, t0 = 0, t1 = 0;
  __asm__ volatile(KT_ARM "pushfq\n\tandq $~0x200, (%%rsp)\n\tpopfq\n\tpushfq\n\tpopq %0" KT_DISARM
                   : "=r"(f)::"r11", "cc", "memory");
  if (ktest_vector < 0) {
    t0 = ticks;
    for (volatile uint64_t i = 0; i < 5 * period; i++) {}
    t1 = ticks;
  }
  int64_t vec = ktest_vector;
  __asm__ volatile("pushfq\n\torq $0x200, (%%rsp)\n\tpopfq" ::: "cc", "memory"); /* raw restore */
  uint64_t resumed = spin_for_tick(20 * period) < 20 * period;
  plat_irq_disable();
  if (vec >= 0) {
    r->status = VTB_CS_TRAP, r->vector = (uint32_t)vec;
  } else if (f & IF_FLAG) {
    r->status = VTB_CS_WRONG, r->vector = 1, r->seen = f; /* IF still set after popf */
  } else if (t1 != t0) {
    r->status = VTB_CS_WRONG, r->vector = 2, r->seen = t1 - t0; /* ticks arrived with IF clear */
  } else if (!resumed) {
    r->status = VTB_CS_WRONG, r->vector = 3, r->seen = 0; /* popf setting IF did not resume them */
  } else {
    r->status = VTB_CS_OK;
  }
}

static void check_descriptors(void) {
  uint64_t sel = VTB_CENSUS_SEL_DATA, v = 0;
  uint8_t zf = 0, zf2 = 1;
  __asm__ volatile(KT_ARM "xorl %k0, %k0\n\tlar %k2, %k0\n\tsetz %1" KT_DISARM
                   : "=&r"(v), "=&q"(zf) : "r"(sel) : "r11", "cc", "memory");
  put(VTB_CI_LAR, zf && (v & 0x00f0ff00) == VTB_CENSUS_DATA_AR, zf ? v : ~0ULL);
  __asm__ volatile(KT_ARM "xorl %k0, %k0\n\tlsl %k2, %k0\n\tsetz %1" KT_DISARM
                   : "=&r"(v), "=&q"(zf) : "r"(sel) : "r11", "cc", "memory");
  put(VTB_CI_LSL, zf && v == VTB_CENSUS_DATA_LIMIT, zf ? v : ~0ULL);
  /* VERR: the data segment is readable, the LDT (a system segment) is not. */
  __asm__ volatile(KT_ARM "verr %w2\n\tsetz %0\n\tverr %w3\n\tsetz %1" KT_DISARM
                   : "=&q"(zf), "=&q"(zf2) : "r"(sel), "r"((uint64_t)VTB_CENSUS_SEL_LDT) : "r11", "cc", "memory");
  put(VTB_CI_VERR, zf && !zf2, (uint64_t)zf | (uint64_t)zf2 << 1);
  /* VERW: the data segment is writable, the kernel code segment is not. */
  __asm__ volatile(KT_ARM "verw %w2\n\tsetz %0\n\tverw %w3\n\tsetz %1" KT_DISARM
                   : "=&q"(zf), "=&q"(zf2) : "r"(sel), "r"((uint64_t)KCS) : "r11", "cc", "memory");
  put(VTB_CI_VERW, zf && !zf2, (uint64_t)zf | (uint64_t)zf2 << 1);
}

static void check_segments(void) {
  uint64_t sel = VTB_CENSUS_SEL_DATA, v = 0xdead, cs = 0, ds = 0;
  /* POP segment: pop the distinctive selector into %fs, read it back. */
  __asm__ volatile(KT_ARM "pushq %1\n\tpopq %%fs\n\tmovw %%fs, %w0\n\txorl %%r11d, %%r11d\n\tmovw %%r11w, %%fs" KT_DISARM
                   : "+r"(v) : "r"(sel) : "r11", "memory");
  put(VTB_CI_POP_SEG, (v & 0xffff) == sel, v & 0xffff);
  v = 0xdead;
  /* PUSH segment: load it, push %fs, pop the pushed value. */
  __asm__ volatile(KT_ARM "movw %w1, %%fs\n\tpushq %%fs\n\tpopq %0\n\txorl %%r11d, %%r11d\n\tmovw %%r11w, %%fs" KT_DISARM
                   : "+r"(v) : "r"(sel) : "r11", "memory");
  put(VTB_CI_PUSH_SEG, (v & 0xffff) == sel, v & 0xffff);
  /* MOV segment: %cs shows the kernel's selector with RPL 0; a data
   * selector written to %ds reads back. */
  __asm__ volatile(KT_ARM "movw %%cs, %w0\n\tmovw %%ds, %%r10w\n\tmovw %w2, %%ds\n\tmovw %%ds, %w1\n\tmovw %%r10w, %%ds" KT_DISARM
                   : "=&r"(cs), "=&r"(ds) : "r"(sel) : "r10", "r11", "memory");
  cs &= 0xffff, ds &= 0xffff;
  put(VTB_CI_MOV_SEG, cs == KCS && ds == sel, cs == KCS ? ds : cs);
  /* RET far: lretq into the second kernel code segment and back. */
  v = 0xdead;
  __asm__ volatile(KT_ARM
                   "movw %%cs, %%r10w\n\tmovzwq %%r10w, %%r10\n\t"
                   "pushq %1\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n"
                   "1:\n\tmovw %%cs, %w0\n\t"
                   "pushq %%r10\n\tleaq 2f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n"
                   "2:" KT_DISARM
                   : "+r"(v) : "i"(VTB_CENSUS_SEL_KCODE2) : "rax", "r10", "r11", "memory");
  put(VTB_CI_RET_FAR, (v & 0xffff) == VTB_CENSUS_SEL_KCODE2, v & 0xffff);
  /* INT n: must be delivered through the kernel's own IDT gate. */
  __asm__ volatile(KT_ARM "int %0" KT_DISARM ::"i"(VTB_CENSUS_INT_VECTOR) : "r11", "memory");
  struct vtb_census_result *r = &rep->r[VTB_CI_INT_N];
  if (ktest_vector == VTB_CENSUS_INT_VECTOR && (ktest_trap_cs & 0xffff) == KCS) {
    r->status = VTB_CS_OK;
  } else if (ktest_vector == VTB_CENSUS_INT_VECTOR) {
    r->status = VTB_CS_WRONG, r->vector = 5, r->seen = ktest_trap_cs; /* frame cs */
  } else if (ktest_vector >= 0) {
    r->status = VTB_CS_TRAP, r->vector = (uint32_t)ktest_vector;
  } else {
    r->status = VTB_CS_WRONG, r->vector = 6, r->seen = 0; /* never delivered */
  }
}

/* CALL/JMP far need a 32-bit far pointer (the only form both vendors
 * agree on in 64-bit mode), so they run from a kernel-only page below 4 GiB. */
static void check_far(void) {
  uint64_t pml4 = cur->pml4, va = VTB_CENSUS_TRAMP_VA;
  uint64_t pa = frame_alloc(1);
  if (!pa || vm_map(pml4, va, pa, 0) < 0) {
    rep->r[VTB_CI_CALL_FAR].status = rep->r[VTB_CI_JMP_FAR].status = VTB_CS_NOTRUN;
    if (pa) frame_unref(pa);
    return;
  }
  plat_pte_flush();
  plat_invlpg(va);
  char *page = P2V(pa);
  uint64_t len = (uint64_t)(census_tramp_end - census_tramp_start);
  memcpy(page, census_tramp_start, len);
#define OFF(sym) ((uint64_t)((sym) - census_tramp_start))
  struct __attribute__((packed)) fptr { uint32_t off; uint16_t sel; };
  uint64_t cs;
  __asm__ volatile("movw %%cs, %w0" : "=r"(cs));
  *(struct fptr *)(page + OFF(census_tramp_fc)) = (struct fptr){(uint32_t)(va + OFF(census_tramp_call_target)), VTB_CENSUS_SEL_KCODE2};
  *(struct fptr *)(page + OFF(census_tramp_fj)) = (struct fptr){(uint32_t)(va + OFF(census_tramp_jmp_target)), VTB_CENSUS_SEL_KCODE2};
  *(struct fptr *)(page + OFF(census_tramp_back)) = (struct fptr){(uint32_t)(va + OFF(census_tramp_jmp_back)), (uint16_t)cs};
  uint64_t ax = 0xdead, cx = 0xdead, dx = 0xdead, entry = va;
  __asm__ volatile(KT_ARM "call *%2" KT_DISARM : "+a"(ax), "+c"(cx) : "r"(entry) : "rdx", "r11", "memory");
  ax &= 0xffff, cx &= 0xffff;
  put(VTB_CI_CALL_FAR, ax == VTB_CENSUS_SEL_KCODE2 && cx == (cs & 0xffff), ax == VTB_CENSUS_SEL_KCODE2 ? cx : ax);
  entry = va + OFF(census_tramp_jmp);
  __asm__ volatile(KT_ARM "call *%1" KT_DISARM : "+d"(dx) : "r"(entry) : "rax", "rcx", "r11", "memory");
  dx &= 0xffff;
  put(VTB_CI_JMP_FAR, dx == VTB_CENSUS_SEL_KCODE2, dx);
  vm_unmap_range(pml4, va, va + PAGE);
}

void census_kernel_run(struct vtb_census_report *out) {
  rep = out;
  rep->flavor = (uint32_t)plat_flavor();
  rep->cr0 = ~0ULL;
  if (tbk_census_gdt && tbk_census_idt) {
    rep->gdt_base = (uint64_t)tbk_census_gdt;
    rep->gdt_limit = tbk_census_gdt_limit;
    rep->idt_base = (uint64_t)tbk_census_idt;
    rep->idt_limit = tbk_census_idt_limit;
    rep->tr_sel = 0x30;
    uint64_t cr0;
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    rep->cr0 = cr0;
    /* Fill the LDT descriptor (16 bytes) and load it: SLDT must then show
     * a non-zero selector the host cannot have by accident. */
    uint64_t b = (uint64_t)census_ldt;
    tbk_census_gdt[9] = (sizeof census_ldt - 1) | ((b & 0xffffff) << 16) | (0x82ULL << 40) | (((b >> 24) & 0xff) << 56);
    tbk_census_gdt[10] = b >> 32;
    __asm__ volatile(KT_ARM "lldt %w0" KT_DISARM ::"r"((uint64_t)VTB_CENSUS_SEL_LDT) : "r11", "memory");
    if (ktest_vector < 0) rep->ldt_sel = VTB_CENSUS_SEL_LDT;
  }
  check_tables();
  check_smsw();
  check_descriptors();
  check_segments();
  check_far();
  check_flags();
}
