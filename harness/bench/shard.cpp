// tags: harness|bench — desc: shards of the bench matrix: cost model (cell_costs.tsv), units, greedy balanced assignment, fingerprints.
#include "harness/bench/shard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "common/median.h"
#include "harness/bench/nested_cells.h"
#include "harness/bench/phase_scale.h"
#include "harness/bench/results_dir.h"

namespace vtb::bench {

namespace {
bool is_nested(const Cell& c) { return c.backend.rfind(kNestedEngine, 0) == 0; }
}  // namespace

std::string ShardSpec::str() const { return std::to_string(index) + "/" + std::to_string(count); }

std::string parse_shard(const std::string& text, ShardSpec* out) {
  const std::string bad = "--shard needs i/N with 1 <= i <= N <= 10000 (got '" + text + "')";
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return bad;
  char* end = nullptr;
  const std::string a = text.substr(0, slash), b = text.substr(slash + 1);
  long i = std::strtol(a.c_str(), &end, 10);
  if (*end) return bad;
  long n = std::strtol(b.c_str(), &end, 10);
  if (*end || n < 1 || n > 10000 || i < 1 || i > n) return bad;
  out->index = int(i);
  out->count = int(n);
  return "";
}

bool CostModel::parse(const std::string& text, std::string* err) {
  table_.clear();
  std::istringstream in(text);
  std::string line;
  int no = 0;
  while (std::getline(in, line)) {
    ++no;
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream f(line);
    std::string engine, workload, secs;
    if (!(f >> engine)) continue;
    char* end = nullptr;
    double s = 0;
    if (f >> workload >> secs) s = std::strtod(secs.c_str(), &end);
    if (workload.empty() || secs.empty() || *end || !(s >= 0)) {
      *err = "cell costs line " + std::to_string(no) + ": want 'engine workload seconds'";
      return false;
    }
    table_[{engine, workload}] = s;
  }
  return true;
}

bool CostModel::load(const std::string& path, std::string* err) {
  std::string text;
  if (!read_text(path, &text)) {
    *err = "cannot read the cell costs " + path;
    return false;
  }
  if (!parse(text, err)) {
    *err = path + ": " + *err;
    return false;
  }
  return true;
}

double CostModel::rep_seconds(const std::string& engine, const std::string& workload) const {
  auto it = table_.find({engine, workload});
  if (it != table_.end()) return it->second;
  std::vector<double> same_workload, same_engine;
  for (const auto& [k, s] : table_) {
    if (k.second == workload) same_workload.push_back(s);
    if (k.first == engine) same_engine.push_back(s);
  }
  if (!same_workload.empty()) return median(same_workload);
  if (!same_engine.empty()) return median(same_engine);
  return 1.0;
}

double CostModel::cell_seconds(const Cell& c, double scale) const {
  if (c.mode == "warm") return 0;
  const double reps = std::max(1, c.repetitions);
  if (is_nested(c)) return reps * kNestedFactor * rep_seconds("kvm", c.workload);
  // The engine's fastest run is mostly start-up (boot): that part does not scale.
  double floor = 0;
  bool known = false;
  for (const auto& [k, s] : table_)
    if (k.first == c.engine) { floor = known ? std::min(floor, s) : s; known = true; }
  const double t = rep_seconds(c.engine, c.workload);
  const double phase = std::max(0.0, t - floor) * scale;
  const double run = floor + phase;
  PhaseScalePolicy p;
  p.min_phase_s = min_phase_;
  if (phase_scaling_applies(c, p) && phase < min_phase_)  // the probe, then every repetition lengthened
    return kSpawnSeconds + run + reps * (kSpawnSeconds + floor + kMinPhaseMean * min_phase_);
  return reps * (kSpawnSeconds + run);
}

std::vector<ShardUnit> shard_units(const std::vector<Cell>& cells, const CostModel& costs, double scale) {
  std::vector<ShardUnit> units;
  std::map<std::string, size_t> by_key;
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    const std::string key = is_nested(c) ? std::string(kNestedEngine) : c.engine + "/" + c.workload;
    auto [it, fresh] = by_key.emplace(key, units.size());
    if (fresh) {
      units.push_back(ShardUnit{key, {}, is_nested(c) ? int64_t(CostModel::kNestedSessionSeconds * 1000) : 0});
    }
    ShardUnit& u = units[it->second];
    u.cells.push_back(i);
    u.cost_ms += std::llround(costs.cell_seconds(c, scale) * 1000);
  }
  return units;
}

std::vector<int> assign_shards(const std::vector<Cell>& cells, int count, const CostModel& costs, double scale,
                               std::vector<int64_t>* shard_ms) {
  std::vector<ShardUnit> units = shard_units(cells, costs, scale);
  std::sort(units.begin(), units.end(), [](const ShardUnit& a, const ShardUnit& b) {
    return a.cost_ms != b.cost_ms ? a.cost_ms > b.cost_ms : a.key < b.key;
  });
  std::vector<int64_t> load(size_t(std::max(1, count)), 0);
  std::vector<int> shard_of(cells.size(), 0);
  for (const ShardUnit& u : units) {
    const size_t s = size_t(std::min_element(load.begin(), load.end()) - load.begin());  // first of the least loaded
    load[s] += u.cost_ms;
    for (size_t i : u.cells) shard_of[i] = int(s);
  }
  if (shard_ms) *shard_ms = load;
  return shard_of;
}

uint64_t fnv1a64(std::string_view s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char b[20];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

std::string plan_fingerprint(const std::vector<Cell>& cells, const std::vector<int>& shard_of) {
  uint64_t h = fnv1a64("vtb-bench-plan-1\n");
  for (size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    h = fnv1a64(c.name() + "|" + c.params_str() + "|" + std::to_string(c.repetitions) + "|" +
                    std::to_string(i < shard_of.size() ? shard_of[i] : 0) + "\n",
                h);
  }
  return hex64(h);
}

std::string file_fingerprint(const std::string& path) {
  std::string text;
  return read_text(path, &text) ? hex64(fnv1a64(text)) : "";
}

Json shard_record(const ShardSpec& shard, const SweepKey& key, const std::vector<Cell>& plan,
                  const std::vector<int>& shard_of, const std::vector<int64_t>& shard_ms, const CostModel& costs,
                  double scale) {
  auto secs = [](double s) { return Json(std::round(s * 10) / 10); };
  Json r = Json::object();
  r["shard"] = Json(shard.index);
  r["count"] = Json(shard.count);
  r["commit"] = Json(key.commit);
  r["manifest_hash"] = Json(key.manifest_hash);
  r["options"] = Json(key.options);
  r["plan_hash"] = Json(key.plan_hash);
  Json est = Json::array();
  for (int64_t ms : shard_ms) est.push_back(secs(double(ms) / 1000));
  r["estimated_seconds"] = est;
  Json cells = Json::array();
  for (size_t i = 0; i < plan.size(); ++i) {
    Json c = Json::object();
    c["cell"] = Json(plan[i].name());
    c["shard"] = Json(shard_of[i] + 1);
    c["repetitions"] = Json(plan[i].repetitions);
    c["estimated_seconds"] = secs(costs.cell_seconds(plan[i], scale));
    c["label"] = Json(plan[i].label());
    cells.push_back(c);
  }
  r["cells"] = cells;
  return r;
}

}  // namespace vtb::bench
