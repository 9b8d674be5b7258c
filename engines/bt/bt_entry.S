/* tags: engines|bt — desc: enter translated code and leave it: guest GPRs, flags and xmm state swap with the host's. */
#include "engines/bt/layout.h"

#define G(r) (BT_GLOBAL_BASE + BT_OFF_GPR + 8 * (r))
#define V(off) (BT_GLOBAL_BASE + (off))

        .text
/* uint8_t* bt_enter(uint64_t tc): run guest code from tc; returns the exit record. */
        .globl bt_enter
        .type bt_enter, @function
bt_enter:
        push %rbp
        push %rbx
        push %r12
        push %r13
        push %r14
        push %r15
        sub $8, %rsp
        mov %rsp, V(BT_OFF_HOST_SP)
        mov %rdi, V(BT_OFF_S3)
        stmxcsr V(BT_OFF_HOST_MXCSR)
        ldmxcsr V(BT_OFF_MXCSR)
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
        .size bt_enter, .-bt_enter

/* Reached by `call *exit_fn` from translated code, on the host stack; the
 * return address is the inline exit record. Guest rsp is already saved. */
        .globl bt_exit_stub
        .type bt_exit_stub, @function
bt_exit_stub:
        pushfq
        cld
        mov %rax, G(0)
        mov %rcx, G(1)
        mov %rdx, G(2)
        mov %rbx, G(3)
        mov %rbp, G(5)
        mov %rsi, G(6)
        mov %rdi, G(7)
        mov %r8, G(8)
        mov %r9, G(9)
        mov %r10, G(10)
        mov %r11, G(11)
        mov %r12, G(12)
        mov %r13, G(13)
        mov %r14, G(14)
        mov %r15, G(15)
        popq V(BT_OFF_RFLAGS)
        pop %rax
        jmp bt_leave_common
        .size bt_exit_stub, .-bt_exit_stub

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
        add $8, %rsp
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %rbx
        pop %rbp
        ret

        .section .note.GNU-stack,"",@progbits
