// tags: engines|bt — desc: bt-softmmu's guest memory: in-process walks for fills, emulator accesses and fetches; self-modifying code.
#include "engines/bt/soft_mmu.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engines/bt/guest_walk.h"
#include "engines/bt/runtime.h"

namespace vtb::bt {

namespace {
constexpr uint64_t kPage = 0x1000;
constexpr uint64_t kPteDirty = 0x40;
constexpr uint64_t kPteGlobal = 0x100;
}  // namespace

bool SoftMmu::translate(uint64_t va, bool write, bool user, bool fetch, uint64_t* gpa, GuestFaultInfo* f,
                        WalkResult* walk) {
  ++st_.walks;
  if (walk_access(*mem_, cr3_, va, write, user, fetch, gpa, f, walk)) return true;
  ++st_.guest_pf;
  return false;
}

bool SoftMmu::soft_fill(uint64_t va, size_t n, bool write, bool user, SoftAccess* out, GuestFaultInfo* f) {
  ++st_.fills;
  const uint64_t last = va + (n ? n - 1 : 0);
  const bool cross = (va & ~(kPage - 1)) != (last & ~(kPage - 1));
  uint64_t g0 = 0, g1 = 0;
  WalkResult w;
  // Every page is checked before anything is handed out: a faulting access changes nothing.
  if (!translate(va, write, user, false, &g0, f, &w)) return false;
  if (cross) {
    ++st_.cross_page;
    if (!translate(last & ~(kPage - 1), write, user, false, &g1, f)) return false;
  }
  if (write) {
    if (holds_code(g0)) code_written(g0 & ~(kPage - 1));
    if (cross && holds_code(g1)) code_written(g1 & ~(kPage - 1));
  }
  out->p0 = mem_->host() + g0;
  out->gpa0 = g0 & ~(kPage - 1);
  out->n0 = cross ? size_t(kPage - (va & (kPage - 1))) : n;
  out->p1 = cross ? mem_->host() + g1 : nullptr;
  out->cacheable = !cross;
  // A read fill is a speculative one for stores: only an entry that is
  // writable and already dirty (and not a translated frame) serves them.
  out->writable = !cross && w.writable && (w.leaf_pte & kPteDirty) && !holds_code(out->gpa0);
  out->global = w.leaf_pte & kPteGlobal;
  out->level = uint8_t(w.level);
  return true;
}

bool SoftMmu::code_frame(uint64_t va, bool user, uint64_t* gpa) {
  ++st_.walks;
  return code_frame_at(*mem_, cr3_, va, user, gpa);
}

void SoftMmu::code_written(uint64_t gpa_page) {
  auto it = code_.find(gpa_page);
  if (it == code_.end()) return;
  ++st_.code_store;
  std::vector<uint64_t> vas(it->second.begin(), it->second.end());
  code_.erase(it);
  code_bits_[gpa_page >> 12] = 0;
  rt_->code_frame_written(gpa_page, vas);  // only the blocks translated from this frame
}

size_t SoftMmu::fetch(uint64_t va, uint8_t* out, size_t n, bool user) {
  size_t k = 0;
  while (k < n) {
    const uint64_t a = va + k;
    uint64_t gpa;
    GuestFaultInfo f;
    if (!translate(a, false, user, true, &gpa, &f)) {
      --st_.guest_pf;  // a fetch probe, not a fault (fetch_fault reports it when it is one)
      break;
    }
    const size_t chunk = std::min<uint64_t>(n - k, kPage - (a & (kPage - 1)));
    memcpy(out + k, mem_->host() + gpa, chunk);
    const uint64_t gp = gpa & ~(kPage - 1);
    auto& s = code_[gp];
    if ((gp >> 12) < code_bits_.size()) code_bits_[gp >> 12] = 1;
    // First translation from this frame: no TLB entry may write it any more.
    if (s.insert(a & ~(kPage - 1)).second && s.size() == 1 && rt_) rt_->tlb_drop_frame_writes(gp);
    k += chunk;
  }
  return k;
}

GuestFaultInfo SoftMmu::fetch_fault(uint64_t va, bool user) {
  GuestFaultInfo f;
  uint64_t gpa;
  if (translate(va, false, user, true, &gpa, &f)) plain_fetch_fault(va, user, &f);
  return f;
}

// The emulator's accesses (exception frames, iret, the IDT and TSS, callout
// operands) go through the inline TLB as translated code does: a hit costs
// no walk; a one-page miss is a fill, and its entry serves the next access
// (of the emulator or of translated code). A write entry exists only for a
// dirty, writable frame without translations, so a hit needs no code check.
bool SoftMmu::read(uint64_t va, void* out, size_t n, bool user, GuestFaultInfo* f) {
  if (uint8_t* h = one_page(va, n, false, user, f)) {
    memcpy(out, h, n);
    return true;
  }
  if (f->vector != 0xff) return false;
  auto tr = [&](uint64_t a, uint64_t* gpa, GuestFaultInfo* ff) { return translate(a, false, user, false, gpa, ff); };
  return read_guest(*mem_, tr, va, out, n, f);
}

bool SoftMmu::write(uint64_t va, const void* in, size_t n, bool user, GuestFaultInfo* f) {
  if (uint8_t* h = one_page(va, n, true, user, f)) {
    memcpy(h, in, n);
    return true;
  }
  if (f->vector != 0xff) return false;
  auto tr = [&](uint64_t a, uint64_t* gpa, GuestFaultInfo* ff) { return translate(a, true, user, false, gpa, ff); };
  return write_guest(
      *mem_, tr, va, in, n, f,
      [&](uint64_t gpa, size_t) {
        if (holds_code(gpa)) code_written(gpa & ~(kPage - 1));
      },
      [](uint64_t, size_t) {});
}

// The host address of an emulator access within one page: the TLB's entry,
// or a fill as translated code's miss would make it (A/D, code
// invalidation), its entry installed. null with f->vector 0xff: the access
// crosses a page (the copy loops take it); else the fault is in *f.
uint8_t* SoftMmu::one_page(uint64_t va, size_t n, bool write, bool user, GuestFaultInfo* f) {
  if (n == 0 || !rt_ || ((va ^ (va + n - 1)) & ~(kPage - 1))) {
    f->vector = 0xff;
    return nullptr;
  }
  if (uint8_t* h = rt_->tlb_lookup(user, va, n, write)) {
    ++st_.tlb_hits;
    return h;
  }
  SoftAccess sa;
  if (!soft_fill(va, n, write, user, &sa, f)) return nullptr;
  rt_->tlb_install(user, va, sa);
  return sa.p0;
}

void SoftMmu::set_cr3(uint64_t cr3) {
  cr3_ = cr3;
  if (rt_) rt_->tlb_flush(/*keep_global=*/true);
}

void SoftMmu::invlpg(uint64_t va) {
  if (rt_) rt_->tlb_flush_page(va);
}

}  // namespace vtb::bt
