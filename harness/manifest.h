// tags: harness|manifest — desc: parser for workloads/manifest (the one list of workloads) and argument rendering.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace vtb {

// One expected counter bound: `<counter> <op> <value>` with op in
// ==, !=, >=, <=, >, <; scope is "*" (every engine) or an engine name,
// backend label or technique word (e.g. "kvm", "qemu-tcg", "bt").
struct CounterBound {
  std::string scope = "*";
  std::string counter;
  std::string op;
  std::string value;  // a number or "{param}" (e.g. "{n}")
};

struct Workload {
  std::string name;
  std::string program;                       // archive entry / host executable name
  std::string args;                          // argument template, e.g. "{n}"
  std::map<std::string, std::string> params; // defaults, e.g. n=1000 (keys in template order)
  std::vector<std::string> flavors;          // "native", "pv"
  std::vector<std::string> groups;           // "smoke", "micro", "macro", "census"
  double timeout_s = 60;
  int exit_code = 0;                         // expected guest exit code
  std::string golden;                        // console golden file, relative to the manifest dir ("" = none)
  std::vector<std::string> console_contains; // lines the console must contain ({param} expanded)
  std::vector<std::string> peers;            // peers that run it: "qemu-tcg", "native" (default both)
  size_t mem_mib = 0;                        // 0 = default
  std::vector<CounterBound> bounds;
  // Parameters that count repetitions of the measured work (`iterations = n`):
  // vtb bench may multiply them to lengthen a short phase (--min-phase). Every
  // other parameter is a size or a mode and is never scaled that way.
  std::vector<std::string> iterations;
  int line = 0;                              // where it starts in the manifest
  bool has_group(const std::string& g) const;
  bool has_flavor(const std::string& f) const;
  bool runs_on_peer(const std::string& p) const;
};

struct Manifest {
  std::string path, dir;
  std::vector<Workload> workloads;
  const Workload* find(const std::string& name) const;
  std::string names() const;  // "hello, syscall_loop, ..."
};

Status parse_manifest(const std::string& text, const std::string& path, Manifest* out);
Status load_manifest(const std::string& path, Manifest* out);

// Defaults overlaid with `overrides` (unknown key or bad value -> bad input).
Status resolve_params(const Workload& w, const std::map<std::string, std::string>& overrides,
                      std::map<std::string, std::string>* out);
// Expand "{key}" in `tmpl` from `params` (unknown key -> bad input).
Status expand_template(const std::string& tmpl, const std::map<std::string, std::string>& params,
                       std::string* out);
// "program arg1 arg2": what the kernel command line names (and the native argv).
Status render_command_line(const Workload& w, const std::map<std::string, std::string>& params,
                           std::string* out);

}  // namespace vtb
