// tags: engines|bt — desc: the inline exit record that follows every exit from translated code, and its kinds.
#pragma once
#include <cstdint>

namespace vtb::bt {

enum class ExitReason : uint16_t {
  Branch = 1,     // direct branch not chained yet: target = guest pc, aux = TC address of its rel32
  IndirectMiss,   // indirect branch/return target not in the lookup table: guest pc in s3
  Budget,         // checked entry found the instruction budget used up: target = block pc
  Callout,        // sensitive instruction: op[] describes it, see CalloutOp
  Undefined,      // undecodable/unsupported instruction: deliver #UD at guest_pc
  FetchFault,     // instruction bytes not accessible: deliver #PF for `target`
  Fault,          // a host fault in translated code (static record used by the signal handler)
  Unsupported,    // the translator cannot express this instruction (engine error, not guest error)
  UserAccess,     // user-mode translation touched an address outside the user range: address in AsmVcpu::ea, b = write
  TlbMiss,        // bt-softmmu: inline TLB miss; a = register holding the guest VA, b = the register saved in s4,
                  // c = kTlb* bits, aux = access size,
                  // target = TC address of the inline continuation (the bounce copy of the access follows the record)
  TlbCommit,      // bt-softmmu: after a bounced (page-crossing) access: write the bounce buffer back
};

// ExitRecord::c bits of a TlbMiss.
enum : uint8_t {
  kTlbWriteAcc = 1,   // the access writes
  kTlbRestoreS4 = 2,  // on a fault: register b's guest value is in s4
  kTlbRestoreS6 = 4,  // on a fault: guest rcx is in s6
  kTlbRestoreS1S2 = 8,  // on a fault: guest rcx/rdx are in s1/s2 (indirect branches)
  kTlbUser = 16,      // the user-mode tables (a translation of CPL 3 code)
  kTlbRestoreS7 = 32,  // on a fault: register a's guest value is in s7 (second access of an instruction)
  kTlbGroup = 64,     // one probe for a run of pushes/pops: a fault retranslates without the grouping
};

// Sensitive and privileged instructions that leave translated code.
enum class CalloutOp : uint8_t {
  Cli = 1, Sti, Pushf, Popf, Hlt, MovToCr, MovFromCr, MovToDr, MovFromDr, Lgdt, Lidt, Sgdt, Sidt, Lldt,
  Ltr, Sldt, Str, Smsw, Lmsw, In, Out, Ins, Outs, Cpuid, Rdtsc, Rdtscp, Rdpid, Rdmsr, Wrmsr, Swapgs,
  Syscall, Sysret, Iret, Int, Int3, Invlpg, Invd, Clts, Rdpmc, MovToSeg, MovFromSeg, PushSeg, PopSeg,
  LoadFarPtr, FarJmp, FarCall, FarRet, Lar, Lsl, Verr, Verw, RdSegBase, WrSegBase, Nop, Xsetbv,
  Monitor, Mwait, Sysenter, TracedStore, DivideError, StringSeg, Enter, BitString, Count
};
const char* callout_name(CalloutOp op);

// 32 bytes, inline in the translation cache after `call *exit_fn`.
// Inline in translated code after the exit call, at any alignment: packed
// (the layout has no padding either way), so reading it in place is defined.
struct __attribute__((packed)) ExitRecord {
  ExitReason reason;
  uint8_t len;      // guest instruction length
  uint8_t unexec;   // guest insns of the block not yet executed when this exit fires (this one excluded)
  CalloutOp op;     // Callout
  uint8_t a, b, c;  // operands (register numbers, sizes, cr numbers, ...) — meaning per op
  uint64_t guest_pc;
  uint64_t target;  // branch target / immediate / absolute address
  uint64_t aux;     // patch site (Branch); flags of the operand (Callout)
};
static_assert(sizeof(ExitRecord) == 32);

// Bits of ExitRecord::aux for callouts with an operand.
enum : uint64_t {
  kOpMem = 1,        // the operand is memory: its address (without segment base) sits in AsmVcpu::ea
  kOpFsSeg = 2,      // memory operand had an %fs: override
  kOpGsSeg = 4,      // memory operand had a %gs: override
  kOpRep = 8,        // rep prefix (ins/outs)
  kOpPortDx = 16,    // in/out: port in %dx (else `target`)
  kOpAbs = 32,       // memory operand address is the constant `target` (rip-relative)
  kOpRepne = 64,     // repne prefix (cmps)
};

}  // namespace vtb::bt
