// tags: engines|bt|tests — desc: sensitive/privileged instructions: architectural effect on the virtual CPU, and counters.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <cstring>
#include <string>

#include "common/abi/vtb_abi.h"
#include "common/counters.h"
#include "engines/bt/tests/machine_suite.h"
#include "engines/bt/tests/snippet.h"
#include "engines/bt/tests/user_mode.h"

namespace vtb::bt::test {
namespace {

class Priv : public MachineSuite<Priv> {};

#define EXPECT_DONE(e) ASSERT_TRUE((e).kind == ExitKind::PortIo && (e).port == 0xf4) << (e).message << " kind " << int((e).kind)

TEST_F(Priv, CliStiPushfShowVirtualIf) {
  Regs r = initial_regs();
  r.rflags = 0x202;  // virtual IF=1
  const uint64_t cli0 = counter("priv.cli"), icli0 = counter("bt.inline.cli"), ipushf0 = counter("bt.inline.pushf");
  const uint64_t exits0 = counter("bt.tc_exits");
  Exit e = m_->run_bt({0xfa, 0x9c, 0x58, 0xfb, 0x9c, 0x5b}, &r);  // cli; pushf; pop %rax; sti; pushf; pop %rbx
  EXPECT_DONE(e);
  EXPECT_EQ(r.rax & 0x200, 0u) << "pushf after cli must show IF=0";
  EXPECT_EQ(r.rbx & 0x200, 0x200u) << "pushf after sti must show IF=1";
  EXPECT_EQ(r.rflags & 0x200, 0x200u);
  // At CPL 0 cli/sti are inline stores to the virtual IF and pushf is inline
  // too: no callout, but each execution is counted (priv.<insn> includes them).
  EXPECT_EQ(counter("priv.cli") - cli0, 1u);
  EXPECT_EQ(counter("bt.inline.cli") - icli0, 1u);
  EXPECT_EQ(counter("bt.inline.pushf") - ipushf0, 2u);
  EXPECT_GE(counter("priv.pushf"), 2u);
  EXPECT_LE(counter("bt.tc_exits") - exits0, 2u) << "only the jump to the end stub and its out may leave";
  // At CPL 3 (IOPL 3 allows them) they are callouts, with the same effect.
  Regs u = initial_regs();
  u.cs.selector = 0x33;
  u.ss.selector = 0x2b;
  u.rflags = 0x3202;
  const uint64_t cli1 = counter("priv.cli"), sti1 = counter("priv.sti"), icli1 = counter("bt.inline.cli");
  e = m_->run_bt({0xfa, 0x9c, 0x58, 0xfb, 0x9c, 0x5b}, &u);
  EXPECT_DONE(e);
  EXPECT_EQ(u.rax & 0x200, 0u);
  EXPECT_EQ(u.rbx & 0x200, 0x200u);
  EXPECT_EQ(counter("priv.cli") - cli1, 1u);
  EXPECT_EQ(counter("priv.sti") - sti1, 1u);
  EXPECT_EQ(counter("bt.inline.cli") - icli1, 0u) << "user cli is a callout (IOPL check)";
}

// bt/bts with a register bit offset on memory is a callout in every bt mode:
// the offset reaches far from the operand, which the address check does not
// cover (user code could set a bit in the host's vCPU block from a legal base).
TEST_F(Priv, BitStringWithRegisterOffsetIsACallout) {
  Regs r = initial_regs();
  r.rax = kData + 8;
  r.rcx = 67;
  r.rdx = uint64_t(-1);
  const uint32_t hi = 0x80000000u;
  memcpy(m_->data() + 4, &hi, 4);
  const uint64_t before = counter("priv.bit_string");
  // bts %rcx,(%rax); bt %edx,(%rax); setc %bl
  Exit e = m_->run_bt({0x48, 0x0f, 0xab, 0x08, 0x0f, 0xa3, 0x10, 0x0f, 0x92, 0xc3}, &r);
  EXPECT_DONE(e);
  EXPECT_EQ(m_->data()[16], 8) << "bit 67: bit 3 of the next qword";
  EXPECT_EQ(r.rbx & 0xff, 1u) << "bit -1: bit 31 of the dword before";
  EXPECT_EQ(counter("priv.bit_string") - before, 2u);
  // From user mode toward the vCPU block (far beyond the checked base): the
  // guest's #PF (nothing of the guest is mapped there), the block untouched.
  Regs u = initial_regs();
  u.cs.selector = 0x33;
  u.ss.selector = 0x2b;
  u.rflags |= 0x3000;
  u.rax = kData;
  u.rcx = int64_t(VTB_HOST_RESERVED_USER_LO - kData) * 8 + 0x90 * 8;  // exit_fn's first bit
  e = m_->run_bt({0x48, 0x0f, 0xab, 0x08}, &u);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
}

TEST_F(Priv, PopfClearsVirtualIf) {
  Regs r = initial_regs();
  r.rflags = 0x202;
  Exit e = m_->run_bt({0x6a, 0x02, 0x9d}, &r);  // push $2; popf
  EXPECT_DONE(e);
  EXPECT_EQ(r.rflags & 0x200, 0u);
}

TEST_F(Priv, ControlRegisters) {
  Regs r = initial_regs();
  r.rax = 0x123000;
  r.rcx = 5;
  // mov %rax,%cr3; mov %cr3,%rbx; mov %rcx,%cr8; mov %cr8,%rdx; mov %cr0,%rsi
  Exit e = m_->run_bt({0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xdb, 0x44, 0x0f, 0x22, 0xc1, 0x44, 0x0f, 0x20, 0xc2, 0x0f, 0x20,
                       0xc6}, &r);
  EXPECT_DONE(e);
  EXPECT_EQ(r.cr3, 0x123000u);
  EXPECT_EQ(r.rbx, 0x123000u);
  EXPECT_EQ(r.cr8, 5u);
  EXPECT_EQ(r.rdx, 5u);
  EXPECT_EQ(r.rsi, r.cr0);
  EXPECT_GE(counter("priv.mov_cr3"), 1u);
  EXPECT_GE(counter("priv.mov_cr8"), 1u);
}

TEST_F(Priv, DescriptorTables) {
  Regs r = initial_regs();
  r.r15 = kData;
  const uint8_t gdtr[10] = {0x27, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00};  // limit 0x27, base 8T+0x1000
  memcpy(m_->data(), gdtr, 10);
  const uint8_t idtr[10] = {0xff, 0x0f, 0x00, 0x20, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00};
  memcpy(m_->data() + 32, idtr, 10);
  // lgdt (%r15); sgdt 16(%r15); lidt 32(%r15); sidt 48(%r15)
  Exit e = m_->run_bt({0x41, 0x0f, 0x01, 0x17, 0x41, 0x0f, 0x01, 0x47, 0x10, 0x41, 0x0f, 0x01, 0x5f, 0x20, 0x41, 0x0f,
                       0x01, 0x4f, 0x30}, &r);
  EXPECT_DONE(e);
  EXPECT_EQ(r.gdt_base, 0x80000001000ULL);
  EXPECT_EQ(r.gdt_limit, 0x27);
  EXPECT_EQ(r.idt_base, 0x80000002000ULL);
  EXPECT_EQ(r.idt_limit, 0xfff);
  EXPECT_EQ(memcmp(m_->data() + 16, gdtr, 10), 0) << "sgdt must store the virtual GDTR, not the host's";
  EXPECT_EQ(memcmp(m_->data() + 48, idtr, 10), 0) << "sidt must store the virtual IDTR";
}

TEST_F(Priv, PortIoExitsAndCompletes) {
  Regs r = initial_regs();
  const uint64_t out0 = counter("priv.out"), in0 = counter("priv.in");
  // mov $0x3f8,%dx; mov $0x41,%al; out %al,(%dx); in $0x80,%al
  Exit e = m_->run_bt({0x66, 0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xe4, 0x80}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo);
  EXPECT_EQ(e.port, 0x3f8);
  EXPECT_TRUE(e.is_write);
  EXPECT_EQ(e.size, 1);
  EXPECT_EQ(e.data[0], 0x41);
  e = m_->cont(&r);
  ASSERT_EQ(e.kind, ExitKind::PortIo);
  EXPECT_EQ(e.port, 0x80);
  EXPECT_FALSE(e.is_write);
  e.data[0] = 0x5a;
  e = m_->cont(&r);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rax & 0xff, 0x5au);
  EXPECT_EQ(counter("priv.out") - out0, 2u);  // the uart write and the terminator
  EXPECT_EQ(counter("priv.in") - in0, 1u);
}

TEST_F(Priv, CpuidIsVirtualized) {
  Regs r = initial_regs();
  Exit e = m_->run_bt({0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2}, &r);  // mov $1,%eax; cpuid
  EXPECT_DONE(e);
  EXPECT_EQ(r.rcx & (1u << 5), 0u) << "no VMX for the guest";
  EXPECT_NE(r.rcx & (1u << 31), 0u) << "hypervisor bit";
  EXPECT_GE(counter("priv.cpuid"), 1u);
}

TEST_F(Priv, RdtscCounted) {
  Regs r = initial_regs();
  const uint64_t n0 = counter("priv.rdtsc");
  Exit e = m_->run_bt({0x0f, 0x31}, &r);
  EXPECT_DONE(e);
  EXPECT_NE((r.rdx << 32) | (r.rax & 0xffffffff), 0u);
  EXPECT_EQ(counter("priv.rdtsc") - n0, 1u);
}

TEST_F(Priv, WrmsrGsBaseThenGsAccess) {
  Regs r = initial_regs();
  uint64_t v = 0x7777;
  memcpy(m_->data() + 8, &v, 8);
  // mov $0xc0000101,%ecx; mov $0x600000,%eax; xor %edx,%edx; wrmsr; mov %gs:8,%rbx
  Exit e = m_->run_bt({0xb9, 0x01, 0x01, 0x00, 0xc0, 0xb8, 0x00, 0x00, 0x60, 0x00, 0x31, 0xd2, 0x0f, 0x30, 0x65, 0x48,
                       0x8b, 0x1c, 0x25, 0x08, 0x00, 0x00, 0x00}, &r);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rbx, 0x7777u);
  EXPECT_EQ(r.gs.base, kData);
}

