// tags: harness|runner — desc: run one workload on one engine or peer (kvm/pv/bt via Vm, qemu-tcg, native) and report it.
//
// Used by the vtb CLI (`vtb run`), the tests and `vtb bench`. One call, one
// bounded run, one RunReport; never throws, never aborts on bad input.
#pragma once
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/vm.h"

namespace vtb {

// The documented exit codes of `vtb` (docs/cli.md).
enum CliExit : int {
  kExitOk = 0,            // guest exited with code 0
  kExitBadInput = 2,      // usage, unknown engine/workload, bad --param, missing/corrupt ELF or archive
  kExitUnavailable = 3,   // engine or peer not available on this host (tests: SKIP)
  kExitEngineError = 4,   // the engine could not continue
  kExitHostError = 5,     // the host failed (fork, pipe, memory...)
  kExitGuestNonZero = 10, // guest exited with a non-zero code
  kExitGuestCrash = 11,   // triple fault / shutdown / unhandled fault
  kExitLimit = 12,        // run limit reached (runaway guest)
};

struct RunRequest {
  std::string engine;    // a registered engine ("kvm", "pv", "bt") or a peer ("qemu-tcg", "native")
  std::string workload;  // a name in the manifest
  std::map<std::string, std::string> params;  // override the manifest's defaults; unknown key = bad input
  // Empty = default: env VTB_KERNEL / VTB_KERNEL_PV (pv flavor) / VTB_ARCHIVE /
  // VTB_MANIFEST / VTB_NATIVE_DIR, else the paths compiled in by CMake.
  std::string kernel_path, archive_path, manifest_path, native_dir;
  std::chrono::milliseconds timeout{0};  // 0 = the manifest's timeout for the workload
  bool echo_console = false;             // copy console bytes to stdout as they come
  size_t mem_mib = 0;                    // 0 = VTB_DEFAULT_MEM_MIB (the manifest may raise it)
};

struct RunReport {
  RunResult result;          // outcome, exit_code, console, phases, records, counters, wall
  std::string engine;        // as requested
  std::string engine_label;  // backend label: "kvm", "kvm@pvm", "pv", "bt", "qemu-tcg", "native"
  std::string technique;     // "hardware assist", ..., "reference machine", "host native"
  std::string workload;
  std::map<std::string, std::string> params;  // the resolved parameters (defaults + overrides)
  std::string command_line;  // the kernel command line (native: program argv joined by spaces)
  std::string kernel_path, archive_path;
  ErrorKind error = ErrorKind::None;  // set when the run could not happen (setup failure)
  std::string error_message;          // one line
  // Manifest expectations (exit code, golden console, counter bounds) that
  // this run did not meet; empty when met or not checked (setup failure).
  std::vector<std::string> check_failures;
};

// Runs one request. Every failure is a typed value in the report.
RunReport run_one(const RunRequest& req);

// The vtb exit code for a report (CliExit).
int cli_exit_code(const RunReport& r);

// The report as one JSON object (schema in docs/cli.md). Stable keys:
// engine, backend, technique, workload, params{}, command_line, kernel,
// archive, outcome, exit_code, cli_exit, error, message, wall_seconds,
// phases[{phase,begin_ns,end_ns,seconds}], records[{key,value}],
// counters{}, check_failures[], console.
std::string report_to_json(const RunReport& r);

// The engines and peers this binary can run, for `vtb list` and `vtb bench`.
struct RunnerInfo {
  std::string name;       // "kvm", "pv", "bt", "qemu-tcg", "native"
  std::string technique;
  std::string backend;    // caps().backend, or the peer's label
  std::string flavor;     // "native" or "pv": which kernel flavor / program build it runs
  bool is_peer = false;
  Status available;       // ok, or Unavailable with the reason
  bool needs_dev_kvm = false;  // caps().needs_dev_kvm
};
std::vector<RunnerInfo> list_runners();

// Default paths after env and compiled-in defaults (for `vtb list`, tests).
std::string default_manifest_path();
std::string default_kernel_path(bool pv_flavor);
std::string default_archive_path();
std::string default_native_dir();
// Any other datum of the build by file name (e.g. "cell_costs.tsv"): $env, next to the binary
// (<build>/workloads, <prefix>/share/vtb), else `configured`.
std::string default_data_path(const char* env, const char* name, const std::string& configured);

const char* error_kind_name(ErrorKind k);

}  // namespace vtb
