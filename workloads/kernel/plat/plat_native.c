/* tags: kernel|plat — desc: native plat_* layer: real privileged instructions (GDT/TSS/IDT, CRs, MSRs, port I/O, PIT/PIC). */
#include "kern.h"

#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_SFMASK 0xc0000084
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define KCODE 0x08
#define KDATA 0x10
#define USER_BASE_SEL 0x18 /* sysret: CS = +16 (0x2b), SS = +8 (0x23) */
#define UCODE (0x28 | 3)
#define UDATA (0x20 | 3)
#define TSS_SEL 0x30

struct tss {
  uint32_t rsv0;
  uint64_t rsp[3];
  uint64_t rsv1;
  uint64_t ist[7];
  uint64_t rsv2;
  uint16_t rsv3, iomap;
} __attribute__((packed));

struct idt_gate {
  uint16_t off0, sel;
  uint8_t ist, attr;
  uint16_t off1;
  uint32_t off2, zero;
};

static uint64_t gdt[VTB_CENSUS_GDT_ENTRIES] __attribute__((aligned(16))) = {
    0,
    0x00af9a000000ffffULL, /* 0x08 kernel code 64 */
    0x00cf92000000ffffULL, /* 0x10 kernel data */
    0x00cffa000000ffffULL, /* 0x18 user code 32 (unused; sysret base) */
    0x00cff2000000ffffULL, /* 0x20 user data */
    0x00affa000000ffffULL, /* 0x28 user code 64 */
    0, 0,                  /* 0x30 TSS (16 bytes) */
    /* census only (vtb_abi.h, workloads/kernel/ktest): distinctive descriptors */
    0x0041f30000002345ULL, /* 0x40 data DPL3 (accessed), limit 0x12345 */
    0, 0,                  /* 0x48 LDT (filled and loaded by the census) */
    0x00af9a000000ffffULL, /* 0x58 second kernel code 64 */
    0x00affa000000ffffULL, /* 0x60 second user code 64 */
};
static struct tss tss __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));
/* The census (ktest/census_kernel.c) compares SGDT/SIDT with these. */
uint64_t *tbk_census_gdt = gdt;
uint16_t tbk_census_gdt_limit = sizeof gdt - 1;
const void *tbk_census_idt = idt;
uint16_t tbk_census_idt_limit = sizeof idt - 1;
static struct { uint64_t kstack, scratch; } percpu; /* %gs while in the kernel */

extern char trap_stubs_start[];
extern char syscall_entry[];

struct __attribute__((packed)) dtr { uint16_t limit; uint64_t base; };

uint64_t plat_rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
void plat_wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

void plat_cpu_init(uint64_t boot_pa) {
  (void)boot_pa;
  uint64_t t = (uint64_t)&tss;
  gdt[6] = (sizeof tss - 1) | ((t & 0xffffff) << 16) | (0x89ULL << 40) | (((t >> 24) & 0xff) << 56);
  gdt[7] = t >> 32;
  tss.iomap = sizeof tss; /* no I/O bitmap: user port I/O faults */
  struct dtr g = {sizeof gdt - 1, (uint64_t)gdt};
  __asm__ volatile(
      "lgdt %0\n\t"
      "pushq $0x08\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "lretq\n"
      "1:\n\t"
      "movw $0x10, %%ax\n\t"
      "movw %%ax, %%ds\n\t"
      "movw %%ax, %%es\n\t"
      "movw %%ax, %%ss\n\t"
      "xorl %%eax, %%eax\n\t"
      "movw %%ax, %%fs\n\t"
      "movw %%ax, %%gs\n\t" ::"m"(g)
      : "rax", "memory");
  __asm__ volatile("ltr %w0" ::"r"(TSS_SEL));
  for (int v = 0; v < 256; v++) {
    uint64_t h = (uint64_t)trap_stubs_start + 16 * (uint64_t)v;
    idt[v] = (struct idt_gate){(uint16_t)h, KCODE, 0, 0x8e, (uint16_t)(h >> 16), (uint32_t)(h >> 32), 0};
  }
  struct dtr i = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" ::"m"(i));
  plat_wrmsr(MSR_GS_BASE, (uint64_t)&percpu);
  plat_wrmsr(MSR_KERNEL_GS_BASE, 0);
  plat_wrmsr(MSR_EFER, plat_rdmsr(MSR_EFER) | 1); /* SCE */
  plat_wrmsr(MSR_STAR, ((uint64_t)USER_BASE_SEL << 48) | ((uint64_t)KCODE << 32));
  plat_wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
  plat_wrmsr(MSR_SFMASK, 0x40700); /* AC DF IF TF */
  uint64_t cr0;
  __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
  __asm__ volatile("mov %0, %%cr0" ::"r"(cr0 | (1ULL << 16))); /* WP */
}

void plat_set_kernel_stack(uint64_t rsp0) {
  tss.rsp[0] = rsp0;
  percpu.kstack = rsp0;
}

void plat_user_frame(struct trapframe *tf, uint64_t rip, uint64_t rsp) {
  tf->rip = rip;
  tf->rsp = rsp;
  tf->cs = UCODE;
  tf->ss = UDATA;
  tf->rflags = 0x202; /* IF */
}

int plat_trap_from_user(const struct trapframe *tf) { return (tf->cs & 3) != 0; }

uint64_t plat_syscall_entry(void) { return (uint64_t)syscall_entry; }

uint64_t plat_fault_addr(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}

void plat_pte_write(uint64_t *pte, uint64_t val) { *(volatile uint64_t *)pte = val; }
void plat_pte_flush(void) {}
void plat_pt_pin(uint64_t pa, int level) { (void)pa, (void)level; }
void plat_pt_unpin(uint64_t pa, int level) { (void)pa, (void)level; }
void plat_new_baseptr(uint64_t pml4_pa) { __asm__ volatile("mov %0, %%cr3" ::"r"(pml4_pa) : "memory"); }
uint64_t plat_read_baseptr(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr3, %0" : "=r"(v));
  return v & PTE_ADDR;
}
void plat_invlpg(uint64_t va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
void plat_page_clear(uint64_t pa) { page_clear(P2V(pa)); }
void plat_page_copy(uint64_t dst_pa, uint64_t src_pa) { memcpy(P2V(dst_pa), P2V(src_pa), PAGE); }
void plat_flush_tlb(void) { plat_new_baseptr(plat_read_baseptr()); }

void plat_irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }
void plat_irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
uint64_t plat_irq_save(void) {
  uint64_t f;
  __asm__ volatile("pushfq; popq %0; cli" : "=r"(f)::"memory");
  return f;
}
void plat_irq_restore(uint64_t f) {
  if (f & 0x200) __asm__ volatile("sti" ::: "memory");
}
void plat_idle(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }
void plat_halt_forever(void) {
  for (;;) __asm__ volatile("cli; hlt");
}

void plat_timer_start(unsigned hz) { pic_pit_init(hz); }
void plat_timer_ack(void) { pic_eoi(); }

uint8_t plat_inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
void plat_outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
uint32_t plat_inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
void plat_outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
void plat_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  __asm__ volatile("cpuid" : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3]) : "a"(leaf), "c"(subleaf));
}
uint64_t plat_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
int plat_flavor(void) { return VTB_FLAVOR_NATIVE; }
