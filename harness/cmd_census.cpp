// tags: harness|census — desc: `vtb census`: the sensitive-instruction census on every engine and peer; the instruction x engine table (docs/census.md).
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/cli_parse.h"
#include "harness/commands.h"
#include "harness/json.h"
#include "harness/runner.h"

namespace vtb::cli {
namespace {

// The census program's instruction names, in its record order (programs/census.c).
const char* const kInsns[] = {"sgdt", "sidt", "sldt", "smsw", "pushf", "popf", "lar", "lsl", "verr",
                              "verw", "pop_seg", "push_seg", "call_far", "jmp_far", "int_n", "ret_far",
                              "str", "mov_seg"};
const char* const kModes[] = {"kernel", "user"};

struct Column {
  std::string engine, label;
  std::string unavailable;                        // non-empty: why the engine did not run
  std::string failure;                            // non-empty: the run itself failed
  std::map<std::string, std::string> cells;       // "sgdt.kernel" -> "ok" / "wrong:..." / "trap:13"
};

// One table cell, short: ok, WRONG, TRAP 13, n/a, or - (no record).
std::string short_cell(const Column& c, const std::string& key) {
  if (!c.unavailable.empty()) return "n/a";
  auto it = c.cells.find(key);
  if (it == c.cells.end()) return c.failure.empty() ? "-" : "FAIL";
  const std::string& v = it->second;
  if (v == "ok") return "ok";
  if (v.rfind("trap:", 0) == 0) return "TRAP " + v.substr(5);
  if (v.rfind("wrong:", 0) == 0) return "WRONG";
  return v;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// The in-process engines own their process's guest address window: every
// engine runs in its own child process, which sends back its label, exit
// code and census records as tab-separated lines through a pipe.
void run_in_child(const RunRequest& req, Column* c) {
  int p[2];
  if (pipe(p) != 0) {
    c->failure = std::string("pipe: ") + strerror(errno);
    return;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    c->failure = std::string("fork: ") + strerror(errno);
    close(p[0]), close(p[1]);
    return;
  }
  if (pid == 0) {
    close(p[0]);
    RunReport r = run_one(req);
    int code = cli_exit_code(r);
    std::string why = code == kExitOk ? ""
                      : r.error != ErrorKind::None
                          ? r.error_message
                          : std::string(outcome_name(r.result.outcome)) + ": " + r.result.message;
    for (char& ch : why)
      if (ch == '\n' || ch == '\t') ch = ' ';
    std::string out = std::to_string(code) + "\t" + r.engine_label + "\t" + why + "\n";
    for (const auto& [k, val] : r.result.records)
      if (k.rfind("census.", 0) == 0) out += k.substr(7) + "\t" + val + "\n";
    size_t off = 0;
    while (off < out.size()) {
      ssize_t w = write(p[1], out.data() + off, out.size() - off);
      if (w <= 0) _exit(1);
      off += size_t(w);
    }
    _exit(0);
  }
  close(p[1]);
  std::string all;
  char buf[4096];
  ssize_t k;
  while ((k = read(p[0], buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
    if (k > 0) all.append(buf, size_t(k));
  close(p[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  std::stringstream ss(all);
  std::string line;
  if (!std::getline(ss, line)) {
    c->failure = WIFSIGNALED(st) ? "engine process killed by signal " + std::to_string(WTERMSIG(st))
                                 : "engine process sent no result";
    return;
  }
  size_t t1 = line.find('\t'), t2 = line.find('\t', t1 == std::string::npos ? t1 : t1 + 1);
  if (t1 == std::string::npos || t2 == std::string::npos) {
    c->failure = "malformed result from the engine process";
    return;
  }
  int code = atoi(line.substr(0, t1).c_str());
  if (t2 > t1 + 1) c->label = line.substr(t1 + 1, t2 - t1 - 1);
  std::string why = line.substr(t2 + 1);
  if (code == kExitUnavailable) {
    c->unavailable = why;
    return;
  }
  if (code != kExitOk) c->failure = why;
  while (std::getline(ss, line)) {
    size_t t = line.find('\t');
    if (t != std::string::npos) c->cells[line.substr(0, t)] = line.substr(t + 1);
  }
}

}  // namespace

const char* const kCensusLegend =
    "legend: rows: a sensitive instruction, run in guest user mode (cpl3) or kernel mode (cpl0);\n"
    "        columns: one engine or peer each; a cell says what the guest saw:\n"
    "        ok = its own (virtual) state; WRONG = something else (host state);\n"
    "        TRAP n = exception n where none belongs; n/a = engine not available; - = no record;\n"
    "        correct = ok cells of the 36 (docs/census.md)\n";

int cmd_census(int argc, char** argv) {
  bool json = false;
  std::vector<std::string> engines;
  RunRequest base;
  base.workload = "census";
  std::string engines_arg;
  CLI::App app{"Runs the census workload on every engine and qemu-tcg (default) and prints the instruction x\n"
               "engine table (docs/census.md).",
               "vtb census"};
  init_app(app);
  app.add_option("--engines", engines_arg, "E1,E2,...: the columns (default: every engine and qemu-tcg)");
  app.add_flag("--json", json, "the table as one JSON object");
  app.add_option("--kernel", base.kernel_path, "guest kernel ELF");
  app.add_option("--archive", base.archive_path, "program archive");
  app.add_option("--manifest", base.manifest_path, "workload manifest");
  app.footer(kCensusLegend);
  if (int rc = parse_cli(app, argc, argv); rc >= 0) return rc;
  if (!engines_arg.empty()) engines = split_commas(engines_arg);
  std::vector<RunnerInfo> runners = list_runners();
  if (engines.empty()) {
    for (const auto& r : runners)
      if (r.name != "native") engines.push_back(r.name);  // the census needs a guest kernel
  }
  std::vector<Column> cols;
  for (const auto& e : engines) {
    Column c;
    c.engine = c.label = e;
    bool known = false;
    for (const auto& r : runners)
      if (r.name == e) {
        known = true;
        if (!r.available) c.unavailable = r.available.message();
      }
    if (!known) {
      error_line("census: unknown engine '" + e + "'");
      return kExitBadInput;
    }
    if (c.unavailable.empty()) {
      if (!json) fprintf(stderr, "vtb census: running on %s...\n", e.c_str());
      RunRequest req = base;
      req.engine = e;
      run_in_child(req, &c);
    }
    cols.push_back(std::move(c));
  }

  if (json) {
    Json j = {{"engines", Json::array()}, {"rows", Json::array()}};
    for (const auto& c : cols) {
      Json e = {{"name", c.engine}, {"backend", c.label}, {"available", c.unavailable.empty()}};
      if (!c.unavailable.empty()) e["reason"] = c.unavailable;
      if (!c.failure.empty()) e["failure"] = c.failure;
      j["engines"].push_back(std::move(e));
    }
    for (const char* insn : kInsns)
      for (const char* mode : kModes) {
        std::string key = std::string(insn) + "." + mode;
        Json results = Json::object();
        for (const auto& c : cols) {
          auto it = c.cells.find(key);
          results[c.engine] = !c.unavailable.empty() ? "n/a" : it == c.cells.end() ? "missing" : it->second;
        }
        j["rows"].push_back({{"insn", insn}, {"mode", mode}, {"results", std::move(results)}});
      }
    printf("%s\n", dump_json(j).c_str());
    return kExitOk;
  }

  printf("%-18s", "instruction.mode");
  for (const auto& c : cols) printf(" %-12s", c.label.c_str());
  printf("\n");
  std::map<std::string, int> ok_count;
  for (const char* insn : kInsns)
    for (const char* mode : kModes) {
      std::string key = std::string(insn) + "." + mode;
      printf("%-18s", key.c_str());
      for (const auto& c : cols) {
        std::string s = short_cell(c, key);
        if (s == "ok") ok_count[c.engine]++;
        printf(" %-12s", s.c_str());
      }
      printf("\n");
    }
  printf("%-18s", "correct");
  for (const auto& c : cols)
    printf(" %-12s", c.unavailable.empty() ? (std::to_string(ok_count[c.engine]) + "/36").c_str() : "n/a");
  printf("\n\n");
  for (const auto& c : cols) {
    if (!c.unavailable.empty()) printf("%s: not available: %s\n", c.engine.c_str(), c.unavailable.c_str());
    if (!c.failure.empty()) printf("%s: run failed: %s\n", c.engine.c_str(), c.failure.c_str());
    for (const auto& [k, v] : c.cells)
      if (v != "ok") printf("%s: %s = %s\n", c.engine.c_str(), k.c_str(), v.c_str());
  }
  printf("%s", kCensusLegend);
  return kExitOk;
}

}  // namespace vtb::cli
