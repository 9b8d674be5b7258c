// tags: common — desc: Syscall User Dispatch (Linux >= 6.17 inclusive mode): syscalls issued from a code range raise SIGSYS instead of entering the host kernel.
#pragma once
#include <cstdint>
#include <string>

namespace vtb {

// Per thread (not inherited by threads or forks). Turns dispatch on for
// syscalls from [lo, lo + len); false with the reason in *err.
bool sud_enable_inclusive(uint64_t lo, uint64_t len, std::string* err);
void sud_disable();
// Probed once in a scratch thread: can this kernel do inclusive mode?
bool sud_inclusive_available(std::string* why);

}  // namespace vtb
