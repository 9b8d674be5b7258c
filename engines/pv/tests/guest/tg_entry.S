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

/* pv@pkeys code inspection (docs/pv.md): user programs that hold a WRPKRU
 * (0f 01 ef). Each would enable every protection key (eax = ecx = edx = 0)
 * and then read guest-kernel memory; none may run its WRPKRU. */
  .globl user_wrpkru_start, user_wrpkru_end
user_wrpkru_start:           /* aligned, executed as such */
  xorl %eax, %eax
  xorl %ecx, %ecx
  xorl %edx, %edx
  .byte 0x0f, 0x01, 0xef     /* wrpkru */
  movabsq $0x80000100000, %rbx
  movq (%rbx), %rax
  movl $3, %eax
  syscall
user_wrpkru_end:

  .globl user_wrpkru_imm_start, user_wrpkru_imm_end
user_wrpkru_imm_start:       /* unaligned: inside another instruction's immediate */
  xorl %ecx, %ecx
  xorl %edx, %edx
1:
  movl $0xef010f90, %eax     /* b8 90 0f 01 ef */
  xorl %eax, %eax
  jmp 1b + 2                 /* into the immediate: wrpkru */
  movl $3, %eax
  syscall
user_wrpkru_imm_end:

/* Two pages: the 0f of a WRPKRU is the last byte of the first page, 01 ef
 * the first bytes of the second. Entry at offset 0 (the first page runs
 * first) or at user_straddle_b (the second page runs first). */
  .globl user_straddle_start, user_straddle_b, user_straddle_end
user_straddle_start:
  xorl %eax, %eax
  xorl %ecx, %ecx
  xorl %edx, %edx
  jmp user_straddle_start + 0xfff
  .org user_straddle_start + 0xfff, 0x90
  .byte 0x0f
  .byte 0x01, 0xef           /* second page: the rest of the wrpkru */
  movabsq $0x80000100000, %rbx
  movq (%rbx), %rax
  movl $3, %eax
  syscall
user_straddle_b:
  movl $1, %eax              /* a system call from the second page first */
  movq $0x41, %rdi
  syscall
  xorl %eax, %eax
  xorl %ecx, %ecx
  xorl %edx, %edx
  jmp user_straddle_start + 0xfff
user_straddle_end:

/* The kernel as the writer: syscall 5 makes the guest kernel patch the 3
 * nops after the syscall into a WRPKRU through its direct map (the code
 * frame is locked by then: the write must unlock it first). */
  .globl user_kpatch_start, user_kpatch_end
user_kpatch_start:
  xorl %ecx, %ecx
  xorl %edx, %edx
  movl $5, %eax
  syscall                    /* returns with eax = 0 */
  nop
  nop
  nop
  movabsq $0x80000100000, %rbx
  movq (%rbx), %rax
  movl $3, %eax
  syscall
user_kpatch_end:

/* Self-modifying code: three times, patch the immediate of a mov and run
 * it (the kernel's syscall 1 returns rdi + 1); then write a WRPKRU and
 * jump to it. */
  .globl user_smc_start, user_smc_end
user_smc_start:
  movl $3, %r12d             /* rounds */
  movl $41, %r13d            /* the value the patched mov loads */
2:
  leaq 3f(%rip), %rdi
  movl %r13d, 1(%rdi)        /* patch the immediate: a write to running code */
3:
  movl $0, %ebx              /* bb imm32 */
  movl $1, %eax
  movq %rbx, %rdi
  syscall
  leaq 1(%r13), %rbx
  cmpq %rbx, %rax
  jne 9f
  incl %r13d
  decl %r12d
  jnz 2b
  movl $4, %eax              /* the rounds worked */
  syscall
  leaq 4f(%rip), %rdi
  movl $0x90ef010e, %eax     /* wrpkru; nop, less one (the literal would be a */
  incl %eax                  /* WRPKRU in this page's bytes, refused at once) */
  movl %eax, (%rdi)
  xorl %eax, %eax
  xorl %ecx, %ecx
  xorl %edx, %edx
  jmp 4f
9:
  movl $3, %eax
  syscall
4:
  nop
  nop
  nop
  nop
  movabsq $0x80000100000, %rbx
  movq (%rbx), %rax
  movl $3, %eax
  syscall
user_smc_end:

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
