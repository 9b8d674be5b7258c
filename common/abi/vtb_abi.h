/* tags: abi — desc: the one guest/host ABI of vtb. Included by the guest
 * kernel and library (freestanding C11) and by the host (C++20). Every port
 * number, hypercall number, register convention, boot-info layout, archive
 * format and control-channel record lives here and nowhere else. */
#ifndef VTB_ABI_H
#define VTB_ABI_H

#ifndef __ASSEMBLER__ /* assembly (the guest kernel's boot code) sees the #defines only */
#ifdef __cplusplus
#include <cstdint>
#define VTB_ABI_U64 std::uint64_t
#define VTB_ABI_U32 std::uint32_t
#define VTB_ABI_U16 std::uint16_t
#define VTB_ABI_U8 std::uint8_t
#else
#include <stdint.h>
#define VTB_ABI_U64 uint64_t
#define VTB_ABI_U32 uint32_t
#define VTB_ABI_U16 uint16_t
#define VTB_ABI_U8 uint8_t
#endif
#endif

/* ------------------------------------------------------------------------
 * Guest address layout (same on every engine, see docs/architecture.md).
 * Guest-physical memory starts at 0. The kernel is linked in the lower half:
 * kernel virtual = VTB_KERNEL_VBASE + physical (a direct map of all RAM).
 * User programs live at low addresses from VTB_USER_BASE up to
 * VTB_USER_TOP. The in-process engines (bt, pv) run guest code at host
 * addresses equal to guest addresses inside [VTB_WINDOW_LO, VTB_WINDOW_HI).
 * ---------------------------------------------------------------------- */
#define VTB_KERNEL_VBASE      0x0000080000000000ULL /* 8 TiB: PML4 slot 16 */
#define VTB_KERNEL_PML4_SLOT  16
#define VTB_KERNEL_PHYS_LOAD  0x0000000000100000ULL /* 1 MiB: .boot, then .text */
#define VTB_USER_BASE         0x0000000000400000ULL
#define VTB_USER_TOP          0x0000008000000000ULL /* 512 GiB: PML4 slot 0 only */
#define VTB_WINDOW_LO         0x0000000000010000ULL
#define VTB_WINDOW_HI         0x0000100000000000ULL /* 16 TiB */
#define VTB_PAGE_SIZE         4096ULL
#define VTB_USER_MMAP_BASE    0x0000000100000000ULL /* 4 GiB: anonymous mmap area */
#define VTB_USER_STACK_TOP    VTB_USER_TOP          /* user stacks grow down from here */
/* Host-reserved ranges: the guest kernel never maps anything here. The bt
 * engine puts its translation caches there (within +-2 GiB of the guest code
 * they translate); the pv engine its hypercall page and shared info page. */
#define VTB_HOST_RESERVED_USER_LO   0x0000000040000000ULL /* [1 GiB, 2 GiB) */
#define VTB_HOST_RESERVED_USER_HI   0x0000000080000000ULL
#define VTB_HOST_RESERVED_KERNEL_LO (VTB_KERNEL_VBASE - 0x0000000040000000ULL) /* 1 GiB below */
#define VTB_HOST_RESERVED_KERNEL_HI VTB_KERNEL_VBASE

/* Guest-physical layout of what the host loader writes (our engines). QEMU's
 * PVH path uses its own start-info block; the kernel accepts both. */
#define VTB_BOOTINFO_GPA      0x0000000000007000ULL /* struct vtb_boot_info */
#define VTB_LOADER_PT_GPA     0x0000000000010000ULL /* loader page tables, 64 KiB */
#define VTB_LOADER_PT_SIZE    0x0000000000010000ULL
#define VTB_LOADER_GDT_GPA    0x0000000000008000ULL /* loader GDT (our engines) */
#define VTB_DEFAULT_MEM_MIB   64

/* ------------------------------------------------------------------------
 * Ports.
 * ---------------------------------------------------------------------- */
#define VTB_PORT_UART         0x3f8 /* 16550 subset, console */
#define VTB_PORT_PIC1         0x20  /* 8259 master: 0x20 cmd, 0x21 data */
#define VTB_PORT_PIC2         0xa0  /* 8259 slave:  0xa0 cmd, 0xa1 data */
#define VTB_PORT_PIT          0x40  /* 8254: 0x40..0x42 counters, 0x43 mode */
#define VTB_PORT_NULL         0x80  /* POST port: reads 0, writes ignored (micro in/out) */
#define VTB_PORT_CTRL         0xe9  /* control channel: byte stream of records (below) */
#define VTB_PORT_EXIT         0xf4  /* 32-bit write: guest exit code (QEMU isa-debug-exit) */
#define VTB_PORT_DOORBELL     0x510 /* PV-on-HW doorbell: 32-bit write = hypercall nr */

