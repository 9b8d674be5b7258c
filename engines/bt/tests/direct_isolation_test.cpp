// tags: engines|bt|tests — desc: bt-direct isolation: directly executed guest user code sees only guest FS/GS bases, finds no host value in the vCPU block, cannot change what the host trusts, jumps out of its memory as guest #PF, and int $0x80/sysenter/syscall gadgets never reach the host kernel.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "common/counters.h"
#include "common/sud.h"
#include "engines/bt/layout.h"
#include "engines/bt/tests/snippet.h"

namespace vtb::bt::test {
namespace {

thread_local uint64_t t_host_marker = 0x5a5a5a5a12345678ULL;  // read through the host's FS base

// CPL 3, IF on: the dispatcher runs it directly.
Regs direct_user_regs() {
  Regs r = initial_regs();
  r.cs.selector = 0x33;
  r.ss.selector = 0x2b;
  r.rflags = 0x202;
  return r;
}

// One runtime per process: user code (CPL 3) runs directly, kernel code is
// translated; exceptions go through the guest IDT when the test gives one,
// else (IDT limit 0) they end the run as GuestFault.
class BtDirect : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!sud_inclusive_available(nullptr)) return;
    RuntimeOptions opt;
    opt.direct_user = true;
    opt.reflect_exceptions = true;
    m_ = new Machine(opt);
  }
  static void TearDownTestSuite() {
    delete m_;
    m_ = nullptr;
  }
  void SetUp() override {
    std::string why;
    if (!sud_inclusive_available(&why)) GTEST_SKIP() << why;
    ASSERT_TRUE(m_->ok()) << m_->error;
    memset(m_->data(), 0, 0x10000);
  }
  static Regs user() { return direct_user_regs(); }
  static Regs kernel() {
    Regs r = initial_regs();
    r.rflags = 0x3002;
    return r;
  }
  // Directly executed user code reached the terminator's `out` (host #GP).
  static void expect_done(const Exit& e) {
    ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
    EXPECT_EQ(e.vector, 13) << e.message;
    EXPECT_EQ(e.rip, kEndStub) << e.message;
  }
  static void expect_fetch_fault(const Exit& e, uint64_t lo, uint64_t hi) {
    ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
    EXPECT_EQ(e.vector, 14) << e.message;
    EXPECT_EQ(e.error_code & 0x14, 0x14u) << "user instruction fetch: " << e.message;
    EXPECT_GE(e.fault_addr, lo);
    EXPECT_LT(e.fault_addr, hi);
    EXPECT_EQ(e.rip, e.fault_addr);
  }
  // Translated kernel code still enters and leaves normally (exit_fn,
  // host_sp, the lookup tables): an indirect jump, then the terminator.
  static void expect_host_intact() {
    Regs k = kernel();
    // lea 2(%rip),%rax; jmp *%rax; 1:
    const Exit e = m_->run_bt({0x48, 0x8d, 0x05, 0x02, 0x00, 0x00, 0x00, 0xff, 0xe0}, &k);
    ASSERT_TRUE(e.kind == ExitKind::PortIo && e.port == 0xf4) << e.message;
    EXPECT_EQ(t_host_marker, 0x5a5a5a5a12345678ULL) << "host TLS through FS";
  }
  static uint64_t counter(const char* name) {
    Counters c;
    m_->rt->stats(c);
    return c.get(name);
  }
  static Machine* m_;
};
Machine* BtDirect::m_ = nullptr;

