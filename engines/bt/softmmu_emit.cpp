// tags: engines|bt — desc: bt-softmmu's translated code: the inline TLB probe before every memory access (explicit and implicit), the stack and string instructions rewritten for it, the miss/bounce stubs.
#include <capstone/capstone.h>

#include <algorithm>
#include <cstring>

#include "engines/bt/translator_ctx.h"

namespace vtb::bt {

// pext abs32, %src, %dst (VEX.LZ.F3.0F38.W1 F5 /r, the mask from memory): flag-free.
void soft_pext_abs(Emitter& e, int dst, int src, uint64_t abs) {
  e.b(0xc4);
  e.b(uint8_t((dst < 8 ? 0x80 : 0) | 0x40 | 0x20 | 0x02));
  e.b(uint8_t(0x80 | ((~src & 15) << 3) | 0x02));
  e.b(0xf5);
  e.b(uint8_t(((dst & 7) << 3) | 4));
  e.b(0x25);
  e.d32(uint32_t(abs));
}
// mov table(,%d,8),%d
void soft_load_table(Emitter& e, int d, uint64_t table) {
  e.b(uint8_t(0x48 | (d >= 8 ? 6 : 0))); e.b(0x8b); e.b(uint8_t(((d & 7) << 3) | 4));
  e.b(uint8_t(0xc5 | ((d & 7) << 3))); e.d32(uint32_t(table));
}

namespace {
const uint8_t kLea = 0x8d, kMovLoad = 0x8b, kMovStore = 0x89;

MemRef at(int base, int64_t disp = 0, int index = -1) {
  MemRef m;
  m.base = base;
  m.index = index;
  m.disp = disp;
  return m;
}
// lea disp(%base),%dst / mov %src,(%base) ... (64-bit)
void lea(Emitter& e, int dst, const MemRef& m) { emit_modrm_mem(e, nullptr, 0, true, false, &kLea, 1, dst, m, nullptr, 0); }
void mov_load(Emitter& e, int dst, int base, int size) {
  const uint8_t p66 = 0x66;
  emit_modrm_mem(e, &p66, size == 2 ? 1 : 0, size == 8, false, &kMovLoad, 1, dst, at(base), nullptr, 0);
}
void mov_store(Emitter& e, int src, int base, int size) {
  const uint8_t p66 = 0x66;
  emit_modrm_mem(e, &p66, size == 2 ? 1 : 0, size == 8, false, &kMovStore, 1, src, at(base), nullptr, 0);
}
// mov $imm,(%base) of 2 or 8 bytes (8: sign-extended imm32, or two movl)
void mov_store_imm(Emitter& e, int base, uint64_t v, int size) {
  const uint8_t c7 = 0xc7, p66 = 0x66;
  uint8_t tail[4];
  if (size == 2) {
    const uint16_t w = uint16_t(v);
    memcpy(tail, &w, 2);
    emit_modrm_mem(e, &p66, 1, false, false, &c7, 1, 0, at(base), tail, 2);
    return;
  }
  if (int64_t(int32_t(uint32_t(v))) == int64_t(v)) {
    const uint32_t d = uint32_t(v);
    memcpy(tail, &d, 4);
    emit_modrm_mem(e, nullptr, 0, true, false, &c7, 1, 0, at(base), tail, 4);
    return;
  }
  for (int h = 0; h < 2; ++h) {
    const uint32_t d = uint32_t(v >> (32 * h));
    memcpy(tail, &d, 4);
    emit_modrm_mem(e, nullptr, 0, false, false, &c7, 1, 0, at(base, 4 * h), tail, 4);
  }
}
void mov_store_at(Emitter& e, int src, int base, int64_t disp) {
  emit_modrm_mem(e, nullptr, 0, true, false, &kMovStore, 1, src, at(base, disp), nullptr, 0);
}
void mov_load_at(Emitter& e, int dst, int base, int64_t disp) {
  emit_modrm_mem(e, nullptr, 0, true, false, &kMovLoad, 1, dst, at(base, disp), nullptr, 0);
}
// push r / pop r, 64-bit, no prefix but REX.B/W, not rsp.
bool simple_push_pop(const Insn& in) {
  const uint8_t o0 = in.opcode0();
  if (o0 < 0x50 || o0 > 0x5f || in.npfx || in.vex) return false;
  if (in.rex & ~0x49) return false;
  return ((o0 & 7) | ((in.rex & 1) ? 8 : 0)) != RSP;
}
int pick_free(uint16_t used) {
  static const int order[] = {R11, R10, R9, R8, RBX, RBP, RSI, RDI, R12, R13, R14, R15, RAX, RDX};
  for (int r : order)
    if (!(used & (1u << r))) return r;
  return -1;
}
bool is_string_op(uint8_t o0) { return (o0 >= 0xa4 && o0 <= 0xa7) || (o0 >= 0xaa && o0 <= 0xaf); }
}  // namespace

// Inline TLB probe; `va` holds the guest VA. Flag-free form (flags live):
//   mov %rcx,s6
//   pext idx_mask,%va,%rcx            ; TLB index
//   mov tag(,%rcx,8),%rcx             ; -(page) of the entry (read or write table)
//   lea size-1(%rcx,%va),%rcx          ; last byte - page
//   pext page_mask,%rcx,%rcx           ; 0 iff the whole access lies in that page
//   jrcxz hit ; jmp miss
// hit:
//   pext idx_mask,%va,%rcx ; mov addend(,%rcx,8),%rcx ; lea (%rcx,%va),%va
// cont:
//   mov s6,%rcx
//   <the access through (%va)>        ; soft_end marks its end
// Short form, when the arithmetic flags are dead before the instruction
// (flags_dead_at: it or a later one of its straight-line run overwrites
// them): the page test is `cmp $4095,%rcx; ja miss` instead of
// `pext page_mask,%rcx,%rcx; jrcxz hit; jmp miss` — one pext and one taken
// branch fewer on a hit, which falls through. The host address is computed
// as in the long form (pext/addend/lea, beside the test, not after it), and
// %va still holds the guest VA at the miss.
void Translator::soft_probe(Ctx& c, const Insn& in, int va, uint32_t size, uint8_t bits, int s4reg) {
  Emitter& e = c.e;
  const bool user = c.env.user;
  if (user) bits |= kTlbUser;
  bits |= kTlbRestoreS6;
  const uint64_t tag = tlb_table(user, (bits & kTlbWriteAcc) ? kTlbWrite : kTlbRead);
  const bool short_form = size <= 4096 && flags_dead_at(c, in);
  e.store_slot(RCX, kGlobalBase + BT_OFF_S6);
  soft_pext_abs(e, RCX, va, kGlobalBase + BT_OFF_TLB_IDX_MASK);
  size_t miss;
  soft_load_table(e, RCX, tag);
  lea(e, RCX, at(RCX, int64_t(size) - 1, va));
  if (short_form) {
    e.b(0x48); e.b(0x81); e.b(0xf9); e.d32(4095);  // cmp $4095,%rcx
    e.b(0x0f); e.b(0x87);  // ja miss
    miss = e.size();
    e.d32(0);
  } else {
    soft_pext_abs(e, RCX, RCX, kGlobalBase + BT_OFF_TLB_PAGE_MASK);
    e.b(0xe3); e.b(5);  // jrcxz hit
    e.b(0xe9);
    miss = e.size();
    e.d32(0);
  }
  soft_pext_abs(e, RCX, va, kGlobalBase + BT_OFF_TLB_IDX_MASK);
  soft_load_table(e, RCX, tlb_table(user, kTlbAddend));
  lea(e, va, at(RCX, 0, va));
  ++(short_form ? c.probes_short : c.probes_long);
  const size_t cont = e.size();
  e.load_slot(RCX, kGlobalBase + BT_OFF_S6);
  c.soft_stubs.push_back({miss, cont, e.size(), 0, va, s4reg, size, bits, in.pc, in.len, c.index, c.blk->map.back(), {}});
}

void Translator::soft_end(Ctx& c) { c.soft_stubs.back().access_hi = c.e.size(); }

// Out of line, per probe:
//   miss: <exit TlbMiss>           ; fill: resume at cont with %va = host address
//         mov s6,%rcx              ; bounce (two frames): resume here, %va = the bounce buffer
//         <copy of the access>
//         <exit TlbCommit>          ; the buffer written back
//         jmp after the access
void Translator::emit_soft_stubs(Ctx& c) {
  Emitter& e = c.e;
  for (const auto& s : c.soft_stubs) {
    InsnMapEntry m = s.map;  // a host fault in the copy is the instruction's
    m.tc_off = uint32_t(e.size());
    c.blk->map.push_back(m);
    e.patch_rel32(s.miss_rel, e.pc());
    ExitRecord r{};
    r.reason = ExitReason::TlbMiss;
    r.len = s.len;
    r.a = uint8_t(s.va);
    r.b = uint8_t(s.s4reg < 0 ? 0xff : s.s4reg);
    r.c = s.bits;
    r.guest_pc = s.pc;
    r.target = c.blk->tc + s.cont;
    r.aux = s.size;
    e.bytes(s.relea.data(), s.relea.size());  // (the in-destination form: the guest VA again)
    c.records.push_back({e.exit(r), s.index, true});
    if (s.bits & kTlbRestoreS6) e.load_slot(RCX, kGlobalBase + BT_OFF_S6);
    std::vector<uint8_t> copy(e.at(s.access_lo), e.at(s.access_lo) + (s.access_hi - s.access_lo));
    e.bytes(copy.data(), copy.size());
    ExitRecord cr{};
    cr.reason = ExitReason::TlbCommit;
    cr.guest_pc = s.pc;
    e.exit(cr);
    e.jmp32(c.blk->tc + s.access_hi);
  }
}

// The operand's address (with the virtual %fs/%gs base) into `dst` with
// `opcode` 0x8d (lea); rip-relative: the guest VA as a constant. Uses only
// `dst` (and rcx when it is free: callers save it).
bool Translator::emit_operand_address(Ctx& c, const Insn& in, int dst, uint8_t opcode) {
  (void)opcode;
  MemRef m = in.mem;
  if (m.rip) {  // (eip-relative with 0x67: the 32-bit sum)
    const uint64_t va = in.pc + in.len + uint64_t(m.disp);
    emit_mov_imm64(c.e, dst, in.addr32 ? uint64_t(uint32_t(va)) : va);
    return true;
  }
  m.seg = 0;
  if (in.addr32 && !in.mem.seg) {  // lea with 0x67: the 32-bit address, zero-extended
    const uint8_t a32 = 0x67;
    emit_modrm_mem(c.e, &a32, 1, true, false, &kLea, 1, dst, m, nullptr, 0);
    return true;
  }
  if (in.addr32) {
    c.error = "address-size prefix on a segment-relative operand (bt-softmmu): " + in.text;
    return false;
  }
  if (!in.mem.seg) {
    lea(c.e, dst, m);
    return true;
  }
  // base + index*scale + disp + segment base: the segment base into dst first
  if (m.base == dst || m.index == dst) {
    c.error = "segment operand through the scratch register: " + in.text;
    return false;
  }
  c.e.load_abs(dst, kGlobalBase + (in.mem.seg == 'f' ? BT_OFF_FS_BASE : BT_OFF_GS_BASE));
  if (m.base >= 0 && m.index >= 0) {
    lea(c.e, dst, at(m.base, 0, dst));
    lea(c.e, dst, [&] { MemRef k = at(dst, m.disp, m.index); k.scale = m.scale; return k; }());
  } else if (m.base >= 0) {  // disp(%base,%dst): the base may be rsp, which cannot be an index
    lea(c.e, dst, at(m.base, m.disp, dst));
  } else if (m.index >= 0) {
    MemRef k = at(dst, m.disp, m.index);
    k.scale = m.scale;
    lea(c.e, dst, k);
  } else {
    lea(c.e, dst, at(dst, m.disp));
  }
  return true;
}

// An explicit memory operand (ModRM or moffs done by the caller): the
// address into a scratch register t (saved in s4), the probe, the
// instruction re-encoded on (%t), t back.
bool Translator::soft_mem(Ctx& c, const Insn& in) {
  if (in.vex) return soft_mem_vex(c, in);
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  const uint8_t ext = in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0;
  // prefetch, hint nops (0f 18..1f: the MPX forms are nops on a host without
  // MPX, as this one), clflush/clflushopt/clwb: no access to emulate (guest memory is coherent)
  if (o0 == 0x0f && ((o1 >= 0x18 && o1 <= 0x1f) || o1 == 0x0d || (o1 == 0xae && (ext == 7 || (ext == 6 && in.opsize)))))
    return true;
  if (o0 == 0x0f && ((o1 == 0xae && ext >= 4 && ext <= 6) || (o1 == 0xc7 && ext >= 3 && ext <= 5))) {
    c.error = "xsave-family instruction (bt-softmmu): " + in.text;
    return false;
  }
  if (soft_cover_begin(c, in)) return true;  // one probe for later accesses too (softmmu_cover.cpp)
  if (soft_load_in_dest(c, in)) return true;
  // a register dead after the access: the scratch, not reloaded
  uint16_t dead = uint16_t(soft_dead_at(c, in.pc + in.len, c.index + 1) & ~(in.gprs | (1u << RCX) | (1u << RSP)));
  if (!in.rex) dead &= 0xff;
  int d = -1;
  for (int r = 0; r < 16 && d < 0; ++r)
    if (dead & (1u << r)) d = r;
  const int t = begin_scratch(c, in, uint16_t(d >= 0 ? ~(1u << d) : (1u << RCX)));
  if (d >= 0 && t == d) c.dead_scratch = t;
  if (t < 0) {
    c.error = "no scratch register for: " + in.text;
    return false;
  }
  if (!emit_operand_address(c, in, t, kLea)) return false;
  return emit_via_scratch(c, in, t, in.bytes + in.op_off, in.modrm_off - in.op_off, in.reg, in.bytes + in.modrm_end,
                          in.len - in.modrm_end, true);
}

// The probe in one register, when the arithmetic flags are dead before the
// instruction and its operand is ea = [base or index*scale] + disp (no
// segment, not rip-relative): %d holds the VA (the caller's lea), and neither
// rcx nor a second register passes through a slot. Such a round trip (store,
// reload) puts a store-forwarding latency on the register's dependency chain
// at every probe, loop-carried when the register lives across a loop
// (compute's insertion sort: ~5 cycles a probe).
//   pext idx_mask,%d,%d ; mov tag(,%d,8),%d
//   lea ea+size-1(%d),%d ; cmp $4095,%d ; ja miss   ; last byte - page
//   lea ea,%d ; pext idx_mask,%d,%d ; mov addend(,%d,8),%d ; lea ea(%d),%d
// cont: <the access through (%d)>
// (ea+x(%d): %d added as the operand's second register.) The miss stub
// computes the VA into %d again (`lea ea,%d`) before its exit. %d was saved
// in s4 by the caller (restored on a fault).
bool Translator::soft_probe_alone(Ctx& c, const Insn& in, int d, uint32_t size, bool write) {
  const MemRef& m = in.mem;
  if (!in.has_modrm || in.mod == 3 || in.vex || m.seg || m.rip || in.addr32 || d == m.base || d == m.index ||
      (m.base >= 0 && m.index >= 0) || m.disp > (1 << 30) || m.disp < -(1 << 30) || size > 4096 ||
      !flags_dead_at(c, in))
    return false;
  Emitter& e = c.e;
  const bool user = c.env.user;
  auto plus_d = [&](int64_t extra) {  // ea + extra + %d
    MemRef k = m;
    k.disp += extra;
    if (m.base >= 0) k.index = d, k.scale = 1;
    else k.base = d;
    return k;
  };
  soft_pext_abs(e, d, d, kGlobalBase + BT_OFF_TLB_IDX_MASK);
  soft_load_table(e, d, tlb_table(user, write ? kTlbWrite : kTlbRead));
  lea(e, d, plus_d(int64_t(size) - 1));
  e.b(uint8_t(0x48 | (d >= 8 ? 1 : 0))); e.b(0x81); e.b(uint8_t(0xf8 | (d & 7))); e.d32(4095);  // cmp $4095,%d
  e.b(0x0f); e.b(0x87);  // ja miss
  const size_t miss = e.size();
  e.d32(0);
  const size_t relea = e.size();
  lea(e, d, m);
  std::vector<uint8_t> relea_bytes(e.at(relea), e.at(relea) + (e.size() - relea));
  soft_pext_abs(e, d, d, kGlobalBase + BT_OFF_TLB_IDX_MASK);
  soft_load_table(e, d, tlb_table(user, kTlbAddend));
  lea(e, d, plus_d(0));
  const uint8_t bits = uint8_t(kTlbRestoreS4 | (user ? kTlbUser : 0) | (write ? kTlbWriteAcc : 0));
  c.soft_stubs.push_back(
      {miss, e.size(), e.size(), 0, d, d, size, bits, in.pc, in.len, c.index, c.blk->map.back(), std::move(relea_bytes)});
  ++c.probes_alone;
  return true;
}

// A 32/64-bit `mov m,%d` with %d not in the address: the probe runs in %d
// (soft_probe_alone), saved in s4 for a fault but not reloaded (the load
// overwrites it).
bool Translator::soft_load_in_dest(Ctx& c, const Insn& in) {
  const int d = in.reg;
  if (in.opcode0() != kMovLoad || in.npfx || in.opsize || in.seg || d == RSP) return false;
  const uint32_t size = (in.rex & 8) ? 8 : 4;
  Emitter& e = c.e;
  const size_t start = e.size();
  e.store_slot(d, kGlobalBase + BT_OFF_S4);
  lea(e, d, in.mem);
  if (!soft_probe_alone(c, in, d, size, false)) {
    e.truncate(start);
    return false;
  }
  c.blk->map.back().fixup = Fixup::RestoreS4;
  c.blk->map.back().reg = uint8_t(d);
  c.soft_stubs.back().map = c.blk->map.back();
  emit_modrm_mem(e, nullptr, 0, in.rex & 8, in.rex != 0, &kMovLoad, 1, d, at(d), nullptr, 0);
  soft_end(c);
  ++c.probes_in_dest;
  return true;
}

// A VEX-encoded instruction (AVX, BMI) with a memory operand: the same
// probe, the instruction re-encoded on (%t) with t one of the low eight
// registers (VEX.X and VEX.B then say "no extension": the 3-byte form gets
// them set, the 2-byte form has them implied). EVEX, XOP and the VSIB forms
// (gathers: a vector index) are engine limits.
bool Translator::soft_mem_vex(Ctx& c, const Insn& in) {
  const uint8_t v0 = in.bytes[in.op_off];
  const unsigned opi = in.op_off + (v0 == 0xc5 ? 2u : 3u);
  if ((v0 != 0xc4 && v0 != 0xc5) || opi + 1 != in.modrm_off || in.modrm_off >= in.len) {
    c.error = "EVEX/XOP instruction with a memory operand (bt-softmmu): " + in.text;
    return false;
  }
  const uint8_t map = v0 == 0xc5 ? 1 : (in.bytes[in.op_off + 1] & 0x1f);
  const uint8_t opc = in.bytes[opi];
  if (map == 2 && opc >= 0x90 && opc <= 0x93) {
    c.error = "VSIB gather (bt-softmmu): " + in.text;
    return false;
  }
  const int t = begin_scratch(c, in, uint16_t((1u << RCX) | 0xff00));  // a low register: no VEX.B
  if (t < 0 || t >= 8) {
    c.error = "no scratch register for: " + in.text;
    return false;
  }
  if (!emit_operand_address(c, in, t, kLea)) return false;
  uint32_t size;
  bool write;
  soft_access_of(in, &size, &write);
  soft_probe(c, in, t, size, uint8_t(kTlbRestoreS4 | (write ? kTlbWriteAcc : 0)), t);
  uint8_t vex[3] = {v0, in.bytes[in.op_off + 1], 0};
  if (v0 == 0xc4) {
    vex[1] |= 0x60;  // X̄ = B̄ = 1: no index, a low base
    vex[2] = in.bytes[in.op_off + 2];
  }
  MemRef m;
  m.base = t;
  // (emit_modrm_mem adds no REX: the register field's extension stays in VEX.R)
  if (!emit_modrm_mem(c.e, vex, v0 == 0xc5 ? 2 : 3, false, false, &opc, 1, in.reg & 7, m, in.bytes + in.modrm_end,
                      in.len - in.modrm_end)) {
    c.error = "cannot re-encode: " + in.text;
    return false;
  }
  soft_end(c);
  c.e.load_slot(t, kGlobalBase + BT_OFF_S4);
  return true;
}

namespace {
// Does the instruction only read its explicit memory operand? Capstone 4's
// access flags are wrong for many stores (movups/movq/movd/movnti/movbe
// stores, stmxcsr, fst/fstp/fnstcw, pextr*, cmpxchg*, rol/shl on memory all
// say "read"), so the direction is decided here by opcode: a store through a
// read entry would write a read-only or copy-on-write page. Everything not
// known to read only is a write (a read taken for a write could only fault
// on a read-only page, never write it).
bool reads_only(const Insn& in) {
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  const uint8_t ext = in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0;
  if (in.vex) {  // VEX maps 1/2/3 = 0f / 0f 38 / 0f 3a; pp = the implied 66/f3/f2
    const bool two = o0 == 0xc5;
    const uint8_t map = two ? 1 : (o1 & 0x1f);
    const uint8_t pp = in.bytes[in.op_off + (two ? 1 : 2)] & 3;
    const uint8_t op = in.bytes[in.op_off + (two ? 2 : 3)];
    if (map == 2) return op != 0x2e && op != 0x2f && op != 0x8e;          // vmaskmov/vpmaskmov stores
    if (map == 3) return !((op >= 0x14 && op <= 0x17) || op == 0x19 || op == 0x1d || op == 0x39);  // vpextr*, vextract*, vcvtps2ph
    switch (op) {
      case 0x11: case 0x13: case 0x17: case 0x29: case 0x2b: case 0x7f: case 0xe7: return false;  // stores
      case 0xd6: return pp != 1;                 // 66: vmovq store
      case 0x7e: return pp == 2;                 // f3: vmovq load; else vmovd/vmovq store
      case 0xae: return ext == 2;                // vldmxcsr (vstmxcsr writes)
      default: return true;
    }
  }
  if (o0 != 0x0f) {
    if (o0 < 0x40 && ((o0 & 7) == 2 || (o0 & 7) == 3)) return true;  // op r, r/m
    switch (o0) {
      case 0x38: case 0x39: case 0x84: case 0x85:                     // cmp r/m, r; test
      case 0x8a: case 0x8b: case 0x63: case 0x69: case 0x6b:           // mov/movsxd/imul r, r/m
      case 0xd8: case 0xda: case 0xdc: case 0xde:                      // x87 arithmetic with memory
        return true;
      case 0x80: case 0x81: case 0x83: return ext == 7;                // cmp r/m, imm
      case 0xf6: case 0xf7: return ext != 2 && ext != 3;               // test/mul/div (not/neg write)
      case 0xd9: return ext == 0 || ext == 4 || ext == 5;              // fld, fldenv, fldcw
      case 0xdb: return ext == 0 || ext == 5;                          // fild, fld m80
      case 0xdd: return ext == 0 || ext == 4;                          // fld m64, frstor
      case 0xdf: return ext == 0 || ext == 4 || ext == 5;              // fild m16, fbld, fild m64
      default: return false;
    }
  }
  const bool p66 = in.opsize, f3 = in.rep, f2 = in.repne;
  switch (o1) {
    case 0x11: case 0x13: case 0x17: case 0x29: case 0x2b: case 0x7f: case 0xc3: case 0xc0: case 0xc1: case 0xb0:
    case 0xb1: case 0xa4: case 0xa5: case 0xac: case 0xad: case 0xab: case 0xb3: case 0xbb: case 0xe7:
      return false;
    case 0xd6: return !p66;                 // 66 0f d6: movq store
    case 0x7e: return f3;                   // f3: movq xmm, m64 (load); else movd/movq r/m, (x)mm (store)
    case 0xba: return ext == 4;             // bt m, imm (bts/btr/btc write)
    case 0xae: return ext == 1 || ext == 2 || ext == 5;  // fxrstor, ldmxcsr, xrstor
    case 0xc7: return false;                // cmpxchg8b/16b
    case 0x38: return !(in.len > in.op_off + 2 && in.bytes[in.op_off + 2] == 0xf1 && !f2);  // movbe store
    case 0x3a: {
      const uint8_t o2 = in.len > in.op_off + 2 ? in.bytes[in.op_off + 2] : 0;
      return o2 < 0x14 || o2 > 0x17;        // pextrb/w/d/q, extractps store
    }
    default:
      return !(o1 >= 0x90 && o1 <= 0x9f);   // setcc writes; the rest (SSE loads, cmov, movzx...) reads
  }
}
}  // namespace

// Size and direction of an explicit memory access.
void soft_access_of(const Insn& in, uint32_t* size, bool* write) {
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  const uint8_t ext = in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0;
  *size = uint32_t(in.mem_size > 0 ? in.mem_size : 8);
  *write = !reads_only(in);
  if (o0 == 0x0f && o1 == 0xae && (ext == 0 || ext == 1)) *size = 512;  // fxsave / fxrstor
  if (o0 >= 0xa0 && o0 <= 0xa3) {  // moffs
    *write = o0 >= 0xa2;
    *size = (o0 & 1) ? ((in.rex & 8) ? 8 : in.opsize ? 2 : 4) : 1;
  }
}

// Stack, string, branch and other implicit-memory instructions.
bool Translator::soft_insn(Ctx& c, const Insn& in, bool* end, bool* ok) {
  Emitter& e = c.e;
  const uint8_t o0 = in.opcode0();
  const uint8_t ext = in.has_modrm ? uint8_t((in.bytes[in.modrm_off] >> 3) & 7) : 0;
  const uint64_t next = in.pc + in.len;
  *ok = true;
  *end = false;
  const int osz = in.opsize ? 2 : 8;
  auto fail = [&](const char* why) {
    c.error = std::string(why) + " (bt-softmmu): " + in.text;
    *ok = false;
    return true;
  };
  // push of the value `store` emits through (%t) (t saved in s4 unless noted).
  auto push_with = [&](int t, uint8_t extra_bits, int s4reg, auto store) {
    lea(e, t, at(RSP, -osz));
    soft_probe(c, in, t, uint32_t(osz), uint8_t(kTlbWriteAcc | extra_bits), s4reg);
    store(t);
    soft_end(c);
  };
  auto scratch = [&](uint16_t avoid) {
    const int t = begin_scratch(c, in, uint16_t(avoid | (1u << RCX)));
    if (t < 0) fail("no scratch register");
    return t;
  };
  if (in.addr32 && is_string_op(o0)) return fail("32-bit addresses on an implicit operand");
  // a member of a push/pop run under one probe (see below)
  if (c.group.left > 0) {
    Ctx::Group& g = c.group;
    const int r = (o0 & 7) | ((in.rex & 1) ? 8 : 0);
    if (g.push) {
      mov_store_at(e, r, g.t, 8 * (g.n - 1 - g.k));
      lea(e, RSP, at(RSP, -8));
    } else {
      mov_load_at(e, r, g.t, 8 * g.k);
      lea(e, RSP, at(RSP, 8));
    }
    ++g.k;
    if (--g.left == 0) {
      soft_end(c);
      e.load_slot(g.t, kGlobalBase + BT_OFF_S4);
    }
    return true;
  }
  // A run of 64-bit pushes (or pops) of registers other than rsp, one after
  // the other (prologues, epilogues, tbk's entry code): one probe for the
  // whole span, each member a store (load) at its offset. A span that faults
  // is retranslated one probe per instruction (kTlbGroup), so faults stay precise.
  if (simple_push_pop(in) && !(c.env.no_group && c.env.no_group(in.pc))) {
    const bool push = o0 <= 0x57;
    uint16_t regs = uint16_t((1u << RSP) | (1u << RCX));
    int n = 1;
    uint64_t pc = in.pc + in.len;
    while (n < 16 && c.index + n < kMaxBlockInsns) {
      const Insn* nx = lookahead(c, pc);
      if (!nx || !simple_push_pop(*nx) || (nx->opcode0() <= 0x57) != push) break;
      regs |= uint16_t(1u << ((nx->opcode0() & 7) | ((nx->rex & 1) ? 8 : 0)));
      pc += nx->len;
      ++n;
    }
    regs |= uint16_t(1u << ((o0 & 7) | ((in.rex & 1) ? 8 : 0)));
    if (n > 1) {
      const int t = begin_scratch(c, in, regs);
      if (t >= 0) {
        lea(e, t, at(RSP, push ? -8 * n : 0));
        soft_probe(c, in, t, uint32_t(8 * n), uint8_t((push ? kTlbWriteAcc : 0) | kTlbRestoreS4 | kTlbGroup), t);
        c.group = Ctx::Group{n, n, 0, t, push};
        return soft_insn(c, in, end, ok);  // the first member
      }
    }
  }
  // push r / push imm
  const bool push_rm = o0 == 0xff && in.has_modrm && ext == 6 && in.mod == 3;
  const bool pop_rm = o0 == 0x8f && in.has_modrm && ext == 0 && in.mod == 3;
  if ((o0 >= 0x50 && o0 <= 0x57) || o0 == 0x68 || o0 == 0x6a || push_rm) {
    const int r = push_rm ? in.rm : o0 <= 0x57 ? ((o0 & 7) | ((in.rex & 1) ? 8 : 0)) : -1;
    const int t = scratch(0);
    if (t < 0) return true;
    push_with(t, kTlbRestoreS4, t, [&](int tt) {
      if (r >= 0) mov_store(e, r, tt, osz);
      else mov_store_imm(e, tt, uint64_t(in.imm), osz);
    });
    e.load_slot(t, kGlobalBase + BT_OFF_S4);
    lea(e, RSP, at(RSP, -osz));
    return true;
  }
  // pop r
  if ((o0 >= 0x58 && o0 <= 0x5f) || pop_rm) {
    const int r = pop_rm ? in.rm : (o0 & 7) | ((in.rex & 1) ? 8 : 0);
    const int t = scratch(0);
    if (t < 0) return true;
    lea(e, t, at(RSP));
    soft_probe(c, in, t, uint32_t(osz), kTlbRestoreS4, t);
    mov_load(e, r, t, osz);
    soft_end(c);
    e.load_slot(t, kGlobalBase + BT_OFF_S4);
    if (r != RSP) lea(e, RSP, at(RSP, osz));
    return true;
  }
  // push m (ff /6) / pop m (8f /0): the value passes through t, the second address through t2 (s7)
  if ((o0 == 0xff && in.has_modrm && ext == 6 && in.mod != 3) || (o0 == 0x8f && in.has_modrm && ext == 0 && in.mod != 3)) {
    const bool push = o0 == 0xff;
    const int t = scratch(0);
    if (t < 0) return true;
    const int t2 = pick_free(uint16_t(in.gprs | (1u << t) | (1u << RCX) | (1u << RSP)));
    if (t2 < 0) return fail("no second scratch register");
    if (in.mem.base == RSP || in.mem.index == RSP) return fail("pop/push memory operand addressed by rsp");
    if (push) {
      if (!emit_operand_address(c, in, t, kLea)) { *ok = false; return true; }
    } else {
      lea(e, t, at(RSP));
    }
    soft_probe(c, in, t, uint32_t(osz), kTlbRestoreS4, t);
    mov_load(e, t, t, osz);
    soft_end(c);
    e.store_slot(t2, kGlobalBase + BT_OFF_S7);
    if (push) {
      lea(e, t2, at(RSP, -osz));
    } else if (!emit_operand_address(c, in, t2, kLea)) {
      *ok = false;
      return true;
    }
    soft_probe(c, in, t2, uint32_t(osz), uint8_t(kTlbWriteAcc | kTlbRestoreS4 | kTlbRestoreS7), t);
    mov_store(e, t, t2, osz);
    soft_end(c);
    e.load_slot(t2, kGlobalBase + BT_OFF_S7);
    e.load_slot(t, kGlobalBase + BT_OFF_S4);
    lea(e, RSP, at(RSP, push ? -osz : osz));
    return true;
  }
  // leave: rsp = rbp + 8, rbp = [rbp]
  if (o0 == 0xc9) {  // (66: rsp = rbp + 2, bp = the 16 bits popped)
    const int t = scratch(0);
    if (t < 0) return true;
    lea(e, t, at(RBP));
    soft_probe(c, in, t, uint32_t(osz), kTlbRestoreS4, t);
    lea(e, RSP, at(RBP, osz));
    mov_load(e, RBP, t, osz);
    soft_end(c);
    e.load_slot(t, kGlobalBase + BT_OFF_S4);
    return true;
  }
  if (o0 == 0xc8) {  // enter: emulated (the callout walks for each slot)
    if (in.opsize || in.op_off + 3u >= in.len) return fail("16-bit enter");
    emit_callout(c, in, CalloutOp::Enter, 0, 0, 0, uint64_t(in.bytes[in.op_off + 1] | (in.bytes[in.op_off + 2] << 8)),
                 in.bytes[in.op_off + 3], false);
    return true;
  }
  // xlat: al = [rbx + zero-extended al]
  if (o0 == 0xd7) {
    if (in.seg || in.addr32) return fail("xlat with a prefix");
    const int t = scratch(uint16_t((1u << RAX) | (1u << RBX)));
    if (t < 0) return true;
    const uint8_t movzb[] = {0x0f, 0xb6};  // movzbl %al,%t
    if (t >= 8) e.b(0x44);
    e.bytes(movzb, 2);
    e.b(uint8_t(0xc0 | ((t & 7) << 3) | RAX));
    lea(e, t, at(RBX, 0, t));
    soft_probe(c, in, t, 1, kTlbRestoreS4, t);
    const uint8_t mov8 = 0x8a;  // mov (%t),%al
    emit_modrm_mem(e, nullptr, 0, false, false, &mov8, 1, RAX, at(t), nullptr, 0);
    soft_end(c);
    e.load_slot(t, kGlobalBase + BT_OFF_S4);
    return true;
  }
  // call rel32: push the guest return address through the TLB
  if (o0 == 0xe8) {
    const int t = scratch(0);
    if (t < 0) return true;
    push_with(t, kTlbRestoreS4, t, [&](int tt) { mov_store_imm(e, tt, next, 8); });
    e.load_slot(t, kGlobalBase + BT_OFF_S4);
    lea(e, RSP, at(RSP, -8));
    c.stubs.push_back({e.jmp32(e.pc()), uint64_t(in.imm)});
    *end = true;
    return true;
  }
  // ret / ret imm16: the target through the TLB into %rdx, then the lookup
  if (o0 == 0xc3 || o0 == 0xc2) {
    begin_lookup(c);
    lea(e, RDX, at(RSP));
    soft_probe(c, in, RDX, 8, kTlbRestoreS1S2, -1);
    mov_load(e, RDX, RDX, 8);
    soft_end(c);
    lea(e, RSP, at(RSP, 8 + (o0 == 0xc2 ? int64_t(in.imm & 0xffff) : 0)));
    e.jmp32(c.env.lookup_entry);
    *end = true;
    return true;
  }
  // call/jmp through a register or memory
  if (o0 == 0xff && in.has_modrm && (ext == 2 || ext == 4)) {
    begin_lookup(c);
    if (in.mod == 3) {
      if (!emit_load_operand_rdx(c, in)) { *ok = false; return true; }
    } else {
      if (in.mem.seg && (in.mem.base == RDX || in.mem.index == RDX)) return fail("segment-relative branch through rdx");
      if (!emit_operand_address(c, in, RDX, kLea)) { *ok = false; return true; }
      soft_probe(c, in, RDX, 8, kTlbRestoreS1S2, -1);
      mov_load(e, RDX, RDX, 8);
      soft_end(c);
    }
    if (ext == 2) {
      const int t = pick_free(uint16_t((1u << RCX) | (1u << RDX) | (1u << RSP)));
      e.store_slot(t, kGlobalBase + BT_OFF_S4);
      push_with(t, uint8_t(kTlbRestoreS4 | kTlbRestoreS1S2), t, [&](int tt) { mov_store_imm(e, tt, next, 8); });
      e.load_slot(t, kGlobalBase + BT_OFF_S4);
      lea(e, RSP, at(RSP, -8));
    }
    e.jmp32(c.env.lookup_entry);
    *end = true;
    return true;
  }
  // string instructions: emulated through the guest's tables (the callout
  // walks per element; a rep form comes back every 4096 elements)
  if (is_string_op(o0)) {
    const uint8_t size = (o0 & 1) ? uint8_t((in.rex & 8) ? 8 : in.opsize ? 2 : 4) : 1;
    // A rep form with rcx 0 does nothing (no access, no flags): no exit
    // (tbk's memset ends every page with a `rep stosb` of 0 bytes).
    size_t skip = 0;
    if (in.rep || in.repne) {
      c.e.b(0xe3);  // jrcxz past the callout
      skip = c.e.size();
      c.e.b(0);
    }
    emit_callout(c, in, CalloutOp::StringSeg, o0, uint8_t(in.seg), size, 0,
                 (in.rep ? uint64_t(kOpRep) : 0) | (in.repne ? uint64_t(kOpRepne) : 0), false);
    static_assert(Emitter::kExitSize < 128, "the callout fits a rel8");
    if (skip) *c.e.at(skip) = uint8_t(c.e.size() - (skip + 1));
    return true;
  }
  return false;
}

// Inline pushf/popf (inline_sensitive.cpp) with the stack slot through the
// TLB. pushf: for the inline sequence, rsp briefly holds the slot's host
// address + 8 (its pushfq writes the image there; signals run on the
// alternate stack); popf: the image is loaded through the TLB into t, the
// inline sequence takes it from there (a refused image takes the callout,
// which reads the stack through the walk).
bool Translator::soft_pushf_popf(Ctx& c, const Insn& in) {
  Emitter& e = c.e;
  const int t = begin_scratch(c, in, uint16_t((1u << RAX) | (1u << RCX)));
  if (t < 0) return false;
  if (in.opcode0() == 0x9c) {
    lea(e, t, at(RSP, -8));
    soft_probe(c, in, t, 8, uint8_t(kTlbWriteAcc | kTlbRestoreS4), t);
    e.store_abs(RSP, kGlobalBase + BT_OFF_S7);
    lea(e, RSP, at(t, 8));
    emit_inline_pushf(c);
    e.load_abs(RSP, kGlobalBase + BT_OFF_S7);
    soft_end(c);
    e.load_slot(t, kGlobalBase + BT_OFF_S4);
    lea(e, RSP, at(RSP, -8));
    return true;
  }
  lea(e, t, at(RSP));
  soft_probe(c, in, t, 8, kTlbRestoreS4, t);
  mov_load(e, t, t, 8);
  soft_end(c);
  emit_inline_popf(c, in, t);
  return true;
}

}  // namespace vtb::bt
