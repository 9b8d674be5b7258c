// tags: engines|bt — desc: translator-internal state shared by translator.cpp and translate_insn.cpp.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engines/bt/translator.h"

namespace vtb::bt {

struct Translator::Ctx {
  Emitter e;
  Block* blk;
  const TranslateEnv& env;
  int index = 0;
  struct Rec { size_t off; int index; bool executes; };
  std::vector<Rec> records;
  std::vector<std::pair<size_t, uint64_t>> stubs;  // rel32 offset -> guest target
  std::string error;
  // restore_reg: a rewrite's scratch register to put back from s4 before leaving.
  struct CheckStub { size_t rel_off; MemRef m; bool write; uint64_t pc; int index; bool restore_rcx; bool addr32;
                     int restore_reg = -1; };
  std::vector<CheckStub> check_stubs;  // failed address checks
  // Out-of-line rest of a quick user check (the uncommon side of the hole).
  // kind: 0 user, likely low (data); 1 user, likely high (stack); 2 kernel.
  // loop: hoisted out of a self-loop; an accepted high address exits instead
  // of going back (the retranslation checks that instruction exactly).
  struct SlowCheck { size_t rel_off; int base; int kind; MemRef m; bool write; uint64_t pc; int index; size_t back;
                     bool loop = false; };
  std::vector<SlowCheck> slow_checks;
  int checks = 0;  // address checks emitted
  int checks_elided = 0;  // accesses proven allowed by an earlier quick check of the block
  // Per GPR: its value is `delta` away from one a quick check of this block
  // accepted (every accepted value has 1 MiB of slack; address_checks.cpp).
  // hoist: the loop_checks entry that set the anchor (-1: another check).
  struct Anchor { bool valid = false; int64_t delta = 0; int hoist = -1; };
  Anchor anchor[16];
  std::vector<Insn> ahead;  // look-ahead decodes (address_checks.cpp)
  // bt-softmmu: one per TLB probe: its miss jump, the inline continuation,
  // the bytes of the access (copied into the bounce path) and where it ends.
  struct SoftStub { size_t miss_rel; size_t cont; size_t access_lo, access_hi; int va, s4reg; uint32_t size; uint8_t bits;
                    uint64_t pc; uint8_t len; int index; InsnMapEntry map;
                    std::vector<uint8_t> relea; };  // the in-destination form: `lea ea,%va` for the miss stub
  std::vector<SoftStub> soft_stubs;
  // A run of pushes (or pops) under one probe (softmmu_emit.cpp): members
  // still to come after this one, the register holding the host address.
  struct Group { int left = 0, n = 0, k = 0, t = -1; bool push = false; } group;
  int probes_short = 0, probes_long = 0, probes_alone = 0, probes_in_dest = 0;  // bt-softmmu TLB probes emitted, by form (softmmu_emit.cpp)
  // Check hoisting on self-loops (address_checks.cpp): quick user checks
  // that are the first code of the block (base register, code offset after
  // the check, its slow_checks entry), and the back edges to the block's own
  // start that may enter past them (rel32 offset, entry offset).
  struct LoopCheck { int reg; size_t after; size_t slow; };
  std::vector<LoopCheck> loop_checks;
  std::vector<std::pair<size_t, size_t>> loop_back;
  int checks_hoisted = 0;
};

}  // namespace vtb::bt
