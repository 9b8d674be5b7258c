// tags: workloads|lib|tests — desc: host-native builds of the guest programs speak the same console and control protocol.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

struct Out {
  int status;
  std::string console, ctrl;
};

Out run_native(const std::string& args) {
  char tmpl[] = "/tmp/tbk-native-XXXXXX";
  int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  std::string cmd = "VTB_CTRL_FD=9 " TBK_NATIVE_DIR "/" + args + " 9>" + std::string(tmpl);
  Out o{};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) o.console.append(buf, n);
  int st = p ? pclose(p) : -1;
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream f(tmpl);
  std::stringstream ss;
  ss << f.rdbuf();
  o.ctrl = ss.str();
  close(fd);
  unlink(tmpl);
  return o;
}

TEST(GuestProgramsNative, ForkwaitSpeaksTheControlProtocol) {
  Out o = run_native("forkwait 50");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.console, "forkwait: 50 forks, 0 failures\n");
  EXPECT_EQ(o.ctrl, "B 1\nE 1\nR iterations 50\n");
}

TEST(GuestProgramsNative, BadptrChildIsKilledByTheHostToo) {
  Out o = run_native("badptr");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.console, "badptr: child was killed by the kernel\n");
}

TEST(GuestProgramsNative, MemtouchAndSyscallLoop) {
  EXPECT_EQ(run_native("memtouch 300").console, "memtouch: 300 pages touched, sum 33630, munmap 0\n");
  EXPECT_EQ(run_native("syscall_loop 1000").console, "syscall_loop: 1000 getpid calls, 0 mismatches\n");
}

TEST(GuestProgramsNative, CtrlRecordsAreDiscardedWithoutTheVariable) {
  FILE* p = popen("env -u VTB_CTRL_FD " TBK_NATIVE_DIR "/hello x", "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(std::string(buf, n), "hello from tbk: 1 argument(s)\n  argv[1] = x\n");
}

}  // namespace
