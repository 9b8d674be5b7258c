// tags: harness|fuzz — desc: the fuzz campaign: batches of generated programs per vtb run, resume after a lost program, comparison with qemu-tcg.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/loader.h"
#include "harness/commands.h"
#include "common/abi/vtb_abi.h"
#include "harness/fuzz/fuzz.h"
#include "harness/fuzz/fuzz_gen.h"
#include "harness/json.h"
#include "harness/runner.h"

namespace vtb::fuzz {
namespace {

const char* kKindNames[] = {"flip", "rand", "seq"};          // the driver's argument
const char* kCliNames[] = {"bitflip", "random", "seq"};       // --kind, reports
constexpr uint64_t kExamplesPerClass = 20;

// The result of one `vtb run` of the driver, made in a forked child (the
// in-process engines own their process's guest window; a host crash kills
// only that child).
struct RunOut {
  int cli_exit = kExitHostError;
  int signal = 0;        // the run's process died of this signal: host crash
  bool backstop = false; // the run's process outlived timeout + grace: host hang
  std::string message, console;
};

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

// The child echoes the guest console onto a second pipe as it comes (the
// UART's unbuffered echo), so that a run that dies still shows which program
// was running.
RunOut run_child(const RunRequest& req0, double backstop_s) {
  RunOut o;
  int p[2], con[2];
  if (pipe(p) != 0) {
    o.message = std::string("pipe: ") + strerror(errno);
    return o;
  }
  if (pipe(con) != 0) {
    o.message = std::string("pipe: ") + strerror(errno);
    close(p[0]);
    close(p[1]);
    return o;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    o.message = std::string("fork: ") + strerror(errno);
    for (int fd : {p[0], p[1], con[0], con[1]}) close(fd);
    return o;
  }
  if (pid == 0) {
    close(p[0]);
    close(con[0]);
    setpgid(0, 0);  // the backstop kills the whole group (QEMU included)
    dup2(con[1], 1);
    close(con[1]);
    RunRequest req = req0;
    req.echo_console = true;
    RunReport r = run_one(req);
    std::string msg = r.error != ErrorKind::None ? r.error_message : r.result.message;
    char head[64];
    snprintf(head, sizeof head, "%d %zu\n", cli_exit_code(r), msg.size());
    write_all(p[1], head + msg + r.result.console);
    _exit(0);
  }
  close(p[1]);
  close(con[1]);
  std::string buf, streamed;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(backstop_s * 1000));
  char tmp[65536];
  pollfd pf[2] = {{p[0], POLLIN, 0}, {con[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      o.backstop = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      break;
    }
    int pr = poll(pf, 2, int(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    for (int k = 0; k < 2 && pr > 0; ++k) {
      if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(pf[k].fd, tmp, sizeof tmp);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(pf[k].fd);
        pf[k].fd = -1;
        --open_fds;
        continue;
      }
      (k == 0 ? buf : streamed).append(tmp, size_t(n));
    }
  }
  for (auto& f : pf)
    if (f.fd >= 0) close(f.fd);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st) && !o.backstop) o.signal = WTERMSIG(st);
  int cli = 0;
  size_t mlen = 0;
  int used = 0;
  o.console = streamed;
  if (!o.backstop && !o.signal && sscanf(buf.c_str(), "%d %zu\n%n", &cli, &mlen, &used) >= 2 &&
      size_t(used) + mlen <= buf.size()) {
    o.cli_exit = cli;
    o.message = buf.substr(size_t(used), mlen);
    o.console = buf.substr(size_t(used) + mlen);
  } else if (!o.backstop && !o.signal) {
    o.message = "no result from the run process";
  }
  return o;
}

std::string normalize(const std::string& s) {
  static const std::regex pid_re("pid [0-9]+");
  return std::regex_replace(s, pid_re, "pid #");
}

void set_console(Outcome* o, const std::string& text) {
  o->console = normalize(text);
  o->hash = fz_fnv(FZ_FNV0, o->console.data(), o->console.size());
}

// Same outcome, consoles equal but for the error codes of page-fault kill
// lines, in bits that QEMU TCG sets differently from hardware: I/D (0x10,
// QEMU sets it only with EFER.NXE or SMEP on, as the SDM says; engines that
// fault on the host CPU report the host's) and W (0x2, hardware reports a
// read-modify-write that faults on its read as a write).
std::string pf_error_class(const Outcome& r, const Outcome& e) {
  if (r.what != e.what) return "";
  static const std::regex err_re("error 0x([0-9a-f]+)\\)");
  auto masked = [&](const std::string& s, unsigned mask) {
    std::string out;
    auto it = std::sregex_iterator(s.begin(), s.end(), err_re);
    size_t last = 0;
    for (; it != std::sregex_iterator(); ++it) {
      out += s.substr(last, size_t(it->position()) - last);
      out += "error " + std::to_string(strtoul((*it)[1].str().c_str(), nullptr, 16) & ~mask) + ")";
      last = size_t(it->position() + it->length());
    }
    return out + s.substr(last);
  };
  if (masked(r.console, 0x10) == masked(e.console, 0x10)) return "pf-error-code:fetch-bit";
  if (masked(r.console, 0x2) == masked(e.console, 0x2)) return "pf-error-code:rmw-write-bit";
  if (masked(r.console, 0x12) == masked(e.console, 0x12)) return "pf-error-code:fetch+write-bits";
  return "";
}

struct Batch {
  int kind;
  uint64_t first, count;
};

struct Ctx {
  const Options& o;
  Summary* s;
  std::string manifest, flip_archive;  // flip_archive: for the current flip batch
  std::vector<std::pair<std::string, std::string>> base;  // the default archive's entries
};

std::string reproducer(const Ctx& c, const std::string& engine, int kind, uint64_t index) {
  char b[200];
  snprintf(b, sizeof b, "vtb fuzz --engines %s --kind %s --seed %llu --first %llu --programs 1", engine.c_str(),
           kCliNames[kind], (unsigned long long)c.o.seed, (unsigned long long)index);
  std::string s = b;
  if (c.o.budget_ticks != FZ_BUDGET_TICKS) s += " --budget " + std::to_string(c.o.budget_ticks);
  return s;
}

// Runs the batch on one engine; a run that ends before its last record is
// resumed after the program that was running.
std::map<uint64_t, Outcome> run_batch(Ctx& c, const std::string& engine, const Batch& b) {
  std::map<uint64_t, Outcome> res;
  EngineStats& st = c.s->per_engine[engine];
  static const std::regex rec_re("@fz ([0-9]+) (fork )?(-?[0-9a-f]+)$");
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t cur = b.first;
  const uint64_t end = b.first + b.count;
  while (cur < end) {
    RunRequest req;
    req.engine = engine;
    req.workload = "fuzz";
    req.manifest_path = c.manifest;
    req.params = {{"kind", kKindNames[b.kind]}, {"seed", std::to_string(c.o.seed)},
                  {"first", std::to_string(cur)}, {"count", std::to_string(end - cur)},
                  {"budget", std::to_string(c.o.budget_ticks)}};
    if (b.kind == FZ_FLIP) req.archive_path = c.flip_archive;
    else if (!c.o.archive.empty()) req.archive_path = c.o.archive;
    const bool pv = engine == "pv";
    if (!(pv ? c.o.kernel_pv : c.o.kernel).empty()) req.kernel_path = pv ? c.o.kernel_pv : c.o.kernel;
    const double t = c.o.timeout_s > 0 ? c.o.timeout_s : 4.0 + 0.2 * double(end - cur);
    req.timeout = std::chrono::milliseconds(int64_t(t * 1000));
    RunOut r = run_child(req, t + 10);
    st.runs++;
    // split the console at the records
    std::istringstream in(r.console);
    std::string line, seg;
    bool started = false;
    uint64_t next = cur;
    while (std::getline(in, line)) {
      std::smatch m;
      if (line.rfind("@fz start", 0) == 0) {
        started = true;
        seg.clear();
        continue;
      }
      // a record ends its line (a program may leave its last line unterminated)
      if (std::regex_search(line, m, rec_re)) {
        seg += line.substr(0, size_t(m.position(0)));
        uint64_t i = strtoull(m[1].str().c_str(), nullptr, 10);
        Outcome& out = res[i];
        if (m[2].matched) {
          out.what = "fork:" + m[3].str();
        } else {
          unsigned long v = strtoul(m[3].str().c_str(), nullptr, 16);
          out.what = v == (VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL) ? "hang"  // out of the driver's budget
                     : (v & VTB_WSTATUS_KILLED)                      ? "killed:" + std::to_string(v & 0xff)
                                                                     : "exit:" + std::to_string(v);
        }
        set_console(&out, seg);
        seg.clear();
        next = i + 1;
        continue;
      }
      if (line.size() >= 8 && line.compare(line.size() - 8, 8, "@fz done") == 0) break;
      seg += line + "\n";
    }
    if (next >= end && r.cli_exit == kExitOk) break;
    // the run ended early: the program that was running gets the run's class
    std::string what;
    if (r.signal) what = "host-crash:" + std::to_string(r.signal);
    else if (r.backstop) what = "host-hang";
    else if (r.cli_exit == kExitLimit) what = "hang";
    else if (r.cli_exit == kExitEngineError)
      // a documented translator limit (docs/bt.md) stops the VM, not the host
      what = r.message.find("unsupported instruction") != std::string::npos ? "engine-limit" : "engine-error";
    else if (r.cli_exit == kExitGuestCrash) what = "guest-crash";
    else if (r.cli_exit == kExitOk || r.cli_exit == kExitGuestNonZero) what = "lost";
    else what = "host-error";
    if (next >= end) {  // every record is there, yet the run failed after them
      if (what.rfind("host-", 0) == 0 || what == "engine-error") {
        c.s->failures.push_back(engine + ": " + what + " after the last program of the batch (" + r.message +
                                "): " + reproducer(c, engine, b.kind, end - 1));
        st.host_crashes += what.rfind("host-crash", 0) == 0;
        st.host_hangs += what == "host-hang";
        st.engine_errors += what == "engine-error" || what == "host-error";
      }
      break;
    }
    if (!started && r.cli_exit != kExitLimit && !r.signal && !r.backstop) {
      // the driver never started: a setup failure, not a program's outcome
      for (uint64_t i = cur; i < end; ++i) res[i].what = "setup:" + std::to_string(r.cli_exit);
      c.s->failures.push_back(engine + ": run failed before the driver started: " + r.message);
      st.engine_errors++;
      break;
    }
    Outcome& out = res[next];
    out.what = what;
    set_console(&out, seg);
    if (what.rfind("host-crash", 0) == 0) st.host_crashes++;
    if (what == "host-hang") st.host_hangs++;
    if (what == "engine-error" || what == "host-error") st.engine_errors++;
    if (what.rfind("host-", 0) == 0 || what == "engine-error")
      c.s->failures.push_back(engine + ": " + what + " (" + r.message + "): " + reproducer(c, engine, b.kind, next));
    if (what == "engine-limit") {
      st.engine_limits++;
      c.s->limits.push_back(engine + ": " + r.message + ": " + reproducer(c, engine, b.kind, next));
    }
    if (c.o.verbose)
      fprintf(stderr, "vtb fuzz: %s %s #%llu: %s (%s)\n", engine.c_str(), kKindNames[b.kind], (unsigned long long)next,
              what.c_str(), r.message.c_str());
    cur = next + 1;
  }
  st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& [i, out] : res) {
    st.programs++;
    std::string k = out.what.substr(0, out.what.find(':'));
    st.outcomes[k]++;
  }
  return res;
}

