// tags: harness|bench|tests — desc: kvm@nested-tcg cells: engine-list handling, two paging series per kvm cell, the runner's MICRO items.
#include <gtest/gtest.h>

#include <set>

#include "harness/bench/nested_cells.h"

using namespace vtb::bench;

namespace {
Cell kvm_cell(const std::string& workload, const std::string& mode = "cold", const std::string& skip = "") {
  Cell c;
  c.engine = "kvm";
  c.backend = "kvm";
  c.technique = "hardware assist";
  c.workload = workload;
  c.group = "micro";
  c.mode = mode;
  c.params = {{"n", "2000"}, {"reps", "1"}};
  c.timeout_s = 30;
  c.skip = skip;
  return c;
}
}  // namespace

TEST(NestedCells, EngineListAlone) {
  std::vector<std::string> e = {"kvm@nested-tcg"};
  bool direct = true;
  EXPECT_TRUE(take_nested_engine(&e, &direct));
  EXPECT_FALSE(direct);
  EXPECT_EQ(e, std::vector<std::string>{"kvm"});  // the cells to copy
}

TEST(NestedCells, EngineListWithDirectKvm) {
  std::vector<std::string> e = {"kvm", "kvm@nested-tcg", "bt"};
  bool direct = false;
  EXPECT_TRUE(take_nested_engine(&e, &direct));
  EXPECT_TRUE(direct);
  EXPECT_EQ(e, (std::vector<std::string>{"kvm", "bt"}));
  std::vector<std::string> none = {"bt"};
  EXPECT_FALSE(take_nested_engine(&none, &direct));
  EXPECT_EQ(none, std::vector<std::string>{"bt"});
}

TEST(NestedCells, TwoPagingSeriesPerColdKvmCell) {
  const std::vector<Cell> in = {kvm_cell("micro_out"), kvm_cell("micro_out", "warm"),
                                kvm_cell("forkwait", "cold", "unavailable: no /dev/kvm on this host"),
                                kvm_cell("micro_hypercall", "cold", "needs the native kernel flavor")};
  const std::vector<Cell> out = nested_cells(in);
  ASSERT_EQ(out.size(), 6u);  // 3 cold cells x {npt, shadow}; the warm row is not copied
  std::set<std::string> names, backends;
  for (const Cell& c : out) {
    names.insert(c.name());
    backends.insert(c.backend);
    EXPECT_EQ(c.engine, "kvm");
    EXPECT_EQ(c.mode, "cold");
    EXPECT_GT(c.timeout_s, 30);  // TCG-scale exits
    if (c.workload == "forkwait") EXPECT_EQ(c.skip, "") << "the runner brings its own /dev/kvm";
    if (c.workload == "micro_hypercall") EXPECT_EQ(c.skip, "needs the native kernel flavor");
  }
  EXPECT_EQ(names.size(), out.size()) << "cell names must be unique (Google Benchmark names)";
  EXPECT_EQ(backends, (std::set<std::string>{"kvm@nested-tcg/npt", "kvm@nested-tcg/shadow"}));
  EXPECT_EQ(out[0].name(), "kvm@nested-tcg/npt/micro_out/cold");
  EXPECT_NE(out[0].name(), in[0].name());
}

TEST(NestedCells, MicroItemCarriesEveryParam) {
  Cell c = kvm_cell("micro_out");
  EXPECT_EQ(nested_micro_item(c), "micro_out:n=2000+reps=1");
  c.params.clear();
  EXPECT_EQ(nested_micro_item(c), "micro_out");
}
