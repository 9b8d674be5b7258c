/* tags: engines|pv — desc: guest entry/exit: enter the guest, the hypercall callout, signal exit. */
#include "engines/pv/pv_cpu.h"

#define V(off) vtb_pv_cpu+(off)(%rip)
#define G(r) V(PV_OFF_GPR + 8 * (r))
#define RAX_ 0
#define RCX_ 1
#define RDX_ 2
#define RBX_ 3
#define RSP_ 4
#define RBP_ 5
#define RSI_ 6
#define RDI_ 7
#define R8_ 8
#define R9_ 9
#define R10_ 10
#define R11_ 11
#define R12_ 12
#define R13_ 13
#define R14_ 14
#define R15_ 15

	.section .rodata
	.balign 4
mxcsr_default:
	.long 0x1f80

	.text

/* FS/GS bases. Guest code never sees the host's: the guest's own (virtual)
 * bases are installed on every jump into guest code and the host's on every
 * entry into host code (hypercall, iret, signal), so guest user code cannot
 * read the host's TLS through %fs or change what host code uses. GUEST_IN
 * also marks that guest code runs, for the signal handler (a guest jump out
 * of the window still faults as the guest's). Uses only \reg. */
.macro TO_GUEST reg
	cmpb $0, V(PV_OFF_FSGS)
	je 91f
	mov V(PV_OFF_GUEST_FS), \reg
	wrfsbase \reg
	mov V(PV_OFF_GUEST_GS), \reg
	wrgsbase \reg
91:	movb $1, V(PV_OFF_IN_GUEST)
.endm
.macro TO_HOST reg
	movb $0, V(PV_OFF_IN_GUEST)
	cmpb $0, V(PV_OFF_FSGS)
	je 92f
	rdfsbase \reg
	mov \reg, V(PV_OFF_GUEST_FS)
	rdgsbase \reg
	mov \reg, V(PV_OFF_GUEST_GS)
	mov V(PV_OFF_HOST_FS), \reg
	wrfsbase \reg
	mov V(PV_OFF_HOST_GS), \reg
	wrgsbase \reg
92:
.endm

/* EFLAGS.AC off for host code: guest code may run with AC set (a user
 * `popf`), and with the host's CR0.AM every misaligned access of host code
 * would then raise #AC (SIGBUS) in the engine. */
.macro CLEAR_AC
	pushfq
	andq $~0x40000, (%rsp)
	popfq
.endm

	.globl vtb_pv_asm_begin
vtb_pv_asm_begin:

/* int vtb_pv_enter(void): save the host's callee-saved registers, remember
 * the host stack, load the whole guest state from vtb_pv_cpu and jump. The
 * host comes back here (do_exit) with eax = PV_EXIT. */
	.globl vtb_pv_enter
	.type vtb_pv_enter, @function
vtb_pv_enter:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	sub $8, %rsp
	mov %rsp, V(PV_OFF_HOST_RSP)
resume_full:
	cmpq $0, V(PV_OFF_FPU_VALID)
	je 1f
	movq $0, V(PV_OFF_FPU_VALID)
	mov $PV_XSTATE_LO, %eax
	mov $-1, %edx
	xrstor64 V(PV_OFF_FPU)
1:	TO_GUEST %rax
	mov V(PV_OFF_RFLAGS), %rax
	mov %rax, V(PV_OFF_SCRATCH)
	lea V(PV_OFF_SCRATCH), %rsp
	popfq
	mov G(RSP_), %rsp
	mov G(RAX_), %rax
	mov G(RCX_), %rcx
	mov G(RDX_), %rdx
	mov G(RBX_), %rbx
	mov G(RBP_), %rbp
	mov G(RSI_), %rsi
	mov G(RDI_), %rdi
	mov G(R8_), %r8
	mov G(R9_), %r9
	mov G(R10_), %r10
	mov G(R11_), %r11
	mov G(R12_), %r12
	mov G(R13_), %r13
	mov G(R14_), %r14
	mov G(R15_), %r15
	jmp *V(PV_OFF_RIP)
	.size vtb_pv_enter, .-vtb_pv_enter

/* Hypercall entry, reached from stub n of the hypercall page with eax = n
 * and [rsp] = the guest's return address. */
	.globl vtb_pv_hc_entry
	.type vtb_pv_hc_entry, @function
vtb_pv_hc_entry:
	.globl vtb_pv_touch_begin
vtb_pv_touch_begin:
	/* The null hypercall, served here: nothing saved, only rax and flags change. */
	cmp $PV_HC_NULL, %eax
	jne 2f
	cmpb $0, V(PV_OFF_MODE)
	jne 2f
	cmpl $0, V(PV_OFF_TIMER_FIRED)
	jne 2f
	mov V(PV_OFF_SHARED), %rax
	cmpb $0, 1(%rax)                 /* shared->pending: let the slow path deliver */
	jne 1f
	incq V(PV_OFF_NULL_FAST)
	xor %eax, %eax
	ret
1:	mov $PV_HC_NULL, %eax
2:	mov %rax, G(RAX_)
	mov %rcx, G(RCX_)
	mov %rdx, G(RDX_)
	mov %rbx, G(RBX_)
	mov %rsi, G(RSI_)
	mov %rdi, G(RDI_)
	mov %r8, G(R8_)
	mov %r9, G(R9_)
	mov %r10, G(R10_)
	mov %r11, G(R11_)
	mov (%rsp), %rcx
	.globl vtb_pv_touch_end
vtb_pv_touch_end:
	mov %rcx, V(PV_OFF_RIP)
	TO_HOST %rcx
	lea 8(%rsp), %rcx
	mov %rcx, G(RSP_)
	mov V(PV_OFF_HOST_RSP), %rsp
	CLEAR_AC                         /* on the host stack: never push on the guest's */
	cld
	call vtb_pv_hc_fast@PLT
	test %eax, %eax
	jnz slow_common
