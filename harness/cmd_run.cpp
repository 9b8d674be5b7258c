// tags: harness|cli — desc: `vtb run`: one workload on one engine or peer; console, exit code, phases, counters or JSON.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/loader.h"
#include "harness/commands.h"
#include "harness/runner.h"

namespace vtb::cli {
namespace {

const char* kRunUsage =
    "usage: vtb run --engine E --workload W [--param k=v]... [--json] [--kernel PATH] [--archive PATH]\n"
    "               [--manifest PATH] [--native-dir DIR] [--timeout S] [--mem MIB] [--quiet] [--out FILE]\n"
    "               [--all-counters]   (counters that stayed 0 too; default: the non-zero ones)\n"
    "               [--vms N]   (N VMs at once, one host process each: per-VM and total throughput)\n";

// "  name   value" lines, the non-zero counters only unless `all`.
void print_counters(const Counters& c, bool all, const char* indent) {
  for (const auto& [k, v] : c.all())
    if (all || v) printf("%s%-36s %llu\n", indent, k.c_str(), static_cast<unsigned long long>(v));
}

void print_human(const RunReport& r, bool all_counters) {
  const RunResult& res = r.result;
  if (!res.console.empty() && res.console.back() != '\n') printf("\n");
  std::string params;
  for (const auto& [k, v] : r.params) params += " " + k + "=" + v;
  printf("--- vtb: engine %s (backend %s), workload %s%s\n", r.engine.c_str(), r.engine_label.c_str(),
         r.workload.c_str(), params.c_str());
  printf("command line: %s\n", r.command_line.c_str());
  if (res.outcome == Outcome::Exited)
    printf("outcome: exited, exit code %d\n", res.exit_code);
  else
    printf("outcome: %s: %s\n", outcome_name(res.outcome), res.message.c_str());
  printf("wall: %.6f s\n", res.wall_seconds);
  for (const auto& p : res.phases) {
    if (p.end_ns)
      printf("phase %d: %.6f s\n", p.phase, p.seconds());
    else
      printf("phase %d: never ended\n", p.phase);
    if (p.end_ns && p.has_counters && !p.counters.all().empty()) print_counters(p.counters, all_counters, "    ");
  }
  for (const auto& [k, v] : res.records) printf("record %s: %s\n", k.c_str(), v.c_str());
  if (!res.counters.all().empty()) {
    size_t zero = 0;
    for (const auto& [k, v] : res.counters.all()) zero += v == 0;
    printf("counters (whole run%s):\n", all_counters || !zero ? "" : ", non-zero; --all-counters for all");
    print_counters(res.counters, all_counters, "  ");
  }
  if (r.check_failures.empty()) {
    printf("checks: ok\n");
  } else {
    for (const auto& c : r.check_failures) printf("check failed: %s\n", c.c_str());
  }
}

}  // namespace

int cmd_run(int argc, char** argv) {
  RunRequest req;
  bool json = false, quiet = false, all_counters = false;
  int vms = 1;
  std::string out_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](std::string* dst) -> bool {
      if (i + 1 >= argc) {
        error_line("run: option " + a + " needs a value");
        return false;
      }
      *dst = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--help" || a == "-h") {
      printf("%s", kRunUsage);
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--vms") {
      if (!need(&v)) return kExitBadInput;
      char* end = nullptr;
      long n = strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > 64) {
        error_line("run: bad --vms '" + v + "' (1..64)");
        return kExitBadInput;
      }
      vms = int(n);
    } else if (a == "--all-counters") {
      all_counters = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--engine") {
      if (!need(&req.engine)) return kExitBadInput;
    } else if (a == "--workload") {
      if (!need(&req.workload)) return kExitBadInput;
    } else if (a == "--kernel") {
      if (!need(&req.kernel_path)) return kExitBadInput;
    } else if (a == "--archive") {
      if (!need(&req.archive_path)) return kExitBadInput;
    } else if (a == "--manifest") {
      if (!need(&req.manifest_path)) return kExitBadInput;
    } else if (a == "--native-dir") {
      if (!need(&req.native_dir)) return kExitBadInput;
    } else if (a == "--out") {
      if (!need(&out_path)) return kExitBadInput;
    } else if (a == "--param") {
      if (!need(&v)) return kExitBadInput;
      size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0) {
        error_line("run: bad --param '" + v + "' (expected key=value)");
        return kExitBadInput;
      }
      req.params[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (a == "--timeout") {
      if (!need(&v)) return kExitBadInput;
      char* end = nullptr;
      double s = strtod(v.c_str(), &end);
      if (v.empty() || *end || !std::isfinite(s) || s <= 0 || s > 86400) {
        error_line("run: bad --timeout '" + v + "' (seconds, 0 < S <= 86400)");
        return kExitBadInput;
      }
      req.timeout = std::chrono::milliseconds(int64_t(s * 1000.0) > 0 ? int64_t(s * 1000.0) : 1);
    } else if (a == "--mem") {
      if (!need(&v)) return kExitBadInput;
      char* end = nullptr;
      errno = 0;
      long long n = strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || errno || n < (long long)kMinGuestMemMib || n > (long long)kMaxGuestMemMib) {
        error_line("run: bad --mem '" + v + "' (MiB, " + std::to_string(kMinGuestMemMib) + ".." +
                   std::to_string(kMaxGuestMemMib) + ")");
        return kExitBadInput;
      }
      req.mem_mib = size_t(n);
    } else {
      error_line("run: unknown option '" + a + "'");
      return kExitBadInput;
    }
  }
  if (req.engine.empty() || req.workload.empty()) {
    error_line("run: --engine and --workload are required (vtb run --help)");
    return kExitBadInput;
  }
  if (vms > 1) return run_multi_vm(req, vms, json);
  req.echo_console = !json && !quiet;
  fflush(stdout);
  RunReport r = run_one(req);
  const int code = cli_exit_code(r);
  if (!out_path.empty()) {
    std::string err;
    if (!write_file_atomic(out_path, report_to_json(r) + "\n", &err)) {
      error_line("cannot write " + err);
      return kExitHostError;
    }
  }
  if (json) {
    printf("%s\n", report_to_json(r).c_str());
  } else if (r.error == ErrorKind::None) {
    print_human(r, all_counters);
  }
  fflush(stdout);
  if (r.error != ErrorKind::None) {
    error_line(r.error_message);
  } else if (code != kExitOk && code != kExitGuestNonZero) {
    error_line(r.engine + "/" + r.workload + ": " + outcome_name(r.result.outcome) + ": " + r.result.message);
  }
  return code;
}

}  // namespace vtb::cli
