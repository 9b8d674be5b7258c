/* tags: engines|pv — desc: pv@2as: the shared-memory doorbell between the engine and its guest-user process (layout, C, C++ and the mapper's assembly).
 *
 * pv@2as runs guest user code in a second host process (pv_user_host) that
 * maps only the current guest process's user pages. The engine and that
 * process share one memfd of two page-aligned parts:
 *
 *  - the door (`struct pv_door`, read-write in the user process): a trap
 *    (SIGSYS from a guest `syscall`, a fault, the engine's preempt signal)
 *    is posted by the user process: frame filled in, `to_engine`
 *    incremented (futex word), woken only when the engine sleeps (a waiter
 *    spins briefly first: pv_spin_bound below). To resume guest user code
 *    without mapping changes the engine fills `resume` and increments
 *    `to_user`. Everything in the door is writable by guest user code (it
 *    runs in the process that maps it): the engine treats it as untrusted
 *    guest data.
 *  - the mapping log (`struct pv_maplog`, READ-ONLY in the user process):
 *    to resume with mapping changes the engine writes them there and bumps
 *    `seq`; the process's mapper thread (uh_mapper.S: registers only, no
 *    stack, every signal blocked, its own seccomp filter) applies them, then
 *    writes a token to the done eventfd and increments `to_user` itself.
 *    Guest user code can neither write the log nor make the mapper run, and
 *    its own thread may not mmap at all: which frames the process maps is
 *    the engine's alone to say.
 */
#ifndef VTB_PV_DOOR_H
#define VTB_PV_DOOR_H

#define PV_DOOR_MAGIC 0x726f6f64326173ULL /* "2asdoor" */
#define PV_DOOR_LOG_MAX 8192              /* mapping changes per resume (overflow: reset + replay) */
#define PV_DOOR_FPU_MAX 0x3000            /* = PV_FPU_AREA */
#define PV_DOOR_MEMFD 3                   /* the user process's fds: guest RAM */
#define PV_DOOR_DOORFD 4                  /* the door and the mapping log */
#define PV_DOOR_DONEFD 5                  /* an eventfd: one token per mapping log applied (mapper -> engine) */

/* Log operations. */
#define PV_LOG_MAP 1   /* mmap(va, len, prot, MAP_SHARED|MAP_FIXED, guest RAM, gpa) */
#define PV_LOG_UNMAP 2 /* back to reserved PROT_NONE */
#define PV_LOG_RESET 3 /* the whole user range back to reserved (log overflowed: a replay follows) */

/* Posted reasons beyond host signal numbers. */
#define PV_DOOR_BOOTED 0x1000   /* the user process is ready (first post) */
#define PV_DOOR_BAD_SETUP 0x1002  /* set-up failed: `err` = errno, `trapno` = step */

/* Byte offsets the mapper's assembly uses (checked against the structs in
 * uh_main.c). */
#define PV_MAPLOG_SEQ 0
#define PV_MAPLOG_N 8
#define PV_MAPLOG_LOG 16
#define PV_DOOR_LOG_BYTES 32
#define PV_DOOR_OFF_TO_USER 16
#define PV_DOOR_OFF_USER_SLEEPS 20
#define PV_DOOR_OFF_MAPPER_SLEEPS 24
#define PV_DOOR_OFF_MAPPER_READY 28
#define PV_DOOR_OFF_USER_MAPS 32
#define PV_DOOR_OFF_USER_LOG_APPLIED 40
#define PV_DOOR_OFF_MAP_FAIL 48 /* three words: va, errno, 1 (set when a log entry could not be applied) */

#ifndef __ASSEMBLER__
#include <stdint.h>

struct pv_door_log {
  uint64_t op, va, len, gpa_prot; /* gpa | PROT_* bits (low 3) */
};

struct pv_door_frame {
  uint64_t gpr[16]; /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (PvCpu order) */
  uint64_t rip, rflags, fs_base, gs_base;
  uint64_t sig, si_code, trapno, err, addr;
  uint64_t fpu_len;                 /* bytes valid in fpu (an xsave image, standard format); 0 = none */
};

