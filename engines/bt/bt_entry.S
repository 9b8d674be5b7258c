/* tags: engines|bt — desc: enter translated code or (bt-direct) guest user code and leave it: guest GPRs, flags, xmm state and FS/GS bases swap with the host's; the trampoline every signal handler enters through. */
#include "engines/bt/layout.h"

#define G(r) (BT_GLOBAL_BASE + BT_OFF_GPR + 8 * (r))
#define V(off) (BT_GLOBAL_BASE + (off))
/* the host's side of a direct entry: hidden, in the host's .bss (not at a fixed address) */
#define H(off) bt_direct_host+(off)(%rip)

/* Install \reg as the FS or GS base (\seg: fs or gs) unless it already is
 * (wrfsbase costs ~12 ns here, rdfsbase ~1 ns; the guest's GS base is
 * usually the host's, 0). Clobbers \tmp and the flags. */
.macro SET_BASE seg, reg, tmp
        rd\seg\()base \tmp
        cmp \tmp, \reg
        je 77f
        wr\seg\()base \reg
77:
.endm

/* Host callee-saved registers onto the host stack (undone at bt_leave_common's
 * end), the host stack pointer and MXCSR to \sp and \mxcsr, the target (rdi)
 * to S3, then the guest's MXCSR and xmm0-15 from the vCPU block. */
.macro ENTER_FROM_HOST sp, mxcsr
        push %rbp
        push %rbx
        push %r12
        push %r13
        push %r14
        push %r15
        sub $8, %rsp
        mov %rsp, \sp
        mov %rdi, V(BT_OFF_S3)
        stmxcsr \mxcsr
        ldmxcsr V(BT_OFF_MXCSR)
        LOAD_XMM
.endm

/* The guest's xmm0-15 to / from the vCPU block. */
.macro SAVE_XMM
        movdqa %xmm0, V(BT_OFF_XMM + 0x00)
        movdqa %xmm1, V(BT_OFF_XMM + 0x10)
        movdqa %xmm2, V(BT_OFF_XMM + 0x20)
        movdqa %xmm3, V(BT_OFF_XMM + 0x30)
        movdqa %xmm4, V(BT_OFF_XMM + 0x40)
        movdqa %xmm5, V(BT_OFF_XMM + 0x50)
        movdqa %xmm6, V(BT_OFF_XMM + 0x60)
        movdqa %xmm7, V(BT_OFF_XMM + 0x70)
        movdqa %xmm8, V(BT_OFF_XMM + 0x80)
        movdqa %xmm9, V(BT_OFF_XMM + 0x90)
        movdqa %xmm10, V(BT_OFF_XMM + 0xa0)
        movdqa %xmm11, V(BT_OFF_XMM + 0xb0)
        movdqa %xmm12, V(BT_OFF_XMM + 0xc0)
        movdqa %xmm13, V(BT_OFF_XMM + 0xd0)
        movdqa %xmm14, V(BT_OFF_XMM + 0xe0)
        movdqa %xmm15, V(BT_OFF_XMM + 0xf0)
.endm
.macro LOAD_XMM
        movdqa V(BT_OFF_XMM + 0x00), %xmm0
        movdqa V(BT_OFF_XMM + 0x10), %xmm1
        movdqa V(BT_OFF_XMM + 0x20), %xmm2
        movdqa V(BT_OFF_XMM + 0x30), %xmm3
        movdqa V(BT_OFF_XMM + 0x40), %xmm4
        movdqa V(BT_OFF_XMM + 0x50), %xmm5
        movdqa V(BT_OFF_XMM + 0x60), %xmm6
        movdqa V(BT_OFF_XMM + 0x70), %xmm7
        movdqa V(BT_OFF_XMM + 0x80), %xmm8
        movdqa V(BT_OFF_XMM + 0x90), %xmm9
        movdqa V(BT_OFF_XMM + 0xa0), %xmm10
        movdqa V(BT_OFF_XMM + 0xb0), %xmm11
        movdqa V(BT_OFF_XMM + 0xc0), %xmm12
        movdqa V(BT_OFF_XMM + 0xd0), %xmm13
        movdqa V(BT_OFF_XMM + 0xe0), %xmm14
        movdqa V(BT_OFF_XMM + 0xf0), %xmm15
.endm

