// tags: engines|bt — desc: isolation in translated code: every memory access is checked against what user or kernel code may address (guest kernel, host structures) before it runs.
#include "engines/bt/translator_ctx.h"

#include <cstdint>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "engines/bt/layout.h"

namespace vtb::bt {

namespace {
uint8_t modrm_reg(const Insn& in) { return uint8_t((in.bytes[in.modrm_off] >> 3) & 7); }
MemRef reg_ref(int base, int64_t disp) {
  MemRef m;
  m.base = base;
  m.disp = disp;
  return m;
}

// Arithmetic-flag effect of an instruction, by opcode (conservative). Writers
// are only add, sub, cmp and neg: they define all of OF SF ZF AF PF CF and
// read none. and/or/xor/test leave AF and imul leaves SF ZF AF PF
// "undefined", which real CPUs may implement as "unchanged" (the CPL 3
// differential test caught imul). Neutral: plain data moves.
enum class FlagUse { Writes, Neutral, Other };
FlagUse flag_use(const Insn& in) {
  if (in.vex) return FlagUse::Other;
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  const uint8_t ext = in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0;
  if (o0 < 0x40 && (o0 & 7) < 6) {  // the ALU block: add or adc sbb and sub xor cmp
    const uint8_t op = o0 >> 3;
    return (op == 0 || op == 5 || op == 7) ? FlagUse::Writes : FlagUse::Other;
  }
  if (o0 >= 0x80 && o0 <= 0x83 && o0 != 0x82) return (ext == 0 || ext == 5 || ext == 7) ? FlagUse::Writes : FlagUse::Other;
  if ((o0 == 0xf6 || o0 == 0xf7) && ext == 3) return FlagUse::Writes;  // neg
  if ((o0 >= 0x88 && o0 <= 0x8b) || o0 == 0x8d || o0 == 0xc6 || o0 == 0xc7 || (o0 >= 0xb0 && o0 <= 0xbf) ||
      o0 == 0x63 || o0 == 0x90 || (o0 >= 0x50 && o0 <= 0x5f))
    return FlagUse::Neutral;  // mov, lea, movsxd, nop, push/pop reg
  if (o0 == 0x0f && (o1 == 0xb6 || o1 == 0xb7 || o1 == 0xbe || o1 == 0xbf || o1 == 0x1f)) return FlagUse::Neutral;
  return FlagUse::Other;
}
}  // namespace

// Are the arithmetic flags dead before `in` (overwritten by it or by a later
// instruction of the same straight-line run before anything reads them)?
bool Translator::flags_dead_at(Ctx& c, const Insn& in) {
  const FlagUse self = flag_use(in);
  if (self == FlagUse::Writes) return true;
  if (self != FlagUse::Neutral) return false;
  uint64_t pc = in.pc + in.len;
  for (int k = 0; k < 6; ++k) {
    const Insn* n = lookahead(c, pc);
    if (!n) return false;
    const FlagUse u = flag_use(*n);
    if (u == FlagUse::Writes) return true;
    if (u != FlagUse::Neutral) return false;
    pc += n->len;
  }
  return false;
}

// Decoded instructions ahead of the one being translated, kept for the main
// loop (which decodes them next): each instruction is decoded once.
const Insn* Translator::lookahead(Ctx& c, uint64_t pc) {
  if (const int i = c.ahead_find(pc); i >= 0) return &c.ahead[size_t(i)];
  uint8_t code[16];
  Insn n;
  const size_t got = c.env.fetch(pc, code, 15);
  if (!got || !dec_.decode(code, got, pc, &n)) return nullptr;
  size_t slot = c.ahead.size();  // a ring of Ctx::kAhead: the oldest goes
  if (slot < size_t(Ctx::kAhead)) {
    c.ahead.push_back(std::move(n));
  } else {
    slot = size_t(c.ahead_next);
    c.ahead_next = (c.ahead_next + 1) % Ctx::kAhead;
    c.ahead[slot] = std::move(n);
  }
  c.ahead_pc[slot] = pc;
  return &c.ahead[slot];
}

namespace {
void cmp_abs(Emitter& e, int reg, uint32_t off) {  // cmp off(abs), %reg (3b /r)
  MemRef lim;
  lim.disp = int64_t(kGlobalBase + off);
  const uint8_t cmp = 0x3b;
  emit_modrm_mem(e, nullptr, 0, true, false, &cmp, 1, reg, lim, nullptr, 0);
}
// cmp $imm32,%reg (REX.W 81 /7; the immediate is sign-extended, so < 2 GiB)
void cmp_imm(Emitter& e, int reg, uint32_t imm) {
  e.b(uint8_t(0x48 | (reg >= 8 ? 1 : 0)));
  e.b(0x81);
  e.b(uint8_t(0xf8 | (reg & 7)));
  e.d32(imm);
}
size_t jmp_to_later(Emitter& e) {  // jmp rel32, patched by the caller; returns the field
  e.b(0xe9);
  const size_t at = e.size();
  e.d32(0);
  return at;
}
void pext_abs_rcx(Emitter& e, uint32_t off) {  // pext off(abs), %rcx, %rcx
  const uint8_t pext[] = {0xc4, 0xe2, 0xf2, 0xf5, 0x0c, 0x25};
  e.bytes(pext, sizeof pext);
  e.d32(uint32_t(kGlobalBase + off));
}
}  // namespace

// Guest code may address only its allowance (guest_may_address): user code
// [0, 1 GiB) and [2 GiB, 512 GiB) — neither the guest kernel (8 TiB up) nor
// the host's own range in the second GiB (vCPU block with exit_fn/host_sp,
// lookup tables, user translation cache); kernel code the window
// [.., 16 TiB) minus the second GiB and the host's translation cache below
// 8 TiB. Neither form below changes a guest register or (when live) a flag.
//
// Quick form: flags dead, base register only, |disp| <= 1 MiB; bounds
// widened by 1 MiB so the displacement cannot cross them; the likely side
// inline with not-taken branches, the rest out of line (emit_check_stubs):
//   user, other bases: cmp $hole_lo,%base; jae slow   (an immediate: below 2 GiB)
//   user, rsp/rbp:     cmp hole_hi,%base; jb slow; cmp user_limit,%base; jae fail
//   kernel:            cmp khalf_lo,%base; jb slow; cmp khalf_hi,%base; jae fail
// A legal address the widened bounds refuse is caught by the dispatcher,
// which retranslates that instruction with the exact form.
// Exact form (flags live, an index register, a large displacement, addr32):
//   mov %rcx,s6; lea ea,%rcx; ...pext/jrcxz tests...; mov s6,%rcx
void Translator::emit_address_check(Ctx& c, const MemRef& m, bool write, bool flags_dead, bool addr32,
                                    bool margin_ok) {
  Emitter& e = c.e;
  const bool kernel = !c.env.user_checks;
  MemRef r = m;
  r.seg = 0;
  const uint64_t pc = c.blk->pc + c.blk->map.back().guest_off;
  if (r.rip || (r.base < 0 && r.index < 0)) {  // a constant address: decided now
    const uint64_t a = r.rip ? uint64_t(r.disp) : addr32 ? uint64_t(uint32_t(r.disp)) : uint64_t(r.disp);
    if (guest_may_address(a, !kernel)) return;
    MemRef k;
    k.disp = int64_t(a);
    c.check_stubs.push_back({e.jmp32(e.pc()), k, write, pc, c.index, false, false});
    ++c.checks;
    return;
  }
  const bool exact = c.env.exact_check && c.env.exact_check(pc);
  const bool small = r.disp >= -kCheckMaxDisp && r.disp <= kCheckMaxDisp;
  if (r.base >= 0 && r.index < 0 && !exact && !addr32 && c.anchor[r.base].valid) {
    // The base is `delta` from a value a quick check of this block accepted:
    // every accepted value lies 1 MiB or more inside the allowance, so this
    // access is allowed when it stays within that distance (flags untouched).
    const int64_t off = c.anchor[r.base].delta + r.disp;
    if (off >= -kCheckMaxDisp && off <= kCheckMaxDisp) {
      ++c.checks_elided;
      return;
    }
  }
  if (flags_dead && r.base >= 0 && r.index < 0 && small && !exact && !addr32) {
    // A user data check that is the block's first code may be hoisted out of
    // a self-loop (loop_entry): nothing but such checks before it.
    const size_t prefix = c.loop_checks.empty() ? size_t(c.blk->tc_fast - c.blk->tc) : c.loop_checks.back().after;
    int hoist = -1;
    if (!kernel && r.base != RSP && r.base != RBP && c.index == 0 && !c.env.softmmu && e.size() == prefix) {
      hoist = int(c.loop_checks.size());
      c.loop_checks.push_back({r.base, 0, c.slow_checks.size()});
    }
    c.anchor[r.base] = {true, 0, hoist};  // set before the check: a refusal leaves the block
    int kind = 2;
    if (kernel) {
      cmp_abs(e, r.base, BT_OFF_KHALF_LO);  // jb slow: below the kernel half
      c.slow_checks.push_back({e.jcc32(0x2, e.pc()), r.base, kind, r, write, pc, c.index, 0});
      cmp_abs(e, r.base, BT_OFF_KHALF_HI);
      c.check_stubs.push_back({e.jcc32(0x3, e.pc()), r, write, pc, c.index, false, false});  // jae fail
    } else if (r.base != RSP && r.base != RBP) {
      kind = 0;
      cmp_imm(e, r.base, uint32_t(VTB_HOST_RESERVED_USER_LO - kCheckMaxDisp));  // jae slow: the hole or above
      c.slow_checks.push_back({e.jcc32(0x3, e.pc()), r.base, kind, r, write, pc, c.index, 0});
    } else {
      kind = 1;
      cmp_abs(e, r.base, BT_OFF_HOLE_HI);  // jb slow: the hole or below
      c.slow_checks.push_back({e.jcc32(0x2, e.pc()), r.base, kind, r, write, pc, c.index, 0});
      cmp_abs(e, r.base, BT_OFF_USER_LIMIT);
      c.check_stubs.push_back({e.jcc32(0x3, e.pc()), r, write, pc, c.index, false, false});  // jae fail
    }
    c.slow_checks.back().back = e.size();
    if (hoist >= 0) c.loop_checks.back().after = e.size();
    ++c.checks;
    return;
  }
  // A stack access the quick form cannot take (flags live): both ends of
  // its 1 MiB margin are checked instead of the address, so that it covers
  // the pushes and pops after it (track_checked_regs) — no allowed range is
  // narrower than 2 MiB, so two allowed ends mean an allowed margin. A
  // refusal near a bound is retranslated with the plain exact form.
  const bool margin = margin_ok && r.base == RSP && r.index < 0 && small && !exact && !addr32;
  const uint8_t lea = 0x8d;
  const uint8_t a32[] = {0x67};
  std::vector<size_t> fails;  // rel8 of jrcxz to the failure jump
  // The exact tests of one address (into %rcx): `oks` go past all tests.
  auto test = [&](const MemRef& at, std::vector<size_t>* oks) {
    auto lea_rcx = [&] { return emit_modrm_mem(e, a32, addr32 ? 1 : 0, true, false, &lea, 1, RCX, at, nullptr, 0); };
    if (!lea_rcx()) return false;
    if (kernel) {
      // ea < 16 TiB: pext ~(16T-1) is 0; then ea >> 30 not 1 (second GiB) nor 8191 (host range below 8 TiB)
      pext_abs_rcx(e, BT_OFF_SHIFT44_MASK);
      e.b(0xe3); e.b(2);  // jrcxz +2 (over the short jmp)
      e.b(0xeb); fails.push_back(e.size()); e.b(0);  // jmp fail
      e.load_abs(RCX, kGlobalBase + BT_OFF_S6);
      lea_rcx();
      pext_abs_rcx(e, BT_OFF_SHIFT30_MASK);  // ea >> 30
      e.b(0xe3); oks->push_back(e.size()); e.b(0);       // jrcxz ok (below 1 GiB)
      e.b(0x48); e.b(0x8d); e.b(0x49); e.b(0xff);        // lea -1(%rcx),%rcx
      e.b(0xe3); fails.push_back(e.size()); e.b(0);      // jrcxz fail (second GiB)
      e.b(0x48); e.b(0x8d); e.b(0x89); e.d32(uint32_t(-8190));  // lea -8190(%rcx),%rcx
      e.b(0xe3); fails.push_back(e.size()); e.b(0);      // jrcxz fail (the GiB below 8 TiB)
      e.b(0xeb); oks->push_back(e.size()); e.b(0);       // jmp ok
    } else {
      pext_abs_rcx(e, BT_OFF_SHIFT30_MASK);  // ea >> 30
      e.b(0xe3); oks->push_back(e.size()); e.b(0);       // jrcxz ok (below 1 GiB)
      e.b(0x48); e.b(0x8d); e.b(0x49); e.b(0xff);        // lea -1(%rcx),%rcx
      e.b(0xe3); fails.push_back(e.size()); e.b(0);      // jrcxz fail (the second GiB)
      pext_abs_rcx(e, BT_OFF_SHIFT9_MASK);
      e.b(0xe3); oks->push_back(e.size()); e.b(0);       // jrcxz ok (below 513 GiB; the unmapped gap covers the last one)
      e.b(0xeb); fails.push_back(e.size()); e.b(0);      // jmp fail
    }
    return true;
  };
  std::vector<size_t> oks, far_fails;
  e.store_abs(RCX, kGlobalBase + BT_OFF_S6);
  if (margin) {
    MemRef lo = r, hi = r;
    lo.disp -= kCheckMaxDisp;
    hi.disp += kCheckMaxDisp;
    std::vector<size_t> first;
    test(lo, &first);
    // The first end's failures (rel8: out of reach of the common failure
    // jump after the second test) go to a jump of their own to it.
    for (size_t f : fails) *e.at(f) = uint8_t(e.size() - (f + 1));
    fails.clear();
    const size_t far_fail = jmp_to_later(e);
    for (size_t o : first) *e.at(o) = uint8_t(e.size() - (o + 1));
    e.load_abs(RCX, kGlobalBase + BT_OFF_S6);
    test(hi, &oks);
    far_fails.push_back(far_fail);
    c.anchor[r.base] = {true, -r.disp};  // the margin is centred on the address
  } else if (!test(r, &oks)) {
    e.load_abs(RCX, kGlobalBase + BT_OFF_S6);
    return;
  }
  for (size_t f : fails) *e.at(f) = uint8_t(e.size() - (f + 1));
  for (size_t f : far_fails) e.patch_rel32(f, e.pc());
  c.check_stubs.push_back({e.jmp32(e.pc()), r, write, pc, c.index, true, addr32});
  for (size_t o : oks) *e.at(o) = uint8_t(e.size() - (o + 1));
  e.load_abs(RCX, kGlobalBase + BT_OFF_S6);
  ++c.checks;
}

// After `in`: follow what it does to registers a quick check accepted. Only
// forms whose effect is known keep anchors: a 64-bit add/sub of an
// immediate or a lea on the register itself moves it by a constant,
// push/pop/call move rsp by 8; instructions that write no GPR keep all of
// them; a write to a register drops its anchor; anything else (callouts,
// inline sequences, division, string ops, VEX...) drops every anchor.
void Translator::track_checked_regs(Ctx& c, const Insn& in) {
  auto& an = c.anchor;
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  // A byte register operand without REX numbered 4..7 is ah/ch/dh/bh: bits
  // 8-15 of rax..rbx (not spl..dil).
  const bool high8 = !in.rex && ((o0 < 0x40 && (o0 & 7) <= 3 && !(o0 & 1)) || o0 == 0x88 || o0 == 0x8a ||
                                 o0 == 0xc6 || (o0 >= 0xb0 && o0 <= 0xb7) || o0 == 0xc0 || o0 == 0xd0 || o0 == 0xd2 ||
                                 o0 == 0xf6 || o0 == 0xfe || (o0 == 0x0f && o1 >= 0x90 && o1 <= 0x9f));
  auto kill_all = [&] { for (auto& a : an) a.valid = false; };
  auto kill = [&](int r) {
    if (high8 && r >= 4 && r < 8) r -= 4;
    if (r >= 0 && r < 16) an[r].valid = false;
  };
  auto move = [&](int r, int64_t d) {
    if (!an[r].valid) return;
    an[r].delta += d;
    if (an[r].delta < -kCheckMaxDisp || an[r].delta > kCheckMaxDisp) an[r].valid = false;
  };
  if (in.vex || in.rep || in.repne || in.lock) return kill_all();
  const bool w = in.rex & 8;
  const bool reg_dst = in.has_modrm && in.mod == 3;
  const uint8_t ext = in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0;
  const int low = (o0 & 7) | ((in.rex & 1) ? 8 : 0);  // register in the opcode byte
  if (o0 < 0x40 && (o0 & 7) <= 5) {  // ALU: add or adc sbb and sub xor cmp
    const bool cmp = (o0 >> 3) == 7;
    if (cmp) return;
    if ((o0 & 7) <= 1) return reg_dst ? kill(in.rm) : void();
    if ((o0 & 7) <= 3) return kill(in.reg);
    return kill(RAX);
  }
  if (o0 == 0x81 || o0 == 0x83) {
    if (!reg_dst || ext == 7) return;
    if (w && (ext == 0 || ext == 5)) return move(in.rm, ext == 0 ? in.imm : -in.imm);
    return kill(in.rm);
  }
  if (o0 == 0x84 || o0 == 0x85 || o0 == 0xa8 || o0 == 0xa9 || (o0 >= 0x70 && o0 <= 0x7f)) return;
  if (o0 == 0x90) return (in.rex & 1) ? kill_all() : void();  // nop; with REX.B xchg %r8,%rax
  if (o0 == 0x88 || o0 == 0x89 || o0 == 0xc6 || o0 == 0xc7) return reg_dst ? kill(in.rm) : void();
  if (o0 == 0x8a || o0 == 0x8b || o0 == 0x63 || o0 == 0x69 || o0 == 0x6b) return kill(in.reg);
  if (o0 == 0x8d) {
    if (w && !in.addr32 && !in.mem.rip && !in.mem.seg && in.mem.index < 0 && in.mem.base == in.reg)
      return move(in.reg, in.mem.disp);
    return kill(in.reg);
  }
  const int64_t slot = in.opsize ? 2 : 8;  // a 0x66 push/pop moves rsp by 2
  if (o0 >= 0x50 && o0 <= 0x57) return move(RSP, -slot);
  if (o0 == 0x6a || o0 == 0x68) return move(RSP, -slot);
  if (o0 >= 0x58 && o0 <= 0x5f) {
    move(RSP, slot);
    return kill(low);
  }
  if (o0 >= 0xb8 && o0 <= 0xbf) return kill(low);
  if (o0 == 0xc0 || o0 == 0xc1 || (o0 >= 0xd0 && o0 <= 0xd3)) return reg_dst ? kill(in.rm) : void();
  if ((o0 == 0xf6 || o0 == 0xf7) && ext <= 3) return (ext >= 2 && reg_dst) ? kill(in.rm) : void();
  if ((o0 == 0xfe || o0 == 0xff) && ext <= 1) return reg_dst ? kill(in.rm) : void();
  if (o0 == 0x0f) {
    if ((o1 >= 0x80 && o1 <= 0x8f) || o1 == 0x1f) return;
    if (o1 == 0xb6 || o1 == 0xb7 || o1 == 0xbe || o1 == 0xbf || o1 == 0xaf || (o1 >= 0x40 && o1 <= 0x4f))
      return kill(in.reg);
    if (o1 >= 0x90 && o1 <= 0x9f) return reg_dst ? kill(in.rm) : void();
  }
  kill_all();
}

// Check hoisting on self-loops. A quick user check `cmp $hole_lo-1M,%R; jae
// slow` at the very start of the block accepted R (fast side: R below
// hole_lo - 1 MiB). On a back edge to the block's own start where R has only
// moved by constants since, by d in [-1 MiB, 0] (track_checked_regs), R is
// still below that bound — unless it wrapped below 0, to within 1 MiB of
// 2^64: then every access it covers lies in [2^64 - 2 MiB, 2^64) (the host
// kernel half: a host #PF that becomes the guest's #PF, as for any quick
// check's margin) or wraps to [0, 1 MiB) (user memory). So the check's
// answer is known and the back edge may enter past it: the entry offset
// after the longest run of such checks, 0 when none. The accepted slow side
// (R in the upper user range, from which a decreasing R reaches the hole)
// must then not come back: it exits and the dispatcher retranslates the
// instruction with the exact check (emit_check_stubs).
size_t Translator::loop_entry(Ctx& c) {
  size_t entry = 0;
  int n = 0;
  for (const Ctx::LoopCheck& k : c.loop_checks) {
    const Ctx::Anchor& a = c.anchor[k.reg];
    if (!a.valid || a.hoist != n || a.delta > 0 || a.delta < -kCheckMaxDisp) break;
    entry = k.after;
    ++n;
  }
  for (int i = 0; i < n; ++i) c.slow_checks[c.loop_checks[size_t(i)].slow].loop = true;
  c.checks_hoisted += n;
  return entry;
}

// After a direct branch (stubs from `mark` on): a jcc/jmp back to the
// block's own start gets a second entry past the hoisted checks. The
// runtime chains it there only where back edges skip the budget check
// (asynchronous exits: the timer unchains them, so the loop stays
// interruptible); loop/jrcxz (rcx moves) and every other branch do not.
void Translator::note_back_edges(Ctx& c, const Insn& in, size_t mark) {
  if (c.loop_checks.empty() || in.vex) return;
  if (!in.is_jcc() && in.opcode0() != 0xe9 && in.opcode0() != 0xeb) return;
  for (size_t i = mark; i < c.stubs.size(); ++i) {
    if (c.stubs[i].second != c.blk->pc) continue;
    if (const size_t entry = loop_entry(c)) c.loop_back.push_back({c.stubs[i].first, entry});
  }
}

namespace {
// Does the instruction write its explicit memory operand? (For the W bit of
// the #PF a refused access becomes; reads are assumed otherwise.)
bool writes_memory(const Insn& in) {
  if (in.vex) return false;
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  const uint8_t ext = in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0;
  uint8_t reg;
  int size;
  uint64_t imm;
  bool high8;
  if (simple_store(in, &reg, &size, &imm, &high8)) return true;
  if (o0 < 0x40 && (o0 & 7) <= 1) return (o0 >> 3) != 7;           // ALU r/m, reg (not cmp)
  if (o0 >= 0x80 && o0 <= 0x83) return ext != 7;                    // ALU r/m, imm (not cmp)
  if (o0 == 0x86 || o0 == 0x87 || o0 == 0x8f) return true;           // xchg, pop r/m
  if (o0 == 0xc0 || o0 == 0xc1 || (o0 >= 0xd0 && o0 <= 0xd3)) return true;  // shifts/rotates
  if ((o0 == 0xf6 || o0 == 0xf7) && (ext == 2 || ext == 3)) return true;     // not, neg
  if ((o0 == 0xfe || o0 == 0xff) && ext <= 1) return true;                   // inc, dec
  if (o0 == 0x0f && ((o1 >= 0x90 && o1 <= 0x9f) || o1 == 0xb0 || o1 == 0xb1 || o1 == 0xc0 || o1 == 0xc1 ||
                     o1 == 0xab || o1 == 0xb3 || o1 == 0xbb || o1 == 0xc7 || o1 == 0x11 || o1 == 0x29 || o1 == 0x7f ||
                     o1 == 0xd6 || o1 == 0xe7 || o1 == 0x2b))
    return true;  // setcc, cmpxchg, xadd, bts/btr/btc, cmpxchg8b/16b, SSE stores
  return false;
}
}  // namespace

// Which addresses a user instruction touches: its explicit memory operand and
// the implicit ones (stack, string operands, xlat). Starting addresses are
// enough: between the user range and anything else in the window lies an
// unmapped gap far larger than any single access can span.
void Translator::emit_address_checks(Ctx& c, const Insn& in) {
  int dead_memo = -1;  // the look-ahead only when a check is emitted
  auto dead = [&] {
    if (dead_memo < 0) dead_memo = flags_dead_at(c, in) ? 1 : 0;
    return dead_memo == 1;
  };
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  const bool legacy = !in.vex;
  // explicit operand
  if (in.has_mem && !in.mem.seg) {
    const bool no_access = legacy && (o0 == 0x8d ||                                       // lea
                                      (o0 == 0x0f && (o1 == 0x1f || (o1 >= 0x18 && o1 <= 0x1e) || o1 == 0x0d)));  // nop, hints, prefetch
    const bool vsib = in.vex && in.mem.index >= 0 && o0 != 0x0f;  // gathers index with vector registers: not a GPR
    if (!no_access && !vsib) {
      MemRef m = in.mem;
      if (m.rip) m.disp = int64_t(in.pc + in.len + uint64_t(in.mem.disp));  // the target, decided now
      emit_address_check(c, m, writes_memory(in), dead(), in.addr32);
    }
  }
  if (!legacy) return;
  const bool a32 = in.addr32;  // string operands and xlat use esi/edi/ebx then (the stack stays 64-bit)
  // implicit stack accesses
  const bool push = (o0 >= 0x50 && o0 <= 0x57) || o0 == 0x6a || o0 == 0x68 || o0 == 0x9c || o0 == 0xc8 ||
                    (o0 == 0xff && in.has_modrm && (modrm_reg(in) == 6 || modrm_reg(in) == 2)) || o0 == 0xe8 ||
                    (o0 == 0x0f && (o1 == 0xa0 || o1 == 0xa8));
  const bool pop = (o0 >= 0x58 && o0 <= 0x5f) || o0 == 0x9d || o0 == 0xc3 || o0 == 0xc2 ||
                   (o0 == 0x8f && in.has_modrm && modrm_reg(in) == 0) || (o0 == 0x0f && (o1 == 0xa1 || o1 == 0xa9));
  // call/ret end the block: their stack check has nothing after it to cover.
  const bool transfer = o0 == 0xe8 || o0 == 0xc3 || o0 == 0xc2 || (o0 == 0xff && in.has_modrm && modrm_reg(in) == 2);
  if (push) emit_address_check(c, reg_ref(RSP, -8), true, dead(), false, !transfer);
  if (pop) emit_address_check(c, reg_ref(RSP, 0), false, dead(), false, !transfer);
  if (o0 == 0xc9) emit_address_check(c, reg_ref(RBP, 0), false, dead());  // leave
  // enter imm16, L: with a nesting level L > 1 it also copies L - 1 frame
  // pointers from [rbp - 8] downwards (at most 248 bytes, inside the gap).
  if (o0 == 0xc8 && in.len > in.op_off + 3 && (in.bytes[in.op_off + 3] & 31) > 1)
    emit_address_check(c, reg_ref(RBP, -8), false, dead());
  if (o0 == 0xd7) emit_address_check(c, reg_ref(RBX, 0), false, dead(), a32);  // xlat
  // string operands (movs cmps lods: rsi; movs cmps stos scas: rdi)
  if ((o0 == 0xa4 || o0 == 0xa5 || o0 == 0xa6 || o0 == 0xa7 || o0 == 0xac || o0 == 0xad) && !in.seg)
    emit_address_check(c, reg_ref(RSI, 0), false, dead(), a32);  // with %fs:/%gs: emulated (StringSeg) and checked there
  if (o0 == 0xa4 || o0 == 0xa5 || o0 == 0xaa || o0 == 0xab)
    emit_address_check(c, reg_ref(RDI, 0), true, dead(), a32);
  if (o0 == 0xa6 || o0 == 0xa7 || o0 == 0xae || o0 == 0xaf)
    emit_address_check(c, reg_ref(RDI, 0), false, dead(), a32);
}

// The linear address of a rewritten %fs:/%gs:/far operand, in t: the exact
// check (prefetches touch nothing). A refused access leaves through a stub
// that puts t back (the rewrite saved it in s4).
void Translator::emit_linear_check(Ctx& c, const Insn& in, int t) {
  if (!c.env.user_checks && !c.env.kernel_checks) return;
  const uint8_t o1 = in.opcode1();
  if (!in.vex && in.opcode0() == 0x0f && ((o1 >= 0x18 && o1 <= 0x1f) || o1 == 0x0d)) return;
  const size_t before = c.check_stubs.size();
  emit_address_check(c, reg_ref(t, 0), writes_memory(in), false);
  for (size_t i = before; i < c.check_stubs.size(); ++i) c.check_stubs[i].restore_reg = t;
}

// A failed check: restore %rcx, put the address in AsmVcpu::ea, leave.
void Translator::emit_check_stubs(Ctx& c) {
  Emitter& e = c.e;
  // First the out-of-line halves of quick checks (they add failure stubs).
  for (const auto& s : c.slow_checks) {
    e.patch_rel32(s.rel_off, e.pc());
    auto fail_if = [&](uint8_t cc) { c.check_stubs.push_back({e.jcc32(cc, e.pc()), s.m, s.write, s.pc, s.index, false, false}); };
    if (s.kind == 0) {         // user, at or above hole_lo: fail inside the hole or past the user range
      cmp_abs(e, s.base, BT_OFF_HOLE_HI);
      fail_if(0x2);            // jb
      cmp_abs(e, s.base, BT_OFF_USER_LIMIT);
      fail_if(0x3);            // jae
    } else if (s.kind == 1) {  // user, below hole_hi: fail unless below hole_lo
      cmp_abs(e, s.base, BT_OFF_HOLE_LO);
      fail_if(0x3);            // jae
    } else {                   // kernel, below the kernel half: fine below the hole and between it and the host range
      cmp_abs(e, s.base, BT_OFF_HOLE_LO);
      e.b(0x72);               // jb back (rel8 patched below)
      const size_t back8 = e.size();
      e.b(0);
      cmp_abs(e, s.base, BT_OFF_HOLE_HI);
      fail_if(0x2);            // jb
      cmp_abs(e, s.base, BT_OFF_KRES_LO);
      fail_if(0x3);            // jae
      const uint64_t back_pc = e.pc() - e.size() + s.back;
      e.jmp32(back_pc);
      *e.at(back8) = uint8_t(e.size() - 5 - (back8 + 1));  // to the jmp back
      continue;
    }
    if (s.loop) {  // hoisted from a self-loop: an accepted address leaves (a legal one is retranslated exactly)
      c.check_stubs.push_back({e.jmp32(e.pc()), s.m, s.write, s.pc, s.index, false, false});
      continue;
    }
    e.jmp32(e.pc() - e.size() + s.back);  // back behind the check
  }
  for (const auto& s : c.check_stubs) {
    e.patch_rel32(s.rel_off, e.pc());
    if (s.restore_rcx) e.load_abs(RCX, kGlobalBase + BT_OFF_S6);
    e.store_abs(RAX, kGlobalBase + BT_OFF_S0);  // s4 may hold a rewrite's scratch register
    const uint8_t lea = 0x8d;
    const uint8_t a32[] = {0x67};
    const bool constant = s.m.base < 0 && s.m.index < 0;
    if (constant && (s.m.disp < INT32_MIN || s.m.disp > INT32_MAX)) {  // movabs $addr,%rax
      e.b(0x48); e.b(0xb8);
      e.d32(uint32_t(uint64_t(s.m.disp)));
      e.d32(uint32_t(uint64_t(s.m.disp) >> 32));
    } else {
      emit_modrm_mem(e, a32, s.addr32 ? 1 : 0, true, false, &lea, 1, RAX, s.m, nullptr, 0);
    }
    e.store_abs(RAX, kGlobalBase + BT_OFF_EA);
    e.load_abs(RAX, kGlobalBase + BT_OFF_S0);
    if (s.restore_reg >= 0) e.load_abs(s.restore_reg, kGlobalBase + BT_OFF_S4);
    ExitRecord r{};
    r.reason = ExitReason::UserAccess;
    r.guest_pc = s.pc;
    r.b = s.write;
    c.records.push_back({e.exit(r), s.index, false});
  }
}

}  // namespace vtb::bt
