// tags: harness|conformance|tests — desc: the known-failure parser: the documented format, malformed lines are errors, and every engines/*/known_failures.txt parses against the manifest.
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/conformance/known_failures.h"
#include "harness/manifest.h"

namespace vtb {
namespace {

const std::vector<std::string> kWorkloads = {"hello", "forkwait", "syscall_loop"};

TEST(KnownFailures, ParsesTheDocumentedFormat) {
  std::vector<KnownFailure> list;
  const Status s = parse_known_failures(
      "# comment\n\n  # indented comment\nhello prints twice  \nforkwait@full times out at 40000 forks\n"
      "* not ported yet\n",
      "kf.txt", &kWorkloads, &list);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].workload, "hello");
  EXPECT_EQ(list[0].reason, "prints twice");
  EXPECT_EQ(list[0].line, 4);
  EXPECT_TRUE(list[1].full_only);
  EXPECT_EQ(list[1].workload, "forkwait");
  EXPECT_EQ(list[2].workload, "*");
  EXPECT_EQ(known_failure_reason(list, "hello", false), "prints twice");
  EXPECT_EQ(known_failure_reason(list, "syscall_loop", false), "not ported yet");  // "*"
  EXPECT_EQ(known_failure_reason(list, "forkwait", true), "times out at 40000 forks");
  EXPECT_EQ(known_failure_reason(list, "forkwait", false), "not ported yet");  // @full skipped in smoke
  EXPECT_EQ(known_failure_reason({}, "hello", true), "");
}

TEST(KnownFailures, MalformedLinesAreErrorsNamingTheLine) {
  const struct {
    const char* line;
    const char* why;
  } cases[] = {
      {"hello: prints twice", "':' after the workload"},  // the format an old guide gave
      {"hello:prints twice", "':' after the workload"},
      {"hello", "no reason"},
      {"hello@fast slow", "unknown suffix"},
      {"@full slow", "no workload"},
      {"nosuch reason", "unknown workload 'nosuch'"},
  };
  for (const auto& c : cases) {
    std::vector<KnownFailure> list;
    const Status s = parse_known_failures(std::string("# header\n") + c.line + "\n", "kf.txt", &kWorkloads, &list);
    EXPECT_EQ(s.kind(), ErrorKind::BadInput) << c.line;
    EXPECT_NE(s.message().find(c.why), std::string::npos) << c.line << " -> " << s.message();
    EXPECT_EQ(s.message().rfind("kf.txt:2: ", 0), 0u) << s.message();
  }
}

// Every engine folder's file, against the real manifest: a line that does not
// parse fails here on every host, whether or not the engine is built.
TEST(KnownFailures, EveryEngineFileParses) {
  Manifest m;
  ASSERT_TRUE(load_manifest(std::string(VTB_SOURCE_DIR) + "/workloads/manifest", &m));
  std::vector<std::string> names;
  for (const Workload& w : m.workloads) names.push_back(w.name);
  int files = 0;
  for (const auto& d : std::filesystem::directory_iterator(std::string(VTB_SOURCE_DIR) + "/engines")) {
    if (!std::filesystem::exists(d.path() / "known_failures.txt")) continue;
    ++files;
    std::vector<KnownFailure> list;
    const Status s = load_known_failures(VTB_SOURCE_DIR, d.path().filename().string(), &names, &list);
    EXPECT_TRUE(s) << s.message();
  }
  EXPECT_GT(files, 0);
}

}  // namespace
}  // namespace vtb
