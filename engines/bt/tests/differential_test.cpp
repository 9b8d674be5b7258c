// tags: engines|bt|tests — desc: differential test: random user-mode instruction sequences, translated vs run natively.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <random>
#include <vector>

#include "common/counters.h"
#include "engines/bt/tests/snippet.h"

namespace vtb::bt::test {
namespace {

// Registers a sequence may use: all but %rsp and %r15 (the data-page base).
const int kRegs[] = {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}
  int reg() { return kRegs[rng() % (sizeof kRegs / sizeof kRegs[0])]; }
  uint32_t u32() { return uint32_t(rng()); }
  static void rr(std::vector<uint8_t>& o, std::initializer_list<uint8_t> op, int reg, int rm) {
    o.push_back(uint8_t(0x48 | ((reg >> 3) << 2) | (rm >> 3)));
    o.insert(o.end(), op);
    o.push_back(uint8_t(0xc0 | ((reg & 7) << 3) | (rm & 7)));
  }
  // [r15 + disp8]
  static void rm15(std::vector<uint8_t>& o, std::initializer_list<uint8_t> op, int reg, uint8_t disp) {
    o.push_back(uint8_t(0x49 | ((reg >> 3) << 2)));
    o.insert(o.end(), op);
    o.push_back(uint8_t(0x47 | ((reg & 7) << 3)));
    o.push_back(disp);
  }
  std::vector<uint8_t> insn() {
    std::vector<uint8_t> o;
    const uint8_t disp = uint8_t((rng() % 16) * 8);
    switch (rng() % 14) {
      case 0: { static const uint8_t ops[] = {0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85, 0x89, 0x87};
                rr(o, {ops[rng() % 11]}, reg(), reg()); break; }
      case 1: { const int r = reg(); o.push_back(uint8_t(0x48 | (r >> 3))); o.push_back(0x81);
                o.push_back(uint8_t(0xc0 | ((rng() % 8) << 3) | (r & 7)));
                const uint32_t v = u32();
                for (int i = 0; i < 4; ++i) o.push_back(uint8_t(v >> (8 * i)));
                break; }
      case 2: { static const uint8_t ext[] = {0, 1, 4, 5, 7}; const int r = reg();
                o.push_back(uint8_t(0x48 | (r >> 3))); o.push_back(0xc1);
                o.push_back(uint8_t(0xc0 | (ext[rng() % 5] << 3) | (r & 7))); o.push_back(uint8_t(1 + rng() % 63)); break; }
      case 3: { const int r = reg(); const bool f7 = rng() & 1; o.push_back(uint8_t(0x48 | (r >> 3)));
                o.push_back(f7 ? 0xf7 : 0xff); o.push_back(uint8_t(0xc0 | ((f7 ? 2 + rng() % 2 : rng() % 2) << 3) | (r & 7)));
                break; }
      case 4: rr(o, {0x0f, 0xaf}, reg(), reg()); break;
      case 5: rr(o, {0x0f, uint8_t(0x40 | (rng() % 16))}, reg(), reg()); break;
      case 6: { const int r = reg(); o.push_back(uint8_t(0x40 | (r >> 3))); o.push_back(0x0f);
                o.push_back(uint8_t(0x90 | (rng() % 16))); o.push_back(uint8_t(0xc0 | (r & 7))); break; }
      case 7: rm15(o, {0x8b}, reg(), disp); break;   // load
      case 8: rm15(o, {0x89}, reg(), disp); break;   // store
      case 9: rm15(o, {0x01}, reg(), disp); break;   // read-modify-write
      case 10: { const int a = reg(), b = reg(); o.push_back(uint8_t(0x50 + (a & 7))); if (a >= 8) o.insert(o.end() - 1, 0x41);
                 o.push_back(uint8_t(0x58 + (b & 7))); if (b >= 8) o.insert(o.end() - 1, 0x41); break; }  // push a; pop b
      case 11: { const int d = reg(), b = reg(), x = reg();  // lea disp8(b, x, s), d
                 o.push_back(uint8_t(0x48 | ((d >> 3) << 2) | ((x >> 3) << 1) | (b >> 3))); o.push_back(0x8d);
                 o.push_back(uint8_t(0x44 | ((d & 7) << 3))); o.push_back(uint8_t(((rng() % 4) << 6) | ((x & 7) << 3) | (b & 7)));
                 o.push_back(uint8_t(rng())); break; }
      case 12: { const int r = reg(); o.push_back(uint8_t(0x48 | (r >> 3))); o.push_back(0x0f); o.push_back(uint8_t(0xc8 | (r & 7)));
                 break; }
      default: { const int r = reg(); o.push_back(uint8_t(0x48 | (r >> 3))); o.push_back(0x83);  // cmp $imm8, r
                 o.push_back(uint8_t(0xf8 | (r & 7))); o.push_back(uint8_t(rng())); break; }
    }
    return o;
  }
  std::vector<uint8_t> sequence(int n) {
    std::vector<std::vector<uint8_t>> ins;
    for (int i = 0; i < n; ++i) ins.push_back(insn());
    std::vector<uint8_t> code;
    int no_jcc_before = 0;
    for (int i = 0; i < n; ++i) {
      code.insert(code.end(), ins[size_t(i)].begin(), ins[size_t(i)].end());
      if (i + 1 >= no_jcc_before && rng() % 5 == 0 && i + 3 < n) {
        // jcc forward over the next 1..2 instructions (no other jcc inside)
        const int k = 1 + int(rng() % 2);
        size_t skip = 0;
        for (int j = 1; j <= k; ++j) skip += ins[size_t(i + j)].size();
        code.push_back(uint8_t(0x70 | (rng() % 16)));
        code.push_back(uint8_t(skip));
        no_jcc_before = i + k + 1;
      }
    }
    return code;
  }
};

// Kernel mode (CPL 0), and user mode (CPL 3), where every memory access of
// the translation carries a user-address check that must change nothing.
// Both memory modes: shadow paging and the software MMU (bt-softmmu, every
// access through the inline TLB, the stack included).
class BtDifferential : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(BtDifferential, RandomSequencesMatchNative) {
  const bool user = std::get<0>(GetParam()), softmmu = std::get<1>(GetParam());
  RuntimeOptions opt;
  opt.softmmu = softmmu;
  Machine m(opt);
  ASSERT_TRUE(m.ok()) << m.error;
  Gen g(user ? 0x5eed5 : 0x5eed);
  std::vector<uint8_t> mem_bt(0x1000), mem_native(0x1000), init(0x1000);
  for (int seq = 0; seq < 300; ++seq) {
    const std::vector<uint8_t> code = g.sequence(24);
    Regs in = initial_regs();
    uint64_t* g16[16] = {&in.rax, &in.rcx, &in.rdx, &in.rbx, &in.rsp, &in.rbp, &in.rsi, &in.rdi,
                         &in.r8,  &in.r9,  &in.r10, &in.r11, &in.r12, &in.r13, &in.r14, &in.r15};
    for (int r : kRegs) *g16[r] = g.rng();
    in.r15 = kData;
    in.rflags = 0x2 | (g.rng() & 0x8d5);
    if (user) {
      in.cs.selector = 0x33;
      in.ss.selector = 0x2b;
      in.rflags |= 0x3000;  // IOPL 3: the terminator's out
    }
    for (auto& b : init) b = uint8_t(g.rng());
    Regs a = in, b = in;
    memcpy(m.data(), init.data(), init.size());
    const Exit e = m.run_bt(code, &a);
    ASSERT_EQ(e.kind, ExitKind::PortIo) << "sequence " << seq << ": " << e.message << " code " << [&] {
      std::string h;
      char b2[4];
      for (uint8_t c : code) { snprintf(b2, sizeof b2, "%02x ", c); h += b2; }
      return h;
    }();
    memcpy(mem_bt.data(), m.data(), mem_bt.size());
    memcpy(m.data(), init.data(), init.size());
    m.run_native(code, &b);
    memcpy(mem_native.data(), m.data(), mem_native.size());
    uint64_t* ga[16] = {&a.rax, &a.rcx, &a.rdx, &a.rbx, &a.rsp, &a.rbp, &a.rsi, &a.rdi,
                        &a.r8,  &a.r9,  &a.r10, &a.r11, &a.r12, &a.r13, &a.r14, &a.r15};
    uint64_t* gb[16] = {&b.rax, &b.rcx, &b.rdx, &b.rbx, &b.rsp, &b.rbp, &b.rsi, &b.rdi,
                        &b.r8,  &b.r9,  &b.r10, &b.r11, &b.r12, &b.r13, &b.r14, &b.r15};
    auto hex = [&] {
      std::string h;
      char b2[4];
      for (uint8_t c : code) { snprintf(b2, sizeof b2, "%02x ", c); h += b2; }
      return h;
    };
    for (int r = 0; r < 16; ++r) ASSERT_EQ(*ga[r], *gb[r]) << "sequence " << seq << " gpr " << r << " code " << hex();
    ASSERT_EQ(a.rflags & 0xcd5, b.rflags & 0xcd5) << "sequence " << seq;
    ASSERT_TRUE(mem_bt == mem_native) << "sequence " << seq << ": data page differs";
  }
  if (softmmu) {
    Counters c;
    m.rt->stats(c);
    EXPECT_GT(c.get("softmmu.tlb_miss"), 0u);  // the probes were there
    EXPECT_EQ(c.get("bt.user_checks") + c.get("bt.kernel_checks"), 0u);
  } else if (user && __builtin_cpu_supports("bmi2")) {
    Counters c;
    m.rt->stats(c);
    EXPECT_GT(c.get("bt.user_checks"), 300u);  // the checks were there
    EXPECT_EQ(c.get("bt.user_isolation_faults"), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Cpl, BtDifferential, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<bool, bool>>& i) {
                           return std::string(std::get<1>(i.param) ? "Softmmu" : "") +
                                  (std::get<0>(i.param) ? "User" : "Kernel");
                         });

}  // namespace
}  // namespace vtb::bt::test
