// tags: engines|bt — desc: guest memory accesses through a walk of the guest's tables, shared by the shadow and the software MMU: one walk as a fault to deliver, and the page-by-page copy loops.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/guest_memory.h"
#include "common/page_walk.h"
#include "engines/bt/guest_access.h"

namespace vtb::bt {

constexpr uint64_t kGuestPage = 4096;

// One walk for an access at va: the gpa, or (false) the fault the guest
// gets: #GP(0) for a non-canonical address, else #PF with the walk's error
// code (CR2 = va).
inline bool walk_access(GuestMemory& mem, uint64_t cr3, uint64_t va, bool write, bool user, bool fetch, uint64_t* gpa,
                        GuestFaultInfo* f, WalkResult* walk = nullptr) {
  WalkRequest req;
  req.write = write;
  req.user = user;
  req.fetch = fetch;
  const WalkResult w = walk_page_tables(mem, cr3, va, req);
  if (walk) *walk = w;
  if (w.status == WalkStatus::Ok && w.gpa < mem.size()) {
    *gpa = w.gpa;
    return true;
  }
  f->addr = va;
  if (w.status == WalkStatus::NonCanonical) {
    f->vector = 13;
    f->error = 0;
    return false;
  }
  f->vector = 14;
  f->error = w.status == WalkStatus::PageFault ? w.error_code
                                               : (kPfPresent | (write ? kPfWrite : 0u) | (user ? kPfUser : 0u));
  return false;
}

// The frame of the code page at va as a fetch at CPL 3 (`user`) or 0 sees
// it now, without setting A/D (GuestAccess::code_frame).
inline bool code_frame_at(GuestMemory& mem, uint64_t cr3, uint64_t va, bool user, uint64_t* gpa) {
  WalkRequest req;
  req.user = user;
  req.fetch = true;
  req.set_ad = false;
  const WalkResult w = walk_page_tables(mem, cr3, va, req);
  if (w.status != WalkStatus::Ok || w.gpa >= mem.size()) return false;
  *gpa = w.gpa & ~(kGuestPage - 1);
  return true;
}

// A fetch fault for an instruction that faulted at fetch although its page
// now translates (should not happen): reported as a plain present-page
// fetch #PF at va.
inline void plain_fetch_fault(uint64_t va, bool user, GuestFaultInfo* f) {
  f->vector = 14;
  f->addr = va;
  f->error = kPfFetch | kPfPresent | (user ? kPfUser : 0u);
}

// Copies n bytes at guest va out of guest memory, a page at a time through
// `tr(va, &gpa, f)` (the MMU's translation); false at the first fault.
template <class Translate>
bool read_guest(GuestMemory& mem, Translate&& tr, uint64_t va, void* out, size_t n, GuestFaultInfo* f) {
  uint8_t* o = static_cast<uint8_t*>(out);
  for (size_t k = 0; k < n;) {
    const uint64_t a = va + k;
    uint64_t gpa;
    if (!tr(a, &gpa, f)) return false;
    const size_t chunk = std::min<uint64_t>(n - k, kGuestPage - (a & (kGuestPage - 1)));
    memcpy(o + k, mem.host() + gpa, chunk);
    k += chunk;
  }
  return true;
}

// Writes n bytes at guest va: every page is translated (checked) first, so a
// faulting write changes nothing (and the second pass reuses those walks); `before(gpa, chunk)` runs before each
// chunk is stored, `after(gpa, chunk)` after it (code and table tracking).
template <class Translate, class Before, class After>
bool write_guest(GuestMemory& mem, Translate&& tr, uint64_t va, const void* in, size_t n, GuestFaultInfo* f,
                 Before&& before, After&& after) {
  const uint8_t* p = static_cast<const uint8_t*>(in);
  constexpr size_t kKept = 8;  // pages whose translation the first pass keeps for the second
  uint64_t kept[kKept];
  size_t npages = 0;
  for (uint64_t a = va & ~(kGuestPage - 1); a < va + n; a += kGuestPage, ++npages) {
    uint64_t gpa;
    if (!tr(std::max(a, va), &gpa, f)) return false;
    if (npages < kKept) kept[npages] = gpa;  // the second pass's chunk `npages` starts at this same address
  }
  for (size_t k = 0, page = 0; k < n; ++page) {
    const uint64_t a = va + k;
    uint64_t gpa = 0;
    if (page < kKept) gpa = kept[page];
    else tr(a, &gpa, f);
    const size_t chunk = std::min<uint64_t>(n - k, kGuestPage - (a & (kGuestPage - 1)));
    before(gpa, chunk);
    memcpy(mem.host() + gpa, p + k, chunk);
    after(gpa, chunk);
    k += chunk;
  }
  return true;
}

}  // namespace vtb::bt
