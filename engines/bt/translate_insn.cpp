// tags: engines|bt — desc: per-instruction classification: branches, sensitive/privileged callouts, IDENT; and the block loop.
#include <capstone/capstone.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "engines/bt/translator_ctx.h"
#include "engines/bt/vcpu.h"

namespace vtb::bt {


namespace {
uint8_t modrm_ext(const Insn& in) { return uint8_t((in.bytes[in.modrm_off] >> 3) & 7); }
uint8_t opsize_of(const Insn& in) { return (in.rex & 8) ? 8 : in.opsize ? 2 : 4; }
}  // namespace

// Returns false on an engine error (c.error set). *end: the block ends here.
bool Translator::translate_insn(Ctx& c, const Insn& in, bool* end) {
  Emitter& e = c.e;
  const uint8_t o0 = in.opcode0();
  const uint8_t o1 = in.opcode1();
  const uint64_t next = in.pc + in.len;
  *end = false;
  if (c.cover.active) {  // inside a probe cover (softmmu_cover.cpp): covered accesses, side exits
    bool ok = true;
    if (soft_cover_insn(c, in, &ok)) return ok;
  }
  auto callout = [&](CalloutOp op, uint8_t a = 0, uint8_t b = 0, uint8_t cc = 0, uint64_t target = 0,
                     uint64_t aux = 0, bool ends = false) {
    emit_callout(c, in, op, a, b, cc, target, aux, ends);
    *end = ends;
    return true;
  };
  // A callout with an r/m operand: register number in a (0xff = memory, address in ea).
  auto callout_rm = [&](CalloutOp op, uint8_t b, uint8_t cc, bool ends = false) {
    uint64_t aux = 0, target = 0;
    uint8_t a = 0xff;
    if (in.mod == 3) a = in.rm;
    else if (!emit_ea(c, in, &aux, &target)) return false;
    return callout(op, a, b, cc, target, aux, ends);
  };
  if (c.env.traced_store && c.env.traced_store(in.pc)) {
    uint8_t reg;
    int size;
    uint64_t imm;
    bool high8;
    if (simple_store(in, &reg, &size, &imm, &high8)) {
      uint64_t aux = 0, target = imm;
      if (!emit_ea(c, in, &aux, &target)) return false;
      if ((aux & kOpAbs) && reg == 0xff) {
        c.error = "rip-relative immediate store cannot be traced: " + in.text;
        return false;
      }
      if (aux & kOpAbs) {  // rip-relative: target holds the address; no immediate
        emit_callout(c, in, CalloutOp::TracedStore, reg, uint8_t(size), high8, target, aux, false);
        return true;
      }
      return callout(CalloutOp::TracedStore, reg, uint8_t(size), high8, imm, aux);
    }
  }
  // maskmovq/maskmovdqu store to the implicit [rdi]: copied as is they would
  // write wherever the guest's rdi points in the host process (neither the
  // address checks nor the software MMU's probe see that operand).
  if (in.id == X86_INS_MASKMOVQ || in.id == X86_INS_MASKMOVDQU || in.id == X86_INS_VMASKMOVDQU) {
    c.error = "masked store to the implicit [rdi] (maskmov*) is not translated: " + in.text;
    return false;
  }
  // bt/bts/btr/btc r, m: the register's signed bit offset reaches far outside
  // the operand (neither an address check nor a TLB probe covers that): a callout.
  if (!in.vex && o0 == 0x0f && in.has_mem && (o1 == 0xa3 || o1 == 0xab || o1 == 0xb3 || o1 == 0xbb)) {
    uint64_t aux = 0, target = 0;
    if (!emit_ea(c, in, &aux, &target)) return false;
    return callout(CalloutOp::BitString, in.reg, opsize_of(in), o1, target, aux);
  }
  if (c.env.softmmu) {  // stack, string and branch instructions through the TLB (softmmu_emit.cpp)
    bool ok = true;
    if (soft_insn(c, in, end, &ok)) return ok;
  }
  if (in.vex) {
    if (c.env.softmmu && in.has_mem) return soft_mem(c, in);
    if (in.seg) {
      c.error = "VEX instruction with a segment override: " + in.text;
      return false;
    }
    return emit_ident(c, in);
  }

  // div/idiv (32/64-bit divisor): a zero divisor is caught before the
  // instruction (a callout delivers #DE) instead of by a host SIGFPE (~10 us
  // here); INT_MIN / -1 still takes the signal path.
  if (!in.vex && o0 == 0xf7 && in.has_modrm && (modrm_ext(in) == 6 || modrm_ext(in) == 7) && !in.opsize && !in.seg &&
      !in.addr32 && !(c.env.softmmu && in.mod != 3))
    emit_div_check(c, in);

  // ---- control transfer ----
  if (in.is_jcc()) {  // (VEX returned above)
    const uint8_t cc = (o0 == 0x0f ? o1 : o0) & 0xf;
    if (soft_unroll(c, in)) {  // the loop's exit is the side exit; the block goes on at its start
      c.stubs.push_back({e.jcc32(uint8_t(cc ^ 1), e.pc()), next});
      return true;
    }
    c.stubs.push_back({e.jcc32(cc, e.pc()), uint64_t(in.imm)});
    if (c.env.extend) return true;  // side exit; the block goes on with the fall-through path
    c.stubs.push_back({e.jmp32(e.pc()), next});
    *end = true;
    return true;
  }
  if (o0 >= 0xe0 && o0 <= 0xe3) {  // loopnz/loopz/loop/jrcxz: rel8 only
    for (int i = 0; i < in.npfx; ++i)
      if (in.bytes[i] == 0x67) e.b(0x67);
    if (in.rex) e.b(in.rex);
    e.b(o0);
    e.b(5);
    c.stubs.push_back({e.jmp32(e.pc()), next});
    c.stubs.push_back({e.jmp32(e.pc()), uint64_t(in.imm)});
    *end = true;
    return true;
  }
  if (o0 == 0xe9 || o0 == 0xeb) {
    c.stubs.push_back({e.jmp32(e.pc()), uint64_t(in.imm)});
    *end = true;
    return true;
  }
  auto push_return = [&]() {
    e.b(0x68);
    e.d32(uint32_t(next));
    if (int64_t(int32_t(uint32_t(next))) != int64_t(next)) {  // movl $hi, 4(%rsp)
      e.b(0xc7); e.b(0x44); e.b(0x24); e.b(0x04);
      e.d32(uint32_t(next >> 32));
    }
  };
  if (o0 == 0xe8) {
    push_return();
    c.stubs.push_back({e.jmp32(e.pc()), uint64_t(in.imm)});
    *end = true;
    return true;
  }
  if (o0 == 0xc3 || o0 == 0xc2) {
    begin_lookup(c);
    e.b(0x5a);  // pop %rdx
    if (o0 == 0xc2) {  // lea imm16(%rsp),%rsp
      e.b(0x48); e.b(0x8d); e.b(0xa4); e.b(0x24);
      e.d32(uint32_t(in.imm & 0xffff));
    }
    e.jmp32(c.env.lookup_entry);
    *end = true;
    return true;
  }
  if (o0 == 0xff && in.has_modrm && (modrm_ext(in) == 2 || modrm_ext(in) == 4)) {
    begin_lookup(c);
    if (!emit_load_operand_rdx(c, in)) return false;
    if (modrm_ext(in) == 2) push_return();
    e.jmp32(c.env.lookup_entry);
    *end = true;
    return true;
  }
  if (o0 == 0xff && in.has_modrm && (modrm_ext(in) == 3 || modrm_ext(in) == 5)) {
    if (in.mod == 3) return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);  // #UD
    return callout_rm(modrm_ext(in) == 3 ? CalloutOp::FarCall : CalloutOp::FarJmp, opsize_of(in), 0, true);
  }
  if (o0 == 0xcb || o0 == 0xca)
    return callout(CalloutOp::FarRet, opsize_of(in), 0, 0, o0 == 0xca ? uint64_t(in.imm & 0xffff) : 0, 0, true);
  if (o0 == 0xcf) return callout(CalloutOp::Iret, opsize_of(in), 0, 0, 0, 0, true);
  if (o0 == 0xcd) return callout(CalloutOp::Int, uint8_t(in.imm), 1, 0, 0, 0, true);
  if (o0 == 0xcc) return callout(CalloutOp::Int3, 3, 0, 0, 0, 0, true);
  if (o0 == 0xf1) return callout(CalloutOp::Int, 1, 2, 0, 0, 0, true);  // int1 (icebp)

