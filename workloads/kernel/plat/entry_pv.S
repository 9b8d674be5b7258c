/* tags: kernel|plat — desc: pv trap entry: trap-table stubs (pv upcall frame -> struct trapframe), syscall bounce entry, iret hypercall. */
/* The pv engine enters a trap-table handler with rsp -> struct
 * vtb_pv_trap_frame (error, rip, cs, rflags, rsp, ss), on the stack_switch
 * stack when the guest was in user mode. Pushing the vector and the
 * registers turns it into struct trapframe (plat.h). Leaving: pop, drop the
 * vector, put rax into the error slot (struct vtb_pv_iret_frame) and jump to
 * the iret stub of the hypercall page. */

#include "trapframe_regs.inc"

  .text
  .balign 16
  .globl pv_trap_stubs_start
pv_trap_stubs_start:
.altmacro
.macro STUB n
  .balign 16
  pushq $\n
  jmp pv_alltraps
.endm
.set i, 0
.rept 256
  STUB %i
  .set i, i + 1
.endr

pv_alltraps:
  PUSH_REGS
  cld
  movq %rsp, %rdi
  call trap_dispatch
  .globl pv_trapret
pv_trapret:
  POP_REGS
  addq $8, %rsp                        /* vector */
  movq %rax, (%rsp)                    /* error slot -> iret frame's rax */
  jmp *pv_iret_stub(%rip)

/* Trap-table slot VTB_PV_VECTOR_SYSCALL: a user `syscall` bounced by the
 * engine (Syscall User Dispatch on the host). */
  .globl pv_syscall_entry
  .type pv_syscall_entry, @function
pv_syscall_entry:
  pushq $0x100                         /* TBK_VEC_SYSCALL */
  PUSH_REGS
  cld
  movq %rsp, %rdi
  call syscall_dispatch
  jmp pv_trapret

/* void plat_enter_user(struct trapframe *tf) */
  .globl plat_enter_user
  .type plat_enter_user, @function
plat_enter_user:
  movq %rdi, %rsp
  jmp pv_trapret

  .section .note.GNU-stack, "", @progbits
