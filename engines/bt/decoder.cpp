// tags: engines|bt — desc: Capstone-based decoder with an independent ModRM/SIB/displacement parse.
#include "engines/bt/decoder.h"

#include <capstone/capstone.h>

#include <cstring>

namespace vtb::bt {

namespace {

struct RegInfo { int gpr; int size; bool high8; };

RegInfo reg_info(unsigned r) {
  switch (r) {
#define Q(n, a, b, c, d) case X86_REG_##a: return {n, 8, false}; case X86_REG_##b: return {n, 4, false}; \
                          case X86_REG_##c: return {n, 2, false}; case X86_REG_##d: return {n, 1, false};
    Q(0, RAX, EAX, AX, AL) Q(1, RCX, ECX, CX, CL) Q(2, RDX, EDX, DX, DL) Q(3, RBX, EBX, BX, BL)
    Q(4, RSP, ESP, SP, SPL) Q(5, RBP, EBP, BP, BPL) Q(6, RSI, ESI, SI, SIL) Q(7, RDI, EDI, DI, DIL)
    Q(8, R8, R8D, R8W, R8B) Q(9, R9, R9D, R9W, R9B) Q(10, R10, R10D, R10W, R10B) Q(11, R11, R11D, R11W, R11B)
    Q(12, R12, R12D, R12W, R12B) Q(13, R13, R13D, R13W, R13B) Q(14, R14, R14D, R14W, R14B)
    Q(15, R15, R15D, R15W, R15B)
#undef Q
    case X86_REG_AH: return {0, 1, true};
    case X86_REG_CH: return {1, 1, true};
    case X86_REG_DH: return {2, 1, true};
    case X86_REG_BH: return {3, 1, true};
    default: return {-1, 0, false};
  }
}

bool is_legacy_prefix(uint8_t b) {
  switch (b) {
    case 0xf0: case 0xf2: case 0xf3: case 0x2e: case 0x36: case 0x3e: case 0x26: case 0x64: case 0x65:
    case 0x66: case 0x67:
      return true;
    default:
      return false;
  }
}

}  // namespace

int gpr_of(unsigned r) { return reg_info(r).gpr; }
int gpr_size(unsigned r) { return reg_info(r).size; }
bool gpr_is_high8(unsigned r) { return reg_info(r).high8; }

Decoder::Decoder() {
  csh h = 0;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) return;
  cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
  handle_ = h;
  scratch_ = cs_malloc(h);
}

Decoder::~Decoder() {
  if (scratch_) cs_free(scratch_, 1);
  if (handle_) {
    csh h = handle_;
    cs_close(&h);
  }
}

