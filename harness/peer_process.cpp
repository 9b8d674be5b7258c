// tags: harness|peers — desc: spawn a peer (QEMU, a host-native program) with console and control pipes, bounded.
#include "harness/peer_process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"
#include "common/devices/control.h"

extern char** environ;

namespace vtb {
namespace {

constexpr size_t kCap = 64u << 20;  // console / stderr capture cap

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

bool make_pipe(int p[2]) { return pipe2(p, O_CLOEXEC) == 0; }

}  // namespace

PeerOutcome run_peer(const PeerSpawn& spec) {
  PeerOutcome o;
  if (spec.argv.empty()) {
    o.error = "no program to run";
    return o;
  }
  int out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, ctl_p[2] = {-1, -1}, exec_p[2] = {-1, -1};
  if (!make_pipe(out_p) || !make_pipe(err_p) || !make_pipe(ctl_p) || !make_pipe(exec_p)) {
    o.error = std::string("pipe: ") + strerror(errno);
    for (int* p : {out_p, err_p, ctl_p, exec_p}) close_fd(p[0]), close_fd(p[1]);
    return o;
  }
  // Prepare everything the child needs before fork (no allocation after it).
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    bool overridden = false;
    for (const auto& a : spec.env_add) {
      size_t eq = a.find('=');
      if (eq != std::string::npos && strncmp(*e, a.c_str(), eq + 1) == 0) overridden = true;
    }
    if (!overridden) envs.emplace_back(*e);
  }
  for (const auto& a : spec.env_add) envs.push_back(a);
  std::vector<char*> envp, argv;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const uint64_t start = monotonic_ns();
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    o.error = std::string("fork: ") + strerror(errno);
    for (int* p : {out_p, err_p, ctl_p, exec_p}) close_fd(p[0]), close_fd(p[1]);
    return o;
  }
  if (pid == 0) {
    // The peer dies with vtb (killed, crashed or timed out from outside): it
    // must never be left running, reparented to init.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    // Move the ends above the targets first so dup2 cannot clobber them.
    int out_w = fcntl(out_p[1], F_DUPFD, 10), err_w = fcntl(err_p[1], F_DUPFD, 10);
    int ctl_w = fcntl(ctl_p[1], F_DUPFD, 10);
    dup2(devnull, 0);
    dup2(out_w, 1);
    dup2(spec.stderr_to_console ? out_w : err_w, 2);
    if (spec.ctrl_fd >= 0) dup2(ctl_w, spec.ctrl_fd);
    execvpe(argv[0], argv.data(), envp.data());
    int e = errno;
    ssize_t w = write(exec_p[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent: no race with the kill below
  close_fd(out_p[1]);
  close_fd(err_p[1]);
  close_fd(ctl_p[1]);
  close_fd(exec_p[1]);
  int e = 0;
  ssize_t n;
  do n = read(exec_p[0], &e, sizeof e); while (n < 0 && errno == EINTR);
  close_fd(exec_p[0]);
  if (n == sizeof e) {
    o.spawn_errno = e;
    o.error = spec.argv[0] + ": " + strerror(e);
    waitpid(pid, nullptr, 0);
    close_fd(out_p[0]);
    close_fd(err_p[0]);
    close_fd(ctl_p[0]);
    return o;
  }
  o.spawned = true;

  ControlDevice ctl;
  std::string ctl_line;
  const uint64_t deadline = start + uint64_t(spec.timeout.count()) * 1000000ULL;
  int fds[3] = {out_p[0], err_p[0], ctl_p[0]};
  bool reaped = false;
  int status = 0;
  uint64_t drain_until = 0;  // after the child exits: a short grace for the pipes
  char buf[65536];
  for (;;) {
    if (!reaped) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        reaped = true;
        drain_until = monotonic_ns() + 500000000ULL;
      }
    }
    bool open_any = fds[0] >= 0 || fds[1] >= 0 || fds[2] >= 0;
    uint64_t now = monotonic_ns();
    if (reaped && (!open_any || now >= drain_until)) break;
    if (!reaped && now >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      o.timed_out = true;
      waitpid(pid, &status, 0);
      reaped = true;
      break;
    }
    pollfd pf[3];
    int np = 0, idx[3];
    for (int i = 0; i < 3; ++i)
      if (fds[i] >= 0) pf[np] = {fds[i], POLLIN, 0}, idx[np++] = i;
    // Wake at least every 20 ms to notice the child's exit.
    uint64_t until = reaped ? drain_until : deadline;
    int wait_ms = int(std::min<uint64_t>((until > now ? until - now : 0) / 1000000ULL + 1, 20));
    int pr = np ? poll(pf, np, wait_ms) : (usleep(wait_ms * 1000), 0);
    if (pr < 0 && errno != EINTR) {
      o.error = std::string("poll: ") + strerror(errno);
      kill(-pid, SIGKILL);
      break;
    }
    for (int k = 0; k < np && pr > 0; ++k) {
      if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int i = idx[k];
      ssize_t got = read(fds[i], buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        close_fd(fds[i]);
        continue;
      }
      const uint64_t stamp = monotonic_ns();
      if (i == 0) {
        if (o.console.size() < kCap) o.console.append(buf, size_t(got));
        if (spec.echo_console) {
          ssize_t w = write(1, buf, size_t(got));
          (void)w;
        }
      } else if (i == 1) {
        if (o.err.size() < kCap) o.err.append(buf, size_t(got));
      } else {
        for (ssize_t j = 0; j < got; ++j) {
          if (buf[j] == '\n') {
            ctl.feed_line(ctl_line, stamp);
            ctl_line.clear();
          } else if (ctl_line.size() < 4096) {
            ctl_line += buf[j];
          }
        }
      }
    }
  }
  if (!reaped) waitpid(pid, &status, 0);
  kill(-pid, SIGKILL);  // leftovers of the group (a runaway grandchild)
  for (int& fd : fds) close_fd(fd);
  o.wall_seconds = double(monotonic_ns() - start) * 1e-9;
  if (!o.timed_out) {
    if (WIFEXITED(status)) {
      o.exited = true;
      o.exit_status = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      o.term_signal = WTERMSIG(status);
    }
  }
  o.phases = ctl.phases();
  o.records = ctl.records();
  o.malformed_lines = ctl.malformed_lines();
  return o;
}

void copy_peer_output(const PeerOutcome& o, RunResult* res) {
  res->console = o.console;
  res->phases = o.phases;
  res->records = o.records;
  res->wall_seconds = o.wall_seconds;
  if (o.malformed_lines) res->counters.set("control.malformed_lines", o.malformed_lines);
}

}  // namespace vtb
