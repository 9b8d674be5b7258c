// tags: engines|bt — desc: guest basic block → translation cache code (IDENT copy, rip re-basing, branches, callouts).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/abi/vtb_abi.h"

#include "engines/bt/block.h"
#include "engines/bt/decoder.h"
#include "engines/bt/emitter.h"

namespace vtb::bt {

constexpr int kMaxBlockInsns = 32;

struct TranslateEnv {
  // Copies guest code bytes at `va` into `out`; returns how many are
  // accessible (stops at the first byte whose page is not executable).
  std::function<size_t(uint64_t va, uint8_t* out, size_t n)> fetch;
  uint64_t lookup_entry = 0;  // the indirect-branch lookup routine of the target cache
  // Extended blocks: a conditional branch becomes a side exit and the block
  // goes on with the fall-through path (off in instruction-counting mode,
  // whose exact count needs every block to run to its end).
  bool extend = false;
  // Guest user code (CPL 3): every memory access is checked against the user
  // range first, so guest-kernel pages in the mirror stay out of reach.
  bool user_checks = false;
  // Guest kernel code: the same checks against the kernel's allowance (the
  // window minus the host's reserved ranges), so that the host's own state
  // (vCPU block, lookup tables, translation caches) is out of its reach too.
  bool kernel_checks = false;
  // Kernel code (CPL 0): cli/sti become stores to the virtual IF (sti takes
  // the callout when an interrupt may be deliverable).
  bool inline_if = false;
  // pushf/popf (8-byte), rdtsc, cpuid, swapgs run inline on the vCPU block
  // where its state suffices (inline_sensitive.cpp); rdtsc/cpuid need BMI2.
  bool inline_sensitive = false;
  bool bmi2 = false;
  bool inline_sysret = false;  // kernel sysretq inline (not bt-direct: its user code runs directly)
  // Kernel in/out: the light callout's trampoline in this cache (bt_io_stub:
  // served on the host stack without leaving translated code); 0: the callout.
  uint64_t io_entry = 0;
  // bt-softmmu: every memory access through the inline TLB (softmmu_emit.cpp);
  // `user`: the translation is of CPL 3 code (the user-mode tables).
  bool softmmu = false;
  bool user = false;
  // bt-softmmu: runs of pushes/pops starting at these pcs get one probe each.
  std::function<bool(uint64_t pc)> no_group;
  // Instructions whose check must compute the exact address (see address_checks.cpp).
  std::function<bool(uint64_t pc)> exact_check;
  // Adaptive translation: stores at these guest pcs become TracedStore callouts.
  std::function<bool(uint64_t pc)> traced_store;
};

// A plain store the engine can emulate: mov r/imm -> m. Fills source
// register (0xff: immediate in *imm), size and high-byte flag.
bool simple_store(const Insn& in, uint8_t* reg, int* size, uint64_t* imm, bool* high8);
// bt-softmmu: size and direction of an explicit memory access (softmmu_emit.cpp).
void soft_access_of(const Insn& in, uint32_t* size, bool* write);

// The quick (cmp) form of the address check covers displacements up to
// this size; larger ones use the exact form.
constexpr int64_t kCheckMaxDisp = 1 << 20;

// What translated guest code may address (host = guest addresses in the
// window): never the host's two reserved ranges; user code only the user
// range, kernel code only the window.
inline bool guest_may_address(uint64_t a, bool user) {
  if (a >= VTB_HOST_RESERVED_USER_LO && a < VTB_HOST_RESERVED_USER_HI) return false;
  if (user) return a < VTB_USER_TOP;
  if (a >= VTB_HOST_RESERVED_KERNEL_LO && a < VTB_HOST_RESERVED_KERNEL_HI) return false;
  return a < VTB_WINDOW_HI;
}

struct TranslateResult {
  bool ok = false;
  std::string error;       // when !ok: why (engine error)
  size_t size = 0;         // bytes emitted
  uint32_t guest_insns = 0;
  uint32_t address_checks = 0;  // address checks emitted (address_checks.cpp)
  uint32_t soft_probes = 0, soft_probes_short = 0, soft_probes_alone = 0, soft_probes_in_dest = 0;  // bt-softmmu TLB probes emitted; of them the short form
  uint32_t soft_probes_covered = 0;  // bt-softmmu: accesses served by an earlier probe of the block (softmmu_cover.cpp)
  uint32_t soft_scratch_dead = 0;    // bt-softmmu: probe scratch registers dead after the access (no reload)
  uint32_t address_checks_elided = 0;  // accesses an earlier check of the block covers
  uint32_t address_checks_hoisted = 0;  // quick checks a self-loop's back edge enters past (per back edge)
};

class Translator {
 public:
  explicit Translator(Decoder& dec) : dec_(dec) {}
  // Translates the block at guest `pc` into `buf` (cap bytes) as if placed
  // at executable address `tc`. Fills `blk` (map, entries, exit sites).
  TranslateResult translate(uint64_t pc, uint64_t tc, const TranslateEnv& env, uint8_t* buf, size_t cap, Block* blk);

  // The shared indirect-branch lookup routine (one per cache). Expects the
  // guest target in %rdx with guest rcx/rdx saved in s1/s2.
  // *force_miss: offset of the rel8 of its table-hit branch; writing 0 there
  // makes every lookup a miss (asynchronous exit requests).
  static size_t emit_lookup_routine(Emitter& e, size_t* force_miss);