Status load_base(const Options& o, std::vector<std::pair<std::string, std::string>>* base) {
  const std::string archive = o.archive.empty() ? default_archive_path() : o.archive;
  std::vector<uint8_t> raw;
  if (Status st = read_file(archive, &raw); !st) return Status::bad_input(st.message());
  if (!read_archive(std::string(raw.begin(), raw.end()), base))
    return Status::bad_input(archive + ": not a program archive");
  for (const auto& e : *base)
    if (e.first == "fuzz") return Status::ok();
  return Status::bad_input(archive + " has no 'fuzz' driver program (rebuild the workloads)");
}

std::string mutant_of(const std::vector<std::pair<std::string, std::string>>& base, uint64_t seed, uint64_t i) {
  const char* t = fz_flip_names[fz_flip_template(seed, i)];
  for (const auto& [n, bytes] : base)
    if (n == t) return flip_mutant(seed, i, bytes);
  return "";
}

// An unexplained mismatch that every engine of the batch shares, with the
// same outcome and console, is marked "-ref-only": qemu-tcg is the odd one
// out (a QEMU-vs-hardware difference, or a host-dependent effect the
// classifier does not see). Still counted as unexplained.
void mark_ref_only(Summary* s, size_t from, const std::map<std::string, std::map<uint64_t, Outcome>>& all) {
  for (size_t k = from; k < s->mismatches.size(); ++k) {
    Mismatch& m = s->mismatches[k];
    if (m.cls.size() < 11 || m.cls.compare(m.cls.size() - 11, 11, "unexplained") != 0 || all.size() < 2) continue;
    const Outcome& mine = all.at(m.engine).at(m.index);
    bool same = true;
    for (const auto& [e, res] : all) {
      if (e == "native") continue;
      auto it = res.find(m.index);
      same &= it != res.end() && it->second.what == mine.what && it->second.hash == mine.hash;
    }
    if (!same) continue;
    EngineStats& st = s->per_engine[m.engine];
    if (--st.classes[m.cls] == 0) st.classes.erase(m.cls);
    m.cls += "-ref-only";
    st.classes[m.cls]++;
  }
}

