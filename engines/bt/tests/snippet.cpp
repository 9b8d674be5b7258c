// tags: engines|bt|tests — desc: snippet harness implementation (flat memory machine, bt and native runs).
#include "engines/bt/tests/snippet.h"

#include <sys/mman.h>

#include <chrono>
#include <cstring>

extern "C" void bt_native_exec(uint64_t* state, uint64_t code);
extern "C" void bt_native_return();

namespace vtb::bt::test {

namespace {
bool map_at(uint64_t at, size_t len, int prot) {
  return mmap(reinterpret_cast<void*>(at), len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED;
}
}  // namespace

Regs initial_regs() {
  Regs r;
  r.rsp = kStackTop - 256;
  r.rflags = 0x2;
  r.cs.selector = 0x08;
  r.ss.selector = 0x10;
  r.cr0 = 0x80050033;
  r.cr4 = 0x20;
  r.efer = 0xd01;
  return r;
}

Machine::Machine(const RuntimeOptions& opt) {
  Status st;
  rt = Runtime::create(&mem, opt, &st);
  if (!rt) {
    error = st.message();
    return;
  }
  const int rwx = PROT_READ | PROT_WRITE | PROT_EXEC;
  if (!map_at(kCode, 0x10000, rwx) || !map_at(kExitSlot, 0x1000, PROT_READ | PROT_WRITE) ||
      !map_at(kData, 0x10000, PROT_READ | PROT_WRITE) || !map_at(kStackTop - 0x20000, 0x20000, PROT_READ | PROT_WRITE) ||
      !map_at(kKernelCode & ~0xfffULL, 0x10000, rwx)) {
    error = "cannot map test pages";
    rt.reset();
    return;
  }
  mem.add(kCode, 0x10000, true, true);
  mem.add(kExitSlot, 0x1000, true, false);
  mem.add(kData, 0x10000, true, false);
  mem.add(kStackTop - 0x20000, 0x20000, true, false);
  mem.add(kKernelCode & ~0xfffULL, 0x10000, true, true);
  const uint8_t out_f4[] = {0xe7, 0xf4};  // out %eax,$0xf4
  memcpy(reinterpret_cast<void*>(kEndStub), out_f4, sizeof out_f4);
}

Machine::~Machine() = default;  // the runtime unmaps the whole window

Exit Machine::run_bt(const std::vector<uint8_t>& code, Regs* regs, uint64_t at, uint64_t max_insns, double wall_s) {
  memcpy(reinterpret_cast<void*>(at), code.data(), code.size());
  memcpy(reinterpret_cast<void*>(at + code.size()), kTerminator, sizeof kTerminator);
  rt->invalidate_range(at, code.size() + sizeof kTerminator);
  const uint64_t end = kEndStub;
  memcpy(reinterpret_cast<void*>(kExitSlot), &end, 8);
  regs->rip = at;
  rt->set_regs(*regs);
  RunLimits lim;
  lim.max_guest_insns = max_insns;
  lim.wall = std::chrono::nanoseconds(int64_t(wall_s * 1e9));
  Exit e = rt->run(lim);
  *regs = rt->regs();
  return e;
}

Exit Machine::cont(Regs* regs, uint64_t max_insns, double wall_s) {
  RunLimits lim;
  lim.max_guest_insns = max_insns;
  lim.wall = std::chrono::nanoseconds(int64_t(wall_s * 1e9));
  Exit e = rt->run(lim);
  *regs = rt->regs();
  return e;
}

void Machine::run_native(const std::vector<uint8_t>& code, Regs* regs, uint64_t at) {
  memcpy(reinterpret_cast<void*>(at), code.data(), code.size());
  memcpy(reinterpret_cast<void*>(at + code.size()), kTerminator, sizeof kTerminator);
  const uint64_t ret = reinterpret_cast<uint64_t>(&bt_native_return);
  memcpy(reinterpret_cast<void*>(kExitSlot), &ret, 8);
  uint64_t st[17] = {regs->rax, regs->rcx, regs->rdx, regs->rbx, regs->rsp, regs->rbp, regs->rsi, regs->rdi,
                     regs->r8,  regs->r9,  regs->r10, regs->r11, regs->r12, regs->r13, regs->r14, regs->r15,
                     (regs->rflags & 0xcd5) | 2};
  __builtin___clear_cache(reinterpret_cast<char*>(at), reinterpret_cast<char*>(at + code.size() + 8));
  bt_native_exec(st, at);
  uint64_t* g[16] = {&regs->rax, &regs->rcx, &regs->rdx, &regs->rbx, &regs->rsp, &regs->rbp, &regs->rsi, &regs->rdi,
                     &regs->r8,  &regs->r9,  &regs->r10, &regs->r11, &regs->r12, &regs->r13, &regs->r14, &regs->r15};
  for (int i = 0; i < 16; ++i) *g[i] = st[i];
  regs->rflags = (regs->rflags & ~0xcd5ULL) | (st[16] & 0xcd5);
}

}  // namespace vtb::bt::test
