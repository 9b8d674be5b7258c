// tags: harness|cli|fuzz — desc: `vtb fuzz`: option parsing, the summary line, --out JSON (docs/reliability.md).
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "harness/cli_parse.h"
#include "harness/commands.h"
#include "harness/fuzz/fuzz.h"
#include "harness/fuzz/fuzz_gen.h"
#include "harness/runner.h"

namespace vtb::cli {

int cmd_fuzz(int argc, char** argv) {
  fuzz::Options o;
  std::string engines_arg, kind = "all", dump;
  uint64_t timeout_s = 0;
  std::string shard;
  CLI::App app{"Runs N generated programs (bit-flipped real programs, random bytes, random instruction\n"
               "sequences), K per vtb run, on every engine and on qemu-tcg, and compares each program's\n"
               "outcome and console with qemu-tcg's (docs/reliability.md).\n"
               "  vtb fuzz --dump FILE --kind K --seed S --first I   writes program I (the code page, or the mutant ELF)",
               "vtb fuzz"};
  init_app(app);
  app.add_option("--engines", engines_arg, "E,...: the engines (default: every available engine and native)");
  app.add_option("--seed", o.seed, "the generator's seed (below 2^63)");
  app.add_option("--programs", o.programs, "programs to run")->check(CLI::PositiveNumber);
  app.add_option("--first", o.first, "index of the first program");
  app.add_option("--per-run", o.per_run, "programs per vtb run")->check(CLI::Range(1, 500));
  app.add_option("--kind", kind, "bitflip|random|seq[,...]|both|all");
  app.add_option("--shard", shard, "i/N: programs i, i+N, ... (0 <= i < N)");
  app.add_option("--timeout", timeout_s, "seconds per run")->check(CLI::Range(1, 3600));
  app.add_option("--budget", o.budget_ticks,
                 "guest timer ticks (100 Hz) a program may run before the driver kills it as a guest hang "
                 "(0 = until the run's --timeout)")
      ->check(CLI::Range(0, 360000));
  app.add_option("--out", o.out, "the summary as JSON (atomically)");
  app.add_option("--kernel", o.kernel, "guest kernel ELF");
  app.add_option("--kernel-pv", o.kernel_pv, "pv guest kernel ELF");
  app.add_option("--archive", o.archive, "program archive");
  app.add_option("--workdir", o.workdir, "keep the generated files here");
  app.add_option("--dump", dump, "write one program to FILE and stop");
  app.add_flag("--verbose", o.verbose, "every program's outcome");
  app.footer("exit: 0 no host crash, hang, engine error or unexplained mismatch; 1 unexplained mismatches;\n"
             "4 host crash, hang or engine error; 2 bad input; 3 qemu-tcg unavailable; 5 host error");
  if (int rc = parse_cli(app, argc, argv); rc >= 0) return rc;
  if (timeout_s) o.timeout_s = double(timeout_s);
  if (!shard.empty() && (sscanf(shard.c_str(), "%d/%d", &o.shard_i, &o.shard_n) != 2 || o.shard_n < 1 ||
                         o.shard_i < 0 || o.shard_i >= o.shard_n)) {
    error_line("fuzz: bad --shard '" + shard + "' (i/N with 0 <= i < N)");
    return kExitBadInput;
  }
  if (o.seed > uint64_t(INT64_MAX)) {
    error_line("fuzz: --seed must be below 2^63");
    return kExitBadInput;
  }
  {
    std::stringstream ks(kind == "both" ? "bitflip,random" : kind == "all" ? "bitflip,random,seq" : kind);
    std::string k;
    while (std::getline(ks, k, ',')) {
      if (k == "bitflip") o.kinds.push_back(FZ_FLIP);
      else if (k == "random") o.kinds.push_back(FZ_RAND);
      else if (k == "seq") o.kinds.push_back(FZ_SEQ);
      else {
        error_line("fuzz: bad --kind '" + kind + "' (bitflip, random, seq, a comma list, both, all)");
        return kExitBadInput;
      }
    }
  }
  if (!dump.empty()) {
    if (o.kinds.size() != 1) {
      error_line("fuzz: --dump needs one --kind");
      return kExitBadInput;
    }
    std::string bytes, err;
    if (Status st = fuzz::program_bytes(o, o.kinds[0], o.first, &bytes); !st) {
      error_line("fuzz: " + st.message());
      return kExitBadInput;
    }
    if (!write_file_atomic(dump, bytes, &err)) {
      error_line("fuzz: " + err);
      return kExitHostError;
    }
    return 0;
  }
  // engines: the list, or every available engine of the registry + native
  bool qemu_ok = false;
  std::vector<RunnerInfo> runners = list_runners();
  for (const auto& r : runners) qemu_ok |= r.name == "qemu-tcg" && r.available.is_ok();
  if (!qemu_ok) {
    error_line("fuzz: qemu-tcg, the reference, is unavailable on this host");
    return kExitUnavailable;
  }
  if (engines_arg.empty()) {
    for (const auto& r : runners)
      if ((!r.is_peer || r.name == "native") && r.available.is_ok()) o.engines.push_back(r.name);
  } else {
    std::stringstream ss(engines_arg);
    std::string e;
    while (std::getline(ss, e, ',')) {
      bool known = false, avail = false;
      for (const auto& r : runners)
        if (r.name == e) known = true, avail = r.available.is_ok();
      if (!known || e == "qemu-tcg") {
        error_line("fuzz: unknown engine '" + e + "' (qemu-tcg is always the reference)");
        return kExitBadInput;
      }
      if (!avail) {
        error_line("fuzz: engine '" + e + "' is unavailable on this host");
        return kExitUnavailable;
      }
      o.engines.push_back(e);
    }
  }
  fuzz::Summary s;
  int rc = fuzz::run_campaign(o, &s);
  if (rc == kExitBadInput || rc == kExitHostError) return rc;
  uint64_t crashes = 0, hangs = 0, errors = 0, mism = 0, unexpl = 0, agreed = 0;
  for (const auto& [e, st] : s.per_engine) {
    crashes += st.host_crashes, hangs += st.host_hangs, errors += st.engine_errors;
    mism += st.mismatched, unexpl += st.unexplained, agreed += st.guest_hangs;
    std::string classes;
    for (const auto& [k, v] : st.classes) classes += " " + k + "=" + std::to_string(v);
    printf("  %-10s programs %llu in %llu runs (%.1f s): host crashes %llu, hangs %llu, engine errors %llu, "
           "engine limits %llu, mismatches %llu (unexplained %llu)%s\n",
           e.c_str(), (unsigned long long)st.programs, (unsigned long long)st.runs, st.seconds,
           (unsigned long long)st.host_crashes, (unsigned long long)st.host_hangs, (unsigned long long)st.engine_errors,
           (unsigned long long)st.engine_limits, (unsigned long long)st.mismatched,
           (unsigned long long)st.unexplained, classes.c_str());
  }
  for (const auto& f : s.failures) printf("  failure: %s\n", f.c_str());
  for (const auto& f : s.limits) printf("  engine limit: %s\n", f.c_str());
  for (auto m : s.mismatches)
    if (m.cls.find("unexplained") != std::string::npos) {
      for (char& ch : m.detail)
        if (ch == '\n') ch = ' ';
      printf("  mismatch: %s %s #%llu: %s vs qemu-tcg %s: %s\n", m.engine.c_str(), m.kind.c_str(),
             (unsigned long long)m.index, m.engine_outcome.c_str(), m.ref_outcome.c_str(), m.detail.c_str());
    }
  printf("vtb fuzz: seed %llu, %llu programs, shard %d/%d: host crashes %llu, hangs %llu, engine errors %llu, "
         "mismatches %llu (unexplained %llu), guest hangs agreed %llu\n",
         (unsigned long long)o.seed, (unsigned long long)s.programs, o.shard_i, o.shard_n, (unsigned long long)crashes,
         (unsigned long long)hangs, (unsigned long long)errors, (unsigned long long)mism, (unsigned long long)unexpl,
         (unsigned long long)agreed);
  if (!o.out.empty()) {
    std::string err;
    if (!write_file_atomic(o.out, fuzz::summary_json(o, s) + "\n", &err)) {
      error_line("fuzz: " + err);
      return kExitHostError;
    }
  }
  return rc;
}

}  // namespace vtb::cli
