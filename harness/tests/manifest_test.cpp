// tags: harness|tests — desc: the workload manifest parser, parameter resolution and the real workloads/manifest.
#include <gtest/gtest.h>

#include "harness/manifest.h"

namespace vtb {
namespace {

const char* kGood = R"(# comment
[fw]
program = forkwait
args = {n} x{m}
param n = 1000
param m = 7
iterations = n
flavors = native pv
groups = smoke macro
timeout = 30
exit = 3
contains = forkwait: {n} forks
expect = exit.port_io >= 1
expect = kvm: priv.out == {n}
expect = binary translation: priv.out >= {n}

[hello]
)";

TEST(Manifest, ParsesEveryKey) {
  Manifest m;
  ASSERT_TRUE(parse_manifest(kGood, "/x/manifest", &m)) << "good manifest rejected";
  ASSERT_EQ(m.workloads.size(), 2u);
  EXPECT_EQ(m.dir, "/x");
  const Workload* w = m.find("fw");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->program, "forkwait");
  EXPECT_EQ(w->params.at("n"), "1000");
  EXPECT_EQ(w->iterations, std::vector<std::string>{"n"});  // n counts iterations; m is not scaled
  EXPECT_TRUE(w->has_flavor("pv"));
  EXPECT_TRUE(w->has_group("macro"));
  EXPECT_FALSE(w->has_group("micro"));
  EXPECT_DOUBLE_EQ(w->timeout_s, 30);
  EXPECT_EQ(w->exit_code, 3);
  ASSERT_EQ(w->bounds.size(), 3u);
  EXPECT_EQ(w->bounds[0].scope, "*");
  EXPECT_EQ(w->bounds[1].scope, "kvm");
  EXPECT_EQ(w->bounds[1].value, "{n}");
  EXPECT_EQ(w->bounds[2].scope, "binary translation");  // a registry technique (engines/registry.h)
  EXPECT_EQ(w->bounds[2].counter, "priv.out");
  EXPECT_EQ(m.names(), "fw, hello");
  // Defaults for a bare section.
  const Workload* h = m.find("hello");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->program, "hello");
  EXPECT_TRUE(h->has_flavor("native"));
  EXPECT_TRUE(h->runs_on_peer("qemu-tcg"));
  EXPECT_TRUE(h->runs_on_peer("native"));
}

TEST(Manifest, RendersCommandLineWithOverrides) {
  Manifest m;
  ASSERT_TRUE(parse_manifest(kGood, "manifest", &m));
  const Workload& w = *m.find("fw");
  std::map<std::string, std::string> p;
  ASSERT_TRUE(resolve_params(w, {{"n", "5"}}, &p));
  EXPECT_EQ(p.at("n"), "5");
  EXPECT_EQ(p.at("m"), "7");
  std::string cl;
  ASSERT_TRUE(render_command_line(w, p, &cl));
  EXPECT_EQ(cl, "forkwait 5 x7");
}

TEST(Manifest, RejectsBadParams) {
  Manifest m;
  ASSERT_TRUE(parse_manifest(kGood, "manifest", &m));
  const Workload& w = *m.find("fw");
  std::map<std::string, std::string> p;
  Status s = resolve_params(w, {{"bogus", "1"}}, &p);
  EXPECT_EQ(s.kind(), ErrorKind::BadInput);
  EXPECT_NE(s.message().find("no parameter 'bogus'"), std::string::npos) << s.message();
  EXPECT_EQ(resolve_params(w, {{"n", "abc"}}, &p).kind(), ErrorKind::BadInput);  // numeric default
  EXPECT_EQ(resolve_params(w, {{"n", "1 2"}}, &p).kind(), ErrorKind::BadInput);  // spaces
  EXPECT_EQ(resolve_params(w, {{"n", "-3"}}, &p).kind(), ErrorKind::BadInput);
  EXPECT_EQ(resolve_params(w, {{"n", ""}}, &p).kind(), ErrorKind::BadInput);
}

struct BadCase {
  const char* text;
  const char* needle;
};

TEST(Manifest, RejectsMalformedTextWithLineNumbers) {
  const BadCase cases[] = {
      {"[a]\nprogram = a\nfrobnicate = 1\n", "manifest:3: unknown key 'frobnicate'"},
      {"[a]\n[a]\n", "manifest:2: workload 'a' defined twice"},
      {"program = a\n", "manifest:1: entry outside"},
      {"[a\n", "unterminated section"},
      {"[a]\nargs = {n}\n", "unknown parameter 'n'"},
      {"[a]\ntimeout = -1\n", "bad timeout"},
      {"[a]\nexit = 999\n", "bad exit code"},
      {"[a]\nflavors = weird\n", "unknown flavor"},
      {"[a]\nexpect = x ~ 3\n", "bad operator"},
      {"[a]\nexpect = x >= lots\n", "bad bound value"},
      {"[a]\nparam n = 1\nparam n = 2\n", "given twice"},
      {"[a]\njunk line\n", "expected 'key = value'"},
      {"[bad name]\n", "bad workload name"},
      {"# nothing\n", "no workloads"},
      {"[a]\nparam n = 5\niterations = m\n", "iterations names 'm'"},
      {"[a]\nparam n = abc\niterations = n\n", "iterations names 'n'"},
      {"[a]\nparam n = 0\niterations = n\n", "integer default >= 1"},
      {"[a]\niterations =\n", "empty 'iterations'"},
  };
  for (const auto& c : cases) {
    Manifest m;
    Status s = parse_manifest(c.text, "manifest", &m);
    EXPECT_EQ(s.kind(), ErrorKind::BadInput) << c.text;
    EXPECT_NE(s.message().find(c.needle), std::string::npos) << "message: " << s.message() << "\nwant: " << c.needle;
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line: " << s.message();
  }
}

TEST(Manifest, MissingFileIsBadInput) {
  Manifest m;
  Status s = load_manifest("/nonexistent/manifest", &m);
  EXPECT_EQ(s.kind(), ErrorKind::BadInput);
}

TEST(Manifest, TheProjectManifestListsTheKernelPrograms) {
  Manifest m;
  Status s = load_manifest(std::string(VTB_SOURCE_DIR) + "/workloads/manifest", &m);
  ASSERT_TRUE(s) << s.message();
  for (const char* name : {"hello", "syscall_loop", "forkwait", "compute", "memtouch", "badptr"}) {
    const Workload* w = m.find(name);
    ASSERT_NE(w, nullptr) << name;
    std::string cl;
    EXPECT_TRUE(render_command_line(*w, w->params, &cl)) << name;
    EXPECT_TRUE(w->has_group("smoke")) << name;
  }
  EXPECT_EQ(m.find("forkwait")->params.at("n"), "1000");
  // What vtb bench --min-phase may scale: loop counts, never sizes or the warm row's reps.
  EXPECT_EQ(m.find("compute")->iterations, std::vector<std::string>{"n"});
  EXPECT_EQ(m.find("memtouch")->iterations, std::vector<std::string>{"rounds"});
  EXPECT_EQ(m.find("micro_pgfault")->iterations, std::vector<std::string>{"rounds"});
  for (const auto& w : m.workloads)
    for (const auto& p : w.iterations) EXPECT_NE(p, "reps") << w.name << ": reps is the warm row's phase count";
  EXPECT_TRUE(m.find("census")->iterations.empty());
}

}  // namespace
}  // namespace vtb
