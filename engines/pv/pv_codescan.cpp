// tags: engines|pv — desc: the byte scan behind pv@pkeys' code inspection (pv_codescan.h).
#include "engines/pv/pv_codescan.h"

#include <cstring>

namespace vtb::pv {

long find_pkru_seq(const uint8_t* p, size_t n) {
  if (n < kPkruSeqLen) return -1;
  const uint8_t* const end = p + n - (kPkruSeqLen - 1);
  for (const uint8_t* q = p; q < end;) {
    q = static_cast<const uint8_t*>(std::memchr(q, 0x0f, size_t(end - q)));
    if (!q) return -1;
    if (pkru_seq_at(q)) return long(q - p);
    ++q;
  }
  return -1;
}

bool pkru_seq_straddles(const uint8_t* tail, const uint8_t* head) {
  constexpr size_t k = kPkruSeqLen - 1;
  uint8_t b[2 * k];
  std::memcpy(b, tail, k);
  std::memcpy(b + k, head, k);
  for (size_t i = 0; i < k; ++i)  // starts in the tail, ends in the head
    if (pkru_seq_at(b + i)) return true;
  return false;
}

}  // namespace vtb::pv
