// tags: engines|pv — desc: ERIM-style code inspection for pv@pkeys: byte sequences that could rewrite PKRU from user mode.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vtb::pv {

// Every encoding an unprivileged program could use to change PKRU contains
// one of these 3-byte sequences, at any byte offset (prefixes, REX and
// REX.W — XRSTOR64 — come before them and do not matter):
//   WRPKRU          0f 01 ef
//   XRSTOR[64] m    0f ae /5 with a memory operand (ModRM mod != 3;
//                   mod == 3 with reg 5 is LFENCE, harmless)
// XRSTORS (0f c7 /3) is privileged (#GP at CPL 3: guest user code runs at
// the host's CPL 3), so it is not looked for. Sigreturn (which restores
// PKRU from the signal frame) is a system call: a guest's `syscall` is
// dispatched to the engine by Syscall User Dispatch, never run by the host.
constexpr size_t kPkruSeqLen = 3;

// True when the 3 bytes at p form a forbidden sequence.
inline bool pkru_seq_at(const uint8_t* p) {
  if (p[0] != 0x0f) return false;
  if (p[1] == 0x01) return p[2] == 0xef;
  return p[1] == 0xae && ((p[2] >> 3) & 7) == 5 && (p[2] >> 6) != 3;
}

// Offset of the first forbidden sequence that lies wholly inside [p, p+n),
// or -1 when there is none.
long find_pkru_seq(const uint8_t* p, size_t n);

// A sequence that starts in the last kPkruSeqLen-1 bytes of one page (`tail`)
// and ends in the first kPkruSeqLen-1 bytes of the next (`head`)?
bool pkru_seq_straddles(const uint8_t* tail, const uint8_t* head);

}  // namespace vtb::pv