TEST_F(BtDirect, FsGsAccessesAndBasesAreTheGuests) {
  uint64_t* d = reinterpret_cast<uint64_t*>(m_->data());
  d[0] = 0x1122334455667788ULL;
  Regs r = user();
  r.fs.base = kData;
  r.gs.base = kData + 0x100;
  // mov %fs:0,%rax; rdfsbase %rbx; rdgsbase %rcx
  Exit e = m_->run_bt({0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0xf3, 0x48, 0x0f, 0xae, 0xc3, 0xf3, 0x48, 0x0f, 0xae,
                       0xc9},
                      &r);
  ASSERT_NO_FATAL_FAILURE(expect_done(e));
  EXPECT_EQ(r.rax, 0x1122334455667788ULL);
  EXPECT_EQ(r.rbx, kData);
  EXPECT_EQ(r.rcx, kData + 0x100);
  if (counter("bt.fsgs_isolation") == 0) GTEST_SKIP() << "no FSGSBASE: the host's bases stay visible (bt.fsgs_isolation 0)";
  // Base 0 (the guest's at boot): %fs:0x28 is the guest's address 0x28, not the host's stack canary.
  r = user();
  e = m_->run_bt({0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0}, &r);  // mov %fs:0x28,%rax
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 14);
  EXPECT_EQ(e.fault_addr, 0x28u);
  EXPECT_EQ(e.rip, kCode);
  // wrfsbase/wrgsbase change the guest's bases only, and they stay the guest's.
  r = user();
  r.rax = 0x1000;
  r.rdx = 0x2000;
  e = m_->run_bt({0xf3, 0x48, 0x0f, 0xae, 0xd0, 0xf3, 0x48, 0x0f, 0xae, 0xda}, &r);  // wrfsbase %rax; wrgsbase %rdx
  ASSERT_NO_FATAL_FAILURE(expect_done(e));
  EXPECT_EQ(r.fs.base, 0x1000u);
  EXPECT_EQ(r.gs.base, 0x2000u);
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
  e = m_->run_bt({0xf3, 0x48, 0x0f, 0xae, 0xc3, 0xf3, 0x48, 0x0f, 0xae, 0xc9}, &r);  // rdfsbase %rbx; rdgsbase %rcx
  ASSERT_NO_FATAL_FAILURE(expect_done(e));
  EXPECT_EQ(r.rbx, 0x1000u);
  EXPECT_EQ(r.rcx, 0x2000u);
  // A selector load (the host's user data segment) sets the guest's FS base to 0.
  r = user();
  r.fs.base = kData;
  e = m_->run_bt({0xb8, 0x2b, 0, 0, 0, 0x8e, 0xe0}, &r);  // mov $0x2b,%eax; mov %eax,%fs
  ASSERT_NO_FATAL_FAILURE(expect_done(e));
  EXPECT_EQ(r.fs.base, 0u);
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
}

// A jump out of the guest's memory is the guest's #PF at the target (or, into
// a translation cache it may run a little before a signal catches it: a #PF
// at an address in that cache), never a host crash.
TEST_F(BtDirect, JumpsOutOfItsMemoryArePageFaults) {
  const uint64_t precise[] = {1, 0x8000, 0x7fff00000000ULL, kGlobalBase, kGlobalBase + 0x200000,
                              VTB_KERNEL_VBASE + 0x200000};
  for (uint64_t target : precise) {
    SCOPED_TRACE(::testing::Message() << "jmp 0x" << std::hex << target);
    Regs r = user();
    r.rax = target;
    ASSERT_NO_FATAL_FAILURE(expect_fetch_fault(m_->run_bt({0xff, 0xe0}, &r), target, target + 1));  // jmp *%rax
  }
  // Something translated in the kernel cache first.
  Regs k = kernel();
  ASSERT_TRUE(m_->run_bt({0x48, 0x83, 0xc2, 0x01}, &k, kKernelCode).kind == ExitKind::PortIo);
  const uint64_t caches[][2] = {{kUserTcBase, kUserTcBase + kTcSize}, {kKernelTcBase, kKernelTcBase + kTcSize}};
  for (const auto& c : caches) {
    SCOPED_TRACE(::testing::Message() << "jmp into the cache at 0x" << std::hex << c[0]);
    Regs r = user();
    r.rax = c[0];
    ASSERT_NO_FATAL_FAILURE(expect_fetch_fault(m_->run_bt({0xff, 0xe0}, &r), c[0], c[1]));
  }
  // The guest kernel returning to a user rip in the host's range: the same #PF, no jump.
  Regs r = user();
  r.rip = kUserTcBase;
  m_->rt->set_regs(r);
  RunLimits lim;
  lim.wall = std::chrono::seconds(5);
  ASSERT_NO_FATAL_FAILURE(expect_fetch_fault(m_->rt->run(lim), kUserTcBase, kUserTcBase + 1));
  EXPECT_GE(counter("bt.direct_outside"), 9u);
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
}

