// tags: workloads|kernel|tests — desc: tbk under QEMU TCG (the reference machine): every program, its console, exit code, control records.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common/abi/vtb_abi.h"

namespace {

struct Boot {
  int qemu_status = -1;  // QEMU's exit status: (guest code << 1) | 1
  std::string console, ctrl;
  int guest_code() const { return (qemu_status & 1) ? qemu_status >> 1 : -1; }
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool have_qemu() { return std::system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0; }

class TbkQemu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_qemu()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
    char tmpl[] = "/tmp/tbk-qemu-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/sercon0", std::ios::binary).write("\0\0", 2);
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf '" + dir_ + "'").c_str());
  }
  // via_loader: enter tbk through its 64-bit e_entry with a vtb_boot_info
  // (kernel/tests/loader_shim.S), as our engines do, instead of through PVH.
  Boot boot(const std::string& cmdline, bool via_loader = false, const char* mem = "64M") {
    const std::string image = via_loader ? std::string("-kernel " TBK_LOADER_SHIM
                                                       " -device loader,file=" TBK_KERNEL_ELF
                                                       ",addr=0x2000000,force-raw=on")
                                         : std::string("-kernel " TBK_KERNEL_ELF);
    // The documented command line (docs/kernel.md), bounded by a timeout.
    std::string cmd = "timeout 120 qemu-system-x86_64 -M pc -accel tcg -cpu max -m " + std::string(mem) + " -nodefaults -nographic "
                      "-no-reboot -serial stdio -monitor none -device isa-debug-exit,iobase=0xf4,iosize=4 "
                      "-debugcon file:" + dir_ + "/ctrl.txt -fw_cfg name=etc/sercon-port,file=" + dir_ +
                      "/sercon0 " + image + " -initrd " TBK_ARCHIVE " -append '" + cmdline +
                      "' </dev/null >" + dir_ + "/console.txt 2>" + dir_ + "/stderr.txt";
    Boot r;
    int st = std::system(cmd.c_str());
    r.qemu_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.console = slurp(dir_ + "/console.txt");
    r.ctrl = slurp(dir_ + "/ctrl.txt");
    return r;
  }
  std::string dir_;
};

TEST_F(TbkQemu, HelloPrintsAndExitsZero) {
  Boot r = boot("hello");
  EXPECT_EQ(r.console, "hello from tbk: 0 argument(s)\n");
  EXPECT_EQ(r.guest_code(), 0);
  EXPECT_EQ(r.ctrl, "R hello ok\n");
}

TEST_F(TbkQemu, EmptyCommandLineRunsHelloAndArgvArrives) {
  EXPECT_EQ(boot("").console, "hello from tbk: 0 argument(s)\n");
  Boot r = boot("run=hello one two");
  EXPECT_EQ(r.console, "hello from tbk: 2 argument(s)\n  argv[1] = one\n  argv[2] = two\n");
  EXPECT_EQ(r.guest_code(), 0);
}

TEST_F(TbkQemu, SyscallLoop) {
  Boot r = boot("syscall_loop 2000");
  EXPECT_EQ(r.console, "syscall_loop: 2000 getpid calls, 0 mismatches\n");
  EXPECT_EQ(r.guest_code(), 0);
  EXPECT_EQ(r.ctrl, "B 1\nE 1\nR iterations 2000\n");
}

TEST_F(TbkQemu, Forkwait1000) {
  Boot r = boot("forkwait 1000");
  EXPECT_EQ(r.console, "forkwait: 1000 forks, 0 failures\n");
  EXPECT_EQ(r.guest_code(), 0);
  EXPECT_EQ(r.ctrl, "B 1\nE 1\nR iterations 1000\n");
}

