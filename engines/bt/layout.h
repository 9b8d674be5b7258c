// tags: engines|bt — desc: fixed host addresses, the asm-visible vCPU block layout shared by C++ and bt_entry.S, and the host's side of a bt-direct entry (DirectHost, SignalFrame).
//
// The bt engine owns the address window (one VM per process), so its runtime
// data lives at fixed addresses inside the host-reserved ranges of the ABI:
//   VTB_HOST_RESERVED_USER_LO + 0        the asm-visible vCPU block (one page, read-write)
//   VTB_HOST_RESERVED_USER_LO + 1 MiB    indirect-branch table: negated guest pcs   } read-only here,
//   VTB_HOST_RESERVED_USER_LO + 1.5 MiB  indirect-branch table: TC entry addresses  } written via an alias
//   VTB_HOST_RESERVED_USER_LO + 16 MiB   translation cache for guest code < 2 GiB
//   VTB_HOST_RESERVED_KERNEL_LO          translation cache for the kernel (8 TiB)
// Everything below 2 GiB is reachable with absolute disp32 addressing from
// both caches, so translated code addresses the vCPU block and the tables
// without a base register and without touching guest flags or the guest stack.
//
// bt-direct runs guest user code natively in the same process, so all of this
// is within its reach: nothing here may hold a host secret or a value the host
// trusts while it runs (docs/bt.md, "bt-direct isolation"). The tables and the
// caches are read-only at these addresses (written through aliases the guest
// cannot find), and the host's fields of the vCPU block are cleared before a
// direct entry and put back by the signal handler that ends it. The host's own
// state for those transitions lives in `DirectHost` (below), in the host's
// .bss at an address the guest does not know.
#pragma once