  if (emit_inline_sensitive(c, in, end)) return true;  // pushf/popf/rdtsc/cpuid/swapgs (inline_sensitive.cpp)
  // ---- one-byte sensitive / privileged ----
  switch (o0) {
    case 0xf4: return callout(CalloutOp::Hlt);
    case 0xfa:
      if (c.env.inline_if) {  // movq $0, vif
        e.b(0x48); e.b(0xc7); e.b(0x04); e.b(0x25); e.d32(uint32_t(kGlobalBase + BT_OFF_VIF)); e.d32(0);
        emit_inline_count_saving(e, InlineOp::Cli);
        return true;
      }
      return callout(CalloutOp::Cli);
    case 0xfb:
      if (c.env.inline_if) {
        // Nothing deliverable: movq $IF, vif. Else the callout (interrupt
        // shadow, delivery after the next instruction).
        // mov %rcx,s6; mov irq_pending,%rcx; jrcxz fast; mov s6,%rcx; <callout>; jmp done;
        // fast: <count>; mov s6,%rcx; movq $IF,vif; done:
        e.store_abs(RCX, kGlobalBase + BT_OFF_S6);
        e.load_abs(RCX, kGlobalBase + BT_OFF_IRQ_PENDING);
        e.b(0xe3);
        const size_t jz = e.size();
        e.b(0);
        e.load_abs(RCX, kGlobalBase + BT_OFF_S6);
        emit_callout(c, in, CalloutOp::Sti, 0, 0, 0, 0, 0, false);
        e.b(0xe9);
        const size_t done = e.size();
        e.d32(0);
        *e.at(jz) = uint8_t(e.size() - (jz + 1));
        emit_inline_count(e, InlineOp::Sti, RCX);
        e.load_abs(RCX, kGlobalBase + BT_OFF_S6);
        e.b(0x48); e.b(0xc7); e.b(0x04); e.b(0x25); e.d32(uint32_t(kGlobalBase + BT_OFF_VIF)); e.d32(uint32_t(kFlagIF));
        e.patch_rel32(done, e.pc());
        return true;
      }
      return callout(CalloutOp::Sti);
    case 0x9c: return callout(CalloutOp::Pushf, in.opsize ? 2 : 8);
    case 0x9d: return callout(CalloutOp::Popf, in.opsize ? 2 : 8);
    case 0xe4: case 0xe5: return callout(CalloutOp::In, o0 == 0xe4 ? 1 : in.opsize ? 2 : 4, 0, 0, uint64_t(in.imm & 0xff));
    case 0xec: case 0xed: return callout(CalloutOp::In, o0 == 0xec ? 1 : in.opsize ? 2 : 4, 0, 0, 0, kOpPortDx);
    case 0xe6: case 0xe7: return callout(CalloutOp::Out, o0 == 0xe6 ? 1 : in.opsize ? 2 : 4, 0, 0, uint64_t(in.imm & 0xff));
    case 0xee: case 0xef: return callout(CalloutOp::Out, o0 == 0xee ? 1 : in.opsize ? 2 : 4, 0, 0, 0, kOpPortDx);
    case 0x6c: case 0x6d:
      return callout(CalloutOp::Ins, o0 == 0x6c ? 1 : in.opsize ? 2 : 4, 0, 0, 0, kOpPortDx | (in.rep ? uint64_t(kOpRep) : 0));
    case 0x6e: case 0x6f:
      return callout(CalloutOp::Outs, o0 == 0x6e ? 1 : in.opsize ? 2 : 4, in.seg, 0, 0,
                     kOpPortDx | (in.rep ? uint64_t(kOpRep) : 0));
    case 0x8c: return callout_rm(CalloutOp::MovFromSeg, uint8_t(in.reg & 7), in.mod == 3 ? opsize_of(in) : 2);
    case 0x8e: return callout_rm(CalloutOp::MovToSeg, uint8_t(in.reg & 7), 2);
    case 0xce: return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);  // into: #UD in 64-bit mode
    default: break;
  }
  if (o0 >= 0xa0 && o0 <= 0xa3 && (in.seg || c.env.user_checks || c.env.kernel_checks || c.env.softmmu))
    return emit_moffs(c, in);
  if (in.seg && !in.has_mem && (o0 == 0xa4 || o0 == 0xa5 || o0 == 0xa6 || o0 == 0xa7 || o0 == 0xac || o0 == 0xad)) {
    if (in.addr32) {
      c.error = "string instruction with a segment override and 32-bit addresses: " + in.text;
      return false;
    }
    const uint8_t size = (o0 & 1) ? opsize_of(in) : 1;
    return callout(CalloutOp::StringSeg, o0, uint8_t(in.seg), size, 0,
                   (in.rep ? uint64_t(kOpRep) : 0) | (in.repne ? uint64_t(kOpRepne) : 0));
  }

  // ---- 0F xx ----
  if (o0 == 0x0f) {
    const uint8_t ext = in.has_modrm ? modrm_ext(in) : 0;
    switch (o1) {
      case 0x00:
        switch (ext) {
          case 0: return callout_rm(CalloutOp::Sldt, in.mod == 3 ? opsize_of(in) : 2, 0);
          case 1: return callout_rm(CalloutOp::Str, in.mod == 3 ? opsize_of(in) : 2, 0);
          case 2: return callout_rm(CalloutOp::Lldt, 2, 0);
          case 3: return callout_rm(CalloutOp::Ltr, 2, 0);
          case 4: return callout_rm(CalloutOp::Verr, 2, 0);
          case 5: return callout_rm(CalloutOp::Verw, 2, 0);
          default: return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);
        }
      case 0x01:
        if (in.mod != 3) {
          switch (ext) {
            case 0: return callout_rm(CalloutOp::Sgdt, 0, 0);
            case 1: return callout_rm(CalloutOp::Sidt, 0, 0);
            case 2: return callout_rm(CalloutOp::Lgdt, 0, 0);
            case 3: return callout_rm(CalloutOp::Lidt, 0, 0);
            case 4: return callout_rm(CalloutOp::Smsw, 2, 0);
            case 6: return callout_rm(CalloutOp::Lmsw, 2, 0);
            case 7: return callout_rm(CalloutOp::Invlpg, 0, 0);
            default: return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);
          }
        }
        switch (in.bytes[in.modrm_off]) {
          case 0xf8: return callout(CalloutOp::Swapgs);
          case 0xf9: return callout(CalloutOp::Rdtscp);
          case 0xc8: return callout(CalloutOp::Monitor);
          case 0xc9: return callout(CalloutOp::Mwait);
          case 0xca: case 0xcb: return callout(CalloutOp::Nop);  // clac/stac: SMAP is not virtualized
          case 0xd0: return emit_ident(c, in);                   // xgetbv
          case 0xd1: return callout(CalloutOp::Xsetbv);
          default:
            if (ext == 4) return callout_rm(CalloutOp::Smsw, opsize_of(in), 0);
            if (ext == 6) return callout_rm(CalloutOp::Lmsw, 2, 0);
            return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);
        }
      case 0x02: return callout_rm(CalloutOp::Lar, opsize_of(in), in.reg);
      case 0x03: return callout_rm(CalloutOp::Lsl, opsize_of(in), in.reg);
      case 0x05: return callout(CalloutOp::Syscall, 0, 0, 0, 0, 0, true);
      case 0x06: return callout(CalloutOp::Clts);
      case 0x07: return callout(CalloutOp::Sysret, opsize_of(in) == 8 ? 8 : 4, 0, 0, 0, 0, true);
      case 0x08: case 0x09: return callout(CalloutOp::Invd);
      case 0x0b: case 0xb9: case 0xff: return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);
      case 0x20: return callout(CalloutOp::MovFromCr, in.reg, in.rm);
      case 0x22: return callout(CalloutOp::MovToCr, in.reg, in.rm);
      case 0x21: return callout(CalloutOp::MovFromDr, in.reg, in.rm);
      case 0x23: return callout(CalloutOp::MovToDr, in.reg, in.rm);
      case 0x30: return callout(CalloutOp::Wrmsr);
      case 0x31: return callout(CalloutOp::Rdtsc);
      case 0x32: return callout(CalloutOp::Rdmsr);
      case 0x33: return callout(CalloutOp::Rdpmc);
      case 0x34: return callout(CalloutOp::Sysenter, 0, 0, 0, 0, 0, true);
      case 0x35: case 0x37: return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);
      case 0xa2: return callout(CalloutOp::Cpuid);
      case 0xa0: return callout(CalloutOp::PushSeg, 4);
      case 0xa8: return callout(CalloutOp::PushSeg, 5);
      case 0xa1: return callout(CalloutOp::PopSeg, 4);
      case 0xa9: return callout(CalloutOp::PopSeg, 5);
      case 0xb2: case 0xb4: case 0xb5:
        if (in.mod == 3) return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);
        return callout_rm(CalloutOp::LoadFarPtr, o1 == 0xb2 ? 2 : o1 == 0xb4 ? 4 : 5, uint8_t(opsize_of(in) | (in.reg << 4)), false);
      case 0xae:
        if (in.rep && in.mod == 3 && ext <= 3)  // rd/wr fs/gs base
          return callout(ext <= 1 ? CalloutOp::RdSegBase : CalloutOp::WrSegBase, in.rm, (ext & 1) ? 5 : 4,
                         (in.rex & 8) ? 8 : 4);
        break;
      case 0xc7:
        if (in.rep && in.mod == 3 && ext == 7) return callout(CalloutOp::Rdpid, in.rm);
        break;
      case 0x78: case 0x79: return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);
      default: break;
    }
  }
  // A control transfer copied as is would make the host jump to a guest
  // address (a jump relative to the translation cache, or to a guest pointer).
  if (in.id == X86_INS_XBEGIN) return callout(CalloutOp::Int, 6, 0, 0, 0, 0, true);  // RTM is not virtualised: #UD
  if (in.transfer) {
    c.error = "control transfer not recognised: " + in.text;
    return false;
  }
  if (c.env.softmmu && in.has_mem && in.id != X86_INS_LEA && in.id != X86_INS_NOP) return soft_mem(c, in);
  if (in.seg && in.has_mem && in.id != X86_INS_LEA && in.id != X86_INS_NOP) return emit_seg_rewrite(c, in);
  return emit_ident(c, in);
}

