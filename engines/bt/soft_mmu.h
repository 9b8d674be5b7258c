// tags: engines|bt — desc: bt-softmmu's guest memory: every access resolved by an in-process walk of the guest tables (no host mappings of guest pages, no host signals), translated-code frames tracked for self-modifying code.
#pragma once
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/guest_memory.h"
#include "common/page_walk.h"
#include "engines/bt/guest_access.h"

namespace vtb::bt {

class Runtime;

// The software-MMU memory mode (docs/bt.md, "Software MMU"): guest virtual
// addresses are never host addresses. Translated code reaches guest memory
// through the runtime's inline TLB (host = the GuestMemory view of the
// memfd, base + gpa); a miss comes here (soft_fill), the walk sets A/D as
// the access would and the runtime installs the entry. Frames that hold
// translations never get a write entry: a store to one comes here, which
// invalidates their blocks before the store is done.
class SoftMmu : public GuestAccess {
 public:
  void attach(GuestMemory* mem, Runtime* rt) {
    mem_ = mem;
    rt_ = rt;
    code_bits_.assign(mem->size() / 4096 + 1, 0);
  }

  size_t fetch(uint64_t va, uint8_t* out, size_t n, bool user) override;
  GuestFaultInfo fetch_fault(uint64_t va, bool user) override;
  bool read(uint64_t va, void* out, size_t n, bool user, GuestFaultInfo* f) override;
  bool write(uint64_t va, const void* in, size_t n, bool user, GuestFaultInfo* f) override;
  bool soft_fill(uint64_t va, size_t n, bool write, bool user, SoftAccess* out, GuestFaultInfo* f) override;
  // Translated code never touches an unmapped host address in this mode.
  HostFaultAction host_fault(uint64_t, bool, bool, GuestFaultInfo*) override { return HostFaultAction::Unknown; }
  bool code_frame(uint64_t va, bool user, uint64_t* gpa) override;
  void set_cr3(uint64_t cr3) override;
  void invlpg(uint64_t va) override;

  struct Stats {
    uint64_t walks = 0;       // softmmu.walk: guest table walks (fills, emulator accesses, fetches)
    uint64_t fills = 0;       // softmmu.tlb_fill: accesses resolved for translated code (miss path)
    uint64_t code_store = 0;  // softmmu.slow_store_code: stores that invalidated translations of their frame
    uint64_t cross_page = 0;  // softmmu.cross_page: accesses of translated code that cross a page boundary
    uint64_t guest_pf = 0;    // softmmu.guest_fault: faults raised by a walk (#PF, #GP for non-canonical)
    uint64_t tlb_hits = 0;    // softmmu.emu_tlb_hit: emulator accesses (frames, iret, IDT/TSS, operands) served by the TLB
  };
  const Stats& stats() const { return st_; }

 private:
  bool translate(uint64_t va, bool write, bool user, bool fetch, uint64_t* gpa, GuestFaultInfo* f,
                 WalkResult* walk = nullptr);
  void code_written(uint64_t gpa_page);
  uint8_t* one_page(uint64_t va, size_t n, bool write, bool user, GuestFaultInfo* f);

  GuestMemory* mem_ = nullptr;
  Runtime* rt_ = nullptr;
  uint64_t cr3_ = 0;
  std::unordered_map<uint64_t, std::unordered_set<uint64_t>> code_;  // gpa page -> va pages translated from it
  std::vector<uint8_t> code_bits_;  // per frame: 1 when code_ has it (the fill path's test, no hashing)
  bool holds_code(uint64_t gpa) const {
    const uint64_t f = gpa >> 12;
    return f < code_bits_.size() && code_bits_[f];
  }
  Stats st_;
};

}  // namespace vtb::bt
