// tags: engines|bt — desc: flat guest memory for snippet tests: host pages at guest addresses, no paging.
#pragma once
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "engines/bt/guest_access.h"

namespace vtb::bt {

// Regions are mapped by the user (inside the reserved window) and
// registered here; anything else is "not present".
class FlatMemory : public GuestAccess {
 public:
  struct Region { uint64_t lo, hi; bool writable, executable; };
  void add(uint64_t lo, uint64_t len, bool writable, bool executable) {
    regions_.push_back({lo, lo + len, writable, executable});
  }
  const Region* find(uint64_t va) const {
    for (const auto& r : regions_)
      if (va >= r.lo && va < r.hi) return &r;
    return nullptr;
  }
  size_t fetch(uint64_t va, uint8_t* out, size_t n, bool) override {
    size_t k = 0;
    while (k < n) {
      const Region* r = find(va + k);
      if (!r || !r->executable) break;
      out[k] = *reinterpret_cast<const uint8_t*>(va + k);
      ++k;
    }
    return k;
  }
  bool read(uint64_t va, void* out, size_t n, bool user, GuestFaultInfo* f) override {
    for (size_t k = 0; k < n; ++k)
      if (!find(va + k)) return fault(va + k, false, user, f);
    memcpy(out, reinterpret_cast<const void*>(va), n);
    return true;
  }
  bool write(uint64_t va, const void* in, size_t n, bool user, GuestFaultInfo* f) override {
    for (size_t k = 0; k < n; ++k) {
      const Region* r = find(va + k);
      if (!r || !r->writable) return fault(va + k, true, user, f);
    }
    memcpy(reinterpret_cast<void*>(va), in, n);
    return true;
  }
  // bt-softmmu: flat memory is its own host view (host = guest address).
  bool soft_fill(uint64_t va, size_t n, bool write, bool user, SoftAccess* out, GuestFaultInfo* f) override {
    for (size_t k = 0; k < n; ++k) {
      const Region* r = find(va + k);
      if (!r || (write && !r->writable)) return fault(va + k, write, user, f);
    }
    const uint64_t page = va & ~uint64_t(0xfff);
    const Region* r = find(va);
    out->p0 = reinterpret_cast<uint8_t*>(va);
    out->n0 = n;
    out->p1 = nullptr;
    out->gpa0 = page;
    out->cacheable = ((va + n - 1) & ~uint64_t(0xfff)) == page && r->lo <= page && r->hi >= page + 0x1000;
    out->writable = out->cacheable && r->writable && !r->executable;
    return true;
  }
  HostFaultAction host_fault(uint64_t va, bool write, bool user, GuestFaultInfo* f) override {
    fault(va, write, user, f);
    return HostFaultAction::Guest;
  }

 private:
  bool fault(uint64_t va, bool write, bool user, GuestFaultInfo* f) {
    const Region* r = find(va);
    f->vector = 14;
    f->addr = va;
    f->error = (r ? 1u : 0u) | (write ? 2u : 0u) | (user ? 4u : 0u);
    return false;
  }
  std::vector<Region> regions_;
};

}  // namespace vtb::bt
