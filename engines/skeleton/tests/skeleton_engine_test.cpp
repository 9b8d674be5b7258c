// tags: engines|skeleton|tests — desc: the template engine's tests: registered, caps with a reason, entry state from the loader, typed exits; the kernel test SKIPs while unavailable.
//
// A new engine keeps this shape: tests that hold on every host first, then
// tests that need the engine available, which SKIP with caps().available's
// reason otherwise (never pass silently).
#include <gtest/gtest.h>

#include "common/abi/vtb_abi.h"
#include "common/boot_state.h"
#include "common/interrupt_source.h"
#include "common/tests/tbk_boot.h"
#include "engines/registry.h"
#include "engines/skeleton/skeleton_engine.h"

#ifndef VTB_TEST_KERNEL
#define VTB_TEST_KERNEL ""
#endif
#ifndef VTB_TEST_ARCHIVE
#define VTB_TEST_ARCHIVE ""
#endif

namespace vtb {
namespace {

constexpr const char* kName = "skeleton";

TEST(Skeleton, IsRegisteredWithATechnique) {
  const EngineInfo* info = find_engine(kName);
  ASSERT_NE(info, nullptr) << "no VTB_REGISTER line for " << kName << " in engines/registry.cpp";
  EXPECT_FALSE(info->technique.empty());
  auto e = info->make();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name(), kName);
}

TEST(Skeleton, CapsNameABackendAndAReason) {
  const Caps c = make_skeleton_engine()->caps();
  EXPECT_EQ(c.flavor, Flavor::Native);
  EXPECT_FALSE(c.backend.empty());
  EXPECT_FALSE(c.counts_instructions);
  if (!c.available) {
    EXPECT_EQ(c.available.kind(), ErrorKind::Unavailable);
    EXPECT_FALSE(c.available.message().empty()) << "an unavailable engine must say why";
  }
}

TEST(Skeleton, IsUnavailableByDefault) {
  const Caps c = make_skeleton_engine()->caps();
  EXPECT_FALSE(c.available);
  EXPECT_NE(c.available.message().find("template"), std::string::npos) << c.available.message();
}

TEST(Skeleton, TheVmRefusesToLoadAnUnavailableEngine) {
  VmConfig cfg;
  cfg.mem_mib = 16;
  Status err;
  auto vm = Vm::create(cfg, make_skeleton_engine(), &err);
  ASSERT_TRUE(vm) << err.message();
  GuestImage img;  // never reaches the loader
  const Status s = vm->load(img);
  EXPECT_EQ(s.kind(), ErrorKind::Unavailable) << s.message();
  EXPECT_EQ(vm->run().outcome, Outcome::EngineError);
}

// The engine's own calls, without the Vm: load() starts from the shared entry
// state; run() answers with a typed exit, before and after load().
class SkeletonDirect : public ::testing::Test {
 protected:
  void SetUp() override {
    Status s;
    mem_ = GuestMemory::create(16 << 20, &s);
    ASSERT_TRUE(mem_) << s.message();
    boot_.entry = VTB_KERNEL_VBASE + VTB_KERNEL_PHYS_LOAD;
    boot_.boot_info_gpa = VTB_BOOTINFO_GPA;
    boot_.loader_cr3 = VTB_LOADER_PT_GPA;
    boot_.loader_gdt_gpa = VTB_LOADER_GDT_GPA;
  }
  NoInterrupts irq_;
  std::unique_ptr<GuestMemory> mem_;
  BootImage boot_;
};

TEST_F(SkeletonDirect, LoadStartsFromTheEntryState) {
  auto e = make_skeleton_engine();
  ASSERT_TRUE(e->load(boot_, *mem_, irq_));
  const Regs r = e->regs(), want = boot_entry_regs(boot_);
  EXPECT_EQ(r.rip, want.rip);
  EXPECT_EQ(r.rdi, want.rdi);
  EXPECT_EQ(r.rsp, want.rsp);
  EXPECT_EQ(r.cr3, want.cr3);
  EXPECT_EQ(r.efer, want.efer);
  EXPECT_EQ(r.cs.attrib, want.cs.attrib);
  Regs w = r;
  w.rbx = 0x1234;
  e->set_regs(w);
  EXPECT_EQ(e->regs().rbx, 0x1234u);
}

TEST_F(SkeletonDirect, RunAnswersWithATypedExit) {
  auto e = make_skeleton_engine();
  EXPECT_EQ(e->run(RunLimits{0, std::chrono::milliseconds(10)}).kind, ExitKind::EngineError);
  ASSERT_TRUE(e->load(boot_, *mem_, irq_));
  const Exit x = e->run(RunLimits{0, std::chrono::milliseconds(10)});
  EXPECT_EQ(x.kind, ExitKind::EngineError);
  EXPECT_FALSE(x.message.empty());
  boot_.flavor = Flavor::Pv;
  EXPECT_EQ(make_skeleton_engine()->load(boot_, *mem_, irq_).kind(), ErrorKind::BadInput);
}

// The real kernel: runs once the engine is available, SKIPs with its reason until then.
TEST(SkeletonKernel, HelloExitsZero) {
  auto e = make_skeleton_engine();
  if (const Caps c = e->caps(); !c.available) GTEST_SKIP() << c.available.message();
  std::string kernel, archive, why;
  if (!test::find_tbk(VTB_TEST_KERNEL, VTB_TEST_ARCHIVE, &kernel, &archive, &why)) GTEST_SKIP() << why;
  const RunResult r = test::run_tbk(std::move(e), kernel, archive, "hello", std::chrono::seconds(60));
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("hello from tbk"), std::string::npos) << r.console;
  EXPECT_GE(r.counters.get("exit.port_io"), 1u);  // the manifest's unscoped check for hello
}

}  // namespace
}  // namespace vtb
