// tags: harness|cli — desc: one way every vtb subcommand parses its options (CLI11), help and usage errors.
#pragma once
#include <CLI/CLI.hpp>

namespace vtb::cli {

// Parses argv (argv[0]: the command's name, e.g. "run") into `app`. Returns -1
// when the command should go on; otherwise the exit code to return: 0 after
// --help (the help CLI11 generates from the options, on stdout), 2 (bad input)
// after a usage error, reported as one line "vtb <cmd>: <what> (vtb <cmd> --help)".
int parse_cli(CLI::App& app, int argc, char** argv);

// A CLI11 App for `vtb <name>` with the project's conventions (GNU-style
// --opt=value and --opt value, -h/--help, no configuration files).
void init_app(CLI::App& app);

}  // namespace vtb::cli
