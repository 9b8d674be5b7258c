// tags: harness|multi-vm — desc: `vtb run --vms N`: N VMs of one workload at once, each in its own host process; per-VM and total throughput.
//
// The in-process engines (bt, pv) own their process's guest address window,
// so two of their VMs cannot share a process: every VM runs in a forked
// child that calls run_one and sends back a one-line summary through a pipe.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "harness/commands.h"
#include "harness/json.h"
#include "harness/runner.h"

namespace vtb::cli {
namespace {

struct VmResult {
  int cli_exit = kExitHostError;
  int exit_code = -1;
  double wall = 0, phase1 = -1;
  std::string outcome = "no result", message;
};

std::string summary_line(const RunReport& r) {
  double p1 = -1;
  for (const auto& p : r.result.phases)
    if (p.phase == 1 && p.end_ns) p1 = p.seconds();
  std::string msg = r.error != ErrorKind::None ? r.error_message : r.result.message;
  for (char& c : msg)
    if (c == '\n' || c == '\t') c = ' ';
  if (!r.check_failures.empty()) msg = "check failed: " + r.check_failures.front();
  char buf[160];
  snprintf(buf, sizeof buf, "%d\t%d\t%.9f\t%.9f\t%s\t", cli_exit_code(r), r.result.exit_code, r.result.wall_seconds, p1,
           outcome_name(r.result.outcome));
  return buf + msg + "\n";
}

bool parse_line(const std::string& s, VmResult* v) {
  char outcome[64] = {0};
  int used = 0;
  if (sscanf(s.c_str(), "%d\t%d\t%lf\t%lf\t%63[^\t]\t%n", &v->cli_exit, &v->exit_code, &v->wall, &v->phase1, outcome,
             &used) < 5)
    return false;
  v->outcome = outcome;
  v->message = s.substr(size_t(used));
  while (!v->message.empty() && v->message.back() == '\n') v->message.pop_back();
  return true;
}

}  // namespace

int run_multi_vm(const RunRequest& req0, int n, bool json) {
  RunRequest req = req0;
  req.echo_console = false;
  struct Child {
    pid_t pid = -1;
    int fd = -1;
  };
  std::vector<Child> kids(static_cast<size_t>(n));
  fflush(stdout);
  fflush(stderr);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    int p[2];
    if (pipe(p) != 0) {
      error_line(std::string("run --vms: pipe: ") + strerror(errno));
      return kExitHostError;
    }
    pid_t pid = fork();
    if (pid < 0) {
      error_line(std::string("run --vms: fork: ") + strerror(errno));
      return kExitHostError;
    }
    if (pid == 0) {
      close(p[0]);
      std::string line = summary_line(run_one(req));
      ssize_t w = write(p[1], line.data(), line.size());
      _exit(w == ssize_t(line.size()) ? 0 : 1);
    }
    close(p[1]);
    kids[size_t(i)] = {pid, p[0]};
  }
  std::vector<VmResult> res(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::string line;
    char buf[512];
    ssize_t k;
    while ((k = read(kids[size_t(i)].fd, buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
      if (k > 0) line.append(buf, size_t(k));
    close(kids[size_t(i)].fd);
    int st = 0;
    while (waitpid(kids[size_t(i)].pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!parse_line(line, &res[size_t(i)])) {
      res[size_t(i)].message = WIFSIGNALED(st) ? "VM process killed by signal " + std::to_string(WTERMSIG(st))
                                               : "VM process sent no result";
    }
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int worst = kExitOk;
  double sum_rate = 0;
  for (const auto& r : res) {
    if (r.cli_exit != kExitOk && worst == kExitOk) worst = r.cli_exit;
    if (r.wall > 0) sum_rate += 1.0 / r.wall;
  }
  if (json) {
    Json j = {{"engine", req.engine}, {"workload", req.workload}, {"vms", n}, {"total_wall_seconds", total},
              {"runs_per_second", total > 0 ? n / total : 0.0}, {"per_vm", Json::array()}};
    for (const auto& r : res)
      j["per_vm"].push_back({{"cli_exit", r.cli_exit}, {"exit_code", r.exit_code}, {"outcome", r.outcome},
                             {"wall_seconds", r.wall}, {"phase1_seconds", r.phase1}, {"message", r.message}});
    printf("%s\n", dump_json(j).c_str());
  } else {
    printf("--- vtb: engine %s, workload %s, %d VMs at once (one host process each)\n", req.engine.c_str(),
           req.workload.c_str(), n);
    for (int i = 0; i < n; ++i) {
      const VmResult& r = res[size_t(i)];
      printf("vm %d: %s, exit code %d, wall %.6f s", i, r.outcome.c_str(), r.exit_code, r.wall);
      if (r.phase1 >= 0) printf(", phase 1 %.6f s", r.phase1);
      if (!r.message.empty()) printf(" (%s)", r.message.c_str());
      printf("\n");
    }
    printf("total: %d runs in %.6f s wall: %.3f runs/s (sum of per-VM rates %.3f runs/s)\n", n, total,
           total > 0 ? n / total : 0.0, sum_rate);
  }
  fflush(stdout);
  return worst;
}

}  // namespace vtb::cli
