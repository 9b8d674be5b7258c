// tags: harness|manifest — desc: parser for workloads/manifest (INI-style sections) and argument rendering.
#include "harness/manifest.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace vtb {
namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool is_name(const std::string& s) {
  if (s.empty() || s.size() > 31) return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

// Parameter values travel on the kernel command line: no spaces, no quotes.
bool is_param_value(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' || c == ',' ||
          c == '+'))
      return false;
  return true;
}

bool parse_int(const std::string& s, long long* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *v = strtoll(s.c_str(), &end, 0);
  return errno == 0 && end && *end == 0;
}

bool parse_double(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  *v = strtod(s.c_str(), &end);
  return end && *end == 0;
}

const char* kOps[] = {"==", "!=", ">=", "<=", ">", "<"};

}  // namespace

bool Workload::has_group(const std::string& g) const {
  for (const auto& x : groups)
    if (x == g) return true;
  return false;
}
bool Workload::has_flavor(const std::string& f) const {
  for (const auto& x : flavors)
    if (x == f) return true;
  return false;
}
bool Workload::runs_on_peer(const std::string& p) const {
  for (const auto& x : peers)
    if (x == p) return true;
  return false;
}

const Workload* Manifest::find(const std::string& name) const {
  for (const auto& w : workloads)
    if (w.name == name) return &w;
  return nullptr;
}

std::string Manifest::names() const {
  std::string s;
  for (const auto& w : workloads) s += (s.empty() ? "" : ", ") + w.name;
  return s;
}

Status parse_manifest(const std::string& text, const std::string& path, Manifest* out) {
  Manifest m;
  m.path = path;
  size_t slash = path.rfind('/');
  m.dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  Workload* cur = nullptr;
  std::vector<std::string> seen_keys;
  auto err = [&](const std::string& msg) { return Status::bad_input(path + ":" + std::to_string(lineno) + ": " + msg); };
  auto finish = [&]() -> Status {
    if (!cur) return Status::ok();
    if (cur->program.empty()) cur->program = cur->name;
    if (cur->flavors.empty()) cur->flavors = {"native"};
    if (cur->peers.empty()) cur->peers = {"qemu-tcg", "native"};
    // Every {key} of the template must have a default.
    std::string dummy;
    if (Status s = expand_template(cur->args, cur->params, &dummy); !s)
      return Status::bad_input(path + ":" + std::to_string(cur->line) + ": workload '" + cur->name + "': " + s.message());
    // An iteration count is an integer parameter of at least 1 (a multiple of it is a longer loop).
    for (const auto& p : cur->iterations) {
      auto it = cur->params.find(p);
      long long v = 0;
      if (it == cur->params.end() || !parse_int(it->second, &v) || v < 1)
        return Status::bad_input(path + ":" + std::to_string(cur->line) + ": workload '" + cur->name +
                                 "': iterations names '" + p + "', which is not a param with an integer default >= 1");
    }
    return Status::ok();
  };
  while (std::getline(in, raw)) {
    ++lineno;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[') {
      if (line.back() != ']') return err("unterminated section header '" + line + "'");
      if (Status s = finish(); !s) return s;
      std::string name = trim(line.substr(1, line.size() - 2));
      if (!is_name(name)) return err("bad workload name '" + name + "' (letters, digits, _ - . ; at most 31)");
      if (m.find(name)) return err("workload '" + name + "' defined twice");
      m.workloads.emplace_back();
      cur = &m.workloads.back();
      cur->name = name;
      cur->line = lineno;
      seen_keys.clear();
      continue;
    }
    if (!cur) return err("entry outside a [workload] section");
    size_t eq = line.find('=');
    if (eq == std::string::npos) return err("expected 'key = value', got '" + line + "'");
    std::string key = trim(line.substr(0, eq));
    std::string val = trim(line.substr(eq + 1));
    std::vector<std::string> kw = words(key);
    if (kw.empty()) return err("empty key");
    const std::string& k = kw[0];
    bool repeatable = k == "param" || k == "expect" || k == "contains";
    if (!repeatable) {
      for (const auto& s : seen_keys)
        if (s == k) return err("key '" + k + "' given twice");
      seen_keys.push_back(k);
    }
    if (kw.size() > 1 && k != "param") return err("unexpected words in key '" + key + "'");
    if (k == "program") {
      if (!is_name(val)) return err("bad program name '" + val + "'");
      cur->program = val;
    } else if (k == "args") {
      cur->args = val;
    } else if (k == "param") {
      if (kw.size() != 2 || !is_name(kw[1])) return err("expected 'param NAME = DEFAULT'");
      if (!is_param_value(val)) return err("bad default '" + val + "' for param " + kw[1]);
      if (cur->params.count(kw[1])) return err("param '" + kw[1] + "' given twice");
      cur->params[kw[1]] = val;
    } else if (k == "flavors") {
      cur->flavors = words(val);
      for (const auto& f : cur->flavors)
        if (f != "native" && f != "pv") return err("unknown flavor '" + f + "' (native, pv)");
    } else if (k == "groups") {
      cur->groups = words(val);
    } else if (k == "iterations") {
      cur->iterations = words(val);
      if (cur->iterations.empty()) return err("empty 'iterations' (the names of the params that count iterations)");
    } else if (k == "peers") {
      cur->peers = words(val);
      for (const auto& p : cur->peers)
        if (p != "qemu-tcg" && p != "native" && p != "none") return err("unknown peer '" + p + "' (qemu-tcg, native, none)");
    } else if (k == "timeout") {
      double t;
      if (!parse_double(val, &t) || t <= 0 || t > 3600) return err("bad timeout '" + val + "' (seconds, 0 < t <= 3600)");
      cur->timeout_s = t;
    } else if (k == "exit") {
      long long v;
      if (!parse_int(val, &v) || v < 0 || v > 255) return err("bad exit code '" + val + "' (0..255)");
      cur->exit_code = int(v);
    } else if (k == "mem") {
      long long v;
      if (!parse_int(val, &v) || v < 16 || v > 4096) return err("bad mem '" + val + "' (MiB, 16..4096)");
      cur->mem_mib = size_t(v);
    } else if (k == "golden") {
      cur->golden = val;
    } else if (k == "contains") {
      if (val.empty()) return err("empty 'contains'");
      cur->console_contains.push_back(val);
    } else if (k == "expect") {
      // expect = [scope:] counter op value (a scope may be a technique of
      // several words: "binary translation: ...")
      CounterBound b;
      std::string rest = val;
      if (size_t colon = rest.find(':'); colon != std::string::npos) {
        b.scope = trim(rest.substr(0, colon));
        rest = rest.substr(colon + 1);
        if (b.scope.empty()) return err("empty scope before ':' in '" + val + "'");
      }
      std::vector<std::string> w = words(rest);
      if (w.size() != 3) return err("expected 'expect = [scope:] counter op value', got '" + val + "'");
      bool op_ok = false;
      for (const char* o : kOps) op_ok |= w[1] == o;
      if (!op_ok) return err("bad operator '" + w[1] + "' (== != >= <= > <)");
      long long num;
      bool is_ref = w[2].size() > 2 && w[2].front() == '{' && w[2].back() == '}';
      if (!is_ref && !parse_int(w[2], &num)) return err("bad bound value '" + w[2] + "' (integer or {param})");
      b.counter = w[0];
      b.op = w[1];
      b.value = w[2];
      cur->bounds.push_back(b);
    } else {
      return err("unknown key '" + k + "'");
    }
  }
  if (Status s = finish(); !s) return s;
  if (m.workloads.empty()) return Status::bad_input(path + ": no workloads defined");
  *out = std::move(m);
  return Status::ok();
}

