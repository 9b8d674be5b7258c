// tags: harness|bench — desc: builds the engine x workload x mode cells from the manifest and the runner list.
#include "harness/bench/matrix.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "engines/registry.h"
#include "harness/manifest.h"
#include "harness/runner.h"

namespace vtb::bench {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t c = s.find(',', p);
    if (c == std::string::npos) c = s.size();
    std::string item = s.substr(p, c - p);
    if (!item.empty()) out.push_back(item);
    p = c + 1;
  }
  return out;
}

std::string Cell::params_str() const {
  std::string s;
  for (const auto& [k, v] : params) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

std::string Cell::name() const {
  // A backend that is a series of its own (kvm@nested-tcg/npt, /shadow) names the cell.
  const bool own_series = backend.find('/') != std::string::npos;
  return (own_series ? backend : engine) + "/" + workload + "/" + mode;
}

std::string Cell::label() const {
  return "engine=" + engine + ";backend=" + backend + ";workload=" + workload + ";group=" + group + ";mode=" + mode +
         ";params=" + params_str() + ";technique=" + technique +
         (phase_scale != 1 ? ";phase_scale=" + std::to_string(phase_scale) : "");
}

std::string primary_group(const Workload& w, const std::vector<std::string>& groups) {
  for (const auto& g : groups)
    if (w.has_group(g)) return g;
  return "";
}

std::map<std::string, std::string> scaled_params(const std::map<std::string, std::string>& p, double scale) {
  std::map<std::string, std::string> out = p;
  if (scale == 1.0) return out;
  for (auto& [k, v] : out) {
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n <= 1) continue;
    long long s = std::llround(double(n) * scale);
    v = std::to_string(std::max(1LL, s));
  }
  return out;
}

static bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string build_matrix(const std::vector<Workload>& workloads, const std::vector<RunnerInfo>& base_runners,
                         const MatrixOptions& opt, std::vector<Cell>* cells,
                         std::vector<std::string>* not_applicable) {
  // An engine with options (pv:protect=off) is its own series: a runner of its own.
  std::vector<RunnerInfo> runners = base_runners;
  for (const auto& e : opt.engines) {
    if (e.find(':') == std::string::npos) continue;
    EngineSpec spec;
    if (std::string err = parse_engine_spec(e, &spec); !err.empty()) return err;
    auto base = std::find_if(base_runners.begin(), base_runners.end(),
                             [&](const RunnerInfo& r) { return r.name == spec.info->name; });
    if (base == base_runners.end()) return "unknown engine '" + e + "'";
    RunnerInfo r = *base;
    r.name = e;
    r.backend = (r.backend.empty() ? std::string(spec.info->name) : r.backend) + spec.options;
    runners.push_back(r);
  }
  for (const auto& e : opt.engines) {
    bool found = std::any_of(runners.begin(), runners.end(), [&](const RunnerInfo& r) { return r.name == e; });
    if (!found) {
      std::string names;
      for (const auto& r : runners) names += (names.empty() ? "" : ", ") + r.name;
      return "unknown engine '" + e + "' (known: " + names + ")";
    }
  }
  for (const auto& w : opt.workloads) {
    bool found = std::any_of(workloads.begin(), workloads.end(), [&](const Workload& x) { return x.name == w; });
    if (!found) return "unknown workload '" + w + "' (see `vtb list`)";
  }
  for (const auto& w : workloads) {
    std::string group = primary_group(w, opt.groups);
    if (opt.workloads.empty() ? group.empty() : !contains(opt.workloads, w.name)) continue;
    if (group.empty()) group = w.groups.empty() ? "other" : w.groups.front();
    for (const auto& r : runners) {
      if (!opt.engines.empty() && !contains(opt.engines, r.name)) continue;
      bool applies = r.is_peer ? w.runs_on_peer(r.name) : w.has_flavor(r.flavor);
      if (!applies) {
        if (not_applicable)
          not_applicable->push_back(r.name + "/" + w.name + ": " +
                                    (r.is_peer ? "the manifest does not run it on this peer"
                                               : "needs the " + r.flavor + " kernel flavor, the workload has other flavors"));
        continue;
      }
      Cell c;
      c.engine = r.name;
      c.backend = r.backend.empty() ? r.name : r.backend;
      c.technique = r.technique;
      c.workload = w.name;
      c.group = group;
      c.mode = "cold";
      c.params = scaled_params(w.params, opt.scale);
      c.iterations = w.iterations;
      c.timeout_s = std::max(10.0, w.timeout_s);
      c.repetitions = group == "census" ? 1 : std::max(1, opt.repetitions);
      if (!r.available.is_ok()) c.skip = "unavailable: " + r.available.message();
      // A warm row needs a workload that can repeat its measured loop in one
      // VM (param "reps"): the cold cell then runs it twice; the first phase 1
      // is the cold time, the last the warm one.
      const bool warm_row = group != "census" && contains(opt.warm_engines, r.name.substr(0, r.name.find(':'))) && w.params.count("reps");
      if (warm_row) c.params["reps"] = "2";
      cells->push_back(c);
      if (warm_row) {
        Cell warm = c;
        warm.mode = "warm";
        cells->push_back(warm);
      }
    }
  }
  return "";
}

}  // namespace vtb::bench
