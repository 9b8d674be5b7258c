// tags: engines|pv — desc: mmu_update validation (frame types, refcounts) and window reflection with coalesced runs.
#include "engines/pv/pv_mmu.h"

#include <sys/mman.h>

#include <algorithm>
#include <iterator>
#include <cstring>

#include "common/abi/vtb_abi.h"

namespace vtb::pv {
namespace {

constexpr uint64_t P = 1, W = 2, U = 4, PS = 0x80, NX = 1ULL << 63, ADDR = 0x000ffffffffff000ULL;
constexpr uint64_t kPg = VTB_PAGE_SIZE;
constexpr int kRWX = PROT_READ | PROT_WRITE | PROT_EXEC;
constexpr uint64_t kProtMask = 7;  // low bits of a mapped_ value: PROT_* bits

uint64_t span(int level) { return 1ULL << (12 + 9 * (level - 1)); }

bool overlaps(uint64_t a, uint64_t alen, uint64_t lo, uint64_t hi) { return a < hi && a + alen > lo; }

bool touches_reserved(uint64_t va, uint64_t len) {
  return overlaps(va, len, VTB_HOST_RESERVED_USER_LO, VTB_HOST_RESERVED_USER_HI) ||
         overlaps(va, len, VTB_HOST_RESERVED_KERNEL_LO, VTB_HOST_RESERVED_KERNEL_HI);
}

// A user-half page the window reflects.
bool reflectable(uint64_t va) {
  return va >= VTB_WINDOW_LO && va < VTB_HOST_RESERVED_KERNEL_LO && !touches_reserved(va, kPg);
}

}  // namespace

PvMmu::PvMmu(GuestMemory& mem, PvWindow& win, uint64_t usable_bytes)
    : mem_(mem), win_(win), usable_(usable_bytes), frames_(mem.size() / kPg), ro_(mem.size() / kPg) {}

uint64_t PvMmu::entry(uint64_t table_gpa, unsigned i) const {
  uint64_t e = 0;
  mem_.read_obj(table_gpa + 8ULL * i, &e);
  return e;
}

bool PvMmu::is_page_table(uint64_t gpa) const {
  const uint64_t f = gpa / kPg;
  return f < frames_.size() && frames_[f].level != 0;
}

uint64_t PvMmu::pt_frames() const {
  uint64_t n = 0;
  for (const auto& f : frames_) n += f.level != 0;
  return n;
}

void PvMmu::note_table_change(uint64_t frame) { prot_dirty_.push_back(frame); }

void PvMmu::set_ro(uint64_t f, bool ro) {
  if (bool(ro_[f]) == ro) return;
  ro_[f] = ro;
  if (ro) {
    auto next = ro_runs_.find(f + 1);
    uint64_t end = next != ro_runs_.end() ? next->second : f + 1;
    if (next != ro_runs_.end()) ro_runs_.erase(next);
    auto prev = ro_runs_.lower_bound(f);
    if (prev != ro_runs_.begin() && std::prev(prev)->second == f)
      std::prev(prev)->second = end;
    else
      ro_runs_[f] = end;
    return;
  }
  auto it = std::prev(ro_runs_.upper_bound(f));  // the run holding f
  const uint64_t lo = it->first, hi = it->second;
  ro_runs_.erase(it);
  if (lo < f) ro_runs_[lo] = f;
  if (f + 1 < hi) ro_runs_[f + 1] = hi;
}

bool PvMmu::commit_table_prot() {
  if (prot_dirty_.empty() || protected_) return true;  // while protected: unprotect_kernel() applies them
  std::sort(prot_dirty_.begin(), prot_dirty_.end());
  const uint64_t last = prot_dirty_.back();
  bool ok = true;
  for (uint64_t f : prot_dirty_) {
    const bool table = wants_ro(f);  // a table, or (pv@pkeys) a locked code frame
    if (ro_[f] == table) continue;  // already applied (or back where it was)
    // One run: every following frame up to the last changed one that wants
    // the same state (frames already in it cost nothing extra).
    uint64_t end = f + 1;
    while (end <= last && wants_ro(end) == table) ++end;
    ok = win_.protect(VTB_KERNEL_VBASE + f * kPg, (end - f) * kPg, table ? PROT_READ : kRWX) && ok;
    for (uint64_t i = f; i < end; ++i) set_ro(i, table);
  }
  prot_dirty_.clear();
  return ok;
}

int64_t PvMmu::take(int level, uint64_t va, uint64_t e, uint64_t egpa) {
  if (!(e & P)) return 0;
  if (level == 4 && (e & PS)) return -VTB_EINVAL;
  const bool leaf = level == 1 || (e & PS);
  const uint64_t sz = span(level);
  if (leaf) {
    const uint64_t frame = e & ADDR & ~(sz - 1);
    if (touches_reserved(va, sz) || va + sz > VTB_WINDOW_HI) return -VTB_EINVAL;
    if (va >= VTB_KERNEL_VBASE) return frame == va - VTB_KERNEL_VBASE ? 0 : -VTB_EINVAL;  // direct map only
    if (frame + sz > usable_) return -VTB_EPERM;  // not this guest's frame
    if (e & W) {
      for (uint64_t p = frame / kPg; p < (frame + sz) / kPg; ++p)
        if (frames_[p].level) return -VTB_EPERM;  // a page table must stay read-only
      for (uint64_t p = frame / kPg; p < (frame + sz) / kPg; ++p) ++frames_[p].wr_refs;
    }
    return 0;
  }
  if (va + sz > VTB_WINDOW_HI) return -VTB_EINVAL;
  const uint64_t child = e & ADDR;
  if (child + kPg > usable_) return -VTB_EPERM;
  Frame& cf = frames_[child / kPg];
  if (cf.level) {
    if (cf.level != level - 1 || cf.va_base != va) return -VTB_EINVAL;  // no aliased tables
    ++cf.pt_refs;
    cf.parent = egpa;
    return 0;
  }
  if (int64_t r = promote(child / kPg, level - 1, va)) return r;
  frames_[child / kPg].pt_refs = 1;
  frames_[child / kPg].parent = egpa;
  return 0;
}

void PvMmu::drop(int level, uint64_t va, uint64_t e, uint64_t egpa) {
  if (!(e & P)) return;
  if (!dead_.empty() && dead_.erase(egpa)) return;  // its child was detached already
  const bool leaf = level == 1 || (e & PS);
  const uint64_t sz = span(level);
  if (leaf) {
    if (va < VTB_KERNEL_VBASE && (e & W)) {
      const uint64_t frame = e & ADDR & ~(sz - 1);
      for (uint64_t p = frame / kPg; p < (frame + sz) / kPg && p < frames_.size(); ++p)
        if (frames_[p].wr_refs) --frames_[p].wr_refs;
    }
    return;
  }
  Frame& cf = frames_[(e & ADDR) / kPg];
  if (cf.pt_refs) --cf.pt_refs;
  if (cf.pt_refs == 0 && !cf.pinned && cf.level) demote((e & ADDR) / kPg);
}

int64_t PvMmu::promote(uint64_t frame, int level, uint64_t va_base) {
  Frame& f = frames_[frame];
  if (f.wr_refs) return -VTB_EPERM;  // still writable through a user mapping
  if (level == 4) ++f.incarnation;
  f.level = uint8_t(level);
  f.va_base = va_base;
  const uint64_t gpa = frame * kPg;
  for (unsigned i = 0; i < 512; ++i) {
    if (int64_t r = take(level, va_base + i * span(level), entry(gpa, i), gpa + 8 * i)) {
      for (unsigned j = 0; j < i; ++j) drop(level, va_base + j * span(level), entry(gpa, j), gpa + 8 * j);
      f.level = 0;
      return r;
    }
  }
  note_table_change(frame);
  return 0;
}

void PvMmu::demote(uint64_t frame) {
  Frame& f = frames_[frame];
  const int level = f.level;
  const uint64_t va_base = f.va_base, gpa = frame * kPg;
  f.level = 0;
  f.tainted = 0;
  f.parent = 0;
  for (unsigned i = 0; i < 512; ++i) drop(level, va_base + i * span(level), entry(gpa, i), gpa + 8 * i);
  // Its direct-map page stays read-only (release_stale_table): a released
  // table is usually reused as a table before the kernel writes it.
}

bool PvMmu::release_stale_table(uint64_t va) {
  if (va < VTB_KERNEL_VBASE || va >= VTB_KERNEL_VBASE + mem_.size()) return false;
  const uint64_t f = (va - VTB_KERNEL_VBASE) / kPg;
  if (frames_[f].level || frames_[f].exec || !ro_[f] || protected_) return false;
  set_ro(f, false);
  ++stale_releases_;
  return win_.protect(VTB_KERNEL_VBASE + f * kPg, kPg, kRWX);
}

// A change in the tree of a root that is not current: counted for that
// root, found through the single parents; for every root when a table on
// the way up is linked more than once (or not at all).
void PvMmu::note_foreign(uint64_t frame) {
  for (int i = 0; i < 4 && frame < frames_.size(); ++i) {
    Frame& t = frames_[frame];
    if (t.level == 4) {
      ++t.changes;
      return;
    }
    if (!t.level || t.pt_refs != 1) break;
    frame = t.parent / kPg;
  }
  ++foreign_;
}

// Whether `table_frame` sits at (level, va) in the current tree; *shared:
// a table on that path below the root is linked from more than one entry.
bool PvMmu::in_current(uint64_t table_frame, int level, uint64_t va, bool* shared) const {
  uint64_t table = root_;
  *shared = false;
  for (int l = 4; l > level; --l) {
    const uint64_t e = entry(table, unsigned((va >> (12 + 9 * (l - 1))) & 511));
    if (!(e & P) || (e & PS)) return false;
    table = e & ADDR;
    if (table / kPg < frames_.size() && frames_[table / kPg].pt_refs > 1) *shared = true;
  }
  return table == table_frame * kPg;
}

int64_t PvMmu::update(uint64_t ptr, uint64_t val) {
  if ((ptr & 7) || ptr + 8 > usable_) return -VTB_EINVAL;
  const uint64_t f = ptr / kPg;
  const int level = frames_[f].level;
  if (level == 0) {  // not a live page table: plain guest memory, checked when it becomes one
    if (!wx_written(ptr)) return -VTB_ENOMEM;
    mem_.write_obj(ptr, val);
    ++unvalidated_;
    return 0;
  }
  const uint64_t va = frames_[f].va_base + ((ptr & (kPg - 1)) / 8) * span(level);
  uint64_t old = 0;
  mem_.read_obj(ptr, &old);
  if (old != val) {
    if (int64_t r = take(level, va, val, ptr)) return r;
    mem_.write_obj(ptr, val);
    drop(level, va, old, ptr);
    if (!boot_mode_ && va < VTB_KERNEL_VBASE) {
      bool shared = false;
      if (!in_current(f, level, va, &shared))
        note_foreign(f);
      else {
        dirty_.emplace_back(va, va + span(level));
        if (shared) ++foreign_;  // another tree sees the change too
      }
    }
  }
  ++validated_;
  return 0;
}

bool PvMmu::flush() {
  if (dirty_.empty()) return true;
  std::sort(dirty_.begin(), dirty_.end());
  bool ok = true;
  uint64_t lo = dirty_[0].first, hi = dirty_[0].second;
  for (size_t i = 1; i <= dirty_.size(); ++i) {
    if (i < dirty_.size() && dirty_[i].first <= hi) {
      hi = std::max(hi, dirty_[i].second);
      continue;
    }
    ok = sync(lo, hi) && ok;
    if (i < dirty_.size()) lo = dirty_[i].first, hi = dirty_[i].second;
  }
  dirty_.clear();
  return ok;
}

int64_t PvMmu::new_baseptr(uint64_t g) {
  if ((g & (kPg - 1)) || g + kPg > usable_) return -VTB_EINVAL;
  Frame& f = frames_[g / kPg];
  if (f.level && f.level != 4) return -VTB_EINVAL;
  if (f.tainted) return -VTB_EINVAL;  // partly torn down
  if (!f.level)
    if (int64_t r = promote(g / kPg, 4, 0)) return r;
  f.pinned = 1;
  if (root_ == g && !boot_mode_) return 0;
  flush();
  root_ = g;
  boot_mode_ = false;
  return sync(VTB_WINDOW_LO, VTB_KERNEL_VBASE) ? 0 : -VTB_ENOMEM;
}

int64_t PvMmu::pin(uint64_t g, int level) {
  if ((g & (kPg - 1)) || g + kPg > usable_ || level < 1 || level > 4) return -VTB_EINVAL;
  if (level < 4) return 0;  // validated when linked: its virtual position is known then
  Frame& f = frames_[g / kPg];
  if (f.level && f.level != 4) return -VTB_EINVAL;
  if (!f.level)
    if (int64_t r = promote(g / kPg, 4, 0)) return r;
  f.pinned = 1;
  return 0;
}

int64_t PvMmu::unpin(uint64_t g, int level, uint64_t flags) {
  const int64_t r = unpin_table(g, level);
  // Released for good: hand it back zeroed through the engine's own mapping
  // (the kernel's direct map of it may still be read-only).
  if (r == 0 && (flags & VTB_UNPIN_ZERO) && !frames_[g / kPg].level) std::memset(mem_.ptr(g, kPg), 0, kPg);
  return r;
}

int64_t PvMmu::page_write(uint64_t dst, const uint64_t* src) {
  const auto frame_ok = [this](uint64_t g) { return (g & (kPg - 1)) == 0 && g + kPg <= usable_; };
  if (!frame_ok(dst) || (src && !frame_ok(*src))) return -VTB_EINVAL;
  if (frames_[dst / kPg].level) return -VTB_EPERM;  // a live table changes only through mmu_update
  if (!wx_written(dst)) return -VTB_ENOMEM;          // pv@pkeys: a locked code frame is unlocked first
  uint8_t* d = mem_.ptr(dst, kPg);
  if (src) std::memcpy(d, mem_.ptr(*src, kPg), kPg);
  else std::memset(d, 0, kPg);
  return 0;
}

int64_t PvMmu::unpin_table(uint64_t g, int level) {
  if ((g & (kPg - 1)) || g + kPg > usable_ || level < 1 || level > 4) return -VTB_EINVAL;
  Frame& f = frames_[g / kPg];
  if (!f.level) return 0;  // never linked, or already released with its parent
  if (f.level != level) return -VTB_EINVAL;
  if (level == 4) {
    if (!f.pinned || (g == root_ && !boot_mode_)) return -VTB_EINVAL;
    f.pinned = 0;
    if (f.pt_refs == 0) demote(g / kPg);
    return 0;
  }
  if (f.pt_refs > 1) return -VTB_EINVAL;  // shared (kernel) tables are never released
  // Detach from the parent: the parent entry becomes dead to the engine and
  // the root above can no longer be loaded.
  bool current = false;
  uint64_t p = f.parent / kPg;
  while (p < frames_.size() && frames_[p].level && frames_[p].level < 4) p = frames_[p].parent / kPg;
  if (p < frames_.size() && frames_[p].level == 4) {
    frames_[p].tainted = 1;
    current = p * kPg == root_ && !boot_mode_;
  }
  if (f.pt_refs) dead_.insert(f.parent);
  const uint64_t va = f.va_base, len = span(level + 1);
  f.pt_refs = 0;
  demote(g / kPg);
  if (current && va < VTB_KERNEL_VBASE) dirty_.emplace_back(va, va + len);
  if (!current) note_foreign(p);
  return 0;
}

void PvMmu::collect(uint64_t table, int level, uint64_t va_base, uint64_t lo, uint64_t hi, Pages& out,
                    bool user) const {
  // Effective permissions are approximated per leaf (tbk sets W/NX on leaves).
  // The table is read in place (tables hold mostly zero entries: skipped).
  const auto* t = reinterpret_cast<const uint64_t*>(mem_.ptr(table, kPg));
  if (!t) return;
  const uint64_t sz = span(level);
  unsigned first = 0, last = 511;
  if (lo > va_base) first = unsigned(std::min<uint64_t>((lo - va_base) / sz, 512));
  if (hi < va_base + 512 * sz) last = unsigned((hi - 1 - va_base) / sz);
  for (unsigned i = first; i <= last && i < 512; ++i) {
    const uint64_t e = t[i];
    if (!(e & P)) continue;
    const uint64_t eva = va_base + i * sz;
    if (eva >= VTB_KERNEL_VBASE) break;
    if (!dead_.empty() && dead_.count(table + 8ULL * i)) continue;
    const bool u = user && (e & U);
    if (level == 1 || (e & PS)) {
      if (!u && win_.user_remote()) continue;  // kernel-only: the engine maps it for the kernel on its fault
      const uint64_t frame = e & ADDR & ~(sz - 1);
      const uint64_t prot = PROT_READ | ((e & W) ? PROT_WRITE : 0) | ((e & NX) ? 0 : PROT_EXEC);
      const uint64_t a = std::max(eva, lo), b = std::min(eva + sz, hi);
      for (uint64_t va = a; va < b; va += kPg) {
        const uint64_t gpa = frame + (va - eva);
        if (gpa + kPg > mem_.size()) break;
        if (reflectable(va)) out.emplace_back(va, gpa | prot);
      }
    } else if ((e & ADDR) + kPg <= mem_.size()) {
      collect(e & ADDR, level - 1, eva, lo, hi, out, u);
    }
  }
}

bool PvMmu::sync(uint64_t lo, uint64_t hi) {
  Pages want;  // in va order: the walk visits entries in order
  collect(root_, 4, 0, lo, hi, want);
  // Remote mode: kernel-only pages are not in `want`; any the engine mapped
  // here for the kernel may be stale now.
  bool ok = !win_.user_remote() || win_.drop_kernel_pages(lo, hi - lo);
  if (wx_)
    for (auto& p : want) p.second = wx_prot(p.first, p.second);
  std::vector<uint64_t> gone;
  Pages add;
  // Merge the sorted wanted pages with what the window maps in [lo, hi).
  auto m = mapped_.lower_bound(lo);
  size_t w = 0;
  while (m != mapped_.end() && m->first < hi) {
    while (w < want.size() && want[w].first < m->first) add.push_back(want[w++]);
    if (w < want.size() && want[w].first == m->first) {
      if (want[w].second != m->second) add.push_back(want[w]);
      ++w;
    } else {
      gone.push_back(m->first);
    }
    ++m;
  }
  add.insert(add.end(), want.begin() + long(w), want.end());
  // Unmap runs of consecutive pages.
  for (size_t i = 0; i < gone.size();) {
    size_t j = i + 1;
    while (j < gone.size() && gone[j] == gone[j - 1] + kPg) ++j;
    ok = win_.unmap(gone[i], (j - i) * kPg) && ok;
    for (size_t k = i; k < j; ++k) mapped_.erase(gone[k]), xok_.erase(gone[k]);
    i = j;
  }
  // Map runs: consecutive va, consecutive gpa, same protection.
  for (size_t i = 0; i < add.size();) {
    size_t j = i + 1;
    while (j < add.size() && add[j].first == add[j - 1].first + kPg &&
           (add[j].second & ~kProtMask) == (add[j - 1].second & ~kProtMask) + kPg &&
           (add[j].second & kProtMask) == (add[i].second & kProtMask))
      ++j;
    ok = win_.map_frames(add[i].first, mem_.fd(), add[i].second & ~kProtMask, (j - i) * kPg,
                         int(add[i].second & kProtMask)) && ok;
    for (size_t k = i; k < j; ++k) mapped_[add[k].first] = add[k].second;
    i = j;
  }
  return ok;
}

bool PvMmu::boot(uint64_t loader_cr3) {
  if (!win_.map_frames(VTB_KERNEL_VBASE, mem_.fd(), 0, mem_.size(), kRWX)) return false;
  root_ = loader_cr3;
  boot_mode_ = true;
  protected_ = false;
  mapped_.clear();
  xok_.clear();
  return sync(VTB_WINDOW_LO, VTB_KERNEL_VBASE);
}

void PvMmu::replay(WindowListener& l) const {
  for (auto i = mapped_.begin(); i != mapped_.end();) {
    auto j = std::next(i);
    uint64_t n = 1;
    while (j != mapped_.end() && j->first == i->first + n * kPg &&
           (j->second & ~kProtMask) == (i->second & ~kProtMask) + n * kPg &&
           (j->second & kProtMask) == (i->second & kProtMask))
      ++j, ++n;
    l.mapped(i->first, n * kPg, i->second & ~kProtMask, int(i->second & kProtMask));
    i = j;
  }
}

bool PvMmu::resync_page(uint64_t va) { return sync(va & ~(kPg - 1), (va & ~(kPg - 1)) + kPg); }

bool PvMmu::protect_kernel() {
  if (protected_) return true;
  protected_ = true;
  return win_.protect(VTB_HYPERCALL_VA, kPg + mem_.size(), PROT_NONE);
}

bool PvMmu::unprotect_kernel() {
  if (!protected_) return true;
  protected_ = false;
  // The hypercall page comes back writable with the direct map: one call
  // instead of two (the guest kernel is trusted with it, as Xen's guest
  // owns its hypercall page).
  bool ok = win_.protect(VTB_HYPERCALL_VA, kPg + mem_.size(), kRWX);
  // Frames that became tables while the range was protected join the
  // read-only set (ones that stopped being tables stay read-only, as in
  // demote()); then every read-only run is protected again.
  for (uint64_t f : prot_dirty_)
    if (frames_[f].level) set_ro(f, true);
  prot_dirty_.clear();
  for (const auto& [lo, hi] : ro_runs_)  // tables and released tables not written since
    ok = win_.protect(VTB_KERNEL_VBASE + lo * kPg, (hi - lo) * kPg, PROT_READ) && ok;
  return ok;
}

}  // namespace vtb::pv
