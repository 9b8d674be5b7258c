/* tags: kernel|plat — desc: the plat_* layer: every privileged operation of tbk.
 *
 * Everything in workloads/kernel above this header is shared by both kernel
 * flavors. The native flavor (plat_native.c + entry_native.S) executes the
 * privileged instructions itself; the pv flavor (plat_pv.c + entry_pv.S)
 * implements the same functions with hypercalls (common/abi/vtb_abi.h).
 * A flavor implements every function declared here and nothing else is
 * allowed to execute a privileged instruction.
 *
 * Conventions: "pa" is a guest-physical address; kernel virtual addresses of
 * RAM are VTB_KERNEL_VBASE + pa (the direct map, see kern.h). The shared
 * kernel runs with interrupts disabled except inside plat_idle() and while
 * in user mode; it is not re-entrant (one CPU). */
#ifndef TBK_PLAT_H
#define TBK_PLAT_H

#include <stdint.h>
#include "common/abi/vtb_abi.h"

/* ---- Trap frame: built by the flavor's entry code, read/written by the
 * shared kernel. Layout is fixed (entry_*.S index it): general registers,
 * then vector and error code, then the hardware-style iret frame. For a
 * system call, vector = TBK_VEC_SYSCALL, rip/rsp/rflags are the user's and
 * rcx/r11 are undefined. */
struct trapframe {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss;
};
#define TBK_TF_SIZE      176
#define TBK_VEC_SYSCALL  0x100 /* pseudo vector of a syscall-instruction entry */

/* ---- Entry points the flavor calls in the shared kernel. ---- */
/* Exceptions and interrupts (vector 0..255). On return the flavor resumes
 * the context in *tf (which the kernel may have changed). */
void trap_dispatch(struct trapframe *tf);
/* A user system call (rax = number, rdi rsi rdx r10 r8 r9 = arguments).
 * On return the flavor resumes user mode at tf->rip with tf->rax. */
void syscall_dispatch(struct trapframe *tf);
/* The shared 64-bit C entry: boot_pa is the physical address of either a
 * struct vtb_boot_info (VTB_BOOT_MAGIC) or a PVH start info (VTB_PVH_MAGIC).
 * Called on the boot stack with interrupts disabled. */
void kmain(uint64_t boot_pa) __attribute__((noreturn));

/* ---- CPU setup ---- */
/* Called once, first thing in kmain, with the raw boot-info physical
 * address kmain got (a flavor may need fields of it, e.g. the pv shared
 * page). Install the
 * descriptor tables / trap table (every vector ends in trap_dispatch, the
 * syscall entry in syscall_dispatch), enable the syscall instruction and
 * write protection for supervisor writes (CR0.WP: the kernel relies on
 * faults on read-only user pages for copy-on-write). */
void plat_cpu_init(uint64_t boot_pa);
/* The kernel stack top used for the next trap or syscall from user mode. */
void plat_set_kernel_stack(uint64_t rsp0);
/* Fill the selector and flag fields of a user-mode frame (IF set). */
void plat_user_frame(struct trapframe *tf, uint64_t rip, uint64_t rsp);
/* Did this trap come from user mode? */
int plat_trap_from_user(const struct trapframe *tf);
/* Resume the context in *tf (must be a user frame on the current kernel
 * stack, at its top). Used to start a new process. Does not return. */
void plat_enter_user(struct trapframe *tf) __attribute__((noreturn));
/* The address a user `syscall` instruction enters (LSTAR), or 0 where user
 * system calls do not use the instruction's entry (pv: bounced by the host). */
uint64_t plat_syscall_entry(void);
/* Fault address of the last #PF (CR2). Valid until interrupts are enabled. */
uint64_t plat_fault_addr(void);

