// tags: engines|pv — desc: the per-process pv vCPU block shared by the entry assembly and C++.
//
// One pv VM per host process (the engine owns the address window), so the
// vCPU block is a single hidden global that pv_entry.S reaches RIP-relative.
// The first fields have fixed offsets used by the assembly (PV_OFF_*).
#pragma once
#ifndef __ASSEMBLER__
#include <cstddef>
#include <cstdint>

#include "common/abi/vtb_abi.h"
#endif

// Offsets used by pv_entry.S (keep in step with the static_asserts below).
#define PV_OFF_GPR 0x00       /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
#define PV_OFF_RIP 0x80
#define PV_OFF_RFLAGS 0x88
#define PV_OFF_HOST_RSP 0x90
#define PV_OFF_SCRATCH 0x98
#define PV_OFF_FPU_VALID 0xa0
#define PV_OFF_SHARED 0xa8      /* struct vtb_shared_info* */
#define PV_OFF_TIMER_FIRED 0xb0 /* u32 */
#define PV_OFF_MODE 0xb4        /* u8: 0 kernel, 1 user */
#define PV_OFF_NULL_FAST 0xb8   /* u64: null hypercalls served by the assembly */
#define PV_OFF_HOST_FS 0xc0    /* host FS/GS bases, restored whenever host code runs */
#define PV_OFF_HOST_GS 0xc8
#define PV_OFF_GUEST_FS 0xd0   /* the guest's (virtual) FS/GS bases, live while guest code runs */
#define PV_OFF_GUEST_GS 0xd8
#define PV_OFF_SIG_FS 0xe0     /* FS/GS at the last signal (the signal trampoline) */
#define PV_OFF_SIG_GS 0xe8
#define PV_OFF_IN_GUEST 0xf0   /* u8: 1 from the jump into guest code to the next host entry */
#define PV_OFF_FSGS 0xf1       /* u8: 1 = switch FS/GS bases (the CPU and kernel allow rd/wrfsbase) */
#define PV_OFF_ALTSTACK 0xf8   /* the vCPU thread's sigaltstack base (PV_ALTSTACK_SIZE bytes) */
#define PV_ALTSTACK_SIZE 0x40000
#define PV_HC_NULL 13           /* = VTB_HC_NULL (an enum: the assembler cannot see it) */
#define PV_OFF_FPU 0x100      /* 64-byte aligned xsave area */
/* Guest FP/SIMD state is saved and restored with every component but PKRU
 * (9): PKRU follows the vCPU's mode (pkeys protection), and an xrstor of
 * the value saved at a hypercall entry would undo the switch made by it. */
#define PV_XSTATE_LO 0xfffffdff
#define PV_FPU_AREA 0x3000

// vtb_pv_enter / vtb_pv_hc_slow return codes.
#define PV_RESUME_FAST 0   /* hypercall: rax = result, other registers as saved */
#define PV_RESUME_FULL 1   /* restore everything from the block (upcall, iret) */
#define PV_EXIT 2          /* back to PvEngine::run with exit_code set */
#define PV_SLOW 3          /* fast path: take the slow path */

