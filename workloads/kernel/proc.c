/* tags: kernel|proc — desc: processes: table, round-robin scheduler, fork (COW), exit, wait, sleep, faults, mmap. */
#include "kern.h"

static struct proc procs[NPROC];
static uint8_t kstacks[NPROC][KSTACK_SIZE] __attribute__((aligned(16)));
struct proc *cur;
volatile uint64_t ticks;
static int next_pid = 1;
static uint64_t cur_cr3;
static int nslots;    /* 1 + highest slot ever used: bounds every scan */
static int nsleeping; /* processes in P_SLEEPING */
static int ntimed;    /* processes in a wait with a deadline */

struct trapframe *proc_tf(struct proc *p) {
  return (struct trapframe *)(p->kstack_top - TBK_TF_SIZE);
}

void proc_load_space(uint64_t pml4) {
  if (pml4 != cur_cr3) {
    plat_new_baseptr(pml4);
    cur_cr3 = pml4;
  }
}

struct proc *proc_alloc(void) {
  for (int i = 0; i < NPROC; i++)
    if (procs[i].state == P_FREE) {
      struct proc *p = &procs[i];
      memset(p, 0, sizeof *p);
      p->pid = next_pid++;
      if (i + 1 > nslots) nslots = i + 1;
      p->kstack_top = (uint64_t)&kstacks[i][KSTACK_SIZE];
      p->wait_for = -1;
      p->mmap_next = VTB_USER_MMAP_BASE;
      return p;
    }
  return 0;
}

/* First run of a new process: swtch "returns" here with the user frame at
 * the top of its kernel stack. */
static void proc_trampoline(void) { plat_enter_user(proc_tf(cur)); }

static void prepare_first_switch(struct proc *p) {
  uint64_t *sp = (uint64_t *)((uint64_t)proc_tf(p) - 16); /* keep the ABI's rsp%16 == 8 at entry */
  *sp = (uint64_t)proc_trampoline;
  for (int i = 0; i < 6; i++) *--sp = 0; /* rbp rbx r12..r15 for swtch */
  p->ksp = (uint64_t)sp;
}

static void switch_to(struct proc *p) {
  struct proc *old = cur;
  cur = p;
  plat_set_kernel_stack(p->kstack_top);
  proc_load_space(p->pml4);
  kstats.ctx_switches++;
  swtch(&old->ksp, p->ksp);
}

static int any_alive(void) {
  for (int i = 0; i < nslots; i++)
    if (procs[i].state == P_RUNNABLE || procs[i].state == P_SLEEPING) return 1;
  return 0;
}

void sched(void) {
  for (;;) {
    int base = (int)(cur - procs);
    for (int k = 1; k <= nslots; k++) {
      int i = base + k;
      if (i >= nslots) i -= nslots;
      struct proc *p = &procs[i];
      if (p->state != P_RUNNABLE) continue;
      if (p != cur) switch_to(p);
      return;
    }
    if (!any_alive()) panic("deadlock: no runnable or sleeping process");
    plat_idle(); /* the timer wakes sleepers */
  }
}

void proc_tick(int from_user) {
  ticks++;
  for (int i = 0; (nsleeping || ntimed) && i < nslots; i++) {
    struct proc *p = &procs[i];
    if (p->state == P_SLEEPING && ticks >= p->wake_tick) p->state = P_RUNNABLE, nsleeping--;
    if (p->state == P_WAITING && p->wait_deadline && ticks >= p->wait_deadline) p->state = P_RUNNABLE;
  }
  if (from_user) sched(); /* preempt: round-robin among runnable processes */
}

void proc_start_init(const char *cmdline) {
  /* Options "key=value" come first; then the program and its arguments.
   * "run=NAME" names the program explicitly. */
  static char buf[VTB_CMDLINE_MAX];
  static char *argv[32];
  int argc = 0;
  strlcpy(buf, cmdline, sizeof buf);
  const char *prog = 0;
  int opts = 1;
  for (char *s = buf; *s && argc < 31;) {
    while (*s == ' ' || *s == '\t' || *s == '\n') *s++ = 0;
    if (!*s) break;
    char *tok = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n') s++;
    if (*s) *s++ = 0;
    char *eq = 0;
    for (char *c = tok; *c; c++)
      if (*c == '=') { eq = c; break; }
    if (opts && eq) {
      *eq = 0;
      if (!strcmp(tok, "run")) prog = eq + 1, argv[argc++] = eq + 1, opts = 0;
      else if (!strcmp(tok, "sce") && !strcmp(eq + 1, "0")) syscall_insn_off(0);
      else if (!strcmp(tok, "sce") && !strcmp(eq + 1, "cpl3") && plat_syscall_entry()) syscall_insn_off(1);
      else kprintf("tbk: ignoring unknown option %s\n", tok);
      continue;
    }
    opts = 0;
    argv[argc++] = tok;
  }
  if (!argc) argv[argc++] = "hello";
  prog = argv[0];
  argv[argc] = 0;

  struct proc *p = proc_alloc();
  strlcpy(p->name, prog, sizeof p->name);
  long r = proc_exec_image(p, prog, argc, argv);
  if (r < 0) panic("cannot start program '%s' (error %ld)", prog, -r);
  p->state = P_RUNNABLE;
  cur = p;
  plat_set_kernel_stack(p->kstack_top);
  proc_load_space(p->pml4);
  plat_enter_user(proc_tf(p));
}

