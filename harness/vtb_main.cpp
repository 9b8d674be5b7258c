// tags: harness|cli — desc: vtb entry point: CLI11 subcommands list | run | bench | compare | merge | census | fuzz | calibrate, --help, --version.
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "harness/calibrate/calibrate.h"
#include "harness/cli_parse.h"
#include "harness/commands.h"
#include "harness/runner.h"

#ifndef VTB_VERSION
#define VTB_VERSION "unknown"
#endif

namespace vtb::cli {
namespace {

struct Command {
  const char* name;
  const char* what;
  int (*run)(int argc, char** argv);
};

const Command kCommands[] = {
    {"list", "engines (technique, backend, options, availability), peers, workloads and their parameters", cmd_list},
    {"run", "run one workload on one engine or peer (vtb run --help)", cmd_run},
    {"bench", "the benchmark matrix: results folder + summary (vtb bench --help)", cmd_bench},
    {"compare", "two cells side by side: per-op time and counters of phase 1 (vtb compare --help)", cmd_compare},
    {"merge", "join the results folders of vtb bench --shard (vtb merge --help)", cmd_merge},
    {"census", "the sensitive-instruction census table (docs/census.md)", cmd_census},
    {"fuzz", "fuzz campaign on every engine vs qemu-tcg (docs/reliability.md)", cmd_fuzz},
    {"calibrate", "this host's unit cost of each host event (docs/calibrate.md)", vtb::calibrate::cmd_calibrate},
};

const char* const kExitCodes =
    "exit codes: 0 guest exited 0; 10 guest exited non-zero; 11 guest crashed; 12 limit reached;\n"
    "2 bad input; 3 engine unavailable; 4 engine error; 5 host error (docs/cli.md)";

}  // namespace

std::string known_commands() {
  std::string s;
  for (const auto& c : kCommands) s += (s.empty() ? "" : ", ") + std::string(c.name);
  return s + ", help";
}

}  // namespace vtb::cli

int main(int argc, char** argv) {
  using namespace vtb::cli;
  try {
    CLI::App app{"vtb: an x86 virtualization testbed (bt, pv, kvm engines; qemu-tcg and native peers)", "vtb"};
    init_app(app);
    app.set_version_flag("--version", "vtb " VTB_VERSION);
    app.require_subcommand(0, 1);
    app.footer(kExitCodes);
    for (const auto& c : kCommands) {
      // Each command parses its own options (CLI11 too): everything after its name goes to it.
      CLI::App* sub = app.add_subcommand(c.name, c.what);
      sub->prefix_command();
      sub->set_help_flag();
    }
    if (argc < 2) {
      error_line("usage: vtb <command> [options] (commands: " + known_commands() + "; vtb --help)");
      return vtb::kExitBadInput;
    }
    const std::string first = argv[1];
    if (first == "help") {
      std::fputs(app.help().c_str(), stdout);
      return 0;
    }
    bool known = false;
    for (const auto& c : kCommands) known = known || first == c.name;
    if (first[0] != '-' && !known) {
      error_line("unknown command '" + first + "' (known: " + known_commands() + ")");
      return vtb::kExitBadInput;
    }
    if (int rc = parse_cli(app, argc, argv); rc >= 0) return rc;
    for (const auto& c : kCommands) {
      CLI::App* sub = app.get_subcommand(c.name);
      if (!sub->parsed()) continue;
      std::vector<std::string> args = sub->remaining();
      std::vector<char*> av = {const_cast<char*>(c.name)};
      for (auto& a : args) av.push_back(a.data());
      av.push_back(nullptr);
      return c.run(int(av.size()) - 1, av.data());
    }
    error_line("usage: vtb <command> [options] (commands: " + known_commands() + "; vtb --help)");
    return vtb::kExitBadInput;
  } catch (const std::bad_alloc&) {
    error_line("out of host memory");
    return vtb::kExitHostError;
  } catch (const std::exception& e) {
    error_line(std::string("internal error: ") + e.what());
    return vtb::kExitHostError;
  }
}
