// tags: engines|bt|tests — desc: helpers of the CPL 3 snippet tests (defined in privileged_test.cpp): user registers, the expected guest #PF.
#pragma once
#include <cstdint>

#include "common/exit.h"
#include "common/regs.h"

namespace vtb::bt::test {

// initial_regs() at CPL 3 with IOPL 3 (the terminator's out runs in user mode).
Regs user_regs();
// The snippet stopped with guest #PF `err` for `cr2` at `rip` (gtest assertions).
void expect_page_fault(const Exit& e, uint32_t err, uint64_t cr2, uint64_t rip);

}  // namespace vtb::bt::test
