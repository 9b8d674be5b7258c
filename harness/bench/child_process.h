// tags: harness|bench — desc: run one measurement in a child process (captured output, wall-time bound).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vtb::bench {

struct ChildResult {
  bool started = false;     // false: could not spawn (see error)
  bool exited = false;      // normal exit (exit_code valid)
  int exit_code = -1;
  int term_signal = 0;      // the signal that ended it, when !exited
  bool timed_out = false;   // killed by us after the wall bound
  std::string out, err;     // captured stdout / stderr (each capped at 64 MiB)
  double wall_seconds = 0;
  std::string error;        // spawn failure, one line

  // One line describing a run that did not exit with code 0 or 1..255.
  std::string describe() const;
};

// The last non-empty line of a child's output (trailing blanks dropped, at most 200 characters).
std::string last_line(const std::string& s);

// Runs argv[0] (an absolute path) with argv in its own process group; kills
// the group after `timeout_seconds` (0: no bound). Never throws.
ChildResult run_child(const std::vector<std::string>& argv, double timeout_seconds);

// The path of the running executable (/proc/self/exe), "" if unreadable.
std::string self_exe_path();

}  // namespace vtb::bench