TEST_F(Priv, SwapgsUsesVirtualKernelGsBase) {
  Regs r = initial_regs();
  r.kernel_gs_base = kData;
  r.gs.base = 0;
  uint64_t v = 0x4545;
  memcpy(m_->data(), &v, 8);
  // swapgs; mov %gs:0,%rax; swapgs
  Exit e = m_->run_bt({0x0f, 0x01, 0xf8, 0x65, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x01, 0xf8}, &r);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rax, 0x4545u);
  EXPECT_EQ(r.gs.base, 0u);
  EXPECT_EQ(r.kernel_gs_base, kData);
  EXPECT_EQ(counter("priv.swapgs") % 2, 0u);
}

TEST_F(Priv, StoreSystemRegistersShowVirtualState) {
  Regs r = initial_regs();
  r.tr.selector = 0x28;
  r.ldtr.selector = 0;
  r.cr0 = 0x80050033;
  // smsw %eax; str %ebx; sldt %ecx; mov %cs,%edx (8c ca); mov %ss,%esi (8c d6)
  Exit e = m_->run_bt({0x0f, 0x01, 0xe0, 0x0f, 0x00, 0xcb, 0x0f, 0x00, 0xc1, 0x8c, 0xca, 0x8c, 0xd6}, &r);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rax & 0xffff, 0x0033u);
  EXPECT_EQ(r.rbx, 0x28u);
  EXPECT_EQ(r.rcx, 0u);
  EXPECT_EQ(r.rdx, 0x08u) << "mov %cs must show the virtual CS (CPL 0), not the host's 0x33";
  EXPECT_EQ(r.rsi, 0x10u);
}

