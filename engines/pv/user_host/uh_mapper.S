/* tags: engines|pv — desc: pv@2as user process: the mapper thread, which alone maps guest RAM, from the read-only log (registers only, no stack).
 *
 * The user process's guest thread runs guest user code, which may jump
 * anywhere in the process and write any writable page of it. So the thread
 * that maps guest RAM keeps nothing in memory that guest code can write:
 * no stack (the clone shares the parent's stack pointer, never touched
 * here), its state in registers (saved by the host kernel, not in this
 * process), its input in the mapping log (read-only here: pv_door.h), its
 * own seccomp filter (mmap, futex, write of one token, exit_group), every
 * signal blocked (inherited from the thread that clones it). Guest user
 * code cannot make it run either: it waits on the log's `seq`, which only
 * the engine writes.
 *
 * Registers in the mapper: r12 = the log, r13 = the door, r14 = the last
 * seq seen (at the start: its filter), rbx = entries, r15 = index, rbp = entry.
 */
#include "common/abi/vtb_abi.h"
#include "engines/pv/pv_door.h"

#define SYS_write 1
#define SYS_mmap 9
#define SYS_clone 56
#define SYS_futex 202
#define SYS_exit_group 231
#define SYS_seccomp 317
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define MAP_SHARED_FIXED 0x11         /* MAP_SHARED | MAP_FIXED */
#define MAP_RESERVE_FIXED 0x4032      /* MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED */
/* CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM */
#define CLONE_MAPPER 0x50f00

	.text
/* long uh_start_mapper(const struct pv_maplog *log, struct pv_door *door,
 *                      const struct sock_fprog *filter): the mapper's tid,
 * or -errno. Call with every signal blocked and NO_NEW_PRIVS set, before
 * Syscall User Dispatch (the mapper has none), and keep `filter` alive
 * until door->mapper_ready is set. */
	.globl uh_start_mapper
	.type uh_start_mapper, @function
uh_start_mapper:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rdi, %r12
	mov %rsi, %r13
	mov %rdx, %r14
	mov $CLONE_MAPPER, %edi
	xor %esi, %esi          /* the same stack pointer: the child never uses it */
	xor %edx, %edx
	xor %r10d, %r10d
	xor %r8d, %r8d
	mov $SYS_clone, %eax
	syscall
	test %rax, %rax
	jz .Lchild
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret
	.size uh_start_mapper, .-uh_start_mapper

.Lchild:
	/* Its own filter first (NO_NEW_PRIVS was set before the clone). */
	mov $SYS_seccomp, %eax
	mov $1, %edi            /* SECCOMP_SET_MODE_FILTER */
	xor %esi, %esi
	mov %r14, %rdx
	syscall
	test %rax, %rax
	jz 1f
	movl %eax, PV_DOOR_OFF_MAPPER_READY(%r13)   /* -errno */
	jmp 2f
1:	movl $1, PV_DOOR_OFF_MAPPER_READY(%r13)
2:	lea PV_DOOR_OFF_MAPPER_READY(%r13), %rdi
	mov $FUTEX_WAKE, %esi
	mov $1, %edx
	mov $SYS_futex, %eax
	syscall
	cmpl $1, PV_DOOR_OFF_MAPPER_READY(%r13)
	je 4f
	mov $60, %eax           /* SYS_exit: this thread only; the guest thread reports the set-up failure */
	xor %edi, %edi
	syscall
	ud2
4:
	xor %r14d, %r14d

.Lwait:
	mov PV_MAPLOG_SEQ(%r12), %eax
	cmp %eax, %r14d
	jne .Lwork
	movl $1, PV_DOOR_OFF_MAPPER_SLEEPS(%r13)
	mfence
	mov PV_MAPLOG_SEQ(%r12), %eax
	cmp %eax, %r14d
	jne 3f
	lea PV_MAPLOG_SEQ(%r12), %rdi
	mov $FUTEX_WAIT, %esi
	mov %r14d, %edx
	xor %r10d, %r10d        /* no timeout: the process dies with the engine (PDEATHSIG) */
	mov $SYS_futex, %eax
	syscall
