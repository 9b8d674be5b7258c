// tags: engines|kvm — desc: LAR/LSL/VERR/VERW finished in user space (kvm_pvm cannot emulate them at CPL0).
#include "engines/kvm/kvm_emulate.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/page_walk.h"

namespace vtb::kvm {

namespace {

// Guest-virtual memory, page by page (supervisor access; A/D bits set only
// by a write, as the CPU would): `copy(gpa, offset, bytes)` per piece.
template <class Copy>
bool each_page(GuestMemory& mem, uint64_t cr3, uint64_t va, size_t len, bool write, Copy copy) {
  WalkRequest req;
  req.write = write;
  req.set_ad = write;
  for (size_t done = 0; done < len;) {
    const WalkResult w = walk_page_tables(mem, cr3, va + done, req);
    if (w.status != WalkStatus::Ok) return false;
    const size_t in_page = std::min<size_t>(len - done, 0x1000 - ((va + done) & 0xfff));
    if (!copy(w.gpa, done, in_page)) return false;
    done += in_page;
  }
  return true;
}

bool read_virt(GuestMemory& mem, uint64_t cr3, uint64_t va, void* out, size_t len) {
  auto* o = static_cast<uint8_t*>(out);
  return each_page(mem, cr3, va, len, false,
                   [&](uint64_t gpa, size_t off, size_t n) { return mem.read(gpa, o + off, n); });
}

bool write_virt(GuestMemory& mem, uint64_t cr3, uint64_t va, const void* in, size_t len) {
  auto* p = static_cast<const uint8_t*>(in);
  return each_page(mem, cr3, va, len, true,
                   [&](uint64_t gpa, size_t off, size_t n) { return mem.write(gpa, p + off, n); });
}

// `int n` at CPL0 in 64-bit mode through a present 64-bit interrupt or trap
// gate whose target is the current code segment (no privilege or CS change):
// the SDM's delivery (IST or current stack, aligned to 16; SS, RSP, RFLAGS,
// CS, RIP pushed; TF/NT/RF cleared, IF too for an interrupt gate).
bool software_interrupt(GuestMemory& mem, const kvm_sregs& s, kvm_regs* r, unsigned vec, unsigned len) {
  if ((s.cs.dpl & 3) != 0 || uint64_t(vec) * 16 + 15 > s.idt.limit) return false;
  uint32_t g[4];
  if (!read_virt(mem, s.cr3, s.idt.base + uint64_t(vec) * 16, g, sizeof g)) return false;
  const unsigned type = (g[1] >> 8) & 0xf, present = (g[1] >> 15) & 1, ist = g[1] & 7;
  const uint16_t sel = static_cast<uint16_t>(g[0] >> 16);
  if (!present || (type != 0xe && type != 0xf) || (sel & ~3u) != (s.cs.selector & ~3u)) return false;
  const uint64_t target = (g[0] & 0xffff) | (g[1] & 0xffff0000u) | (uint64_t(g[2]) << 32);
  uint64_t rsp = r->rsp;
  if (ist && !read_virt(mem, s.cr3, s.tr.base + 0x24 + (ist - 1) * 8, &rsp, 8)) return false;
  rsp &= ~0xfULL;
  const uint64_t frame[5] = {r->rip + len, s.cs.selector, r->rflags, r->rsp, s.ss.selector};
  rsp -= sizeof frame;
  if (!write_virt(mem, s.cr3, rsp, frame, sizeof frame)) return false;
  r->rsp = rsp;
  r->rip = target;
  r->rflags &= ~((1ULL << 8) | (1ULL << 14) | (1ULL << 16) | (type == 0xe ? (1ULL << 9) : 0));
  return true;
}

// kvm_regs in the instruction encoding's register order.
__u64* gpr(kvm_regs* r, unsigned n) {
  __u64* const map[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
                             &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15};
  return map[n & 15];
}

enum class Op { Lar, Lsl, Verr, Verw };

struct Descriptor {
  bool found = false;
  uint32_t lo = 0, hi = 0;
  unsigned type = 0, dpl = 0;
  bool s = false;
};

Descriptor fetch_descriptor(GuestMemory& mem, const kvm_sregs& s, uint16_t sel) {
  Descriptor d;
  const bool ldt = sel & 4;
  if (!ldt && (sel & ~3u) == 0) return d;  // null selector
  uint64_t base = s.gdt.base, limit = s.gdt.limit;
  if (ldt) {
    if (s.ldt.unusable || !s.ldt.present) return d;
    base = s.ldt.base, limit = s.ldt.limit;
  }
  const uint64_t off = sel & ~7u;
  if (off + 7 > limit) return d;
  uint32_t w[2];
  if (!read_virt(mem, s.cr3, base + off, w, sizeof w)) return d;
  d.lo = w[0], d.hi = w[1];
  d.type = (d.hi >> 8) & 0xf;
  d.s = (d.hi >> 12) & 1;
  d.dpl = (d.hi >> 13) & 3;
  // A long-mode system descriptor is 16 bytes: its second half must be in the table too.
  d.found = d.s || off + 15 <= limit;
  return d;
}

bool valid_for(Op op, const Descriptor& d, unsigned cpl, unsigned rpl) {
  if (!d.found) return false;
  const bool code = d.s && (d.type & 8);
  const bool conforming = code && (d.type & 4);
  const bool priv_ok = conforming || (d.dpl >= cpl && d.dpl >= rpl);
  switch (op) {
    case Op::Lar:  // code/data, or LDT, 64-bit TSS (available/busy), 64-bit call gate
      return priv_ok && (d.s || d.type == 2 || d.type == 9 || d.type == 0xb || d.type == 0xc);
    case Op::Lsl:
      return priv_ok && (d.s || d.type == 2 || d.type == 9 || d.type == 0xb);
    case Op::Verr:  // data segments are readable; code only with R
      return priv_ok && d.s && (!code || (d.type & 2));
    case Op::Verw:  // writable data only
      return priv_ok && d.s && !code && (d.type & 2);
  }
  return false;
}

}  // namespace

std::string emulate_descriptor_insn(GuestMemory& mem, const kvm_sregs& s, kvm_regs* r) {
  if (!(s.efer & 0x400) || !s.cs.l) return {};  // 64-bit mode only (all that tbk runs in)
  uint8_t b[15] = {};
  size_t have = 0;
  for (; have < sizeof b; ++have)
    if (!read_virt(mem, s.cr3, r->rip + have, &b[have], 1)) break;
  size_t i = 0;
  bool opsize16 = false;
  unsigned rex = 0;
  for (; i < have; ++i) {
    const uint8_t p = b[i];
    if ((p & 0xf0) == 0x40) {
      rex = p;
      continue;
    }
    const bool legacy = p == 0x66 || p == 0x67 || p == 0xf2 || p == 0xf3 || p == 0x2e || p == 0x36 || p == 0x3e ||
                        p == 0x26 || p == 0x64 || p == 0x65;
    if (!legacy) break;
    rex = 0;  // a REX prefix counts only right before the opcode
    if (p == 0x66) opsize16 = true;
  }
  if (rex & 8) opsize16 = false;  // REX.W wins over 0x66
  if (i + 2 <= have && b[i] == 0xcd && rex == 0 && !opsize16)
    return software_interrupt(mem, s, r, b[i + 1], unsigned(i + 2)) ? "int" : "";
  if (i + 3 > have || b[i] != 0x0f) return {};
  const uint8_t opc = b[i + 1], modrm = b[i + 2];
  if ((modrm >> 6) != 3) return {};  // memory operands: not needed by tbk, left to the caller's error
  const unsigned reg = ((modrm >> 3) & 7) | ((rex & 4) << 1), rm = (modrm & 7) | ((rex & 1) << 3);
  Op op;
  if (opc == 0x02) op = Op::Lar;
  else if (opc == 0x03) op = Op::Lsl;
  else if (opc == 0x00 && ((modrm >> 3) & 7) == 4) op = Op::Verr;
  else if (opc == 0x00 && ((modrm >> 3) & 7) == 5) op = Op::Verw;
  else return {};
  const uint16_t sel = static_cast<uint16_t>(*gpr(r, rm));
  const unsigned cpl = s.cs.dpl & 3;
  const Descriptor d = fetch_descriptor(mem, s, sel);
  const bool ok = valid_for(op, d, cpl, sel & 3);
  if (ok && (op == Op::Lar || op == Op::Lsl)) {
    uint64_t v;
    if (op == Op::Lar) {
      v = d.hi & (opsize16 ? 0xff00u : 0x00ffff00u);
    } else {
      v = (d.lo & 0xffff) | (d.hi & 0xf0000);
      if (d.hi & (1u << 23)) v = (v << 12) | 0xfff;
      v &= 0xffffffffu;
    }
    __u64* dst = gpr(r, reg);
    *dst = opsize16 ? ((*dst & ~0xffffULL) | (v & 0xffff)) : v;  // 32- and 64-bit forms zero-extend
  }
  if (ok) r->rflags |= 0x40;
  else r->rflags &= ~0x40ULL;
  r->rip += i + 3;
  static const char* const names[] = {"lar", "lsl", "verr", "verw"};
  return names[static_cast<int>(op)];
}

}  // namespace vtb::kvm