// Indirect branches and returns: guest rcx/rdx into s1/s2 for the lookup
// routine (the fixup puts them back if the target load faults).
void Translator::begin_lookup(Ctx& c) {
  c.blk->map.back().fixup = Fixup::RestoreS1S2;
  c.e.store_abs(RCX, kGlobalBase + BT_OFF_S1);
  c.e.store_abs(RDX, kGlobalBase + BT_OFF_S2);
}

bool simple_store(const Insn& in, uint8_t* reg, int* size, uint64_t* imm, bool* high8) {
  if (in.vex || !in.has_mem || in.lock || in.rep || in.repne || in.addr32) return false;
  const uint8_t o0 = in.opcode0();
  const int osz = (in.rex & 8) ? 8 : in.opsize ? 2 : 4;
  *high8 = false;
  *imm = 0;
  switch (o0) {
    case 0x89: *reg = in.reg; *size = osz; return true;
    case 0x88:
      *size = 1;
      *reg = in.reg;
      if (!in.rex && in.reg >= 4 && in.reg <= 7) { *reg = uint8_t(in.reg - 4); *high8 = true; }
      return true;
    case 0xc7:
      if ((in.bytes[in.modrm_off] >> 3) & 7) return false;
      *reg = 0xff; *size = osz; *imm = uint64_t(in.imm); return true;
    case 0xc6:
      if ((in.bytes[in.modrm_off] >> 3) & 7) return false;
      *reg = 0xff; *size = 1; *imm = uint64_t(in.imm) & 0xff; return true;
    default:
      return false;
  }
}

