/* tags: engines|pv — desc: pv@2as user process: maps the current guest process's user pages, runs guest user code, posts its traps to the engine.
 *
 * A freestanding static PIE (no libc: nothing of the host but this file,
 * uh_entry.S and uh_mapper.S is mapped here, placed by ASLR above the guest
 * window). Guest user code runs only by sigreturn out of the trap handler:
 * each trap (SIGSYS from a guest `syscall`, a fault, the engine's preempt
 * signal) posts the frame to the door, waits for the engine's resume and
 * returns into the resumed guest state. Mappings are the mapper thread's
 * (uh_mapper.S): it applies the engine's read-only log before the resume
 * reaches this thread (engines/pv/pv_door.h).
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>

#include "common/abi/vtb_abi.h"
#include "engines/pv/pv_door.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#define UH_SUD_ON 1 /* PR_SYS_DISPATCH_ON: syscalls outside the region raise SIGSYS */
#define UH_SA_RESTORER 0x04000000 /* the kernel's flag: sa_restorer is set */

long uh_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
long uh_start_mapper(const struct pv_maplog* log, struct pv_door* door, const struct sock_fprog* filter);
void uh_restorer(void);
void uh_boot_trap(void);
extern const char uh_sys_begin[], uh_sys_end[];

static struct pv_door* door;
static int booted;
static long mapper_tid;
static uint32_t seen_to_user;

/* What uh_mapper.S reads at fixed offsets. */
_Static_assert(offsetof(struct pv_maplog, seq) == PV_MAPLOG_SEQ, "maplog seq");
_Static_assert(offsetof(struct pv_maplog, n) == PV_MAPLOG_N, "maplog n");
_Static_assert(offsetof(struct pv_maplog, log) == PV_MAPLOG_LOG, "maplog log");
_Static_assert(sizeof(struct pv_door_log) == PV_DOOR_LOG_BYTES, "log entry");
_Static_assert(offsetof(struct pv_door_log, op) == 0 && offsetof(struct pv_door_log, va) == 8 &&
                   offsetof(struct pv_door_log, len) == 16 && offsetof(struct pv_door_log, gpa_prot) == 24,
               "log entry fields");
_Static_assert(offsetof(struct pv_door, to_user) == PV_DOOR_OFF_TO_USER, "to_user");
_Static_assert(offsetof(struct pv_door, user_sleeps) == PV_DOOR_OFF_USER_SLEEPS, "user_sleeps");
_Static_assert(offsetof(struct pv_door, mapper_sleeps) == PV_DOOR_OFF_MAPPER_SLEEPS, "mapper_sleeps");
_Static_assert(offsetof(struct pv_door, mapper_ready) == PV_DOOR_OFF_MAPPER_READY, "mapper_ready");
_Static_assert(offsetof(struct pv_door, user_maps) == PV_DOOR_OFF_USER_MAPS, "user_maps");
_Static_assert(offsetof(struct pv_door, user_log_applied) == PV_DOOR_OFF_USER_LOG_APPLIED, "user_log_applied");
_Static_assert(offsetof(struct pv_door, map_fail_va) == PV_DOOR_OFF_MAP_FAIL &&
                   offsetof(struct pv_door, map_fail_errno) == PV_DOOR_OFF_MAP_FAIL + 8 &&
                   offsetof(struct pv_door, map_failed) == PV_DOOR_OFF_MAP_FAIL + 16,
               "map_fail");

/* The compiler may emit calls to these. `rep movsb`/`stosb`: each trap
 * copies the FP image (~2.5 KiB) in and out, a byte loop would cost ~1 µs. */
void* memcpy(void* d, const void* s, size_t n) {
  void* o = d;
  __asm__ volatile("rep movsb" : "+D"(o), "+S"(s), "+c"(n) : : "memory");
  return d;
}
void* memset(void* d, int c, size_t n) {
  void* o = d;
  __asm__ volatile("rep stosb" : "+D"(o), "+c"(n) : "a"(c) : "memory");
  return d;
}

static long sys3(long nr, long a, long b, long c) { return uh_syscall(nr, a, b, c, 0, 0, 0); }
static int failed(long r) { return (unsigned long)r > -4096UL; }
/* Exit status: 0 told to (or the engine is gone), 2 the door is unusable. */
static __attribute__((noreturn)) void die_with(long status) {
  for (;;) sys3(SYS_exit_group, status, 0, 0);
}
static __attribute__((noreturn)) void die(void) { die_with(0); }

