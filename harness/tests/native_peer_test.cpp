// tags: harness|tests — desc: the host-native peer: every manifest workload, same compute result as QEMU, limits.
#include <gtest/gtest.h>
#include <unistd.h>

#include "harness/manifest.h"
#include "harness/tests/run_vtb.h"

namespace vtb::test {
namespace {

#define VTB_REQUIRE_NATIVE()                                                 \
  do {                                                                       \
    for (const auto& ri : list_runners())                                    \
      if (ri.name == "native" && !ri.available) GTEST_SKIP() << ri.available.message(); \
  } while (0)

std::string describe(const RunReport& r) {
  std::string s = "error: " + r.error_message + "\noutcome: " + outcome_name(r.result.outcome) + " " +
                  r.result.message + "\nexit code: " + std::to_string(r.result.exit_code) + "\nchecks:";
  for (const auto& c : r.check_failures) s += "\n  " + c;
  return s + "\nconsole:\n" + r.result.console;
}

RunReport run_on(const std::string& engine, const std::string& workload, std::map<std::string, std::string> params = {}) {
  RunRequest req;
  req.engine = engine;
  req.workload = workload;
  req.params = std::move(params);
  return run_one(req);
}

std::string result_line(const std::string& console) {
  size_t p = console.find("result ");
  if (p == std::string::npos) return "";
  size_t e = console.find('\n', p);
  std::string l = console.substr(p, e == std::string::npos ? std::string::npos : e - p);
  if (!l.empty() && l.back() == '\r') l.pop_back();
  return l;
}

class NativeWorkload : public ::testing::TestWithParam<std::string> {};

TEST_P(NativeWorkload, RunsToCompletion) {
  VTB_REQUIRE_NATIVE();
  RunReport r = run_on("native", GetParam());
  ASSERT_EQ(r.error, ErrorKind::None) << describe(r);
  EXPECT_EQ(r.result.outcome, Outcome::Exited) << describe(r);
  EXPECT_TRUE(r.check_failures.empty()) << describe(r);
}

std::vector<std::string> native_workloads() {
  Manifest m;
  std::vector<std::string> names;
  if (load_manifest(default_manifest_path(), &m))
    for (const auto& w : m.workloads)
      if (w.runs_on_peer("native")) names.push_back(w.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Manifest, NativeWorkload, ::testing::ValuesIn(native_workloads()),
                         [](const auto& info) { return info.param; });

TEST(NativePeer, ControlRecordsArriveThroughTheFd) {
  VTB_REQUIRE_NATIVE();
  RunReport r = run_on("native", "forkwait", {{"n", "50"}});
  ASSERT_EQ(r.error, ErrorKind::None) << describe(r);
  ASSERT_EQ(r.result.phases.size(), 1u) << describe(r);
  EXPECT_GT(r.result.phases[0].end_ns, r.result.phases[0].begin_ns);
  ASSERT_FALSE(r.result.records.empty());
  EXPECT_EQ(r.result.records[0].first, "iterations");
  EXPECT_EQ(r.result.records[0].second, "50");
  EXPECT_EQ(r.command_line, "forkwait 50 1");
}

TEST(NativePeer, ComputePrintsTheSameResultAsQemu) {
  VTB_REQUIRE_NATIVE();
  VTB_REQUIRE_IMAGES();
  for (const auto& ri : list_runners())
    if (ri.name == "qemu-tcg" && !ri.available) GTEST_SKIP() << ri.available.message();
  RunReport n = run_on("native", "compute");
  RunReport q = run_on("qemu-tcg", "compute");
  ASSERT_EQ(n.error, ErrorKind::None) << describe(n);
  ASSERT_EQ(q.error, ErrorKind::None) << describe(q);
  std::string ln = result_line(n.result.console), lq = result_line(q.result.console);
  ASSERT_FALSE(ln.empty()) << describe(n);
  EXPECT_EQ(ln, lq) << describe(q);
}

TEST(NativePeer, RunawayProgramHitsTheLimit) {
  VTB_REQUIRE_NATIVE();
  RunRequest req;
  req.engine = "native";
  req.workload = "syscall_loop";
  req.params = {{"n", "100000000000000"}};
  req.timeout = std::chrono::milliseconds(1000);
  RunReport r = run_one(req);
  ASSERT_EQ(r.error, ErrorKind::None) << describe(r);
  EXPECT_EQ(r.result.outcome, Outcome::LimitReached) << describe(r);
  EXPECT_EQ(cli_exit_code(r), kExitLimit);
}

TEST(NativePeer, MissingProgramDirIsUnavailable) {
  RunRequest req;
  req.engine = "native";
  req.workload = "hello";
  req.native_dir = "/nonexistent/native";
  RunReport r = run_one(req);
  EXPECT_EQ(r.error, ErrorKind::Unavailable);
  EXPECT_EQ(cli_exit_code(r), kExitUnavailable);
}

}  // namespace
}  // namespace vtb::test
