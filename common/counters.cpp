// tags: common|counters — desc: named 64-bit counters.
#include "common/counters.h"

namespace vtb {

uint64_t& Counters::slot(std::string_view name) {
  auto it = map_.find(name);
  if (it == map_.end()) it = map_.emplace(std::string(name), 0).first;
  return it->second;
}

uint64_t Counters::get(std::string_view name) const {
  auto it = map_.find(name);
  return it == map_.end() ? 0 : it->second;
}

void Counters::gauge(std::string_view name, uint64_t v) {
  slot(name) = v;
  if (!is_gauge(name)) gauges_.emplace(name);
}

void Counters::merge(const Counters& other) {
  for (const auto& [k, v] : other.map_) {
    if (other.is_gauge(k)) gauge(k, v);
    else slot(k) += v;
  }
}

Counters Counters::minus(const Counters& before) const {
  Counters d;
  d.gauges_ = gauges_;
  for (const auto& [k, v] : map_) {
    if (is_gauge(k)) {
      d.map_.emplace(k, v);
      continue;
    }
    const uint64_t b = before.get(k);
    if (v > b) d.map_.emplace(k, v - b);
  }
  return d;
}

}  // namespace vtb