TranslateResult Translator::translate(uint64_t pc, uint64_t tc, const TranslateEnv& env, uint8_t* buf, size_t cap,
                                      Block* blk) {
  TranslateResult res;
  Ctx c{Emitter(buf, cap, tc), blk, env, 0, {}, {}, {}, {}, {}, 0, 0, {}, {}, {}, {}};
  Emitter& e = c.e;
  c.ahead.reserve(Ctx::kAhead);  // (no reallocation: look-ahead pointers stay valid until the next decode)
  blk->pc = pc;
  blk->tc = tc;
  blk->map.clear();

  // Checked entry: charge the block's instructions to the budget, exit when it runs out.
  e.store_abs(RAX, kGlobalBase + BT_OFF_S0);
  e.b(0x9f);                          // lahf
  e.b(0x0f); e.b(0x90); e.b(0xc0);    // seto %al
  e.b(0x48); e.b(0x83); e.b(0x2c); e.b(0x25); e.d32(uint32_t(kGlobalBase + BT_OFF_BUDGET));
  const size_t n_off = e.size();
  e.b(0);                             // sub $n, budget
  const size_t jl_off = e.jcc32(0xc, e.pc());  // jl budget_exit
  e.b(0x04); e.b(0x7f);               // add $0x7f,%al
  e.b(0x9e);                          // sahf
  e.load_abs(RAX, kGlobalBase + BT_OFF_S0);
  blk->tc_fast = e.pc();

  uint64_t cur = pc, furthest = pc;
  bool ended = false;
  Insn in;
  uint8_t code[16];
  while (c.index < kMaxBlockInsns && !ended) {
    size_t got = 0;
    bool decoded = false;
    if (const int ahead = c.ahead_find(cur); ahead >= 0) {  // decoded by a look-ahead already
      in = c.ahead[size_t(ahead)];
      got = in.len;
      decoded = true;
    } else {
      got = env.fetch(cur, code, 15);
      decoded = got > 0 && dec_.decode(code, got, cur, &in);
    }
    if (!decoded) {
      if (c.index > 0) break;  // end the block before it; the next block reports it precisely
      ExitRecord r{};
      r.guest_pc = cur;
      if (got < 15 && (got == 0 || !dec_.decode(code, got, cur, &in))) {
        // Fetch stopped at an inaccessible page: is the instruction cut by it?
        uint8_t probe[16];
        memcpy(probe, code, got);
        memset(probe + got, 0x90, 15 - got);
        Insn tmp;
        if (got == 0 || (dec_.decode(probe, 15, cur, &tmp) && tmp.len > got)) {
          r.reason = ExitReason::FetchFault;
          r.target = cur + got;
        } else {
          r.reason = ExitReason::Undefined;
        }
      } else {
        r.reason = ExitReason::Undefined;
      }
      blk->map.push_back({uint32_t(e.size()), uint32_t(cur - pc), uint8_t(c.index), Fixup::None, 0});
      c.records.push_back({e.exit(r), c.index, false});
      ++c.index;
      ended = true;
      break;
    }
    blk->map.push_back({uint32_t(e.size()), uint32_t(cur - pc), uint8_t(c.index), Fixup::None, 0});
    bool end = false;
    const size_t mark = e.size();
    const size_t check_stubs_mark = c.check_stubs.size(), slow_mark = c.slow_checks.size(), stubs_mark = c.stubs.size();
    if (c.env.user_checks || c.env.kernel_checks) emit_address_checks(c, in);
    if (!translate_insn(c, in, &end)) {
      e.truncate(mark);
      c.check_stubs.resize(check_stubs_mark);
      c.slow_checks.resize(slow_mark);
      blk->error = c.error.empty() ? "cannot translate " + in.text : c.error;
      ExitRecord r{};
      r.reason = ExitReason::Unsupported;
      r.guest_pc = cur;
      r.len = in.len;
      c.records.push_back({e.exit(r), c.index, false});
      ++c.index;
      cur += in.len;
      ended = true;
      break;
    }
    if (c.env.user_checks) note_back_edges(c, in, stubs_mark);
    if (c.env.user_checks || c.env.kernel_checks) track_checked_regs(c, in);
    ++c.index;
    furthest = std::max(furthest, cur + in.len);
    cur = c.next_pc ? std::exchange(c.next_pc, 0) : cur + in.len;
    ended = end;
    if (e.overflow()) break;
  }
  if (c.cover.active) {  // (a cover never outlives its planned span: a block cut short inside it fails)
    res.error = "bt-softmmu: the block ended inside a probe cover at " + std::to_string(cur);
    return res;
  }
  if (!ended) c.stubs.push_back({e.jmp32(e.pc()), cur});

  const int n = c.index;
  blk->ninsns = uint16_t(n);
  blk->end = std::max(cur, furthest);  // (a loop continued at the block's start: its furthest byte)
  *e.at(n_off) = uint8_t(n);
  // Budget exit: undo the charge, restore rax/flags, leave.
  e.patch_rel32(jl_off, e.pc());
  e.b(0x48); e.b(0x83); e.b(0x04); e.b(0x25); e.d32(uint32_t(kGlobalBase + BT_OFF_BUDGET)); e.b(uint8_t(n));
  e.b(0x04); e.b(0x7f);
  e.b(0x9e);
  e.load_abs(RAX, kGlobalBase + BT_OFF_S0);
  ExitRecord br{};
  br.reason = ExitReason::Budget;
  br.guest_pc = pc;
  br.target = pc;
  e.exit(br);
  if (c.env.softmmu) emit_cover_stubs(c);  // (adds branch stubs and probes)
  // Stubs for direct branches not chained yet.
  for (auto& [rel_off, target] : c.stubs) {
    const uint64_t stub = e.pc();
    e.patch_rel32(rel_off, stub);
    ExitRecord r{};
    r.reason = ExitReason::Branch;
    r.guest_pc = target;
    r.target = target;
    r.aux = tc + rel_off;
    e.exit(r);
    blk->outgoing_sites.push_back(tc + rel_off);
    blk->outgoing_stub.push_back(stub);
  }
  emit_check_stubs(c);
  for (const auto& [site, entry] : c.loop_back) blk->loop_entries.push_back({tc + site, tc + entry});
  if (c.env.softmmu) emit_soft_stubs(c);
  for (const auto& r : c.records) {
    ExitRecord* rec = reinterpret_cast<ExitRecord*>(e.at(r.off));
    if (r.off + sizeof(ExitRecord) <= cap)
      rec->unexec = uint8_t(n - r.index - (r.executes ? 1 : 0));
  }
  if (e.overflow()) {
    res.error = "translation buffer overflow";
    return res;
  }
  if (c.cover_failed) {
    res.error = "bt-softmmu: a probe cover's page-crossing path could not be encoded";
    return res;
  }
  blk->tc_size = uint32_t(e.size());
  res.ok = true;
  res.size = e.size();
  res.guest_insns = uint32_t(n);
  res.address_checks = uint32_t(c.checks);
  res.address_checks_elided = uint32_t(c.checks_elided);
  res.address_checks_hoisted = uint32_t(c.checks_hoisted);
  res.soft_probes = uint32_t(c.probes_short + c.probes_long + c.probes_alone);
  res.soft_probes_alone = uint32_t(c.probes_alone);
  res.soft_probes_in_dest = uint32_t(c.probes_in_dest);
  res.soft_probes_short = uint32_t(c.probes_short);
  res.soft_probes_covered = uint32_t(c.probes_covered);
  res.soft_scratch_dead = uint32_t(c.scratch_dead);
  return res;
}

