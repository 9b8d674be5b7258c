/* tags: kernel|plat — desc: pv plat_* layer: hypercalls instead of privileged instructions, virtual IF, batched validated PTE writes. */
#include "kern.h"

/* Set from the boot info in plat_cpu_init; entry_pv.S jumps through pv_iret_stub. */
uint64_t pv_iret_stub;
static uint64_t hcva;
static volatile struct vtb_shared_info *shared;
static uint64_t cur_base;
static int user_direct; /* the engine accepted vm_assist(DIRECT_USER_ACCESS) */
static uint8_t pt_level[MAX_RAM / PAGE]; /* pinned tables: their level */

extern char pv_trap_stubs_start[], pv_syscall_entry[];

static inline long hc(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t fn = hcva + VTB_HYPERCALL_STUB_SIZE * nr;
  long r;
  /* the engine preserves every register but rax */
  __asm__ volatile("call *%[fn]" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), [fn] "r"(fn) : "memory", "cc");
  return r;
}

void plat_cpu_init(uint64_t boot_pa) {
  const struct vtb_boot_info *bi = P2V(boot_pa);
  if (bi->magic != VTB_BOOT_MAGIC || bi->flavor != VTB_FLAVOR_PV || !bi->hypercall_va || !bi->shared_gpa)
    __builtin_trap(); /* not a pv boot: no console to say so; the engine reports the #UD */
  hcva = bi->hypercall_va;
  pv_iret_stub = hcva + VTB_HYPERCALL_STUB_SIZE * VTB_HC_IRET;
  shared = P2V(bi->shared_gpa);
  shared->vif = 0;
  static struct vtb_trap_info table[256];
  for (int v = 0; v < 256; v++)
    table[v] = (struct vtb_trap_info){(uint8_t)v, 0, 0, 0, (uint64_t)pv_trap_stubs_start + 16 * (uint64_t)v};
  table[VTB_PV_VECTOR_SYSCALL].handler = (uint64_t)pv_syscall_entry;
  if (hc(VTB_HC_SET_TRAP_TABLE, (uint64_t)table, 256, 0, 0) != 0) __builtin_trap();
  cur_base = VTB_LOADER_PT_GPA;
  /* From here on user memory only through the direct map (uaccess.c). */
  user_direct = hc(VTB_HC_VM_ASSIST, VTB_VMASST_DIRECT_USER_ACCESS, 0, 0, 0) == 0;
}

int plat_user_direct(void) { return user_direct; }

void plat_set_kernel_stack(uint64_t rsp0) { hc(VTB_HC_STACK_SWITCH, rsp0, 0, 0, 0); }

void plat_user_frame(struct trapframe *tf, uint64_t rip, uint64_t rsp) {
  tf->rip = rip;
  tf->rsp = rsp;
  tf->cs = VTB_PV_CS_USER;
  tf->ss = VTB_PV_SS_USER;
  tf->rflags = 0x202;
}

int plat_trap_from_user(const struct trapframe *tf) { return (tf->cs & 3) != 0; }

uint64_t plat_syscall_entry(void) { return 0; }

uint64_t plat_fault_addr(void) { return shared->cr2; }

/* ---- page tables: validated by the engine, queued in batches ----
 * Leaf entries (level-1 tables) are queued and go to the engine as one
 * mmu_update at plat_pte_flush or when the queue fills: fork's COW marking
 * and the child's entries, exec's image, unmapping (Xen's batching; the plat
 * contract lets the kernel read an entry back only after a flush). A write
 * into a higher-level table (a link) is sent at once: vm_pte follows the
 * link right after writing it. */
#define PV_QUEUE 128
static struct vtb_mmu_update queue[PV_QUEUE];
static unsigned queued;

void plat_pte_flush(void) {
  if (!queued) return;
  uint64_t done = 0;
  long r = hc(VTB_HC_MMU_UPDATE, (uint64_t)queue, queued, (uint64_t)&done, 0);
  if (r != 0)
    panic("mmu_update refused entry %lu of %u (pa 0x%lx val 0x%lx): error %ld", done, queued, queue[done].ptr,
          queue[done].val, r);
  queued = 0;
}

void plat_pte_write(uint64_t *pte, uint64_t val) {
  uint64_t pa = V2P(pte);
  queue[queued++] = (struct vtb_mmu_update){pa, val};
  if (queued == PV_QUEUE || pt_level[pa / PAGE] != 1) plat_pte_flush();
}