TEST_F(Priv, PrivilegedAtCpl3IsGp) {
  Regs r = initial_regs();
  r.cs.selector = 0x33;
  r.rflags = 0x3002;  // IOPL 3 so the terminator's out works; cli still needs CPL <= IOPL
  r.rflags = 0x0002;
  Exit e = m_->run_bt({0xfa}, &r);  // cli
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 13);
  EXPECT_EQ(e.rip, kCode);
}

TEST_F(Priv, SyscallSysretRoundTrip) {
  Regs r = initial_regs();
  r.cs.selector = 0x33;  // CPL 3
  r.ss.selector = 0x2b;
  r.rflags = 0x3202;     // IOPL 3: the terminator's out is allowed in user mode
  r.efer = 0xd01;
  // The kernel handler: mov $7,%eax; sysretq
  const uint8_t handler[] = {0xb8, 0x07, 0x00, 0x00, 0x00, 0x48, 0x0f, 0x07};
  memcpy(reinterpret_cast<void*>(kCode + 0x800), handler, sizeof handler);
  m_->rt->invalidate_range(kCode + 0x800, sizeof handler);
  Regs k = r;
  (void)k;
  m_->rt->cpu().lstar = 0;
  r.rip = kCode;
  // star/lstar are MSRs: set them through the runtime's virtual CPU.
  m_->rt->set_regs(r);
  m_->rt->cpu().star = (0x10ULL << 48) | (0x08ULL << 32);
  m_->rt->cpu().lstar = kCode + 0x800;
  m_->rt->cpu().sfmask = 0x200;
  Exit e = m_->run_bt({0x0f, 0x05, 0x48, 0x89, 0xc3}, &r);  // syscall; mov %rax,%rbx
  m_->rt->cpu().star = (0x10ULL << 48) | (0x08ULL << 32);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rbx, 7u);
  EXPECT_EQ(r.rcx, kCode + 2) << "syscall saves the return rip in rcx";
  EXPECT_EQ(r.cs.selector, 0x23) << "sysret returns to STAR[63:48]+16 | 3";
  EXPECT_EQ(r.r11 & 0x200, 0x200u) << "r11 holds the user rflags with IF";
  EXPECT_GE(counter("priv.syscall"), 1u);
  EXPECT_GE(counter("priv.sysret"), 1u);
}

TEST_F(Priv, Int3AndGarbageAreGuestFaults) {
  Regs r = initial_regs();
  Exit e = m_->run_bt({0xcc}, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 3);
  r = initial_regs();
  e = m_->run_bt({0x90, 0x06}, &r);  // nop; (push %es: invalid in 64-bit mode)
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 6);
  EXPECT_EQ(e.rip, kCode + 1);
  r = initial_regs();
  e = m_->run_bt({0x90, 0xf1}, &r);  // nop; int1: a #DB trap, reported after the instruction (as the hardware)
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 1);
  EXPECT_EQ(e.rip, kCode + 2);
}

TEST_F(Priv, HltWithInterruptsOffStops) {
  Regs r = initial_regs();
  Exit e = m_->run_bt({0xf4}, &r);
  EXPECT_EQ(e.kind, ExitKind::Shutdown) << e.message;
}