bool is_failure(const std::string& w) {
  return w.rfind("host-", 0) == 0 || w.rfind("engine-", 0) == 0 || w.rfind("setup", 0) == 0;
}

void compare(Ctx& c, const std::string& engine, const Batch& b, const std::map<uint64_t, Outcome>& ref,
             const std::map<uint64_t, Outcome>& eng, const std::string& ref_name) {
  EngineStats& st = c.s->per_engine[engine];
  for (uint64_t i = b.first; i < b.first + b.count; ++i) {
    auto ri = ref.find(i), ei = eng.find(i);
    if (ri == ref.end() || ei == eng.end()) continue;
    const Outcome &r = ri->second, &e = ei->second;
    if (is_failure(e.what) || is_failure(r.what)) continue;  // counted as failures, not mismatches
    if (r.what == e.what && (r.hash == e.hash || r.what == "hang")) {
      st.matched++;
      st.guest_hangs += r.what == "hang";
      continue;
    }
    Mismatch m;
    m.engine = engine;
    m.kind = kCliNames[b.kind];
    m.index = i;
    m.engine_outcome = e.what;
    m.ref_outcome = r.what;
    const std::string mutant = b.kind == FZ_FLIP ? mutant_of(c.base, c.o.seed, i) : "";
    m.cls = r.what != e.what ? "outcome/" : "console/";
    if (ref_name == "native" || engine == "native") m.cls = "vs-native/" + m.cls;
    m.cls += pf_error_class(r, e);
    if (m.cls.back() == '/') m.cls += classify(b.kind, c.o.seed, i, mutant, r, e, &m.detail);
    std::string rc = r.console.substr(0, 160), ec = e.console.substr(0, 160);
    m.detail += (m.detail.empty() ? "" : "; ") + std::string("ref console: ") + rc + " | engine console: " + ec;
    st.mismatched++;
    const bool unexplained = m.cls.find("unexplained") != std::string::npos;
    st.unexplained += unexplained;
    // every unexplained mismatch is kept; explained ones: the first examples of each class
    if (++st.classes[m.cls] <= kExamplesPerClass || unexplained) c.s->mismatches.push_back(m);
  }
}

