// tags: engines|bt|tests — desc: inline sensitive instructions (pushf/popf, rdtsc, cpuid, swapgs): the same architectural result as the callouts, which of them stayed inline, and the counts.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/counters.h"
#include "common/interrupt_source.h"
#include "engines/bt/tests/machine_suite.h"
#include "engines/bt/tests/snippet.h"

namespace vtb::bt::test {
namespace {

class Inline : public MachineSuite<Inline> {
 protected:
  void TearDown() override { m_->rt->set_inline_sensitive(true); }
  struct Run {
    Exit e;
    Regs r;
    uint64_t inl = 0, priv = 0;  // bt.inline.<insn> and priv.<insn> added by the run
  };
  // Runs `code` from `start` with the sequences inline or as callouts.
  Run run(const std::vector<uint8_t>& code, const Regs& start, bool inline_on, const std::string& insn) {
    m_->rt->set_inline_sensitive(inline_on);
    Run x;
    x.r = start;
    const uint64_t i0 = counter("bt.inline." + insn), p0 = counter("priv." + insn);
    x.e = m_->run_bt(code, &x.r);
    x.inl = counter("bt.inline." + insn) - i0;
    x.priv = counter("priv." + insn) - p0;
    return x;
  }
  static void expect_same(const Regs& a, const Regs& b, const char* what) {
    const uint64_t ga[] = {a.rax, a.rcx, a.rdx, a.rbx, a.rsp, a.rbp, a.rsi, a.rdi, a.r8, a.r9, a.r10, a.r11};
    const uint64_t gb[] = {b.rax, b.rcx, b.rdx, b.rbx, b.rsp, b.rbp, b.rsi, b.rdi, b.r8, b.r9, b.r10, b.r11};
    for (int i = 0; i < 12; ++i) EXPECT_EQ(ga[i], gb[i]) << what << ": gpr " << i;
    EXPECT_EQ(a.rflags, b.rflags) << what;
    EXPECT_EQ(a.gs.base, b.gs.base) << what;
    EXPECT_EQ(a.kernel_gs_base, b.kernel_gs_base) << what;
  }
};

bool done(const Exit& e) { return e.kind == ExitKind::PortIo && e.port == 0xf4; }

// mov $imm64,%rax; push %rax; popf; pushf; pop %rbx
std::vector<uint8_t> popf_pushf(uint64_t image) {
  std::vector<uint8_t> c = {0x48, 0xb8};
  for (int i = 0; i < 8; ++i) c.push_back(uint8_t(image >> (8 * i)));
  for (uint8_t b : {0x50, 0x9d, 0x9c, 0x5b}) c.push_back(b);
  return c;
}

Regs user_regs(uint64_t rflags) {
  Regs u = initial_regs();
  u.cs.selector = 0x33;
  u.ss.selector = 0x2b;
  u.rflags = rflags;
  return u;
}

TEST_F(Inline, PushfImageMatchesTheCallout) {
  // Arithmetic flags and DF live on the host, IF/IOPL/AC/NT virtual.
  for (uint64_t fl : {0x2ULL, 0x202ULL, 0x2ULL | 0x8d5, 0x602ULL | 0x8d5, 0x3202ULL | 0x40000 | 0x4000, 0x200202ULL}) {
    Regs r = initial_regs();
    r.rflags = fl;
    const std::vector<uint8_t> code = {0x9c, 0x58, 0xfc};  // pushf; pop %rax; cld
    const Run on = run(code, r, true, "pushf"), off = run(code, r, false, "pushf");
    ASSERT_TRUE(done(on.e) && done(off.e)) << on.e.message << off.e.message;
    EXPECT_EQ(on.r.rax, fl) << std::hex << "flags " << fl;
    expect_same(on.r, off.r, "pushf");
    EXPECT_EQ(on.inl, 1u);
    EXPECT_EQ(on.priv, 1u);
    EXPECT_EQ(off.inl, 0u);
    EXPECT_EQ(off.priv, 1u);
  }
  // CPL 3 sees the same image (pushf is not privileged; IOPL 3 lets the
  // snippet's terminating `out` run).
  const Run u = run({0x9c, 0x58}, user_regs(0x3202 | 0x8c1), true, "pushf");
  ASSERT_TRUE(done(u.e)) << u.e.message;
  EXPECT_EQ(u.r.rax, 0x3202u | 0x8c1);
  EXPECT_EQ(u.inl, 1u);
}

TEST_F(Inline, PopfMatchesTheCalloutAndLeavesWhatItCannotDo) {
  struct Case {
    uint64_t start, image;
    bool inl;  // expected to stay inline
  };
  const Case cases[] = {
      {0x202, 0x2, true},                       // clears IF and every arithmetic flag
      {0x202, 0x202 | 0x8d5, true},             // sets them all (IF stays)
      {0x2, 0x602 | 0x8c1, true},               // enables IF (nothing pending), sets DF
      {0x202 | 0x8d5, 0x202 | 0x400, true},     // DF only
      {0x202, 0x3202, false},                   // IOPL change: the callout
      {0x202, 0x40202, false},                  // AC change: the callout
      {0x40202, 0x40202 | 0x1, true},           // AC already set and kept
      {0x202, 0x200202, false},                 // ID change
  };
  for (const Case& k : cases) {
    Regs r = initial_regs();
    r.rflags = k.start;
    const std::vector<uint8_t> code = popf_pushf(k.image);
    const Run on = run(code, r, true, "popf"), off = run(code, r, false, "popf");
    ASSERT_TRUE(done(on.e) && done(off.e)) << on.e.message << off.e.message;
    expect_same(on.r, off.r, "popf");
    EXPECT_EQ(on.r.rbx, k.image | 2) << std::hex << "image " << k.image;
    EXPECT_EQ(on.inl, k.inl ? 1u : 0u) << std::hex << "image " << k.image;
    EXPECT_EQ(on.priv, 1u);
    EXPECT_EQ(off.inl, 0u);
  }
  // CPL 3, IOPL 0: IF is kept whatever the image says, inline (the snippet's
  // terminating `out` is then a #GP at the end stub).
  const Run u = run(popf_pushf(0x8c1 | 2), user_regs(0x202), true, "popf");
  ASSERT_EQ(u.e.kind, ExitKind::GuestFault) << u.e.message;
  EXPECT_EQ(u.e.vector, 13);
  EXPECT_EQ(u.r.rip, kEndStub);
  EXPECT_EQ(u.r.rbx, 0x202u | 0x8c1);
  EXPECT_EQ(u.inl, 1u);
  // CPL 3, IOPL 3: the image's IF counts; the callout decides.
  const Run u3 = run(popf_pushf(0x3002), user_regs(0x3202), true, "popf");
  ASSERT_TRUE(done(u3.e)) << u3.e.message;
  EXPECT_EQ(u3.r.rbx, 0x3002u);
  EXPECT_EQ(u3.inl, 0u);
  EXPECT_EQ(u3.priv, 1u);
}

// One interrupt line that stays raised until acknowledged.
struct OneInterrupt : InterruptSource {
  bool raised = true;
  int acks = 0;
  void update(uint64_t) override {}
  bool pending() const override { return raised; }
  int acknowledge() override {
    ++acks;
    raised = false;
    return 0x20;
  }
  uint64_t next_event_ns() const override { return 0; }
};

// A kernel popf that enables IF while an interrupt may be deliverable must
// leave translated code so that the dispatcher delivers it right after the
// popf; with nothing pending it stays inline. (The snippet machine has no
// IDT: the interrupt is acknowledged and dropped.)
TEST_F(Inline, PopfEnablingIfWithAnInterruptPendingTakesTheCallout) {
  const std::vector<uint8_t> code = {0x68, 0x02, 0x02, 0x00, 0x00, 0x9d, 0x48, 0x83, 0xc2, 0x01};  // push $0x202; popf; add $1,%rdx
  OneInterrupt irq;
  m_->rt->set_interrupt_source(&irq);
  Regs r = initial_regs();  // IF = 0
  const Run pend = run(code, r, true, "popf");
  m_->rt->set_interrupt_source(nullptr);
  ASSERT_TRUE(done(pend.e)) << pend.e.message;
  EXPECT_EQ(pend.inl, 0u);
  EXPECT_EQ(pend.priv, 1u);
  EXPECT_EQ(irq.acks, 1);
  EXPECT_EQ(pend.r.rflags & 0x200, 0x200u);
  // Nothing pending (the dispatcher has read the timers: IF was 1 at entry;
  // cli first, so that popf enables IF again).
  OneInterrupt quiet;
  quiet.raised = false;
  m_->rt->set_interrupt_source(&quiet);
  std::vector<uint8_t> cli_code = {0xfa};
  cli_code.insert(cli_code.end(), code.begin(), code.end());
  Regs q = initial_regs();
  q.rflags = 0x202;
  const Run calm = run(cli_code, q, true, "popf");
  m_->rt->set_interrupt_source(nullptr);
  ASSERT_TRUE(done(calm.e)) << calm.e.message;
  EXPECT_EQ(calm.inl, 1u);
  EXPECT_EQ(calm.r.rflags & 0x200, 0x200u);
  EXPECT_EQ(quiet.acks, 0);
}

TEST_F(Inline, RdtscAddsTheGuestOffset) {
  // wrmsr TSC = 1 << 40, then rdtsc: edx:eax just above it (the offset applies inline too).
  Regs r = initial_regs();
  r.rcx = 0x10;
  r.rdx = 1ULL << 8;
  r.rax = 0;
  const std::vector<uint8_t> code = {0x0f, 0x30, 0x0f, 0x31};  // wrmsr; rdtsc
  for (bool on : {true, false}) {
    const Run x = run(code, r, on, "rdtsc");
    ASSERT_TRUE(done(x.e)) << x.e.message;
    const uint64_t t = (x.r.rdx << 32) | x.r.rax;
    EXPECT_LE(x.r.rax, 0xffffffffu);
    EXPECT_GE(t, 1ULL << 40);
    EXPECT_LT(t, (1ULL << 40) + (100ULL << 30)) << "within ~30 s of the write at any TSC rate";
    EXPECT_EQ(x.inl, on ? 1u : 0u);
    EXPECT_EQ(x.priv, 1u);
  }
}

TEST_F(Inline, UserRdtscUnderCr4TsdIsAGp) {
  Regs u = user_regs(0x3202);
  u.cr4 |= 4;  // TSD
  const Run x = run({0x0f, 0x31}, u, true, "rdtsc");
  ASSERT_EQ(x.e.kind, ExitKind::GuestFault) << x.e.message;
  EXPECT_EQ(x.e.vector, 13);
  EXPECT_EQ(x.inl, 0u);
  u.cr4 &= ~4ULL;
  const Run y = run({0x0f, 0x31}, u, true, "rdtsc");
  ASSERT_TRUE(done(y.e)) << y.e.message;
  EXPECT_EQ(y.inl, 1u);
}

TEST_F(Inline, CpuidRepeatsTheCalloutsAnswer) {
  // leaf 1, leaf 1 again (inline), leaf 0 (callout), leaf 0 again (inline); results kept in r8..r11.
  const std::vector<uint8_t> code = {
      0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, 0x41, 0x89, 0xc0, 0x41, 0x89, 0xc9,  // eax=1 ecx=0 cpuid; r8d=eax r9d=ecx
      0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, 0x41, 0x89, 0xc2, 0x41, 0x89, 0xcb,  // again: r10d r11d
      0xb8, 0x00, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, 0x89, 0xde,                        // leaf 0: esi=ebx
      0xb8, 0x00, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2};                                    // again: ebx
  Regs r = initial_regs();
  const Run on = run(code, r, true, "cpuid"), off = run(code, r, false, "cpuid");
  ASSERT_TRUE(done(on.e) && done(off.e)) << on.e.message << off.e.message;
  expect_same(on.r, off.r, "cpuid");
  EXPECT_EQ(on.r.r8, on.r.r10);
  EXPECT_EQ(on.r.r9, on.r.r11);
  EXPECT_NE(on.r.r9 & (1u << 31), 0u) << "hypervisor bit, inline too";
  EXPECT_EQ(on.r.rsi, on.r.rbx);
  EXPECT_EQ(on.priv, 4u);
  EXPECT_EQ(on.inl, 2u) << "the repeats of the last leaf";
  EXPECT_EQ(off.inl, 0u);
}

TEST_F(Inline, KernelSwapgsSwapsTheBases) {
  Regs r = initial_regs();
  r.gs.base = kData;
  r.kernel_gs_base = kData + 0x100;
  memcpy(m_->data() + 0x100, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
  const std::vector<uint8_t> code = {0x0f, 0x01, 0xf8, 0x65, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0};  // swapgs; mov %gs:0,%rax
  const Run on = run(code, r, true, "swapgs"), off = run(code, r, false, "swapgs");
  ASSERT_TRUE(done(on.e) && done(off.e)) << on.e.message << off.e.message;
  expect_same(on.r, off.r, "swapgs");
  EXPECT_EQ(on.r.gs.base, kData + 0x100);
  EXPECT_EQ(on.r.kernel_gs_base, kData);
  EXPECT_EQ(on.r.rax, 0x8877665544332211u);
  EXPECT_EQ(on.inl, 1u);
  EXPECT_EQ(on.priv, 1u);
  // CPL 3: #UD, never inline.
  const Run u = run({0x0f, 0x01, 0xf8}, user_regs(0x202), true, "swapgs");
  ASSERT_EQ(u.e.kind, ExitKind::GuestFault) << u.e.message;
  EXPECT_EQ(u.e.vector, 6);
  EXPECT_EQ(u.inl, 0u);
}

// User syscall into a kernel handler that ends in sysretq, inline and as
// callouts: the same registers, flags, selectors; inline neither leaves.
TEST_F(Inline, SyscallSysretRoundTripMatchesTheCallouts) {
  struct Case {
    std::vector<uint8_t> handler;
    uint64_t sfmask;
    bool sysret_inline;
    uint64_t r11_or;  // what the handler adds to the user's flags
    const char* what;
  };
  const Case cases[] = {
      // mov $7,%eax; sysretq
      {{0xb8, 0x07, 0x00, 0x00, 0x00, 0x48, 0x0f, 0x07}, 0x200, true, 0, "plain"},
      // stc; mov $7,%eax; or $0x800,%r11 (OF in the user's flags); sysretq
      {{0xf9, 0xb8, 0x07, 0x00, 0x00, 0x00, 0x49, 0x81, 0xcb, 0x00, 0x08, 0x00, 0x00, 0x48, 0x0f, 0x07}, 0x600, true,
       0x800, "flags from r11"},
      // mov $7,%eax; or $0x40000,%r11 (AC: a virtual flag the C++ side keeps): the callout
      {{0xb8, 0x07, 0x00, 0x00, 0x00, 0x49, 0x81, 0xcb, 0x00, 0x00, 0x04, 0x00, 0x48, 0x0f, 0x07}, 0x200, false,
       0x40000, "AC via r11"},
  };
  for (const Case& k : cases) {
    Regs r = initial_regs();
    r.cs.selector = 0x33;
    r.ss.selector = 0x2b;
    r.rflags = 0x3202 | 0x85;  // IOPL 3 (the terminator's out), CF PF SF
    memcpy(reinterpret_cast<void*>(kCode + 0x800), k.handler.data(), k.handler.size());
    m_->rt->invalidate_range(kCode + 0x800, k.handler.size());
    m_->rt->cpu().star = (0x10ULL << 48) | (0x08ULL << 32);
    m_->rt->cpu().lstar = kCode + 0x800;
    m_->rt->cpu().sfmask = k.sfmask;
    const std::vector<uint8_t> code = {0x0f, 0x05, 0x48, 0x89, 0xc3, 0x9c, 0x5e};  // syscall; mov %rax,%rbx; pushf; pop %rsi
    const uint64_t sysret0 = counter("bt.inline.sysret");
    const Run on = run(code, r, true, "syscall");
    const uint64_t sysret_inl = counter("bt.inline.sysret") - sysret0;
    const Run off = run(code, r, false, "syscall");
    ASSERT_TRUE(done(on.e) && done(off.e)) << k.what << on.e.message << off.e.message;
    expect_same(on.r, off.r, k.what);
    EXPECT_EQ(on.r.cs.selector, off.r.cs.selector) << k.what;
    EXPECT_EQ(on.r.ss.selector, off.r.ss.selector) << k.what;
    EXPECT_EQ(on.r.cs.selector, 0x23) << k.what;
    EXPECT_EQ(on.r.rbx, 7u) << k.what;
    EXPECT_EQ(on.r.rcx, kCode + 2) << k.what;
    EXPECT_EQ(on.r.r11, 0x3202u | 0x85 | k.r11_or) << k.what << ": r11 is the user's rflags";
    EXPECT_EQ(on.r.rsi, 0x3202u | 0x85 | k.r11_or) << k.what << ": sysret loads them";
    EXPECT_EQ(on.inl, 1u) << k.what;
    EXPECT_EQ(on.priv, 1u) << k.what;
    EXPECT_EQ(sysret_inl, k.sysret_inline ? 1u : 0u) << k.what;
    EXPECT_EQ(off.inl, 0u) << k.what;
  }
}

TEST_F(Inline, SysretToANonCanonicalRipIsTheCalloutsGp) {
  Regs r = initial_regs();
  r.rcx = 0x0000800000000000ULL;  // non-canonical
  r.r11 = 0x202;
  r.rflags = 0x2 | 0x41;  // ZF CF: what the #GP must see
  const Run on = run({0x48, 0x0f, 0x07}, r, true, "sysret"), off = run({0x48, 0x0f, 0x07}, r, false, "sysret");
  ASSERT_EQ(on.e.kind, ExitKind::GuestFault) << on.e.message;
  ASSERT_EQ(off.e.kind, ExitKind::GuestFault) << off.e.message;
  EXPECT_EQ(on.e.vector, 13);
  EXPECT_EQ(on.e.rip, kCode);
  expect_same(on.r, off.r, "non-canonical sysret");
  EXPECT_EQ(on.r.rflags & 0xcd5, 0x41u);
  EXPECT_EQ(on.inl, 0u);
  EXPECT_EQ(on.r.cs.selector & 3, 0) << "still CPL 0";
}

}  // namespace
}  // namespace vtb::bt::test
