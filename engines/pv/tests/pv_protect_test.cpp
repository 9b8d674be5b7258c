// tags: engines|pv|tests — desc: protection modes: choice and labels, pkeys transitions through a PKRU shim, pkeys on real hardware.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "engines/pv/pv_2as.h"
#include "engines/pv/pv_codescan.h"
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

// A port whose pkey_alloc succeeds (nothing else is called by the choice).
const PkruPort kShimAlloc{[] { return 1; }, [](int) {}, nullptr, nullptr, nullptr, nullptr};

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
  // Unforced: pkeys where the CPU has PKU (sound with the code inspection),
  // else 2as where the host has what it needs, else mprotect; named either way.
  std::string why;
  EXPECT_EQ(make_pv_engine()->caps().backend, PkeyGuard::available(&why)     ? "pv@pkeys"
                                              : PvUserSpace::available(&why) ? "pv@2as"
                                                                             : "pv@mprotect");
  if (!PkeyGuard::available(&why)) {  // 2as unavailable (no user-process binary): mprotect, still protected
    setenv("VTB_PV_USER_HOST", "/nonexistent/pv_user_host", 1);
    const Caps fb = make_pv_engine()->caps();
    unsetenv("VTB_PV_USER_HOST");
    EXPECT_EQ(fb.backend, "pv@mprotect");
    EXPECT_TRUE(fb.available) << fb.available.message();
  }
  {  // the shim stands for a CPU with PKU
    set_pkru_port(&kShimAlloc);
    EXPECT_EQ(make_pv_engine()->caps().backend, "pv@pkeys");
    set_pkru_port(nullptr);
  }
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
// tagged pages: PROT_NONE while denied, else each page's own protection as
// the engine last set it (pkey_mprotect: page-table and locked code frames
// are read-only in the direct map). Every value written is checked against
// the mode the vCPU is in at that moment: user mode => key 1
// access-disabled, kernel => enabled.
struct Shim {
  uint32_t pkru = 0x55555554;  // Linux's default: every key but 0 disabled
  std::map<uint64_t, int> page_prot;  // tagged page -> its protection while the key is enabled
  uint64_t protects = 0;
  uint64_t writes = 0, user_writes = 0, kernel_writes = 0, frame_writes = 0, frame_kernel = 0, violations = 0;
  bool applied_deny = false;
};
Shim* g_shim = nullptr;