 private:
  struct Ctx;
  bool translate_insn(Ctx& c, const Insn& in, bool* end);
  void emit_callout(Ctx& c, const Insn& in, CalloutOp op, uint8_t a, uint8_t b, uint8_t cc, uint64_t target,
                    uint64_t aux, bool ends);
  bool emit_ea(Ctx& c, const Insn& in, uint64_t* aux, uint64_t* target);
  bool emit_ident(Ctx& c, const Insn& in);
  void emit_div_check(Ctx& c, const Insn& in);
  // inline_sensitive.cpp: false when the instruction is not done inline here.
  bool emit_inline_sensitive(Ctx& c, const Insn& in, bool* end);
  void emit_inline_guard(Ctx& c, const Insn& in, uint32_t ok_off, CalloutOp op, uint8_t a);
  void emit_inline_syscall(Ctx& c, const Insn& in);
  void emit_inline_sysret(Ctx& c, const Insn& in);
  void emit_inline_pushf(Ctx& c);
  void emit_inline_popf(Ctx& c, const Insn& in, int src = -1);
  bool soft_pushf_popf(Ctx& c, const Insn& in);  // softmmu_emit.cpp
  void emit_inline_rdtsc(Ctx& c, const Insn& in);
  void emit_inline_cpuid(Ctx& c, const Insn& in);
  void emit_inline_swapgs(Ctx& c);
  void emit_light_port_io(Ctx& c, const Insn& in);
  static void emit_inline_count(Emitter& e, InlineOp op, int reg);
  static void emit_inline_count_saving(Emitter& e, InlineOp op);
  // Address checks before a guest instruction (address_checks.cpp).
  void emit_address_checks(Ctx& c, const Insn& in);
  // margin_ok: a stack access the quick form cannot take may use the margin
  // form (false where the block ends with the instruction: nothing to cover).
  void emit_address_check(Ctx& c, const MemRef& m, bool write, bool flags_dead, bool addr32 = false,
                          bool margin_ok = true);
  bool flags_dead_at(Ctx& c, const Insn& in);
  static void track_checked_regs(Ctx& c, const Insn& in);
  // Check hoisting on self-loops: the entry past the block's first quick
  // checks for a back edge here (0: none); records the back edges of `in`.
  static size_t loop_entry(Ctx& c);
  static void note_back_edges(Ctx& c, const Insn& in, size_t mark);
  const Insn* lookahead(Ctx& c, uint64_t pc);
  void emit_check_stubs(Ctx& c);
  bool emit_seg_rewrite(Ctx& c, const Insn& in);
  // The instruction with its memory operand replaced by (%t), t holding the
  // whole linear address (saved in s4), checked like any other access
  // (address_checks.cpp); pfx/opc/regfield/tail: its re-encoding.
  bool emit_via_scratch(Ctx& c, const Insn& in, int t, const uint8_t* opc, int nopc, int regfield,
                        const uint8_t* tail, int ntail, bool check);
  int begin_scratch(Ctx& c, const Insn& in, uint16_t avoid);
  bool emit_moffs(Ctx& c, const Insn& in);
  void emit_linear_check(Ctx& c, const Insn& in, int t);
  bool emit_load_operand_rdx(Ctx& c, const Insn& in);
  void begin_lookup(Ctx& c);
  void emit_branch_stub_site(Ctx& c, size_t rel_off, uint64_t target);
  // bt-softmmu (softmmu_emit.cpp). soft_insn: instructions whose memory
  // accesses are implicit (stack, strings) or that need the TLB before the
  // generic path; false when the instruction is left to the other rules.
  bool soft_insn(Ctx& c, const Insn& in, bool* end, bool* ok);
  bool soft_mem(Ctx& c, const Insn& in);
  bool soft_mem_vex(Ctx& c, const Insn& in);
  bool soft_load_in_dest(Ctx& c, const Insn& in);
  bool soft_probe_alone(Ctx& c, const Insn& in, int d, uint32_t size, bool write);
  // The probe of the guest VA in `va` for `size` bytes; on return `va` holds
  // the host address (a miss exits, kTlb* `bits`; `s4reg` is the register
  // saved in s4). Then the access(es) through it, then soft_end.
  void soft_probe(Ctx& c, const Insn& in, int va, uint32_t size, uint8_t bits, int s4reg);
  void soft_end(Ctx& c);
  void emit_soft_stubs(Ctx& c);
  // One probe for an access and later ones through the same base register
  // within its page (softmmu_cover.cpp): soft_cover_begin plans and probes
  // the span at its first access; soft_cover_insn emits the instructions
  // inside it (covered accesses, side exits); emit_cover_stubs the miss,
  // page-crossing and side-exit paths.
  bool soft_cover_begin(Ctx& c, const Insn& in);
  uint16_t soft_dead_at(Ctx& c, uint64_t pc, int index);
  // bt-softmmu, extended blocks: a jcc back to the block's start, the first
  // one: its inverse becomes the side exit and the block goes on at the start.
  static bool soft_unroll_at(const Ctx& c, const Insn& in, bool unrolled);
  bool soft_unroll(Ctx& c, const Insn& in);
  bool soft_cover_insn(Ctx& c, const Insn& in, bool* ok);
  void emit_cover_stubs(Ctx& c);
  // The instruction re-encoded with its ModRM memory operand replaced by `m`.
  bool emit_access_at(Ctx& c, const Insn& in, const MemRef& m);
  bool emit_operand_address(Ctx& c, const Insn& in, int dst, uint8_t opcode);
  Decoder& dec_;
};

// Encodes `opcode` with a ModRM memory operand (always disp32 form).
// `m.rip` means m.disp is an absolute target to be reached rip-relatively.
// Returns false when it cannot be encoded (rip target out of range).
bool emit_modrm_mem(Emitter& e, const uint8_t* pfx, int npfx, bool rex_w, bool force_rex, const uint8_t* opc, int nopc,
                    int regfield, const MemRef& m, const uint8_t* tail, int ntail);

}  // namespace vtb::bt
