// tags: engines|bt|bench — desc: Google Benchmark: cold translation speed (guest insns/s on real compiler output) and callout cost.
#include <benchmark/benchmark.h>
#include <elf.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/sud.h"
#include "engines/bt/decoder.h"
#include "engines/bt/tests/snippet.h"
#include "engines/bt/translator.h"

namespace vtb::bt {
namespace {

// The .text of the host's libc: real compiler output to translate.
std::vector<uint8_t> load_text(const char* path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() < sizeof(Elf64_Ehdr)) return {};
  Elf64_Ehdr eh;
  memcpy(&eh, b.data(), sizeof eh);
  if (eh.e_shoff == 0 || eh.e_shoff + uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr) > b.size()) return {};
  const Elf64_Shdr* sh = reinterpret_cast<const Elf64_Shdr*>(b.data() + eh.e_shoff);
  const char* names = reinterpret_cast<const char*>(b.data() + sh[eh.e_shstrndx].sh_offset);
  for (int i = 0; i < eh.e_shnum; ++i)
    if (!strcmp(names + sh[i].sh_name, ".text") && sh[i].sh_offset + sh[i].sh_size <= b.size())
      return std::vector<uint8_t>(b.begin() + long(sh[i].sh_offset), b.begin() + long(sh[i].sh_offset + sh[i].sh_size));
  return {};
}

void BM_TranslateCold(benchmark::State& state) {
  static const std::vector<uint8_t> text = load_text("/lib/x86_64-linux-gnu/libc.so.6");
  if (text.empty()) {
    state.SkipWithError("no libc .text to translate");
    return;
  }
  Decoder dec;
  Translator tr(dec);
  std::vector<uint8_t> buf(1 << 16);
  const uint64_t base = 0x400000;
  TranslateEnv env;
  env.fetch = [&](uint64_t va, uint8_t* out, size_t n) -> size_t {
    if (va < base || va >= base + text.size()) return 0;
    const size_t k = std::min<size_t>(n, base + text.size() - va);
    memcpy(out, text.data() + (va - base), k);
    return k;
  };
  env.lookup_entry = 0x41000000;
  // Arg 1: as the runtime translates guest user code (extended blocks,
  // user-address checks with their flag look-ahead); 0: kernel code without
  // extension (the counting-mode shape).
  env.extend = state.range(0) != 0;
  env.user_checks = state.range(0) != 0;
  uint64_t insns = 0, blocks = 0;
  uint64_t pc = base;
  for (auto _ : state) {
    Block blk;
    TranslateResult r = tr.translate(pc, 0x41000000, env, buf.data(), buf.size(), &blk);
    insns += r.guest_insns;
    ++blocks;
    pc = blk.end > pc ? blk.end : pc + 1;
    if (pc >= base + text.size() - 16) pc = base;
  }
  state.counters["guest_insns_per_s"] = benchmark::Counter(double(insns), benchmark::Counter::kIsRate);
  state.counters["insns_per_block"] = double(insns) / double(blocks ? blocks : 1);
}
BENCHMARK(BM_TranslateCold)->Arg(0)->Arg(1);

// One callout per loop iteration, warm (translated once, then timed).
void run_loop(benchmark::State& state, std::vector<uint8_t> body, uint64_t per_iter_ops) {
  test::Machine m;
  if (!m.ok()) {
    state.SkipWithError(m.error.c_str());
    return;
  }
  const uint64_t n = 100000;
  // mov $n,%r12d; 1: <body>; dec %r12d; jnz 1b
  std::vector<uint8_t> code = {0x41, 0xbc};
  for (int i = 0; i < 4; ++i) code.push_back(uint8_t(n >> (8 * i)));
  const size_t loop = code.size();
  code.insert(code.end(), body.begin(), body.end());
  code.insert(code.end(), {0x41, 0xff, 0xcc, 0x75});
  code.push_back(uint8_t(int8_t(int(loop) - int(code.size() + 1))));
  Regs r = test::initial_regs();
  m.run_bt(code, &r);  // warm-up: translate
  for (auto _ : state) {
    r = test::initial_regs();
    r.rip = test::kCode;
    m.rt->set_regs(r);
    Exit e = m.cont(&r);
    if (e.kind != ExitKind::PortIo) state.SkipWithError(e.message.c_str());
  }
  state.SetItemsProcessed(int64_t(state.iterations() * n * per_iter_ops));
  state.counters["ns_per_op"] =
      benchmark::Counter(double(state.iterations() * n * per_iter_ops), benchmark::Counter::kIsRate |
                                                                            benchmark::Counter::kInvert);
}