// The vCPU block is within reach of directly executed user code: it holds no
// host value then, and what the guest writes there does not steer the host.
TEST_F(BtDirect, VcpuBlockHoldsNoHostValueAndTheHostIgnoresWhatIsWrittenThere) {
  Regs r = user();
  // mov host_sp,%rax; mov exit_fn,%rbx; mov fault_rec,%rcx; mov host_mxcsr,%edx
  Exit e = m_->run_bt({0x48, 0x8b, 0x04, 0x25, 0x88, 0x00, 0x00, 0x40, 0x48, 0x8b, 0x1c, 0x25, 0x90, 0x00, 0x00, 0x40,
                       0x48, 0x8b, 0x0c, 0x25, 0xd0, 0x00, 0x00, 0x40, 0x8b, 0x14, 0x25, 0x04, 0x02, 0x00, 0x40},
                      &r);
  ASSERT_NO_FATAL_FAILURE(expect_done(e));
  EXPECT_EQ(r.rax, 0u) << "host stack pointer";
  EXPECT_EQ(r.rbx, 0u) << "host code pointer";
  EXPECT_EQ(r.rcx, 0u) << "host data pointer";
  EXPECT_EQ(r.rdx, 0u) << "host MXCSR";
  // Overwrite host_sp, exit_fn, fault_rec, host MXCSR (all bits), the virtual IF and a check bound.
  r = user();
  r.rsi = 0x4141414141414141ULL;
  e = m_->run_bt({0x48, 0x89, 0x34, 0x25, 0x88, 0x00, 0x00, 0x40,                          // mov %rsi,host_sp
                  0x48, 0x89, 0x34, 0x25, 0x90, 0x00, 0x00, 0x40,                          // mov %rsi,exit_fn
                  0x48, 0x89, 0x34, 0x25, 0xd0, 0x00, 0x00, 0x40,                          // mov %rsi,fault_rec
                  0xc7, 0x04, 0x25, 0x04, 0x02, 0x00, 0x40, 0xff, 0xff, 0xff, 0xff,        // movl $-1,host_mxcsr
                  0x48, 0xc7, 0x04, 0x25, 0x08, 0x02, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,  // movq $0,vif
                  0x48, 0x89, 0x34, 0x25, 0x20, 0x03, 0x00, 0x40},                         // mov %rsi,khalf_lo
                 &r);
  ASSERT_NO_FATAL_FAILURE(expect_done(e));
  EXPECT_NE(r.rflags & 0x200, 0u) << "the virtual IF is the host's to keep";
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
  // The lookup tables and the user translation cache are read-only to it.
  for (uint64_t target : {kNegTagTable, kTcAddrTable + 8, kUserTcBase}) {
    SCOPED_TRACE(::testing::Message() << "store to 0x" << std::hex << target);
    r = user();
    r.rbx = target;
    e = m_->run_bt({0x48, 0x89, 0x33}, &r);  // mov %rsi,(%rbx)
    ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
    EXPECT_EQ(e.vector, 14);
    EXPECT_EQ(e.error_code & 6, 6u) << "user write";
    EXPECT_EQ(e.fault_addr, target);
    EXPECT_EQ(e.rip, kCode);
  }
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
}

// The translation caches lie at fixed addresses and hold arbitrary bytes: a
// jump to a `syscall` (0f 05) inside a translated instruction must not be a
// host system call (Syscall User Dispatch covers the whole window).
TEST_F(BtDirect, SyscallBytesInTheKernelCacheDoNotReachTheHostKernel) {
  Regs k = kernel();
  ASSERT_TRUE(m_->run_bt({0xb8, 0x0f, 0x05, 0x00, 0x00}, &k, kKernelCode).kind == ExitKind::PortIo);  // mov $0x50f,%eax
  const uint8_t* tc = reinterpret_cast<const uint8_t*>(kKernelTcBase);
  uint64_t gadget = 0;
  for (size_t i = 0; i + 1 < 0x10000 && !gadget; ++i)
    if (tc[i] == 0x0f && tc[i + 1] == 0x05) gadget = kKernelTcBase + i;
  ASSERT_NE(gadget, 0u) << "no 0f 05 in the kernel cache";
  const int fd = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  Regs r = user();
  r.rax = 3;  // close(fd), if it ran on the host
  r.rdi = uint64_t(fd);
  r.rbx = gadget;
  const Exit e = m_->run_bt({0xff, 0xe3}, &r);  // jmp *%rbx
  EXPECT_NE(fcntl(fd, F_GETFD), -1) << "the host closed the descriptor: a host system call ran";
  close(fd);
  ASSERT_NO_FATAL_FAILURE(expect_fetch_fault(e, kKernelTcBase, kKernelTcBase + kTcSize));
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
}

// A user `popf` may set AC (and NT): the signal handler must not run host
// code with them (Linux clears only DF/RF/TF for a handler, and its CR0.AM is
// on: the host took #AC at its first misaligned access and died; found by
// `vtb fuzz`). The guest's own misaligned access is its #AC.
TEST_F(BtDirect, GuestAlignmentCheckFlagStaysWithTheGuest) {
  Regs r = user();
  // pushfq; orq $0x44000,(%rsp); popfq; mov 1(%rsp),%rax
  const Exit e = m_->run_bt({0x9c, 0x48, 0x81, 0x0c, 0x24, 0x00, 0x40, 0x04, 0x00, 0x9d, 0x48, 0x8b, 0x44, 0x24, 0x01}, &r);
  ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
  EXPECT_EQ(e.vector, 17) << e.message;
  EXPECT_EQ(e.rip, kCode + 10);
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
}