// mprotect the tagged pages in runs: PROT_NONE, or each page's own protection.
void shim_mprotect_all(bool deny) {
  auto& pp = g_shim->page_prot;
  for (auto i = pp.begin(); i != pp.end();) {
    auto j = std::next(i);
    uint64_t n = 1;
    while (j != pp.end() && j->first == i->first + n * VTB_PAGE_SIZE && (deny || j->second == i->second)) ++j, ++n;
    mprotect(reinterpret_cast<void*>(i->first), n * VTB_PAGE_SIZE, deny ? PROT_NONE : i->second);
    i = j;
  }
}
void shim_apply(uint32_t pkru) {
  const bool deny = pkru & pkru_key_bits(1);
  if (deny == g_shim->applied_deny) return;
  g_shim->applied_deny = deny;
  shim_mprotect_all(deny);
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
      ++g_shim->protects;
      for (uint64_t a = va; a < va + len; a += VTB_PAGE_SIZE) g_shim->page_prot[a] = prot;
      if (g_shim->applied_deny) return 0;  // stays PROT_NONE until the key is enabled
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

// run(options forcing pv@pkeys) with the shim installed.
template <class Run>
auto with_shim(Shim* shim, Run run) {
  g_shim = shim;
  set_pkru_port(&kShim);
  PvOptions o;
  o.protect = PvProtect::Pkeys;
  auto result = run(o);
  set_pkru_port(nullptr);
  g_shim = nullptr;
  return result;
}

// Run the test guest's `scenario` in pv@pkeys through the shim.
bool run_shim(const char* scenario, Shim* shim, RunResult* r, std::string* skip) {
  return with_shim(shim, [&](const PvOptions& o) { return run_pv(PV_TEST_GUEST, scenario, {}, 20s, r, skip, o); });
}

TEST(PvProtect, PkeysTransitionsThroughAShim) {
  Shim shim;
  RunResult r;
  std::string skip;
  if (!run_shim("user", &shim, &r, &skip)) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  // The guarantee held: the user read of kernel memory faulted.
  EXPECT_NE(r.console.find("user killed: page fault at 0x0000080000100000"), std::string::npos) << r.console;
  EXPECT_EQ(shim.violations, 0u);
  // Kernel range tagged once (hypercall page + direct map), then only
  // page-table frames and the one locked code frame change: no protection
  // per transition.
  EXPECT_LT(shim.protects, 20u);
  // The user program's one code page: inspected once, clean, never written.
  EXPECT_EQ(r.counters.get("pv.pkeys.inspections"), 1u);
  EXPECT_EQ(r.counters.get("pv.pkeys.wx_flips"), 0u);
  EXPECT_EQ(r.counters.get("pv.pkeys.refused"), 0u);
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

// The byte patterns: WRPKRU, XRSTOR/XRSTOR64 with a memory operand, at any
// offset; LFENCE (0f ae e8, reg 5 but mod 3), XSAVE (0f ae /4), FXRSTOR
// (0f ae /1) and XRSTORS (0f c7 /3, privileged) are allowed.
TEST(PvProtect, CodeScanFindsWrpkruAndXrstorAtAnyOffset) {
  auto at = [](std::vector<uint8_t> b) { return find_pkru_seq(b.data(), b.size()); };
  EXPECT_EQ(at({0x0f, 0x01, 0xef}), 0);
  EXPECT_EQ(at({0xb8, 0x90, 0x0f, 0x01, 0xef}), 2);   // in an immediate
  EXPECT_EQ(at({0x90, 0x0f, 0xae, 0x2f}), 1);         // xrstor (%rdi)
  EXPECT_EQ(at({0x48, 0x0f, 0xae, 0x6c, 0x24, 0x08}), 1);  // xrstor64 8(%rsp)
  EXPECT_EQ(at({0x0f, 0xae, 0xa8, 0, 0, 0, 0}), 0);   // xrstor disp32(%rax)
  EXPECT_EQ(at({0x0f, 0xae, 0xe8}), -1);              // lfence
  EXPECT_EQ(at({0x0f, 0xae, 0x27}), -1);              // xsave (%rdi)
  EXPECT_EQ(at({0x0f, 0xae, 0x0f}), -1);              // fxrstor (%rdi)
  EXPECT_EQ(at({0x0f, 0xc7, 0x1f}), -1);              // xrstors (%rdi): privileged
  EXPECT_EQ(at({0x0f, 0x01, 0xee}), -1);              // rdpkru
  EXPECT_EQ(at({0x0f, 0x01}), -1);                    // cut off at the end: not here
  const uint8_t t1[2] = {0x90, 0x0f}, h1[2] = {0x01, 0xef};
  const uint8_t t2[2] = {0x0f, 0x01}, h2[2] = {0xef, 0x90};
  const uint8_t t3[2] = {0x0f, 0x01}, h3[2] = {0xee, 0x90};
  EXPECT_TRUE(pkru_seq_straddles(t1, h1));
  EXPECT_TRUE(pkru_seq_straddles(t2, h2));
  EXPECT_FALSE(pkru_seq_straddles(t3, h3));
  EXPECT_FALSE(pkru_seq_straddles(h1, t1));
}

// ---- ERIM-style inspection (pv_wx.cpp): no user page that holds a WRPKRU
// runs, wherever the bytes sit; the guest sees the fetch as a #PF (P|U|I/D)
// and its kernel kills the program before the WRPKRU or the kernel read.
struct Refusal {
  const char* scenario;
  const char* cr2;          // where the refused fetch faulted
  uint64_t inspections, syscalls;
};

class PkeysRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(PkeysRefuses, AUserPageHoldingWrpkruNeverRuns) {
  const Refusal& c = GetParam();
  Shim shim;
  RunResult r;
  std::string skip;
  if (!run_shim(c.scenario, &shim, &r, &skip)) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  const std::string want = std::string("user killed: page fault at ") + c.cr2 + " error 0x0000000000000015 syscalls " +
                           std::to_string(c.syscalls);
  EXPECT_NE(r.console.find(want), std::string::npos) << want << "\n" << r.console;
  EXPECT_EQ(r.console.find("0x0000080000100000"), std::string::npos) << r.console;  // the kernel read never ran
  EXPECT_EQ(r.counters.get("pv.pkeys.refused"), 1u);
  EXPECT_EQ(r.counters.get("pv.pkeys.inspections"), c.inspections);
  EXPECT_EQ(r.counters.get("fault.reflected.14"), 1u);
  EXPECT_EQ(shim.violations, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Pv, PkeysRefuses,
    ::testing::Values(Refusal{"wrpkru", "0x0000000000400000", 1, 0},      // aligned: the page never runs
                      Refusal{"wrpkru_imm", "0x0000000000400000", 1, 0},  // inside an immediate
                      // 0f at the first page's end, 01 ef at the second's start:
                      // each page alone is clean; whichever runs second is refused.
                      Refusal{"straddle_a", "0x0000000000401000", 2, 0},
                      Refusal{"straddle_b", "0x0000000000400fff", 2, 1}),
    [](const ::testing::TestParamInfo<Refusal>& i) { return std::string(i.param.scenario); });

// Self-modifying user code works under W^X: three rounds of patch-and-run
// (each a write fault that drops X, then a fetch fault that re-inspects),
// then a patched-in WRPKRU is refused.
TEST(PvProtect, PkeysSelfModifyingCodeFlipsWriteAndExecute) {
  Shim shim;
  RunResult r;
  std::string skip;
  if (!run_shim("smc", &shim, &r, &skip)) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("user rounds ok"), std::string::npos) << r.console;
  EXPECT_NE(r.console.find("error 0x0000000000000015 syscalls 4"), std::string::npos) << r.console;
  // First run: 1 inspection. Each round: a write (X -> W) and a fetch (W -> X,
  // inspected). The WRPKRU write: X -> W; its fetch: inspected, refused.
  EXPECT_EQ(r.counters.get("pv.pkeys.inspections"), 5u);
  EXPECT_EQ(r.counters.get("pv.pkeys.wx_flips"), 7u);
  EXPECT_EQ(r.counters.get("pv.pkeys.refused"), 1u);
  EXPECT_EQ(shim.violations, 0u);
}

// tbk's programs under W^X with inspection (through the shim): exec,
// fork's copy-on-write, the kernel's copies into user pages all keep
// working; every code page is inspected before it runs, none is refused.
struct TbkCase {
  const char* cmdline;
  uint64_t refused;  // pages refused (isolation: its two wrpkru probes)
};
class PkeysTbk : public ::testing::TestWithParam<TbkCase> {};

TEST_P(PkeysTbk, ProgramsRunInspected) {
  const TbkCase& c = GetParam();
  Shim shim;
  std::string skip = "unset";
  const RunResult r = with_shim(&shim, [&](const PvOptions& o) { return boot_tbk(c.cmdline, &skip, o); });
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  for (const char* k : {"pv.pkeys.inspections", "pv.pkeys.wx_flips", "pv.pkeys.refused", "pv.syscall_bounce"})
    std::printf("  %-24s %llu\n", k, (unsigned long long)r.counters.get(k));
  EXPECT_GT(r.counters.get("pv.pkeys.inspections"), 0u);
  EXPECT_EQ(r.counters.get("pv.pkeys.refused"), c.refused) << r.console;
  EXPECT_EQ(shim.violations, 0u);
  for (const auto& [probe, verdict] : r.records)  // isolation: every probe killed or guest-only
    EXPECT_NE(verdict, "broken") << probe << "\n" << r.console;
  if (c.refused) {
    EXPECT_NE(r.console.find("isolation: wrpkru_written: killed by vector 14"), std::string::npos) << r.console;
    EXPECT_NE(r.console.find("isolation: wrpkru_straddle: killed by vector 14"), std::string::npos) << r.console;
  }
}

INSTANTIATE_TEST_SUITE_P(Programs, PkeysTbk,
                         ::testing::Values(TbkCase{"hello", 0}, TbkCase{"syscall_loop 2000", 0},
                                           TbkCase{"forkwait 200", 0}, TbkCase{"memtouch 300", 0},
                                           TbkCase{"ctxswitch 500", 0}, TbkCase{"compute 20", 0},
                                           TbkCase{"preempt", 0}, TbkCase{"isolation", 2}),
                         [](const auto& info) {
                           std::string n;
                           for (const char* p = info.param.cmdline; *p && *p != ' '; ++p) n += *p;
                           return n;
                         });

// The guest kernel writes a WRPKRU into a running (locked) code frame
// through its direct map: the write unlocks the frame (a flip), and the
// user's next fetch re-inspects and refuses it.
TEST(PvProtect, PkeysKernelWriteIntoLockedCodeIsReinspected) {
  Shim shim;
  RunResult r;
  std::string skip;
  if (!run_shim("kpatch", &shim, &r, &skip)) GTEST_SKIP() << skip;
  ASSERT_EQ(r.outcome, Outcome::Exited) << r.message << "\n" << r.console;
  EXPECT_EQ(r.exit_code, 0) << r.console;
  EXPECT_NE(r.console.find("user killed: page fault at 0x000000000040000b error 0x0000000000000015 syscalls 1"),
            std::string::npos)
      << r.console;
  EXPECT_EQ(r.counters.get("pv.pkeys.inspections"), 2u);
  EXPECT_EQ(r.counters.get("pv.pkeys.wx_flips"), 1u);
  EXPECT_EQ(r.counters.get("pv.pkeys.refused"), 1u);
  EXPECT_EQ(shim.violations, 0u);
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
