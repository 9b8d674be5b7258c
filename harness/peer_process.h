// tags: harness|peers — desc: spawn a peer (QEMU, a host-native program) with console and control pipes, bounded.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/phase.h"
#include "common/vm.h"

namespace vtb {

struct PeerSpawn {
  std::vector<std::string> argv;       // argv[0]: an absolute path or a name looked up in PATH
  std::vector<std::string> env_add;    // "KEY=VALUE" added to the environment
  int ctrl_fd = 3;                     // the child's fd for the control pipe's write end (-1: none)
  bool stderr_to_console = false;      // true: stderr joins the console stream
  std::chrono::milliseconds timeout{60000};
  bool echo_console = false;           // copy console bytes to our stdout as they come
};

struct PeerOutcome {
  bool spawned = false;     // false: exec failed (spawn_errno, error)
  int spawn_errno = 0;
  bool exited = false;      // normal exit: exit_status valid
  int exit_status = -1;
  int term_signal = 0;      // the signal that ended it
  bool timed_out = false;   // killed by us at the deadline
  std::string console;      // stdout (+ stderr when merged)
  std::string err;          // stderr when not merged (capped)
  // The control channel, parsed like the control device: lines stamped with
  // CLOCK_MONOTONIC when their '\n' arrives.
  std::vector<PhaseTiming> phases;
  std::vector<std::pair<std::string, std::string>> records;
  uint64_t malformed_lines = 0;
  double wall_seconds = 0;
  std::string error;        // host-side failure, one line
};

// Runs the peer in its own process group; on the deadline kills the whole
// group. Never throws.
PeerOutcome run_peer(const PeerSpawn& spec);

// Copies what every peer reports the same way (console, phases, records,
// wall time, malformed control lines) into a run result.
void copy_peer_output(const PeerOutcome& o, RunResult* res);

}  // namespace vtb
