// tags: engines|bt — desc: block translation: prologue, IDENT copy, rip re-basing, %fs/%gs rewrite, branches, exits.
#include "engines/bt/translator_ctx.h"

#include <capstone/capstone.h>

#include <algorithm>
#include <cstring>

namespace vtb::bt {


namespace {

bool fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

// Scratch register for rewrites: one the instruction does not touch.
int pick_scratch(uint16_t used) {
  static const int order[] = {R11, R10, R9, R8, RBX, RBP, RSI, RDI, R12, R13, R14, R15, RAX, RCX, RDX};
  for (int r : order)
    if (!(used & (1u << r))) return r;
  return -1;
}

void copy_prefixes(const Insn& in, uint8_t* out, int* n) {
  *n = 0;
  for (int i = 0; i < in.npfx; ++i)
    if (in.bytes[i] != 0x64 && in.bytes[i] != 0x65 && (in.bytes[i] & 0xf0) != 0x40) out[(*n)++] = in.bytes[i];
}

}  // namespace

bool emit_modrm_mem(Emitter& e, const uint8_t* pfx, int npfx, bool rex_w, bool force_rex, const uint8_t* opc, int nopc,
                    int regfield, const MemRef& m, const uint8_t* tail, int ntail) {
  uint8_t rex = uint8_t(0x40 | (rex_w ? 8 : 0) | ((regfield & 8) ? 4 : 0));
  uint8_t modrm = 0, sib = 0;
  bool has_sib = false;
  int32_t disp = 0;
  if (m.rip) {
    modrm = uint8_t(((regfield & 7) << 3) | 5);
  } else if (m.base < 0) {
    modrm = uint8_t(((regfield & 7) << 3) | 4);
    has_sib = true;
    const int ss = m.scale == 8 ? 3 : m.scale == 4 ? 2 : m.scale == 2 ? 1 : 0;
    sib = uint8_t((ss << 6) | ((m.index < 0 ? 4 : (m.index & 7)) << 3) | 5);
    if (m.index >= 8) rex |= 2;
    if (!fits32(m.disp)) return false;
    disp = int32_t(m.disp);
  } else {
    if (!fits32(m.disp)) return false;
    disp = int32_t(m.disp);
    if (m.index >= 0 || (m.base & 7) == 4) {
      const int ss = m.scale == 8 ? 3 : m.scale == 4 ? 2 : m.scale == 2 ? 1 : 0;
      modrm = uint8_t(0x80 | ((regfield & 7) << 3) | 4);
      has_sib = true;
      sib = uint8_t((ss << 6) | ((m.index < 0 ? 4 : (m.index & 7)) << 3) | (m.base & 7));
      if (m.index >= 8) rex |= 2;
    } else {
      modrm = uint8_t(0x80 | ((regfield & 7) << 3) | (m.base & 7));
    }
    if (m.base >= 8) rex |= 1;
  }
  const bool emit_rex = force_rex || rex != 0x40;
  const size_t len = size_t(npfx) + (emit_rex ? 1 : 0) + size_t(nopc) + 1 + (has_sib ? 1 : 0) + 4 + size_t(ntail);
  if (m.rip) {
    const int64_t rel = m.disp - int64_t(e.pc() + len);
    if (!fits32(rel)) return false;
    disp = int32_t(rel);
  }
  e.bytes(pfx, size_t(npfx));
  if (emit_rex) e.b(rex);
  e.bytes(opc, size_t(nopc));
  e.b(modrm);
  if (has_sib) e.b(sib);
  e.d32(uint32_t(disp));
  e.bytes(tail, size_t(ntail));
  return true;
}

size_t Translator::emit_lookup_routine(Emitter& e, size_t* force_miss) {
  // Ghost entry: table slots that hold no translation point here.
  ExitRecord miss{};
  miss.reason = ExitReason::IndirectMiss;
  e.exit(miss);
  const size_t entry = e.size();
  e.store_abs(RDX, kGlobalBase + BT_OFF_S5);
  const uint8_t idx[] = {0x0f, 0xb7, 0xca};  // movzwl %dx,%ecx
  e.bytes(idx, 3);
  e.b(0x48); e.b(0x8b); e.b(0x0c); e.b(0xcd); e.d32(uint32_t(kNegTagTable));  // mov negtag(,%rcx,8),%rcx
  e.b(0x48); e.b(0x8d); e.b(0x0c); e.b(0x11);                                 // lea (%rcx,%rdx),%rcx
  e.b(0xe3);                                                                   // jrcxz hit
  const size_t rel8 = e.size();
  *force_miss = rel8;
  e.b(0);
  e.load_abs(RCX, kGlobalBase + BT_OFF_S1);
  e.load_abs(RDX, kGlobalBase + BT_OFF_S2);
  e.exit(miss);
  const size_t hit = e.size();
  *e.at(rel8) = uint8_t(hit - (rel8 + 1));
  e.bytes(idx, 3);
  e.b(0x48); e.b(0x8b); e.b(0x0c); e.b(0xcd); e.d32(uint32_t(kTcAddrTable));  // mov tcaddr(,%rcx,8),%rcx
  e.store_abs(RCX, kGlobalBase + BT_OFF_S3);
  e.load_abs(RCX, kGlobalBase + BT_OFF_S1);
  e.load_abs(RDX, kGlobalBase + BT_OFF_S2);
  e.jmp_abs_ind(kGlobalBase + BT_OFF_S3);
  return entry;
}

void Translator::emit_callout(Ctx& c, const Insn& in, CalloutOp op, uint8_t a, uint8_t b, uint8_t cc, uint64_t target,
                              uint64_t aux, bool ends) {
  ExitRecord r{};
  r.reason = ExitReason::Callout;
  r.len = in.len;
  r.op = op;
  r.a = a;
  r.b = b;
  r.c = cc;
  r.guest_pc = in.pc;
  r.target = target;
  r.aux = aux;
  c.records.push_back({c.e.exit(r), c.index, true});
  (void)ends;
}

// Computes the address of the memory operand (without segment base) into
// AsmVcpu::ea, or a constant in *target for rip-relative operands.
bool Translator::emit_ea(Ctx& c, const Insn& in, uint64_t* aux, uint64_t* target) {
  if (!in.has_mem) return false;
  if (in.addr32) {
    c.error = "address-size prefix on a virtualized memory operand: " + in.text;
    return false;
  }
  *aux |= kOpMem;
  if (in.mem.seg == 'f') *aux |= kOpFsSeg;
  if (in.mem.seg == 'g') *aux |= kOpGsSeg;
  if (in.mem.rip) {
    *aux |= kOpAbs;
    *target = in.pc + in.len + uint64_t(in.mem.disp);
    return true;
  }
  MemRef m = in.mem;
  m.seg = 0;
  c.e.store_abs(RAX, kGlobalBase + BT_OFF_S4);
  const uint8_t lea = 0x8d;
  emit_modrm_mem(c.e, nullptr, 0, true, false, &lea, 1, RAX, m, nullptr, 0);
  c.e.store_abs(RAX, kGlobalBase + BT_OFF_EA);
  c.e.load_abs(RAX, kGlobalBase + BT_OFF_S4);
  return true;
}

bool Translator::emit_ident(Ctx& c, const Insn& in) {
  if (in.has_mem && in.mem.rip) {
    if (in.addr32) {
      c.error = "eip-relative addressing: " + in.text;
      return false;
    }
    const uint64_t target = in.pc + in.len + uint64_t(in.mem.disp);
    const int64_t rel = int64_t(target) - int64_t(c.e.pc() + in.len);
    if (fits32(rel)) {
      const size_t start = c.e.size();
      c.e.bytes(in.bytes, in.len);
      const int32_t r32 = int32_t(rel);
      memcpy(c.e.at(start + in.modrm_off + 1), &r32, 4);
      return true;
    }
    if (!in.vex && fits32(int64_t(target))) {
      uint8_t pfx[16];
      int np;
      copy_prefixes(in, pfx, &np);
      MemRef m;
      m.disp = int64_t(target);
      return emit_modrm_mem(c.e, pfx, np, in.rex & 8, in.rex != 0, in.bytes + in.op_off, in.modrm_off - in.op_off,
                            in.reg, m, in.bytes + in.modrm_end, in.len - in.modrm_end);
    }
    // Out of reach of both: the target in a scratch register (its check
    // was decided at translation time, emit_address_checks).
    if (!in.vex) {
      const int t = begin_scratch(c, in, 0);
      if (t >= 0) {
        emit_mov_imm64(c.e, t, target);
        return emit_via_scratch(c, in, t, in.bytes + in.op_off, in.modrm_off - in.op_off, in.reg,
                                in.bytes + in.modrm_end, in.len - in.modrm_end, false);
      }
    }
    c.error = "rip-relative target out of reach of the translation cache: " + in.text;
    return false;
  }
  c.e.bytes(in.bytes, in.len);
  return true;
}

// %fs:/%gs: memory operand: the virtual segment base plus the effective
// address, in a scratch register, checked, then the access through it.
bool Translator::emit_seg_rewrite(Ctx& c, const Insn& in) {
  if (in.vex || !in.has_modrm || in.addr32) {
    c.error = "unsupported segment-override form: " + in.text;
    return false;
  }
  const MemRef& o = in.mem;
  const int64_t abs = o.rip ? int64_t(in.pc + in.len + uint64_t(o.disp)) : o.disp;
  if (!fits32(abs)) {
    c.error = "rip-relative %fs/%gs operand out of reach: " + in.text;
    return false;
  }
  const int t = begin_scratch(c, in, c.env.softmmu ? uint16_t(1u << RCX) : 0);
  if (t < 0) {
    c.error = "no scratch register for: " + in.text;
    return false;
  }
  c.e.load_abs(t, kGlobalBase + (o.seg == 'f' ? BT_OFF_FS_BASE : BT_OFF_GS_BASE));
  const uint8_t lea = 0x8d;
  auto lea_t = [&](const MemRef& m) { emit_modrm_mem(c.e, nullptr, 0, true, false, &lea, 1, t, m, nullptr, 0); };
  MemRef m;
  if (o.rip || (o.base < 0 && o.index < 0)) {  // lea abs(%t),%t
    m.base = t;
    m.disp = abs;
  } else if (o.index < 0) {                    // lea disp(%base,%t),%t (the base may be %rsp, never an index)
    m.base = o.base;
    m.index = t;
    m.disp = o.disp;
  } else {                                     // [lea (%base,%t),%t;] lea disp(%t,%index,scale),%t
    if (o.base >= 0) {
      MemRef l;
      l.base = o.base;
      l.index = t;
      lea_t(l);
    }
    m.base = t;
    m.index = o.index;
    m.scale = o.scale;
    m.disp = o.disp;
  }
  lea_t(m);
  return emit_via_scratch(c, in, t, in.bytes + in.op_off, in.modrm_off - in.op_off, in.reg, in.bytes + in.modrm_end,
                          in.len - in.modrm_end, true);
}

// mov moffs (a0-a3): the absolute offset (64-bit, or 32-bit with 0x67), plus
// the virtual %fs:/%gs: base (through a second scratch register, back before
// the access), in a scratch register, checked like any access: Capstone's
// operand has no ModRM, so the generic checks never see it.
bool Translator::emit_moffs(Ctx& c, const Insn& in) {
  const unsigned at = in.op_off + 1u;
  uint64_t off = 0;
  if (at + (in.addr32 ? 4u : 8u) > in.len) {
    c.error = "moffs encoding: " + in.text;
    return false;
  }
  memcpy(&off, in.bytes + at, in.addr32 ? 4 : 8);
  const int t = begin_scratch(c, in, c.env.softmmu ? uint16_t(1u << RCX) : 0);
  const int t2 = t < 0 ? -1 : pick_scratch(uint16_t(in.gprs | (1u << t)));
  if (t2 < 0) {
    c.error = "no scratch register for: " + in.text;
    return false;
  }
  emit_mov_imm64(c.e, t, off);
  if (in.seg) {
    c.e.store_abs(t2, kGlobalBase + BT_OFF_S1);
    c.e.load_abs(t2, kGlobalBase + (in.seg == 'f' ? BT_OFF_FS_BASE : BT_OFF_GS_BASE));
    MemRef m;
    m.base = t;
    m.index = t2;
    const uint8_t lea = 0x8d;
    emit_modrm_mem(c.e, nullptr, 0, true, false, &lea, 1, t, m, nullptr, 0);
    c.e.load_abs(t2, kGlobalBase + BT_OFF_S1);
  }
  const uint8_t o0 = in.opcode0();
  const uint8_t opc = o0 == 0xa0 ? 0x8a : o0 == 0xa1 ? 0x8b : o0 == 0xa2 ? 0x88 : 0x89;
  return emit_via_scratch(c, in, t, &opc, 1, RAX, nullptr, 0, true);
}

// A scratch register the instruction does not use (without REX, one of the
// low eight: a REX would turn %ah..%bh into %spl..%dil), saved in s4; the
// fixup puts it back when the access faults.
int Translator::begin_scratch(Ctx& c, const Insn& in, uint16_t avoid) {
  const uint16_t used = uint16_t(in.gprs | avoid);
  int t = -1;
  if (!in.rex) {
    for (int r : {RBX, RBP, RSI, RDI, RAX, RCX, RDX})
      if (!(used & (1u << r))) {
        t = r;
        break;
      }
  } else {
    t = pick_scratch(used);
  }
  if (t < 0) return -1;
  c.blk->map.back().fixup = Fixup::RestoreS4;
  c.blk->map.back().reg = uint8_t(t);
  c.e.store_slot(t, kGlobalBase + BT_OFF_S4);
  return t;
}

bool Translator::emit_via_scratch(Ctx& c, const Insn& in, int t, const uint8_t* opc, int nopc, int regfield,
                                  const uint8_t* tail, int ntail, bool check) {
  // bt-softmmu: a lea (a rip-relative one out of the cache's reach comes
  // here) computes the address and touches nothing: no probe.
  const bool soft = c.env.softmmu && in.id != X86_INS_LEA;
  if (soft) {
    uint32_t size;
    bool write;
    soft_access_of(in, &size, &write);
    if (!soft_probe_alone(c, in, t, size, write))
      soft_probe(c, in, t, size, uint8_t(kTlbRestoreS4 | (write ? kTlbWriteAcc : 0)), t);
  } else if (check) {
    emit_linear_check(c, in, t);
  }
  uint8_t pfx[16];
  int np;
  copy_prefixes(in, pfx, &np);
  np = int(std::remove(pfx, pfx + np, uint8_t(0x67)) - pfx);  // (%t) holds the whole 64-bit address
  MemRef m;
  m.base = t;
  if (!emit_modrm_mem(c.e, pfx, np, in.rex & 8, in.rex != 0, opc, nopc, regfield, m, tail, ntail)) {
    c.error = "cannot re-encode: " + in.text;
    return false;
  }
  if (soft) soft_end(c);
  if (t == c.dead_scratch) {  // bt-softmmu: dead after the access (soft_mem)
    c.dead_scratch = -1;
    ++c.scratch_dead;
    return true;
  }
  c.e.load_slot(t, kGlobalBase + BT_OFF_S4);
  return true;
}

bool Translator::emit_access_at(Ctx& c, const Insn& in, const MemRef& m) {
  uint8_t pfx[16];
  int np;
  copy_prefixes(in, pfx, &np);
  np = int(std::remove(pfx, pfx + np, uint8_t(0x67)) - pfx);
  if (!emit_modrm_mem(c.e, pfx, np, in.rex & 8, in.rex != 0, in.bytes + in.op_off, in.modrm_off - in.op_off, in.reg, m,
                      in.bytes + in.modrm_end, in.len - in.modrm_end)) {
    c.error = "cannot re-encode: " + in.text;
    return false;
  }
  return true;
}

// mov <operand of an indirect call/jmp>, %rdx (rcx/rdx already saved in s1/s2).
bool Translator::emit_load_operand_rdx(Ctx& c, const Insn& in) {
  if (in.mod == 3) {
    const int r = in.rm;
    c.e.b(uint8_t(0x48 | (r >= 8 ? 4 : 0)));
    c.e.b(0x89);
    c.e.b(uint8_t(0xc0 | ((r & 7) << 3) | RDX));
    return true;
  }
  if (in.addr32) {
    c.error = "address-size prefix on an indirect branch: " + in.text;
    return false;
  }
  const uint8_t mov = 0x8b;
  MemRef m = in.mem;
  if (m.rip) {
    m.disp = int64_t(in.pc + in.len + uint64_t(m.disp));
    if (emit_modrm_mem(c.e, nullptr, 0, true, false, &mov, 1, RDX, m, nullptr, 0)) return true;
    if (!fits32(m.disp)) {
      c.error = "rip-relative branch operand out of reach: " + in.text;
      return false;
    }
    m.rip = false;
    return emit_modrm_mem(c.e, nullptr, 0, true, false, &mov, 1, RDX, m, nullptr, 0);
  }
  if (m.seg) {
    if (m.base == RCX || m.index == RCX) {
      c.error = "segment-relative indirect branch through rcx: " + in.text;
      return false;
    }
    c.e.load_abs(RCX, kGlobalBase + (m.seg == 'f' ? BT_OFF_FS_BASE : BT_OFF_GS_BASE));
    MemRef n;
    if (m.base < 0 && m.index < 0) { n.base = RCX; n.disp = m.disp; }
    else if (m.index < 0) { n.base = m.base; n.index = RCX; n.disp = m.disp; }
    else if (m.base < 0) { n.base = RCX; n.index = m.index; n.scale = m.scale; n.disp = m.disp; }
    else {
      MemRef l;
      l.base = m.base;
      l.index = RCX;
      const uint8_t lea = 0x8d;
      emit_modrm_mem(c.e, nullptr, 0, true, false, &lea, 1, RCX, l, nullptr, 0);
      n.base = RCX; n.index = m.index; n.scale = m.scale; n.disp = m.disp;
    }
    m = n;
  }
  m.seg = 0;
  return emit_modrm_mem(c.e, nullptr, 0, true, false, &mov, 1, RDX, m, nullptr, 0);
}

void Translator::emit_branch_stub_site(Ctx& c, size_t rel_off, uint64_t target) { c.stubs.push_back({rel_off, target}); }

}  // namespace vtb::bt
