// tags: engines|bt — desc: a translated block: guest range, TC entries, TC→guest-pc map with fault fixups, chain links.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vtb::bt {

// How to restore guest state when a host fault hits a multi-instruction
// expansion of one guest instruction.
enum class Fixup : uint8_t {
  None = 0,
  RestoreS4,    // the scratch register `reg` was saved in s4
  RestoreS1S2,  // rcx/rdx were saved in s1/s2 (indirect branches)
};

struct InsnMapEntry {
  uint32_t tc_off;     // first TC byte of this instruction's translation (from tc_fast's block start)
  uint32_t guest_off;  // guest pc - block pc
  uint8_t index;       // instruction number in the block
  Fixup fixup;
  uint8_t reg;
};

// A page of a block's source whose frame could not be resolved: any write
// at that page's address drops the block, and no address space verifies it.
constexpr uint64_t kAnyFrame = ~uint64_t(0);

struct Block {
  uint64_t pc = 0, end = 0;    // guest [pc, end)
  uint64_t src_end = 0;        // end of every byte the translator read (look-ahead and 15-byte fetches included)
  uint64_t space = 0;          // code key (Runtime::cur_key_) for user-range blocks, 0 for kernel
  uint64_t frame[2] = {kAnyFrame, kAnyFrame};  // frames of the pages of pc and of src_end - 1
  std::vector<uint8_t> src;    // the bytes [pc, src_end) as translated (user blocks): adoption compares them
  bool user = false;           // translated at CPL 3
  uint64_t tc = 0;             // start of the block's TC bytes (= checked entry)
  uint64_t tc_fast = 0;        // entry without the budget check
  uint32_t tc_size = 0;
  uint16_t ninsns = 0;
  bool valid = true;
  std::string error;                      // why an Unsupported exit in this block cannot be translated
  std::vector<InsnMapEntry> map;          // sorted by tc_off
  std::vector<std::pair<uint64_t, uint64_t>> incoming;  // (rel32 site, its original stub) chained to us
  std::vector<uint64_t> outgoing_sites;   // rel32 fields in this block (patched or not)
  std::vector<uint64_t> outgoing_stub;    // the stub each site jumps to when unchained
  // Back edges to this block's own start and their entry past the hoisted
  // address checks (address_checks.cpp: loop_entry), for Runtime::chain.
  std::vector<std::pair<uint64_t, uint64_t>> loop_entries;
  uint64_t page(int i) const { return (i ? (src_end > pc ? src_end - 1 : pc) : pc) & ~uint64_t(0xfff); }
  int npages() const { return page(1) != page(0) ? 2 : 1; }
  // Guest pc of the instruction at TC address `a` (inside this block), its map entry.
  const InsnMapEntry* lookup(uint64_t a) const {
    if (a < tc || a >= tc + tc_size || map.empty()) return nullptr;
    const uint32_t off = uint32_t(a - tc);
    const InsnMapEntry* best = nullptr;
    for (const auto& m : map)
      if (m.tc_off <= off) best = &m; else break;
    return best;
  }
};

}  // namespace vtb::bt
