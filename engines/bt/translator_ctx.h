// tags: engines|bt — desc: translator-internal state shared by translator.cpp and translate_insn.cpp.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engines/bt/translator.h"

namespace vtb::bt {

// softmmu_emit.cpp: pext abs32,%src,%dst (flag-free); mov table(,%d,8),%d.
void soft_pext_abs(Emitter& e, int dst, int src, uint64_t abs);
void soft_load_table(Emitter& e, int d, uint64_t table);

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
  // Look-ahead decodes (address_checks.cpp): a ring of the last kAhead,
  // found by pc (ahead_pc[i] is ahead[i]'s); the main loop takes its
  // instructions from there, so each is decoded once.
  static constexpr int kAhead = 16;
  std::vector<Insn> ahead;  // (ahead_pc, ahead_next: below)
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
  std::vector<LoopCheck> loop_checks = {};
  std::vector<std::pair<size_t, size_t>> loop_back = {};
  int checks_hoisted = 0;
  // bt-softmmu: a probe covering later accesses through one base register
  // (softmmu_cover.cpp). While `active`, %h holds the page's TLB addend
  // (guest %h saved in s4); `pcs`: the covered accesses still to come, the
  // last of which puts %h back.
  static constexpr int kCoverMax = 8;
  struct Cover { bool active = false, dead = false; int base = -1, h = -1, n = 0, next = 0; uint64_t pcs[kCoverMax] = {}; } cover = {};
  // bt-softmmu: a conditional branch back to the block's start continues the
  // block there once (soft_unrolls: the loop body twice, one cover over both
  // rounds); next_pc: where the main loop goes on after it.
  bool unrolled = false;
  uint64_t next_pc = 0, unroll_at = 0;  // unroll_at: the jcc a cover's plan goes through (only then)
  // Out of line per cover: the miss (fill for the first access, or the
  // page-crossing path: the first access alone, then the next instruction's block).
  struct CoverStub { size_t miss_rel, back; Insn first; int base, h; int64_t lo; uint32_t span; bool write; int index;
                     InsnMapEntry map; };
  std::vector<CoverStub> cover_stubs = {};
  struct CoverExit { size_t rel; uint64_t target; int h; };  // a side exit inside a cover: %h back first
  std::vector<CoverExit> cover_exits = {};
  int probes_covered = 0;
  bool cover_failed = false;  // emit_cover_stubs could not complete a path: no translation
  // bt-softmmu: a probe's scratch register that is dead after its access
  // (soft_dead_at): emit_via_scratch does not reload it. Counted with the
  // covers' dead %h in scratch_dead.
  int dead_scratch = -1, scratch_dead = 0;
  uint64_t ahead_pc[kAhead] = {};
  int ahead_next = 0;
  int ahead_find(uint64_t pc) const {
    for (size_t i = 0; i < ahead.size(); ++i)
      if (ahead_pc[i] == pc) return int(i);
    return -1;
  }
};

}  // namespace vtb::bt
