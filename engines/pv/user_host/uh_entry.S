/* tags: engines|pv — desc: pv@2as user process: start, the one system-call stub (the only code Syscall User Dispatch lets through), the boot trap. */
	.text
	.globl _start
	.type _start, @function
_start:
	xor %ebp, %ebp
	mov %rsp, %rdi
	and $-16, %rsp
	call uh_main
	ud2

/* Every system call of this process goes through here: [uh_sys_begin,
 * uh_sys_end) is the region Syscall User Dispatch lets through; a syscall
 * from anywhere else (guest user code) raises SIGSYS. */
	.balign 64
	.globl uh_sys_begin
uh_sys_begin:
/* long uh_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6) */
	.globl uh_syscall
	.type uh_syscall, @function
uh_syscall:
	mov %rdi, %rax
	mov %rsi, %rdi
	mov %rdx, %rsi
	mov %rcx, %rdx
	mov %r8, %r10
	mov %r9, %r8
	mov 8(%rsp), %r9
	syscall
	ret
	.size uh_syscall, .-uh_syscall
/* sigaction's restorer: rt_sigreturn. */
	.globl uh_restorer
	.type uh_restorer, @function
uh_restorer:
	mov $15, %eax
	syscall
	ud2
	.size uh_restorer, .-uh_restorer
	.globl uh_sys_end
uh_sys_end:

/* The first trap: the handler posts "booted" and waits for the first resume. */
	.globl uh_boot_trap
	.type uh_boot_trap, @function
uh_boot_trap:
	int3
	ud2
	.size uh_boot_trap, .-uh_boot_trap

	.section .note.GNU-stack,"",@progbits