// mov %rcx,s4; mov divisor,%rcx (%ecx for 32 bits); jrcxz zero; mov s4,%rcx;
// jmp over; zero: mov s4,%rcx; DivideError callout; over: (the div itself).
// A fault reading a memory divisor restores %rcx from s4 (fixup).
void Translator::emit_div_check(Ctx& c, const Insn& in) {
  Emitter& e = c.e;
  const bool wide = in.rex & 8;
  InsnMapEntry& m = c.blk->map.back();
  e.store_abs(RCX, kGlobalBase + BT_OFF_S4);
  if (in.mod == 3) {  // mov %src,%rcx / %ecx (89 /r, rm = rcx)
    const int src = in.rm;
    const uint8_t rex = uint8_t((wide ? 0x48 : 0x40) | ((src & 8) ? 4 : 0));
    if (rex != 0x40) e.b(rex);
    e.b(0x89);
    e.b(uint8_t(0xc0 | ((src & 7) << 3) | RCX));
  } else {
    m.fixup = Fixup::RestoreS4;
    m.reg = RCX;
    const uint8_t mov = 0x8b;
    if (!emit_modrm_mem(e, nullptr, 0, wide, false, &mov, 1, RCX, in.mem, nullptr, 0)) {
      e.load_abs(RCX, kGlobalBase + BT_OFF_S4);
      m.fixup = Fixup::None;
      return;
    }
  }
  e.b(0xe3);  // jrcxz zero
  const size_t jz = e.size();
  e.b(0);
  e.load_abs(RCX, kGlobalBase + BT_OFF_S4);
  e.b(0xe9);  // jmp over
  const size_t over = e.size();
  e.d32(0);
  *e.at(jz) = uint8_t(e.size() - (jz + 1));
  e.load_abs(RCX, kGlobalBase + BT_OFF_S4);
  emit_callout(c, in, CalloutOp::DivideError, 0, 0, 0, 0, 0, true);
  e.patch_rel32(over, e.pc());
  // The fixup stays for the div too: s4 then holds the value %rcx has anyway.
}

}  // namespace vtb::bt
