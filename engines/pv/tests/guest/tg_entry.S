/* tags: engines|pv|tests — desc: pv test guest: entry, trap-table stubs (pv frame -> C), iret, a tiny user program. */
  .section .text.entry, "ax"
  .globl _start
_start:
  leaq stack_top(%rip), %rsp
  call tg_main
1:
  jmp 1b

  .text
.macro STUB n
  .globl tg_stub_\n
tg_stub_\n:
  pushq $\n
  jmp tg_alltraps
.endm
  STUB 0
  STUB 3
  STUB 6
  STUB 13
  STUB 14
  STUB 32
  STUB 128
  STUB 255

/* On entry: rsp -> vector, then the pv frame (error, rip, cs, rflags, rsp, ss). */
tg_alltraps:
  pushq %rax
  pushq %rbx
  pushq %rcx
  pushq %rdx
  pushq %rsi
  pushq %rdi
  pushq %rbp
  pushq %r8
  pushq %r9
  pushq %r10
  pushq %r11
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, %rdi
  cld
  call tg_trap
  .globl tg_trapret
tg_trapret:
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %r11
  popq %r10
  popq %r9
  popq %r8
  popq %rbp
  popq %rdi
  popq %rsi
  popq %rdx
  popq %rcx
  popq %rbx
  popq %rax
  addq $8, %rsp            /* vector */
  movq %rax, (%rsp)        /* the error slot carries rax into the iret frame */
  jmp *tg_iret_stub(%rip)

/* void tg_enter(struct tg_tf *tf): resume a frame built in C. */
  .globl tg_enter
tg_enter:
  movq %rdi, %rsp
  jmp tg_trapret

/* The user program (position independent; copied to a user page). */
  .globl user_prog_start, user_prog_end
user_prog_start:
  movl $1, %eax
  movq $0x1111, %rdi
  syscall
  cmpq $0x1112, %rax
  jne 9f
  movl $100, %ebx
2:
  movl $2, %eax
  syscall
  decl %ebx
  jnz 2b
  int $0x80                /* refused: #GP to the guest kernel, which skips it */
  sysenter                 /* refused: #UD, skipped the same way */
  movabsq $0x80000100000, %rbx
  movq (%rbx), %rax        /* guest kernel memory: #PF, the kernel kills us */
9:
  movl $3, %eax
  syscall
3:
  jmp 3b
user_prog_end:

  .bss
  .balign 16
  .globl tg_kstack_top
stack:
  .zero 16384
stack_top:
tg_kstack:
  .zero 16384
tg_kstack_top:

  .section .note.GNU-stack, "", @progbits
