// tags: engines|pv — desc: pv@pkeys W^X: user code frames are inspected for PKRU-changing sequences before they may run (ERIM-style).
#include <sys/mman.h>

#include <vector>

#include "common/abi/vtb_abi.h"
#include "engines/pv/pv_codescan.h"
#include "engines/pv/pv_mmu.h"

namespace vtb::pv {
namespace {
constexpr uint64_t kPg = VTB_PAGE_SIZE;
constexpr uint64_t kProtMask = 7;  // low bits of a mapped_ value: PROT_* bits (as pv_mmu.cpp)
}  // namespace

bool PvMmu::wx_granted(uint64_t va) const {
  const auto it = xok_.find(va);
  if (it == xok_.end() || !frames_[it->second / kPg].exec) return false;
  const auto m = mapped_.find(va);
  return m != mapped_.end() && (m->second & ~kProtMask) == it->second && (m->second & PROT_EXEC);
}

// What the window maps for a page the guest maps with `gpa_prot`: never W
// and X together; X only where inspected (the frame locked, this va
// granted), W never on a locked frame.
uint64_t PvMmu::wx_prot(uint64_t va, uint64_t gpa_prot) {
  const uint64_t gpa = gpa_prot & ~kProtMask;
  uint64_t prot = gpa_prot & kProtMask;
  const bool locked = frames_[gpa / kPg].exec;
  const auto it = xok_.find(va);
  const bool granted = it != xok_.end() && it->second == gpa && locked && (prot & PROT_EXEC);
  if (it != xok_.end() && !granted) xok_.erase(it);  // a new frame, or X gone: inspect again
  if (locked) prot &= ~uint64_t(PROT_WRITE);
  if (!granted) prot &= ~uint64_t(PROT_EXEC);
  return gpa | prot;
}

bool PvMmu::wx_resync_frame(uint64_t f) {
  std::vector<uint64_t> vas;
  for (const auto& [va, v] : mapped_)
    if ((v & ~kProtMask) == f * kPg) vas.push_back(va);
  bool ok = true;
  for (uint64_t va : vas) ok = resync_page(va) && ok;
  return ok;
}

bool PvMmu::wx_lock(uint64_t f) {
  Frame& fr = frames_[f];
  if (fr.exec) return true;
  fr.exec = 1;
  if (fr.wrote) ++wx_flips_;  // written since it last ran: W -> X
  bool ok = true;
  if (!ro_[f]) {
    set_ro(f, true);
    ok = win_.protect(VTB_KERNEL_VBASE + f * kPg, kPg, PROT_READ);
  }
  return wx_resync_frame(f) && ok;  // no user page keeps W on it
}

bool PvMmu::wx_unlock(uint64_t f) {
  Frame& fr = frames_[f];
  if (!fr.exec) return true;
  fr.exec = 0;
  fr.wrote = 1;
  ++wx_flips_;  // X -> W
  for (auto it = xok_.begin(); it != xok_.end();)
    it = it->second == f * kPg ? xok_.erase(it) : std::next(it);
  bool ok = true;
  if (ro_[f] && !fr.level) {
    set_ro(f, false);
    ok = win_.protect(VTB_KERNEL_VBASE + f * kPg, kPg, PROT_READ | PROT_WRITE | PROT_EXEC);
  }
  return wx_resync_frame(f) && ok;
}

bool PvMmu::wx_end_step() {
  const uint64_t f = step_frame_;
  step_frame_ = kNoStep;
  return f == kNoStep || wx_unlock(f);
}

PvMmu::WxFault PvMmu::wx_fault(uint64_t va, uint64_t gpa, bool write, bool fetch) {
  if (!wx_) return WxFault::NotMine;
  const uint64_t f = gpa / kPg;
  if (f >= frames_.size()) return WxFault::NotMine;
  if (va >= VTB_KERNEL_VBASE) {  // the guest kernel writes a locked frame through the direct map
    if (!write || !frames_[f].exec) return WxFault::NotMine;
    return wx_unlock(f) ? WxFault::Served : WxFault::NotMine;
  }
  const uint64_t page = va & ~(kPg - 1), fpage = f * kPg;
  const auto m = mapped_.find(page);
  if (m == mapped_.end() || (m->second & ~kProtMask) != fpage) return WxFault::NotMine;  // out of step: resync
  if (write) {
    if (!frames_[f].exec) return WxFault::NotMine;
    if (wx_stepping() && !wx_end_step()) return WxFault::NotMine;
    step_frame_ = f;
    constexpr int kRWX = PROT_READ | PROT_WRITE | PROT_EXEC;
    if (!win_.map_frames(page, mem_.fd(), fpage, kPg, kRWX)) return WxFault::NotMine;
    mapped_[page] = fpage | kRWX;  // any resync before the step ends puts W^X back
    return WxFault::Step;
  }
  if (!fetch || (m->second & PROT_EXEC)) return WxFault::NotMine;
  const auto* bytes = static_cast<const uint8_t*>(mem_.ptr(fpage, kPg));
  if (!bytes) return WxFault::NotMine;
  if (!frames_[f].exec) {
    ++inspections_;
    if (find_pkru_seq(bytes, kPg) >= 0) {
      ++refused_;
      return WxFault::Refused;
    }
    if (!wx_lock(f)) return WxFault::NotMine;
  }
  // A sequence across the page end runs only if both pages are executable:
  // look at the neighbours that are (their frames are locked: stable bytes).
  constexpr size_t k = kPkruSeqLen - 1;
  for (const uint64_t nb : {page - kPg, page + kPg}) {
    if (!wx_granted(nb)) continue;
    const auto* other = static_cast<const uint8_t*>(mem_.ptr(xok_.at(nb), kPg));
    const bool bad = nb < page ? pkru_seq_straddles(other + kPg - k, bytes)
                               : pkru_seq_straddles(bytes + kPg - k, other);
    if (bad) {
      ++refused_;
      return WxFault::Refused;
    }
  }
  xok_[page] = fpage;
  return resync_page(page) ? WxFault::Served : WxFault::NotMine;
}

}  // namespace vtb::pv
