// tags: engines|bt|tests — desc: bt-softmmu with real guest page tables: guest addresses are not host addresses (the host's own range as guest memory), precise #PF, page-crossing bounce, invlpg/CR3 and A/D, self-modifying code.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/counters.h"
#include "common/guest_memory.h"
#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"
#include "engines/bt/soft_mmu.h"
#include "engines/bt/tests/paged_run.h"
#include "engines/bt/tests/softmmu_fixture.h"

namespace vtb::bt {
namespace {

using SoftmmuTest = SoftmmuFixture;

// The guest's 0x40000000 is its own memory, not the host's vCPU block that
// sits at that host address: stores, the stack, call/ret all land in the
// guest frame, and the host's block (exit_fn, host_sp...) survives.
TEST_F(SoftmmuTest, GuestAddressesAreNotHostAddresses) {
  Regs r;
  // movabs $0x1122334455667788,%rax; mov %rax,0x40000008; mov 0x40000008,%rbx; mov $0x40000800,%rsp;
  // push %rbx; call 1f; jmp 2f; 1: mov (%rsp),%rcx; ret; 2: pop %rdx; out %al,$0xf4
  Exit e = run({0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x00,
                0x40, 0x48, 0x8b, 0x1c, 0x25, 0x08, 0x00, 0x00, 0x40, 0x48, 0xc7, 0xc4, 0x00, 0x08, 0x00, 0x40, 0x53,
                0xe8, 0x02, 0x00, 0x00, 0x00, 0xeb, 0x05, 0x48, 0x8b, 0x0c, 0x24, 0xc3, 0x5a, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(e.port, 0xf4);
  EXPECT_EQ(r.rbx, 0x1122334455667788ULL);
  EXPECT_EQ(r.rcx, 0x400027u) << "the return address pushed by the call, read through the stack";
  EXPECT_EQ(r.rdx, r.rbx);
  EXPECT_EQ(r.rsp, 0x40000800u);
  EXPECT_EQ(get(0x300008), 0x1122334455667788ULL) << "the store went to guest memory";
  EXPECT_EQ(get(0x3007f8), r.rbx) << "the push went to guest memory";
  EXPECT_EQ(get(0x3007f0), 0x400027u) << "the call's return address went to guest memory";
  EXPECT_EQ(counter("mmu.hidden_fault"), 0u);
  EXPECT_EQ(counter("softmmu.tlb_miss"), 1u) << "one fill (a store: read and write tags) serves the rest of the page";
}

TEST_F(SoftmmuTest, PageFaultsArePreciseAndWithoutHostSignals) {
  Regs r;
  r.rax = 0x77;
  Exit e = run(test::kLoadUnmapped, &r);
  ASSERT_NO_FATAL_FAILURE(expect_pf(e, r, 0x700000, 0));  // not present, read, supervisor
  EXPECT_EQ(r.rax, 0x77u);
  // movq $5,0x602000 (read-only page): a write protection fault, nothing written
  Regs w;
  w.rcx = 0x1234;
  e = run({0x48, 0xc7, 0x04, 0x25, 0x00, 0x20, 0x60, 0x00, 0x05, 0x00, 0x00, 0x00, 0xe6, 0xf4}, &w);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x602000u);
  EXPECT_EQ(e.error_code, 3u) << "present, write";
  EXPECT_EQ(w.rcx, 0x1234u) << "the probe's scratch registers are restored";
  EXPECT_EQ(get(0x202000), 0u);
  // (a host SIGSEGV in this mode would have been an EngineError: SoftMmu::host_fault claims none)
  EXPECT_EQ(mmu_.stats().guest_pf, 2u);
}

// Accesses that cross into a page of another frame go through the bounce
// buffer: both halves read, both halves written.
TEST_F(SoftmmuTest, PageCrossingAccessesSpanTwoFrames) {
  put(0x200ff8, 0x0403020100000000ULL);
  put(0x280000, 0x0c0b0a0908070605ULL);
  Regs r;
  // mov 0x600ffc,%rax; mov $0x99,%rbx; mov %rbx,0x600ffe; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0xfc, 0x0f, 0x60, 0x00, 0x48, 0xc7, 0xc3, 0x99, 0x00, 0x00, 0x00, 0x48, 0x89,
                0x1c, 0x25, 0xfe, 0x0f, 0x60, 0x00, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0x0807060504030201ULL);
  EXPECT_EQ(get(0x200ff8), 0x0099020100000000ULL);
  EXPECT_EQ(get(0x280000), 0x0c0b000000000000ULL);
  EXPECT_EQ(counter("softmmu.bounce"), 2u);
}

// Where the arithmetic flags are dead before the access (a later instruction
// of the run overwrites them) an explicit operand with one address register
// is probed in its scratch register alone, a `mov m,%d` in %d (the loads here);
// hits, fills, page crossings (bounce) and faults behave as with the
// flag-free form.
TEST_F(SoftmmuTest, ShortProbesWhereFlagsAreDead) {
  put(0x200ff8, 0x0403020100000000ULL);
  put(0x280000, 0x0c0b0a0908070605ULL);
  Regs r;
  r.rbx = 0x600ffe;
  // mov 0x600ffc,%rax; add $1,%rax; mov $0x99,%rdx; mov %rdx,(%rbx); sub %rdx,%rdx;
  // mov (%rbx),%rcx; cmp %rcx,%rcx; out %al,$0xf4
  Exit e = run({0x48, 0x8b, 0x04, 0x25, 0xfc, 0x0f, 0x60, 0x00, 0x48, 0x83, 0xc0, 0x01, 0x48, 0xc7, 0xc2, 0x99, 0x00,
                0x00, 0x00, 0x48, 0x89, 0x13, 0x48, 0x29, 0xd2, 0x48, 0x8b, 0x0b, 0x48, 0x39, 0xc9, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0x0807060504030202ULL);
  EXPECT_EQ(r.rcx, 0x99u);
  EXPECT_EQ(r.rdx, 0u);
  EXPECT_EQ(r.rbx, 0x600ffeu);
  EXPECT_EQ(get(0x200ff8), 0x0099020100000000ULL);
  EXPECT_EQ(get(0x280000), 0x0c0b000000000000ULL);
  EXPECT_EQ(counter("softmmu.bounce"), 3u) << "all three accesses cross into a non-adjacent frame";
  // (the code page's zero bytes after `out` decode as add %al,(%rax): their flags are dead too)
  EXPECT_EQ(counter("softmmu.probes_in_dest"), 2u) << "the two loads";
  EXPECT_EQ(counter("softmmu.probes_alone"), counter("softmmu.probes")) << "every access of the block";
  // mov (%rbx),%rax; add $1,%rax (0x700008 not mapped): precise, registers restored
  Regs f;
  f.rax = 0x77, f.rbx = 0x700008, f.rcx = 0x1234;
  e = run({0x48, 0x8b, 0x03, 0x48, 0x83, 0xc0, 0x01, 0xe6, 0xf4}, &f);
  ASSERT_NO_FATAL_FAILURE(expect_pf(e, f, 0x700008, 0));
  EXPECT_EQ(f.rax, 0x77u);
  EXPECT_EQ(f.rbx, 0x700008u);
  EXPECT_EQ(f.rcx, 0x1234u);
  // mov %rcx,0x602010 (read-only); sub %rax,%rax: a write protection fault, nothing written
  Regs w;
  w.rax = 5, w.rcx = 0x4321;
  e = run({0x48, 0x89, 0x0c, 0x25, 0x10, 0x20, 0x60, 0x00, 0x48, 0x29, 0xc0, 0xe6, 0xf4}, &w);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.fault_addr, 0x602010u);
  EXPECT_EQ(e.error_code, 3u) << "present, write";
  EXPECT_EQ(w.rip, 0x400000u);
  EXPECT_EQ(w.rax, 5u);
  EXPECT_EQ(w.rcx, 0x4321u);
  EXPECT_EQ(get(0x202010), 0u);
  EXPECT_GE(counter("softmmu.probes_in_dest"), 3u) << "the faulting load too";
  EXPECT_EQ(counter("softmmu.probes_alone"), counter("softmmu.probes"));
  // mov 0x600000,%rax; adc $0,%rax: adc reads CF, so the load keeps the flag-free probe
  Regs l;
  e = run({0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0x83, 0xd0, 0x00, 0xe6, 0xf4}, &l);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_GE(counter("softmmu.probes") - counter("softmmu.probes_short") - counter("softmmu.probes_alone"), 1u);
}

// Like a TLB: a PTE store is not traced (the old translation may stay until
// invalidation); invlpg and a CR3 load drop it. A read leaves D clear, and
// the first write through that page walks again and sets it.
TEST_F(SoftmmuTest, InvalidationAndAccessedDirtyBits) {
  put(0x200000, 0xaa);
  put(0x280000, 0xbb);
  Regs r;
  const std::vector<uint8_t> load = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4};  // mov 0x600000,%rax
  ASSERT_EQ(run(load, &r).kind, ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xaau);
  EXPECT_EQ(get(0x5000) & 0x60, 0x20u) << "accessed, not dirty";
  put(0x5000, 0x280000 | 0x27);  // the PTE now names another frame (no invlpg yet)
  // invlpg 0x600000; mov 0x600000,%rbx; out %al,$0xf4
  r = Regs{};
  ASSERT_EQ(run({0x0f, 0x01, 0x3c, 0x25, 0x00, 0x00, 0x60, 0x00, 0x48, 0x8b, 0x1c, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6,
                 0xf4},
                &r)
                .kind,
            ExitKind::PortIo);
  EXPECT_EQ(r.rbx, 0xbbu) << "invlpg dropped the entry";
  EXPECT_GE(counter("softmmu.tlb_flush_page"), 1u);
  put(0x5000, 0x200000 | 0x27);
  r = Regs{};
  // mov %cr3,%rax; mov %rax,%cr3; mov 0x600000,%rax; out
  ASSERT_EQ(run({0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xe6, 0xf4}, &r)
                .kind,
            ExitKind::PortIo);
  EXPECT_EQ(r.rax, 0xaau) << "the CR3 load flushed the TLB";
  EXPECT_EQ(get(0x5000) & 0x40, 0u);
  r = Regs{};
  // movq $5,0x600000; out
  ASSERT_EQ(run({0x48, 0xc7, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x05, 0x00, 0x00, 0x00, 0xe6, 0xf4}, &r).kind,
            ExitKind::PortIo);
  EXPECT_EQ(get(0x200000), 5u);
  EXPECT_EQ(get(0x5000) & 0x60, 0x60u) << "the store set D";
}

// Implicit and unusual operands go through the TLB too: xlat, push/pop in
// their ModRM register forms, a 32-bit address (0x67).
TEST_F(SoftmmuTest, ImplicitOperandsGoThroughTheTlb) {
  put(0x200000, 0x0000aa0000000000ULL);
  put(0x200008, 0x12345678);
  Regs r;
  // mov $0x600000,%ebx; mov $5,%eax; xlat; push %rbx (ff f3); pop %rcx (8f c1); mov 8(%ebx),%edx (67); out
  Exit e = run({0xbb, 0x00, 0x00, 0x60, 0x00, 0xb8, 0x05, 0x00, 0x00, 0x00, 0xd7, 0xff, 0xf3, 0x8f, 0xc1, 0x67, 0x8b,
                0x53, 0x08, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0xaau);
  EXPECT_EQ(r.rcx, 0x600000u);
  EXPECT_EQ(r.rdx, 0x12345678u);
  EXPECT_EQ(r.rsp, 0x600800u);
  EXPECT_EQ(get(0x2007f8), 0x600000u) << "the push went through the TLB to guest memory";
}

// pushf/popf run inline with the stack slot through the TLB.
TEST_F(SoftmmuTest, InlinePushfPopfThroughTheTlb) {
  Regs r;
  // stc; pushfq; pop %rax; push $0x283 (IF SF CF); popfq; pushfq; pop %rbx; out %al,$0xf4
  Exit e = run({0xf9, 0x9c, 0x58, 0x68, 0x83, 0x02, 0x00, 0x00, 0x9d, 0x9c, 0x5b, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax & 0x8d7, 0x3u) << "CF and bit 1 in the pushed image";
  EXPECT_EQ(r.rbx & 0xad7, 0x283u) << "the popped image, IF included, pushed back";
  EXPECT_EQ(r.rflags & 0x8d5, 0x81u);
  EXPECT_EQ(r.rsp, 0x600800u);
  EXPECT_EQ(get(0x2007f8), r.rbx) << "the last push went to guest memory";
  EXPECT_EQ(counter("bt.inline.pushf"), 2u);
  EXPECT_EQ(counter("bt.inline.popf"), 1u);
}

// A run of pushes shares one probe; when its span faults, the run is
// translated again one probe per push and the fault comes from the push
// that crosses into the unmapped page, after the earlier ones were done.
TEST_F(SoftmmuTest, PushRunSharesOneProbeAndFaultsPrecisely) {
  Regs r;
  r.rsp = 0x600800;
  r.rax = 1, r.rbx = 2, r.rcx = 3;
  // push %rax; push %rbx; push %rcx; pop %rdx; pop %rsi; pop %rdi; out %al,$0xf4
  const std::vector<uint8_t> run3 = {0x50, 0x53, 0x51, 0x5a, 0x5e, 0x5f, 0xe6, 0xf4};
  Exit e = run(run3, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rdx, 3u);
  EXPECT_EQ(r.rsi, 2u);
  EXPECT_EQ(r.rdi, 1u);
  EXPECT_EQ(r.rsp, 0x600800u);
  EXPECT_EQ(get(0x2007f0), 2u);
  EXPECT_EQ(counter("softmmu.tlb_miss"), 1u) << "one probe for the three pushes, a hit for the three pops";
  Regs f;
  f.rsp = 0x600010;  // 0x5ff000 is not mapped: the third push faults
  f.rax = 1, f.rbx = 2, f.rcx = 3;
  e = run(run3, &f);
  ASSERT_NO_FATAL_FAILURE(expect_pf(e, f, 0x5ffff8, 2, 0x400002));  // write, not present, at the third push
  EXPECT_EQ(f.rsp, 0x600000u) << "the first two pushes were done";
  EXPECT_EQ(get(0x200008), 1u);
  EXPECT_EQ(get(0x200000), 2u);
}

TEST_F(SoftmmuTest, EnterAndLeave) {
  Regs r;
  r.rsp = 0x600800;
  r.rbp = 0x1234;
  // enter $0x20,$1; mov %rsp,%rax; mov %rbp,%rbx; leave; out %al,$0xf4
  Exit e = run({0xc8, 0x20, 0x00, 0x01, 0x48, 0x89, 0xe0, 0x48, 0x89, 0xeb, 0xc9, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rbx, 0x6007f8u) << "the new frame";
  EXPECT_EQ(r.rax, 0x6007f8u - 8 - 0x20) << "the frame pointer pushed (level 1), then the locals";
  EXPECT_EQ(get(0x2007f8), 0x1234u);
  EXPECT_EQ(get(0x2007f0), 0x6007f8u);
  EXPECT_EQ(r.rbp, 0x1234u) << "leave";
  EXPECT_EQ(r.rsp, 0x600800u);
  EXPECT_EQ(counter("priv.enter"), 1u);
  // 66 leave: rsp = rbp + 2, bp = 16 bits popped (the upper bits of rbp kept)
  put(0x200100, 0xbeef);
  Regs w;
  w.rbp = 0xaaaa000000600100ULL & 0x0000ffffffffffffULL;
  e = run({0x66, 0xc9, 0xe6, 0xf4}, &w);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(w.rsp, 0x600102u);
  EXPECT_EQ(w.rbp, 0x60beefu);
}

// Stores whose memory operand Capstone 4 describes as read-only (rol, movups,
// cmpxchg, stmxcsr) take the write tag: after a read of the read-only page
// filled its read entry, each is still a write-protection #PF.
TEST_F(SoftmmuTest, StoresCapstoneCallReadsStillNeedWriteAccess) {
  const std::vector<std::vector<uint8_t>> stores = {
      {0xc1, 0x00, 0x05},        // roll $5,(%rax)
      {0x0f, 0x11, 0x00},        // movups %xmm0,(%rax)
      {0x0f, 0xb1, 0x08},        // cmpxchg %ecx,(%rax)
      {0x0f, 0xae, 0x18},        // stmxcsr (%rax)
  };
  for (const auto& st : stores) {
    // mov $0x602000,%eax; mov (%rax),%ecx; <store>; out %al,$0xf4
    std::vector<uint8_t> code = {0xb8, 0x00, 0x20, 0x60, 0x00, 0x8b, 0x08};
    code.insert(code.end(), st.begin(), st.end());
    code.push_back(0xe6);
    code.push_back(0xf4);
    Regs r;
    Exit e = run(code, &r);
    ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message << " store " << int(st[0]) << " " << int(st[1]);
    EXPECT_EQ(e.vector, 14);
    EXPECT_EQ(e.error_code, 3u) << "present, write";
    EXPECT_EQ(r.rip, 0x400007u);
    EXPECT_EQ(get(0x202000), 0u);
  }
}

// A %gs: operand based on rsp and a 32-bit movsxd load (fuzz seed 15's mutants).
TEST_F(SoftmmuTest, SegmentOperandOnTheStackAndMovsxd32) {
  put(0x200040, 0xfedcba98);
  Regs r;
  r.rdx = 0x11223344;
  r.rax = 0x600040;
  // mov %edx,%gs:0x10(%rsp); movsxd (%rax),%ecx (63 08, no REX.W); out %al,$0xf4
  Exit e = run({0x65, 0x89, 0x54, 0x24, 0x10, 0x63, 0x08, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200810), 0x11223344u);
  EXPECT_EQ(r.rcx, 0xfedcba98u) << "32-bit destination: zero-extended";
  Regs f;
  f.rax = 0x20;  // page 0 is not mapped
  e = run({0x63, 0x10, 0xe6, 0xf4}, &f);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.fault_addr, 0x20u);
}

// maskmovq stores to the implicit [rdi]: never copied (it would write the
// host's memory at the guest's rdi); an engine error, not a host write.
TEST_F(SoftmmuTest, MaskmovIsNotCopied) {
  Regs r;
  r.rdi = 0x40000000;  // the vCPU block's host address
  // pcmpeqb %mm1,%mm1 (all ones: every byte stored); maskmovq %mm1,%mm0; out
  Exit e = run({0x0f, 0x74, 0xc9, 0x0f, 0xf7, 0xc1, 0xe6, 0xf4}, &r);
  EXPECT_EQ(e.kind, ExitKind::EngineError);
  EXPECT_NE(e.message.find("maskmov"), std::string::npos) << e.message;
}

// bt/bts with a register bit offset reach words around the operand (a
// callout through the walk): bit 67 is bit 3 of the next qword, bit -1 is
// bit 31 of the dword before.
TEST_F(SoftmmuTest, BitStringWithRegisterOffset) {
  put(0x200100, 0x80000000ULL << 32);  // bit 31 of the dword at 0x200104
  Regs r;
  r.rax = 0x600108;
  r.rcx = 67;
  r.rdx = uint64_t(-1);
  // bts %rcx,(%rax); bt %edx,(%rax); setc %bl; out %al,$0xf4
  Exit e = run({0x48, 0x0f, 0xab, 0x08, 0x0f, 0xa3, 0x10, 0x0f, 0x92, 0xc3, 0xe6, 0xf4}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200110), 8u) << "bit 67 from 0x600108: bit 3 of the qword at 0x600110";
  EXPECT_EQ(r.rbx & 0xff, 1u) << "bit -1: bit 31 of the dword at 0x600104";
  EXPECT_EQ(counter("priv.bit_string"), 2u);
}

// VEX instructions (AVX loads/stores, BMI2) with r8-r15 bases and an index
// go through the probe, re-encoded on a low scratch register.
TEST_F(SoftmmuTest, VexMemoryOperands) {
  put(0x200000, 0x0000000200000001ULL);
  put(0x200008, 0x0000000400000003ULL);
  put(0x200130, 0x000000140000000aULL);
  put(0x200138, 0x000000280000001eULL);
  put(0x200100, 3);
  Regs r;
  r.rax = 0x600000;
  r.r9 = 0x600100;
  r.rbx = 8;
  r.rdx = 4;
  // vmovups (%rax),%xmm9; vmovups %xmm9,0x10(%r9); vpaddd 0x20(%r9,%rbx,2),%xmm9,%xmm10; vmovd %xmm10,%ecx;
  // shlx %rdx,(%r9),%rsi; out %al,$0xf4
  Exit e = run({0xc5, 0x78, 0x10, 0x08, 0xc4, 0x41, 0x78, 0x11, 0x49, 0x10, 0xc4, 0x41, 0x31, 0xfe, 0x54, 0x59, 0x20,
                0xc5, 0x79, 0x7e, 0xd1, 0xc4, 0xc2, 0xe9, 0xf7, 0x31, 0xe6, 0xf4},
               &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(get(0x200110), 0x0000000200000001ULL);
  EXPECT_EQ(get(0x200118), 0x0000000400000003ULL);
  EXPECT_EQ(r.rcx, 11u);
  EXPECT_EQ(r.rsi, 48u);
}

TEST_F(SoftmmuTest, SelfModifyingCodeIsRetranslated) {
  Regs r;
  Exit e = run(test::kSelfModifyingLoop, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax & 0xff, 2u) << "the patched immediate must be executed";
  EXPECT_GE(counter("bt.tc_invalidate"), 1u);
  EXPECT_GE(mmu_.stats().code_store, 1u);
  EXPECT_EQ(counter("mmu.hidden_fault"), 0u);
}

}  // namespace
}  // namespace vtb::bt