TEST_F(Priv, SegmentLoadAndStore) {
  Regs r = initial_regs();
  r.rax = 0;  // null selector into %ds is legal in 64-bit mode
  Exit e = m_->run_bt({0x8e, 0xd8, 0x8c, 0xdb}, &r);  // mov %rax,%ds; mov %ds,%ebx
  EXPECT_DONE(e);
  EXPECT_EQ(r.ds.selector, 0);
  EXPECT_EQ(r.rbx, 0u);
}

// ---- precise faults and robustness ----

TEST_F(Priv, PageFaultIsPrecise) {
  Regs r = initial_regs();
  r.rdx = 0x900000;
  r.rsi = 0x55;
  // mov $1,%ebx; mov $2,%ecx; mov (%rdx),%rax; mov $3,%esi
  Exit e = m_->run_bt({0xbb, 0x01, 0x00, 0x00, 0x00, 0xb9, 0x02, 0x00, 0x00, 0x00, 0x48, 0x8b, 0x02, 0xbe, 0x03, 0x00,
                       0x00, 0x00}, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x900000u);
  EXPECT_EQ(e.rip, kCode + 10);
  EXPECT_EQ(r.rbx, 1u);
  EXPECT_EQ(r.rcx, 2u);
  EXPECT_EQ(r.rsi, 0x55u) << "instructions after the fault must not have run";
}

TEST_F(Priv, FaultInsideSegmentRewriteRestoresScratch) {
  Regs r = initial_regs();
  r.gs.base = 0x900000;  // unmapped
  r.rbx = 0;
  r.r11 = 0x1111;
  Exit e = m_->run_bt({0x65, 0x48, 0x8b, 0x03}, &r);  // mov %gs:(%rbx),%rax
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x900000u);
  EXPECT_EQ(r.r11, 0x1111u) << "the scratch register must be restored";
  EXPECT_EQ(r.rip, kCode);
}

TEST_F(Priv, RunawayLoopHitsWallLimit) {
  Regs r = initial_regs();
  Exit e = m_->run_bt({0xeb, 0xfe}, &r, kCode, 0, 0.2);  // 1: jmp 1b
  EXPECT_EQ(e.kind, ExitKind::LimitReached) << e.message;
}

TEST_F(Priv, InstructionBudgetIsExactUpperBound) {
  Regs r = initial_regs();
  const uint64_t before = m_->rt->guest_insns_executed();
  Exit e = m_->run_bt({0xeb, 0xfe}, &r, kCode, before + 1000, 5.0);
  ASSERT_EQ(e.kind, ExitKind::LimitReached) << e.message;
  const uint64_t ran = m_->rt->guest_insns_executed() - before;
  EXPECT_LE(ran, 1000u);
  EXPECT_GE(ran, 1000u - 32u);
}

TEST_F(Priv, CountsLoopInstructions) {
  Regs r = initial_regs();
  const uint64_t before = m_->rt->guest_insns_executed();
  // mov $100,%ecx; 1: dec %ecx; jnz 1b   (+ jmp *exit, out)
  Exit e = m_->run_bt({0xb9, 0x64, 0x00, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc}, &r, kCode, before + 1000000);
  EXPECT_DONE(e);
  EXPECT_EQ(m_->rt->guest_insns_executed() - before, 1u + 200u + 2u);
}

TEST_F(Priv, WildJumpIsFetchPageFault) {
  Regs r = initial_regs();
  r.rax = 0x900000;
  Exit e = m_->run_bt({0xff, 0xe0}, &r);  // jmp *%rax
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x900000u);
  EXPECT_NE(e.error_code & 0x10, 0u) << "instruction-fetch bit";
  r = initial_regs();
  r.rax = 0x8000000000000000ULL;  // non-canonical
  e = m_->run_bt({0xff, 0xe0}, &r);
  EXPECT_EQ(e.kind, ExitKind::GuestFault) << e.message;
}

TEST_F(Priv, CodeAtKernelAddressUsesKernelCache) {
  Regs r = initial_regs();
  r.rax = 1;
  // call 1f; jmp 2f; 1: add $1,%rax; ret; 2:  — at 8 TiB + 1 MiB, return addresses above 4 GiB
  const std::vector<uint8_t> code = {0xe8, 0x02, 0x00, 0x00, 0x00, 0xeb, 0x05, 0x48, 0x83, 0xc0, 0x01, 0xc3};
  Exit e = m_->run_bt(code, &r, kKernelCode);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rax, 2u);
}

}  // namespace

// ---- isolation in translated code (address_checks.cpp) ----
Regs user_regs() {
  Regs r = initial_regs();
  r.cs.selector = 0x33;  // CPL 3
  r.ss.selector = 0x2b;
  r.rflags = 0x3002;     // IOPL 3: the terminator's out is allowed in user mode
  return r;
}

// The snippet stopped with guest #PF `err` for `cr2` at `rip`.
void expect_page_fault(const Exit& e, uint32_t err, uint64_t cr2, uint64_t rip) {
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.error_code, err);
  EXPECT_EQ(e.fault_addr, cr2);
  EXPECT_EQ(e.rip, rip);
}

