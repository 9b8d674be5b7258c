// tags: engines|kvm|tests — desc: the real tbk kernel + program archive on kvm through vtb::Vm (hello, forkwait).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/tests/tbk_boot.h"
#include "engines/kvm/kvm_engine.h"

namespace vtb {
namespace {

using test::env_or;

#ifndef VTB_KVM_TEST_KERNEL
#define VTB_KVM_TEST_KERNEL ""
#endif
#ifndef VTB_KVM_TEST_ARCHIVE
#define VTB_KVM_TEST_ARCHIVE ""
#endif
class KvmKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    const Caps c = make_kvm_engine()->caps();
    if (!c.available) GTEST_SKIP() << c.available.message();
    backend_ = c.backend;
    std::string why;
    if (!test::find_tbk(VTB_KVM_TEST_KERNEL, VTB_KVM_TEST_ARCHIVE, &kernel_, &archive_, &why)) GTEST_SKIP() << why;
  }

  RunResult run(const std::string& cmdline, bool quiet = false) {
    const auto wall = std::chrono::seconds(std::strtoul(env_or("VTB_KVM_KERNEL_WALL_S", "120").c_str(), nullptr, 10));
    RunResult r = test::run_tbk(make_kvm_engine(), kernel_, archive_, cmdline, wall);
    if (quiet) return r;
    std::printf("[ kvm ] %s: backend %s outcome %s exit %d wall %.3f s\n", cmdline.c_str(), backend_.c_str(),
                outcome_name(r.outcome), r.exit_code, r.wall_seconds);
    for (const auto& [k, v] : r.counters.all())
      if (k.rfind("exit.", 0) == 0 || k == "kvm.exits" || k == "kvm.io_exits" || k == "kvm.halt_exits" ||
          k == "kvm.user.irq_injected" || k == "timer.ticks")
        std::printf("[ kvm ]   %s = %llu\n", k.c_str(), static_cast<unsigned long long>(v));
    return r;
  }

  std::string backend_, kernel_, archive_;
};

TEST_F(KvmKernel, HelloExitsZero) {
  // Command lines as the harness renders them from workloads/manifest.
  const RunResult r = run("hello");
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("hello from tbk"), std::string::npos) << r.console;
  EXPECT_GT(r.counters.get("exit.port_io"), 0u);
  EXPECT_GT(r.counters.get("kvm.exits"), 0u);
}

TEST_F(KvmKernel, Forkwait1000ExitsZero) {
  const RunResult r = run("forkwait 1000");
  EXPECT_EQ(r.outcome, Outcome::Exited) << r.message << "\nconsole:\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("forkwait: 1000 forks, 0 failures"), std::string::npos) << r.console;
  EXPECT_GT(r.counters.get("kvm.exits"), 0u);
}

// N `out` in the kernel's micro loop give exactly N more exit.port_io: the
// rest of the run (console, markers, records) is the same fixed overhead for
// N = 300 and N = 500 (same digit count). With the in-kernel irqchip, so that
// the PIC EOIs of a varying number of timer ticks stay out of the count.
TEST_F(KvmKernel, KernelOutLoopAddsExactlyNPortExits) {
  const char* prev = std::getenv("VTB_KVM_IRQCHIP");
  const std::string saved = prev ? prev : "";
  setenv("VTB_KVM_IRQCHIP", "kernel", 1);
  const RunResult a = run("micro_kernel out 300", true);
  const RunResult b = run("micro_kernel out 500", true);
  if (prev) setenv("VTB_KVM_IRQCHIP", saved.c_str(), 1); else unsetenv("VTB_KVM_IRQCHIP");
  ASSERT_EQ(a.outcome, Outcome::Exited) << a.message << a.console;
  ASSERT_EQ(b.outcome, Outcome::Exited) << b.message << b.console;
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(b.exit_code, 0);
  EXPECT_EQ(b.counters.get("exit.port_io") - a.counters.get("exit.port_io"), 200u)
      << "n=300: " << a.counters.get("exit.port_io") << ", n=500: " << b.counters.get("exit.port_io");
  std::printf("[ kvm ] micro_kernel out: fixed overhead %llu port exits (n=300 -> %llu)\n",
              static_cast<unsigned long long>(a.counters.get("exit.port_io") - 300),
              static_cast<unsigned long long>(a.counters.get("exit.port_io")));
}

// The kernel's hlt loop with the common PIT/PIC: one Halt exit per hlt.
TEST_F(KvmKernel, KernelHaltLoopGivesOneHaltExitPerHlt) {
  const char* chip = std::getenv("VTB_KVM_IRQCHIP");
  if (chip && std::strcmp(chip, "kernel") == 0) GTEST_SKIP() << "hlt never exits with the in-kernel irqchip";
  const RunResult r = run("micro_kernel hlt 5");
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << r.console;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.counters.get("exit.halt"), 5u);
  EXPECT_EQ(r.counters.get("kvm.halt_exits"), 5u);
  EXPECT_GE(r.counters.get("kvm.user.irq_injected"), 5u);
}

}  // namespace
}  // namespace vtb
