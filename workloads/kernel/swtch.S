/* tags: kernel — desc: swtch(save_sp, new_sp): kernel context switch (callee-saved registers only; unprivileged). */
  .text
  .globl swtch
  .type swtch, @function
swtch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size swtch, .-swtch
  .section .note.GNU-stack,"",@progbits
