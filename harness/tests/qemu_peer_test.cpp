// tags: harness|tests — desc: the kernel under QEMU TCG (reference machine): every manifest workload, forkwait 1000, badptr, limits.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include "harness/manifest.h"
#include "harness/tests/run_vtb.h"

namespace vtb::test {
namespace {

#define VTB_REQUIRE_QEMU()                                                   \
  do {                                                                       \
    VTB_REQUIRE_IMAGES();                                                    \
    std::string qemu_path;                                                   \
    if (Status s = harness_qemu_available(&qemu_path); !s) GTEST_SKIP() << s.message(); \
  } while (0)

Status harness_qemu_available(std::string* path) {
  for (const auto& r : list_runners())
    if (r.name == "qemu-tcg") return r.available;
  *path = "";
  return Status::unavailable("qemu-tcg peer not listed");
}

RunReport run_qemu(const std::string& workload, std::map<std::string, std::string> params = {}) {
  RunRequest req;
  req.engine = "qemu-tcg";
  req.workload = workload;
  req.params = std::move(params);
  return run_one(req);
}

std::string describe(const RunReport& r) {
  std::string s = "error: " + r.error_message + "\noutcome: " + outcome_name(r.result.outcome) + " " +
                  r.result.message + "\nexit code: " + std::to_string(r.result.exit_code) + "\nchecks:";
  for (const auto& c : r.check_failures) s += "\n  " + c;
  return s + "\nconsole:\n" + r.result.console;
}

class QemuWorkload : public ::testing::TestWithParam<std::string> {};

// Every workload of the manifest that runs on the reference machine runs to
// completion with the expected exit code and console (the manifest's checks).
TEST_P(QemuWorkload, RunsToCompletionWithExpectedConsole) {
  VTB_REQUIRE_QEMU();
  RunReport r = run_qemu(GetParam());
  ASSERT_EQ(r.error, ErrorKind::None) << describe(r);
  EXPECT_EQ(r.result.outcome, Outcome::Exited) << describe(r);
  EXPECT_TRUE(r.check_failures.empty()) << describe(r);
  EXPECT_EQ(r.engine_label, "qemu-tcg");
}

std::vector<std::string> qemu_workloads() {
  Manifest m;
  std::vector<std::string> names;
  if (load_manifest(default_manifest_path(), &m))
    for (const auto& w : m.workloads)
      if (w.has_flavor("native") && w.runs_on_peer("qemu-tcg")) names.push_back(w.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Manifest, QemuWorkload, ::testing::ValuesIn(qemu_workloads()),
                         [](const auto& info) { return info.param; });

TEST(QemuPeer, Forkwait1000CompletesWithTimedPhase) {
  VTB_REQUIRE_QEMU();
  RunReport r = run_qemu("forkwait", {{"n", "1000"}});
  ASSERT_EQ(r.error, ErrorKind::None) << describe(r);
  ASSERT_EQ(r.result.outcome, Outcome::Exited) << describe(r);
  EXPECT_EQ(r.result.exit_code, 0);
  EXPECT_EQ(r.command_line, "forkwait 1000 1");
  EXPECT_NE(r.result.console.find("forkwait: 1000 forks, 0 failures"), std::string::npos) << describe(r);
  ASSERT_EQ(r.result.phases.size(), 1u) << describe(r);
  EXPECT_EQ(r.result.phases[0].phase, 1);
  EXPECT_GT(r.result.phases[0].end_ns, r.result.phases[0].begin_ns);
  bool has_iter = false;
  for (const auto& [k, v] : r.result.records) has_iter |= k == "iterations" && v == "1000";
  EXPECT_TRUE(has_iter) << describe(r);
  EXPECT_EQ(cli_exit_code(r), kExitOk);
}

TEST(QemuPeer, BadptrIsKilledAndKernelSurvives) {
  VTB_REQUIRE_QEMU();
  RunReport r = run_qemu("badptr");
  ASSERT_EQ(r.error, ErrorKind::None) << describe(r);
  ASSERT_EQ(r.result.outcome, Outcome::Exited) << describe(r);
  // The parent ran after the child's fault: the kernel survived it.
  EXPECT_NE(r.result.console.find("badptr: child was killed by the kernel"), std::string::npos) << describe(r);
  EXPECT_EQ(r.result.console.find("isolation is broken"), std::string::npos) << describe(r);
  bool killed = false;
  for (const auto& [k, v] : r.result.records) killed |= k == "child_killed" && v == "1";
  EXPECT_TRUE(killed) << describe(r);
  EXPECT_EQ(r.result.exit_code, 0);
}

TEST(QemuPeer, RunawayGuestHitsTheLimit) {
  VTB_REQUIRE_QEMU();
  RunRequest req;
  req.engine = "qemu-tcg";
  req.workload = "syscall_loop";
  req.params = {{"n", "1000000000000"}};
  req.timeout = std::chrono::milliseconds(3000);
  RunReport r = run_one(req);
  ASSERT_EQ(r.error, ErrorKind::None) << describe(r);
  EXPECT_EQ(r.result.outcome, Outcome::LimitReached) << describe(r);
  EXPECT_EQ(cli_exit_code(r), kExitLimit);
  EXPECT_LT(r.result.wall_seconds, 20.0);  // killed, not waited for
}

TEST(QemuPeer, CliPrintsConsoleExitCodeAndPhases) {
  VTB_REQUIRE_QEMU();
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "syscall_loop", "--param", "n=1000"});
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  for (const char* want : {"syscall_loop: 1000 getpid calls, 0 mismatches", "exit code 0", "phase 1: ",
                           "record iterations: 1000", "checks: ok"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(R"("outcome":"exited","exit_code":0,"cli_exit":0)"), std::string::npos) << r.out;
}

// The pids of `pid`'s children (Linux /proc/<pid>/task/<pid>/children).
std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  for (pid_t c; f >> c;) out.push_back(c);
  return out;
}

// Gone, or a zombie that only waits for its new parent to reap it.
bool process_gone(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return true;
  const auto rp = line.rfind(')');
  return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z';
}

// Killing vtb (SIGKILL: no handler runs) during a qemu-tcg run takes QEMU
// with it: nothing is left running, reparented to init.
TEST(QemuPeer, QemuDiesWithVtb) {
  VTB_REQUIRE_QEMU();
  const pid_t vtb = fork();
  ASSERT_GE(vtb, 0);
  if (vtb == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(VTB_BIN, VTB_BIN, "run", "--engine", "qemu-tcg", "--workload", "compute", "--param", "n=1000000",
          "--timeout", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_t qemu = 0;
  for (int i = 0; i < 200 && !qemu; ++i) {  // up to 10 s for QEMU to start
    usleep(50000);
    for (pid_t c : children_of(vtb)) qemu = c;
  }
  kill(vtb, SIGKILL);
  waitpid(vtb, nullptr, 0);
  ASSERT_NE(qemu, 0) << "vtb never started QEMU";
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = process_gone(qemu);
    if (!gone) usleep(50000);
  }
  if (!gone) kill(qemu, SIGKILL);
  EXPECT_TRUE(gone) << "QEMU (pid " << qemu << ") outlived vtb";
}

}  // namespace
}  // namespace vtb::test
