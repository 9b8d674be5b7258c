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
  std::vector<std::string> warm_engines = {"bt", "bt-direct"};  // the binary translators get a warm row
};

struct Cell {
  std::string engine, backend, technique, workload, group, mode;  // mode: "cold" | "warm"
  std::map<std::string, std::string> params;
  double timeout_s = 60;
  int repetitions = 1;
  std::string skip;  // non-empty: the cell is registered but skipped with this reason
  std::string name() const;   // "engine/workload/mode"
  std::string label() const;  // "engine=..;backend=..;workload=..;group=..;mode=..;params=k=v,..;technique=.."
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