#define VTB_PIT_HZ            1193182
#define VTB_TIMER_HZ          100   /* the kernel's tick */
#define VTB_IRQ_BASE          0x20  /* PIC remapped: IRQ0 -> vector 0x20 */
#define VTB_IRQ_TIMER         0

/* ------------------------------------------------------------------------
 * Control channel (VTB_PORT_CTRL): the guest writes ASCII lines, one byte
 * per `out`. The host timestamps a line (CLOCK_MONOTONIC) when its '\n'
 * arrives. Records:
 *   "B <phase>\n"            begin phase <phase> (decimal)
 *   "E <phase>\n"            end phase <phase>
 *   "R <key> <value>\n"      a result record (key: [A-Za-z0-9_.:-]+, value: rest of line)
 * QEMU carries the same bytes through its isa-debugcon device at this port,
 * so the reference machine and every engine speak one protocol.
 * ---------------------------------------------------------------------- */
#define VTB_CTRL_BEGIN        'B'
#define VTB_CTRL_END          'E'
#define VTB_CTRL_RESULT       'R'

/* Guest exit codes written to VTB_PORT_EXIT. */
#define VTB_EXIT_OK           0
#define VTB_EXIT_FAIL         1
#define VTB_EXIT_PANIC        0x7d /* kernel panic */

/* ------------------------------------------------------------------------
 * Boot info, written by the host loader at VTB_BOOTINFO_GPA and passed to
 * the kernel's 64-bit entry in %rdi (physical address; the loader mapping
 * identity-maps it). Under QEMU's PVH entry %rdi holds the PVH start info
 * instead (magic 0x336ec578); the kernel converts that.
 * ---------------------------------------------------------------------- */
#define VTB_BOOT_MAGIC        0x31425456u /* "VTB1" */
#define VTB_PVH_MAGIC         0x336ec578u
#define VTB_CMDLINE_MAX       512

#ifndef __ASSEMBLER__
enum vtb_flavor { VTB_FLAVOR_NATIVE = 0, VTB_FLAVOR_PV = 1 };
#endif

#ifndef __ASSEMBLER__
struct vtb_boot_info {
  VTB_ABI_U32 magic;          /* VTB_BOOT_MAGIC */
  VTB_ABI_U32 flavor;         /* enum vtb_flavor */
  VTB_ABI_U64 mem_bytes;      /* guest-physical RAM size, from 0 */
  VTB_ABI_U64 archive_gpa;    /* program archive (struct vtb_archive_header) */
  VTB_ABI_U64 archive_size;
  VTB_ABI_U64 kernel_end_gpa; /* first free physical byte after kernel+archive */
  VTB_ABI_U64 shared_gpa;     /* pv: the shared info page (0 on native) */
  VTB_ABI_U64 hypercall_va;   /* pv: the hypercall page (0 on native) */
  VTB_ABI_U64 reserved[4];
  /* NUL-terminated kernel command line: optional "key=value" kernel options
   * first, then the program name and its arguments, e.g. "forkwait 1000".
   * The option run=NAME names the program explicitly ("run=forkwait 1000").
   * No program named: "hello". Same format in QEMU's -append (PVH). */
  char cmdline[VTB_CMDLINE_MAX];
};
#endif

/* ------------------------------------------------------------------------
 * Program archive: what the kernel `exec`s from. Little-endian:
 *   header, then `count` entries, then the blobs (each 16-byte aligned).
 * ---------------------------------------------------------------------- */
#define VTB_ARCHIVE_MAGIC     0x41425456u /* "VTBA" */
#define VTB_ARCHIVE_NAME_MAX  32

#ifndef __ASSEMBLER__
struct vtb_archive_header {
  VTB_ABI_U32 magic;
  VTB_ABI_U32 count;
};
#endif
#ifndef __ASSEMBLER__
struct vtb_archive_entry {
  char name[VTB_ARCHIVE_NAME_MAX]; /* NUL-terminated */
  VTB_ABI_U64 offset;              /* from the start of the archive */
  VTB_ABI_U64 size;
};
#endif