static void futex_wait(volatile uint32_t* w, uint32_t val) {
  struct timespec ts = {1, 0}; /* wake up once a second to check the engine is still there */
  uh_syscall(SYS_futex, (long)w, FUTEX_WAIT, (long)val, (long)&ts, 0, 0);
  if (sys3(SYS_getppid, 0, 0, 0) != (long)door->engine_pid) die(); /* the engine is gone */
}

static void post(void) {
  door->trap_tsc = __builtin_ia32_rdtsc();
  __atomic_store_n(&door->to_engine, door->to_engine + 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&door->engine_sleeps, __ATOMIC_SEQ_CST)) {
    ++door->user_wakes;
    uh_syscall(SYS_futex, (long)&door->to_engine, FUTEX_WAKE, 1, 0, 0, 0);
  }
}

static struct pv_spin spin; /* this side's hand-over policy (pv_door.h) */

/* Spin briefly, then sleep: counted once per resume, when it came. */
static void wait_resume(void) {
  const uint32_t seen = seen_to_user;
  const uint64_t t0 = __builtin_ia32_rdtsc();
  spin.cap = door->spin_cap;
  const uint64_t bound = pv_spin_bound(&spin);
  if (bound && pv_spin_until(&door->to_user, seen, t0, bound)) {
    ++door->user_spins;
  } else {
    if (bound) ++door->user_spin_misses;
    __atomic_store_n(&door->user_sleeps, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&door->to_user, __ATOMIC_SEQ_CST) == seen) futex_wait(&door->to_user, seen);
    __atomic_store_n(&door->user_sleeps, 0, __ATOMIC_SEQ_CST);
    ++door->user_futex_waits;
  }
  seen_to_user = __atomic_load_n(&door->to_user, __ATOMIC_ACQUIRE);
  pv_spin_learn(&spin, door->resume_tsc, t0);
  if (door->cmd_exit) die();
}

/* Report a failure to the engine and wait to be told to exit. */
static __attribute__((noreturn)) void fail(uint64_t what, uint64_t err, uint64_t addr) {
  door->trap.sig = what;
  door->trap.err = err;
  door->trap.addr = addr;
  for (;;) {
    post();
    wait_resume();
  }
}

/* Size of the xsave image in a signal frame (the fxsave software bytes). */
static uint64_t frame_fpu_len(const uint8_t* fx) {
  uint32_t magic = 0, size = 0;
  memcpy(&magic, fx + 464, 4);
  memcpy(&size, fx + 464 + 16, 4);
  if (magic != 0x46505853U) return 512;
  return size < PV_DOOR_FPU_MAX ? size : PV_DOOR_FPU_MAX;
}

