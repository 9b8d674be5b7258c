// tags: harness|cli — desc: `vtb run`: one workload on one engine or peer; console, exit code, phases, counters or JSON.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/loader.h"
#include "harness/cli_parse.h"
#include "harness/commands.h"
#include "harness/runner.h"

namespace vtb::cli {
namespace {

// "  name   value" lines, the non-zero counters only unless `all`; a gauge's
// line says it is a level (in a phase: at its end, not what moved).
void print_counters(const Counters& c, bool all, const char* indent) {
  for (const auto& [k, v] : c.all())
    if (all || v)
      printf("%s%-36s %llu%s\n", indent, k.c_str(), static_cast<unsigned long long>(v), c.is_gauge(k) ? " (level)" : "");
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
  std::string out_path, timeout, mem;
  std::vector<std::string> params;
  CLI::App app{"Runs one workload on one engine or peer (qemu-tcg, native): the console, the exit code, the\n"
               "phases with the counters that moved in each, the non-zero counters of the whole run; or JSON.",
               "vtb run"};
  init_app(app);
  app.add_option("-e,--engine", req.engine, "engine or peer (vtb list)");
  app.add_option("-w,--workload", req.workload, "workload (vtb list)");
  app.add_option("-p,--param", params, "k=v: a workload parameter (repeatable)")->take_all()->allow_extra_args(false);
  app.add_flag("--json", json, "the run report as one JSON object on stdout (docs/cli.md)");
  app.add_option("--kernel", req.kernel_path, "guest kernel ELF (default: the built one)");
  app.add_option("--archive", req.archive_path, "program archive (default: the built one)");
  app.add_option("--manifest", req.manifest_path, "workload manifest (default: next to the binary or in the source tree)");
  app.add_option("--native-dir", req.native_dir, "the native peer's programs");
  app.add_option("--timeout", timeout, "wall-clock limit in seconds (0 < S <= 86400; default: the manifest's)");
  app.add_option("--mem", mem, "guest memory in MiB");
  app.add_flag("--quiet", quiet, "no console echo");
  app.add_option("--out", out_path, "also write the JSON report to FILE (atomically)");
  app.add_option("--vms", vms, "N VMs at once, one host process each: per-VM and total throughput")
      ->check(CLI::Range(1, 64));
  app.add_flag("--all-counters", all_counters, "list the counters that stayed 0 too");
  app.footer("exit codes: 0 guest exited 0; 10 guest exited non-zero; 11 guest crashed; 12 limit reached;\n"
             "2 bad input; 3 engine unavailable; 4 engine error; 5 host error");
  if (int rc = parse_cli(app, argc, argv); rc >= 0) return rc;
  for (const std::string& v : params) {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0) {
      error_line("run: bad --param '" + v + "' (expected key=value)");
      return kExitBadInput;
    }
    req.params[v.substr(0, eq)] = v.substr(eq + 1);
  }
  if (!timeout.empty()) {
    char* end = nullptr;
    double s = strtod(timeout.c_str(), &end);
    if (*end || !std::isfinite(s) || s <= 0 || s > 86400) {
      error_line("run: bad --timeout '" + timeout + "' (seconds, 0 < S <= 86400)");
      return kExitBadInput;
    }
    req.timeout = std::chrono::milliseconds(int64_t(s * 1000.0) > 0 ? int64_t(s * 1000.0) : 1);
  }
  if (!mem.empty()) {
    char* end = nullptr;
    errno = 0;
    long long n = strtoll(mem.c_str(), &end, 10);
    if (*end || errno || n < (long long)kMinGuestMemMib || n > (long long)kMaxGuestMemMib) {
      error_line("run: bad --mem '" + mem + "' (MiB, " + std::to_string(kMinGuestMemMib) + ".." +
                 std::to_string(kMaxGuestMemMib) + ")");
      return kExitBadInput;
    }
    req.mem_mib = size_t(n);
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
