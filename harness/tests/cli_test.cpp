// tags: harness|tests — desc: the vtb CLI on bad input: documented exit codes, one clear line on stderr, no crash.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/json.h"
#include "harness/tests/run_vtb.h"

namespace vtb::test {
namespace {

// One line on stderr, "vtb: ...", containing `needle`.
void expect_one_line(const VtbRun& r, const std::string& needle) {
  EXPECT_EQ(r.signal, 0) << "vtb crashed with signal " << r.signal;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.rfind("vtb: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err << "want: " << needle;
}

std::string temp_file(const std::string& name, const std::string& data) {
  std::string p = ::testing::TempDir() + "/vtb_cli_" + std::to_string(getpid()) + "_" + name;
  std::ofstream(p, std::ios::binary) << data;
  return p;
}

std::string read_prefix(const std::string& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  std::string s(n, '\0');
  f.read(s.data(), std::streamsize(n));
  s.resize(size_t(f.gcount()));
  return s;
}

TEST(Cli, NoArgumentsIsUsage) {
  VtbRun r = run_vtb({});
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_NE(r.err.find("usage: vtb"), std::string::npos);
}

TEST(Cli, HelpExitsZero) {
  VtbRun r = run_vtb({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("exit codes"), std::string::npos);
}

TEST(Cli, UnknownCommand) {
  VtbRun r = run_vtb({"frob"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "unknown command 'frob'");
}

TEST(Cli, GnuStyleShortOptionsAndVersion) {
  VtbRun r = run_vtb({"--version"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("vtb ", 0), 0u) << r.out;
  // --opt=value and -e/-w spell the same request as --engine E --workload W.
  r = run_vtb({"run", "--engine=foo", "-w", "hello"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "unknown engine 'foo'");
  r = run_vtb({"run", "-e", "native", "--workload=nosuch"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "unknown workload 'nosuch'");
  // Help is generated from the option definitions: every option is named.
  r = run_vtb({"run", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* opt : {"-e,--engine", "-w,--workload", "--param", "--all-counters", "--vms", "--timeout"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt << "\n" << r.out;
  r = run_vtb({"compare", "bt"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "compare: B is required");
  r = run_vtb({"compare", "bt", "pv/micro_syscall"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "bad cell 'bt'");
}

TEST(Cli, RunShowsNonZeroCountersUnlessAskedForAll) {
  // Counter lines of the whole-run list ("  name   value") whose value is 0.
  auto zero_lines = [](const std::string& out) {
    size_t n = 0;
    std::istringstream in(out.substr(out.find("counters (whole run")));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line) && line.rfind("  ", 0) == 0) n += line.substr(line.find_last_of(' ') + 1) == "0";
    return n;
  };
  VtbRun r = run_vtb({"run", "-e", "bt", "-w", "hello", "--quiet"});
  if (r.code == kExitUnavailable) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(zero_lines(r.out), 0u) << r.out;
  EXPECT_NE(r.out.find("--all-counters for all"), std::string::npos) << r.out;
  VtbRun all = run_vtb({"run", "-e", "bt", "-w", "hello", "--quiet", "--all-counters"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_GT(zero_lines(all.out), 0u) << all.out;
}

TEST(Cli, EngineOptionsAreValidatedAndLabelTheRun) {
  VtbRun r = run_vtb({"run", "-e", "pv:protect=maybe", "-w", "hello"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "option protect of engine pv: bad value 'maybe' (2as, mprotect, off, pkeys)");
  r = run_vtb({"run", "-e", "pv:nosuch=1", "-w", "hello"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "engine pv has no option 'nosuch' (known: protect)");
  r = run_vtb({"list"});
  EXPECT_NE(r.out.find("option protect=2as|mprotect|off|pkeys (default 2as)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("n=1000 reps=1"), std::string::npos) << r.out;  // forkwait's parameters
  r = run_vtb({"run", "-e", "pv:protect=off", "-w", "micro_syscall", "-p", "n=200", "--json"});
  if (r.code == kExitUnavailable) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(R"("engine":"pv:protect=off")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"(:protect=off","technique")"), std::string::npos) << r.out;  // the backend label too
  // Unprotected: no protection switch in the measured phase, one bounce per system call.
  Json j;
  std::string err;
  ASSERT_TRUE(parse_json(r.out, &j, &err)) << err;
  const Json& phase = j["phases"][0]["counters"];
  EXPECT_FALSE(phase.contains("pv.kernel_protect_ops")) << phase;
  EXPECT_GE(json_u64(json_at(phase, "pv.syscall_bounce")), 200u) << phase;
  // pv@2as: guest user code in the second host process, labelled; each
  // system call is a handoff to it and back.
  r = run_vtb({"run", "-e", "pv:protect=2as", "-w", "micro_syscall", "-p", "n=200", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(R"(:protect=2as","technique")"), std::string::npos) << r.out;
  ASSERT_TRUE(parse_json(r.out, &j, &err)) << err;
  const Json& p2 = j["phases"][0]["counters"];
  EXPECT_FALSE(p2.contains("pv.kernel_protect_ops")) << p2;
  EXPECT_GE(json_u64(json_at(p2, "pv.2as.handoffs")), 200u) << p2;
}

// A binary finds its data next to itself (<prefix>/share/vtb), not where the
// build was configured: a copied install reads its own manifest.
TEST(Cli, FindsItsDataNextToTheBinary) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(::testing::TempDir()) / ("vtb_prefix_" + std::to_string(getpid()));
  fs::create_directories(root / "bin");
  fs::create_directories(root / "share/vtb");
  fs::copy_file(VTB_BIN, root / "bin/vtb", fs::copy_options::overwrite_existing);
  std::ofstream(root / "share/vtb/manifest") << "[only_here]\nprogram = hello\nflavors = native\n";
  VtbRun r = run_vtb({"list", "--json"}, {}, 60, (root / "bin/vtb").string());
  ASSERT_EQ(r.code, 0) << r.err;
  Json j;
  std::string err;
  ASSERT_TRUE(parse_json(r.out, &j, &err)) << err;
  EXPECT_EQ(json_string(j["manifest"]), (root / "share/vtb/manifest").string());
  ASSERT_EQ(j["workloads"].size(), 1u) << r.out;
  EXPECT_EQ(json_string(j["workloads"][0]["name"]), "only_here");
  // The environment still wins.
  r = run_vtb({"list", "--json"}, {"VTB_MANIFEST=/nonexistent/manifest"}, 60, (root / "bin/vtb").string());
  EXPECT_NE(r.out.find("/nonexistent/manifest"), std::string::npos) << r.out;
  fs::remove_all(root);
}

TEST(Cli, UnknownEngine) {
  VtbRun r = run_vtb({"run", "--engine", "foo", "--workload", "hello"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "unknown engine 'foo' (known: ");
  EXPECT_NE(r.err.find("qemu-tcg, native"), std::string::npos) << r.err;
}

TEST(Cli, UnknownWorkload) {
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "nosuch"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "unknown workload 'nosuch' (known: hello");
}

TEST(Cli, MissingRequiredOptions) {
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "--engine and --workload are required");
  r = run_vtb({"run", "--engine"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "needs a value");
  r = run_vtb({"run", "--bogus"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "unknown option '--bogus'");
}

TEST(Cli, BadParam) {
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "forkwait", "--param", "nokv"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "bad --param 'nokv'");
  r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "forkwait", "--param", "zz=1"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "has no parameter 'zz' (known: n, reps)");
  r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "forkwait", "--param", "n=lots"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "wants a non-negative integer");
}

TEST(Cli, BadTimeoutAndMem) {
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--timeout", "-1"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "bad --timeout");
  r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--mem", "1x"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "bad --mem");
}

TEST(Cli, MissingKernelFile) {
  for (const char* engine : {"qemu-tcg"}) {
    VtbRun r = run_vtb({"run", "--engine", engine, "--workload", "hello", "--kernel", "/nonexistent/tbk.elf"});
    EXPECT_EQ(r.code, kExitBadInput) << engine;
    expect_one_line(r, "/nonexistent/tbk.elf");
  }
}

TEST(Cli, CorruptElf) {
  std::string p = temp_file("corrupt.elf", std::string(4096, '\x5a'));
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--kernel", p});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, p);
  unlink(p.c_str());
}

TEST(Cli, TruncatedElf) {
  // A real ELF64 x86-64 executable (this test binary), cut after its header.
  std::string head = read_prefix("/proc/self/exe", 100);
  ASSERT_EQ(head.size(), 100u);
  std::string p = temp_file("truncated.elf", head);
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--kernel", p});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "truncated");
  unlink(p.c_str());
}

TEST(Cli, BadArchive) {
  VTB_REQUIRE_IMAGES();
  std::string p = temp_file("bad.vtba", "not an archive at all");
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--archive", p});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "not a program archive");
  unlink(p.c_str());
  r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--archive", "/nonexistent/p.vtba"});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, "/nonexistent/p.vtba");
}

TEST(Cli, MissingQemuIsUnavailable) {
  VTB_REQUIRE_IMAGES();
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello"}, {"VTB_QEMU=/nonexistent/qemu"});
  EXPECT_EQ(r.code, kExitUnavailable);
  expect_one_line(r, "VTB_QEMU=/nonexistent/qemu is not an executable file");
  r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello"}, {"PATH=/nonexistent"});
  EXPECT_EQ(r.code, kExitUnavailable);
  expect_one_line(r, "qemu-system-x86_64 not found in PATH");
}

TEST(Cli, BadManifest) {
  std::string p = temp_file("manifest", "[a]\nwhat = 1\n");
  VtbRun r = run_vtb({"run", "--engine", "native", "--workload", "a", "--manifest", p});
  EXPECT_EQ(r.code, kExitBadInput);
  expect_one_line(r, ":2: unknown key 'what'");
  unlink(p.c_str());
}

TEST(Cli, ErrorAsJson) {
  VtbRun r = run_vtb({"run", "--engine", "foo", "--workload", "hello", "--json"});
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_NE(r.out.find(R"("error":"bad_input")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("cli_exit":2)"), std::string::npos) << r.out;
}

TEST(Cli, ListShowsEnginesPeersAndWorkloads) {
  VtbRun r = run_vtb({"list"});
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* want : {"engines:", "peers:", "qemu-tcg", "native", "workloads", "forkwait", "forkwait 1000", "badptr"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  // Every registered engine appears, available or with its reason.
  for (const auto& ri : list_runners()) {
    EXPECT_NE(r.out.find(ri.name), std::string::npos) << ri.name;
    if (!ri.available) {
      EXPECT_NE(r.out.find(ri.available.message()), std::string::npos) << ri.name;
    }
    if (ri.needs_dev_kvm) {
      EXPECT_NE(r.out.find("(needs /dev/kvm)"), std::string::npos) << ri.name;
    }
  }
  r = run_vtb({"list", "--json"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("{\"engines\":[", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("\"needs_dev_kvm\":"), std::string::npos) << r.out;
}

TEST(Cli, BenchSubcommandAnswers) {
  VtbRun r = run_vtb({"bench", "--help"});
  EXPECT_EQ(r.signal, 0);
  EXPECT_TRUE(r.code == 0 || r.code == kExitUnavailable) << r.code << " " << r.err;
}

// Input files are read only when they are regular files, before anything
// else, on every runner: a FIFO without a writer, a device, a directory are
// bad input at once (never a hang or unbounded memory).
TEST(Cli, NonRegularInputFilesAreBadInputAtOnce) {
  const std::string fifo = ::testing::TempDir() + "/vtb_cli_fifo_" + std::to_string(getpid());
  unlink(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const char* engine : {"qemu-tcg", "bt"}) {
    for (const std::string& path : {fifo, std::string("/dev/zero"), std::string("/tmp")}) {
      for (const char* opt : {"--kernel", "--archive"}) {
        VtbRun r = run_vtb({"run", "--engine", engine, "--workload", "hello", opt, path}, {}, 20);
        EXPECT_EQ(r.code, 2) << engine << " " << opt << " " << path << ": " << r.err;
        expect_one_line(r, path);
      }
    }
  }
  unlink(fifo.c_str());
}

// --out never replaces what is not a regular file (as root a rename would
// replace a device node): exit 5, one line, the node untouched.
TEST(Cli, OutRefusesToReplaceANonRegularFile) {
  const std::string fifo = ::testing::TempDir() + "/vtb_cli_outfifo_" + std::to_string(getpid());
  unlink(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello", "--out", fifo});
  if (r.code == 3) GTEST_SKIP() << "qemu-tcg unavailable: " << r.err;
  EXPECT_EQ(r.code, 5) << r.err;
  expect_one_line(r, "not a regular file");
  struct stat st;
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  unlink(fifo.c_str());
}

// A VTB_QEMU that is not QEMU (/bin/false exits 1, which QEMU's
// isa-debug-exit also gives for a guest exit code 0) is unavailable, never a
// guest exit 0.
TEST(Cli, FakeQemuIsNotAGuestExit) {
  VtbRun r = run_vtb({"run", "--engine", "qemu-tcg", "--workload", "hello"}, {"VTB_QEMU=/bin/false"});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  expect_one_line(r, "is not QEMU");
}

// --mem above what the loader maps is bad input on every runner, qemu-tcg included.
TEST(Cli, MemAboveTheLoaderMappingIsBadInputEverywhere) {
  for (const char* engine : {"qemu-tcg", "bt"}) {
    VtbRun r = run_vtb({"run", "--engine", engine, "--workload", "hello", "--mem", "4096"});
    EXPECT_EQ(r.code, 2) << engine << ": " << r.err;
    expect_one_line(r, "--mem");
  }
}

}  // namespace
}  // namespace vtb::test