// A guest IDT: #UD, #GP, #PF and vector 0x80 go to kernel handlers that report
// (vector in rcx, the frame's rip in rbx, #GP's error code in rax) with `out`.
struct Idt {
  static constexpr uint64_t kIdt = kData + 0x8000, kTss = kData + 0x9000, kHandlers = kCode + 0x800;
  explicit Idt(int dpl80) {
    gate(6, 0);
    gate(13, 0);
    gate(14, 0);
    gate(0x80, dpl80);
    const uint64_t rsp0 = kStackTop - 0x100;
    memcpy(reinterpret_cast<void*>(kTss + 4), &rsp0, 8);
  }
  static void gate(int v, int dpl) {
    const uint64_t h = kHandlers + uint64_t(v) * 0x10;
    // #GP and #PF pop their error code into rax; every handler: mov (%rsp),%rbx; mov $v,%ecx; out %eax,$0xf4
    std::vector<uint8_t> code;
    if (v == 13 || v == 14) code.push_back(0x58);
    const uint8_t body[] = {0x48, 0x8b, 0x1c, 0x24, 0xb9, uint8_t(v), 0, 0, 0, 0xe7, 0xf4};
    code.insert(code.end(), body, body + sizeof body);
    memcpy(reinterpret_cast<void*>(h), code.data(), code.size());
    const uint64_t lo = (h & 0xffff) | (0x08ULL << 16) | (uint64_t(0x8e | (dpl << 5)) << 40) | (((h >> 16) & 0xffff) << 48);
    const uint64_t hi = h >> 32;
    memcpy(reinterpret_cast<void*>(kIdt + uint64_t(v) * 16), &lo, 8);
    memcpy(reinterpret_cast<void*>(kIdt + uint64_t(v) * 16 + 8), &hi, 8);
  }
  static Regs regs() {
    Regs r = direct_user_regs();
    r.idt_base = kIdt;
    r.idt_limit = 0xfff;
    r.tr.base = kTss;
    r.tr.limit = 0x67;
    return r;
  }
};

// On a host with IA-32 emulation `int $0x80` is a host system call, which
// Syscall User Dispatch hands over like `syscall`: it must be what the
// guest's gate 0x80 makes of it (the #GP of a gate the guest did not open,
// on the instruction), never a guest system call; `sysenter` is #UD.
TEST_F(BtDirect, Int80AndSysenterAreWhatTheGuestIdtSays) {
  m_->rt->invalidate_range(kCode, 0x10000);
  {
    const Idt idt(0);
    Regs r = Idt::regs();
    const Exit e = m_->run_bt({0xb8, 0x14, 0, 0, 0, 0xcd, 0x80}, &r);  // mov $20,%eax; int $0x80
    ASSERT_TRUE(e.kind == ExitKind::PortIo && e.port == 0xf4) << e.message;
    EXPECT_EQ(r.rcx, 13u) << "#GP";
    EXPECT_EQ(r.rax, 0x80u * 8 + 2) << "error code: IDT entry 0x80";
    EXPECT_EQ(r.rbx, kCode + 5) << "on the int instruction";
  }
  {
    const Idt idt(3);
    Regs r = Idt::regs();
    const Exit e = m_->run_bt({0xb8, 0x14, 0, 0, 0, 0xcd, 0x80}, &r);
    ASSERT_TRUE(e.kind == ExitKind::PortIo && e.port == 0xf4) << e.message;
    EXPECT_EQ(r.rcx, 0x80u) << "the guest's gate 0x80";
    EXPECT_EQ(r.rbx, kCode + 7) << "after the int instruction";
  }
  {
    // A software interrupt through a kernel-only gate is an ordinary #GP,
    // also for an exception vector (never #DF).
    const Idt idt(3);
    Regs r = Idt::regs();
    const Exit e = m_->run_bt({0xcd, 0x0e}, &r);  // int $14
    ASSERT_TRUE(e.kind == ExitKind::PortIo && e.port == 0xf4) << e.message;
    EXPECT_EQ(r.rcx, 13u) << "#GP";
    EXPECT_EQ(r.rax, 14u * 8 + 2);
    EXPECT_EQ(r.rbx, kCode);
  }
  {
    const Idt idt(3);
    Regs r = Idt::regs();
    const Exit e = m_->run_bt({0x0f, 0x34}, &r);  // sysenter
    ASSERT_TRUE(e.kind == ExitKind::PortIo && e.port == 0xf4) << e.message;
    EXPECT_EQ(r.rcx, 6u) << "#UD";
    EXPECT_EQ(r.rbx, kCode);
  }
  EXPECT_EQ(counter("bt.direct_syscalls"), 0u);
  ASSERT_NO_FATAL_FAILURE(expect_host_intact());
}

}  // namespace
}  // namespace vtb::bt::test
