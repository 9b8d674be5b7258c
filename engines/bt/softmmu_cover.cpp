// tags: engines|bt — desc: bt-softmmu: one TLB probe for an access and the later accesses of its straight-line run through the same base register within one page (the page's addend kept in a borrowed register, put back at the span's end, on its side exits and on a fault).
#include <algorithm>

#include "engines/bt/translator_ctx.h"

namespace vtb::bt {

// A cover (soft_cover_begin): at an explicit access [b + d0] with the
// arithmetic flags dead, the look-ahead over the straight-line run finds
// later accesses [b + d] through the same base register, b moved only by
// constants in between (add/sub imm, lea d(b),b), the other instructions
// register-only ones or side exits (no exit, no fault, no scratch use). One
// probe checks that the whole span [b + lo, b + hi) of them lies in one page
// with the first access's tag and puts the page's addend in a register %h
// the span does not use (guest %h in s4):
//   mov %h,s4
//   lea lo(%b),%h ; pext idx,%h,%h ; mov tag(,%h,8),%h
//   lea lo+span-1(%b,%h),%h ; cmp $4095,%h ; ja miss   ; not filled, or the span crosses a page
//   lea lo(%b),%h ; pext idx,%h,%h ; mov addend(,%h,8),%h
// or, when the span contains %b (lo <= 0 < hi: compute's loop, stack frames):
//   pext idx,%b,%h ; mov tag(,%h,8),%h ; lea lo(%b,%h),%h ; cmp $(4096-span),%h ; ja miss
//   pext idx,%b,%h ; mov addend(,%h,8),%h
// back: <first access on d0(%b,%h)>
//   ... <covered access on d(%b,%h)> ... <side exit: jcc to `mov s4,%h; jmp target`> ...
//   <last covered access> ; mov s4,%h   (none when %h is dead there: soft_dead_at)
// Out of line (emit_cover_stubs):
//   miss: span within a page?  no -> crossing
//         lea d0(%b),%h ; <exit TlbMiss for the first access alone: its own
//         size, direction and fault (CR2, error code), %h restored from s4>
//   fix:  sub %b,%h ; lea -d0(%h),%h ; jmp back        ; host - guest: the addend
//   crossing: lea d0(%b),%h ; <the one-register probe and the first access on (%h)>
//         mov s4,%h ; jmp <the block at the next instruction>
// A read-first span covers reads only (its fill asked for no write, and D
// must not be set before a store runs); a write-first one reads and writes
// through the write tag, which is absent for frames holding translations
// (self-modifying code still takes the fill). Covered accesses cannot miss or
// fault: the page is present with the access's rights for the whole span.

namespace {
constexpr int kCoverLook = 12;        // instructions looked at after the first access (a loop body twice)
constexpr int64_t kCoverSpan = 256;   // widest span covered

MemRef ref(int base, int64_t disp, int index = -1) {
  MemRef m;
  m.base = base;
  m.index = index;
  m.disp = disp;
  return m;
}
void lea64(Emitter& e, int dst, const MemRef& m) {
  const uint8_t op = 0x8d;
  emit_modrm_mem(e, nullptr, 0, true, false, &op, 1, dst, m, nullptr, 0);
}
// op $imm32,%r (REX.W 81 /ext)
void alu_imm(Emitter& e, int ext, int r, uint32_t imm) {
  e.b(uint8_t(0x48 | (r >= 8 ? 1 : 0)));
  e.b(0x81);
  e.b(uint8_t(0xc0 | (ext << 3) | (r & 7)));
  e.d32(imm);
}
uint8_t ext_of(const Insn& in) { return in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0; }
bool plain(const Insn& in) { return !in.vex && !in.rep && !in.repne && !in.lock && !in.seg && !in.addr32; }

// An explicit access through [base + disp] that soft_mem would probe, by an
// instruction re-encoded on any base/index pair (mov, ALU, test, movzx/sx, imul).
bool coverable(const Insn& in) {
  if (!plain(in) || !in.has_modrm || in.mod == 3 || !in.has_mem || in.mem.rip || in.mem.seg || in.mem.base < 0 ||
      in.mem.index >= 0)
    return false;
  const uint8_t o0 = in.opcode0(), o1 = in.opcode1();
  if (o0 == 0x0f) return o1 == 0xaf || o1 == 0xb6 || o1 == 0xb7 || o1 == 0xbe || o1 == 0xbf;
  if (o0 < 0x40) return (o0 & 7) < 4;
  switch (o0) {
    case 0x63: case 0x80: case 0x81: case 0x83: case 0x84: case 0x85: case 0x88: case 0x89: case 0x8a: case 0x8b:
      return true;
    case 0xc6: case 0xc7:
      return ext_of(in) == 0;
    default:
      return false;
  }
}

// A register-only instruction (lea and nop have an operand but no access)
// translated as a plain copy: no exit, no fault, no scratch register.
bool register_only(const Insn& in) {
  if (!plain(in) || in.transfer) return false;
  const uint8_t o0 = in.opcode0(), o1 = in.opcode1(), ext = ext_of(in);
  const bool rr = in.has_modrm && in.mod == 3;
  if (in.has_mem && (in.mem.rip || !(o0 == 0x8d || (o0 == 0x0f && o1 == 0x1f)))) return false;
  if (o0 == 0x0f)
    return o1 == 0x1f || (rr && (o1 == 0xaf || (o1 >= 0x40 && o1 <= 0x4f) || (o1 >= 0x90 && o1 <= 0x9f) || o1 == 0xb6 ||
                                 o1 == 0xb7 || o1 == 0xbe || o1 == 0xbf));
  if (o0 < 0x40) return (o0 & 7) < 4 ? rr : (o0 & 7) < 6;
  switch (o0) {
    case 0x63: case 0x69: case 0x6b: case 0x80: case 0x81: case 0x83: case 0x84: case 0x85: case 0x88: case 0x89:
    case 0x8a: case 0x8b: case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3:
      return rr;
    case 0x8d: case 0x98: case 0x99: case 0xa8: case 0xa9:
      return true;
    case 0x90:
      return !in.rex;
    case 0xf6: case 0xf7:
      return rr && (ext == 0 || ext == 2 || ext == 3);
    case 0xfe: case 0xff:
      return rr && ext <= 1;
    default:
      return o0 >= 0xb0 && o0 <= 0xbf;
  }
}

// The GPR an instruction of the two lists above writes (-1: none).
int dest_of(const Insn& in) {
  const uint8_t o0 = in.opcode0(), o1 = in.opcode1(), ext = ext_of(in);
  const bool mem = in.has_modrm && in.mod != 3;
  if (o0 == 0x0f) return (o1 >= 0x90 && o1 <= 0x9f) ? (mem ? -1 : in.rm) : o1 == 0x1f ? -1 : in.reg;
  if (o0 < 0x40) {
    if ((o0 >> 3) == 7) return -1;  // cmp
    return (o0 & 7) < 2 ? (mem ? -1 : in.rm) : (o0 & 7) < 4 ? in.reg : int(RAX);
  }
  switch (o0) {
    case 0x63: case 0x69: case 0x6b: case 0x8a: case 0x8b: case 0x8d: return in.reg;
    case 0x80: case 0x81: case 0x83: return (ext == 7 || mem) ? -1 : in.rm;
    case 0x88: case 0x89: case 0xc6: case 0xc7: return mem ? -1 : in.rm;
    case 0x84: case 0x85: case 0x90: case 0xa8: case 0xa9: return -1;
    case 0x98: return RAX;
    case 0x99: return RDX;
    case 0xf6: case 0xf7: return ext == 0 ? -1 : in.rm;
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: case 0xfe: case 0xff: return in.rm;
    default: return (o0 & 7) | ((in.rex & 1) ? 8 : 0);  // b0..bf: mov $imm,%r
  }
}

// How far a register-only instruction moves the 64-bit register b
// (add/sub $imm, lea d(b),b); false when it writes b otherwise.
bool moves_by(const Insn& in, int b, int64_t* d) {
  const uint8_t o0 = in.opcode0(), ext = ext_of(in);
  if (!(in.rex & 8)) return false;
  if ((o0 == 0x81 || o0 == 0x83) && in.mod == 3 && in.rm == b && (ext == 0 || ext == 5)) {
    *d = ext == 0 ? in.imm : -in.imm;
    return true;
  }
  if (o0 == 0x8d && in.reg == b && in.mem.base == b && in.mem.index < 0 && !in.mem.rip) {
    *d = in.mem.disp;
    return true;
  }
  return false;
}
// The register a register-only instruction overwrites whole without reading
// it (mov $imm / mov %s,%d / movzx / movsxd / lea not through itself, xor or
// sub of itself; 32 or 64 bits: the upper half is zeroed), else -1.
int overwrites(const Insn& in) {
  if (!plain(in) || in.opsize || !register_only(in)) return -1;
  const uint8_t o0 = in.opcode0(), o1 = in.opcode1();
  const bool rr = in.has_modrm && in.mod == 3;
  if (o0 >= 0xb8 && o0 <= 0xbf) return (o0 & 7) | ((in.rex & 1) ? 8 : 0);
  if (o0 == 0x8b && rr) return in.reg != in.rm ? in.reg : -1;
  if (o0 == 0x89 && rr) return in.reg != in.rm ? in.rm : -1;
  if (o0 == 0xc7 && rr && ext_of(in) == 0) return in.rm;
  if (o0 == 0x8d) return (in.mem.base != in.reg && in.mem.index != in.reg) ? in.reg : -1;
  if ((o0 == 0x31 || o0 == 0x33 || o0 == 0x29 || o0 == 0x2b) && rr && in.reg == in.rm) return in.reg;
  if (((o0 == 0x0f && (o1 == 0xb6 || o1 == 0xb7 || o1 == 0xbe || o1 == 0xbf)) || (o0 == 0x63 && (in.rex & 8))) && rr)
    return in.reg != in.rm ? in.reg : -1;
  return -1;
}
}  // namespace

// Guest registers dead at `pc` (the instruction there is number `index` of
// the block): the straight-line run from there overwrites them before
// anything reads them, with only register-only instructions before (nothing
// that leaves the block, exits or faults, where the value could be seen).
// A scratch register dead after its access needs no reload (its save stays
// for a fault at the access itself).
uint16_t Translator::soft_dead_at(Ctx& c, uint64_t pc, int index) {
  uint16_t dead = 0, touched = 0;
  for (int k = 0; k < 4 && index + k < kMaxBlockInsns; ++k) {
    const Insn* n = lookahead(c, pc);
    if (!n || !register_only(*n)) break;
    const int d = overwrites(*n);
    if (d >= 0 && !(touched & (1u << d))) dead |= uint16_t(1u << d);
    touched |= n->gprs;
    pc += n->len;
  }
  return dead;
}

bool Translator::soft_cover_begin(Ctx& c, const Insn& in) {
  if (c.cover.active || !coverable(in) || c.index + 1 >= kMaxBlockInsns) return false;
  const int b = in.mem.base;
  uint32_t size0;
  bool write0;
  soft_access_of(in, &size0, &write0);
  if (size0 > 8 || dest_of(in) == b || !flags_dead_at(c, in)) return false;
  int64_t lo = in.mem.disp, hi = lo + int64_t(size0), delta = 0;
  uint16_t used = uint16_t(in.gprs | (1u << b) | (1u << RSP)), pending = 0;
  bool low = !in.rex;  // an instruction without REX: %h must be one of the low eight
  Ctx::Cover cov;
  cov.base = b;
  uint64_t pc = in.pc + in.len, after = 0;
  int after_k = 0;
  bool unrolled = c.unrolled;
  uint64_t unroll_pc = 0;
  int n_at_unroll = -1;
  for (int k = 1; k <= kCoverLook && c.index + k < kMaxBlockInsns && cov.n < Ctx::kCoverMax; ++k) {
    const Insn* n = lookahead(c, pc);
    if (!n) break;
    if (coverable(*n) && n->mem.base == b) {
      uint32_t size;
      bool write;
      soft_access_of(*n, &size, &write);
      const int64_t off = delta + n->mem.disp;
      const int64_t nlo = std::min(lo, off), nhi = std::max(hi, off + int64_t(size));
      if ((write && !write0) || size > 8 || nhi - nlo > kCoverSpan) break;
      lo = nlo, hi = nhi;
      used |= uint16_t(pending | n->gprs);
      pending = 0;
      low = low || !n->rex;
      cov.pcs[cov.n++] = n->pc;
      after = n->pc + n->len, after_k = k + 1;
      if (dest_of(*n) == b) break;
    } else if (n->is_jcc()) {
      if (!c.env.extend) break;  // (without extended blocks it ends the block)
      if (soft_unroll_at(c, *n, unrolled)) {  // the block may go on at its start (if the span does)
        unrolled = true;
        unroll_pc = n->pc, n_at_unroll = cov.n;
        pc = c.blk->pc;
        continue;
      }
    } else if (register_only(*n)) {
      const int d = dest_of(*n);
      int64_t by = 0;
      if (d == b && !moves_by(*n, b, &by)) break;
      delta += by;
      pending |= n->gprs;
    } else {
      break;
    }
    pc += n->len;
  }
  if (cov.n == 0) return false;
  // %h: preferably a register dead after the span (no restore at its end)
  const uint16_t dead = soft_dead_at(c, after, c.index + after_k);
  for (int pass = 0; pass < 2 && cov.h < 0; ++pass)
    for (int r : {R11, R10, R9, R8, RBX, RBP, RSI, RDI, R12, R13, R14, R15, RAX, RCX, RDX})
      if (!(used & (1u << r)) && !(low && r >= 8) && (pass == 1 || (dead & (1u << r)))) {
        cov.h = r;
        cov.dead = pass == 0;
        break;
      }
  if (cov.h < 0) return false;
  const int h = cov.h;
  Emitter& e = c.e;
  const bool user = c.env.user;
  const uint32_t span = uint32_t(hi - lo);
  InsnMapEntry& me = c.blk->map.back();
  me.fixup = Fixup::RestoreS4;
  me.reg = uint8_t(h);
  e.store_slot(h, kGlobalBase + BT_OFF_S4);
  // A span around %b itself (lo <= 0 < hi) lies in one page only if that is
  // %b's page: the entry of %b's index, one unsigned test of the span's first
  // byte (below the page: negative; past the page: > 4096 - span; another
  // page's tag or an empty one: far off), and the addend at the same index.
  const bool around_base = lo <= 0 && hi > 0;
  if (around_base) {
    soft_pext_abs(e, h, b, kGlobalBase + BT_OFF_TLB_IDX_MASK);
    soft_load_table(e, h, tlb_table(user, write0 ? kTlbWrite : kTlbRead));
    lea64(e, h, ref(b, lo, h));
    alu_imm(e, 7, h, 4096 - span);  // cmp $(4096-span),%h
  } else {
    lea64(e, h, ref(b, lo));
    soft_pext_abs(e, h, h, kGlobalBase + BT_OFF_TLB_IDX_MASK);
    soft_load_table(e, h, tlb_table(user, write0 ? kTlbWrite : kTlbRead));
    lea64(e, h, ref(b, lo + int64_t(span) - 1, h));
    alu_imm(e, 7, h, 4095);  // cmp $4095,%h
  }
  e.b(0x0f); e.b(0x87);    // ja miss
  const size_t miss = e.size();
  e.d32(0);
  if (!around_base) lea64(e, h, ref(b, lo));
  soft_pext_abs(e, h, around_base ? b : h, kGlobalBase + BT_OFF_TLB_IDX_MASK);
  soft_load_table(e, h, tlb_table(user, kTlbAddend));
  const size_t back = e.size();
  if (!emit_access_at(c, in, ref(b, in.mem.disp, h))) return false;
  c.cover_stubs.push_back({miss, back, in, b, h, lo, span, write0, c.index, me});
  cov.active = true;
  c.cover = cov;
  if (n_at_unroll >= 0 && cov.n > n_at_unroll) c.unroll_at = unroll_pc;  // the span goes through the back edge
  ++c.probes_alone;
  return true;
}

bool Translator::soft_cover_insn(Ctx& c, const Insn& in, bool* ok) {
  Ctx::Cover& cv = c.cover;
  *ok = true;
  InsnMapEntry& me = c.blk->map.back();
  me.fixup = Fixup::RestoreS4;  // (nothing in the span faults; a host fault would find %h)
  me.reg = uint8_t(cv.h);
  if (in.is_jcc()) {
    const uint8_t cc = (in.opcode0() == 0x0f ? in.opcode1() : in.opcode0()) & 0xf;
    if (soft_unroll(c, in))
      c.cover_exits.push_back({c.e.jcc32(uint8_t(cc ^ 1), c.e.pc()), in.pc + in.len, cv.h});
    else
      c.cover_exits.push_back({c.e.jcc32(cc, c.e.pc()), uint64_t(in.imm), cv.h});
    return true;
  }
  if (cv.next >= cv.n || cv.pcs[cv.next] != in.pc) return false;  // register-only: as usual
  ++cv.next;  // (in path order: an unrolled loop repeats pcs)
  if (!emit_access_at(c, in, ref(cv.base, in.mem.disp, cv.h))) {
    *ok = false;
    return true;
  }
  ++c.probes_covered;
  if (cv.next == cv.n) {
    if (cv.dead) ++c.scratch_dead;
    else c.e.load_slot(cv.h, kGlobalBase + BT_OFF_S4);
    cv.active = false;
  }
  return true;
}

// A conditional branch back to the start of its block, in an extended
// bt-softmmu block, the first one, inside a cover's span that goes on past
// it: the block goes on at its start (the loop body a second time, so that
// one cover spans two rounds' accesses) with the inverse branch as the side
// exit (the loop's exit). Other loops are not unrolled (translation time).
// `unrolled`: one already.
bool Translator::soft_unroll_at(const Ctx& c, const Insn& in, bool unrolled) {
  return c.env.extend && c.env.softmmu && !unrolled && in.is_jcc() && uint64_t(in.imm) == c.blk->pc &&
         c.blk->pc < in.pc;
}

bool Translator::soft_unroll(Ctx& c, const Insn& in) {
  if (c.unroll_at != in.pc || !soft_unroll_at(c, in, c.unrolled)) return false;
  c.unrolled = true;
  c.next_pc = c.blk->pc;
  return true;
}

void Translator::emit_cover_stubs(Ctx& c) {
  Emitter& e = c.e;
  for (const auto& x : c.cover_exits) {
    e.patch_rel32(x.rel, e.pc());
    e.load_slot(x.h, kGlobalBase + BT_OFF_S4);
    c.stubs.push_back({e.jmp32(e.pc()), x.target});
  }
  for (size_t i = 0; i < c.cover_stubs.size(); ++i) {
    const Ctx::CoverStub s = c.cover_stubs[i];
    const Insn& in = s.first;
    uint32_t size;
    bool write;
    soft_access_of(in, &size, &write);
    e.patch_rel32(s.miss_rel, e.pc());
    InsnMapEntry m = s.map;
    m.tc_off = uint32_t(e.size());
    c.blk->map.push_back(m);
    lea64(e, s.h, ref(s.base, s.lo));
    alu_imm(e, 4, s.h, 4095);          // and $4095,%h
    alu_imm(e, 7, s.h, 4096 - s.span);  // cmp $(4096-span),%h
    e.b(0x0f); e.b(0x87);              // ja crossing
    const size_t crossing = e.size();
    e.d32(0);
    lea64(e, s.h, ref(s.base, in.mem.disp));
    ExitRecord r{};
    r.reason = ExitReason::TlbMiss;
    r.len = in.len;
    r.a = uint8_t(s.h);
    r.b = uint8_t(s.h);
    r.c = uint8_t(kTlbRestoreS4 | (c.env.user ? kTlbUser : 0) | (s.write ? kTlbWriteAcc : 0));
    r.guest_pc = in.pc;
    r.aux = size;
    r.target = e.pc() + Emitter::kExitSize;  // fix, right after the exit
    c.records.push_back({e.exit(r), s.index, true});
    e.b(uint8_t(0x48 | (s.base >= 8 ? 4 : 0) | (s.h >= 8 ? 1 : 0)));  // sub %b,%h
    e.b(0x29);
    e.b(uint8_t(0xc0 | ((s.base & 7) << 3) | (s.h & 7)));
    lea64(e, s.h, ref(s.h, -in.mem.disp));
    e.jmp32(c.blk->tc + s.back);
    e.patch_rel32(crossing, e.pc());
    m.tc_off = uint32_t(e.size());
    c.blk->map.push_back(m);
    lea64(e, s.h, ref(s.base, in.mem.disp));
    const int index = c.index;
    c.index = s.index;
    if (!soft_probe_alone(c, in, s.h, size, write))
      soft_probe(c, in, s.h, size, uint8_t(kTlbRestoreS4 | (write ? kTlbWriteAcc : 0)), s.h);
    const bool ok = emit_access_at(c, in, ref(s.h, 0));
    soft_end(c);
    c.index = index;
    if (!ok) {  // (cannot happen: [%h] always encodes) the block is refused
      c.cover_failed = true;
      return;
    }
    e.load_slot(s.h, kGlobalBase + BT_OFF_S4);
    c.stubs.push_back({e.jmp32(e.pc()), in.pc + in.len});
  }
}

}  // namespace vtb::bt