#define BT_GLOBAL_BASE 0x40000000
#define BT_VCPU_SIZE 0x1000 /* the vCPU block's page: all of it is the guest's to read while it runs directly */
/* asm-visible vCPU block offsets (struct AsmVcpu below) */
#define BT_OFF_GPR 0x00 /* 16 x u64, x86 encoding order rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
#define BT_OFF_RFLAGS 0x80
#define BT_OFF_HOST_SP 0x88
#define BT_OFF_EXIT_FN 0x90
#define BT_OFF_BUDGET 0x98
#define BT_OFF_S0 0xa0 /* rax save in the budget prologue */
#define BT_OFF_S1 0xa8 /* rcx save (indirect lookup) */
#define BT_OFF_S2 0xb0 /* rdx save (indirect lookup) */
#define BT_OFF_S3 0xb8 /* indirect jump target */
#define BT_OFF_S4 0xc0 /* scratch register save for segment/far-operand rewrites */
#define BT_OFF_EA 0xc8 /* effective address computed for a callout */
#define BT_OFF_FAULT_REC 0xd0 /* address of the static fault exit record */
#define BT_OFF_S5 0xd8
#define BT_OFF_FS_BASE 0xe0 /* virtual FS base used by rewritten %fs: accesses */
#define BT_OFF_GS_BASE 0xe8 /* virtual GS base used by rewritten %gs: accesses */
#define BT_OFF_S6 0xf0 /* rcx save in the address check */
#define BT_OFF_SHIFT30_MASK 0xf8 /* ~(1 GiB - 1): pext of an address with it is the address >> 30 */
#define BT_OFF_USER_LIMIT 0x300 /* VTB_USER_TOP + 4 KiB: bound for a base register (cmp form of the user check) */
#define BT_OFF_HOLE_LO 0x308 /* host-reserved user range [1 GiB, 2 GiB) widened by 1 MiB each side (cmp form) */
#define BT_OFF_HOLE_HI 0x310
#define BT_OFF_SHIFT9_MASK 0x318 /* ~0x1ff: pext gives x >> 9 */
#define BT_OFF_KHALF_LO 0x320 /* kernel quick check: 8 TiB + 1 MiB */
#define BT_OFF_KHALF_HI 0x328 /* window top - 1 MiB */
#define BT_OFF_KRES_LO 0x330 /* host-reserved kernel range (8 TiB - 1 GiB) - 1 MiB */
#define BT_OFF_SHIFT44_MASK 0x338 /* ~(16 TiB - 1): pext is 0 iff the address is below the window top */
#define BT_OFF_XMM 0x100 /* guest xmm0..15 while the host runs */
#define BT_OFF_MXCSR 0x200
#define BT_OFF_HOST_MXCSR 0x204
#define BT_OFF_VIF 0x208
#define BT_OFF_IRQ_PENDING 0x210
/* inline sensitive instructions (inline_sensitive.cpp); derived from the C++ vCPU by Runtime::sync_inline_state */
#define BT_OFF_PUSHF_ADD 0x218 /* pushf: host flags (live | 0x202) + vif + this = the guest's rflags image */
#define BT_OFF_POPF_EXPECT_K 0x220 /* popf inline when (value & TF|IOPL|NT|AC|ID) equals this (kernel translations) */
#define BT_OFF_POPF_EXPECT_U 0x228 /* the same for user translations (never matches when IOPL = 3: IF is the guest's) */
#define BT_OFF_TSC_OFFSET 0x230
#define BT_OFF_TSC_TRAP 0x238 /* nonzero: user rdtsc takes the callout (CR4.TSD) */
#define BT_OFF_KERNEL_GS_BASE 0x240 /* the guest's IA32_KERNEL_GS_BASE (inline swapgs) */
#define BT_OFF_CPUID_NEGKEY 0x248 /* -(subleaf << 32 | leaf) of the cached cpuid answer */
#define BT_OFF_CPUID_REGS 0x250 /* eax ebx ecx edx of it (4 x u32) */
#define BT_OFF_INLINE_COUNT 0x260 /* u64 per InlineOp: executions of inline sequences */
#define BT_INLINE_OPS 10
#define BT_OFF_CPL_MODE 0x2b0 /* the vCPU's CPL as inline syscall/sysret leave it (the dispatcher syncs cpu_.cpl from it) */
#define BT_OFF_SYSCALL_OK 0x2b8 /* nonzero: a user syscall may run inline (EFER.SCE, SFMASK touches no C++-side flag) */
#define BT_OFF_SYSRET_OK 0x2c0 /* nonzero: a kernel sysretq may run inline (EFER.SCE, not bt-direct) */
#define BT_OFF_SFMASK_NOT 0x2c8 /* ~SFMASK */
#define BT_OFF_LSTAR 0x2d0
#define BT_OFF_SYSRET_EXPECT 0x2d8 /* sysretq inline when (r11 & ~(live|IF|RF|VM|2)) equals this */
#define BT_OFF_S7 0x2e0 /* bt-softmmu: a second scratch register (instructions with two memory accesses) */
#define BT_OFF_CR2 0x2e8 /* the guest's CR2 (inline mov %cr2,%r in kernel translations; sync_inline_state) */

/* bt-softmmu: the inline TLB (softmmu_emit.cpp). pext with these masks gives a
   guest VA's TLB index and tells whether a tag difference lies within one page. */
#define BT_OFF_TLB_IDX_MASK 0x340 /* ((BT_TLB_ENTRIES - 1) << 12) */
#define BT_OFF_TLB_PAGE_MASK 0x348 /* ~0xfff */
#define BT_TLB_OFF 0x200000 /* kGlobalBase + this: the TLB tables (read-write, host-filled) */
#define BT_TLB_BITS 10
#define BT_TLB_ENTRIES 1024
/* per table 8 KiB of u64; table = mode * 3 + kind, mode 0 kernel / 1 user, kind 0 read tag, 1 write tag, 2 addend */
#define BT_TLB_TABLE_BYTES 0x2000
#define BT_TLB_BYTES (6 * BT_TLB_TABLE_BYTES)

#define BT_NEGTAG_OFF 0x100000
#define BT_TCADDR_OFF 0x180000
#define BT_IBTC_SIZE 0x100000 /* both tables: [BT_NEGTAG_OFF, BT_NEGTAG_OFF + BT_IBTC_SIZE) */
#define BT_IBTC_BITS 16

