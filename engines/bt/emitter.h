// tags: engines|bt — desc: x86-64 byte emitter for translated code (absolute-disp32 slots, rel32 branches, exit sequences).
#pragma once
#include <cstdint>
#include <cstring>

#include "engines/bt/exit_record.h"
#include "engines/bt/layout.h"

namespace vtb::bt {

// Writes into a scratch buffer; `base` is the executable address the first
// byte will have, so rel32 fields can be computed while emitting.
class Emitter {
 public:
  Emitter(uint8_t* buf, size_t cap, uint64_t base) : buf_(buf), cap_(cap), base_(base) {}
  uint64_t pc() const { return base_ + n_; }
  size_t size() const { return n_; }
  bool overflow() const { return over_; }
  uint8_t* at(size_t off) { return buf_ + off; }
  void truncate(size_t n) { if (n < n_) { n_ = n; over_ = n_ > cap_; } }

  void b(uint8_t v) {
    if (n_ < cap_) buf_[n_] = v; else over_ = true;
    ++n_;
  }
  void d32(uint32_t v) { for (int i = 0; i < 4; ++i) b(uint8_t(v >> (8 * i))); }
  void q(uint64_t v) { for (int i = 0; i < 8; ++i) b(uint8_t(v >> (8 * i))); }
  void bytes(const uint8_t* p, size_t k) { for (size_t i = 0; i < k; ++i) b(p[i]); }

  // op %reg, abs32 / abs32, %reg with a 64-bit operand (REX.W).
  void rex_w_abs(uint8_t opcode, int reg, uint32_t abs) {
    b(uint8_t(0x48 | ((reg >> 3) << 2)));
    b(opcode);
    b(uint8_t(((reg & 7) << 3) | 4));
    b(0x25);
    d32(abs);
  }
  void store_abs(int reg, uint64_t abs) { rex_w_abs(0x89, reg, uint32_t(abs)); }  // mov %reg, abs
  void load_abs(int reg, uint64_t abs) { rex_w_abs(0x8b, reg, uint32_t(abs)); }   // mov abs, %reg
  void jmp_abs_ind(uint64_t abs) { b(0xff); b(0x24); b(0x25); d32(uint32_t(abs)); }  // jmp *abs

  // Returns the offset of the rel32 field.
  size_t jmp32(uint64_t target) {
    b(0xe9);
    size_t off = n_;
    d32(uint32_t(int32_t(int64_t(target) - int64_t(pc() + 4))));
    return off;
  }
  size_t jcc32(uint8_t cc, uint64_t target) {
    b(0x0f);
    b(uint8_t(0x80 | cc));
    size_t off = n_;
    d32(uint32_t(int32_t(int64_t(target) - int64_t(pc() + 4))));
    return off;
  }
  void patch_rel32(size_t off, uint64_t target) {
    int32_t rel = int32_t(int64_t(target) - int64_t(base_ + off + 4));
    if (off + 4 <= cap_) memcpy(buf_ + off, &rel, 4);
  }

  // mov %rsp, G_RSP; mov host_sp, %rsp; call *exit_fn; <record>. Returns the record offset.
  size_t exit(const ExitRecord& r) {
    store_abs(RSP, kGlobalBase + BT_OFF_GPR + 8 * RSP);
    load_abs(RSP, kGlobalBase + BT_OFF_HOST_SP);
    b(0xff); b(0x14); b(0x25); d32(uint32_t(kGlobalBase + BT_OFF_EXIT_FN));
    size_t off = n_;
    bytes(reinterpret_cast<const uint8_t*>(&r), sizeof r);
    return off;
  }
  // mov %reg, slot / mov slot, %reg (64-bit) for the save slots of the vCPU
  // block: rip-relative when the slot is within reach of this code, else
  // absolute. On this host (AMD family 25) a store and reload of the same
  // rip-relative slot is memory-renamed (no latency on the register's chain,
  // ~1 cycle a pair measured), an absolute one is not (~6.6 cycles a pair):
  // a save/reload around a probe then puts no store-forwarding link on a
  // register the guest keeps live across a loop. Never inside code that is
  // copied elsewhere (the bounce path's copy of an access).
  void store_slot(int reg, uint64_t abs) { slot(0x89, reg, abs); }
  void load_slot(int reg, uint64_t abs) { slot(0x8b, reg, abs); }
  void slot(uint8_t opcode, int reg, uint64_t abs) {
    const int64_t rel = int64_t(abs) - int64_t(pc() + 7);
    if (rel < INT32_MIN || rel > INT32_MAX) return rex_w_abs(opcode, reg, uint32_t(abs));
    b(uint8_t(0x48 | ((reg >> 3) << 2)));
    b(opcode);
    b(uint8_t(((reg & 7) << 3) | 5));
    d32(uint32_t(int32_t(rel)));
  }
  static constexpr size_t kExitSize = 8 + 8 + 7 + sizeof(ExitRecord);

 private:
  uint8_t* buf_;
  size_t cap_;
  uint64_t base_;
  size_t n_ = 0;
  bool over_ = false;
};

inline bool fits_rel32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }
// movabs $v, %reg
inline void emit_mov_imm64(Emitter& e, int reg, uint64_t v) {
  e.b(uint8_t(0x48 | (reg >= 8 ? 1 : 0)));
  e.b(uint8_t(0xb8 + (reg & 7)));
  e.q(v);
}

}  // namespace vtb::bt
