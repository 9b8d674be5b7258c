// tags: harness|cli — desc: vtb entry point: dispatch to list | run | bench | merge | census | fuzz, --help, shared helpers.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "harness/commands.h"
#include "harness/runner.h"

namespace vtb::cli {

void print_usage(FILE* f) {
  fprintf(f,
          "usage: vtb <command> [options]\n"
          "\n"
          "commands:\n"
          "  list                      engines (technique, backend, availability), peers, workloads\n"
          "  run --engine E --workload W [--param k=v]... [--json] [--kernel PATH]\n"
          "      [--archive PATH] [--manifest PATH] [--timeout S] [--mem MIB] [--quiet] [--out FILE] [--vms N]\n"
          "                            run one workload on one engine or peer (qemu-tcg, native)\n"
          "  bench [...]               the benchmark matrix (vtb bench --help; --shard i/N: one part of it)\n"
          "  merge [--out DIR] SHARD_DIR...\n"
          "                            join the results folders of vtb bench --shard into one (vtb merge --help)\n"
          "  census [--engines E,...] [--json]\n"
          "                            the sensitive-instruction census table (docs/census.md)\n"
          "  fuzz [--engines E,...] [--seed S] [--programs N] [--kind K] [--shard i/N] [--out FILE]\n"
          "                            fuzz campaign on every engine vs qemu-tcg (vtb fuzz --help; docs/reliability.md)\n"
          "  help                      this text\n"
          "\n"
          "exit codes: 0 guest exited 0; 10 guest exited non-zero; 11 guest crashed;\n"
          "12 limit reached; 2 bad input; 3 engine unavailable; 4 engine error; 5 host error\n"
          "(docs/cli.md)\n");
}

}  // namespace vtb::cli

int main(int argc, char** argv) {
  using namespace vtb::cli;
  try {
    if (argc < 2) {
      print_usage(stderr);
      return vtb::kExitBadInput;
    }
    std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      print_usage(stdout);
      return 0;
    }
    if (cmd == "list") return cmd_list(argc - 1, argv + 1);
    if (cmd == "run") return cmd_run(argc - 1, argv + 1);
    if (cmd == "bench") return cmd_bench(argc - 1, argv + 1);
    if (cmd == "merge") return cmd_merge(argc - 1, argv + 1);
    if (cmd == "compare") return cmd_compare(argc - 1, argv + 1);
    if (cmd == "census") return cmd_census(argc - 1, argv + 1);
    if (cmd == "fuzz") return cmd_fuzz(argc - 1, argv + 1);
    error_line("unknown command '" + cmd + "' (known: list, run, bench, merge, census, fuzz, help)");
    return vtb::kExitBadInput;
  } catch (const std::bad_alloc&) {
    error_line("out of host memory");
    return vtb::kExitHostError;
  } catch (const std::exception& e) {
    error_line(std::string("internal error: ") + e.what());
    return vtb::kExitHostError;
  }
}
