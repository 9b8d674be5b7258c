/* tags: engines|bt|tests — desc: run snippet bytes natively with given registers/flags and capture them after. */
        .text
/* void bt_native_exec(uint64_t state[17], uint64_t code): state = 16 GPRs (x86 order) + rflags */
        .globl bt_native_exec
        .type bt_native_exec, @function
bt_native_exec:
        push %rbp
        push %rbx
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rdi, state_ptr(%rip)
        mov %rsp, host_sp(%rip)
        mov %rsi, target(%rip)
        pushq 128(%rdi)
        popfq
        mov 0(%rdi), %rax
        mov 8(%rdi), %rcx
        mov 16(%rdi), %rdx
        mov 24(%rdi), %rbx
        mov 40(%rdi), %rbp
        mov 48(%rdi), %rsi
        mov 64(%rdi), %r8
        mov 72(%rdi), %r9
        mov 80(%rdi), %r10
        mov 88(%rdi), %r11
        mov 96(%rdi), %r12
        mov 104(%rdi), %r13
        mov 112(%rdi), %r14
        mov 120(%rdi), %r15
        mov 32(%rdi), %rsp
        mov 56(%rdi), %rdi
        jmp *target(%rip)
        .size bt_native_exec, .-bt_native_exec

        .globl bt_native_return
bt_native_return:
        mov %rsp, guest_sp(%rip)
        mov host_sp(%rip), %rsp
        pushfq
        push %rdi
        mov state_ptr(%rip), %rdi
        mov %rax, 0(%rdi)
        mov %rcx, 8(%rdi)
        mov %rdx, 16(%rdi)
        mov %rbx, 24(%rdi)
        mov %rbp, 40(%rdi)
        mov %rsi, 48(%rdi)
        mov %r8, 64(%rdi)
        mov %r9, 72(%rdi)
        mov %r10, 80(%rdi)
        mov %r11, 88(%rdi)
        mov %r12, 96(%rdi)
        mov %r13, 104(%rdi)
        mov %r14, 112(%rdi)
        mov %r15, 120(%rdi)
        pop %rax
        mov %rax, 56(%rdi)
        pop %rax
        mov %rax, 128(%rdi)
        mov guest_sp(%rip), %rax
        mov %rax, 32(%rdi)
        cld
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %rbx
        pop %rbp
        ret

        .bss
        .align 8
state_ptr: .quad 0
host_sp: .quad 0
guest_sp: .quad 0
target: .quad 0
        .section .note.GNU-stack,"",@progbits