/* The guest's caller-saved GPRs (what C may clobber) to / from the vCPU block. */
.macro SAVE_SCRATCH_GPRS
        mov %rax, G(0)
        mov %rcx, G(1)
        mov %rdx, G(2)
        mov %rsi, G(6)
        mov %rdi, G(7)
        mov %r8, G(8)
        mov %r9, G(9)
        mov %r10, G(10)
        mov %r11, G(11)
.endm
.macro LOAD_SCRATCH_GPRS
        mov G(0), %rax
        mov G(1), %rcx
        mov G(2), %rdx
        mov G(6), %rsi
        mov G(7), %rdi
        mov G(8), %r8
        mov G(9), %r9
        mov G(10), %r10
        mov G(11), %r11
.endm

/* The guest's flags and GPRs (rsp last), then a jump to the address in S3. */
.macro LOAD_GUEST_AND_JUMP
        pushq V(BT_OFF_RFLAGS)
        popfq
        mov G(0), %rax
        mov G(1), %rcx
        mov G(2), %rdx
        mov G(3), %rbx
        mov G(5), %rbp
        mov G(6), %rsi
        mov G(7), %rdi
        mov G(8), %r8
        mov G(9), %r9
        mov G(10), %r10
        mov G(11), %r11
        mov G(12), %r12
        mov G(13), %r13
        mov G(14), %r14
        mov G(15), %r15
        mov G(4), %rsp
        jmp *V(BT_OFF_S3)
.endm

        .text
        .globl bt_asm_begin
bt_asm_begin:

/* uint8_t* bt_enter(uint64_t tc): run translated code from tc; returns the exit record. */
        .globl bt_enter
        .type bt_enter, @function
bt_enter:
        ENTER_FROM_HOST V(BT_OFF_HOST_SP), V(BT_OFF_HOST_MXCSR)
        LOAD_GUEST_AND_JUMP
        .size bt_enter, .-bt_enter

/* uint8_t* bt_enter_direct(uint64_t pc) (bt-direct): run guest user code
 * natively from pc. It leaves only through a signal, whose handler puts the
 * host's fields of the vCPU block back (the caller cleared them) and returns
 * into bt_fault_return. The host's stack pointer and MXCSR stay out of the
 * guest's reach (H); `live` is set before the guest's FS/GS bases are
 * installed, so a signal from here on finds the host's bases installed by
 * bt_signal_trampoline first. */
        .globl bt_enter_direct
        .type bt_enter_direct, @function
bt_enter_direct:
        ENTER_FROM_HOST H(BT_DH_HOST_SP), H(BT_DH_HOST_MXCSR)
        movb $1, H(BT_DH_LIVE)
        cmpb $0, H(BT_DH_FSGS)
        je 1f
        mov V(BT_OFF_FS_BASE), %rax
        SET_BASE fs, %rax, %rcx
        mov V(BT_OFF_GS_BASE), %rax
        SET_BASE gs, %rax, %rcx
1:      LOAD_GUEST_AND_JUMP
        .size bt_enter_direct, .-bt_enter_direct

/* Reached by `call *exit_fn` from translated code, on the host stack; the
 * return address is the inline exit record. Guest rsp is already saved. */
        .globl bt_exit_stub
        .type bt_exit_stub, @function
bt_exit_stub:
        pushfq
        cld
        SAVE_SCRATCH_GPRS
        mov %rbx, G(3)
        mov %rbp, G(5)
        mov %r12, G(12)
        mov %r13, G(13)
        mov %r14, G(14)
        mov %r15, G(15)
        popq V(BT_OFF_RFLAGS)
        pop %rax
        jmp bt_leave_common
        .size bt_exit_stub, .-bt_exit_stub

/* The light port-I/O callout (kernel in/out): reached through the `jmp
 * *bt_io_stub` of its cache from `call io_entry` in translated code, on the
 * host stack (guest rsp saved, the return address is the inline exit record).
 * Saves only what C may clobber (flags, the caller-saved GPRs, xmm0-15,
 * MXCSR), and bt_io_light(record) has the Vm's handler serve the access:
 * 1 = resume translated code after the record; 0 = leave through the full
 * exit with the same record, exactly as `call *exit_fn` would. */
        .globl bt_io_stub
        .type bt_io_stub, @function
