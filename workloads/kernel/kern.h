/* tags: kernel — desc: tbk shared declarations: direct map, console, memory, processes. */
#ifndef TBK_KERN_H
#define TBK_KERN_H

#include <stddef.h>
#include <stdint.h>
#include "common/abi/vtb_abi.h"
#include "plat/plat.h"

#define PAGE 4096ULL
#define PAGE_MASK (~(PAGE - 1))
#define P2V(pa) ((void *)((uint64_t)(pa) + VTB_KERNEL_VBASE))
#define V2P(va) ((uint64_t)(va) - VTB_KERNEL_VBASE)
#define MAX_RAM (4ULL << 30) /* the kernel uses at most 4 GiB of RAM (QEMU -m 2G puts -initrd near 2 GiB) */

/* x86-64 page-table entry bits */
#define PTE_P   0x001ULL
#define PTE_W   0x002ULL
#define PTE_U   0x004ULL
#define PTE_PS  0x080ULL
#define PTE_COW 0x200ULL /* software bit: copy-on-write */
#define PTE_ADDR 0x000ffffffffff000ULL

/* klib.c */
void *memset(void *d, int c, size_t n);
void page_clear(void *page); /* one rep stosq over a 4 KiB page */
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
size_t strlcpy(char *d, const char *s, size_t n);

/* console.c: deterministic console + control channel */
void kputc(char c);
void kputs(const char *s);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctrl_write(const char *buf, size_t n);
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void kexit(uint32_t code) __attribute__((noreturn));

/* boot.c: normalised boot information */
struct bootcfg {
  uint64_t mem_bytes;
  uint64_t archive_pa, archive_size;
  uint64_t free_lo; /* first free physical byte after kernel (+ archive) */
  char cmdline[VTB_CMDLINE_MAX];
  int from_pvh;
};
extern struct bootcfg boot;
void boot_parse(uint64_t boot_pa);

/* mm.c: physical frames + page tables */
void mm_init(void);
uint64_t frame_alloc(int zero);  /* pa, 0 when out of memory */
void frame_ref(uint64_t pa);
void frame_unref(uint64_t pa);   /* frees at zero */
unsigned frame_refcount(uint64_t pa);
uint64_t mm_free_frames(void);
extern uint64_t kernel_pml4_pa;
uint64_t vm_new_space(void);                 /* new PML4 with the kernel half */
uint64_t *vm_pte(uint64_t pml4, uint64_t va, int create); /* leaf pte or 0 */
int vm_map(uint64_t pml4, uint64_t va, uint64_t pa, uint64_t flags);
void vm_unmap_range(uint64_t pml4, uint64_t lo, uint64_t hi);
int vm_fork_copy(uint64_t parent, uint64_t child); /* COW share of the user half */
void vm_free_space(uint64_t pml4);
int vm_cow_fault(uint64_t pml4, uint64_t va);  /* 1 = resolved */

/* proc.c */
#define NPROC 64
#define NVMA 16
#define KSTACK_SIZE 8192
enum pstate { P_FREE, P_RUNNABLE, P_SLEEPING, P_WAITING, P_ZOMBIE };
struct vma { uint64_t lo, hi; uint64_t flags; }; /* flags: PTE_W or 0 */
struct proc {
  int pid, ppid;
  enum pstate state;
  uint64_t pml4;
  uint64_t ksp;        /* saved kernel rsp (swtch) */
  uint64_t kstack_top;
  uint64_t wake_tick;
  uint64_t wait_deadline; /* a wait with a timeout: the tick it ends (0: none) */
  int wait_for;        /* pid waited for, -1 any */
  int status;          /* exit status */
  uint64_t mmap_next;
  struct vma vma[NVMA];
  char name[VTB_ARCHIVE_NAME_MAX];
};
extern struct proc *cur;
extern volatile uint64_t ticks;
void proc_start_init(const char *cmdline) __attribute__((noreturn));
struct trapframe *proc_tf(struct proc *p);
void sched(void);               /* give up the CPU; returns when cur runs again */
void proc_tick(int from_user);  /* timer: wake sleepers, maybe preempt */
void proc_kill(const char *why, struct trapframe *tf) __attribute__((noreturn));
void proc_exit(int status) __attribute__((noreturn));
long proc_fork(struct trapframe *tf);
long proc_wait(int pid, uint64_t status_uva, uint64_t timeout); /* 0 = timed out */
long proc_kill_pid(int pid); /* pid > 0 or -1: descendants of cur */
long proc_exec(const char *name, uint64_t argv_uva, struct trapframe *tf);
long proc_mmap(uint64_t hint, uint64_t len, uint64_t prot);
long proc_munmap(uint64_t addr, uint64_t len);
long proc_sleep(uint64_t n);
int vma_find(struct proc *p, uint64_t va);     /* index or -1 */
int user_range_ok(uint64_t va, uint64_t len, int write); /* user half, inside vmas */
struct proc *proc_alloc(void);
void proc_load_space(uint64_t pml4); /* CR3 switch, skipped when already loaded */
long proc_exec_image(struct proc *p, const char *name, int argc, char **argv);
int user_fault(uint64_t va, uint64_t err);     /* demand/COW; 1 = resolved */

/* uaccess.c: kernel <-> user memory (the caller checked user_range_ok).
 * 0, or -VTB_EFAULT when a page stays missing (direct path only). */
int copy_from_user(void *dst, uint64_t uva, uint64_t len);
int copy_to_user(uint64_t uva, const void *src, uint64_t len);
/* A NUL-terminated user string (vma-checked per page): its length,
 * -VTB_EFAULT, or -VTB_EINVAL when no NUL comes within max bytes. */
long copy_str_from_user(char *dst, uint64_t uva, uint64_t max);

/* exec.c */
const void *archive_find(const char *name, uint64_t *size);

/* trap.c */
void syscall_insn_off(int lstar_sim); /* kernel options sce=0, sce=cpl3 */

/* swtch.S */
void swtch(uint64_t *save_sp, uint64_t new_sp);

/* kernel counters */
struct kstats {
  uint64_t syscalls, syscall_gp_compat, syscall_pf_compat, page_faults, cow_copies, cow_reuse,
      demand_zero, forks, ctx_switches, timer_ticks;
};
extern struct kstats kstats;

/* dev/pic_pit.c (used by the native plat) */
void pic_pit_init(unsigned hz);
void pic_eoi(void);

#endif
