// tags: harness|peers — desc: the native peer: the host build of the program, control records through VTB_CTRL_FD.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "harness/peer_process.h"
#include "harness/runner_internal.h"

namespace vtb::harness {

Status native_available(const std::string& dir) {
  if (dir.empty()) return Status::unavailable("no host-native program directory (build the workloads or set VTB_NATIVE_DIR)");
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::unavailable("host-native programs not built: " + dir + " is not a directory");
  return Status::ok();
}

void run_on_native(const Prepared& p, RunReport* r) {
  if (Status s = native_available(p.native_dir); !s) return fail(r, s);
  const std::string exe = p.native_dir + "/" + p.workload->program;
  if (access(exe.c_str(), X_OK) != 0)
    return fail(r, Status::unavailable("no host-native build of '" + p.workload->program + "' (" + exe + ": " +
                                       strerror(errno) + ")"));
  PeerSpawn spec;
  spec.argv = p.argv;
  spec.argv[0] = exe;
  spec.ctrl_fd = 3;
  spec.env_add = {"VTB_CTRL_FD=3"};
  spec.stderr_to_console = true;
  spec.timeout = p.timeout;
  spec.echo_console = p.echo_console;
  PeerOutcome o = run_peer(spec);
  RunResult& res = r->result;
  copy_peer_output(o, &res);
  if (!o.spawned) return fail(r, Status::host_error("cannot start " + exe + ": " + o.error));
  if (!o.error.empty()) return fail(r, Status::host_error(o.error));
  if (o.timed_out) {
    res.outcome = Outcome::LimitReached;
    res.message = "wall-clock limit reached (" + std::to_string(p.timeout.count()) + " ms); process group killed";
  } else if (o.exited) {
    res.outcome = Outcome::Exited;
    res.exit_code = o.exit_status;
  } else {
    res.outcome = Outcome::GuestFault;
    res.message = std::string("program killed by signal ") + std::to_string(o.term_signal) + " (" +
                  strsignal(o.term_signal) + ")";
  }
}

}  // namespace vtb::harness