TEST_F(TbkQemu, ComputeMatchesHostNative) {
  Boot r = boot("compute 20");
  EXPECT_EQ(r.guest_code(), 0);
  FILE* p = popen(TBK_NATIVE_DIR "/compute 20", "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(r.console, std::string(buf, n));
  EXPECT_EQ(r.console.rfind("result ", 0), 0u) << r.console;
}

TEST_F(TbkQemu, MemtouchDemandPagesAndUnmaps) {
  Boot r = boot("memtouch 300");
  EXPECT_EQ(r.console, "memtouch: 300 pages touched, sum 33630, munmap 0\n");
  EXPECT_EQ(r.guest_code(), 0);
}

TEST_F(TbkQemu, BadPointerKillsTheChildNotTheKernel) {
  Boot r = boot("badptr");
  // one line from the kernel (the rip depends on the compiler), one from the parent
  const std::string killed = "tbk: pid 2 (badptr) killed: page fault at 0x80000100000 (rip 0x4";
  EXPECT_EQ(r.console.rfind(killed, 0), 0u) << r.console;
  EXPECT_NE(r.console.find(", error 0x5)\nbadptr: child was killed by the kernel\n"), std::string::npos) << r.console;
  EXPECT_EQ(r.guest_code(), 0);
  EXPECT_EQ(r.ctrl, "R child_killed 1\n");
}

TEST_F(TbkQemu, ContextSwitchThroughYield) {
  Boot r = boot("ctxswitch 500");
  EXPECT_EQ(r.console, "ctxswitch: 500 yields in each of 2 processes, child status 0\n");
  EXPECT_EQ(r.guest_code(), 0);
}

TEST_F(TbkQemu, TimerPreemptsASpinningProcess) {
  Boot r = boot("preempt");
  EXPECT_EQ(r.console, "preempt: parent ran while the child was spinning: yes\n");
  EXPECT_EQ(r.guest_code(), 0);
}

TEST_F(TbkQemu, UnknownProgramPanicsWithOneLine) {
  Boot r = boot("no_such_program");
  EXPECT_EQ(r.console, "tbk: no program 'no_such_program' in the archive\n"
                       "tbk: panic: cannot start program 'no_such_program' (error 22)\n");
  EXPECT_EQ(r.guest_code(), VTB_EXIT_PANIC);
}

TEST_F(TbkQemu, ExecReplacesTheImageAndPassesArgv) {
  Boot r = boot("spawn spawn hello x");
  EXPECT_EQ(r.console, "hello from tbk: 1 argument(s)\n  argv[1] = x\n"
                       "spawn: hello exited with status 0\nspawn: spawn exited with status 0\n");
  EXPECT_EQ(r.guest_code(), 0);
  Boot bad = boot("spawn nope");
  EXPECT_EQ(bad.console, "tbk: no program 'nope' in the archive\nspawn: exec nope failed (-22)\n"
                         "spawn: nope exited with status 127\n");
  EXPECT_EQ(bad.guest_code(), 1);
}

// The kvm_pvm compatibility path (a user `syscall` that faults is performed
// by the fault handler). sce=0 makes every syscall fault (#UD) on any machine.
TEST_F(TbkQemu, FaultingSyscallInstructionCompatPath) {
  Boot r = boot("sce=0 forkwait 20");
  EXPECT_EQ(r.console, "forkwait: 20 forks, 0 failures\n");
  EXPECT_EQ(r.guest_code(), 0);
  // ctrl B + 20 x (fork, child exit, wait) + ctrl E + ctrl R + write + exit = 65 syscalls
  EXPECT_EQ(r.ctrl, "B 1\nE 1\nR iterations 20\nR tbk.syscall_gp_compat 65\n");
  Boot plain = boot("forkwait 20");
  EXPECT_EQ(plain.ctrl, "B 1\nE 1\nR iterations 20\n");  // counter absent when unused
}

// The other kvm_pvm behaviour: `syscall` completes but stays at CPL3, so the
// fetch of the supervisor-only entry faults (#PF, U=1, CR2 = rip = LSTAR).
// sce=cpl3 makes every user syscall do exactly that on any machine (the #UD
// at the instruction is turned into the syscall's register effects plus a
// return to user mode at LSTAR; the #PF is the CPU's own).
TEST_F(TbkQemu, SyscallReachingLstarAtCpl3CompatPath) {
  Boot r = boot("sce=cpl3 forkwait 20");
  EXPECT_EQ(r.console, "forkwait: 20 forks, 0 failures\n");
  EXPECT_EQ(r.guest_code(), 0);
  EXPECT_EQ(r.ctrl, "B 1\nE 1\nR iterations 20\nR tbk.syscall_pf_compat 65\n");
  // exec and argv through the same path.
  Boot spawn = boot("sce=cpl3 spawn hello x");
  EXPECT_EQ(spawn.console, "hello from tbk: 1 argument(s)\n  argv[1] = x\nspawn: hello exited with status 0\n");
  EXPECT_EQ(spawn.guest_code(), 0);
}

// With -m 2G QEMU places the archive (-initrd) just below 2 GiB.
TEST_F(TbkQemu, ArchiveHighInLargeMemory) {
  Boot r = boot("forkwait 10", false, "2G");
  EXPECT_EQ(r.console, "forkwait: 10 forks, 0 failures\n");
  EXPECT_EQ(r.guest_code(), 0);
}

TEST_F(TbkQemu, LoaderEntryBootsWithVtbBootInfo) {
  Boot r = boot("forkwait 200", /*via_loader=*/true);
  EXPECT_EQ(r.console, "forkwait: 200 forks, 0 failures\n");
  EXPECT_EQ(r.guest_code(), 0);
  EXPECT_EQ(r.ctrl, "B 1\nE 1\nR iterations 200\n");
  Boot b = boot("badptr", true);
  EXPECT_NE(b.console.find("badptr: child was killed by the kernel\n"), std::string::npos) << b.console;
  EXPECT_EQ(b.guest_code(), 0);
}

}  // namespace
