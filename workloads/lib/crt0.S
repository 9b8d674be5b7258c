/* tags: workloads|lib — desc: guest program entry: argc/argv from the stack the kernel built, main, exit. */
  .text
  .globl _start
  .type _start, @function
_start:
  xorl %ebp, %ebp
  movq (%rsp), %rdi
  leaq 8(%rsp), %rsi
  call main
  movl %eax, %edi
  call exit
1:
  jmp 1b
  .size _start, .-_start
  .section .note.GNU-stack, "", @progbits
