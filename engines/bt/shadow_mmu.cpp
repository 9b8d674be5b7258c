// tags: engines|bt — desc: shadow MMU: lazy mirror of guest mappings into the window, re-validated on CR3/invlpg/PTE stores; code-page protection; emulator accesses.
#include "engines/bt/shadow_mmu.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "engines/bt/guest_walk.h"
#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"
#include "common/host_events.h"

namespace vtb::bt {

namespace {
constexpr uint64_t kPage = 4096;
constexpr uint64_t kPteDirty = 1ULL << 6;
constexpr uint64_t kNoVa = ~0ULL;

bool in_window(uint64_t va) {
  if (va < VTB_WINDOW_LO || va >= VTB_WINDOW_HI) return false;
  if (va >= VTB_HOST_RESERVED_USER_LO && va < VTB_HOST_RESERVED_USER_HI) return false;
  if (va >= VTB_HOST_RESERVED_KERNEL_LO && va < VTB_HOST_RESERVED_KERNEL_HI) return false;
  return true;
}

// The kernel half: the PML4 slot tbk shares between address spaces.
bool kernel_slot(uint64_t va) { return ((va >> 39) & 511) == VTB_KERNEL_PML4_SLOT; }

int host_prot(uint8_t p) {
  return ((p & 1) ? PROT_READ : 0) | ((p & 2) ? PROT_WRITE : 0) | ((p & 4) ? PROT_EXEC : 0);
}

// The mirror would grant more than the guest tables allow: no way to stay
// exact, so the VM stops with an EngineError (the host process goes on).
[[noreturn]] void fatal(Runtime* rt, const char* what, uint64_t va, size_t len) {
  char buf[200];
  snprintf(buf, sizeof buf, "bt: shadow MMU cannot revoke [0x%llx, +0x%zx) (%s): %s", (unsigned long long)va, len,
           what, strerror(errno));
  rt->engine_fatal(buf);
}
}  // namespace

ShadowMmu::~ShadowMmu() = default;  // the runtime unmaps the whole window

int ShadowMmu::mirror_prot(uint64_t va, uint64_t* gpa) const {
  auto it = mapped_.find(va & ~(kPage - 1));
  if (it == mapped_.end()) return -1;
  if (gpa) *gpa = it->second.gpa;
  return it->second.prot;
}

bool ShadowMmu::translate(uint64_t va, bool write, bool user, bool fetch, uint64_t* gpa, GuestFaultInfo* f,
                          WalkResult* walk) {
  if (walk_access(*mem_, cr3_, va, write, user, fetch, gpa, f, walk)) return true;
  if (f->vector == 14) ++st_.guest_pf;
  return false;
}

// What the current tables allow at va: a read walk, as a speculative TLB fill
// does it (Accessed set on the path, Dirty never). Writable only when the
// entry is writable *and* already dirty (else the first write must walk and
// set D), and never for frames holding page tables or translated code.
ShadowMmu::Allowed ShadowMmu::allowed(uint64_t va) {
  Allowed a;
  WalkRequest req;
  a.w = walk_page_tables(*mem_, cr3_, va, req);
  if (a.w.status != WalkStatus::Ok || a.w.gpa >= mem_->size()) return a;
  a.ok = true;
  a.gpa = a.w.gpa & ~(kPage - 1);
  a.user = a.w.user;
  if (!kernel_slot(va)) retire_if_dormant(a.gpa);  // a freed table frame reused as user data
  const bool dirty = a.w.leaf_pte & kPteDirty;
  a.prot = (a.w.writable && dirty && !code_.count(a.gpa) && !tables_.count(a.gpa)) ? kRw : kRead;
  if (exec_user_ && va < VTB_USER_TOP && a.w.user && a.w.executable) a.prot |= kExec;
  return a;
}

// Re-validate one mirrored page against the current tables (CR3 load, invlpg,
// a traced store to an entry on its walk): keep, downgrade, revive, remap,
// park or drop it. Never grants more than the tables allow, and never more
// than the page had (except RW for the page the guest just took a write #PF
// on: its handler's PTE store is followed by the retried write).
void ShadowMmu::reconcile(uint64_t va, Why why) {
  auto it = mapped_.find(va);
  if (it == mapped_.end()) return;
  Mapping& m = it->second;
  const bool parked = m.prot == kNone;
  // A parked page comes back only if it proved to be used after an earlier
  // parking (hot); otherwise it waits for a fault (and is not even walked).
  if (parked && !m.hot) return;
  const Allowed a = allowed(va);
  bool ok = a.ok;
  // The mirror cannot tell user from supervisor accesses (bt-direct runs user
  // code natively on it), so a page the current tables make supervisor-only
  // is never granted without a guest kernel access to it: it survives only a
  // store or invlpg that leaves it on the same frame and was supervisor-only
  // before too. Across a CR3 load, on a frame change, when it lost U, or
  // while parked, it is dropped/parked as the old flush-on-CR3 mirror did.
  if (ok && !a.user && (why == Why::Cr3 || parked || m.user || a.gpa != m.gpa)) ok = false;
  if (!ok) {
    if (parked) return;  // it grants nothing; stays parked
    if (why == Why::Cr3 && parked_ < park_cap) park_page(va, m);
    else unmap_page(va);
    return;
  }
  uint8_t cap = parked ? m.park_prot : m.prot;
  if (why != Why::Cr3 && va == last_write_fault_) {
    cap |= kRw;
    last_write_fault_ = kNoVa;
  }
  const uint8_t p = cap & a.prot;  // both have kRead
  if (parked) --parked_;
  else untrack(va, m);
  if (a.gpa != m.gpa) {
    queue(OpKind::Map, va, a.gpa, p);
    set_alias(va, m.gpa, a.gpa);
    m.gpa = a.gpa;
    ++st_.maps;
    ++st_.eager;
  } else if (p != m.prot) {
    queue(OpKind::Protect, va, 0, p);
    if (p & ~m.prot) {  // gains something (revival, write, exec)
      ++st_.upgrades;
      ++st_.eager;
    } else {
      ++st_.downgrades;
    }
  } else if (why == Why::Cr3) {
    ++st_.cr3_kept;
  }
  m.prot = p;
  m.park_prot = kNone;
  m.user = a.user;
  track(va, m, a.w);
}

void ShadowMmu::track(uint64_t va, Mapping& m, const WalkResult& w) { trace_tables(w, va, &m); }

void ShadowMmu::untrack(uint64_t va, Mapping& m) {
  for (int k = 0; k < m.ntables; ++k) {
    auto t = tables_.find(m.tables[k]);
    if (t != tables_.end()) t->second.users.erase(va);
  }
  m.ntables = 0;
}

void ShadowMmu::set_alias(uint64_t va, uint64_t old_gpa, uint64_t new_gpa) {
  if (old_gpa != kNoVa) {
    auto al = aliases_.find(old_gpa);
    if (al != aliases_.end()) {
      auto& v = al->second;
      v.erase(std::remove(v.begin(), v.end(), va), v.end());
      if (v.empty()) aliases_.erase(al);
    }
  }
  aliases_[new_gpa].push_back(va);
}

void ShadowMmu::unmap_page(uint64_t va) {
  auto it = mapped_.find(va);
  if (it == mapped_.end()) return;
  Mapping& m = it->second;
  if (m.prot == kNone) --parked_;
  else untrack(va, m);
  auto al = aliases_.find(m.gpa);
  if (al != aliases_.end()) {
    auto& v = al->second;
    v.erase(std::remove(v.begin(), v.end(), va), v.end());
    if (v.empty()) aliases_.erase(al);
  }
  mapped_.erase(it);
  queue(OpKind::Unmap, va, 0, kNone);
  ++st_.unmaps;
}

// Not reachable in the current address space: PROT_NONE, but the host keeps
// the page-table entry, so a later space that maps the same frame here revives
// it with one mprotect.
void ShadowMmu::park_page(uint64_t va, Mapping& m) {
  untrack(va, m);
  m.park_prot = m.prot;
  m.prot = kNone;
  ++parked_;
  queue(OpKind::Protect, va, 0, kNone);
  ++st_.parks;
}

void ShadowMmu::protect_aliases(uint64_t gpa_page) {
  auto al = aliases_.find(gpa_page);
  if (al == aliases_.end()) return;
  for (uint64_t a : al->second) {
    auto it = mapped_.find(a);
    if (it == mapped_.end()) continue;
    Mapping& m = it->second;
    if (m.prot & kWrite) {
      m.prot &= uint8_t(~kWrite);
      queue(OpKind::Protect, a, 0, m.prot);
      ++st_.protect_code;
    }
    if (m.prot == kNone) m.park_prot &= uint8_t(~kWrite);
  }
}

void ShadowMmu::mark_code(uint64_t gpa_page, uint64_t va_page) {
  auto& s = code_[gpa_page];
  // First translation from this frame: every writable alias becomes read-only.
  if (s.insert(va_page).second && s.size() == 1) protect_aliases(gpa_page);
}

void ShadowMmu::wake_table(uint64_t gpa_page) {
  auto it = tables_.find(gpa_page);
  if (it != tables_.end() && it->second.dormant) {
    it->second.dormant = false;
    --ndormant_;
  }
}

// Stop tracing a frame (it has no mirror page depending on it). Its aliases
// stay read-only until a write faults and raises them in place.
void ShadowMmu::retire_table(uint64_t gpa_page) {
  auto it = tables_.find(gpa_page);
  if (it == tables_.end()) return;
  if (it->second.dormant) --ndormant_;
  tables_.erase(it);
}

void ShadowMmu::retire_if_dormant(uint64_t gpa_page) {
  auto it = tables_.find(gpa_page);
  if (it != tables_.end() && it->second.dormant) retire_table(gpa_page);
}

// Every table on the walk that produced a mirror mapping is write-traced, so
// a guest PTE store reaches the mirror (mmu.pte_write_trap).
void ShadowMmu::trace_tables(const WalkResult& w, uint64_t va_page, Mapping* m) {
  const int ntables = std::min(4, 5 - w.level);  // a 4 KiB leaf uses 4 tables, a 2 MiB leaf 3, a 1 GiB leaf 2
  for (int k = 0; k < ntables; ++k) {
    const uint64_t t = w.table_gpa[k];
    auto [it, fresh] = tables_.try_emplace(t);
    Table& tb = it->second;
    tb.level = 4 - k;
    tb.users.insert(va_page);
    if (m) m->tables[k] = t;
    if (fresh) {
      ++st_.traced_tables;
      protect_aliases(t);
    } else if (tb.dormant) {
      tb.dormant = false;
      --ndormant_;
    }
  }
  if (m) m->ntables = uint8_t(ntables);
}

// Entries [off, off+len) of a traced table changed: re-validate the mirror
// pages mapped through them.
void ShadowMmu::table_written(uint64_t gpa_page, uint64_t off, uint64_t len) {
  auto it = tables_.find(gpa_page);
  if (it == tables_.end()) return;
  Table& t = it->second;  // node-based map: stays valid while other tables are added
  const int level = t.level;
  const uint64_t first = off / 8, last = (off + len - 1) / 8;
  std::vector<uint64_t> hit;
  for (uint64_t va : t.users) {
    // The level this frame served at on va's walk (a frame may serve at
    // several levels, e.g. a self-referencing PML4).
    auto mi = mapped_.find(va);
    bool in = false;
    if (mi != mapped_.end())
      for (int k = 0; k < mi->second.ntables && !in; ++k)
        if (mi->second.tables[k] == gpa_page) {
          const uint64_t idx = (va >> (12 + 9 * unsigned(3 - k))) & 511;
          in = idx >= first && idx <= last;
        }
    if (in) hit.push_back(va);
  }
  std::sort(hit.begin(), hit.end());
  for (uint64_t va : hit) reconcile(va, Why::Store);
  const uint64_t* e = reinterpret_cast<const uint64_t*>(mem_->host() + gpa_page);
  // A new lower-level table hooked in: trace it too (no walk has seen it yet).
  if (level >= 2)
    for (uint64_t i = first; i <= last && i < 512; ++i)
      if ((e[i] & 1) && !(level < 4 && (e[i] & 0x80))) trace_tree(e[i] & 0x000ffffffffff000ULL, level - 1);
  // A table left with no present entry (being freed) has no mirror page
  // depending on it. It stays traced, read-only, as a *dormant* table: tbk
  // reuses freed table frames for new tables (fork), which then need no
  // re-protection, and their clearing/free-list stores are emulated
  // callouts. A dormant frame mapped at a user address is retired.
  if (t.users.empty()) {
    bool any = false;
    for (uint64_t i = first; i <= last && i < 512 && !any; ++i) any = e[i] & 1;
    // A dormant table that got only non-present entries stays empty: no scan.
    if (!any && t.dormant) return;
    for (int i = 0; i < 512 && !any; ++i) any = e[i] & 1;
    if (any) {
      wake_table(gpa_page);
    } else if (!t.dormant) {
      if (ndormant_ < dormant_cap) {
        t.dormant = true;
        ++ndormant_;
        ++st_.dormant;
      } else {
        retire_table(gpa_page);
      }
    }
  } else {
    wake_table(gpa_page);
  }
}

bool ShadowMmu::traced(uint64_t va) {
  uint64_t gpa;
  GuestFaultInfo f;
  return translate(va, false, false, false, &gpa, &f) && tables_.count(gpa & ~(kPage - 1));
}

// Trace every page-table frame of the user half reachable from a table hooked
// into a traced one, so that PTE stores are seen even for pages the mirror
// never mapped.
void ShadowMmu::trace_tree(uint64_t table, int level) {
  if (table + kPage > mem_->size()) return;
  auto [it, fresh] = tables_.try_emplace(table);
  it->second.level = level;
  if (fresh) {
    ++st_.traced_tables;
    protect_aliases(table);
  } else {
    wake_table(table);
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
  retire_table(gpa & ~(kPage - 1));
  for (uint64_t u : users) unmap_page(u);
  // The runtime re-runs the store natively next: make its page writable now
  // (when the tables allow it and D is set) instead of taking another fault.
  last_write_fault_ = va & ~(kPage - 1);
  reconcile(va & ~(kPage - 1), Why::Invlpg);
  flush_ops();
}

bool ShadowMmu::code_frame(uint64_t va, bool user, uint64_t* gpa) {
  return code_frame_at(*mem_, cr3_, va, user, gpa);
}

void ShadowMmu::code_written(uint64_t gpa_page) {
  auto it = code_.find(gpa_page);
  if (it == code_.end()) return;
  ++st_.code_write;
  std::vector<uint64_t> vas(it->second.begin(), it->second.end());
  code_.erase(it);
  rt_->code_frame_written(gpa_page, vas);  // only the blocks translated from this frame
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
  flush_ops();
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
  if (translate(va, false, user, true, &gpa, &f)) plain_fetch_fault(va, user, &f);
  return f;
}

bool ShadowMmu::read(uint64_t va, void* out, size_t n, bool user, GuestFaultInfo* f) {
  auto tr = [&](uint64_t a, uint64_t* gpa, GuestFaultInfo* ff) { return translate(a, false, user, false, gpa, ff); };
  return read_guest(*mem_, tr, va, out, n, f);
}

bool ShadowMmu::write(uint64_t va, const void* in, size_t n, bool user, GuestFaultInfo* f) {
  auto tr = [&](uint64_t a, uint64_t* gpa, GuestFaultInfo* ff) { return translate(a, true, user, false, gpa, ff); };
  const bool ok = write_guest(
      *mem_, tr, va, in, n, f,
      [&](uint64_t gpa, size_t) {
        if (code_.count(gpa & ~(kPage - 1))) code_written(gpa & ~(kPage - 1));
      },
      [&](uint64_t gpa, size_t chunk) {
        if (tables_.count(gpa & ~(kPage - 1))) table_written(gpa & ~(kPage - 1), gpa & (kPage - 1), chunk);
      });
  if (ok) flush_ops();
  return ok;
}

// Grant `need` on the mirror page `vp` -> frame `gp` (a host fault the guest
// tables allow): raise a page of the same frame in place, else (re)map it.
HostFaultAction ShadowMmu::install(uint64_t vp, uint64_t gp, uint8_t need, const WalkResult& w) {
  auto [it, fresh] = mapped_.try_emplace(vp);
  Mapping& m = it->second;
  if (!fresh && m.gpa == gp) {
    // Same frame, too little permission (read-only, or parked): raise it in
    // place; the host page-table entry is still there (no first-touch fault).
    if (m.prot == kNone) {
      --parked_;
      m.hot = true;
    } else {
      untrack(vp, m);
    }
    const uint8_t p = m.prot | need;
    queue(OpKind::Protect, vp, 0, p);
    ++st_.upgrades;
    m.prot = p;
  } else {
    if (!fresh) {
      if (m.prot == kNone) {
        --parked_;
        m.hot = true;
      } else {
        untrack(vp, m);
      }
    }
    set_alias(vp, fresh ? kNoVa : m.gpa, gp);
    m.gpa = gp;
    m.prot = need;
    queue(OpKind::Map, vp, gp, need);
    ++st_.maps;
  }
  m.park_prot = kNone;
  m.user = w.user;
  track(vp, m, w);
  if (!flush_ops(vp)) return HostFaultAction::Unknown;
  return HostFaultAction::Retry;
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
  if (!translate(va, write, user, false, &gpa, f, &w)) {
    if (write && f->vector == 14) last_write_fault_ = va & ~(kPage - 1);
    return HostFaultAction::Guest;
  }
  const uint64_t vp = va & ~(kPage - 1), gp = gpa & ~(kPage - 1);
  if (!kernel_slot(vp)) retire_if_dormant(gp);  // a freed table frame reused as user data
  if (write && tables_.count(gp)) {  // a guest page-table write: the runtime emulates it
    f->addr = va;
    return HostFaultAction::TracedWrite;
  }
  if (write && code_.count(gp)) code_written(gp);  // self-modifying / cross-modifying code
  // Map writable only on a write (so the guest's dirty bit is set when it is written).
  uint8_t need = (write && !code_.count(gp) && !tables_.count(gp)) ? kRw : kRead;
  if (exec_user_ && vp < VTB_USER_TOP && w.user && w.executable) need |= kExec;  // bt-direct
  return install(vp, gp, need, w);
}

// Guest user code running directly fetched from a page the mirror does not
// map executable (bt-direct only).
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
  retire_if_dormant(gp);
  return install(vp, gp, kRead | kExec, w);  // keeps the write permission it had
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
  last_write_fault_ = kNoVa;
  if (!mem_) return;
  std::vector<uint64_t> cand;
  for (auto& [va, m] : mapped_)
    if (!keep_kernel || !kernel_slot(va)) cand.push_back(va);
  std::sort(cand.begin(), cand.end());
  if (cand.size() > diff_cap) {
    for (uint64_t va : cand) unmap_page(va);
    ++st_.flushes;
  } else {
    // Re-validate every mirrored page against the new tables (a TLB flush
    // followed by speculative refills of the pages the new space maps alike).
    for (uint64_t va : cand) reconcile(va, Why::Cr3);
    ++st_.cr3_diff;
  }
  flush_ops();
}

void ShadowMmu::invlpg(uint64_t va) {
  reconcile(va & ~(kPage - 1), Why::Invlpg);
  flush_ops();
}

// ---- host calls ------------------------------------------------------------

// At most one queued op per page: a later op replaces an earlier one, except
// that a protection change after a map becomes the map's protection.
void ShadowMmu::queue(OpKind k, uint64_t va, uint64_t gpa, uint8_t prot) {
  auto [it, fresh] = op_at_.try_emplace(va, ops_.size());
  if (fresh) {
    ops_.push_back({va, gpa, prot, k});
    return;
  }
  Op& o = ops_[it->second];
  if (k == OpKind::Protect && o.kind == OpKind::Map) {
    o.prot = prot;
    return;
  }
  o = {va, gpa, prot, k};
}

bool ShadowMmu::issue(const Op& o, size_t pages) {
  void* addr = reinterpret_cast<void*>(o.va);
  const size_t len = pages * kPage;
  ++st_.host_calls;
  count_host_range(o.kind == OpKind::Protect ? HostEvent::Mprotect : HostEvent::Mmap, len);
  switch (o.kind) {
    case OpKind::Map:
      return mmap(addr, len, host_prot(o.prot), MAP_SHARED | MAP_FIXED, mem_->fd(), off_t(o.gpa)) != MAP_FAILED;
    case OpKind::Protect:
      return mprotect(addr, len, host_prot(o.prot)) == 0;
    case OpKind::Unmap:
      return mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != MAP_FAILED;
  }
  return false;
}

// Out of host VMAs (vm.max_map_count): give back every parked page.
void ShadowMmu::release_parked() {
  std::vector<uint64_t> vas;
  for (auto& [va, m] : mapped_)
    if (m.prot == kNone) vas.push_back(va);
  std::sort(vas.begin(), vas.end());
  for (size_t i = 0; i < vas.size();) {
    size_t j = i + 1;
    while (j < vas.size() && vas[j] == vas[j - 1] + kPage) ++j;
    // Parked pages grant nothing: failing to give them back is only a lost chance.
    issue(Op{vas[i], 0, kNone, OpKind::Unmap}, j - i);
    i = j;
  }
  for (uint64_t va : vas) {
    auto it = mapped_.find(va);
    auto al = aliases_.find(it->second.gpa);
    if (al != aliases_.end()) {
      auto& v = al->second;
      v.erase(std::remove(v.begin(), v.end(), va), v.end());
      if (v.empty()) aliases_.erase(al);
    }
    mapped_.erase(it);
    ++st_.unmaps;
  }
  parked_ = 0;
}

bool ShadowMmu::flush_ops(uint64_t must_map_va) {
  if (ops_.empty()) return true;
  std::vector<Op> ops;
  ops.swap(ops_);
  op_at_.clear();
  std::sort(ops.begin(), ops.end(), [](const Op& a, const Op& b) { return a.va < b.va; });
  bool ok = true;
  for (size_t i = 0; i < ops.size();) {
    size_t j = i + 1;
    while (j < ops.size() && ops[j].kind == ops[i].kind && ops[j].prot == ops[i].prot &&
           ops[j].va == ops[j - 1].va + kPage && (ops[i].kind != OpKind::Map || ops[j].gpa == ops[j - 1].gpa + kPage))
      ++j;
    if (!issue(ops[i], j - i)) {
      if (parked_) release_parked();
      if (!issue(ops[i], j - i)) {
        // Still failing: the pages of this run end up unmapped (a revocation
        // that cannot even do that is fatal: the mirror would grant too much).
        const Op un{ops[i].va, 0, kNone, OpKind::Unmap};
        if (ops[i].kind == OpKind::Unmap || !issue(un, j - i)) fatal(rt_, "mmap/mprotect", ops[i].va, (j - i) * kPage);
        for (size_t k = i; k < j; ++k) {
          auto it = mapped_.find(ops[k].va);
          if (it != mapped_.end()) {
            if (it->second.prot == kNone) --parked_;
            else untrack(ops[k].va, it->second);
            auto al = aliases_.find(it->second.gpa);
            if (al != aliases_.end()) {
              auto& v = al->second;
              v.erase(std::remove(v.begin(), v.end(), ops[k].va), v.end());
              if (v.empty()) aliases_.erase(al);
            }
            mapped_.erase(it);
          }
          if (ops[k].va == must_map_va) ok = false;
        }
      }
    }
    i = j;
  }
  return ok;
}

}  // namespace vtb::bt