fast_resume:
	TO_GUEST %rcx
	mov G(RCX_), %rcx
	mov G(RDX_), %rdx
	mov G(RSI_), %rsi
	mov G(RDI_), %rdi
	mov G(R8_), %r8
	mov G(R9_), %r9
	mov G(R10_), %r10
	mov G(R11_), %r11
	mov G(RSP_), %rsp
	mov G(RAX_), %rax
	jmp *V(PV_OFF_RIP)

/* Slow path: the callee-saved guest registers are still live; the guest's
 * FP/SIMD state is saved around the C++ handler. */
slow_common:
	mov %rbp, G(RBP_)
	mov %r12, G(R12_)
	mov %r13, G(R13_)
	mov %r14, G(R14_)
	mov %r15, G(R15_)
	pushfq
	popq V(PV_OFF_RFLAGS)
	mov $PV_XSTATE_LO, %eax
	mov $-1, %edx
	xsaveopt64 V(PV_OFF_FPU)
	movq $1, V(PV_OFF_FPU_VALID)
	fninit
	ldmxcsr mxcsr_default(%rip)
	call vtb_pv_hc_slow@PLT
	cmp $PV_EXIT, %eax
	je do_exit
	cmp $PV_RESUME_FULL, %eax
	je resume_full
	movq $0, V(PV_OFF_FPU_VALID)
	mov $PV_XSTATE_LO, %eax
	mov $-1, %edx
	xrstor64 V(PV_OFF_FPU)
	mov G(RBP_), %rbp
	mov G(R12_), %r12
	mov G(R13_), %r13
	mov G(R14_), %r14
	mov G(R15_), %r15
	mov G(RBX_), %rbx
	jmp fast_resume

do_exit:
	mov V(PV_OFF_HOST_RSP), %rsp
	add $8, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	mov $PV_EXIT, %eax
	ret
	.size vtb_pv_hc_entry, .-vtb_pv_hc_entry

/* iret entry: the guest jumped to the iret stub with rsp -> vtb_pv_iret_frame. */
	.globl vtb_pv_iret_entry
	.type vtb_pv_iret_entry, @function
vtb_pv_iret_entry:
	mov %rax, G(RAX_)
	mov %rcx, G(RCX_)
	mov %rdx, G(RDX_)
	mov %rbx, G(RBX_)
	mov %rsi, G(RSI_)
	mov %rdi, G(RDI_)
	mov %r8, G(R8_)
	mov %r9, G(R9_)
	mov %r10, G(R10_)
	mov %r11, G(R11_)
	mov %rsp, G(RSP_)
	movq $0, V(PV_OFF_RIP)
	TO_HOST %rcx
	mov V(PV_OFF_HOST_RSP), %rsp
	CLEAR_AC
	cld
	jmp slow_common
	.size vtb_pv_iret_entry, .-vtb_pv_iret_entry

/* A signal handler that interrupted guest code copied the guest registers
 * into vtb_pv_cpu and returned here, on the host stack. */
	.globl vtb_pv_signal_exit
	.type vtb_pv_signal_exit, @function
vtb_pv_signal_exit:
	mov $PV_XSTATE_LO, %eax
	mov $-1, %edx
	xsaveopt64 V(PV_OFF_FPU)
	movq $1, V(PV_OFF_FPU_VALID)
	fninit
	ldmxcsr mxcsr_default(%rip)
	jmp do_exit
	.size vtb_pv_signal_exit, .-vtb_pv_signal_exit

/* Every signal handler of the engine starts here (SA_ONSTACK: the host's
 * alternate stack). rdi/rsi/rdx are the handler's arguments; r10/r11 are
 * free at a call boundary. */
	.globl vtb_pv_signal_trampoline
	.type vtb_pv_signal_trampoline, @function
vtb_pv_signal_trampoline:
	CLEAR_AC
	/* Only on the vCPU thread (its alternate stack): another thread's
	 * signal keeps that thread's own bases. r11 = 0 marks "not switched". */
	xor %r11d, %r11d
	cmpb $0, V(PV_OFF_FSGS)
	je 1f
	mov %rsp, %r10
	sub V(PV_OFF_ALTSTACK), %r10
	cmp $PV_ALTSTACK_SIZE, %r10
	jae 1f
	mov $1, %r11d
	rdfsbase %r10
	mov %r10, V(PV_OFF_SIG_FS)
	rdgsbase %r10
	mov %r10, V(PV_OFF_SIG_GS)
	mov V(PV_OFF_HOST_FS), %r10
	wrfsbase %r10
	mov V(PV_OFF_HOST_GS), %r10
	wrgsbase %r10
1:	push %r11
	call vtb_pv_on_signal@PLT
	pop %r11
	test %r11, %r11
	jz 2f
	cmp $1, %eax
	je 2f                            /* into host code: the host's bases stay */
	mov V(PV_OFF_SIG_FS), %r10
	wrfsbase %r10
	mov V(PV_OFF_SIG_GS), %r10
	wrgsbase %r10
2:	ret
	.size vtb_pv_signal_trampoline, .-vtb_pv_signal_trampoline

	.globl vtb_pv_asm_end
vtb_pv_asm_end:

/* The benchmark's baseline: an empty host function (called indirectly). */
	.globl vtb_pv_empty_function
	.type vtb_pv_empty_function, @function
vtb_pv_empty_function:
	ret
	.size vtb_pv_empty_function, .-vtb_pv_empty_function

	.section .note.GNU-stack,"",@progbits