void plat_pt_pin(uint64_t pa, int level) {
  pt_level[pa / PAGE] = (uint8_t)level;
  if (level == 4) {
    plat_pte_flush();
    long r = hc(VTB_HC_PIN_TABLE, pa, 4, 0, 0);
    if (r != 0) panic("pin of PML4 0x%lx refused: %ld", pa, r);
  }
}

void plat_pt_unpin(uint64_t pa, int level) {
  plat_pte_flush();
  long r = hc(VTB_HC_UNPIN_TABLE, pa, (uint64_t)level, VTB_UNPIN_ZERO, 0); /* comes back zeroed */
  if (r != 0) panic("unpin of level-%d table 0x%lx refused: %ld", level, pa, r);
  pt_level[pa / PAGE] = 0;
}

void plat_new_baseptr(uint64_t pml4_pa) {
  plat_pte_flush();
  long r = hc(VTB_HC_NEW_BASEPTR, pml4_pa, 0, 0, 0);
  if (r != 0) panic("new_baseptr 0x%lx refused: %ld", pml4_pa, r);
  cur_base = pml4_pa;
}

uint64_t plat_read_baseptr(void) { return cur_base; }

void plat_invlpg(uint64_t va) {
  plat_pte_flush();
  hc(VTB_HC_INVLPG, va, 0, 0, 0);
}

void plat_page_clear(uint64_t pa) {
  long r = hc(VTB_HC_CLEAR_PAGE, pa, 0, 0, 0);
  if (r != 0) panic("clear_page 0x%lx refused: %ld", pa, r);
}

void plat_page_copy(uint64_t dst_pa, uint64_t src_pa) {
  long r = hc(VTB_HC_COPY_PAGE, dst_pa, src_pa, 0, 0);
  if (r != 0) panic("copy_page 0x%lx <- 0x%lx refused: %ld", dst_pa, src_pa, r);
}

/* The engine keeps its mirror in step with every validated update: flushing
 * the queue is all a TLB flush needs. */
void plat_flush_tlb(void) { plat_pte_flush(); }

/* ---- virtual interrupt flag: a byte in the shared page, no hypercall ---- */
void plat_irq_disable(void) {
  shared->vif = 0;
  __asm__ volatile("" ::: "memory");
}

void plat_irq_enable(void) {
  shared->vif = 1;
  __asm__ volatile("" ::: "memory");
  if (shared->pending) hc(VTB_HC_NULL, 0, 0, 0, 0); /* the engine delivers on the way out */
}

uint64_t plat_irq_save(void) {
  uint64_t f = shared->vif ? 0x200 : 0;
  shared->vif = 0;
  __asm__ volatile("" ::: "memory");
  return f;
}

void plat_irq_restore(uint64_t f) {
  if (f & 0x200) plat_irq_enable();
}

/* sched_op(block) enables events and returns after one was handled. */
void plat_idle(void) {
  hc(VTB_HC_SCHED_OP, VTB_SCHED_BLOCK, 0, 0, 0);
  plat_irq_disable();
}

void plat_halt_forever(void) {
  plat_irq_disable();
  for (;;) hc(VTB_HC_SCHED_OP, VTB_SCHED_SHUTDOWN, 0, 0, 0);
}

void plat_timer_start(unsigned hz) { hc(VTB_HC_SET_TIMER, 1000000000ULL / hz, 0, 0, 0); }
void plat_timer_ack(void) {}

uint8_t plat_inb(uint16_t port) { return (uint8_t)hc(VTB_HC_IO, port, 1, 0, 0); }
void plat_outb(uint16_t port, uint8_t v) { hc(VTB_HC_IO, port, 1, 1, v); }
uint32_t plat_inl(uint16_t port) { return (uint32_t)hc(VTB_HC_IO, port, 4, 0, 0); }
void plat_outl(uint16_t port, uint32_t v) { hc(VTB_HC_IO, port, 4, 1, v); }

/* A pv guest owns no MSRs: reads are 0, writes are dropped. */
uint64_t plat_rdmsr(uint32_t msr) { return 0; }
void plat_wrmsr(uint32_t msr, uint64_t v) {}

void plat_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  hc(VTB_HC_CPUID, leaf, subleaf, (uint64_t)out, 0);
}
uint64_t plat_rdtsc(void) { return (uint64_t)hc(VTB_HC_RDTSC, 0, 0, 0, 0); }
int plat_flavor(void) { return VTB_FLAVOR_PV; }
