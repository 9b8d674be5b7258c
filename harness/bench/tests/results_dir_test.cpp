// tags: harness|bench|tests — desc: results folders appear atomically and are never overwritten.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "harness/bench/results_dir.h"

using namespace vtb::bench;

namespace {
bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}
std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
std::string make_root() {
  char tmpl[] = "/tmp/vtb-results-test-XXXXXX";
  return mkdtemp(tmpl);
}
}  // namespace

TEST(ResultsDir, PublishedOnlyOnCommit) {
  std::string root = make_root(), err;
  {
    ResultsDir d;
    ASSERT_TRUE(d.create(root + "/results", "2026-11-28-1000_h_abc", &err)) << err;
    ASSERT_TRUE(d.write_file("environment.json", "{}\n", &err)) << err;
    EXPECT_FALSE(exists(root + "/results/2026-11-28-1000_h_abc"));  // invisible until commit
    std::string p = d.commit(&err);
    ASSERT_EQ(p, root + "/results/2026-11-28-1000_h_abc") << err;
    EXPECT_EQ(slurp(p + "/environment.json"), "{}\n");
    EXPECT_FALSE(exists(d.temp_path()));
  }
  {
    ResultsDir d;  // same name again: a new folder, the first one untouched
    ASSERT_TRUE(d.create(root + "/results", "2026-11-28-1000_h_abc", &err)) << err;
    ASSERT_TRUE(d.write_file("environment.json", "{\"second\":1}\n", &err));
    EXPECT_EQ(d.commit(&err), root + "/results/2026-11-28-1000_h_abc-2");
    EXPECT_EQ(slurp(root + "/results/2026-11-28-1000_h_abc/environment.json"), "{}\n");
  }
  std::string tmp;
  {
    ResultsDir d;  // abandoned: nothing left behind
    ASSERT_TRUE(d.create(root + "/results", "x", &err));
    tmp = d.temp_path();
    EXPECT_TRUE(exists(tmp));
  }
  EXPECT_FALSE(exists(tmp));
  EXPECT_FALSE(exists(root + "/results/x"));
  std::system(("rm -rf " + root).c_str());
}

TEST(ResultsDir, UnwritableRootIsAnError) {
  ResultsDir d;
  std::string err;
  EXPECT_FALSE(d.create("/proc/vtb-cannot-exist/results", "r", &err));
  EXPECT_NE(err.find("cannot create"), std::string::npos) << err;
}

TEST(ResultsDir, FolderName) {
  EXPECT_EQ(results_folder_name(0, "host", "abc+dirty"), "1970-01-01-0000_host_abc-dirty");
}
