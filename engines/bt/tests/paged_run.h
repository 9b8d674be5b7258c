// tags: engines|bt|tests — desc: running code under a bt runtime with real guest page tables (kernel mode, cr3 0x1000, code at va 0x400000 = gpa 0x100000): shared by the shadow-MMU and software-MMU tests.
#pragma once
#include <chrono>
#include <vector>

#include "common/counters.h"
#include "common/exit.h"
#include "common/guest_memory.h"
#include "common/regs.h"
#include "engines/bt/runtime.h"

namespace vtb::bt::test {

// Snippets both MMU tests run:
// mov 0x700000,%rax (not mapped by the guest); out %al,$0xf4
inline const std::vector<uint8_t> kLoadUnmapped = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x70, 0x00, 0xe6, 0xf4};
// xor %ecx,%ecx; L: mov $1,%eax; inc %ecx; cmp $2,%ecx; je 1f; movb $2,0x400003; jmp L; 1: out %al,$0xf4
// (the second round must execute the patched immediate: al = 2)
inline const std::vector<uint8_t> kSelfModifyingLoop = {0x31, 0xc9, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xff, 0xc1,
                                                        0x83, 0xf9, 0x02, 0x74, 0x0a, 0xc6, 0x04, 0x25, 0x03,
                                                        0x00, 0x40, 0x00, 0x02, 0xeb, 0xea, 0xe6, 0xf4};

inline uint64_t runtime_counter(const Runtime& rt, const char* name) {
  Counters c;
  rt.stats(c);
  return c.get(name);
}

// Continues the guest from *r's state (5 s wall limit); *r gets the state after.
inline Exit run_paged_cont(Runtime& rt, Regs* r) {
  RunLimits lim;
  lim.wall = std::chrono::seconds(5);
  Exit e = rt.run(lim);
  *r = rt.regs();
  return e;
}

// Places `code` at gpa 0x100000 and runs it from va 0x400000 at CPL 0 with
// the tables at 0x1000 (long mode, WP, NXE), the stack at `rsp`.
inline Exit run_paged(Runtime& rt, GuestMemory& mem, const std::vector<uint8_t>& code, Regs* r, uint64_t rsp) {
  mem.write(0x100000, code.data(), code.size());
  rt.invalidate_range(0x400000, code.size());
  r->rip = 0x400000;
  r->rsp = rsp;
  r->cs.selector = 0x08;
  r->cr3 = 0x1000;
  r->cr0 = 0x80050033;
  r->efer = 0xd01;
  r->rflags = 2;
  rt.set_regs(*r);
  return run_paged_cont(rt, r);
}

}  // namespace vtb::bt::test
