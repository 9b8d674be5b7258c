// tags: harness|cli — desc: the vtb subcommands (one file each) and shared CLI helpers.
#pragma once
#include <cstdio>
#include <string>

#include "harness/atomic_file.h"

namespace vtb {
struct RunRequest;
}

namespace vtb::cli {

int cmd_list(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_compare(int argc, char** argv); // cmd_bench.cpp: two cells side by side (harness/bench/compare.cpp)
int cmd_merge(int argc, char** argv);   // cmd_merge.cpp: joins `vtb bench --shard` results folders
int cmd_census(int argc, char** argv);  // cmd_census.cpp (workload suite)
int cmd_fuzz(int argc, char** argv);    // fuzz/cmd_fuzz.cpp: fuzz campaigns vs qemu-tcg (docs/reliability.md)
// multi_vm.cpp: `vtb run --vms N`: N VMs at once, one host process each.
int run_multi_vm(const vtb::RunRequest& req, int n, bool json);

// "vtb: <msg>" on stderr, one line (newlines in msg become spaces).
void error_line(const std::string& msg);

using vtb::write_file_atomic;  // harness/atomic_file.h

}  // namespace vtb::cli
