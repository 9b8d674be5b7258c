// tags: engines|bt — desc: Capstone-based x86-64 decoder plus our own ModRM/SIB parse (Capstone 4's disp_size is not trusted).
#pragma once
#include <cstdint>
#include <string>

struct cs_insn;

namespace vtb::bt {

// A memory operand as encoded: [base + index*scale + disp], or rip-relative.
struct MemRef {
  int base = -1;   // GPR number (x86 encoding order) or -1
  int index = -1;  // GPR number or -1
  int scale = 1;
  int64_t disp = 0;
  bool rip = false;
  char seg = 0;    // 'f' or 'g' for an %fs:/%gs: override, else 0
};

struct Insn {
  uint64_t pc = 0;
  uint8_t len = 0;
  uint8_t bytes[16] = {};
  unsigned id = 0;              // Capstone x86_insn
  std::string text;             // "mnemonic op_str" (diagnostics)
  // raw encoding
  uint8_t npfx = 0;             // prefix bytes before the REX/opcode (legacy ones and ignored REX bytes)
  uint8_t rex = 0;              // 0 when absent
  bool vex = false;             // VEX/EVEX/XOP encoded
  uint8_t op_off = 0;           // first opcode byte
  bool has_modrm = false;
  uint8_t modrm_off = 0, modrm_end = 0;  // modrm_end: first byte after modrm/sib/disp
  uint8_t mod = 0, reg = 0, rm = 0;      // reg/rm include REX.R/REX.B
  bool has_mem = false;
  MemRef mem;
  bool opsize = false, addr32 = false, rep = false, repne = false, lock = false;
  char seg = 0;                 // last fs/gs override prefix
  bool transfer = false;        // Capstone's jump/call/ret/iret groups or xbegin: never copied as is
  uint16_t gprs = 0;            // every GPR read or written, explicit or implicit
  bool has_imm = false;
  int64_t imm = 0;              // first immediate operand (branch target for relative branches)
  int op_count = 0;
  int op_reg[4] = {-1, -1, -1, -1};  // GPR number of register operands (or -1)
  unsigned op_capreg[4] = {0, 0, 0, 0};  // Capstone register of register operands
  int op_size[4] = {0, 0, 0, 0};
  bool op_is_mem[4] = {false, false, false, false};
  // Size in bytes of the explicit memory operand as Capstone gives it
  // (bt-softmmu's TLB probe; its access flags are not used: wrong for many stores).
  int mem_size = 0;
  uint8_t opcode0() const { return bytes[op_off]; }
  // The byte after the first opcode byte; 0 for a one-byte instruction.
  uint8_t opcode1() const { return len > op_off + 1 ? bytes[op_off + 1] : 0; }
  // A conditional branch with a relative target (70-7f, 0f 80-8f).
  bool is_jcc() const {
    const uint8_t o0 = opcode0();
    return !vex && ((o0 >= 0x70 && o0 <= 0x7f) || (o0 == 0x0f && (opcode1() & 0xf0) == 0x80));
  }
};

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  bool ok() const { return handle_ != 0; }
  // Decodes one instruction from `code` (avail bytes) at guest `pc`.
  bool decode(const uint8_t* code, size_t avail, uint64_t pc, Insn* out);

 private:
  size_t handle_ = 0;
  cs_insn* scratch_ = nullptr;
};

// GPR number (0..15) of a Capstone register, -1 if it is not a GPR.
int gpr_of(unsigned capstone_reg);
// Operand size in bytes of a Capstone GPR (1, 2, 4, 8), 0 if not a GPR.
int gpr_size(unsigned capstone_reg);
// True for AH, CH, DH, BH.
bool gpr_is_high8(unsigned capstone_reg);

}  // namespace vtb::bt
