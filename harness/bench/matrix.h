// tags: harness|bench — desc: the benchmark matrix: which (engine, workload, mode) cells exist, with params and skip reasons.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace vtb {
struct Workload;
struct RunnerInfo;
}

namespace vtb::bench {

struct MatrixOptions {
  std::vector<std::string> engines;    // empty = all runners
  std::vector<std::string> workloads;  // empty = every workload in `groups`
  std::vector<std::string> groups = {"micro", "macro", "census"};
  bool quick = false;
  double scale = 1.0;                  // multiply integer params (--scale)
  int repetitions = 5;                 // quick default 2
  double min_phase = 0.2;              // --min-phase: seconds a measured phase must last (0: off; quick/--scale: 0)
  std::vector<std::string> warm_engines = {"bt", "bt-direct"};  // the binary translators get a warm row
};

struct Cell {
  std::string engine, backend, technique, workload, group, mode;  // mode: "cold" | "warm"
  std::map<std::string, std::string> params;   // as run: after --min-phase scaling, the scaled ones
  std::vector<std::string> iterations;         // the workload's iteration params (--min-phase may scale them)
  int phase_scale = 1;                         // the factor --min-phase applied to them (1: none)
  double timeout_s = 60;
  int repetitions = 1;
  std::string skip;  // non-empty: the cell is registered but skipped with this reason
  std::string name() const;   // "engine/workload/mode"
  // "engine=..;backend=..;workload=..;group=..;mode=..;params=k=v,..;technique=..", then
  // ";phase_scale=F" when --min-phase scaled the params (they are the params as run).
  std::string label() const;
  std::string params_str() const;  // "k=v,k2=v2"
};

// The first group of `w` that the bench measures ("micro" before "macro" before "census").
std::string primary_group(const Workload& w, const std::vector<std::string>& groups);

// Scales the integer parameters of a workload (at least 1; non-integers kept).
std::map<std::string, std::string> scaled_params(const std::map<std::string, std::string>& p, double scale);

// Builds the cells. `not_applicable` receives "engine/workload: reason" for
// pairs that are not cells at all (flavor or peer list excludes them).
// Returns an error message for unknown engine/workload names, "" when fine.
std::string build_matrix(const std::vector<Workload>& workloads, const std::vector<RunnerInfo>& runners,
                         const MatrixOptions& opt, std::vector<Cell>* cells,
                         std::vector<std::string>* not_applicable);

std::vector<std::string> split_list(const std::string& s);  // "a,b" -> {"a","b"}

}  // namespace vtb::bench