Status load_manifest(const std::string& path, Manifest* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::bad_input(path + ": cannot open the workload manifest");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_manifest(ss.str(), path, out);
}

Status resolve_params(const Workload& w, const std::map<std::string, std::string>& overrides,
                      std::map<std::string, std::string>* out) {
  std::map<std::string, std::string> p = w.params;
  for (const auto& [k, v] : overrides) {
    if (!p.count(k)) {
      std::string known;
      for (const auto& [kk, vv] : w.params) known += (known.empty() ? "" : ", ") + kk;
      return Status::bad_input("workload '" + w.name + "' has no parameter '" + k + "' (known: " +
                               (known.empty() ? "none" : known) + ")");
    }
    if (!is_param_value(v)) return Status::bad_input("bad value '" + v + "' for parameter '" + k + "'");
    // A default that is a number wants a number.
    long long dflt;
    if (parse_int(p[k], &dflt)) {
      long long n;
      if (!parse_int(v, &n) || n < 0) return Status::bad_input("parameter '" + k + "' wants a non-negative integer, got '" + v + "'");
    }
    p[k] = v;
  }
  *out = std::move(p);
  return Status::ok();
}

Status expand_template(const std::string& tmpl, const std::map<std::string, std::string>& params,
                       std::string* out) {
  std::string r;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '{') {
      size_t j = tmpl.find('}', i);
      if (j == std::string::npos) return Status::bad_input("unterminated '{' in '" + tmpl + "'");
      std::string key = tmpl.substr(i + 1, j - i - 1);
      auto it = params.find(key);
      if (it == params.end()) return Status::bad_input("template '" + tmpl + "' names unknown parameter '" + key + "'");
      r += it->second;
      i = j + 1;
    } else {
      r += tmpl[i++];
    }
  }
  *out = std::move(r);
  return Status::ok();
}

Status render_command_line(const Workload& w, const std::map<std::string, std::string>& params, std::string* out) {
  std::string args;
  if (Status s = expand_template(w.args, params, &args); !s) return s;
  std::string cl = w.program;
  for (const auto& a : words(args)) cl += " " + a;
  *out = std::move(cl);
  return Status::ok();
}

}  // namespace vtb
