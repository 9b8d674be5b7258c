// tags: engines|bt|tests — desc: snippet table (snippet_rows.inc) under bt, checked against expectations and native execution.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/counters.h"
#include "engines/bt/tests/snippet.h"

namespace vtb::bt::test {
namespace {

struct KV { const char* name; int slot; uint64_t v; };
struct Row {
  const char* file;
  int line;
  const char* name;
  const char* src;
  std::vector<uint8_t> code;
  std::vector<KV> in, out;
  uint64_t flag_mask, flag_val;
};

const Row kRows[] = {
#include "engines/bt/tests/snippet_rows.inc"
};

uint64_t* reg_slot(Regs& r, int i) {
  uint64_t* g[16] = {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
                     &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  return g[i];
}

void apply_inputs(Machine& m, const Row& row, Regs* r) {
  memset(m.data(), 0, 0x10000);
  for (const KV& kv : row.in) {
    if (kv.slot < 16) *reg_slot(*r, kv.slot) = kv.v;
    else if (kv.slot == 98) r->fs.base = kv.v;
    else if (kv.slot == 99) r->gs.base = kv.v;
    else memcpy(m.data() + (kv.slot - 100), &kv.v, 8);
  }
}

bool uses_segment_base(const Row& row) {
  for (const KV& kv : row.in)
    if (kv.slot == 98 || kv.slot == 99) return true;
  return false;
}

// Both memory modes of the translator: shadow paging (the mirror, address
// checks) and the software MMU (every access through the inline TLB). One
// machine per test: a process holds one bt runtime at a time.
RuntimeOptions mode_options(bool softmmu) {
  RuntimeOptions o;
  o.softmmu = softmmu;
  return o;
}
std::string mode_name(const ::testing::TestParamInfo<bool>& i) { return i.param ? "Softmmu" : "Shadow"; }

class SnippetTable : public ::testing::TestWithParam<bool> {};

TEST_P(SnippetTable, ExpectedStateUnderBt) {
  Machine m(mode_options(GetParam()));
  ASSERT_TRUE(m.ok()) << m.error;
  for (const Row& row : kRows) {
    SCOPED_TRACE(::testing::Message() << row.file << ":" << row.line << ": " << row.name << " [" << row.src << "]");
    Regs r = initial_regs();
    apply_inputs(m, row, &r);
    const Exit e = m.run_bt(row.code, &r);
    ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message << " at rip 0x" << std::hex << e.rip;
    ASSERT_EQ(e.port, 0xf4);
    for (const KV& kv : row.out) {
      uint64_t got;
      if (kv.slot < 16) got = *reg_slot(r, kv.slot);
      else memcpy(&got, m.data() + (kv.slot - 100), 8);
      EXPECT_EQ(got, kv.v) << kv.name;
    }
    EXPECT_EQ(r.rflags & row.flag_mask, row.flag_val) << "flags 0x" << std::hex << r.rflags;
  }
}

// The same rows run natively on the host at the same addresses: registers,
// arithmetic flags and the data page must match exactly.
TEST_P(SnippetTable, MatchesNativeExecution) {
  Machine m(mode_options(GetParam()));
  ASSERT_TRUE(m.ok()) << m.error;
  std::vector<uint8_t> mem_bt(0x10000), mem_native(0x10000);
  for (const Row& row : kRows) {
    if (uses_segment_base(row)) continue;  // the host's %fs/%gs are not the guest's
    SCOPED_TRACE(::testing::Message() << row.file << ":" << row.line << ": " << row.name << " [" << row.src << "]");
    Regs a = initial_regs(), b = initial_regs();
    apply_inputs(m, row, &a);
    const Exit e = m.run_bt(row.code, &a);
    ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
    memcpy(mem_bt.data(), m.data(), mem_bt.size());
    apply_inputs(m, row, &b);
    m.run_native(row.code, &b);
    memcpy(mem_native.data(), m.data(), mem_native.size());
    for (int i = 0; i < 16; ++i) EXPECT_EQ(*reg_slot(a, i), *reg_slot(b, i)) << "gpr " << i;
    EXPECT_EQ(a.rflags & 0xcd5, b.rflags & 0xcd5);
    EXPECT_TRUE(mem_bt == mem_native) << "data page differs";
  }
  if (GetParam()) {  // the accesses went through the TLB: filled once per page, then hits
    Counters c;
    m.rt->stats(c);
    EXPECT_GT(c.get("softmmu.tlb_miss"), 0u);
    EXPECT_EQ(c.get("bt.user_checks") + c.get("bt.kernel_checks"), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Mode, SnippetTable, ::testing::Values(false, true), mode_name);

}  // namespace
}  // namespace vtb::bt::test
