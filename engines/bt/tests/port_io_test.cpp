// tags: engines|bt|tests — desc: kernel in/out served through a PortIoHandler inside run(): the light callout and the dispatcher path give the callout's registers, keep flags and xmm, count every access.
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>
#include <vector>

#include "common/port_io.h"
#include "engines/bt/tests/machine_suite.h"
#include "engines/bt/tests/snippet.h"

namespace vtb::bt::test {
namespace {

// Serves every port but the snippets' terminating one (0xf4); reads answer
// 0x89abcdef (its low bytes); the PIC's port 0x20 reports ServedIrq.
class FakePorts : public PortIoHandler {
 public:
  using Access = std::tuple<uint16_t, bool, uint8_t, uint32_t>;  // port, write, size, value
  std::vector<Access> log;
  PortIoResult handle(uint16_t port, bool write, uint8_t size, uint32_t count, uint8_t* data) override {
    if (port == 0xf4) return PortIoResult::Exit;
    // What any C++ handler may do to caller-saved state: the guest must not see it.
    __asm__ volatile("xor %%r8d,%%r8d; xor %%r9d,%%r9d; xor %%r10d,%%r10d; xor %%r11d,%%r11d;"
                     "pxor %%xmm0,%%xmm0; pxor %%xmm15,%%xmm15" ::: "r8", "r9", "r10", "r11", "xmm0", "xmm15", "cc");
    EXPECT_EQ(count, 1u);
    uint32_t v = 0x89abcdef;
    if (write) {
      v = 0;
      std::memcpy(&v, data, size);
    } else {
      std::memcpy(data, &v, size);
      if (size < 4) v &= (1u << (8 * size)) - 1;
    }
    log.emplace_back(port, write, size, v);
    return port == 0x20 ? PortIoResult::ServedIrq : PortIoResult::Served;
  }
};

class BtPortIo : public MachineSuite<BtPortIo> {
 protected:
  void TearDown() override {
    m_->rt->set_port_io(nullptr);
    m_->rt->set_inline_sensitive(true);
  }
};

void imm64(std::vector<uint8_t>& c, uint64_t v) {
  for (int i = 0; i < 8; ++i) c.push_back(uint8_t(v >> (8 * i)));
}

TEST_F(BtPortIo, ServedInRunWithTheCalloutsResults) {
  std::vector<uint8_t> c = {0x48, 0xb8};  // mov $0x5555aaaa5555aaaa,%rax; movq %rax,%xmm0
  imm64(c, 0x5555aaaa5555aaaaULL);
  for (uint8_t b : {0x66, 0x48, 0x0f, 0x6e, 0xc0, 0x48, 0xb8}) c.push_back(b);  // ...; mov $imm64,%rax
  imm64(c, 0x1111111111111111ULL);
  for (uint8_t b : {0xba, 0x80, 0x00, 0x00, 0x00,  // mov $0x80,%edx
                    0xe4, 0x80,                    // in $0x80,%al
                    0xef,                          // out %eax,(%dx)
                    0x66, 0xed,                    // in (%dx),%ax
                    0x48, 0x89, 0xc3,              // mov %rax,%rbx
                    0xe5, 0x80,                    // in $0x80,%eax
                    0x48, 0x89, 0xc6,              // mov %rax,%rsi
                    0xe6, 0x20,                    // out %al,$0x20 (ServedIrq)
                    0x66, 0x48, 0x0f, 0x7e, 0xc7})  // movq %xmm0,%rdi
    c.push_back(b);
  for (bool light : {true, false}) {  // light callout, or (no inline sequences) the dispatcher's path
    FakePorts ports;
    m_->rt->set_port_io(&ports);
    m_->rt->set_inline_sensitive(light);
    Counters before;
    m_->rt->stats(before);
    Regs r = initial_regs();
    r.rflags = 0x202 | 0x8d5;  // every arithmetic flag and DF set: in/out/mov keep them
    r.r8 = 8, r.r9 = 9, r.r10 = 10, r.r11 = 11;
    const Exit e = m_->run_bt(c, &r);
    Counters after;
    m_->rt->stats(after);
    const Counters d = after.minus(before);
    ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
    EXPECT_EQ(e.port, 0xf4) << "light " << light;
    EXPECT_EQ(r.rbx, 0x111111111111cdefULL) << std::hex << r.rbx;  // al then ax merged
    EXPECT_EQ(r.rsi, 0x89abcdefULL) << std::hex << r.rsi;           // eax zero-extends
    EXPECT_EQ(r.rdi, 0x5555aaaa5555aaaaULL) << "xmm0 kept";
    EXPECT_EQ(r.rdx, 0x80u);
    EXPECT_EQ(r.r8 + r.r9 + r.r10 + r.r11, 8u + 9u + 10u + 11u);
    EXPECT_EQ(r.rflags & 0xcd5, 0x8d5u & 0xcd5);
    using A = FakePorts::Access;
    const std::vector<A> want = {A{0x80, false, 1, 0xef}, A{0x80, true, 4, 0x111111ef}, A{0x80, false, 2, 0xcdef},
                                 A{0x80, false, 4, 0x89abcdef}, A{0x20, true, 1, 0xef}};
    EXPECT_EQ(ports.log, want);
    EXPECT_EQ(d.get("bt.port_io_in_run"), 5u);
    EXPECT_EQ(d.get("bt.port_io_light"), light ? 4u : 0u);  // the ServedIrq one resumes through the dispatcher
    EXPECT_EQ(d.get("priv.in"), 3u);
    EXPECT_EQ(d.get("priv.out"), 3u);  // the terminating out included
  }
}

// Without a handler every in/out is an exit again (the Vm's VTB_IO_IN_RUN=0).
TEST_F(BtPortIo, WithoutAHandlerEveryAccessExits) {
  Regs r = initial_regs();
  const Exit e = m_->run_bt({0xe4, 0x80}, &r);  // in $0x80,%al
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(e.port, 0x80);
  EXPECT_FALSE(e.is_write);
}

}  // namespace
}  // namespace vtb::bt::test