long proc_fork(struct trapframe *tf) {
  struct proc *c = proc_alloc();
  if (!c) return -VTB_ENOMEM;
  c->pml4 = vm_new_space();
  if (!c->pml4 || vm_fork_copy(cur->pml4, c->pml4) < 0) {
    if (c->pml4) vm_free_space(c->pml4);
    c->state = P_FREE;
    return -VTB_ENOMEM;
  }
  c->ppid = cur->pid;
  c->mmap_next = cur->mmap_next;
  memcpy(c->vma, cur->vma, sizeof c->vma);
  memcpy(c->name, cur->name, sizeof c->name);
  struct trapframe *ctf = proc_tf(c);
  *ctf = *tf;
  ctf->rax = 0;
  prepare_first_switch(c);
  c->state = P_RUNNABLE;
  kstats.forks++;
  return c->pid;
}

/* q becomes a zombie with `status` (q is cur, or a process parked in sched()). */
static void proc_end(struct proc *q, int status) {
  if (q->state == P_SLEEPING) nsleeping--;
  if (q->wait_deadline) ntimed--, q->wait_deadline = 0;
  vm_free_space(q->pml4);
  q->pml4 = kernel_pml4_pa;
  q->status = status;
  q->state = P_ZOMBIE;
  for (int i = 0; i < nslots; i++) {
    struct proc *p = &procs[i];
    if (p->state != P_FREE && p->ppid == q->pid) p->ppid = 1; /* orphans go to init */
    if (p->state == P_WAITING && p->pid == q->ppid && (p->wait_for < 0 || p->wait_for == q->pid))
      p->state = P_RUNNABLE;
  }
}

void proc_exit(int status) {
  if (cur->pid == 1) kexit((status & VTB_WSTATUS_KILLED) ? VTB_EXIT_FAIL : (uint32_t)(status & 0xff));
  proc_load_space(kernel_pml4_pa);
  proc_end(cur, status);
  sched();
  panic("zombie %d scheduled", cur->pid);
}

static int descends_from(const struct proc *p, int anc) {
  for (int hops = 0; hops < NPROC && p->ppid > 0; hops++) {
    if (p->ppid == anc) return 1;
    const struct proc *up = 0;
    for (int i = 0; i < nslots && !up; i++)
      if (procs[i].state != P_FREE && procs[i].pid == p->ppid) up = &procs[i];
    if (!up) return 0;
    p = up;
  }
  return 0;
}

/* kill(pid): end a descendant of the caller (pid > 0) or all of them (-1),
 * as if it had exited with VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL. The
 * targets are parked in sched() (the kernel is not preemptive), so their
 * kernel stacks are simply abandoned. Their children go to init. */
long proc_kill_pid(int pid) {
  int mark[NPROC] = {0}, n = 0;
  for (int i = 0; i < nslots; i++) {
    struct proc *p = &procs[i];
    if (p == cur || p->state == P_FREE || p->state == P_ZOMBIE) continue;
    if ((pid == -1 || p->pid == pid) && descends_from(p, cur->pid)) mark[i] = 1, n++;
  }
  if (!n) {
    if (pid == -1) return 0;
    for (int i = 0; i < nslots; i++)
      if (procs[i].state != P_FREE && procs[i].pid == pid) return procs[i].state == P_ZOMBIE ? 0 : -VTB_EPERM;
    return -VTB_ESRCH;
  }
  for (int i = 0; i < nslots; i++)
    if (mark[i]) proc_end(&procs[i], VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL);
  return n;
}

long proc_wait(int pid, uint64_t status_uva, uint64_t timeout) {
  const uint64_t deadline = timeout ? ticks + timeout : 0;
  if (status_uva && !user_range_ok(status_uva, 4, 1)) return -VTB_EFAULT;
  for (;;) {
    int have = 0;
    for (int i = 0; i < nslots; i++) {
      struct proc *p = &procs[i];
      if (p->state == P_FREE || p->ppid != cur->pid || (pid > 0 && p->pid != pid)) continue;
      have = 1;
      if (p->state != P_ZOMBIE) continue;
      int cpid = p->pid;
      if (status_uva && copy_to_user(status_uva, &p->status, sizeof p->status) < 0) return -VTB_EFAULT;
      p->state = P_FREE;
      return cpid;
    }
    if (!have) return -VTB_ECHILD;
    if (deadline && ticks >= deadline) return 0;
    cur->state = P_WAITING;
    cur->wait_for = pid > 0 ? pid : -1;
    if (deadline) cur->wait_deadline = deadline, ntimed++;
    sched();
    if (cur->wait_deadline) cur->wait_deadline = 0, ntimed--;
  }
}

