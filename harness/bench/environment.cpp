// tags: harness|bench — desc: collects environment.json (reads /proc, /sys, uname, git).
#include "harness/bench/environment.h"

#include <fmt/format.h>

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness/bench/child_process.h"

#ifndef VTB_BENCH_COMPILER
#define VTB_BENCH_COMPILER "unknown"
#endif
#ifndef VTB_BENCH_CXX_FLAGS
#define VTB_BENCH_CXX_FLAGS "unknown"
#endif
#ifndef VTB_BENCH_BUILD_TYPE
#define VTB_BENCH_BUILD_TYPE "unknown"
#endif

namespace vtb::bench {

namespace {
bool exists(const char* p) {
  struct stat st;
  return stat(p, &st) == 0;
}

std::string read_first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

std::string cpuinfo_field(const std::string& key) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, key.size(), key) == 0) {
      auto c = line.find(':');
      if (c != std::string::npos) {
        std::string v = line.substr(c + 1);
        while (!v.empty() && v.front() == ' ') v.erase(v.begin());
        return v;
      }
    }
  }
  return "";
}

std::string git(const std::string& dir, std::vector<std::string> args) {
  const char* candidates[] = {"/usr/bin/git", "/usr/local/bin/git", "/bin/git"};
  std::string gitbin;
  for (auto* c : candidates) if (exists(c)) { gitbin = c; break; }
  if (gitbin.empty()) return "";
  std::vector<std::string> argv = {gitbin, "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildResult r = run_child(argv, 20);
  if (!r.exited || r.exit_code != 0) return "";
  std::string s = r.out;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

std::string detect_kvm_backend() {
  if (!exists("/dev/kvm")) return "none";
  if (exists("/sys/module/kvm_pvm")) return "pvm";
  if (exists("/sys/module/kvm_intel") || exists("/sys/module/kvm_amd")) return "hardware";
  return "unknown";
}

std::string source_commit(const std::string& source_dir, bool* dirty) {
  std::string c = git(source_dir, {"rev-parse", "--short=12", "HEAD"});
  if (dirty) {
    std::string st = git(source_dir, {"status", "--porcelain", "--untracked-files=no"});
    *dirty = !st.empty();
  }
  return c.empty() ? "unknown" : c;
}

std::string safe_host_name() {
  char h[256] = {0};
  gethostname(h, sizeof h - 1);
  std::string s = h[0] ? h : "host";
  for (char& c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) c = '-';
  return s;
}

std::string load_average() {
  std::istringstream in(read_first_line("/proc/loadavg"));
  std::string a, b, c;
  in >> a >> b >> c;
  return a.empty() ? "" : a + " " + b + " " + c;
}

std::string host_kind(const Json& env) {
  if (json_at(env, "host_kind").is_string() && !json_string(json_at(env, "host_kind")).empty()) return json_string(json_at(env, "host_kind"));
  auto field = [&](const char* k, const char* dflt) {
    const std::string v = json_string(json_at(env, k));
    return v.empty() ? std::string(dflt) : v;
  };
  std::istringstream kernel(field("kernel", "unknown kernel"));
  std::string sys, release;
  kernel >> sys >> release;
  const std::string count = fmt::format("{:.0f}", json_double(json_at(env, "cpu_count")));
  std::string kind = field("cpu_model", "unknown CPU") + " x" + (json_at(env, "cpu_count").is_number() ? count : "?") + ", " +
                     sys + (release.empty() ? "" : " " + release) + ", kvm " + field("kvm_backend", "unknown");
  if (json_string(json_at(env, "running_under_hypervisor")) == "present") kind += ", virtualized";
  for (char& c : kind)
    if (c == ';' || c == '=') c = ' ';
  return kind;
}

Json collect_calibration() {
  auto unavailable = [](const std::string& why) { return Json{{"available", false}, {"reason", why}}; };
  const std::string self = self_exe_path();
  if (self.empty()) return unavailable("cannot find the vtb executable (/proc/self/exe)");
  ChildResult r = run_child({self, "calibrate", "--json"}, 60);
  if (!r.exited || r.exit_code != 0)
    return unavailable("vtb calibrate failed: " + (r.timed_out ? std::string("timed out after 60 s") : last_line(r.err)));
  Json j;
  std::string err;
  if (!parse_json(r.out, &j, &err)) return unavailable("vtb calibrate --json: " + err);
  return j;
}

Json collect_environment(const std::string& source_dir, const Json& extra, bool calibrate) {
  Json e = Json::object();
  utsname u{};
  uname(&u);
  char date[64];
  time_t now = time(nullptr);
  tm g{};
  gmtime_r(&now, &g);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &g);
  bool dirty = false;
  std::string commit = source_commit(source_dir, &dirty);

  e["date"] = Json(date);
  e["host"] = Json(safe_host_name());
  e["cpu_model"] = Json(cpuinfo_field("model name"));
  e["cpu_count"] = Json(std::thread::hardware_concurrency());
  std::string flags = " " + cpuinfo_field("flags") + " ";
  e["cpu_has_vmx_or_svm"] = Json(flags.find(" vmx ") != std::string::npos || flags.find(" svm ") != std::string::npos);
  std::string hyp = "none";
  if (flags.find(" hypervisor ") != std::string::npos) hyp = "present";
  e["running_under_hypervisor"] = Json(hyp);
  e["kernel"] = Json(std::string(u.sysname) + " " + u.release + " " + u.version);
  e["machine"] = Json(u.machine);
  e["kvm_backend"] = Json(detect_kvm_backend());
  std::string mods;
  for (const char* m : {"kvm_intel", "kvm_amd", "kvm_pvm"})
    if (exists((std::string("/sys/module/") + m).c_str())) mods += (mods.empty() ? "" : " ") + std::string(m);
  e["kvm_modules"] = Json(mods);
  e["compiler"] = Json(VTB_BENCH_COMPILER);
  e["cxx_flags"] = Json(VTB_BENCH_CXX_FLAGS);
  e["build_type"] = Json(VTB_BENCH_BUILD_TYPE);
  e["commit"] = Json(commit);
  e["commit_dirty"] = Json(dirty);
  e["load_average_start"] = Json(load_average());
  e["clocksource"] = Json(read_first_line("/sys/devices/system/clocksource/clocksource0/current_clocksource"));
  e["governor"] = Json(read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"));
  e["host_kind"] = Json(host_kind(e));
  // Engine switches given by environment (e.g. VTB_PV_UNPROTECTED=1): the analysis names such a series apart.
  Json vtb_env = Json::object();
  for (char** v = environ; *v; ++v)
    if (std::strncmp(*v, "VTB_", 4) == 0)
      if (const char* eq = std::strchr(*v, '=')) vtb_env[std::string(*v, size_t(eq - *v))] = eq + 1;
  e["vtb_env"] = vtb_env;
  for (const auto& [k, v] : extra.items()) e[k] = v;
  if (calibrate) e["calibration"] = collect_calibration();
  return e;
}

}  // namespace vtb::bench