// A guest data page at a fixed host = guest address for one test; the
// window's PROT_NONE reservation comes back afterwards.
struct ScratchPage {
  ScratchPage(Machine& m, uint64_t at) : at(at) {
    ok = mmap(reinterpret_cast<void*>(at), 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
              0) != MAP_FAILED;
    if (ok) m.mem.add(at, 0x1000, true, false);
  }
  ~ScratchPage() {
    mmap(reinterpret_cast<void*>(at), 0x1000, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  }
  uint64_t* word(uint64_t off) const { return reinterpret_cast<uint64_t*>(at + off); }
  uint64_t at;
  bool ok = false;
};

// A user load from a supervisor address (mirrored and readable on the host)
// is a guest #PF, with every register and flag as before the instruction,
// whether the check runs with the flags dead (cmp form) or live (pext form).
TEST_F(Priv, UserLoadFromKernelAddressIsPageFault) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  // flags dead after the load: mov (%rbx),%rax; add $1,%rdx
  const std::vector<uint8_t> dead = {0x48, 0x8b, 0x03, 0x48, 0x83, 0xc2, 0x01};
  // flags live across it: cmp $0,%rdx; mov (%rbx),%rax; setz %dl
  const std::vector<uint8_t> live = {0x48, 0x83, 0xfa, 0x00, 0x48, 0x8b, 0x03, 0x0f, 0x94, 0xc2};
  for (const auto* code : {&dead, &live}) {
    SCOPED_TRACE(code == &dead ? "flags dead" : "flags live");
    Regs r = user_regs();
    r.rbx = kKernelCode;
    r.rax = 0x55;
    r.rcx = 0x1234;
    r.rdx = 0;
    Exit e = m_->run_bt(*code, &r);
    ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 5, kKernelCode, kCode + (code == &dead ? 0 : 4)));  // present | user
    EXPECT_EQ(r.rax, 0x55u);
    EXPECT_EQ(r.rcx, 0x1234u);
    EXPECT_EQ(r.rdx, 0u);
  }
  // The same load at CPL 0 reads the kernel page.
  Regs k = initial_regs();
  k.rbx = kKernelCode;
  k.rflags = 0x3002;
  Exit e = m_->run_bt(dead, &k);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(k.rax, *reinterpret_cast<const uint64_t*>(kKernelCode));
}

// Implicit accesses: a push with %rsp in the kernel, an indexed operand that
// reaches the kernel, a store through rdi by stos.
TEST_F(Priv, UserImplicitAndIndexedKernelAccessesArePageFaults) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  struct Case { const char* what; std::vector<uint8_t> code; uint64_t cr2; uint32_t err; };
  Regs base = user_regs();
  const uint64_t idx = (kKernelCode - kData) / 8;
  const Case cases[] = {
      {"push", {0x50}, kKernelCode + 0x100 - 8, 7},                      // push %rax (rsp in the kernel)
      {"indexed", {0x48, 0x8b, 0x04, 0xcb}, kKernelCode, 5},             // mov (%rbx,%rcx,8),%rax
      {"stos", {0x48, 0xab}, kKernelCode + 0x40, 7},                     // stos %rax,(%rdi)
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Regs r = base;
    r.rsp = std::string(c.what) == "push" ? kKernelCode + 0x100 : kStackTop - 256;
    r.rbx = kData;
    r.rcx = idx;
    r.rdi = kKernelCode + 0x40;
    ASSERT_NO_FATAL_FAILURE(expect_page_fault(m_->run_bt(c.code, &r), c.err, c.cr2, kCode));
  }
}

// The quick check bounds the base register; a base just past the user range
// with a negative displacement back into it is legal: the dispatcher
// retranslates that instruction with the exact check and it runs.
TEST_F(Priv, UserBasePastRangeWithNegativeDisplacementStillWorks) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  ScratchPage page(*m_, VTB_USER_TOP - 0x1000);
  ASSERT_TRUE(page.ok);
  *page.word(0x800) = 0xfeedf00d;
  Regs r = user_regs();
  r.rbx = VTB_USER_TOP + 0x10000;
  // mov -0x10800(%rbx),%rax; add $1,%rdx (flags dead: the cmp form first)
  Exit e = m_->run_bt({0x48, 0x8b, 0x83, 0x00, 0xf8, 0xfe, 0xff, 0x48, 0x83, 0xc2, 0x01}, &r);
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(r.rax, 0xfeedf00du);
}

