/* tags: kernel|trap — desc: exception and interrupt policy: timer, page faults (demand/COW), kill or panic, kvm_pvm syscall compat (#GP and #PF forms). */
#include "kern.h"
#include "ktest/ktest.h"

struct kstats kstats;

static const char *const exc_name[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
    "device not available", "double fault", "coprocessor overrun", "invalid TSS", "segment not present",
    "stack fault", "general protection fault", "page fault", "reserved", "x87 error", "alignment check",
    "machine check", "SIMD error", "virtualization", "control protection"};

/* Compatibility paths for kvm_pvm (docs/kernel.md). That backend does not
 * enter LSTAR at CPL0 for a user `syscall`; two behaviours were measured:
 *  (gp) #GP(0) at the `syscall` instruction itself: if the faulting user
 *       bytes are `0f 05`, perform that system call here with the
 *       architectural side effects (rcx = next rip, r11 = rflags);
 *  (pf) the `syscall` completes (rcx = next rip, r11 = rflags, rip = LSTAR)
 *       but the CPU stays at CPL3, so fetching the supervisor-only entry
 *       page faults with U=1 and CR2 = rip = LSTAR: if rcx points just past
 *       a user `0f 05`, perform that system call and return to rcx.
 * Each is counted apart (kstats) and reported as a result record. Neither
 * can trigger on a CPU that implements `syscall`: a user #GP(0) at `0f 05`
 * or a user instruction fetch at the kernel's entry never happens there. */
int syscall_ud_compat;
static int syscall_lstar_sim;

/* Kernel option sce=0 (tests only): clear EFER.SCE so that every user
 * `syscall` raises #UD, and take #UD at `0f 05` through the (gp) path.
 * Kernel option sce=cpl3 (tests only): the same #UD is turned into what
 * kvm_pvm does in case (pf): the syscall's register effects, then a return
 * to user mode at the entry point, whose fetch faults for real.
 * These exercise on any machine what kvm_pvm forces. */
void syscall_insn_off(int lstar_sim) {
  plat_wrmsr(0xc0000080, plat_rdmsr(0xc0000080) & ~1ULL);
  syscall_ud_compat = !lstar_sim;
  syscall_lstar_sim = lstar_sim;
}

static int user_syscall_insn_at(uint64_t rip) {
  uint8_t ip[2];
  if (rip + 2 > VTB_USER_TOP || !user_range_ok(rip, 2, 0) || copy_from_user(ip, rip, 2) < 0) return 0;
  return ip[0] == 0x0f && ip[1] == 0x05;
}

static int gp_syscall_compat(struct trapframe *tf) {
  if (tf->error != 0 || !user_syscall_insn_at(tf->rip)) return 0;
  kstats.syscall_gp_compat++;
  tf->rip += 2;
  tf->rcx = tf->rip;
  tf->r11 = tf->rflags;
  syscall_dispatch(tf);
  return 1;
}

#define PF_P 1u
#define PF_W 2u
#define PF_U 4u
#define RFLAGS_USER 0x254dd5ULL /* CF PF AF ZF SF TF DF OF AC ID: what user code may set */

static int pf_syscall_compat(struct trapframe *tf, uint64_t addr) {
  const uint64_t entry = plat_syscall_entry();
  if (!entry || addr != entry || tf->rip != entry || (tf->error & (PF_P | PF_W | PF_U)) != (PF_P | PF_U)) return 0;
  if (tf->rcx < 2 || !user_syscall_insn_at(tf->rcx - 2)) return 0;
  kstats.syscall_pf_compat++;
  plat_user_frame(tf, tf->rcx, tf->rsp);
  tf->rflags = (tf->r11 & RFLAGS_USER) | 0x202;
  syscall_dispatch(tf);
  return 1;
}

/* sce=cpl3: what kvm_pvm does with a user `syscall` (case pf above). */
static int simulate_syscall_at_cpl3(struct trapframe *tf) {
  if (!user_syscall_insn_at(tf->rip)) return 0;
  tf->rcx = tf->rip + 2;
  tf->r11 = tf->rflags;
  tf->rflags &= ~plat_rdmsr(0xc0000084); /* SFMASK, as plat_cpu_init set it */
  tf->rip = plat_syscall_entry();
  return 1;
}

void trap_dispatch(struct trapframe *tf) {
  uint64_t v = tf->vector;
  int user = plat_trap_from_user(tf);
  if (v == VTB_IRQ_BASE + VTB_IRQ_TIMER) {
    plat_timer_ack();
    kstats.timer_ticks++;
    proc_tick(user);
    return;
  }
  if (v >= VTB_IRQ_BASE && v < VTB_IRQ_BASE + 16) return; /* masked lines; spurious IRQ 7/15 need no EOI */
  uint64_t addr = 0;
  if (v == 14) {
    addr = plat_fault_addr();
    kstats.page_faults++;
    /* user pages, also when the kernel touches them on a process' behalf */
    if (addr < VTB_USER_TOP && cur && user_fault(addr, tf->error)) return;
    if (user && pf_syscall_compat(tf, addr)) return;
  }
  if (user && v == 6 && syscall_lstar_sim && simulate_syscall_at_cpl3(tf)) return;
  if (user && (v == 13 || (v == 6 && syscall_ud_compat)) && gp_syscall_compat(tf)) return;
  if (!user && ktest_trap(tf)) return; /* a guarded ktest/census instruction */
  const char *what = v < 32 && exc_name[v] ? exc_name[v] : "unexpected interrupt";
  if (!user) {
    if (v == 14) panic("kernel page fault at 0x%lx (rip 0x%lx, error 0x%lx)", addr, tf->rip, tf->error);
    panic("kernel %s (vector %lu, rip 0x%lx, error 0x%lx)", what, v, tf->rip, tf->error);
  }
  if (v == 14)
    kprintf("tbk: pid %d (%s) killed: page fault at 0x%lx (rip 0x%lx, error 0x%lx)\n", cur->pid, cur->name, addr,
            tf->rip, tf->error);
  else
    kprintf("tbk: pid %d (%s) killed: %s (vector %lu, rip 0x%lx)\n", cur->pid, cur->name, what, v, tf->rip);
  proc_exit(VTB_WSTATUS_KILLED | (int)v);
}
