// tags: engines|bt|tests — desc: snippet harness: run code bytes through the bt runtime in flat memory (and natively).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/exit.h"
#include "common/regs.h"
#include "engines/bt/flat_memory.h"
#include "engines/bt/runtime.h"

namespace vtb::bt::test {

// Fixed test layout inside the guest window.
constexpr uint64_t kCode = 0x400000;      // snippet code (RWX, 64 KiB)
constexpr uint64_t kEndStub = 0x40f000;   // "out %eax,$0xf4": where snippets finish under bt
constexpr uint64_t kExitSlot = 0x500000;  // u64 holding the address snippets jump to when done
constexpr uint64_t kData = 0x600000;      // data page(s), 64 KiB
constexpr uint64_t kStackTop = 0x720000;  // stack [0x700000, 0x720000)
constexpr uint64_t kKernelCode = 0x80000100000ULL;  // code at the kernel address (8 TiB + 1 MiB)

// Terminator appended to every snippet: jmp *kExitSlot.
inline constexpr uint8_t kTerminator[] = {0xff, 0x24, 0x25, 0x00, 0x00, 0x50, 0x00};

struct Machine {
  Machine() : Machine(RuntimeOptions{}) {}
  explicit Machine(const RuntimeOptions& opt);
  ~Machine();
  bool ok() const { return rt != nullptr; }
  // Places `code` (+ terminator) at `at` and runs it from there under bt.
  Exit run_bt(const std::vector<uint8_t>& code, Regs* regs, uint64_t at = kCode, uint64_t max_insns = 0,
              double wall_s = 5.0);
  // Continue after an exit (port I/O, halt...).
  Exit cont(Regs* regs, uint64_t max_insns = 0, double wall_s = 5.0);
  // Same bytes executed natively on the host at the same address.
  void run_native(const std::vector<uint8_t>& code, Regs* regs, uint64_t at = kCode);
  uint8_t* data() { return reinterpret_cast<uint8_t*>(kData); }
  FlatMemory mem;
  std::unique_ptr<Runtime> rt;
  std::string error;
};

Regs initial_regs();

}  // namespace vtb::bt::test
