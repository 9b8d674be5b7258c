// tags: engines|kvm|tests — desc: the real tbk kernel + program archive on kvm through vtb::Vm (hello, forkwait).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/loader.h"
#include "common/vm.h"
#include "engines/kvm/kvm_engine.h"

namespace vtb {
namespace {

std::string env_or(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : dflt;
}

// The kernel and archive: $VTB_KERNEL_ELF / $VTB_ARCHIVE (the nested runner
// sets both inside its guest), else where the workloads build puts them.
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
    kernel_ = env_or("VTB_KERNEL_ELF", VTB_KVM_TEST_KERNEL);
    archive_ = env_or("VTB_ARCHIVE", VTB_KVM_TEST_ARCHIVE);
    if (access(kernel_.c_str(), R_OK) != 0 || access(archive_.c_str(), R_OK) != 0)
      GTEST_SKIP() << "guest kernel/archive not built (" << kernel_ << ", " << archive_
                   << "); set VTB_KERNEL_ELF and VTB_ARCHIVE";
  }

  RunResult run(const std::string& cmdline) {
    GuestImage img;
    std::vector<uint8_t> bytes;
    Status s = read_file(kernel_, &bytes);
    EXPECT_TRUE(s.is_ok()) << s.message();
    s = parse_elf(std::move(bytes), kernel_, &img.kernel);
    EXPECT_TRUE(s.is_ok()) << s.message();
    s = read_file(archive_, &img.archive);
    EXPECT_TRUE(s.is_ok()) << s.message();
    img.cmdline = cmdline;
    img.flavor = Flavor::Native;
    VmConfig cfg;
    cfg.limits.wall = std::chrono::seconds(std::strtoul(env_or("VTB_KVM_KERNEL_WALL_S", "120").c_str(), nullptr, 10));
    Status err;
    auto vm = Vm::create(cfg, make_kvm_engine(), &err);
    EXPECT_TRUE(vm) << err.message();
    if (!vm) return {};
    s = vm->load(img);
    EXPECT_TRUE(s.is_ok()) << s.message();
    if (!s) return {};
    RunResult r = vm->run();
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

}  // namespace
}  // namespace vtb
