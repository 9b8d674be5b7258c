// tags: harness|bench — desc: the parsed `vtb run --json` report of one child run, and what a cell takes from it.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace vtb::bench {

struct ReportPhase {
  int phase = 0;
  uint64_t begin_ns = 0, end_ns = 0;  // end 0: never ended
  bool has_counters = false;          // the report carried this phase's counters
  std::map<std::string, double> counters;  // what moved between its markers
};

struct RunReport {
  std::string outcome;  // "exited", "shutdown", "guest_fault", "limit_reached", "engine_error", ...
  int exit_code = -1;
  std::string message;
  std::string engine, backend, workload;
  std::map<std::string, std::string> params;  // the resolved workload parameters
  std::vector<ReportPhase> phases;
  std::vector<std::pair<std::string, std::string>> records;
  std::map<std::string, double> counters;
  std::set<std::string> gauges;  // the counters that are levels ("gauges"; empty in older reports)
  double wall_seconds = 0;

  bool ok() const;  // clean guest exit with code 0
  bool is_gauge(const std::string& counter) const { return gauges.count(counter) != 0; }
  const std::string* record(const std::string& key) const;
};

// Parses the JSON a `vtb run --json` prints (the whole stdout; a report may be
// preceded by console text, the last top-level JSON object is used).
bool parse_run_report(const std::string& text, RunReport* out, std::string* err);

// The counters a bench.json row carries for the measured phase `ph`: an event
// count as "<name>/op" = count / ops, a gauge as "<name>" = its level at the
// phase's end, never divided. Without phase counters (`ph` null or a peer's
// report) the run's totals, counts divided by `run_ops` (the operations of
// every phase-1 occurrence), gauges at the run's end.
std::map<std::string, double> row_counters(const RunReport& r, const ReportPhase* ph, double ops, double run_ops);

// A bench.json row's key for a counter: "<name>/op" holds an event count per
// operation, "<name>" (a dotted counter name, no "/op") a gauge's level at
// the phase's end. Returns false for a key that is no counter (ns_per_op,
// ops, phase_ns, wall_s, Google Benchmark's own); else the name and kind.
bool row_counter_key(const std::string& key, std::string* name, bool* gauge);

// The measured interval: occurrence `occurrence` (0 = first) of phase
// `phase`. Returns false when absent or unterminated.
bool phase_interval(const RunReport& r, int phase, int occurrence, uint64_t* ns);

// The number of operations the measured phase performed: the workload's
// record (ops, iterations, pages), else its count parameter, else 1.
uint64_t op_count(const RunReport& r, const std::map<std::string, std::string>& params);

// Occurrence `occurrence` (0 = first) of a completed phase `phase`, or nullptr.
const ReportPhase* phase_occurrence(const RunReport& r, int phase, int occurrence);

// How many times phase `phase` completed in the run.
int phase_count(const RunReport& r, int phase);

// The shortest completed occurrence of phase `phase` in ns (0 when none).
uint64_t shortest_phase(const RunReport& r, int phase);

}  // namespace vtb::bench