3:	movl $0, PV_DOOR_OFF_MAPPER_SLEEPS(%r13)
	jmp .Lwait

.Lwork:
	mov %eax, %r14d
	mov PV_MAPLOG_N(%r12), %rbx
	mov $PV_DOOR_LOG_MAX, %eax
	cmp %rax, %rbx
	cmova %rax, %rbx
	lea PV_MAPLOG_LOG(%r12), %rbp
	xor %r15d, %r15d
.Lnext:
	cmp %rbx, %r15
	jae .Ldone
	/* Each field is read once, into a register. */
	mov 0(%rbp), %rax       /* op */
	mov 8(%rbp), %rdi       /* va */
	mov 16(%rbp), %rsi      /* len */
	mov 24(%rbp), %r9       /* gpa | prot */
	cmp $PV_LOG_RESET, %rax
	je .Lreset
	/* The user range only: page-aligned, non-empty, no wrap. */
	mov $VTB_WINDOW_LO, %rcx
	cmp %rcx, %rdi
	jb .Lbad
	test %rsi, %rsi
	jz .Lbad
	test $0xfff, %rdi
	jnz .Lbad
	test $0xfff, %rsi
	jnz .Lbad
	mov %rdi, %rcx
	add %rsi, %rcx
	jc .Lbad
	mov $VTB_HOST_RESERVED_KERNEL_LO, %rdx
	cmp %rdx, %rcx
	ja .Lbad
	cmp $PV_LOG_MAP, %rax
	je .Lmap
	cmp $PV_LOG_UNMAP, %rax
	jne .Lbad
.Lreserve:
	xor %edx, %edx          /* PROT_NONE */
	mov $MAP_RESERVE_FIXED, %r10d
	mov $-1, %r8
	xor %r9d, %r9d
	jmp .Lmmap
.Lreset:
	mov $VTB_WINDOW_LO, %rdi
	mov $(VTB_WINDOW_HI - VTB_WINDOW_LO), %rsi
	jmp .Lreserve
.Lmap:
	mov %r9, %rdx
	and $7, %edx            /* prot */
	and $-8, %r9            /* the frame's offset in guest RAM */
	mov $MAP_SHARED_FIXED, %r10d
	mov $PV_DOOR_MEMFD, %r8d
.Lmmap:
	mov $SYS_mmap, %eax
	syscall
	cmp $-4095, %rax
	jae .Lfailed
	incq PV_DOOR_OFF_USER_MAPS(%r13)
	inc %r15
	add $PV_DOOR_LOG_BYTES, %rbp
	jmp .Lnext

.Ldone:
	add %rbx, PV_DOOR_OFF_USER_LOG_APPLIED(%r13)
	/* The engine's token: this log is done with (the engine may write the next). */
	mov $SYS_write, %eax
	mov $PV_DOOR_DONEFD, %edi
	lea uh_mapper_one(%rip), %rsi
	mov $8, %edx
	syscall
	/* Resume the guest thread. */
	lock incl PV_DOOR_OFF_TO_USER(%r13)
	cmpl $0, PV_DOOR_OFF_USER_SLEEPS(%r13)
	je .Lwait
	lea PV_DOOR_OFF_TO_USER(%r13), %rdi
	mov $FUTEX_WAKE, %esi
	mov $1, %edx
	mov $SYS_futex, %eax
	syscall
	jmp .Lwait

.Lbad:
	mov $-22, %rax          /* -EINVAL */
.Lfailed:
	neg %rax
	mov %rdi, PV_DOOR_OFF_MAP_FAIL(%r13)
	mov %rax, PV_DOOR_OFF_MAP_FAIL+8(%r13)
	movq $1, PV_DOOR_OFF_MAP_FAIL+16(%r13)
	mov $SYS_exit_group, %eax
	mov $3, %edi
	syscall
	ud2

	.section .rodata
	.balign 8
uh_mapper_one:
	.quad 1

	.section .note.GNU-stack,"",@progbits