// div/idiv by zero is caught by the translated pre-check (callout
// divide_error), with the state of the faulting instruction; other divisions
// run natively.
TEST_F(Priv, DivideByZeroIsPreciseWithoutAHostSignal) {
  struct Case { const char* what; std::vector<uint8_t> code; uint64_t rcx, r9, mem; bool de; };
  const Case cases[] = {
      {"div %rcx, rcx=0", {0x48, 0xf7, 0xf1}, 0, 0, 0, true},
      {"div (%rbx), mem=0", {0x48, 0xf7, 0x33}, 0x777, 0, 0, true},
      {"idivl (%rbx), mem low 32 = 0", {0xf7, 0x3b}, 0x777, 0, 0x100000000ULL, true},
      {"div %r9d, r9 low 32 = 0", {0x41, 0xf7, 0xf1}, 0x777, 0x100000000ULL, 0, true},
      {"div %rcx, rcx=7", {0x48, 0xf7, 0xf1}, 7, 0, 0, false},
      {"div (%rbx), mem=9", {0x48, 0xf7, 0x33}, 0x777, 0, 9, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Counters before;
    m_->rt->stats(before);
    Regs r = initial_regs();
    r.rflags = 0x3002;
    r.rax = 100;
    r.rdx = 0;
    r.rcx = c.rcx;
    r.r9 = c.r9;
    r.rbx = kData + 0x100;
    memcpy(m_->data() + 0x100, &c.mem, 8);
    Exit e = m_->run_bt(c.code, &r);
    Counters after;
    m_->rt->stats(after);
    if (c.de) {
      ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
      EXPECT_EQ(e.vector, 0);
      EXPECT_EQ(e.rip, kCode);
      EXPECT_EQ(r.rax, 100u);
      EXPECT_EQ(r.rdx, 0u);
      EXPECT_EQ(r.rcx, c.rcx);
      EXPECT_EQ(after.get("priv.divide_error"), before.get("priv.divide_error") + 1);
    } else {
      ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
      const uint64_t d = c.mem ? c.mem : c.rcx;
      EXPECT_EQ(r.rax, 100 / d);
      EXPECT_EQ(r.rdx, 100 % d);
      EXPECT_EQ(r.rcx, c.rcx);
      EXPECT_EQ(after.get("priv.divide_error"), before.get("priv.divide_error"));
    }
  }
}

// Translated user code cannot touch the host's own range in the second GiB
// (vCPU block with exit_fn/host_sp, lookup tables, user translation cache):
// a guest #PF (nothing of the guest is mapped there), and the host state is
// intact afterwards. Legal addresses right below the range still work.
// A quick check covers later accesses of the block through the same base
// while it moves by constants within the 1 MiB margin; beyond it, or after
// any other write to the base, the access is checked again.
TEST_F(Priv, CheckedBaseCoversLaterAccessesOnlyWithinTheMargin) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  // mov %rsi,(%rax); sub $8,%rax; mov 8(%rax),%rcx; add $1,%rdx -- at an address of its own: a pc
  // where another test's legal address needed the exact check keeps that form for the runtime's life
  // (UserBasePastRangeWithNegativeDisplacementStillWorks marks kCode), and an exact check covers nothing.
  const uint64_t at = kCode + 0x600;
  Regs w = user_regs();
  EXPECT_DONE(m_->run_bt({0x48, 0x83, 0xc2, 0x01}, &w, at));  // the end stub's translation (its own accesses) first
  Regs r = user_regs();
  r.rax = kData + 0x100;
  r.rsi = 0x1122334455667788ULL;
  const uint64_t e0 = counter("bt.user_checks_elided");
  Exit e = m_->run_bt({0x48, 0x89, 0x30, 0x48, 0x83, 0xe8, 0x08, 0x48, 0x8b, 0x48, 0x08, 0x48, 0x83, 0xc2, 0x01}, &r, at);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rcx, 0x1122334455667788ULL);
  EXPECT_EQ(counter("bt.user_checks_elided") - e0, 1u) << "the load is covered by the store's check";
  // mov (%rax),%rbx; add $0x3fa00000,%rax (to the vCPU block: far beyond the margin); mov (%rax),%rcx
  const uint64_t target = VTB_HOST_RESERVED_USER_LO;
  Regs u = user_regs();
  u.rax = target - 0x3fa00000;
  u.rcx = 0x55;
  const uint64_t e1 = counter("bt.user_checks_elided");
  e = m_->run_bt({0x48, 0x8b, 0x18, 0x48, 0x05, 0x00, 0x00, 0xa0, 0x3f, 0x48, 0x8b, 0x08, 0x48, 0x83, 0xc2, 0x01}, &u);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 4, target, kCode + 9));
  EXPECT_EQ(u.rcx, 0x55u);
  EXPECT_EQ(counter("bt.user_checks_elided") - e1, 0u);
  // mov (%rax),%rbx; mov %rdi,%rax (any other write drops the cover); mov (%rax),%rcx
  Regs v = user_regs();
  v.rax = kData;
  v.rdi = target;
  v.rcx = 0x55;
  e = m_->run_bt({0x48, 0x8b, 0x18, 0x48, 0x89, 0xf8, 0x48, 0x8b, 0x08, 0x48, 0x83, 0xc2, 0x01}, &v);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 4, target, kCode + 6));
  EXPECT_EQ(v.rcx, 0x55u);
}

