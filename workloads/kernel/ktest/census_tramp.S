/* tags: kernel|ktest — desc: census far CALL/JMP trampoline: copied to a kernel-only page below 4 GiB (m16:32 far pointers). */
/* Entered with a near call. Far-calls tramp_call_target through fc_ptr
 * (CS = VTB_CENSUS_SEL_KCODE2), which returns its CS in %ax and the CS the
 * far call pushed in %cx; then far-jumps to tramp_jmp_target through
 * fj_ptr, which puts its CS in %dx and far-jumps back through back_ptr.
 * The far pointers are filled by census_kernel.c after copying. */
  .text
  .globl census_tramp_start, census_tramp_end
  .globl census_tramp_fc, census_tramp_fj, census_tramp_back
  .globl census_tramp_call_target, census_tramp_jmp_target, census_tramp_jmp_back
census_tramp_start:
  lcall *census_tramp_fc(%rip)
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
