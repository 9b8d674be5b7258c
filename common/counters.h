// tags: common|counters — desc: the one counter taxonomy for every engine.
//
// Names (docs/counters.md has the full list):
//   exit.port_io exit.mmio exit.hypercall.<name> exit.halt exit.shutdown ...
//   priv.<insn>                 privileged/sensitive instruction emulated
//   fault.reflected.<vector>    guest exceptions delivered to the guest
//   mmu.hidden_fault mmu.pte_write_trap mmu.shadow_flush mmu.validated_update
//   bt.blocks_translated bt.guest_insns_translated bt.tc_flush bt.chain_patch ...
//   kvm.<stat>                  deltas from KVM_GET_STATS_FD
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace vtb {

class Counters {
 public:
  // A stable reference for hot paths: look it up once, increment many times.
  uint64_t& slot(std::string_view name);
  void add(std::string_view name, uint64_t n = 1) { slot(name) += n; }
  void set(std::string_view name, uint64_t v) { slot(name) = v; }
  uint64_t get(std::string_view name) const;  // 0 when absent
  void merge(const Counters& other);          // add every counter of other
  // this - before, per counter; counters with no increase are left out.
  Counters minus(const Counters& before) const;
  const std::map<std::string, uint64_t, std::less<>>& all() const { return map_; }
  void clear() { map_.clear(); }

 private:
  std::map<std::string, uint64_t, std::less<>> map_;  // node-based: slot() refs stay valid
};

}  // namespace vtb
