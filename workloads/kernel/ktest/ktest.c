/* tags: kernel|ktest — desc: kernel-mode micro loops (in, out, cr3, cr8, invlpg, cpuid, rdtsc, cli/sti, pushf/popf, hlt, divzero, ptemod, hypercall) and the trap guard. */
#include "kern.h"
#include "ktest/ktest.h"

volatile uint64_t ktest_resume_rip __attribute__((used)), ktest_resume_rsp __attribute__((used));
volatile int64_t ktest_vector __attribute__((used)) = -1;
volatile uint64_t ktest_trap_cs __attribute__((used));

#define PTEMOD_VA (VTB_CENSUS_TRAMP_VA + PAGE) /* kernel-only scratch page below VTB_USER_BASE */

int ktest_trap(struct trapframe *tf) {
  if (!ktest_resume_rip) return 0;
  ktest_vector = (int64_t)tf->vector;
  ktest_trap_cs = tf->cs;
  tf->rip = ktest_resume_rip;
  tf->rsp = ktest_resume_rsp;
  ktest_resume_rip = 0;
  return 1;
}

/* n divisions by zero, each recovered by the guard: returns the #DE count. */
static long kt_divzero(uint64_t n) {
  uint64_t des = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t zero = 0, hi = 0, lo = i;
    __asm__ volatile(KT_ARM "divq %[z]" KT_DISARM : "+a"(lo), "+d"(hi) : [z] "r"(zero) : "r11", "cc", "memory");
    if (ktest_vector == 0) des++;
  }
  return (long)des;
}

/* n validated writes of one PTE of a kernel-only scratch page (W toggled). */
static long kt_ptemod(uint64_t n) {
  uint64_t pml4 = cur->pml4;
  uint64_t pa = frame_alloc(1);
  if (!pa) return -VTB_ENOMEM;
  if (vm_map(pml4, PTEMOD_VA, pa, PTE_W) < 0) {
    frame_unref(pa);
    return -VTB_ENOMEM;
  }
  plat_pte_flush();
  uint64_t *pte = vm_pte(pml4, PTEMOD_VA, 0);
  for (uint64_t i = 0; i < n; i++) {
    plat_pte_write(pte, pa | PTE_P | ((i & 1) ? 0 : PTE_W));
    plat_pte_flush();
  }
  plat_invlpg(PTEMOD_VA);
  vm_unmap_range(pml4, PTEMOD_VA, PTEMOD_VA + PAGE);
  return (long)n;
}

static long kt_hypercall(uint64_t n) {
  if (plat_flavor() != VTB_FLAVOR_PV) return -VTB_ENOSYS;
  uint64_t stub = VTB_HYPERCALL_VA + VTB_HYPERCALL_STUB_SIZE * (uint64_t)VTB_HC_NULL;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t rax = VTB_HC_NULL;
    __asm__ volatile("call *%1" : "+a"(rax) : "r"(stub) : "cc", "memory");
  }
  return (long)n;
}

static long kt_census(uint64_t uptr) {
  static struct vtb_census_report rep;
  if (!user_range_ok(uptr, sizeof rep, 1)) return -VTB_EFAULT;
  memset(&rep, 0, sizeof rep);
  census_kernel_run(&rep);
  return copy_to_user(uptr, &rep, sizeof rep);
}

long ktest_run(const char *name, uint64_t n) {
  uint32_t regs[4];
  if (!strcmp(name, "null")) {
    for (volatile uint64_t i = 0; i < n; i++) {}
  } else if (!strcmp(name, "pio") || !strcmp(name, "out")) {
    for (uint64_t i = 0; i < n; i++) plat_outb(VTB_PORT_NULL, 0);
  } else if (!strcmp(name, "in")) {
    for (uint64_t i = 0; i < n; i++) (void)plat_inb(VTB_PORT_NULL);
  } else if (!strcmp(name, "irq")) {
    for (uint64_t i = 0; i < n; i++) plat_irq_restore(plat_irq_save());
  } else if (!strcmp(name, "clisti")) {
    for (uint64_t i = 0; i < n; i++) {
      plat_irq_enable();
      plat_irq_disable();
    }
  } else if (!strcmp(name, "pushfpopf")) {
    /* native: the raw sensitive pair; pv: its paravirtual replacement */
    if (plat_flavor() == VTB_FLAVOR_NATIVE)
      for (uint64_t i = 0; i < n; i++) __asm__ volatile("pushfq; popfq" ::: "cc", "memory");
    else
      for (uint64_t i = 0; i < n; i++) plat_irq_restore(plat_irq_save());
  } else if (!strcmp(name, "cr3")) {
    /* a CR3 reload (pv: new_baseptr; its plat_flush_tlb only flushes the queue) */
    for (uint64_t i = 0; i < n; i++) plat_new_baseptr(plat_read_baseptr());
  } else if (!strcmp(name, "flushtlb")) {
    for (uint64_t i = 0; i < n; i++) plat_flush_tlb();
  } else if (!strcmp(name, "cr8wr")) {
    if (plat_flavor() != VTB_FLAVOR_NATIVE) return -VTB_ENOSYS; /* pv has no TPR */
    for (uint64_t i = 0; i < n; i++) __asm__ volatile("mov %0, %%cr8" ::"r"((uint64_t)0) : "memory");
  } else if (!strcmp(name, "invlpg")) {
    for (uint64_t i = 0; i < n; i++) plat_invlpg(VTB_USER_BASE);
  } else if (!strcmp(name, "cpuid")) {
    for (uint64_t i = 0; i < n; i++) plat_cpuid(0, 0, regs);
  } else if (!strcmp(name, "rdtsc")) {
    for (uint64_t i = 0; i < n; i++) (void)plat_rdtsc();
  } else if (!strcmp(name, "hlt")) {
    for (uint64_t i = 0; i < n; i++) plat_idle(); /* each returns after one interrupt (the tick) */
  } else if (!strcmp(name, "divzero")) {
    return kt_divzero(n);
  } else if (!strcmp(name, "ptemod")) {
    return kt_ptemod(n);
  } else if (!strcmp(name, "hypercall")) {
    return kt_hypercall(n);
  } else if (!strcmp(name, "census")) {
    return kt_census(n);
  } else {
    return -VTB_EINVAL;
  }
  return (long)n;
}
