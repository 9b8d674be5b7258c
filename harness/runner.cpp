// tags: harness|runner — desc: run_one: resolve workload, params and paths from the manifest, dispatch, check expectations.
#include "harness/runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/abi/vtb_abi.h"
#include "engines/registry.h"
#include "harness/runner_internal.h"

#ifndef VTB_DEFAULT_KERNEL_ELF
#define VTB_DEFAULT_KERNEL_ELF ""
#endif
#ifndef VTB_DEFAULT_KERNEL_PV_ELF
#define VTB_DEFAULT_KERNEL_PV_ELF ""
#endif
#ifndef VTB_DEFAULT_ARCHIVE
#define VTB_DEFAULT_ARCHIVE ""
#endif
#ifndef VTB_DEFAULT_NATIVE_DIR
#define VTB_DEFAULT_NATIVE_DIR ""
#endif
#ifndef VTB_DEFAULT_MANIFEST
#define VTB_DEFAULT_MANIFEST ""
#endif

namespace vtb {
namespace {

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool scope_matches(const std::string& scope, const RunReport& r) {
  if (scope == "*") return r.engine != "qemu-tcg" && r.engine != "native";  // peers: only when named
  return scope == r.engine || scope == r.engine.substr(0, r.engine.find(':')) || scope == r.engine_label ||
         scope == r.technique;
}

bool compare(uint64_t a, const std::string& op, uint64_t b) {
  if (op == "==") return a == b;
  if (op == "!=") return a != b;
  if (op == ">=") return a >= b;
  if (op == "<=") return a <= b;
  if (op == ">") return a > b;
  return a < b;
}

void check_expectations(const Manifest& m, const Workload& w, RunReport* r) {
  const RunResult& res = r->result;
  if (res.outcome != Outcome::Exited) {
    r->check_failures.push_back(std::string("outcome ") + outcome_name(res.outcome) + ", expected exited");
    return;
  }
  if (res.exit_code != w.exit_code)
    r->check_failures.push_back("exit code " + std::to_string(res.exit_code) + ", expected " + std::to_string(w.exit_code));
  std::string console = res.console;
  for (size_t p; (p = console.find("\r\n")) != std::string::npos;) console.erase(p, 1);
  for (const auto& c : w.console_contains) {
    std::string want;
    if (!expand_template(c, r->params, &want)) want = c;
    if (console.find(want) == std::string::npos) r->check_failures.push_back("console lacks '" + want + "'");
  }
  if (!w.golden.empty()) {
    std::string path = w.golden[0] == '/' ? w.golden : m.dir + "/" + w.golden;
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      r->check_failures.push_back("golden file " + path + " missing");
    } else {
      std::stringstream ss;
      ss << f.rdbuf();
      if (console.find(ss.str()) == std::string::npos)
        r->check_failures.push_back("console does not contain the golden text of " + path);
    }
  }
  for (const auto& b : w.bounds) {
    if (!scope_matches(b.scope, *r)) continue;
    std::string v;
    if (!expand_template(b.value, r->params, &v)) continue;
    uint64_t want = strtoull(v.c_str(), nullptr, 0);
    uint64_t got = res.counters.get(b.counter);
    if (!compare(got, b.op, want))
      r->check_failures.push_back("counter " + b.counter + " = " + std::to_string(got) + ", expected " + b.op + " " + v);
  }
}

bool is_peer(const std::string& e) { return e == "qemu-tcg" || e == "native"; }

std::string known_runners() {
  std::string s;
  for (const auto& i : registered_engines()) s += (s.empty() ? "" : ", ") + std::string(i.name);
  s += (s.empty() ? "" : ", ") + std::string("qemu-tcg, native");
  return s;
}

}  // namespace

const char* error_kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::None: return "none";
    case ErrorKind::BadInput: return "bad_input";
    case ErrorKind::Unavailable: return "unavailable";
    case ErrorKind::HostError: return "host_error";
    case ErrorKind::GuestFailure: return "guest_failure";
  }
  return "unknown";
}

namespace {

// The folder of the running binary ("" when /proc/self/exe is unreadable).
std::string exe_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string p(buf, size_t(n));
  return p.substr(0, p.rfind('/'));
}

// Where a datum of the build is: the environment variable, else next to the
// binary (the build tree: <build>/harness/vtb, data in <build>/workloads/;
// an install: <prefix>/bin/vtb, data in <prefix>/share/vtb/), else the path
// the build was configured with (a binary that was moved alone).
std::string data_path(const char* env, const char* name, const char* configured) {
  if (const char* v = std::getenv(env); v && *v) return v;
  const std::string dir = exe_dir();
  if (!dir.empty())
    for (const std::string& p : {dir + "/../workloads/" + name, dir + "/../share/vtb/" + name})
      if (access(p.c_str(), F_OK) == 0) return std::filesystem::path(p).lexically_normal().string();
  return configured;
}

}  // namespace

