// tags: engines|kvm|tests — desc: backend detection and the /dev/kvm probe (run on every host).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/counters.h"
#include "engines/kvm/kvm_backend.h"
#include "engines/kvm/kvm_engine.h"
#include "engines/kvm/kvm_uapi.h"
#include "engines/kvm/tests/tiny_guest.h"

namespace vtb::kvm {
namespace {

std::string make_sysfs(std::initializer_list<const char*> modules) {
  char tmpl[] = "/tmp/vtb-kvm-sysfs.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  for (const char* m : modules) mkdir((dir + "/" + m).c_str(), 0755);
  return dir;
}

TEST(KvmBackend, HardwareModulesMeanPlainKvm) {
  EXPECT_EQ(detect_backend(make_sysfs({"kvm", "kvm_intel"}), nullptr), "kvm");
  EXPECT_EQ(detect_backend(make_sysfs({"kvm", "kvm_amd"}), nullptr), "kvm");
}

TEST(KvmBackend, PvmModuleIsLabelled) {
  EXPECT_EQ(detect_backend(make_sysfs({"kvm", "kvm_pvm"}), nullptr), "kvm@pvm");
}

TEST(KvmBackend, NestedRunnerOverridesModules) {
  // Inside the nested runner kvm_amd is loaded, but the CPU is QEMU TCG.
  EXPECT_EQ(detect_backend(make_sysfs({"kvm", "kvm_amd"}), "nested-tcg"), "kvm@nested-tcg");
  EXPECT_EQ(detect_backend(make_sysfs({"kvm_pvm"}), ""), "kvm@pvm");  // empty value = unset
}

TEST(KvmBackend, MissingDeviceIsUnavailableWithReason) {
  const Status s = probe_dev_kvm("/nonexistent/kvm");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.kind(), ErrorKind::Unavailable);
  EXPECT_NE(s.message().find("no /nonexistent/kvm on this host"), std::string::npos) << s.message();
}

TEST(KvmBackend, NotADeviceIsUnavailable) {
  const Status s = probe_dev_kvm("/dev/null");  // opens, but KVM_GET_API_VERSION fails
  EXPECT_EQ(s.kind(), ErrorKind::Unavailable) << s.message();
}

TEST(KvmUapi, IoctlNumbersMatchTheCAbi) {
  // The values a C compiler computes from <linux/kvm.h> (C++ gets the struct sizes wrong).
  EXPECT_EQ(uapi::kGetSupportedCpuid, 0xc008ae05ul);
  EXPECT_EQ(uapi::kSetCpuid2, 0x4008ae90ul);
  EXPECT_EQ(uapi::kGetMsrs, 0xc008ae88ul);
  EXPECT_EQ(uapi::kSetMsrs, 0x4008ae89ul);
}

TEST(KvmEngine, CapsNameTheBackendAndDevice) {
  auto e = make_kvm_engine();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name(), "kvm");
  const Caps c = e->caps();
  EXPECT_TRUE(c.needs_dev_kvm);
  EXPECT_EQ(c.flavor, Flavor::Native);
  EXPECT_EQ(c.backend.rfind("kvm", 0), 0u) << c.backend;
  EXPECT_EQ(c.available.is_ok(), probe_dev_kvm(dev_kvm_path()).is_ok());
}

TEST(KvmEngine, LoadWithoutDeviceFailsCleanly) {
  setenv("VTB_KVM_DEV", "/nonexistent/kvm", 1);
  auto e = make_kvm_engine();
  EXPECT_FALSE(e->caps().available.is_ok());
  testing::TinyGuest g;
  ASSERT_TRUE(g.build(testing::spin()).is_ok());
  testing::NoIrq irq;
  const Status s = e->load(g.boot, *g.mem, irq);
  unsetenv("VTB_KVM_DEV");
  EXPECT_EQ(s.kind(), ErrorKind::Unavailable) << s.message();
  // run() without a VM is a typed error, not a crash.
  const Exit x = e->run(RunLimits{0, std::chrono::milliseconds(10)});
  EXPECT_EQ(x.kind, ExitKind::EngineError);
  Counters c;
  e->stats(c);
  EXPECT_TRUE(c.all().empty());
}

}  // namespace
}  // namespace vtb::kvm