static const int kGreg[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                              REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

static void save(int sig, const siginfo_t* si, const ucontext_t* uc) {
  struct pv_door_frame* t = &door->trap;
  const greg_t* g = uc->uc_mcontext.gregs;
  for (int i = 0; i < 16; ++i) t->gpr[i] = (uint64_t)g[kGreg[i]];
  t->rip = (uint64_t)g[REG_RIP];
  t->rflags = (uint64_t)g[REG_EFL];
  t->sig = (uint64_t)sig;
  t->si_code = (uint64_t)(int64_t)si->si_code;
  t->trapno = (uint64_t)g[REG_TRAPNO];
  t->err = (uint64_t)g[REG_ERR];
  t->addr = (uint64_t)si->si_addr; /* = si_call_addr for SIGSYS (same offset) */
  if (door->fsgs) {
    __asm__ volatile("rdfsbase %0" : "=r"(t->fs_base));
    __asm__ volatile("rdgsbase %0" : "=r"(t->gs_base));
  } else {
    sys3(SYS_arch_prctl, ARCH_GET_FS, (long)&t->fs_base, 0);
    sys3(SYS_arch_prctl, ARCH_GET_GS, (long)&t->gs_base, 0);
  }
  const uint8_t* fx = (const uint8_t*)uc->uc_mcontext.fpregs;
  t->fpu_len = fx ? frame_fpu_len(fx) : 0;
  if (fx) memcpy(door->trap_fpu, fx, t->fpu_len);
}

static void restore(ucontext_t* uc) {
  const struct pv_door_frame* r = &door->resume;
  greg_t* g = uc->uc_mcontext.gregs;
  for (int i = 0; i < 16; ++i) g[kGreg[i]] = (greg_t)r->gpr[i];
  g[REG_RIP] = (greg_t)r->rip;
  g[REG_EFL] = (greg_t)r->rflags;
  /* 64-bit user code segment (a guest far jump does not survive a trap). */
  g[REG_CSGSFS] = (greg_t)(((uint64_t)g[REG_CSGSFS] & ~0xffffULL) | 0x33);
  if (door->fsgs) {
    __asm__ volatile("wrfsbase %0" ::"r"(r->fs_base));
    __asm__ volatile("wrgsbase %0" ::"r"(r->gs_base));
  } else {
    sys3(SYS_arch_prctl, ARCH_SET_FS, (long)r->fs_base, 0);
    sys3(SYS_arch_prctl, ARCH_SET_GS, (long)r->gs_base, 0);
  }
  uint8_t* fx = (uint8_t*)uc->uc_mcontext.fpregs;
  if (fx && r->fpu_len) {
    /* Everything but the frame's software bytes (464..511), within both sizes. */
    const uint64_t have = frame_fpu_len(fx), n = r->fpu_len < have ? r->fpu_len : have;
    memcpy(fx, door->resume_fpu, n < 464 ? n : 464);
    if (n > 512) memcpy(fx + 512, door->resume_fpu + 512, n - 512);
  }
}

static void handler(int sig, siginfo_t* si, void* ucv) {
  /* Signal delivery keeps the guest's EFLAGS.AC: with it set, a misaligned
   * access here would be a fatal #AC (every trap signal is blocked). */
  __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
  ucontext_t* uc = ucv;
  if (!booted) {
    booted = 1;
    door->trap.sig = PV_DOOR_BOOTED;
    door->mapper_tid = (uint64_t)mapper_tid;
  } else {
    save(sig, si, uc);
  }
  post();
  wait_resume();
  restore(uc);
}

#define UH_LD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define UH_JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define UH_RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

/* What the guest thread may still ask of the host once guest code can run:
 * guest user code that jumps onto the system-call stub gets no more. Any
 * other call fails with EPERM: no mmap/mprotect/mremap/munmap/madvise at
 * all (the mapper maps), no read/write/pwrite of guest RAM, no new fds, no
 * signals to others, no thread exit that would leave the mapper alone. */
static const struct sock_filter guest_filter[] = {
    /*  0 */ UH_LD(arch),
    /*  1 */ UH_JEQ(AUDIT_ARCH_X86_64, 1, 0),
    /*  2 */ UH_RET(SECCOMP_RET_KILL_PROCESS),
    /*  3 */ UH_LD(nr),
    /*  4 */ UH_JEQ(SYS_futex, 5, 0),
    /*  5 */ UH_JEQ(SYS_getppid, 4, 0),
    /*  6 */ UH_JEQ(SYS_exit_group, 3, 0),
    /*  7 */ UH_JEQ(SYS_rt_sigreturn, 2, 0),
    /*  8 */ UH_JEQ(SYS_arch_prctl, 1, 0),
    /*  9 */ UH_RET(SECCOMP_RET_ERRNO | 1 /* EPERM */),
    /* 10 */ UH_RET(SECCOMP_RET_ALLOW),
};

/* The mapper's (uh_mapper.S): futex; mmap anonymous (reserve) or of guest
 * RAM (fd 3) exactly MAP_SHARED|MAP_FIXED; write to the done eventfd;
 * exit_group. Nothing else. */
static const struct sock_filter mapper_filter[] = {
    /*  0 */ UH_LD(arch),
    /*  1 */ UH_JEQ(AUDIT_ARCH_X86_64, 1, 0),
    /*  2 */ UH_RET(SECCOMP_RET_KILL_PROCESS),
    /*  3 */ UH_LD(nr),
    /*  4 */ UH_JEQ(SYS_futex, 13, 0),
    /*  5 */ UH_JEQ(SYS_exit_group, 12, 0),
    /*  6 */ UH_JEQ(SYS_write, 8, 0),
    /*  7 */ UH_JEQ(SYS_mmap, 0, 9),
    /*  8 */ UH_LD(args[4]), /* fd, low word */
    /*  9 */ UH_JEQ(0xffffffffU, 0, 2),
    /* 10 */ UH_LD(args[3]), /* anonymous: flags must say so */
    /* 11 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_ANONYMOUS, 6, 5),
    /* 12 */ UH_JEQ(PV_DOOR_MEMFD, 0, 4),
    /* 13 */ UH_LD(args[3]), /* guest RAM: exactly MAP_SHARED|MAP_FIXED */
    /* 14 */ UH_JEQ(MAP_SHARED | MAP_FIXED, 3, 2),
    /* 15 */ UH_LD(args[0]), /* write: the done eventfd only */
    /* 16 */ UH_JEQ(PV_DOOR_DONEFD, 1, 0),
    /* 17 */ UH_RET(SECCOMP_RET_ERRNO | 1 /* EPERM */),
    /* 18 */ UH_RET(SECCOMP_RET_ALLOW),
};
#undef UH_LD
#undef UH_JEQ
#undef UH_RET

struct ksigaction {
  void (*handler)(int, siginfo_t*, void*);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

void uh_main(uint64_t* sp) {
  (void)sp;
  door = (struct pv_door*)uh_syscall(SYS_mmap, 0, PV_DOOR_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, PV_DOOR_DOORFD, 0);
  if (failed((long)door) || door->magic != PV_DOOR_MAGIC) die_with(2);
  /* The mapping log: read-only here, and this thread will have no mmap to change that. */
  const struct pv_maplog* log = (const struct pv_maplog*)uh_syscall(SYS_mmap, 0, PV_MAPLOG_BYTES, PROT_READ, MAP_SHARED,
                                                                    PV_DOOR_DOORFD, PV_DOOR_BYTES);
  if (failed((long)log)) die_with(2);
  long step = 0;
  long r = 0;
  /* This process must sit above the guest window (static PIE, ASLR). */
  if ((uint64_t)&uh_main < VTB_WINDOW_HI) fail(PV_DOOR_BAD_SETUP, 0, 1);
  /* Die with the engine. */
  step = 2;
  if (failed(r = sys3(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0))) fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  if (sys3(SYS_getppid, 0, 0, 0) != (long)door->engine_pid) die();
  /* The whole window reserved: nothing of ours lands there. */
  step = 3;
  r = uh_syscall(SYS_mmap, VTB_WINDOW_LO, VTB_WINDOW_HI - VTB_WINDOW_LO, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (failed(r) || r != (long)VTB_WINDOW_LO) fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  /* Signals: on an alternate stack (the guest's stack is guest memory). */
  step = 4;
  const long alt = uh_syscall(SYS_mmap, 0, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (failed(alt)) fail(PV_DOOR_BAD_SETUP, (uint64_t)-alt, step);
  stack_t ss = {(void*)alt, 0, 0x10000};
  if (failed(r = sys3(SYS_sigaltstack, (long)&ss, 0, 0))) fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  /* The mapper thread: every signal blocked (it keeps this mask), its own
   * filter, no Syscall User Dispatch (not yet on here). */
  step = 8;
  uint64_t every = ~0ULL;
  if (failed(r = uh_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&every, 0, 8, 0, 0)))
    fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  if (failed(r = uh_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0))) fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  const struct sock_fprog mprog = {(unsigned short)(sizeof mapper_filter / sizeof mapper_filter[0]),
                                   (struct sock_filter*)mapper_filter};
  mapper_tid = uh_start_mapper(log, door, &mprog);
  if (failed(mapper_tid)) fail(PV_DOOR_BAD_SETUP, (uint64_t)-mapper_tid, step);
  while (__atomic_load_n(&door->mapper_ready, __ATOMIC_ACQUIRE) == 0) futex_wait(&door->mapper_ready, 0);
  if (door->mapper_ready != 1) fail(PV_DOOR_BAD_SETUP, (uint64_t)-(int32_t)door->mapper_ready, step);
  step = 5;
  const int sigs[] = {SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, (int)door->preempt_sig};
  uint64_t all = 0;
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; ++i) all |= 1ULL << (sigs[i] - 1);
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; ++i) {
    /* Every trap signal blocked inside the handler: a fault there is fatal (the engine sees it). */
    struct ksigaction sa = {handler, SA_SIGINFO | SA_ONSTACK | UH_SA_RESTORER, uh_restorer, all};
    if (failed(r = uh_syscall(SYS_rt_sigaction, sigs[i], (long)&sa, 0, 8, 0, 0)))
      fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  }
  uint64_t none = 0;
  if (failed(r = uh_syscall(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8, 0, 0)))
    fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  /* From here on, a syscall from anywhere but the stub is a SIGSYS. */
  step = 6;
  if (failed(r = uh_syscall(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, UH_SUD_ON, (long)uh_sys_begin,
                            (long)(uh_sys_end - uh_sys_begin), 0, 0)))
    fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  /* Last: the system calls it may still make (prctl is not one of them). */
  step = 7;
  const struct sock_fprog gprog = {(unsigned short)(sizeof guest_filter / sizeof guest_filter[0]),
                                   (struct sock_filter*)guest_filter};
  if (failed(r = sys3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&gprog))) fail(PV_DOOR_BAD_SETUP, (uint64_t)-r, step);
  uh_boot_trap(); /* the handler never returns here: it resumes guest user code */
  die();
}