std::string write_manifest(const std::string& dir) {
  std::string path = dir + "/fuzz.manifest";
  std::ofstream f(path);
  f << "# written by vtb fuzz\n[fuzz]\nprogram = fuzz\nargs = {kind} {seed} {first} {count} {budget}\n"
       "param kind = seq\nparam seed = 0\nparam first = 0\nparam count = 1\nparam budget = "
    << FZ_BUDGET_TICKS << "\nflavors = native pv\n"
       "peers = qemu-tcg native\ntimeout = 600\n";
  return f ? path : "";
}

}  // namespace

Status program_bytes(const Options& o, int kind, uint64_t index, std::string* out) {
  if (kind == FZ_FLIP) {
    std::vector<std::pair<std::string, std::string>> base;
    if (Status st = load_base(o, &base); !st) return st;
    *out = mutant_of(base, o.seed, index);
    return Status::ok();
  }
  std::string page(FZ_CODE_MAX, '\0');
  uint8_t init[FZ_DATA_BYTES];
  page.resize(kind == FZ_RAND ? fz_gen_rand(o.seed, index, reinterpret_cast<uint8_t*>(page.data()))
                              : fz_gen_seq(o.seed, index, reinterpret_cast<uint8_t*>(page.data()),
                                           VTB_USER_MMAP_BASE + 4096, init));
  *out = page;
  return Status::ok();
}

