// tags: common|counters — desc: the one counter taxonomy for every engine.
//
// Names (docs/counters.md has the full list):
//   exit.port_io exit.mmio exit.hypercall.<name> exit.halt exit.shutdown ...
//   priv.<insn>                 privileged/sensitive instruction emulated
//   fault.reflected.<vector>    guest exceptions delivered to the guest
//   mmu.hidden_fault mmu.pte_write_trap mmu.shadow_flush mmu.validated_update
//   bt.blocks_translated bt.guest_insns_translated bt.tc_flush bt.chain_patch ...
//   kvm.<stat>                  deltas from KVM_GET_STATS_FD
//
// Two kinds: an event count (add(): it only grows; a phase keeps its
// increase) and a gauge (gauge(): a level such as pages resident, a cap, an
// on/off flag; a phase keeps its value at the phase's end, and vtb bench
// reports it as that level, never divided by the operations).
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace vtb {

class Counters {
 public:
  // A stable reference for hot paths: look it up once, increment many times.
  uint64_t& slot(std::string_view name);
  void add(std::string_view name, uint64_t n = 1) { slot(name) += n; }
  void set(std::string_view name, uint64_t v) { slot(name) = v; }
  // A level, not an event count: set to v and marked as a gauge.
  void gauge(std::string_view name, uint64_t v);
  bool is_gauge(std::string_view name) const { return gauges_.find(name) != gauges_.end(); }
  uint64_t get(std::string_view name) const;  // 0 when absent
  // Adds every event count of other; other's gauges take other's level (a
  // level summed over two sources would be no level).
  void merge(const Counters& other);
  // this - before, per event count (counters with no increase are left out);
  // every gauge of this with its level now, 0 included.
  Counters minus(const Counters& before) const;
  const std::map<std::string, uint64_t, std::less<>>& all() const { return map_; }
  const std::set<std::string, std::less<>>& gauges() const { return gauges_; }
  void clear() {
    map_.clear();
    gauges_.clear();
  }

 private:
  std::map<std::string, uint64_t, std::less<>> map_;  // node-based: slot() refs stay valid
  std::set<std::string, std::less<>> gauges_;         // the names in map_ that are gauges
};

}  // namespace vtb
