/* tags: kernel|plat — desc: native trap entry: 256 IDT stubs, common trap path, syscall entry (swapgs, sysretq), return to user. */
/* struct trapframe offsets (plat.h) */
#define TF_VECTOR 120
#define TF_RIP 136
#define TF_CS 144
#define TF_RFLAGS 152
#define TF_RSP 160
#define USER_CS 0x2b
#define USER_SS 0x23

#include "trapframe_regs.inc"

  .text
/* One stub per vector: push a zero error code unless the CPU pushed one. */
  .balign 16
  .globl trap_stubs_start
trap_stubs_start:
.altmacro
.macro STUB n
  .balign 16
trap_stub_\n:
  .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
  .else
  pushq $0
  .endif
  pushq $\n
  jmp alltraps
.endm
.set i, 0
.rept 256
  STUB %i
  .set i, i + 1
.endr

alltraps:
  PUSH_REGS
  testb $3, TF_CS(%rsp)
  jz 1f
  swapgs
1:
  cld
  movq %rsp, %rdi
  call trap_dispatch
  .globl trapret
trapret:
  testb $3, TF_CS(%rsp)
  jz 2f
  swapgs
2:
  POP_REGS
  addq $16, %rsp                       /* vector, error */
  iretq

/* void plat_enter_user(struct trapframe *tf) */
  .globl plat_enter_user
  .type plat_enter_user, @function
plat_enter_user:
  movq %rdi, %rsp
  jmp trapret

/* syscall: rcx = user rip, r11 = user rflags, IF cleared by SFMASK.
 * %gs:0 = kernel stack top, %gs:8 = scratch for the user rsp. */
  .globl syscall_entry
  .type syscall_entry, @function
syscall_entry:
  swapgs
  movq %rsp, %gs:8
  movq %gs:0, %rsp
  pushq $USER_SS
  pushq %gs:8
  pushq %r11
  pushq $USER_CS
  pushq %rcx
  pushq $0                             /* error */
  pushq $0x100                         /* TBK_VEC_SYSCALL */
  PUSH_REGS
  cld
  movq %rsp, %rdi
  call syscall_dispatch
  POP_REGS
  addq $16, %rsp
  movq (%rsp), %rcx                    /* rip */
  movq 16(%rsp), %r11                  /* rflags */
  movq 24(%rsp), %rsp                  /* user rsp */
  swapgs
  sysretq

  .section .note.GNU-stack, "", @progbits