/* ------------------------------------------------------------------------
 * Guest system calls (user -> tbk), Linux-like register convention:
 * rax = number, rdi rsi rdx r10 r8 r9 = arguments, rax = result (<0: -errno).
 * ---------------------------------------------------------------------- */
#ifndef __ASSEMBLER__
enum vtb_sys {
  VTB_SYS_EXIT = 0,    /* (code) */
  VTB_SYS_WRITE = 1,   /* (fd, buf, len) fd 1/2 = console */
  VTB_SYS_GETPID = 2,  /* () */
  VTB_SYS_FORK = 3,    /* () -> child pid / 0 */
  VTB_SYS_EXEC = 4,    /* (name, argv) */
  VTB_SYS_WAIT = 5,    /* (pid or -1, &status, timeout ticks: 0 = none) -> pid, 0 = timed out */
  VTB_SYS_MMAP = 6,    /* (addr hint, len, prot) anonymous -> addr */
  VTB_SYS_MUNMAP = 7,  /* (addr, len) */
  VTB_SYS_YIELD = 8,   /* () */
  VTB_SYS_SLEEP = 9,   /* (ticks) */
  VTB_SYS_CTRL = 10,   /* (buf, len): bytes to the control channel (records) */
  VTB_SYS_TICKS = 11,  /* () -> timer ticks since boot */
  VTB_SYS_KTEST = 12,  /* (name, n): run a kernel-mode micro loop (workloads) */
  VTB_SYS_KILL = 13,   /* (pid, or -1 = every descendant): end them -> how many */
  VTB_SYS_COUNT
};
#endif

/* ------------------------------------------------------------------------
 * Hypercalls (pv flavor -> pv engine). KVM convention:
 *   rax = number; rbx, rcx, rdx, rsi = arguments; rax = result (<0: -errno).
 * On the pv engine the guest calls VTB_HYPERCALL_VA + 32*nr (the hypercall
 * page, one 32-byte stub per number). On kvm (PV-on-HW) the same numbers
 * go through a 32-bit write of nr to VTB_PORT_DOORBELL with the same
 * argument registers.
 * ---------------------------------------------------------------------- */
#define VTB_HYPERCALL_STUB_SIZE 32

#ifndef __ASSEMBLER__
enum vtb_hypercall {
  VTB_HC_SET_TRAP_TABLE = 0, /* (table va, entries) struct vtb_trap_info[] */
  VTB_HC_MMU_UPDATE = 1,     /* (reqs va, count, &done) struct vtb_mmu_update[] */
  VTB_HC_NEW_BASEPTR = 2,    /* (pml4 frame gpa) */
  VTB_HC_STACK_SWITCH = 3,   /* (kernel rsp for user->kernel transitions) */
  VTB_HC_IRET = 4,           /* () frame on the guest kernel stack */
  VTB_HC_SCHED_OP = 5,       /* (op, arg) op: VTB_SCHED_* */
  VTB_HC_SET_TIMER = 6,      /* (period ns, 0 = off) */
  VTB_HC_CONSOLE_IO = 7,     /* (buf va, len) */
  VTB_HC_MULTICALL = 8,      /* (calls va, count) struct vtb_multicall[] */
  VTB_HC_INVLPG = 9,         /* (va) */
  VTB_HC_IO = 10,            /* (port, size, is_write, value) -> value read */
  VTB_HC_CPUID = 11,         /* (leaf, subleaf, out va[4]) */
  VTB_HC_RDTSC = 12,         /* () -> tsc */
  VTB_HC_NULL = 13,          /* () -> 0: the micro-benchmark's null hypercall */
  VTB_HC_UNPIN_TABLE = 14,   /* (table gpa, level, flags VTB_UNPIN_*): release a pinned table (pv) */
  VTB_HC_PIN_TABLE = 15,     /* (table gpa, level): pin a PML4 as a root (levels 1-3: validated when linked) */
  VTB_HC_CLEAR_PAGE = 16,    /* (frame gpa): zero one frame through the engine's own mapping (Xen's MMUEXT_CLEAR_PAGE) */
  VTB_HC_COPY_PAGE = 17,     /* (dst gpa, src gpa): copy one frame likewise (MMUEXT_COPY_PAGE); not into a page table */
  VTB_HC_VM_ASSIST = 18,     /* (type VTB_VMASST_*) -> 0, -VTB_EINVAL for an unknown type (Xen's vm_assist) */
  VTB_HC_COUNT
};
#endif