#ifndef __ASSEMBLER__
namespace vtb::pv {

enum Gpr { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

// Why vtb_pv_enter returned (PvCpu::exit_reason).
enum class ExitReason : uint32_t {
  None,
  Hypercall,   // a hypercall needs the Vm (io, console) or ended the run (shutdown, block)
  Signal,      // a host signal interrupted guest code: fault, syscall bounce, timer tick
  BadStack,    // the hypercall entry could not read the guest stack
  UserMode,    // pv@2as: guest user code is to run (in the user process)
};

enum class Mode : uint8_t { Kernel = 0, User = 1 };

struct alignas(64) PvCpu {
  uint64_t gpr[16];
  uint64_t rip;
  uint64_t rflags;
  uint64_t host_rsp;
  uint64_t scratch;
  uint64_t fpu_valid;
  vtb_shared_info* shared = nullptr;      // host view of the shared info frame
  volatile uint32_t timer_fired = 0;      // a host tick arrived
  Mode mode = Mode::Kernel;
  uint8_t pad0_[3];
  uint64_t null_fast = 0;
  uint64_t host_fs = 0, host_gs = 0;
  uint64_t guest_fs = 0, guest_gs = 0;
  uint64_t sig_fs = 0, sig_gs = 0;
  volatile uint8_t in_guest = 0;
  uint8_t fsgs = 0;
  uint8_t pad1_[6];
  uint64_t altstack = 0;  // signals on other threads' stacks keep their own bases
  alignas(64) uint8_t fpu[PV_FPU_AREA];
  // ---- C++ only below ----
  ExitReason exit_reason = ExitReason::None;
  // Signal details (written by the handler, read after the exit).
  int sig = 0;
  int si_code = 0;
  uint64_t trapno = 0, err = 0, addr = 0;
  // Events.
  volatile uint64_t deadline_ns = ~0ULL;  // wall limit of the current run()
  volatile uint32_t limit_hit = 0;
  uint64_t timer_period_ns = 0;           // set_timer
  uint64_t timer_next_ns = 0;
  uint64_t kernel_sp = 0;                 // stack_switch
  // Hypercall counts by number (index VTB_HC_COUNT: out of range).
  uint64_t hc_count[VTB_HC_COUNT + 1];
  bool active = false;                    // an engine is loaded
  // Protection keys (pkeys mode): the PKRU of guest user and guest kernel
  // code; a signal that resumes guest code puts the right one in its frame.
  bool pkeys = false;
  uint32_t pkru_user = 0, pkru_kernel = 0;
};

static_assert(offsetof(PvCpu, gpr) == PV_OFF_GPR);
static_assert(offsetof(PvCpu, rip) == PV_OFF_RIP);
static_assert(offsetof(PvCpu, rflags) == PV_OFF_RFLAGS);
static_assert(offsetof(PvCpu, host_rsp) == PV_OFF_HOST_RSP);
static_assert(offsetof(PvCpu, scratch) == PV_OFF_SCRATCH);
static_assert(offsetof(PvCpu, fpu_valid) == PV_OFF_FPU_VALID);
static_assert(offsetof(PvCpu, shared) == PV_OFF_SHARED);
static_assert(offsetof(PvCpu, timer_fired) == PV_OFF_TIMER_FIRED);
static_assert(offsetof(PvCpu, mode) == PV_OFF_MODE);
static_assert(offsetof(PvCpu, null_fast) == PV_OFF_NULL_FAST);
static_assert(offsetof(PvCpu, host_fs) == PV_OFF_HOST_FS);
static_assert(offsetof(PvCpu, host_gs) == PV_OFF_HOST_GS);
static_assert(offsetof(PvCpu, guest_fs) == PV_OFF_GUEST_FS);
static_assert(offsetof(PvCpu, guest_gs) == PV_OFF_GUEST_GS);
static_assert(offsetof(PvCpu, sig_fs) == PV_OFF_SIG_FS);
static_assert(offsetof(PvCpu, sig_gs) == PV_OFF_SIG_GS);
static_assert(offsetof(PvCpu, in_guest) == PV_OFF_IN_GUEST);
static_assert(offsetof(PvCpu, fsgs) == PV_OFF_FSGS);
static_assert(offsetof(PvCpu, altstack) == PV_OFF_ALTSTACK);
static_assert(offsetof(PvCpu, fpu) == PV_OFF_FPU);
static_assert(PV_HC_NULL == VTB_HC_NULL);
static_assert(sizeof(Mode) == 1 && offsetof(vtb_shared_info, pending) == 1);

}  // namespace vtb::pv

extern "C" {
extern vtb::pv::PvCpu vtb_pv_cpu __attribute__((visibility("hidden")));
// Enter the guest with the state in vtb_pv_cpu; returns PV_EXIT when the
// guest left (exit_reason says why).
int vtb_pv_enter();
// Labels inside pv_entry.S.
extern const char vtb_pv_hc_entry[], vtb_pv_iret_entry[], vtb_pv_signal_exit[];
extern const char vtb_pv_touch_begin[], vtb_pv_touch_end[];
// The whole entry/exit assembly: host code, whatever in_guest says.
extern const char vtb_pv_asm_begin[], vtb_pv_asm_end[];
// Signal handler entry: saves FS/GS into sig_fs/sig_gs, installs the host's,
// calls vtb_pv_on_signal, and installs sig_fs/sig_gs again unless that
// returned 1 (the signal now returns into host code).
void vtb_pv_signal_trampoline(int sig, void* info, void* uc);
int vtb_pv_on_signal(int sig, void* info, void* uc);
// C++ side of the hypercall entry.
int vtb_pv_hc_fast();  // pv_fastpath.cpp (no FP/SIMD registers)
int vtb_pv_hc_slow();  // pv_hypercalls.cpp (guest FP state saved around it)
// Host calls for the benchmark: an empty function called indirectly.
void vtb_pv_empty_function();
}
#endif
