// tags: engines|bt — desc: shadow MMU: lazy mirror of guest mappings into the window, code-page write protection, emulator accesses.
#include "engines/bt/shadow_mmu.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

namespace vtb::bt {

namespace {
constexpr uint64_t kPage = 4096;
bool in_window(uint64_t va) {
  if (va < VTB_WINDOW_LO || va >= VTB_WINDOW_HI) return false;
  if (va >= VTB_HOST_RESERVED_USER_LO && va < VTB_HOST_RESERVED_USER_HI) return false;
  if (va >= VTB_HOST_RESERVED_KERNEL_LO && va < VTB_HOST_RESERVED_KERNEL_HI) return false;
  return true;
}
}  // namespace

ShadowMmu::~ShadowMmu() = default;  // the runtime unmaps the whole window

bool ShadowMmu::translate(uint64_t va, bool write, bool user, bool fetch, uint64_t* gpa, GuestFaultInfo* f,
                          WalkResult* walk) {
  WalkRequest req;
  req.write = write;
  req.user = user;
  req.fetch = fetch;
  const WalkResult w = walk_page_tables(*mem_, cr3_, va, req);
  if (walk) *walk = w;
  if (w.status == WalkStatus::Ok && w.gpa < mem_->size()) {
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
  f->error = w.status == WalkStatus::PageFault ? w.error_code : (kPfPresent | (write ? kPfWrite : 0u) | (user ? kPfUser : 0u));
  ++st_.guest_pf;
  return false;
}

size_t ShadowMmu::fetch(uint64_t va, uint8_t* out, size_t n, bool user) {
  size_t k = 0;
  while (k < n) {
    const uint64_t a = va + k;
    uint64_t gpa;
    GuestFaultInfo f;
    if (!in_window(a) || !translate(a, false, user, true, &gpa, &f)) break;
    const size_t chunk = std::min<uint64_t>(n - k, kPage - (a & (kPage - 1)));
    memcpy(out + k, mem_->host() + gpa, chunk);
    mark_code(gpa & ~(kPage - 1), a & ~(kPage - 1));
    k += chunk;
  }
  return k;
}

GuestFaultInfo ShadowMmu::fetch_fault(uint64_t va, bool user) {
  GuestFaultInfo f;
  uint64_t gpa;
  if (!in_window(va)) {
    f.vector = 14;
    f.addr = va;
    f.error = kPfFetch | (user ? kPfUser : 0u);
    if (!is_canonical(va)) { f.vector = 13; f.error = 0; }
    return f;
  }
  if (translate(va, false, user, true, &gpa, &f)) {  // should not happen: report a plain fetch fault
    f.vector = 14;
    f.addr = va;
    f.error = kPfFetch | kPfPresent | (user ? kPfUser : 0u);
  }
  return f;
}

bool ShadowMmu::read(uint64_t va, void* out, size_t n, bool user, GuestFaultInfo* f) {
  uint8_t* o = static_cast<uint8_t*>(out);
  size_t k = 0;
  while (k < n) {
    const uint64_t a = va + k;
    uint64_t gpa;
    if (!translate(a, false, user, false, &gpa, f)) return false;
    const size_t chunk = std::min<uint64_t>(n - k, kPage - (a & (kPage - 1)));
    memcpy(o + k, mem_->host() + gpa, chunk);
    k += chunk;
  }
  return true;
}

bool ShadowMmu::write(uint64_t va, const void* in, size_t n, bool user, GuestFaultInfo* f) {
  const uint8_t* p = static_cast<const uint8_t*>(in);
  // Check every page first so a faulting write changes nothing.
  for (uint64_t a = va & ~(kPage - 1); a < va + n; a += kPage) {
    uint64_t gpa;
    if (!translate(std::max(a, va), true, user, false, &gpa, f)) return false;
  }
  size_t k = 0;
  while (k < n) {
    const uint64_t a = va + k;
    uint64_t gpa;
    translate(a, true, user, false, &gpa, f);
    const size_t chunk = std::min<uint64_t>(n - k, kPage - (a & (kPage - 1)));
    if (code_.count(gpa & ~(kPage - 1))) code_written(gpa & ~(kPage - 1));
    memcpy(mem_->host() + gpa, p + k, chunk);
    if (tables_.count(gpa & ~(kPage - 1))) table_written(gpa & ~(kPage - 1), gpa & (kPage - 1), chunk);
    k += chunk;
  }
  return true;
}

bool ShadowMmu::map_page(uint64_t va_page, uint64_t gpa_page, bool writable, bool exec) {
  void* r = mmap(reinterpret_cast<void*>(va_page), kPage,
                 PROT_READ | (writable ? PROT_WRITE : 0) | (exec ? PROT_EXEC : 0),
                 MAP_SHARED | MAP_FIXED, mem_->fd(), off_t(gpa_page));
  if (r == MAP_FAILED) return false;
  auto it = mapped_.find(va_page);
  if (it == mapped_.end() || it->second.gpa != gpa_page) {
    if (it != mapped_.end()) {
      auto& v = aliases_[it->second.gpa];
      v.erase(std::remove(v.begin(), v.end(), va_page), v.end());
    }
    aliases_[gpa_page].push_back(va_page);
  }
  mapped_[va_page] = {gpa_page, writable};
  ++st_.maps;
  return true;
}

void ShadowMmu::unmap_page(uint64_t va_page) {
  auto it = mapped_.find(va_page);
  if (it == mapped_.end()) return;
  mmap(reinterpret_cast<void*>(va_page), kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
       0);
  auto& v = aliases_[it->second.gpa];
  v.erase(std::remove(v.begin(), v.end(), va_page), v.end());
  mapped_.erase(it);
  ++st_.unmaps;
}

void ShadowMmu::protect_aliases(uint64_t gpa_page) {
  for (uint64_t a : aliases_[gpa_page]) {
    auto it = mapped_.find(a);
    if (it != mapped_.end() && it->second.writable) {
      mprotect(reinterpret_cast<void*>(a), kPage, PROT_READ);
      it->second.writable = false;
      ++st_.protect_code;
    }
  }
}

void ShadowMmu::mark_code(uint64_t gpa_page, uint64_t va_page) {
  auto& s = code_[gpa_page];
  // First translation from this frame: every writable alias becomes read-only.
  if (s.insert(va_page).second && s.size() == 1) protect_aliases(gpa_page);
}

// Every table on the walk that produced a mirror mapping is write-traced, so
// a guest PTE store reaches the mirror (mmu.pte_write_trap).
void ShadowMmu::trace_tables(const WalkResult& w, uint64_t va_page) {
  const int ntables = 5 - w.level;  // a 4 KiB leaf uses 4 tables, a 2 MiB leaf 3, a 1 GiB leaf 2
  for (int k = 0; k < ntables && k < 4; ++k) {
    const uint64_t t = w.table_gpa[k];
    auto [it, fresh] = tables_.try_emplace(t);
    it->second.level = 4 - k;
    it->second.users.insert(va_page);
    if (fresh) {
      ++st_.traced_tables;
      protect_aliases(t);
    }
  }
}

// Entries [off, off+len) of a traced table changed: drop the mirror pages mapped through them.
void ShadowMmu::table_written(uint64_t gpa_page, uint64_t off, uint64_t len) {
  auto it = tables_.find(gpa_page);
  if (it == tables_.end()) return;
  Table& t = it->second;
  const unsigned shift = 12 + 9 * unsigned(t.level - 1);
  const uint64_t first = off / 8, last = (off + len - 1) / 8;
  std::vector<uint64_t> drop;
  for (uint64_t va : t.users) {
    const uint64_t idx = (va >> shift) & 511;
    if (idx >= first && idx <= last) drop.push_back(va);
  }
  for (uint64_t va : drop) {
    unmap_page(va);
    t.users.erase(va);
  }
  const int level = t.level;
  const uint64_t* e = reinterpret_cast<const uint64_t*>(mem_->host() + gpa_page);
  // A new lower-level table hooked in: trace it too (no walk has seen it yet).
  if (level >= 2)
    for (uint64_t i = first; i <= last && i < 512; ++i)
      if ((e[i] & 1) && !(level < 4 && (e[i] & 0x80))) trace_tree(e[i] & 0x000ffffffffff000ULL, level - 1);
  // A table left with no present entry (being freed) has no mirror page
  // depending on it: stop tracing it, so its reuse as data does not trap.
  if (t.users.empty()) {
    bool any = false;
    for (int i = 0; i < 512 && !any; ++i) any = e[i] & 1;
    if (!any) tables_.erase(gpa_page);
  }
}

bool ShadowMmu::traced(uint64_t va) {
  uint64_t gpa;
  GuestFaultInfo f;
  return translate(va, false, false, false, &gpa, &f) && tables_.count(gpa & ~(kPage - 1));
}

// Trace every page-table frame of the user half reachable from a new CR3, so
// that PTE stores are seen even for pages the mirror never mapped.
void ShadowMmu::trace_tree(uint64_t table, int level) {
  if (table + kPage > mem_->size()) return;
  auto [it, fresh] = tables_.try_emplace(table);
  it->second.level = level;
  if (fresh) {
    ++st_.traced_tables;
    protect_aliases(table);
  }
  if (level == 1) return;
  const uint64_t* e = reinterpret_cast<const uint64_t*>(mem_->host() + table);
  const int n = level == 4 ? int(VTB_KERNEL_PML4_SLOT) : 512;  // user half only
  for (int i = 0; i < n; ++i)
    if ((e[i] & 1) && !(level < 4 && (e[i] & 0x80))) trace_tree(e[i] & 0x000ffffffffff000ULL, level - 1);
}

void ShadowMmu::drop_write_trace(uint64_t va) {
  uint64_t gpa;
  GuestFaultInfo f;
  if (!translate(va, false, false, false, &gpa, &f)) return;
  auto it = tables_.find(gpa & ~(kPage - 1));
  if (it == tables_.end()) return;
  // No longer traced: forget every mirror page that depended on it.
  std::vector<uint64_t> users(it->second.users.begin(), it->second.users.end());
  tables_.erase(it);
  for (uint64_t u : users) unmap_page(u);
}

void ShadowMmu::code_written(uint64_t gpa_page) {
  auto it = code_.find(gpa_page);
  if (it == code_.end()) return;
  ++st_.code_write;
  std::vector<uint64_t> vas(it->second.begin(), it->second.end());
  code_.erase(it);
  for (uint64_t va : vas) rt_->invalidate_range(va, kPage);
}

HostFaultAction ShadowMmu::host_fault(uint64_t va, bool write, bool user, GuestFaultInfo* f) {
  if (!in_window(va)) {
    if (va >= VTB_WINDOW_HI || va < VTB_WINDOW_LO) {
      f->vector = 14;
      f->addr = va;
      f->error = (write ? kPfWrite : 0u) | (user ? kPfUser : 0u);
      return HostFaultAction::Guest;
    }
    return HostFaultAction::Unknown;
  }
  uint64_t gpa;
  WalkResult w;
  if (!translate(va, write, user, false, &gpa, f, &w)) return HostFaultAction::Guest;
  const uint64_t vp = va & ~(kPage - 1), gp = gpa & ~(kPage - 1);
  if (write && tables_.count(gp)) {  // a guest page-table write: the runtime emulates it
    f->addr = va;
    return HostFaultAction::TracedWrite;
  }
  if (write && code_.count(gp)) code_written(gp);  // self-modifying / cross-modifying code
  // Map writable only on a write (so the guest's dirty bit is set when it is written).
  const bool writable = write && !code_.count(gp) && !tables_.count(gp);
  const bool exec = exec_user_ && vp < VTB_USER_TOP && w.user && w.executable;
  if (!map_page(vp, gp, writable, exec)) return HostFaultAction::Unknown;
  trace_tables(w, vp);
  return HostFaultAction::Retry;
}

// Guest user code running directly fetched from a page the mirror does not
// map executable (direct_user mode only).
HostFaultAction ShadowMmu::host_fetch_fault(uint64_t va, bool user, GuestFaultInfo* f) {
  if (!exec_user_ || !in_window(va) || va >= VTB_USER_TOP) {
    *f = fetch_fault(va, user);
    return in_window(va) || va >= VTB_WINDOW_HI || va < VTB_WINDOW_LO ? HostFaultAction::Guest
                                                                      : HostFaultAction::Unknown;
  }
  uint64_t gpa;
  WalkResult w;
  if (!translate(va, false, user, true, &gpa, f, &w)) return HostFaultAction::Guest;
  const uint64_t vp = va & ~(kPage - 1), gp = gpa & ~(kPage - 1);
  auto it = mapped_.find(vp);
  const bool writable = it != mapped_.end() && it->second.gpa == gp && it->second.writable;
  if (!map_page(vp, gp, writable, true)) return HostFaultAction::Unknown;
  trace_tables(w, vp);
  return HostFaultAction::Retry;
}

void ShadowMmu::set_cr3(uint64_t cr3) {
  // The kernel half is kept when the new PML4 points at the same kernel
  // page-directory-pointer table (tbk shares it between processes).
  uint64_t kslot = 0;
  if (mem_) mem_->read_obj((cr3 & 0x000ffffffffff000ULL) + 8 * VTB_KERNEL_PML4_SLOT, &kslot);
  kslot &= ~0x60ULL;  // ignore the accessed/dirty bits the walker sets
  const bool keep_kernel = kslot == kernel_slot_ && kslot != 0;
  kernel_slot_ = kslot;
  cr3_ = cr3;
  std::vector<uint64_t> user;
  for (auto& [va, m] : mapped_)
    if (va < VTB_USER_TOP || !keep_kernel) user.push_back(va);
  for (uint64_t va : user) unmap_page(va);
  ++st_.flushes;

}

void ShadowMmu::invlpg(uint64_t va) { unmap_page(va & ~(kPage - 1)); }

}  // namespace vtb::bt
