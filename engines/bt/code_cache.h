// tags: engines|bt — desc: W^X translation cache: a memfd with a writable host alias and an executable view at a fixed address.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace vtb::bt {

class CodeCache {
 public:
  CodeCache() = default;
  ~CodeCache();
  CodeCache(const CodeCache&) = delete;
  CodeCache& operator=(const CodeCache&) = delete;

  // Maps `size` bytes executable at `exec_base` (MAP_FIXED, inside the
  // reserved window) and writable somewhere else in the host. `exec` false:
  // read-only there (data that translated code reads, e.g. lookup tables).
  Status init(uint64_t exec_base, size_t size, bool exec = true);
  bool contains(uint64_t exec_addr) const { return exec_addr >= exec_ && exec_addr < exec_ + size_; }
  // Bump allocation; 0 when full (caller flushes).
  uint64_t alloc(size_t n);
  uint8_t* writable(uint64_t exec_addr) const { return rw_ + (exec_addr - exec_); }
  uint64_t exec_base() const { return exec_; }
  uint64_t top() const { return top_; }
  uint64_t used() const { return top_ - exec_; }
  uint64_t free_bytes() const { return exec_ + size_ - top_; }
  // Drop every translation; `keep` bytes at the start (the shared stubs) stay.
  void reset(uint64_t keep);

 private:
  int fd_ = -1;
  uint8_t* rw_ = nullptr;
  uint64_t exec_ = 0, top_ = 0;
  size_t size_ = 0;
};

}  // namespace vtb::bt