// Kernel pushes with the flags live: the first checks both ends of its
// 1 MiB margin and covers the next; a stack within 1 MiB of the host's range
// is refused by that form and retranslated with the plain exact one (and
// runs); a push into the host's range is still a #PF.
TEST_F(Priv, KernelStackMarginCheckCoversPushesAndFallsBackNearTheHostRange) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): address checks are off on this host";
  const std::vector<uint8_t> code = {0x48, 0x83, 0xfa, 0x00, 0x50, 0x53, 0x0f, 0x94, 0xc2};  // cmp $0,%rdx; push %rax; push %rbx; setz %dl
  Regs w = initial_regs();
  EXPECT_DONE(m_->run_bt({0x48, 0x83, 0xc2, 0x01}, &w));  // the end stub's translation first
  Regs r = initial_regs();
  r.rax = 0x1111;
  r.rbx = 0x2222;
  const uint64_t e0 = counter("bt.kernel_checks_elided"), i0 = counter("bt.tc_invalidate");
  Exit e = m_->run_bt(code, &r);
  EXPECT_DONE(e);
  EXPECT_EQ(r.rdx & 0xff, 1u);
  EXPECT_EQ(r.rsp, kStackTop - 256 - 16);
  EXPECT_EQ(*reinterpret_cast<uint64_t*>(kStackTop - 256 - 16), 0x2222u);
  EXPECT_EQ(counter("bt.kernel_checks_elided") - e0, 1u) << "the second push is covered by the first's margin";
  EXPECT_EQ(counter("bt.tc_invalidate") - i0, 1u) << "only run_bt's own invalidation";
  // A kernel stack page right above the host's range (8 TiB): the margin's
  // low end lies in it, so each push is refused once and retranslated.
  ScratchPage page(*m_, VTB_HOST_RESERVED_KERNEL_HI);
  ASSERT_TRUE(page.ok);
  Regs k = initial_regs();
  k.rsp = VTB_HOST_RESERVED_KERNEL_HI + 0x800;
  k.rax = 0x3333;
  k.rbx = 0x4444;
  const uint64_t i1 = counter("bt.tc_invalidate"), f1 = counter("bt.kernel_isolation_faults");
  e = m_->run_bt(code, &k);
  EXPECT_DONE(e);
  EXPECT_EQ(*page.word(0x7f8), 0x3333u);
  EXPECT_EQ(*page.word(0x7f0), 0x4444u);
  EXPECT_EQ(k.rdx & 0xff, 1u);
  EXPECT_EQ(counter("bt.tc_invalidate") - i1, 3u) << "run_bt's invalidation and one exact retranslation per push";
  EXPECT_EQ(counter("bt.kernel_isolation_faults") - f1, 0u);
  // Pushes into the host's range below 8 TiB: #PF at the first push, nothing written.
  Regs h = initial_regs();
  h.rsp = VTB_HOST_RESERVED_KERNEL_HI + 0x8;
  e = m_->run_bt({0x48, 0x83, 0xfa, 0x00, 0x50, 0x53, 0x50, 0x0f, 0x94, 0xc2}, &h);  // ...; push %rax; push %rbx; push %rax; ...
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, VTB_HOST_RESERVED_KERNEL_HI - 8);
  EXPECT_EQ(e.rip, kCode + 5) << "the second push";
}

TEST_F(Priv, UserCodeCannotTouchTheHostRange) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  const uint64_t target = VTB_HOST_RESERVED_USER_LO + 0x90;  // AsmVcpu::exit_fn
  struct Case { const char* what; std::vector<uint8_t> code; uint32_t err; uint64_t rip_off; };
  const Case cases[] = {
      {"load, flags dead", {0x48, 0x8b, 0x03, 0x48, 0x83, 0xc2, 0x01}, 4, 0},                   // mov (%rbx),%rax; add $1,%rdx
      {"load, flags live", {0x48, 0x83, 0xfa, 0x00, 0x48, 0x8b, 0x03, 0x0f, 0x94, 0xc2}, 4, 4},  // cmp $0,%rdx; mov (%rbx),%rax; setz %dl
      {"indexed load", {0x48, 0x8b, 0x04, 0xcf}, 4, 0},                                          // mov (%rdi,%rcx,8),%rax
      {"store", {0x48, 0x89, 0x33, 0x48, 0x83, 0xc2, 0x01}, 6, 0},                               // mov %rsi,(%rbx); add $1,%rdx
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Regs r = user_regs();
    r.rbx = target;
    r.rdi = 0;
    r.rcx = target / 8;
    r.rsi = 0xdeadbeef;
    r.rdx = 0;
    ASSERT_NO_FATAL_FAILURE(expect_page_fault(m_->run_bt(c.code, &r), c.err, target, kCode + c.rip_off));
  }
  // The host still runs translated code normally (exit_fn untouched).
  Regs k = initial_regs();
  k.rflags = 0x3002;
  Exit e = m_->run_bt({0x48, 0x83, 0xc2, 0x01}, &k);  // add $1,%rdx
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  // A user page right below the host range (inside the quick form's 1 MiB
  // margin): refused by the quick form, retranslated exactly, then it runs.
  ScratchPage page(*m_, VTB_HOST_RESERVED_USER_LO - 0x1000);
  ASSERT_TRUE(page.ok);
  *page.word(0x10) = 0xabcdef;
  Regs u = user_regs();
  u.rbx = page.at + 0x10;
  e = m_->run_bt({0x48, 0x8b, 0x03, 0x48, 0x83, 0xc2, 0x01}, &u);  // mov (%rbx),%rax; add $1,%rdx
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(u.rax, 0xabcdefu);
}