bool Decoder::decode(const uint8_t* code, size_t avail, uint64_t pc, Insn* out) {
  if (!handle_ || avail == 0) return false;
  const uint8_t* p = code;
  size_t n = avail > 15 ? 15 : avail;
  uint64_t addr = pc;
  if (!cs_disasm_iter(handle_, &p, &n, &addr, scratch_)) return false;
  const cs_insn& ci = *scratch_;
  const cs_x86& x = ci.detail->x86;
  Insn& d = *out;
  d = Insn{};
  d.pc = pc;
  d.len = uint8_t(ci.size);
  memcpy(d.bytes, code, ci.size);
  d.id = ci.id;
  d.text = std::string(ci.mnemonic) + (ci.op_str[0] ? " " : "") + ci.op_str;

  // Prefixes and REX, our own scan. A REX byte counts only when the opcode
  // follows it: one before a legacy prefix or another REX is ignored by the
  // CPU (`4d f3 e9 rel32` is a plain `jmp rel32`), so npfx covers every byte
  // before the effective REX, ignored REX bytes included (copy_prefixes and
  // the other users skip them).
  unsigned i = 0;
  while (i < d.len && (is_legacy_prefix(d.bytes[i]) || ((d.bytes[i] & 0xf0) == 0x40 && i + 1 < d.len &&
                                                         (is_legacy_prefix(d.bytes[i + 1]) ||
                                                          (d.bytes[i + 1] & 0xf0) == 0x40)))) {
    switch (d.bytes[i]) {
      case 0x66: d.opsize = true; break;
      case 0x67: d.addr32 = true; break;
      case 0xf3: d.rep = true; break;
      case 0xf2: d.repne = true; break;
      case 0xf0: d.lock = true; break;
      case 0x64: d.seg = 'f'; break;
      case 0x65: d.seg = 'g'; break;
      default: break;
    }
    ++i;
  }
  d.npfx = uint8_t(i);
  if (i < d.len && (d.bytes[i] & 0xf0) == 0x40) d.rex = d.bytes[i++];
  d.op_off = uint8_t(i);
  if (i < d.len && (d.bytes[i] == 0xc4 || d.bytes[i] == 0xc5 || d.bytes[i] == 0x62 ||
                    (d.bytes[i] == 0x8f && i + 1 < d.len && (d.bytes[i + 1] & 0x38) != 0)))
    d.vex = true;

  // ModRM: Capstone tells where it is; we decode it ourselves. A VEX
  // prefix carries the register extensions inverted (R in both forms, X and
  // B in the 3-byte one): `ext` is them in REX form.
  uint8_t ext = d.rex;
  if (d.vex && d.op_off + 1u < d.len && (d.bytes[d.op_off] == 0xc5 || d.bytes[d.op_off] == 0xc4)) {
    const uint8_t b1 = d.bytes[d.op_off + 1];
    ext = uint8_t(0x40 | ((b1 & 0x80) ? 0 : 4));
    if (d.bytes[d.op_off] == 0xc4) ext |= uint8_t(((b1 & 0x40) ? 0 : 2) | ((b1 & 0x20) ? 0 : 1));
  }
  const uint8_t mo = x.encoding.modrm_offset;
  if (mo != 0 && mo < d.len) {
    d.has_modrm = true;
    d.modrm_off = mo;
    const uint8_t m = d.bytes[mo];
    d.mod = m >> 6;
    d.reg = uint8_t(((m >> 3) & 7) | ((ext & 4) ? 8 : 0));
    d.rm = uint8_t((m & 7) | ((ext & 1) ? 8 : 0));
    unsigned q = mo + 1;
    if (d.mod != 3) {
      d.has_mem = true;
      MemRef& r = d.mem;
      r.seg = d.seg;
      int disp_bytes = d.mod == 1 ? 1 : d.mod == 2 ? 4 : 0;
      if ((m & 7) == 4) {
        if (q >= d.len) return false;
        const uint8_t sib = d.bytes[q++];
        const int idx = ((sib >> 3) & 7) | ((ext & 2) ? 8 : 0);
        const int base = (sib & 7) | ((ext & 1) ? 8 : 0);
        r.scale = 1 << (sib >> 6);
        r.index = idx == 4 ? -1 : idx;
        if ((sib & 7) == 5 && d.mod == 0) {
          r.base = -1;
          disp_bytes = 4;
        } else {
          r.base = base;
        }
      } else if ((m & 7) == 5 && d.mod == 0) {
        r.rip = true;
        disp_bytes = 4;  // always 4 bytes (Capstone 4 may claim 2)
      } else {
        r.base = d.rm;
      }
      if (q + unsigned(disp_bytes) > d.len) return false;
      if (disp_bytes == 1) r.disp = int8_t(d.bytes[q]);
      if (disp_bytes == 4) {
        int32_t v;
        memcpy(&v, d.bytes + q, 4);
        r.disp = v;
      }
      q += unsigned(disp_bytes);
    }
    d.modrm_end = uint8_t(q);
  }

  // Operands.
  d.op_count = x.op_count > 4 ? 4 : x.op_count;
  for (int k = 0; k < d.op_count; ++k) {
    const cs_x86_op& o = x.operands[k];
    d.op_size[k] = o.size;
    if (o.type == X86_OP_REG) {
      d.op_reg[k] = gpr_of(o.reg);
      d.op_capreg[k] = o.reg;
    } else if (o.type == X86_OP_IMM) {
      if (!d.has_imm) {
        d.has_imm = true;
        d.imm = o.imm;
      }
    } else if (o.type == X86_OP_MEM) {
      d.op_is_mem[k] = true;
      if (o.size > d.mem_size) d.mem_size = o.size;
    }
  }

  d.transfer = cs_insn_group(handle_, &ci, CS_GRP_JUMP) || cs_insn_group(handle_, &ci, CS_GRP_CALL) ||
               cs_insn_group(handle_, &ci, CS_GRP_RET) || cs_insn_group(handle_, &ci, CS_GRP_IRET) ||
               ci.id == X86_INS_XBEGIN;

  // Every GPR touched (explicit and implicit), for picking scratch registers.
  cs_regs rr, rw;
  uint8_t nr = 0, nw = 0;
  if (cs_regs_access(handle_, &ci, rr, &nr, rw, &nw) == CS_ERR_OK) {
    for (unsigned k = 0; k < nr; ++k)
      if (int g = gpr_of(rr[k]); g >= 0) d.gprs |= uint16_t(1u << g);
    for (unsigned k = 0; k < nw; ++k)
      if (int g = gpr_of(rw[k]); g >= 0) d.gprs |= uint16_t(1u << g);
  }
  if (d.has_mem) {
    if (d.mem.base >= 0) d.gprs |= uint16_t(1u << d.mem.base);
    if (d.mem.index >= 0) d.gprs |= uint16_t(1u << d.mem.index);
  }
  if (d.has_modrm) d.gprs |= uint16_t(1u << d.reg);
  if (d.has_modrm && d.mod == 3) d.gprs |= uint16_t(1u << d.rm);
  return true;
}

}  // namespace vtb::bt
