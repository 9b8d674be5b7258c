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

// Which instruction a SIGSYS came from, told by the two bytes before the
// reported address: on a host kernel with IA-32 emulation `int $0x80` (and
// `sysenter`) are system calls too, so dispatch hands them over like
// `syscall`. All three are two bytes long.
enum class SudInsn { Syscall, SoftInt, Other };  // 0f 05 | cd nn (nn = bytes[1]) | sysenter or unknown
inline SudInsn sud_insn(const uint8_t bytes[2]) {
  if (bytes[0] == 0x0f && bytes[1] == 0x05) return SudInsn::Syscall;
  if (bytes[0] == 0xcd) return SudInsn::SoftInt;
  return SudInsn::Other;
}

}  // namespace vtb