int run_campaign(const Options& o, Summary* s) {
  Ctx c{o, s, "", "", {}};
  std::string dir = o.workdir;
  if (dir.empty()) {
    char tmpl[] = "/tmp/vtb-fuzz.XXXXXX";
    if (!mkdtemp(tmpl)) {
      cli::error_line(std::string("fuzz: mkdtemp: ") + strerror(errno));
      return kExitHostError;
    }
    dir = tmpl;
  } else {
    mkdir(dir.c_str(), 0755);
  }
  c.manifest = write_manifest(dir);
  if (c.manifest.empty()) {
    cli::error_line("fuzz: cannot write " + dir + "/fuzz.manifest");
    return kExitHostError;
  }
  if (Status st = load_base(o, &c.base); !st) {
    cli::error_line("fuzz: " + st.message());
    return kExitBadInput;
  }
  // the plan: programs split over the kinds, batches of per_run, batch j to shard j % N
  std::vector<Batch> plan;
  uint64_t bn = 0;
  for (size_t k = 0; k < o.kinds.size(); ++k) {
    uint64_t n = o.programs / o.kinds.size() + (k < o.programs % o.kinds.size() ? 1 : 0);
    for (uint64_t f = 0; f < n; f += uint64_t(o.per_run), ++bn)
      if (bn % uint64_t(o.shard_n) == uint64_t(o.shard_i))
        plan.push_back({o.kinds[k], o.first + f, std::min<uint64_t>(uint64_t(o.per_run), n - f)});
  }
  for (const Batch& b : plan) {
    if (b.kind == FZ_FLIP) {
      auto entries = c.base;
      for (uint64_t i = b.first; i < b.first + b.count; ++i)
        entries.emplace_back("f" + std::to_string(i), mutant_of(c.base, o.seed, i));
      c.flip_archive = dir + "/flip.vtba";
      std::string err;
      if (!cli::write_file_atomic(c.flip_archive, write_archive(entries), &err)) {
        cli::error_line("fuzz: " + err);
        return kExitHostError;
      }
    }
    s->programs += b.count;
    auto ref = run_batch(c, "qemu-tcg", b);
    const size_t first_mismatch = s->mismatches.size();
    std::map<std::string, std::map<uint64_t, Outcome>> all;
    for (const auto& e : o.engines) {
      if (e == "native" && b.kind != FZ_SEQ) continue;  // only seq programs mean the same on the host
      all[e] = run_batch(c, e, b);
      compare(c, e, b, ref, all[e], "qemu-tcg");
    }
    mark_ref_only(s, first_mismatch, all);
    if (o.verbose)
      fprintf(stderr, "vtb fuzz: batch %s [%llu, +%llu) done\n", kKindNames[b.kind], (unsigned long long)b.first,
              (unsigned long long)b.count);
  }
  if (o.workdir.empty()) {
    unlink(c.manifest.c_str());
    if (!c.flip_archive.empty()) unlink(c.flip_archive.c_str());
    rmdir(dir.c_str());
  }
  uint64_t unexplained = 0;
  for (const auto& [e, st] : s->per_engine) unexplained += st.unexplained;
  if (!s->failures.empty()) return kExitEngineError;
  return unexplained ? 1 : 0;
}

std::string summary_json(const Options& o, const Summary& s) {
  Json w = {{"seed", o.seed}, {"programs", s.programs}, {"first", o.first}, {"per_run", o.per_run}, {"budget_ticks", o.budget_ticks},
            {"shard", std::to_string(o.shard_i) + "/" + std::to_string(o.shard_n)}};
  w["kinds"] = Json::array();
  for (int k : o.kinds) w["kinds"].push_back(kCliNames[k]);
  w["engines"] = Json::object();
  for (const auto& [e, st] : s.per_engine) {
    Json x = {{"programs", st.programs}, {"runs", st.runs}, {"seconds", st.seconds},
              {"host_crashes", st.host_crashes}, {"host_hangs", st.host_hangs},
              {"engine_errors", st.engine_errors}, {"guest_hangs_agreed", st.guest_hangs},
              {"engine_limits", st.engine_limits}, {"matched", st.matched}, {"mismatched", st.mismatched},
              {"unexplained", st.unexplained}};
    x["outcomes"] = Json::object();
    for (const auto& [k, v] : st.outcomes) x["outcomes"][k] = v;
    x["mismatch_classes"] = Json::object();
    for (const auto& [k, v] : st.classes) x["mismatch_classes"][k] = v;
    w["engines"][e] = std::move(x);
  }
  w["failures"] = s.failures;
  w["engine_limits"] = s.limits;
  w["mismatches"] = Json::array();
  for (const auto& m : s.mismatches)
    w["mismatches"].push_back({{"engine", m.engine}, {"kind", m.kind}, {"index", m.index}, {"class", m.cls},
                               {"engine_outcome", m.engine_outcome}, {"ref_outcome", m.ref_outcome},
                               {"detail", m.detail}});
  return dump_json(w);
}

}  // namespace vtb::fuzz
