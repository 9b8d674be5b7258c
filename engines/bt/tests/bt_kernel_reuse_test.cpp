// tags: engines|bt|tests — desc: tbk's fork and exec under bt and bt-softmmu: fork children run their parent's translations, exec'd programs adopt the blocks of the last run of the same program, every program runs its own code.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "common/tests/tbk_boot.h"
#include "engines/bt/bt_engine.h"

#ifndef VTB_BT_TEST_KERNEL
#define VTB_BT_TEST_KERNEL ""
#endif
#ifndef VTB_BT_TEST_ARCHIVE
#define VTB_BT_TEST_ARCHIVE ""
#endif

namespace vtb {
namespace {

size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

class BtKernelReuse : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string why;
    if (!test::find_tbk(VTB_BT_TEST_KERNEL, VTB_BT_TEST_ARCHIVE, &kernel_, &archive_, &why)) GTEST_SKIP() << why;
  }
  RunResult run(const std::string& cmdline) {
    RunResult r = test::run_tbk(GetParam() ? make_bt_softmmu_engine() : make_bt_engine(), kernel_, archive_, cmdline,
                                std::chrono::seconds(120));
    std::printf("[ %s ] %s: outcome %s exit %d, %llu blocks translated, %llu adopted, %llu set aside\n",
                GetParam() ? "bt-softmmu" : "bt", cmdline.c_str(), outcome_name(r.outcome), r.exit_code,
                (unsigned long long)r.counters.get("bt.blocks_translated"),
                (unsigned long long)r.counters.get("bt.tc_reused_blocks"),
                (unsigned long long)r.counters.get("bt.tc_set_aside"));
    return r;
  }
  std::string kernel_, archive_;
};

// buildlike N: N fork children (the compiler) and N/4 fork + exec of hello,
// both programs at the same addresses. Each job beyond the first few costs
// almost no translation (before: ~33 blocks per job, every child translated
// anew and every exit of hello dropped both programs' blocks at 0x400000),
// and every program ran its own code: the link value over all children's
// exit codes and hello's lines are the golden ones.
TEST_P(BtKernelReuse, BuildlikeForkAndExecReuseTranslations) {
  const RunResult a = run("buildlike 20");
  ASSERT_EQ(a.outcome, Outcome::Exited) << a.message << "\nconsole:\n" << a.console;
  EXPECT_EQ(a.exit_code, 0) << a.console;
  EXPECT_NE(a.console.find("buildlike: 20 jobs, link f4487e134e613952, 0 failures"), std::string::npos) << a.console;
  EXPECT_EQ(count_of(a.console, "hello from tbk: 1 argument(s)"), 5u) << a.console;
  EXPECT_NE(a.console.find("argv[1] = unit19.o"), std::string::npos) << a.console;
  const RunResult b = run("buildlike 60");
  ASSERT_EQ(b.outcome, Outcome::Exited) << b.message;
  EXPECT_NE(b.console.find("buildlike: 60 jobs"), std::string::npos) << b.console;
  EXPECT_NE(b.console.find(", 0 failures"), std::string::npos) << b.console;
  EXPECT_EQ(count_of(b.console, "hello from tbk: 1 argument(s)"), 15u);
  const uint64_t ta = a.counters.get("bt.blocks_translated"), tb = b.counters.get("bt.blocks_translated");
  ASSERT_GE(tb, ta);
  EXPECT_LT(tb - ta, 40u * 2) << "40 more jobs (10 more execs of hello): under 2 blocks translated per job";
  EXPECT_GT(b.counters.get("bt.tc_reused_blocks"), a.counters.get("bt.tc_reused_blocks"))
      << "hello's blocks adopted at each exec";
  EXPECT_GT(b.counters.get("bt.tc_set_aside"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, BtKernelReuse, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "softmmu" : "shadow"; });

}  // namespace
}  // namespace vtb
