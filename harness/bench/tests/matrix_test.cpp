// tags: harness|bench|tests — desc: the benchmark matrix: flavors, peers, unavailable engines, warm rows, filters.
#include <gtest/gtest.h>

#include <algorithm>

#include "harness/bench/matrix.h"
#include "harness/manifest.h"
#include "harness/runner.h"

using namespace vtb;
using namespace vtb::bench;

namespace {
Workload wl(const std::string& name, std::vector<std::string> groups, std::vector<std::string> flavors,
            std::vector<std::string> peers = {"qemu-tcg", "native"}, bool reps = false) {
  Workload w;
  w.name = name;
  w.program = name;
  w.params = {{"n", "1000"}};
  if (reps) w.params["reps"] = "1";
  w.groups = std::move(groups);
  w.flavors = std::move(flavors);
  w.peers = std::move(peers);
  w.timeout_s = 30;
  return w;
}
RunnerInfo runner(const std::string& name, const std::string& flavor, bool peer, Status avail = Status::ok()) {
  RunnerInfo r;
  r.name = name;
  r.backend = name == "kvm" ? "kvm@pvm" : name;
  r.flavor = flavor;
  r.is_peer = peer;
  r.available = avail;
  return r;
}
const Cell* find(const std::vector<Cell>& cells, const std::string& name) {
  auto it = std::find_if(cells.begin(), cells.end(), [&](const Cell& c) { return c.name() == name; });
  return it == cells.end() ? nullptr : &*it;
}
}  // namespace

TEST(Matrix, BuildsCellsByFlavorPeerAndAvailability) {
  std::vector<Workload> ws = {wl("syscall", {"micro"}, {"native", "pv"}), wl("hypercall", {"micro"}, {"pv"}, {}),
                              wl("forkwait", {"macro", "smoke"}, {"native", "pv"}, {"qemu-tcg", "native"}, true), wl("hello", {"smoke"}, {"native"})};
  std::vector<RunnerInfo> rs = {runner("kvm", "native", false, Status::unavailable("no /dev/kvm")),
                                runner("pv", "pv", false), runner("bt", "native", false),
                                runner("qemu-tcg", "native", true), runner("native", "native", true)};
  MatrixOptions opt;
  std::vector<Cell> cells;
  std::vector<std::string> na;
  ASSERT_EQ(build_matrix(ws, rs, opt, &cells, &na), "");
  // hello is smoke only: not in the default groups.
  EXPECT_EQ(find(cells, "bt/hello/cold"), nullptr);
  // hypercall: pv flavor only, no peers.
  EXPECT_NE(find(cells, "pv/hypercall/cold"), nullptr);
  EXPECT_EQ(find(cells, "bt/hypercall/cold"), nullptr);
  EXPECT_EQ(find(cells, "qemu-tcg/hypercall/cold"), nullptr);
  EXPECT_TRUE(std::any_of(na.begin(), na.end(), [](auto& s) { return s.rfind("bt/hypercall", 0) == 0; }));
  // kvm is registered but skipped, with the reason, never dropped.
  const Cell* k = find(cells, "kvm/syscall/cold");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->skip, "unavailable: no /dev/kvm");
  EXPECT_EQ(k->backend, "kvm@pvm");
  // The binary translator gets a warm row where the workload can repeat its
  // loop (param reps): its cold cell runs the loop twice. Others do not.
  const Cell* warm = find(cells, "bt/forkwait/warm");
  ASSERT_NE(warm, nullptr);
  EXPECT_EQ(warm->params.at("reps"), "2");
  EXPECT_EQ(find(cells, "bt/forkwait/cold")->params.at("reps"), "2");
  EXPECT_EQ(find(cells, "bt/syscall/warm"), nullptr) << "no reps param: cold only";
  EXPECT_EQ(find(cells, "bt/syscall/cold")->params.count("reps"), 0u);
  EXPECT_EQ(find(cells, "qemu-tcg/forkwait/warm"), nullptr);
  EXPECT_EQ(find(cells, "pv/forkwait/warm"), nullptr);
  const Cell* f = find(cells, "native/forkwait/cold");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->group, "macro");
  EXPECT_EQ(f->repetitions, 5);
  EXPECT_EQ(f->label(), "engine=native;backend=native;workload=forkwait;group=macro;mode=cold;params=n=1000,reps=1;technique=");
}

TEST(Matrix, FiltersAndUnknownNames) {
  std::vector<Workload> ws = {wl("syscall", {"micro"}, {"native"}), wl("forkwait", {"macro"}, {"native"})};
  std::vector<RunnerInfo> rs = {runner("bt", "native", false), runner("native", "native", true)};
  MatrixOptions opt;
  opt.engines = {"native"};
  opt.workloads = {"forkwait"};
  std::vector<Cell> cells;
  ASSERT_EQ(build_matrix(ws, rs, opt, &cells, nullptr), "");
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].name(), "native/forkwait/cold");

  opt.engines = {"vmware"};
  cells.clear();
  EXPECT_NE(build_matrix(ws, rs, opt, &cells, nullptr).find("unknown engine 'vmware'"), std::string::npos);
  opt.engines = {};
  opt.workloads = {"nope"};
  EXPECT_NE(build_matrix(ws, rs, opt, &cells, nullptr).find("unknown workload 'nope'"), std::string::npos);
}

TEST(Matrix, ScaledParams) {
  auto p = scaled_params({{"n", "40000"}, {"pages", "3"}, {"one", "1"}, {"mode", "fast"}, {"neg", "-5"}}, 0.1);
  EXPECT_EQ(p["n"], "4000");
  EXPECT_EQ(p["pages"], "1");  // at least 1
  EXPECT_EQ(p["one"], "1");
  EXPECT_EQ(p["mode"], "fast");  // non-integers untouched
  EXPECT_EQ(p["neg"], "-5");
  EXPECT_EQ(split_list("a,,b,"), (std::vector<std::string>{"a", "b"}));
}