void BM_LoopNoCallout(benchmark::State& s) { run_loop(s, {0x48, 0x01, 0xc3}, 1); }                 // add %rax,%rbx
void BM_CalloutCr8Write(benchmark::State& s) { run_loop(s, {0x44, 0x0f, 0x22, 0xc0}, 1); }          // mov %rax,%cr8
void BM_CalloutCliSti(benchmark::State& s) { run_loop(s, {0xfa, 0xfb}, 2); }                        // cli; sti
void BM_CalloutPushfPopf(benchmark::State& s) { run_loop(s, {0x9c, 0x9d}, 2); }                     // pushf; popf
void BM_CallRet(benchmark::State& s) { run_loop(s, {0xe8, 0x02, 0x00, 0x00, 0x00, 0xeb, 0x01, 0xc3}, 1); }  // call; ret
// bt-direct: one guest user `syscall` per iteration, run directly; the
// kernel side is a bare `sysretq` (translated). Each iteration is a whole
// transition pair: SUD SIGSYS out of user code, the dispatcher, the sysret
// callout, the direct entry back (with the FS/GS switches and the vCPU block
// sealed and restored: docs/bt.md, "bt-direct isolation").
void BM_DirectSyscallBounce(benchmark::State& state) {
  std::string why;
  if (!sud_inclusive_available(&why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  RuntimeOptions opt;
  opt.direct_user = true;
  opt.reflect_exceptions = true;
  test::Machine m(opt);
  if (!m.ok()) {
    state.SkipWithError(m.error.c_str());
    return;
  }
  const uint64_t n = 20000;
  const uint8_t sysret[] = {0x48, 0x0f, 0x07};  // sysretq
  memcpy(reinterpret_cast<void*>(test::kKernelCode), sysret, sizeof sysret);
  // mov $n,%r12d; 1: syscall; dec %r12d; jnz 1b
  std::vector<uint8_t> code = {0x41, 0xbc};
  for (int i = 0; i < 4; ++i) code.push_back(uint8_t(n >> (8 * i)));
  code.insert(code.end(), {0x0f, 0x05, 0x41, 0xff, 0xcc, 0x75, 0xf9});
  auto user = [] {
    Regs r = test::initial_regs();
    r.cs.selector = 0x33;
    r.ss.selector = 0x2b;
    r.rflags = 0x202;
    return r;
  };
  auto run = [&] {
    Regs r = user();
    m.rt->cpu().lstar = test::kKernelCode;
    m.rt->cpu().star = (0x20ULL << 48) | (0x08ULL << 32);  // sysret: cs 0x33, ss 0x2b
    return m.run_bt(code, &r);
  };
  run();  // warm-up: translate sysretq, map nothing more
  for (auto _ : state) {
    const Exit e = run();
    if (e.kind != ExitKind::GuestFault || e.vector != 13) state.SkipWithError(e.message.c_str());  // the terminator's out
  }
  state.SetItemsProcessed(int64_t(state.iterations() * n));
  state.counters["ns_per_op"] =
      benchmark::Counter(double(state.iterations() * n), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_LoopNoCallout);
BENCHMARK(BM_CalloutCr8Write);
BENCHMARK(BM_CalloutCliSti);
BENCHMARK(BM_CalloutPushfPopf);
BENCHMARK(BM_CallRet);
BENCHMARK(BM_DirectSyscallBounce)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace vtb::bt

BENCHMARK_MAIN();