bt_io_stub:
        pushfq
        cld
        SAVE_SCRATCH_GPRS
        stmxcsr V(BT_OFF_MXCSR)
        ldmxcsr V(BT_OFF_HOST_MXCSR)
        SAVE_XMM
        mov 8(%rsp), %rdi
        call bt_io_light@PLT
        LOAD_XMM
        ldmxcsr V(BT_OFF_MXCSR)
        mov 8(%rsp), %rcx
        add $32, %rcx /* sizeof(ExitRecord): where translated code goes on */
        mov %rcx, V(BT_OFF_S3)
        test %eax, %eax
        LOAD_SCRATCH_GPRS
        jz 1f
        popfq
        mov G(4), %rsp
        jmp *V(BT_OFF_S3)
1:      popfq
        jmp bt_exit_stub
        .size bt_io_stub, .-bt_io_stub

/* Reached from the signal handler (which stored the guest state itself). */
        .globl bt_fault_return
        .type bt_fault_return, @function
bt_fault_return:
        cld
        mov V(BT_OFF_HOST_SP), %rsp
        mov V(BT_OFF_FAULT_REC), %rax
        jmp bt_leave_common
        .size bt_fault_return, .-bt_fault_return

bt_leave_common:
        stmxcsr V(BT_OFF_MXCSR)
        ldmxcsr V(BT_OFF_HOST_MXCSR)
        SAVE_XMM
        add $8, %rsp
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %rbx
        pop %rbp
        ret

/* Every signal handler of the engine starts here (SA_ONSTACK; rdi/rsi/rdx are
 * the handler's arguments, r10/r11 are free). A signal on the vCPU thread's
 * signal stack while `live` is set interrupted guest user code (or the entry
 * glue): with FSGSBASE the host's FS/GS bases are installed, then `live` is
 * cleared (what runs now is host code: a signal nested in the handler is not
 * the guest's), before any C++ runs. When the handler returns 0 (the signal
 * resumes the code it interrupted) both are put back in the reverse order;
 * 1: it now returns into host code, whose bases stay. `live` is set whenever
 * the guest's bases may be installed, so a signal nested anywhere here finds
 * its way too. The C++ handler gets the frame (struct SignalFrame). */
        .globl bt_signal_trampoline
        .type bt_signal_trampoline, @function
bt_signal_trampoline:
        sub $BT_SF_SIZE, %rsp
        movq $0, BT_SF_SWITCHED(%rsp)
        movq $0, BT_SF_VCPU(%rsp)
        movq $0, BT_SF_LIVE(%rsp)
        cmp H(BT_DH_ALT_LO), %rsp
        jb 1f
        cmp H(BT_DH_ALT_HI), %rsp
        jae 1f
        movq $1, BT_SF_VCPU(%rsp)
        cmpb $0, H(BT_DH_LIVE)
        je 1f
        movq $1, BT_SF_LIVE(%rsp)
        /* The kernel clears DF, RF and TF for a handler, not AC or NT: a guest
         * `popf` may have set AC, and host code then takes #AC (SIGBUS) at its
         * first misaligned access (sigreturn gives the guest its flags back). */
        pushfq
        andq $~0x44000, (%rsp)
        popfq
        cmpb $0, H(BT_DH_FSGS)
        je 3f
        rdfsbase %r10
        mov %r10, BT_SF_FS(%rsp)
        rdgsbase %r10
        mov %r10, BT_SF_GS(%rsp)
        mov H(BT_DH_HOST_FS), %r10
        SET_BASE fs, %r10, %r11
        mov H(BT_DH_HOST_GS), %r10
        SET_BASE gs, %r10, %r11
        movq $1, BT_SF_SWITCHED(%rsp)
3:      movb $0, H(BT_DH_LIVE)
1:      mov %rsp, %rcx
        call bt_on_signal@PLT
        test %eax, %eax
        jnz 2f
        cmpq $0, BT_SF_LIVE(%rsp)
        je 2f
        movb $1, H(BT_DH_LIVE)
        cmpq $0, BT_SF_SWITCHED(%rsp)
        je 2f
        mov BT_SF_FS(%rsp), %r10
        SET_BASE fs, %r10, %r11
        mov BT_SF_GS(%rsp), %r10
        SET_BASE gs, %r10, %r11
2:      add $BT_SF_SIZE, %rsp
        ret
        .size bt_signal_trampoline, .-bt_signal_trampoline

        .globl bt_asm_end
bt_asm_end:

        .section .note.GNU-stack,"",@progbits
