// tags: harness|fuzz — desc: `vtb fuzz`: seeded fuzz campaigns on every engine, compared with qemu-tcg (docs/reliability.md).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "harness/fuzz/fuzz_gen.h"

namespace vtb::fuzz {

// One program's outcome on one engine: "exit:N", "killed:V" (guest exception
// vector), "fork:E", or a run-level class for the program that was running
// when the run ended early: "hang" (the driver's per-program budget, or vtb's --timeout), "guest-crash",
// "engine-error", "engine-limit" (a documented
// translator limit: "unsupported instruction"), "host-error", "host-crash:SIG" (vtb's run process killed by
// a signal), "host-hang" (the harness's backstop), "lost".
struct Outcome {
  std::string what;
  std::string console;  // the program's console text (pid numbers folded to '#')
  uint64_t hash = 0;    // FNV-1a of console
};

struct Options {
  std::vector<std::string> engines;  // our engines (native: seq programs only)
  std::vector<int> kinds;            // FZ_FLIP, FZ_RAND, FZ_SEQ
  uint64_t seed = 1, programs = 300, first = 0;
  int per_run = 50;
  int shard_i = 0, shard_n = 1;
  double timeout_s = 0;  // per vtb run; 0 = 4 s + 0.2 s per program
  uint64_t budget_ticks = FZ_BUDGET_TICKS;  // per program, in guest ticks; 0 = none (the run's timeout ends a hang)
  std::string out, kernel, kernel_pv, archive, workdir;
  bool verbose = false;
};

struct Mismatch {
  std::string engine, kind, cls;
  uint64_t index = 0;
  std::string engine_outcome, ref_outcome, detail;
};

struct EngineStats {
  uint64_t programs = 0, runs = 0, engine_limits = 0, host_crashes = 0, host_hangs = 0, engine_errors = 0, guest_hangs = 0;
  uint64_t matched = 0, mismatched = 0, unexplained = 0;
  double seconds = 0;
  std::map<std::string, uint64_t> outcomes, classes;
};

struct Summary {
  std::map<std::string, EngineStats> per_engine;  // "qemu-tcg" is the reference
  std::vector<Mismatch> mismatches;               // every unexplained one; the first 20 of each explained class per engine
  std::vector<std::string> failures;              // host crashes / hangs / engine errors: one reproducer line each
  std::vector<std::string> limits;                // documented engine limits hit ("unsupported instruction")
  uint64_t programs = 0;
};

// Classifies a mismatch by the instructions the program ran (Capstone):
// "host-dependent:<category>" or "unexplained". fuzz_classify.cpp.
std::string classify(int kind, uint64_t seed, uint64_t index, const std::string& template_bytes_or_empty,
                     const Outcome& ref, const Outcome& eng, std::string* detail);

// The PT_LOAD segments of an ELF64 image with file bytes; *headers_end (if
// given) = the end of its program header table.
struct LoadSegment {
  uint64_t offset, vaddr, filesz;
};
std::vector<LoadSegment> load_segments(const std::string& elf, uint64_t* headers_end);

// The bit-flipped copy of `elf` for program (seed, index) (flip kind).
std::string flip_mutant(uint64_t seed, uint64_t index, const std::string& elf);
// Program archive (vtb_abi.h) read/write: name -> bytes, in order.
bool read_archive(const std::string& bytes, std::vector<std::pair<std::string, std::string>>* out);
std::string write_archive(const std::vector<std::pair<std::string, std::string>>& entries);

// Program (kind, o.seed, index) as bytes: the code page (random, seq; mapped
// at VTB_USER_MMAP_BASE) or the mutant ELF (bitflip, from o.archive or the
// default archive). For reproducers: `vtb fuzz --dump FILE`.
Status program_bytes(const Options& o, int kind, uint64_t index, std::string* out);

// Runs the campaign; returns the vtb exit code (docs/cli.md, `vtb fuzz`).
int run_campaign(const Options& o, Summary* s);
std::string summary_json(const Options& o, const Summary& s);

}  // namespace vtb::fuzz
