// tags: harness|bench — desc: posix_spawn + poll based child runner with timeout and output capture.
#include "harness/bench/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"

extern char** environ;

namespace vtb::bench {

namespace {
constexpr size_t kCap = 64u << 20;

void drain(int fd, std::string& s, bool* open) {
  char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    if (s.size() < kCap) s.append(buf, size_t(n) < kCap - s.size() ? size_t(n) : kCap - s.size());
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    *open = false;
  }
}
}  // namespace

std::string ChildResult::describe() const {
  if (!started) return "could not start: " + error;
  if (timed_out) return "timed out after " + std::to_string(int(wall_seconds)) + " s (killed)";
  if (!exited) return std::string("killed by signal ") + std::to_string(term_signal) + " (" + strsignal(term_signal) + ")";
  return "exit code " + std::to_string(exit_code);
}

std::string self_exe_path() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, size_t(n));
}

ChildResult run_child(const std::vector<std::string>& argv, double timeout_seconds) {
  ChildResult r;
  if (argv.empty()) { r.error = "empty command"; return r; }
  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) != 0) { r.error = strerror(errno); return r; }
  if (pipe2(pe, O_CLOEXEC) != 0) { r.error = strerror(errno); close(po[0]); close(po[1]); return r; }

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&at, 0);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setsigmask(&at, &none);

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  uint64_t t0 = monotonic_ns();
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, &at, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(po[1]);
  close(pe[1]);
  if (rc != 0) {
    r.error = std::string(argv[0]) + ": " + strerror(rc);
    close(po[0]);
    close(pe[0]);
    return r;
  }
  r.started = true;

  bool oo = true, eo = true;
  uint64_t deadline = timeout_seconds > 0 ? t0 + uint64_t(timeout_seconds * 1e9) : 0;
  while (oo || eo) {
    pollfd fds[2];
    int nf = 0;
    if (oo) fds[nf++] = {po[0], POLLIN, 0};
    if (eo) fds[nf++] = {pe[0], POLLIN, 0};
    int wait_ms = 200;
    if (deadline) {
      uint64_t now = monotonic_ns();
      if (now >= deadline) { r.timed_out = true; break; }
      uint64_t left = (deadline - now) / 1000000 + 1;
      if (left < uint64_t(wait_ms)) wait_ms = int(left);
    }
    int n = poll(fds, nfds_t(nf), wait_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < nf; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (fds[i].fd == po[0]) drain(po[0], r.out, &oo);
      else drain(pe[0], r.err, &eo);
    }
  }
  if (r.timed_out) kill(-pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  // Output written between the timeout and the kill is dropped on purpose.
  close(po[0]);
  close(pe[0]);
  r.wall_seconds = double(monotonic_ns() - t0) * 1e-9;
  if (WIFEXITED(st)) { r.exited = !r.timed_out; r.exit_code = WEXITSTATUS(st); }
  else if (WIFSIGNALED(st)) r.term_signal = WTERMSIG(st);
  // The child is reaped only after both pipes closed or the deadline passed,
  // so the group id is still ours when the timeout kill above is sent.
  return r;
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  auto p = t.find_last_of('\n');
  t = p == std::string::npos ? t : t.substr(p + 1);
  return t.size() > 200 ? t.substr(0, 200) : t;
}

}  // namespace vtb::bench