/* unpin_table flags: the engine hands the released frame back zeroed, so
 * the kernel need not write it (it may stay read-only in the direct map
 * until the kernel uses it as ordinary memory again). */
#define VTB_UNPIN_ZERO 1

/* vm_assist types. DIRECT_USER_ACCESS: from now on this kernel reads and
 * writes guest user memory only through its direct map (a walk of its own
 * page tables), never at a user virtual address; the engine need not map
 * the user half for the kernel (pv@2as then maps it only in the user
 * process). */
#define VTB_VMASST_DIRECT_USER_ACCESS 1

#ifndef __ASSEMBLER__
enum vtb_sched_op { VTB_SCHED_YIELD = 0, VTB_SCHED_BLOCK = 1, VTB_SCHED_SHUTDOWN = 2 };
#endif

/* Errors returned in rax (negated). */
#define VTB_EPERM   1
#define VTB_ESRCH   3  /* kill: no such process */
#define VTB_EINVAL  22
#define VTB_EFAULT  14
#define VTB_ENOSYS  38
#define VTB_ENOMEM  12
#define VTB_ECHILD  10 /* wait: no such child */

/* wait() status: exit code (0..255), or VTB_WSTATUS_KILLED | vector when the
 * kernel killed the process for an exception (e.g. | 14 for a page fault). */
#define VTB_WSTATUS_KILLED 0x100
/* ... | VTB_WSTATUS_BY_KILL: ended by kill(), not by an exception. */
#define VTB_WSTATUS_BY_KILL 0xff
/* mmap prot bits */
#define VTB_PROT_READ  1
#define VTB_PROT_WRITE 2

#ifndef __ASSEMBLER__
struct vtb_trap_info {     /* one entry of the pv trap table */
  VTB_ABI_U8 vector;
  VTB_ABI_U8 flags;        /* bit0: callable from user (int n) */
  VTB_ABI_U16 pad;
  VTB_ABI_U32 pad2;
  VTB_ABI_U64 handler;     /* guest kernel va */
};
#endif

#ifndef __ASSEMBLER__
struct vtb_mmu_update {    /* one validated page-table write */
  VTB_ABI_U64 ptr;         /* gpa of the 8-byte entry to write */
  VTB_ABI_U64 val;         /* new entry */
};
#endif

#ifndef __ASSEMBLER__
struct vtb_multicall {
  VTB_ABI_U64 op;
  VTB_ABI_U64 args[4];
  VTB_ABI_U64 result;
};
#endif

/* pv shared info page: written by both sides. */
#ifndef __ASSEMBLER__
struct vtb_shared_info {
  volatile VTB_ABI_U8 vif;            /* virtual IF: 1 = events allowed */
  volatile VTB_ABI_U8 pending;        /* an event waits for vif */
  VTB_ABI_U8 pad[6];
  volatile VTB_ABI_U64 cr2;           /* fault address of the last #PF upcall */
  volatile VTB_ABI_U64 ticks;         /* timer events delivered */
  volatile VTB_ABI_U64 tsc_hz;
};
#endif

/* ------------------------------------------------------------------------
 * pv engine specifics (engines/pv, workloads/kernel/plat/{plat,entry}_pv).
 * The hypercall page sits in the page just below the kernel direct map (in
 * the host-reserved kernel range); boot info hypercall_va holds the same
 * value. Stub n is at VTB_HYPERCALL_VA + n*VTB_HYPERCALL_STUB_SIZE: `call`
 * it (all registers but rax preserved, flags clobbered) -- except
 * VTB_HC_IRET, which is entered with `jmp` and rsp -> struct vtb_pv_iret_frame.
 * ---------------------------------------------------------------------- */
#define VTB_HYPERCALL_VA      (VTB_KERNEL_VBASE - VTB_PAGE_SIZE)
#define VTB_PV_VECTOR_SYSCALL 0xff   /* trap-table slot for bounced user `syscall`s */
#define VTB_PV_CS_KERNEL      0x08   /* selectors in upcall/iret frames: (cs & 3) = mode */
#define VTB_PV_SS_KERNEL      0x10
#define VTB_PV_CS_USER        0x2b
#define VTB_PV_SS_USER        0x23
#define VTB_PV_BOOT_STACK_TOP (VTB_KERNEL_VBASE + VTB_BOOTINFO_GPA) /* initial rsp (direct map) */
#define VTB_TRAP_FLAG_USER    0x01   /* vtb_trap_info.flags: `int n` allowed from user */

