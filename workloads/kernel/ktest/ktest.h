/* tags: kernel|ktest — desc: kernel-mode micro loops and the kernel half of the census (VTB_SYS_KTEST). */
#ifndef TBK_KTEST_H
#define TBK_KTEST_H
#include <stdint.h>
#include "plat/plat.h"

/* Runs kernel test `name` with argument n (an iteration count, or a user
 * pointer for "census"). Returns n (or the count done) or -errno. Called
 * from the system call path with interrupts disabled. */
long ktest_run(const char *name, uint64_t n);

/* Called by trap_dispatch for an exception or interrupt taken in kernel mode
 * that the kernel would otherwise treat as fatal. While a ktest has armed a
 * guarded instruction (KT_ARM), records the vector, resumes at the guard's
 * end and returns 1; otherwise returns 0. */
int ktest_trap(struct trapframe *tf);

/* Guard state, written by the KT_ARM/KT_DISARM assembly. */
extern volatile uint64_t ktest_resume_rip, ktest_resume_rsp;
extern volatile int64_t ktest_vector;   /* -1: no trap since the last arm */
extern volatile uint64_t ktest_trap_cs; /* the frame's cs of that trap */

/* Inline-asm fragments: a guarded sequence is KT_ARM "<insns>" KT_DISARM,
 * clobbering r11; a fault inside resumes after it with rsp restored. */
#define KT_ARM                                    \
  "movq $-1, ktest_vector(%%rip)\n\t"             \
  "leaq 9f(%%rip), %%r11\n\t"                     \
  "movq %%rsp, ktest_resume_rsp(%%rip)\n\t"       \
  "movq %%r11, ktest_resume_rip(%%rip)\n\t"
#define KT_DISARM "\n9:\n\tmovq $0, ktest_resume_rip(%%rip)\n\t"

/* census_kernel.c: fills *out (kernel memory). */
void census_kernel_run(struct vtb_census_report *out);

#endif
