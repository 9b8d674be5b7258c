// tags: engines|pv|tests — desc: protection modes: choice and labels, pkeys transitions through a PKRU shim, pkeys on real hardware.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "engines/pv/pv_cpu.h"
#include "engines/pv/pv_pkru.h"
#include "engines/pv/tests/pv_test_util.h"

namespace vtb::pv::test {
namespace {

using namespace std::chrono_literals;

TEST(PvProtect, NamesRoundTrip) {
  for (PvProtect m : {PvProtect::Pkeys, PvProtect::TwoAs, PvProtect::Mprotect, PvProtect::Off}) {
    PvProtect back = PvProtect::Off;
    ASSERT_TRUE(parse_pv_protect(pv_protect_name(m), &back)) << pv_protect_name(m);
    EXPECT_EQ(back, m);
  }
  PvProtect x;
  EXPECT_FALSE(parse_pv_protect("pkey", &x));
  EXPECT_FALSE(parse_pv_protect("", &x));
}

struct EnvGuard {
  ~EnvGuard() {
    unsetenv("VTB_PV_PROTECT");
    unsetenv("VTB_PV_UNPROTECTED");
  }
};

TEST(PvProtect, EnvironmentChoosesTheModeAndTheLabel) {
  EnvGuard g;
  setenv("VTB_PV_PROTECT", "mprotect", 1);
  EXPECT_EQ(make_pv_engine()->caps().backend, "pv@mprotect");
  setenv("VTB_PV_PROTECT", "off", 1);
  EXPECT_EQ(make_pv_engine()->caps().backend, "pv@off");
  unsetenv("VTB_PV_PROTECT");
  setenv("VTB_PV_UNPROTECTED", "1", 1);  // the old spelling of off
  EXPECT_EQ(make_pv_engine()->caps().backend, "pv@off");
  unsetenv("VTB_PV_UNPROTECTED");
  // Unforced: mprotect, the fastest mode sound against any user code
  // (pkeys is not: WRPKRU is unprivileged), named.
  EXPECT_EQ(make_pv_engine()->caps().backend, "pv@mprotect");
  setenv("VTB_PV_PROTECT", "bogus", 1);
  const Caps c = make_pv_engine()->caps();
  EXPECT_FALSE(c.available);
  EXPECT_NE(c.available.message().find("VTB_PV_PROTECT='bogus'"), std::string::npos) << c.available.message();
}

TEST(PvProtect, ForcedUnavailableModeIsAOneLineReason) {
  PvOptions o;
  o.protect = PvProtect::TwoAs;
  setenv("VTB_PV_USER_HOST", "/nonexistent/pv_user_host", 1);  // 2as without its user-process binary
  Caps c = make_pv_engine(o)->caps();
  unsetenv("VTB_PV_USER_HOST");
  EXPECT_FALSE(c.available);
  EXPECT_EQ(c.backend, "pv@2as");
  EXPECT_NE(c.available.message().find("2as"), std::string::npos);
  EXPECT_NE(c.available.message().find("/nonexistent/pv_user_host"), std::string::npos) << c.available.message();
  EXPECT_EQ(c.available.message().find('\n'), std::string::npos);
  EXPECT_TRUE(make_pv_engine(o)->caps().available) << make_pv_engine(o)->caps().available.message();
  std::string why;
  if (PkeyGuard::available(&why)) return;  // PKU here: pkeys is available
  o.protect = PvProtect::Pkeys;
  c = make_pv_engine(o)->caps();
  EXPECT_FALSE(c.available);
  EXPECT_NE(c.available.message().find("pkey_alloc"), std::string::npos) << c.available.message();
  EXPECT_EQ(c.available.message().find('\n'), std::string::npos);
}

// The signal-frame writer on a synthetic xsave image (the Linux layout:
// _fpx_sw_bytes at 464, xsave header at 512; PKRU at 2688 on Intel).
TEST(PvProtect, PkruGoesIntoTheSignalFrameOnlyWhenItHoldsPkru) {
  std::vector<uint8_t> fx(4096, 0);
  auto put32 = [&](size_t at, uint32_t v) { std::memcpy(&fx[at], &v, 4); };
  auto put64 = [&](size_t at, uint64_t v) { std::memcpy(&fx[at], &v, 8); };
  auto get32 = [&](size_t at) { uint32_t v; std::memcpy(&v, &fx[at], 4); return v; };
  auto get64 = [&](size_t at) { uint64_t v; std::memcpy(&v, &fx[at], 8); return v; };
  put32(464, 0x46505853U);        // magic1
  put64(464 + 8, 0x2e7);          // xfeatures: x87 SSE AVX ... PKRU (bit 9)
  put32(464 + 16, 2696);          // xstate_size
  put64(512, 0x7);                // XSTATE_BV without PKRU
  EXPECT_TRUE(write_pkru_in_xsave(fx.data(), 2688, 0x5555555c));
  EXPECT_EQ(get32(2688), 0x5555555cu);
  EXPECT_EQ(get64(512), 0x7u | (1u << 9));
  put32(2688, 0);
  EXPECT_FALSE(write_pkru_in_xsave(fx.data(), 0, 1));  // no PKRU component on this CPU
  put64(464 + 8, 0x7);                                   // the frame holds no PKRU
  EXPECT_FALSE(write_pkru_in_xsave(fx.data(), 2688, 1));
  put64(464 + 8, 0x2e7);
  put32(464 + 16, 2000);                                 // too small for it
  EXPECT_FALSE(write_pkru_in_xsave(fx.data(), 2688, 1));
  put32(464 + 16, 2696);
  put32(464, 0);                                         // not an xsave image
  EXPECT_FALSE(write_pkru_in_xsave(fx.data(), 2688, 1));
  EXPECT_EQ(get32(2688), 0u);
}

// ---- pkeys through a shim: the CPU here may have no PKU. The shim plays the
// hardware: key 1, PKRU a variable, and (so that the guest test below sees
// the guarantee) an access-disabled key is emulated with mprotect of the
// tagged ranges. Every value written is checked against the mode the vCPU is
// in at that moment: user mode => key 1 access-disabled, kernel => enabled.
struct Shim {
  uint32_t pkru = 0x55555554;  // Linux's default: every key but 0 disabled
  std::vector<std::pair<uint64_t, uint64_t>> tagged;
  std::vector<int> prots;
  uint64_t writes = 0, user_writes = 0, kernel_writes = 0, frame_writes = 0, frame_kernel = 0, violations = 0;
  bool applied_deny = false;
};
Shim* g_shim = nullptr;

void shim_apply(uint32_t pkru) {
  const bool deny = pkru & pkru_key_bits(1);
  if (deny == g_shim->applied_deny) return;
  g_shim->applied_deny = deny;
  for (size_t i = 0; i < g_shim->tagged.size(); ++i)
    mprotect(reinterpret_cast<void*>(g_shim->tagged[i].first), g_shim->tagged[i].second, deny ? PROT_NONE : g_shim->prots[i]);
}
bool shim_matches_mode(uint32_t pkru) {
  const bool user = vtb_pv_cpu.mode == Mode::User;
  return (pkru == (user ? vtb_pv_cpu.pkru_user : vtb_pv_cpu.pkru_kernel)) && (((pkru & pkru_key_bits(1)) != 0) == user);
}
const PkruPort kShim{
    [] { return 1; },
    [](int) {},
    [](uint64_t va, uint64_t len, int prot, int key) {
      if (key != 1) return -22;
      g_shim->tagged.emplace_back(va, len);
      g_shim->prots.push_back(prot);
      return mprotect(reinterpret_cast<void*>(va), len, prot) == 0 ? 0 : -22;
    },
    [] { return g_shim->pkru; },
    [](uint32_t v) {
      ++g_shim->writes;
      ++((v & pkru_key_bits(1)) ? g_shim->user_writes : g_shim->kernel_writes);
      if (!shim_matches_mode(v)) ++g_shim->violations;
      g_shim->pkru = v;
      shim_apply(v);
    },
    [](void*, uint32_t v) {
      ++g_shim->frame_writes;
      if (!(v & pkru_key_bits(1))) ++g_shim->frame_kernel;
      if (!shim_matches_mode(v)) ++g_shim->violations;
      g_shim->pkru = v;
      shim_apply(v);
    },
};

TEST(PvProtect, PkeysTransitionsThroughAShim) {
  Shim shim;
  g_shim = &shim;
  set_pkru_port(&kShim);
  PvOptions o;
  o.protect = PvProtect::Pkeys;
  RunResult r;
  std::string skip;
  const bool ran = run_pv(PV_TEST_GUEST, "user", {}, 20s, &r, &skip, o);
  set_pkru_port(nullptr);
  g_shim = nullptr;
  if (!ran) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  // The guarantee held: the user read of kernel memory faulted.
  EXPECT_NE(r.console.find("user killed: page fault at 0x0000080000100000"), std::string::npos) << r.console;
  EXPECT_EQ(shim.violations, 0u);
  // Kernel range tagged once (hypercall page + direct map); no mprotect per transition.
  EXPECT_EQ(shim.tagged.size(), 2u);
  const uint64_t bounces = r.counters.get("pv.syscall_bounce");
  EXPECT_EQ(bounces, 101u);
  EXPECT_LT(r.counters.get("pv.kernel_protect_ops"), 20u);
  // One write per transition: to user on each return, to kernel on each entry.
  EXPECT_GE(shim.user_writes, bounces);
  EXPECT_GE(r.counters.get("pv.pkru_writes"), 2 * bounces);
  EXPECT_LE(r.counters.get("pv.pkru_writes"), 2 * bounces + 20);
  // A bounced syscall served in the signal handler puts the kernel's PKRU
  // into the frame (the kernel gives a handler its default PKRU).
  EXPECT_GE(shim.frame_kernel, bounces);
}

// The real instructions: needs PKU (an Intel Xeon machine kind has it).
TEST(PvProtect, PkeysOnHardwareKeepsKernelMemoryFromUser) {
  std::string why;
  if (!PkeyGuard::available(&why)) GTEST_SKIP() << "no protection keys: " << why;
  PvOptions o;
  o.protect = PvProtect::Pkeys;
  RunResult r;
  std::string skip;
  if (!run_pv(PV_TEST_GUEST, "user", {}, 20s, &r, &skip, o)) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("user killed: page fault at 0x0000080000100000"), std::string::npos) << r.console;
  EXPECT_GE(r.counters.get("pv.pkru_writes"), 2 * r.counters.get("pv.syscall_bounce"));
  EXPECT_LT(r.counters.get("pv.kernel_protect_ops"), 20u);
}

}  // namespace
}  // namespace vtb::pv::test