/* ---- Address translation ----
 * Page tables are ordinary 4-level x86-64 tables in guest-physical frames.
 * The kernel reads entries directly; it WRITES them only through
 * plat_pte_write, and a write becomes effective at the latest at the next
 * plat_pte_flush (native: immediately; pv: queued and validated in batches).
 * Order the kernel follows: a new table page is zeroed, then announced with
 * plat_pt_pin, then linked; a table page is unlinked, flushed, then
 * plat_pt_unpin'ed, then freed. plat_new_baseptr / plat_invlpg /
 * plat_flush_tlb imply plat_pte_flush first. */
void plat_pte_write(uint64_t *pte, uint64_t val); /* pte: kernel va of the entry */
void plat_pte_flush(void);
void plat_pt_pin(uint64_t pa, int level);   /* level 4 = PML4 ... 1 = PT */
void plat_pt_unpin(uint64_t pa, int level);
void plat_new_baseptr(uint64_t pml4_pa);    /* CR3 load */
uint64_t plat_read_baseptr(void);           /* CR3 read (physical) */
void plat_invlpg(uint64_t va);
/* Whole ordinary frames (never a page table): zero one, copy one. native:
 * `rep stosq` / `rep movsq` through the direct map; pv: a hypercall that
 * writes through the engine's own mapping (the direct map of the frame stays
 * untouched: an mprotect-protected pv engine pays per populated page). */
void plat_page_clear(uint64_t pa);
void plat_page_copy(uint64_t dst_pa, uint64_t src_pa);
/* Nonzero when plat_page_clear is cheap enough that a zero page should
 * reuse a freed (hot) frame rather than take a never-used one: pv (one
 * hypercall) yes; native no (kvm@pvm emulates the `rep stosq` iteration by
 * iteration, ~0.7 ms a page). */
#ifndef TBK_PAGE_CLEAR_CHEAP /* set per flavor by CMake (workloads/CMakeLists.txt): a compile-time
                                constant, so the native flavor pays no test (kvm@pvm emulates each one) */
#define TBK_PAGE_CLEAR_CHEAP 0
#endif
#define plat_page_clear_cheap TBK_PAGE_CLEAR_CHEAP
void plat_flush_tlb(void);

/* ---- Interrupt flag ---- */
void plat_irq_disable(void);
void plat_irq_enable(void);
uint64_t plat_irq_save(void);               /* returns state, then disables */
void plat_irq_restore(uint64_t state);
/* Enable interrupts, wait for one (atomically: no wakeup is lost), handle it
 * through trap_dispatch, return with interrupts disabled. */
void plat_idle(void);
/* Stop this CPU for good (cli; hlt loop). */
void plat_halt_forever(void) __attribute__((noreturn));

/* ---- Timer ----
 * Start the periodic tick at hz; each tick arrives as vector
 * VTB_IRQ_BASE + VTB_IRQ_TIMER in trap_dispatch, which calls
 * plat_timer_ack() before anything else. Native: PIT channel 0 + 8259 PIC
 * (kernel/dev/pic_pit.c); pv: set_timer hypercall. */
void plat_timer_start(unsigned hz);
void plat_timer_ack(void);

/* ---- Port I/O, MSRs, misc ---- */
uint8_t plat_inb(uint16_t port);
void plat_outb(uint16_t port, uint8_t v);
uint32_t plat_inl(uint16_t port);
void plat_outl(uint16_t port, uint32_t v);
uint64_t plat_rdmsr(uint32_t msr);
void plat_wrmsr(uint32_t msr, uint64_t v);
void plat_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
uint64_t plat_rdtsc(void);
/* Nonzero when the kernel must reach user memory only through its direct
 * map (uaccess.c walks the current tables): pv after the engine accepted
 * vm_assist(VTB_VMASST_DIRECT_USER_ACCESS). native: the constant 0 (a plain
 * dereference of the user address, no test: kvm@pvm emulates each kernel
 * instruction). TBK_USER_DIRECT is set per flavor by CMake. */
#if TBK_USER_DIRECT
int plat_user_direct(void);
#else
#define plat_user_direct() 0
#endif
/* Which flavor this kernel was built as (enum vtb_flavor). */
int plat_flavor(void);

#endif