struct pv_door {
  uint64_t magic;
  /* Futex words (shared: two processes) and the sleeping flags that say
   * whether a post must wake the other side. */
  volatile uint32_t to_engine, engine_sleeps;
  volatile uint32_t to_user, user_sleeps;
  volatile uint32_t mapper_sleeps;   /* the mapper waits on the log's seq */
  volatile uint32_t mapper_ready;    /* set-up: 1 its filter is in, else -errno (futex word) */
  uint64_t user_maps, user_log_applied;  /* kept by the mapper */
  uint64_t map_fail_va, map_fail_errno, map_failed;  /* the mapper's last words (it exits with status 3) */
  uint64_t mapper_tid;               /* set-up: the mapper thread (affinity) */
  /* TSC at each side's last post (the waiter learns how long it waited). */
  volatile uint64_t trap_tsc, resume_tsc;
  /* Set-up: from the engine. */
  uint64_t engine_pid;
  uint32_t preempt_sig, fsgs;
  uint64_t spin_cap;                /* most TSC ticks to spin before a futex wait (0: never) */
  uint32_t cmd_exit;                /* the user process exits at its next wake-up */
  /* Counters kept by the user process (read by the engine as data); each
   * resume it received is one spin (caught spinning) or one futex wait. */
  uint64_t user_futex_waits, user_spins, user_spin_misses, user_wakes;
  /* Trap: user -> engine; resume: engine -> user. */
  struct pv_door_frame trap, resume;
  uint8_t trap_fpu[PV_DOOR_FPU_MAX] __attribute__((aligned(64)));
  uint8_t resume_fpu[PV_DOOR_FPU_MAX] __attribute__((aligned(64)));
};

/* The mapping log: the page after the door's pages, read-only in the user
 * process. */
struct pv_maplog {
  volatile uint32_t seq; /* futex word: bumped when a log is ready */
  uint32_t pad;
  uint64_t n;            /* entries (at most PV_DOOR_LOG_MAX) */
  struct pv_door_log log[PV_DOOR_LOG_MAX];
};
#define PV_DOOR_BYTES ((sizeof(struct pv_door) + 4095) & ~(size_t)4095)
#define PV_MAPLOG_BYTES ((sizeof(struct pv_maplog) + 4095) & ~(size_t)4095)

/* Adaptive hand-over (both sides): a waiter spins (`pause`) at most
 * pv_spin_bound() TSC ticks for the peer's post, then sleeps on the futex.
 * The bound follows a moving average of how long the peer took to post,
 * measured from the start of each wait to the peer's post (its TSC in the
 * door, so a waiter's own futex wake-up is not in it): twice that, at most
 * `cap`; no spinning at all once the average is above `cap` (the peer is
 * busy, descheduled or asleep: a spinner would only take a CPU it needs).
 * Every wait, spun or slept, teaches the average, so spinning resumes when
 * the peer gets fast again. */
struct pv_spin {
  uint64_t cap; /* TSC ticks; 0 = futex only (one CPU, pinned, or switched off) */
  uint64_t avg; /* ticks from a wait's start to the peer's post, 1/8 moving average */
};

static inline uint64_t pv_spin_bound(const struct pv_spin* s) {
  if (!s->cap || s->avg > s->cap) return 0;
  const uint64_t b = 2 * s->avg + s->cap / 16;
  return b < s->cap ? b : s->cap;
}

/* One wait's measure: the peer posted at `peer_tsc`, the wait began at `t0`
 * (a post before the wait counts 0; the door is guest-writable: clamped). */
static inline void pv_spin_learn(struct pv_spin* s, uint64_t peer_tsc, uint64_t t0) {
  uint64_t w = peer_tsc > t0 ? peer_tsc - t0 : 0;
  if (w > 4 * s->cap) w = 4 * s->cap;
  s->avg = s->avg - s->avg / 8 + w / 8;
}

/* Spin until *word != seen (1) or `bound` ticks after t0 (0). */
static inline int pv_spin_until(volatile uint32_t* word, uint32_t seen, uint64_t t0, uint64_t bound) {
  do {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen) return 1;
    __builtin_ia32_pause();
  } while (__builtin_ia32_rdtsc() - t0 < bound);
  return __atomic_load_n(word, __ATOMIC_ACQUIRE) != seen;
}

#endif /* !__ASSEMBLER__ */
#endif