// Translated kernel code is held to the window minus the host's ranges: a
// store to the vCPU block or into the kernel translation cache is a guest
// #PF (supervisor), the host goes on; kernel addresses next to the bounds
// still work (retranslated with the exact check).
TEST_F(Priv, KernelCodeCannotTouchTheHostRanges) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): address checks are off on this host";
  const uint64_t targets[] = {VTB_HOST_RESERVED_USER_LO + 0x90, VTB_HOST_RESERVED_KERNEL_LO + 0x1000};
  for (uint64_t target : targets) {
    struct Case { const char* what; std::vector<uint8_t> code; uint32_t err; uint64_t rip_off; };
    const Case cases[] = {
        {"store, flags dead", {0x48, 0x89, 0x33, 0x48, 0x83, 0xc2, 0x01}, 2, 0},                     // mov %rsi,(%rbx); add $1,%rdx
        {"load, flags live", {0x48, 0x83, 0xfa, 0x00, 0x48, 0x8b, 0x03, 0x0f, 0x94, 0xc2}, 0, 4},   // cmp $0,%rdx; mov (%rbx),%rax; setz %dl
        {"indexed store", {0x48, 0x89, 0x34, 0xcf}, 2, 0},                                           // mov %rsi,(%rdi,%rcx,8)
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << c.what << " at 0x" << std::hex << target);
      Regs r = initial_regs();
      r.rflags = 0x3002;
      r.rbx = target;
      r.rdi = 0;
      r.rcx = target / 8;
      r.rsi = 0xdeadbeef;
      ASSERT_NO_FATAL_FAILURE(expect_page_fault(m_->run_bt(c.code, &r), c.err, target, kCode + c.rip_off));
    }
  }
  // Kernel memory right above the host range (in the quick form's margin).
  Regs k = initial_regs();
  k.rflags = 0x3002;
  k.rbx = kKernelCode - 0x10;
  Exit e = m_->run_bt({0x48, 0x8b, 0x43, 0x10, 0x48, 0x83, 0xc2, 0x01}, &k);  // mov 0x10(%rbx),%rax; add $1,%rdx
  ASSERT_EQ(e.kind, ExitKind::PortIo) << e.message;
  EXPECT_EQ(k.rax, *reinterpret_cast<const uint64_t*>(kKernelCode));
  Counters c;
  m_->rt->stats(c);
  EXPECT_GE(c.get("bt.kernel_isolation_faults"), 6u);
}

// %fs:/%gs: operands and moffs were copied without a check: guest user code
// read guest-kernel memory (and could reach the host's vCPU block) that way.
TEST_F(Priv, UserFsOperandAndMoffsToKernelAddressArePageFaults) {
  if (!__builtin_cpu_supports("bmi2")) GTEST_SKIP() << "no BMI2 (pext): user-address checks are off on this host";
  // %fs base 0 (the guest's): mov %fs:(%rbx),%rax with rbx = a kernel address
  Regs r = user_regs();
  r.rbx = kKernelCode;
  r.rax = 0x55;
  Exit e = m_->run_bt({0x64, 0x48, 0x8b, 0x03}, &r);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 5, kKernelCode, kCode));
  EXPECT_EQ(r.rax, 0x55u);
  EXPECT_EQ(r.rbx, kKernelCode);  // the rewrite's scratch register is back
  // the same through moffs, with and without %fs: (movabs kKernelCode,%rax)
  for (bool fs : {false, true}) {
    SCOPED_TRACE(fs ? "fs moffs" : "moffs");
    std::vector<uint8_t> code;
    if (fs) code.push_back(0x64);
    code.push_back(0x48);
    code.push_back(0xa1);
    for (int i = 0; i < 8; ++i) code.push_back(uint8_t(kKernelCode >> (8 * i)));
    r = user_regs();
    r.rax = 0x55;
    r.rbx = 0x66;
    e = m_->run_bt(code, &r);
    ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 5, kKernelCode, kCode));
    EXPECT_EQ(r.rax, 0x55u);
    EXPECT_EQ(r.rbx, 0x66u);
  }
  // a string instruction with an %fs: source (emulated): lodsq %fs:(%rsi)
  r = user_regs();
  r.rsi = kKernelCode;
  r.rax = 0x55;
  e = m_->run_bt({0x64, 0x48, 0xad}, &r);
  ASSERT_NO_FATAL_FAILURE(expect_page_fault(e, 5, kKernelCode, kCode));
  EXPECT_EQ(r.rax, 0x55u);
  EXPECT_EQ(r.rsi, kKernelCode);
}

}  // namespace vtb::bt::test