/* struct DirectHost (bt-direct: the host's side of a direct entry) */
#define BT_DH_HOST_FS 0x00
#define BT_DH_HOST_GS 0x08
#define BT_DH_HOST_SP 0x10
#define BT_DH_ALT_LO 0x18
#define BT_DH_ALT_HI 0x20
#define BT_DH_HOST_MXCSR 0x28
#define BT_DH_LIVE 0x2c
#define BT_DH_FSGS 0x2d
/* struct SignalFrame (built by bt_signal_trampoline on the signal stack) */
#define BT_SF_FS 0x00
#define BT_SF_GS 0x08
#define BT_SF_SWITCHED 0x10
#define BT_SF_VCPU 0x18
#define BT_SF_LIVE 0x20
#define BT_SF_SIZE 0x28 /* aligns the call */
#define BT_USER_TC_OFF 0x1000000
#define BT_TC_SIZE 0x10000000 /* 256 MiB per cache (sparse) */

#ifdef __cplusplus
#include <cstddef>
#include <cstdint>

#include "common/abi/vtb_abi.h"

namespace vtb::bt {

static_assert(BT_GLOBAL_BASE == VTB_HOST_RESERVED_USER_LO, "global block sits at the reserved user range");

constexpr uint64_t kGlobalBase = BT_GLOBAL_BASE;
constexpr uint64_t kNegTagTable = kGlobalBase + BT_NEGTAG_OFF;
constexpr uint64_t kTcAddrTable = kGlobalBase + BT_TCADDR_OFF;
constexpr uint64_t kIbtcEntries = 1ULL << BT_IBTC_BITS;
constexpr uint64_t kUserTcBase = kGlobalBase + BT_USER_TC_OFF;
constexpr uint64_t kKernelTcBase = VTB_HOST_RESERVED_KERNEL_LO;
constexpr uint64_t kTcSize = BT_TC_SIZE;
static_assert(kUserTcBase + kTcSize <= VTB_HOST_RESERVED_USER_HI);
static_assert(kTcAddrTable + (kIbtcEntries * 8) == kNegTagTable + BT_IBTC_SIZE && kNegTagTable == kGlobalBase + BT_IBTC_SIZE);
static_assert(kKernelTcBase + kTcSize <= VTB_HOST_RESERVED_KERNEL_HI);

enum Gpr : uint8_t { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

// The part of the vCPU that translated code and bt_entry.S touch.
struct AsmVcpu {
  uint64_t gpr[16];
  uint64_t rflags;   // arithmetic flags + DF as the hardware holds them for the guest
  uint64_t host_sp;  // host stack pointer while guest code runs
  uint64_t exit_fn;  // &bt_exit_stub
  int64_t budget;    // guest instructions left before a checked block entry exits
  uint64_t s0, s1, s2, s3, s4, ea, fault_rec, s5;
  uint64_t fs_base, gs_base;
  uint64_t s6, shift30_mask;
  alignas(16) uint8_t xmm[256];
  uint32_t mxcsr, host_mxcsr;
  uint64_t vif;          // virtual IF (0/1): inline cli/sti in kernel translations
  uint64_t irq_pending;  // nonzero: an interrupt may be deliverable (inline sti then takes the callout)
  // Inline sensitive instructions (inline_sensitive.cpp); all but
  // kernel_gs_base and the counts are derived from the C++ vCPU.
  uint64_t pushf_add, popf_expect_k, popf_expect_u;
  int64_t tsc_offset;
  uint64_t tsc_trap;
  uint64_t kernel_gs_base;
  uint64_t cpuid_negkey;
  uint32_t cpuid_regs[4];
  uint64_t inline_count[BT_INLINE_OPS];
  uint64_t cpl_mode, syscall_ok, sysret_ok, sfmask_not, lstar, sysret_expect;
  uint64_t s7;
  uint64_t cr2;
};
static_assert(offsetof(AsmVcpu, rflags) == BT_OFF_RFLAGS);
static_assert(offsetof(AsmVcpu, host_sp) == BT_OFF_HOST_SP);
static_assert(offsetof(AsmVcpu, exit_fn) == BT_OFF_EXIT_FN);
static_assert(offsetof(AsmVcpu, budget) == BT_OFF_BUDGET);
static_assert(offsetof(AsmVcpu, s4) == BT_OFF_S4);
static_assert(offsetof(AsmVcpu, ea) == BT_OFF_EA);
static_assert(offsetof(AsmVcpu, fault_rec) == BT_OFF_FAULT_REC);
static_assert(offsetof(AsmVcpu, s5) == BT_OFF_S5);
static_assert(offsetof(AsmVcpu, fs_base) == BT_OFF_FS_BASE);
static_assert(offsetof(AsmVcpu, gs_base) == BT_OFF_GS_BASE);
static_assert(offsetof(AsmVcpu, s6) == BT_OFF_S6);
static_assert(offsetof(AsmVcpu, shift30_mask) == BT_OFF_SHIFT30_MASK);
static_assert(offsetof(AsmVcpu, xmm) == BT_OFF_XMM);
static_assert(offsetof(AsmVcpu, mxcsr) == BT_OFF_MXCSR);
static_assert(offsetof(AsmVcpu, host_mxcsr) == BT_OFF_HOST_MXCSR);
static_assert(offsetof(AsmVcpu, vif) == BT_OFF_VIF);
static_assert(offsetof(AsmVcpu, irq_pending) == BT_OFF_IRQ_PENDING);
static_assert(offsetof(AsmVcpu, pushf_add) == BT_OFF_PUSHF_ADD && offsetof(AsmVcpu, popf_expect_k) == BT_OFF_POPF_EXPECT_K);
static_assert(offsetof(AsmVcpu, popf_expect_u) == BT_OFF_POPF_EXPECT_U && offsetof(AsmVcpu, tsc_offset) == BT_OFF_TSC_OFFSET);
static_assert(offsetof(AsmVcpu, tsc_trap) == BT_OFF_TSC_TRAP && offsetof(AsmVcpu, kernel_gs_base) == BT_OFF_KERNEL_GS_BASE);
static_assert(offsetof(AsmVcpu, cpuid_negkey) == BT_OFF_CPUID_NEGKEY && offsetof(AsmVcpu, cpuid_regs) == BT_OFF_CPUID_REGS);
static_assert(offsetof(AsmVcpu, inline_count) == BT_OFF_INLINE_COUNT);
static_assert(offsetof(AsmVcpu, cpl_mode) == BT_OFF_CPL_MODE && offsetof(AsmVcpu, syscall_ok) == BT_OFF_SYSCALL_OK);
static_assert(offsetof(AsmVcpu, sysret_ok) == BT_OFF_SYSRET_OK && offsetof(AsmVcpu, sfmask_not) == BT_OFF_SFMASK_NOT);
static_assert(offsetof(AsmVcpu, lstar) == BT_OFF_LSTAR && offsetof(AsmVcpu, sysret_expect) == BT_OFF_SYSRET_EXPECT);
static_assert(offsetof(AsmVcpu, s7) == BT_OFF_S7);
static_assert(offsetof(AsmVcpu, cr2) == BT_OFF_CR2);

// Sensitive instructions that translated code may execute inline (counted in
// AsmVcpu::inline_count; reported with the callouts as priv.<insn>).
enum class InlineOp : uint8_t { Pushf, Popf, Rdtsc, Cpuid, Swapgs, Cli, Sti, Syscall, Sysret, MovFromCr2 };
static_assert(unsigned(InlineOp::MovFromCr2) < BT_INLINE_OPS);

static_assert(sizeof(AsmVcpu) <= BT_OFF_USER_LIMIT && BT_OFF_TLB_PAGE_MASK + 8 <= BT_VCPU_SIZE);

// bt-softmmu's inline TLB: per mode (kernel/user translations) a read-tag,
// a write-tag and an addend table of BT_TLB_ENTRIES u64 each. A tag is the
// negated guest page address (kTlbNoTag: empty); host = guest VA + addend.
constexpr uint64_t kTlbBase = kGlobalBase + BT_TLB_OFF;
constexpr uint64_t kTlbEntries = BT_TLB_ENTRIES;
constexpr uint64_t kTlbNoTag = 0x4000000000000000ULL;  // tag + any canonical VA is far from one page
enum TlbKind : int { kTlbRead = 0, kTlbWrite = 1, kTlbAddend = 2 };
inline uint64_t tlb_table(bool user, int kind) { return kTlbBase + uint64_t((user ? 3 : 0) + kind) * BT_TLB_TABLE_BYTES; }
static_assert(BT_TLB_OFF + BT_TLB_BYTES <= BT_NEGTAG_OFF + BT_IBTC_SIZE + 0x100000 && BT_TLB_OFF >= BT_NEGTAG_OFF + BT_IBTC_SIZE);
static_assert(kTlbEntries * 8 == BT_TLB_TABLE_BYTES && (1u << BT_TLB_BITS) == BT_TLB_ENTRIES);

inline AsmVcpu* asm_vcpu() { return reinterpret_cast<AsmVcpu*>(kGlobalBase); }

// bt-direct: what the host keeps for a direct entry of guest user code, out of
// the guest's reach (bt_entry.S; one vCPU per process).
struct DirectHost {
  uint64_t host_fs, host_gs;  // the vCPU thread's own FS/GS bases (installed whenever host code runs)
  uint64_t host_sp;           // host stack pointer of bt_enter_direct
  uint64_t alt_lo, alt_hi;    // the vCPU thread's signal stack: a signal there comes from this thread
  uint32_t host_mxcsr;
  // 1 from just before the guest's FS/GS bases are installed until a signal
  // takes the guest off the CPU (bt_signal_trampoline clears it, and sets it
  // again only when the signal resumes what it interrupted): a signal on the
  // vCPU thread outside the entry assembly while it is set interrupted guest
  // user code.
  volatile uint8_t live;
  uint8_t fsgs;               // FSGSBASE usable: bases are switched (else the host's stay visible)
};
static_assert(offsetof(DirectHost, host_fs) == BT_DH_HOST_FS && offsetof(DirectHost, host_gs) == BT_DH_HOST_GS);
static_assert(offsetof(DirectHost, host_sp) == BT_DH_HOST_SP && offsetof(DirectHost, alt_lo) == BT_DH_ALT_LO);
static_assert(offsetof(DirectHost, alt_hi) == BT_DH_ALT_HI && offsetof(DirectHost, host_mxcsr) == BT_DH_HOST_MXCSR);
static_assert(offsetof(DirectHost, live) == BT_DH_LIVE && offsetof(DirectHost, fsgs) == BT_DH_FSGS);

// What bt_signal_trampoline tells the C++ handler.
struct SignalFrame {
  uint64_t fs, gs;    // the interrupted code's bases (when switched)
  uint64_t switched;  // 1: the trampoline installed the host's bases
  uint64_t vcpu;      // 1: the signal is on the vCPU thread's signal stack
  uint64_t live;      // 1: DirectHost::live was set (guest user code, or the entry glue, was interrupted)
};
static_assert(offsetof(SignalFrame, fs) == BT_SF_FS && offsetof(SignalFrame, gs) == BT_SF_GS);
static_assert(offsetof(SignalFrame, switched) == BT_SF_SWITCHED && offsetof(SignalFrame, vcpu) == BT_SF_VCPU);
static_assert(offsetof(SignalFrame, live) == BT_SF_LIVE);
static_assert(sizeof(SignalFrame) <= BT_SF_SIZE && BT_SF_SIZE % 16 == 8);

extern "C" {
extern __attribute__((visibility("hidden"))) DirectHost bt_direct_host;  // direct_user.cpp
// bt_entry.S: enter guest user code at `pc` natively (returns the fault exit
// record after the signal that ends it); the one entry of every signal handler;
// the bounds of the whole entry/exit assembly (host code, whatever `live` says).
uint8_t* bt_enter_direct(uint64_t pc);
void bt_signal_trampoline(int sig, void* info, void* uctx);
extern const char bt_asm_begin[], bt_asm_end[];
}

// Hardware flags the guest owns directly (CF PF AF ZF SF DF OF); IF, IOPL,
// TF, AC, NT, ID... are virtual and live in the C++ vCPU state.
constexpr uint64_t kLiveFlags = 0x0cd5;

}  // namespace vtb::bt
#endif