std::string default_manifest_path() { return data_path("VTB_MANIFEST", "manifest", VTB_DEFAULT_MANIFEST); }
std::string default_kernel_path(bool pv) {
  return pv ? data_path("VTB_KERNEL_PV", "tbk.pv.elf", VTB_DEFAULT_KERNEL_PV_ELF)
            : data_path("VTB_KERNEL", "tbk.elf", VTB_DEFAULT_KERNEL_ELF);
}
std::string default_archive_path() { return data_path("VTB_ARCHIVE", "programs.vtba", VTB_DEFAULT_ARCHIVE); }
std::string default_native_dir() { return data_path("VTB_NATIVE_DIR", "native", VTB_DEFAULT_NATIVE_DIR); }
std::string default_data_path(const char* env, const char* name, const std::string& configured) {
  return data_path(env, name, configured.c_str());
}

namespace {

// Probes one engine's caps in a child process: in-process engines reserve
// the guest address window in their constructor, and a probe must neither
// disturb the next engine's probe nor take the listing process down.
void probe_engine(const EngineInfo& info, RunnerInfo* ri) {
  ri->backend = ri->name;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    ri->available = Status::host_error(std::string("pipe: ") + strerror(errno));
    return;
  }
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    ri->available = Status::host_error(std::string("fork: ") + strerror(errno));
    return;
  }
  if (pid == 0) {
    close(p[0]);
    const std::string sep(1, '\x1f');
    std::string msg = "0" + sep + sep + sep + "0" + sep + "engine could not be created";
    if (auto eng = info.make ? info.make() : nullptr) {
      Caps c = eng->caps();
      msg = std::string(c.available ? "1" : "0") + sep + c.backend + sep + flavor_name(c.flavor) + sep +
            (c.needs_dev_kvm ? "1" : "0") + sep + c.available.message();
    }
    for (size_t off = 0; off < msg.size();) {
      ssize_t n = write(p[1], msg.data() + off, msg.size() - off);
      if (n <= 0) break;
      off += size_t(n);
    }
    _exit(0);
  }
  close(p[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got.append(buf, size_t(n));
  }
  close(p[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  std::vector<std::string> f;
  for (size_t a = 0;;) {
    size_t b = got.find('\x1f', a);
    f.push_back(got.substr(a, b == std::string::npos ? std::string::npos : b - a));
    if (b == std::string::npos) break;
    a = b + 1;
  }
  if (f.size() != 5) {
    ri->available = Status::error(ErrorKind::HostError, WIFSIGNALED(st) ? "probing the engine crashed (signal " +
                                                                             std::to_string(WTERMSIG(st)) + ")"
                                                                       : std::string("probing the engine failed"));
    return;
  }
  if (!f[1].empty()) ri->backend = f[1];
  ri->flavor = f[2];
  ri->needs_dev_kvm = f[3] == "1";
  ri->available = f[0] == "1" ? Status::ok() : Status::unavailable(f[4]);
}

}  // namespace

std::vector<RunnerInfo> list_runners() {
  std::vector<RunnerInfo> out;
  for (const auto& info : registered_engines()) {
    RunnerInfo ri;
    ri.name = std::string(info.name);
    ri.technique = std::string(info.technique);
    probe_engine(info, &ri);
    out.push_back(std::move(ri));
  }
  RunnerInfo q{"qemu-tcg", "reference machine (QEMU TCG)", "qemu-tcg", "native", true, Status::ok()};
  std::string qpath;
  q.available = harness::qemu_available(&qpath);
  out.push_back(q);
  RunnerInfo n{"native", "host native (no virtualization)", "native", "native", true, Status::ok()};
  n.available = harness::native_available(default_native_dir());
  out.push_back(n);
  return out;
}

namespace harness {

void fail(RunReport* r, const Status& s) {
  r->error = s.kind() == ErrorKind::None ? ErrorKind::HostError : s.kind();
  r->error_message = s.message();
  r->result.outcome = Outcome::EngineError;
  r->result.message = s.message();
}

}  // namespace harness

RunReport run_one(const RunRequest& req) {
  RunReport r;
  r.engine = req.engine;
  r.workload = req.workload;
  harness::Prepared p;

  // The engine first: an unknown engine is the most common typo.
  const EngineInfo* info = nullptr;
  std::unique_ptr<Engine> probe;
  bool pv_flavor = false;
  if (is_peer(req.engine)) {
    r.engine_label = req.engine;
    r.technique = req.engine == "native" ? "host native (no virtualization)" : "reference machine (QEMU TCG)";
  } else {
    EngineSpec spec;
    if (std::string e = parse_engine_spec(req.engine, &spec); !e.empty()) {
      const bool unknown = e.rfind("unknown engine", 0) == 0;
      harness::fail(&r, Status::bad_input(e + (unknown ? " (known: " + known_runners() + ")" : "")));
      return r;
    }
    info = spec.info;
    apply_engine_options(spec);  // `--engine pv:protect=off`: the environment the engine reads at creation
    r.technique = std::string(info->technique);
    probe = info->make ? info->make() : nullptr;
    if (!probe) {
      harness::fail(&r, Status::host_error("engine '" + req.engine + "' could not be created"));
      return r;
    }
    Caps c = probe->caps();
    // The series label names the options: "pv-unprotected:protect=off".
    r.engine_label = (c.backend.empty() ? std::string(info->name) : c.backend) + spec.options;
    pv_flavor = c.flavor == Flavor::Pv;
  }

  Manifest m;
  std::string mpath = req.manifest_path.empty() ? default_manifest_path() : req.manifest_path;
  if (mpath.empty()) {
    harness::fail(&r, Status::bad_input("no workload manifest (set VTB_MANIFEST)"));
    return r;
  }
  if (Status s = load_manifest(mpath, &m); !s) {
    harness::fail(&r, s);
    return r;
  }
  const Workload* w = m.find(req.workload);
  if (!w) {
    harness::fail(&r, Status::bad_input("unknown workload '" + req.workload + "' (known: " + m.names() + ")"));
    return r;
  }
  p.workload = w;
  if (Status s = resolve_params(*w, req.params, &r.params); !s) {
    harness::fail(&r, s);
    return r;
  }
  if (Status s = render_command_line(*w, r.params, &p.command_line); !s) {
    harness::fail(&r, s);
    return r;
  }
  if (p.command_line.size() >= VTB_CMDLINE_MAX) {
    harness::fail(&r, Status::bad_input("command line too long (" + std::to_string(p.command_line.size()) + " bytes, max " +
                                        std::to_string(VTB_CMDLINE_MAX - 1) + ")"));
    return r;
  }
  r.command_line = p.command_line;
  p.argv = split_words(p.command_line);
  const char* want_flavor = pv_flavor ? "pv" : "native";
  if (!w->has_flavor(want_flavor)) {
    harness::fail(&r, Status::bad_input("workload '" + w->name + "' has no " + want_flavor + " flavor (engine '" +
                                        req.engine + "' needs it)"));
    return r;
  }
  if (is_peer(req.engine) && !w->runs_on_peer(req.engine)) {
    harness::fail(&r, Status::unavailable("workload '" + w->name + "' does not run on the " + req.engine + " peer (manifest)"));
    return r;
  }
  p.timeout = req.timeout.count() > 0 ? req.timeout
                                      : std::chrono::milliseconds(int64_t(w->timeout_s * 1000.0));
  p.mem_mib = req.mem_mib ? req.mem_mib : (w->mem_mib ? w->mem_mib : VTB_DEFAULT_MEM_MIB);
  p.echo_console = req.echo_console;
  p.kernel_path = req.kernel_path.empty() ? default_kernel_path(pv_flavor) : req.kernel_path;
  p.archive_path = req.archive_path.empty() ? default_archive_path() : req.archive_path;
  p.native_dir = req.native_dir.empty() ? default_native_dir() : req.native_dir;
  if (req.engine != "native") {
    // Inputs first: a bad kernel or archive is bad input on every host.
    r.kernel_path = p.kernel_path;
    r.archive_path = p.archive_path;
    if (Status s = harness::check_kernel(p.kernel_path, want_flavor, &p.kernel); !s) {
      harness::fail(&r, s);
      return r;
    }
    if (Status s = harness::check_archive(p.archive_path, w->program, &p.archive); !s) {
      harness::fail(&r, s);
      return r;
    }
  }

  if (req.engine == "qemu-tcg")
    harness::run_on_qemu(p, &r);
  else if (req.engine == "native")
    harness::run_on_native(p, &r);
  else {
    p.engine = std::move(probe);
    harness::run_on_engine(p, &r);
  }
  if (r.error == ErrorKind::None) check_expectations(m, *w, &r);
  return r;
}

int cli_exit_code(const RunReport& r) {
  switch (r.error) {
    case ErrorKind::BadInput: return kExitBadInput;
    case ErrorKind::Unavailable: return kExitUnavailable;
    case ErrorKind::HostError: return kExitHostError;
    case ErrorKind::GuestFailure: return kExitGuestCrash;
    case ErrorKind::None: break;
  }
  switch (r.result.outcome) {
    case Outcome::Exited:
      if (r.result.exit_code == 0) return kExitOk;
      if (r.result.exit_code == VTB_EXIT_PANIC) return kExitGuestCrash;  // the kernel panicked
      return kExitGuestNonZero;
    case Outcome::Shutdown:
    case Outcome::GuestFault: return kExitGuestCrash;
    case Outcome::LimitReached: return kExitLimit;
    case Outcome::EngineError: return kExitEngineError;
  }
  return kExitHostError;
}

}  // namespace vtb
