// tags: common — desc: the host's CPUID answers, cached per (leaf, subleaf): host cpuid traps on these machines (~5 us), an engine asks once.
#pragma once
#include <cpuid.h>

#include <array>
#include <cstdint>
#include <unordered_map>

#include "common/host_events.h"

namespace vtb {

// Not thread-safe: one per vCPU. The host's answers do not change while a
// process runs, so an entry is never refreshed.
class HostCpuidCache {
 public:
  std::array<uint32_t, 4> get(uint32_t leaf, uint32_t subleaf) {
    const uint64_t key = (uint64_t(leaf) << 32) | subleaf;
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    std::array<uint32_t, 4> r{};
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
    ++misses_;
    count_host(HostEvent::Cpuid);
    return cache_.emplace(key, r).first->second;
  }
  uint64_t misses() const { return misses_; }  // host cpuid instructions executed

 private:
  std::unordered_map<uint64_t, std::array<uint32_t, 4>> cache_;
  uint64_t misses_ = 0;
};

}  // namespace vtb
