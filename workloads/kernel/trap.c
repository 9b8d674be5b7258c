/* tags: kernel|trap — desc: exception and interrupt policy: timer, page faults (demand/COW), kill or panic, kvm_pvm syscall compat. */
#include "kern.h"
#include "ktest/ktest.h"

struct kstats kstats;

static const char *const exc_name[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
    "device not available", "double fault", "coprocessor overrun", "invalid TSS", "segment not present",
    "stack fault", "general protection fault", "page fault", "reserved", "x87 error", "alignment check",
    "machine check", "SIMD error", "virtualization", "control protection"};

/* Compatibility path for kvm_pvm (docs/kernel.md): that backend raises
 * #GP(0) at a user `syscall` instruction instead of entering LSTAR. If the
 * faulting user instruction is `0f 05`, perform that system call here with
 * the architectural side effects (rcx = next rip, r11 = rflags). */
int syscall_ud_compat;

/* Kernel option sce=0 (tests only): clear EFER.SCE so that every user
 * `syscall` raises #UD, and take #UD at `0f 05` through the same compat
 * path. This exercises on any machine what kvm_pvm forces. */
void syscall_insn_off(void) {
  plat_wrmsr(0xc0000080, plat_rdmsr(0xc0000080) & ~1ULL);
  syscall_ud_compat = 1;
}

static int gp_syscall_compat(struct trapframe *tf) {
  if (tf->error != 0 || tf->rip + 2 > VTB_USER_TOP || !user_range_ok(tf->rip, 2, 0)) return 0;
  const volatile uint8_t *ip = (const uint8_t *)tf->rip;
  if (ip[0] != 0x0f || ip[1] != 0x05) return 0;
  kstats.syscall_gp_compat++;
  tf->rip += 2;
  tf->rcx = tf->rip;
  tf->r11 = tf->rflags;
  syscall_dispatch(tf);
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
  }
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