/* Upcall frame the pv engine pushes on the guest kernel stack (16-byte
 * aligned; the kernel-mode rsp, or the stack_switch rsp when the guest was
 * in user mode) before entering a trap-table handler with events masked
 * (vif = 0). All other registers hold the interrupted values. For a bounced
 * syscall rcx = rip and r11 = rflags, as the `syscall` instruction leaves them. */
#ifndef __ASSEMBLER__
struct vtb_pv_trap_frame {
  VTB_ABI_U64 error_code; /* 0 for vectors without one */
  VTB_ABI_U64 rip, cs, rflags, rsp, ss;
};
#endif
/* What VTB_HC_IRET pops: the guest pushes its rax on top of a trap frame's
 * rip..ss (error code removed) and jumps to the stub. rflags.IF -> vif. */
#ifndef __ASSEMBLER__
struct vtb_pv_iret_frame {
  VTB_ABI_U64 rax, rip, cs, rflags, rsp, ss;
};
#endif

/* ------------------------------------------------------------------------
 * Sensitive-instruction census (workloads/kernel/ktest, programs/census.c,
 * docs/census.md). The native kernel's GDT carries distinctive descriptors
 * so a guest can tell its own (virtual) state from the host's:
 *   VTB_CENSUS_SEL_DATA   data, DPL 3, byte-granular limit VTB_CENSUS_DATA_LIMIT
 *   VTB_CENSUS_SEL_LDT    an LDT (one descriptor), loaded by the census only
 *   VTB_CENSUS_SEL_KCODE2 a second 64-bit kernel code segment (far transfers)
 *   VTB_CENSUS_SEL_UCODE2 a second 64-bit user code segment, DPL 3
 * `ktest census <ptr>` fills struct vtb_census_report at the user pointer.
 * ---------------------------------------------------------------------- */
#define VTB_CENSUS_SEL_DATA    0x40
#define VTB_CENSUS_SEL_LDT     0x48 /* 16-byte system descriptor: GDT slots 9 and 10 */
#define VTB_CENSUS_SEL_KCODE2  0x58
#define VTB_CENSUS_SEL_UCODE2  0x60
#define VTB_CENSUS_GDT_ENTRIES 13
#define VTB_CENSUS_DATA_LIMIT  0x12345
#define VTB_CENSUS_DATA_AR     0x0040f300u /* LAR of VTB_CENSUS_SEL_DATA: P DPL3 S type 3 (accessed), D/B */
#define VTB_CENSUS_INT_VECTOR  0x81
#define VTB_CENSUS_TRAMP_VA    0x0000000000200000ULL /* kernel-only page below VTB_USER_BASE */

#ifndef __ASSEMBLER__
enum vtb_census_insn {
  VTB_CI_SGDT, VTB_CI_SIDT, VTB_CI_SLDT, VTB_CI_SMSW, VTB_CI_PUSHF, VTB_CI_POPF,
  VTB_CI_LAR, VTB_CI_LSL, VTB_CI_VERR, VTB_CI_VERW, VTB_CI_POP_SEG, VTB_CI_PUSH_SEG,
  VTB_CI_CALL_FAR, VTB_CI_JMP_FAR, VTB_CI_INT_N, VTB_CI_RET_FAR, VTB_CI_STR, VTB_CI_MOV_SEG,
  VTB_CI_COUNT
};
enum vtb_census_status { VTB_CS_NOTRUN = 0, VTB_CS_OK = 1, VTB_CS_WRONG = 2, VTB_CS_TRAP = 3 };
struct vtb_census_result {
  VTB_ABI_U32 status;   /* enum vtb_census_status */
  VTB_ABI_U32 vector;   /* VTB_CS_TRAP: the exception vector */
  VTB_ABI_U64 seen;     /* VTB_CS_WRONG: what the guest saw */
};
struct vtb_census_report {
  struct vtb_census_result r[VTB_CI_COUNT]; /* the kernel-mode half */
  /* The kernel's own state, for the user-mode half (0 / ~0 where the
   * flavor has none: the pv kernel has no GDT, IDT or CR0 of its own). */
  VTB_ABI_U64 gdt_base, idt_base, cr0;
  VTB_ABI_U16 gdt_limit, idt_limit, ldt_sel, tr_sel;
  VTB_ABI_U32 flavor;
};
#endif

#endif /* VTB_ABI_H */