long proc_sleep(uint64_t n) {
  if (n) {
    cur->wake_tick = ticks + n;
    cur->state = P_SLEEPING;
    nsleeping++;
  }
  sched();
  return 0;
}

int vma_find(struct proc *p, uint64_t va) {
  for (int i = 0; i < NVMA; i++)
    if (p->vma[i].hi && va >= p->vma[i].lo && va < p->vma[i].hi) return i;
  return -1;
}

int user_range_ok(uint64_t va, uint64_t len, int write) {
  if (va + len < va || va + len > VTB_USER_TOP) return 0;
  for (uint64_t a = va & PAGE_MASK; a < va + len; a += PAGE) {
    int i = vma_find(cur, a);
    if (i < 0 || (write && !(cur->vma[i].flags & PTE_W))) return 0;
  }
  return 1;
}

int user_fault(uint64_t va, uint64_t err) {
  int i = vma_find(cur, va);
  if (i < 0) return 0;
  int write = (err & 2) != 0;
  if (err & 1) return write ? vm_cow_fault(cur->pml4, va) : 0;
  if (write && !(cur->vma[i].flags & PTE_W)) return 0;
  uint64_t pa = frame_alloc(1);
  if (!pa) return 0;
  if (vm_map(cur->pml4, va & PAGE_MASK, pa, PTE_U | (cur->vma[i].flags & PTE_W)) < 0) {
    frame_unref(pa);
    return 0;
  }
  plat_pte_flush();
  kstats.demand_zero++;
  return 1;
}

long proc_mmap(uint64_t hint, uint64_t len, uint64_t prot) {
  (void)hint; /* placement is the kernel's: a bump pointer in the mmap area */
  if (!len || len > (1ULL << 30)) return -VTB_EINVAL;
  len = (len + PAGE - 1) & PAGE_MASK;
  for (int i = 0; i < NVMA; i++)
    if (!cur->vma[i].hi) {
      uint64_t lo = cur->mmap_next;
      if (lo + len > VTB_USER_STACK_TOP - (64ULL << 20)) return -VTB_ENOMEM;
      cur->vma[i] = (struct vma){lo, lo + len, (prot & VTB_PROT_WRITE) ? PTE_W : 0};
      cur->mmap_next = lo + len + PAGE; /* one guard page */
      return (long)lo;
    }
  return -VTB_ENOMEM;
}

long proc_munmap(uint64_t addr, uint64_t len) {
  if ((addr & (PAGE - 1)) || !len || addr + len < addr || addr + len > VTB_USER_TOP) return -VTB_EINVAL;
  uint64_t lo = addr, hi = (addr + len + PAGE - 1) & PAGE_MASK;
  for (int i = 0; i < NVMA; i++) {
    struct vma *v = &cur->vma[i];
    if (!v->hi || v->hi <= lo || v->lo >= hi) continue;
    if (lo <= v->lo && hi >= v->hi) {
      v->lo = v->hi = 0;
    } else if (lo <= v->lo) {
      v->lo = hi;
    } else if (hi >= v->hi) {
      v->hi = lo;
    } else {
      int j = 0;
      while (j < NVMA && cur->vma[j].hi) j++;
      if (j == NVMA) return -VTB_ENOMEM;
      cur->vma[j] = (struct vma){hi, v->hi, v->flags};
      v->hi = lo;
    }
  }
  vm_unmap_range(cur->pml4, lo, hi);
  /* Unmapping the top of the mmap area lowers the bump pointer to the end
   * (+ guard) of the highest mapping left, so a map / unmap loop reuses its
   * addresses and the page tables already built for them, as Linux's
   * allocator reuses a freed hole (before: tables for 4 MiB of new
   * addresses a round of memtouch, never freed, each one a direct-map page
   * that a pv@mprotect engine walks at every protection switch). */
  if (hi + PAGE >= cur->mmap_next) {
    uint64_t top = VTB_USER_MMAP_BASE;
    for (int i = 0; i < NVMA; i++) {
      const struct vma *v = &cur->vma[i];
      if (v->hi && v->lo >= VTB_USER_MMAP_BASE && v->hi < VTB_USER_STACK_TOP - (64ULL << 20) && v->hi + PAGE > top)
        top = v->hi + PAGE;
    }
    if (top < cur->mmap_next) cur->mmap_next = top;
  }
  return 0;
}
