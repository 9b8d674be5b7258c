// tags: engines|kvm|bench — desc: cost per user-space exit: vtb::Vm and the engine vs a raw KVM_RUN loop.
//
// All three run the same guest (`out 0x80, al` in a loop, then `out 0xf4`)
// and report the wall time per exit in the real_time column: raw and engine
// do one exit per iteration; the Vm runs a whole guest per iteration (fixed
// iterations) whose phase 1, timed by the Vm at the guest's markers as every
// workload is, holds VTB_BENCH_EXITS exits: manual time = phase time / exits. At the end one line
//   RESULT kvm_exit_ratio backend=<b> raw_ns=<x> engine_ns=<y> vm_ns=<z> vm_over_raw=<r>
// is printed for the nested runner (goal: vm_over_raw <= 1.10); each figure is
// the fastest of the repetitions.
// VTB_BENCH_EXITS sets the exits per Vm run (default 20000).
#include <benchmark/benchmark.h>
#include <sys/ioctl.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "common/clock.h"
#include "common/vm.h"
#include "engines/kvm/kvm_backend.h"
#include "engines/kvm/kvm_engine.h"
#include "engines/kvm/kvm_regs.h"
#include "engines/kvm/kvm_vm.h"
#include "engines/kvm/tests/tiny_guest.h"

namespace {

using namespace vtb;
using namespace vtb::kvm::testing;

uint32_t exits_per_batch() {
  const char* v = std::getenv("VTB_BENCH_EXITS");
  return v ? static_cast<uint32_t>(std::strtoul(v, nullptr, 10)) : 20000;
}

bool skip_without_kvm(benchmark::State& state) {
  const Status s = kvm::probe_dev_kvm(kvm::dev_kvm_path());
  if (s) return false;
  state.SkipWithError(s.message().c_str());
  for (auto _ : state) {
  }
  return true;
}

// The floor: KVM_RUN and a check of the exit reason, nothing else.
void BM_RawKvmRun(benchmark::State& state) {
  if (skip_without_kvm(state)) return;
  TinyGuest g;
  if (!g.build(out_loop(0xffffffffu))) return state.SkipWithError("guest build failed");
  kvm::KvmVm vm;
  if (Status s = vm.create(kvm::dev_kvm_path(), *g.mem, {}); !s) return state.SkipWithError(s.message().c_str());
  kvm_regs r{};
  kvm_sregs s{};
  ioctl(vm.vcpu_fd(), KVM_GET_SREGS, &s);
  kvm::long_mode_state(g.boot, &r, &s);
  ioctl(vm.vcpu_fd(), KVM_SET_SREGS, &s);
  ioctl(vm.vcpu_fd(), KVM_SET_REGS, &r);
  kvm_run* run = vm.run();
  for (auto _ : state) {
    if (ioctl(vm.vcpu_fd(), KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
      state.SkipWithError("raw KVM_RUN: unexpected exit");
      break;
    }
  }
  state.SetLabel(kvm::host_backend());
}

// The engine alone: Engine::run() + complete() per exit (kick timer, irq polling included).
void BM_EngineRun(benchmark::State& state) {
  if (skip_without_kvm(state)) return;
  TinyGuest g;
  if (!g.build(out_loop(0xffffffffu))) return state.SkipWithError("guest build failed");
  NoIrq irq;
  auto e = make_kvm_engine();
  if (Status s = e->load(g.boot, *g.mem, irq); !s) return state.SkipWithError(s.message().c_str());
  const RunLimits lim{0, std::chrono::seconds(600)};
  for (auto _ : state) {
    Exit x = e->run(lim);
    if (x.kind != ExitKind::PortIo) {
      state.SkipWithError(("engine: " + x.message).c_str());
      break;
    }
    e->complete(x);
  }
  state.SetLabel(kvm::host_backend());
}

// The whole stack: vtb::Vm's loop (bus dispatch to the POST port device, counting).
void BM_VmRun(benchmark::State& state) {
  if (skip_without_kvm(state)) return;
  const uint32_t n = exits_per_batch();
  for (auto _ : state) {
    state.PauseTiming();
    VmConfig cfg;
    cfg.mem_mib = 16;
    cfg.limits.wall = std::chrono::seconds(600);
    Status err;
    auto vm = Vm::create(cfg, make_kvm_engine(), &err);
    if (!vm) return state.SkipWithError(err.message().c_str());
    GuestImage img;
    const auto code = phased_out_loop(n);
    img.kernel.bytes = code;
    img.kernel.entry = kCodeGpa;
    ElfSegment seg;
    seg.vaddr = seg.paddr = kCodeGpa;
    seg.filesz = seg.memsz = code.size();
    seg.flags = 5;
    img.kernel.segments.push_back(seg);
    if (Status s = vm->load(img); !s) return state.SkipWithError(s.message().c_str());
    state.ResumeTiming();
    const RunResult r = vm->run();
    if (r.outcome != Outcome::Exited || r.counters.get("exit.port_io") != n + 9 || r.phases.size() != 1 ||
        r.phases[0].end_ns == 0)
      return state.SkipWithError(("vm run: " + r.message).c_str());
    // Phase 1 spans the n loop exits plus the 4 exits of the end marker.
    state.SetIterationTime(r.phases[0].seconds() / (n + 4));
  }
  state.SetLabel(kvm::host_backend());
}

// Repetitions: the summary takes each benchmark's fastest repetition, which
// is the least disturbed by a noisy host (the nested runner's TCG especially).
BENCHMARK(BM_RawKvmRun)->Unit(benchmark::kMicrosecond)->MinTime(0.2)->Repetitions(3);
BENCHMARK(BM_EngineRun)->Unit(benchmark::kMicrosecond)->MinTime(0.2)->Repetitions(3);
// Fixed iterations: with manual time per exit an adaptive count would run
// thousands of whole guests.
BENCHMARK(BM_VmRun)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(2)->Repetitions(3);

// Remembers each benchmark's per-exit time for the summary line.
class Collect : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> ns;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs)
      if (!r.error_occurred && r.run_type == Run::RT_Iteration) {
        const double t = r.GetAdjustedRealTime() * 1000.0;  // unit is us
        auto [it, fresh] = ns.emplace(r.run_name.function_name, t);
        if (!fresh && t < it->second) it->second = t;
      }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::string backend = vtb::kvm::host_backend();
  benchmark::AddCustomContext("kvm_backend", backend);
  Collect rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  benchmark::Shutdown();
  const double raw = rep.ns["BM_RawKvmRun"], eng = rep.ns["BM_EngineRun"], vm = rep.ns["BM_VmRun"];
  if (raw > 0 && vm > 0)
    std::printf("RESULT kvm_exit_ratio backend=%s raw_ns=%.0f engine_ns=%.0f vm_ns=%.0f vm_over_raw=%.3f\n",
                backend.c_str(), raw, eng, vm, vm / raw);
  return 0;
}
