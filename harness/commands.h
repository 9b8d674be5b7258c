// tags: harness|cli — desc: the vtb subcommands (one file each) and shared CLI helpers.
#pragma once
#include <cstdio>
#include <string>

namespace vtb::cli {

int cmd_list(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_bench(int argc, char** argv);
void print_usage(FILE* f);

// "vtb: <msg>" on stderr, one line (newlines in msg become spaces).
void error_line(const std::string& msg);

// Writes `data` to `path` through a temporary file + rename (no partial file).
bool write_file_atomic(const std::string& path, const std::string& data, std::string* err);

}  // namespace vtb::cli
