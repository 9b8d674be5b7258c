// tags: engines|pv|bench — desc: null hypercall vs a host indirect call; mmu_update cost per PTE at batch 1/8/64.
#include <benchmark/benchmark.h>

#include <string>

#include "common/loader.h"
#include "common/vm.h"
#include "engines/pv/pv_cpu.h"
#include "engines/pv/pv_engine.h"

namespace {

using namespace vtb;

// Boots the test guest with `cmdline`; returns phase 1's seconds (<0: failure).
double guest_phase(const std::string& cmdline, std::string* err) {
  auto eng = make_pv_engine();
  if (!eng->caps().available) {
    *err = eng->caps().available.message();
    return -1;
  }
  VmConfig cfg;
  cfg.mem_mib = 16;
  cfg.limits.wall = std::chrono::seconds(120);
  Status st;
  auto vm = Vm::create(cfg, std::move(eng), &st);
  std::vector<uint8_t> bytes;
  GuestImage img;
  if (!vm || !(st = read_file(PV_TEST_GUEST, &bytes)) || !(st = parse_elf(std::move(bytes), "tg", &img.kernel))) {
    *err = st.message();
    return -1;
  }
  img.cmdline = cmdline;
  img.flavor = Flavor::Pv;
  if (!(st = vm->load(img))) {
    *err = st.message();
    return -1;
  }
  RunResult r = vm->run();
  if (r.outcome != Outcome::Exited || r.exit_code != 0 || r.phases.empty() || !r.phases[0].end_ns) {
    *err = "guest run failed: " + r.message + " " + r.console;
    return -1;
  }
  return r.phases[0].seconds();
}

void BM_HostIndirectCall(benchmark::State& state) {
  void (*volatile fn)() = vtb_pv_empty_function;
  for (auto _ : state) fn();
  state.counters["ns_per_op"] = benchmark::Counter(double(state.iterations()),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_HostIndirectCall);

void BM_NullHypercall(benchmark::State& state) {
  const uint64_t n = uint64_t(state.range(0));
  for (auto _ : state) {
    std::string err;
    const double s = guest_phase("bench_null " + std::to_string(n), &err);
    if (s < 0) {
      state.SkipWithError(err.c_str());
      return;
    }
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * n));
  state.counters["ns_per_op"] = benchmark::Counter(double(state.iterations() * n),
                                                   benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_NullHypercall)->Arg(2000000)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);

void BM_MmuUpdatePerPte(benchmark::State& state) {
  const uint64_t batch = uint64_t(state.range(0)), batches = uint64_t(state.range(1));
  for (auto _ : state) {
    std::string err;
    const double s = guest_phase("bench_mmu " + std::to_string(batch) + " " + std::to_string(batches), &err);
    if (s < 0) {
      state.SkipWithError(err.c_str());
      return;
    }
    state.SetIterationTime(s);
  }
  state.SetItemsProcessed(int64_t(state.iterations() * batch * batches));
  state.counters["ns_per_pte"] = benchmark::Counter(double(state.iterations() * batch * batches),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_MmuUpdatePerPte)->Args({1, 4000})->Args({8, 1000})->Args({64, 200})->UseManualTime()->Iterations(3)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
