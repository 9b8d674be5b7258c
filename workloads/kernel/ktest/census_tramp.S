/* tags: kernel|ktest — desc: census far CALL/JMP trampoline: copied to a kernel-only page below 4 GiB (m16:32 far pointers). */
/* Two entries, each entered with a near call. census_tramp_start far-calls
 * the call target through census_tramp_fc (CS = VTB_CENSUS_SEL_KCODE2),
 * which returns its CS in %ax and the CS the far call pushed in %cx.
 * census_tramp_jmp far-jumps to the jmp target through census_tramp_fj,
 * which puts its CS in %dx and far-jumps back through census_tramp_back.
 * The far pointers are filled by census_kernel.c after copying. */
  .text
  .globl census_tramp_start, census_tramp_end
  .globl census_tramp_fc, census_tramp_fj, census_tramp_back
  .globl census_tramp_call_target, census_tramp_jmp_target, census_tramp_jmp_back
census_tramp_start:              /* entry 1: the far call test */
  lcall *census_tramp_fc(%rip)
  ret
  .globl census_tramp_jmp
census_tramp_jmp:                /* entry 2: the far jmp test */
  ljmp *census_tramp_fj(%rip)
census_tramp_jmp_back:
  ret
census_tramp_call_target:
  movw %cs, %ax
  movl 4(%rsp), %ecx          /* the CS the far call pushed (32-bit slot) */
  lret                        /* 32-bit far return: EIP, CS */
census_tramp_jmp_target:
  movw %cs, %dx
  ljmp *census_tramp_back(%rip)
  .balign 8
census_tramp_fc:   .long 0
                   .word 0
  .balign 8
census_tramp_fj:   .long 0
                   .word 0
  .balign 8
census_tramp_back: .long 0
                   .word 0
  .balign 8
census_tramp_end:

  .section .note.GNU-stack, "", @progbits
