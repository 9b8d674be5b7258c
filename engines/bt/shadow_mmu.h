// tags: engines|bt — desc: shadow MMU: mirrors the guest's current address space into the host window (lazy, TLB semantics).
#pragma once
#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/guest_memory.h"
#include "common/page_walk.h"
#include "engines/bt/guest_access.h"

namespace vtb::bt {

class Runtime;

// The mirror behaves like a TLB filled on demand: a host fault on a window
// address walks the guest page tables and maps the 4 KiB guest frame there
// (mmap of the memfd). Kernel-half mappings are kept across CR3 loads (tbk
// shares them, like global pages). Frames that hold translated code are
// mirrored read-only everywhere, so a write through any alias invalidates the
// translations.
//
// Invalidation is a *re-validation*: a CR3 load, an `invlpg` or a traced PTE
// store drops the affected mirror pages and may refill them at once from the
// current guest tables, exactly as a TLB may be refilled speculatively (the
// walk sets Accessed bits, never Dirty). A page whose frame and permissions
// the current tables still allow keeps its host mapping (no host call); a
// writable page whose entry lost R/W (COW marking) is downgraded in place; a
// page whose frame changed is remapped in the same pass; a page the new
// address space does not map at all is parked (PROT_NONE, host PTE kept) so
// that a later address space mapping the same frame there revives it with one
// mprotect instead of a fault, an mmap and a first touch. Host calls are
// queued and issued once per MMU entry point, contiguous runs coalesced.
class ShadowMmu : public GuestAccess {
 public:
  void attach(GuestMemory* mem, Runtime* rt) { mem_ = mem; rt_ = rt; }
  ~ShadowMmu() override;

  size_t fetch(uint64_t va, uint8_t* out, size_t n, bool user) override;
  GuestFaultInfo fetch_fault(uint64_t va, bool user) override;
  bool read(uint64_t va, void* out, size_t n, bool user, GuestFaultInfo* f) override;
  bool write(uint64_t va, const void* in, size_t n, bool user, GuestFaultInfo* f) override;
  HostFaultAction host_fault(uint64_t va, bool write, bool user, GuestFaultInfo* f) override;
  void set_cr3(uint64_t cr3) override;
  void invlpg(uint64_t va) override;
  void set_user_mode(bool user) override { user_ = user; }
  HostFaultAction host_fetch_fault(uint64_t va, bool user, GuestFaultInfo* f) override;
  // Direct execution of guest user code: user pages the guest lets execute
  // are mirrored PROT_EXEC.
  void set_exec_user(bool on) { exec_user_ = on; }
  void drop_write_trace(uint64_t va) override;
  bool code_frame(uint64_t va, bool user, uint64_t* gpa) override;
  bool traced(uint64_t va) override;

  struct Stats {
    uint64_t maps = 0;          // pages mmap'ed (fault-driven or eager)
    uint64_t unmaps = 0;        // pages unmapped
    uint64_t flushes = 0;       // CR3 loads that dropped the whole user half (cap exceeded / kernel half changed)
    uint64_t code_write = 0, protect_code = 0, guest_pf = 0, traced_tables = 0;
    uint64_t cr3_diff = 0;      // CR3 loads handled by re-validating the mirrored pages
    uint64_t cr3_kept = 0;      // pages whose host mapping a CR3 load left untouched
    uint64_t downgrades = 0;    // write permission removed in place (mprotect) instead of an unmap
    uint64_t upgrades = 0;      // permission raised in place (mprotect) instead of an mmap: RO->RW, parked->live
    uint64_t parks = 0;         // pages parked PROT_NONE (host PTE kept) at a CR3 load
    uint64_t eager = 0;         // pages mapped or raised without a host fault (CR3 diff, traced PTE store, invlpg)
    uint64_t host_calls = 0;    // mmap/mprotect calls the MMU issued (after coalescing)
    uint64_t dormant = 0;       // emptied page-table frames kept write-traced for their reuse as tables
  };
  const Stats& stats() const { return st_; }
  uint64_t cr3() const { return cr3_; }

  // Host protection of a mirror page (tests): -1 when not mirrored, else 0
  // (parked), 1 (read-only) or 3 (read-write), plus 4 when executable
  // (bt-direct), and its frame in *gpa.
  int mirror_prot(uint64_t va, uint64_t* gpa = nullptr) const;

  // Limits (tests may lower them).
  size_t diff_cap = 8192;     // more user-half mirror pages than this at a CR3 load: drop them all
  size_t park_cap = 1024;     // at most this many parked pages (each costs VMAs)
  size_t dormant_cap = 64;    // at most this many empty page-table frames kept traced

 private:
  // Protection bits; every mapped (not parked) page has kRead.
  enum : uint8_t { kNone = 0, kRead = 1, kWrite = 2, kRw = 3, kExec = 4 };
  struct Mapping {
    uint64_t gpa = 0;
    uint8_t prot = kNone;       // host protection now; kNone = parked
    uint8_t park_prot = kNone;  // protection before parking (the most a revival may grant)
    bool user = false;          // the walk that justified it granted U
    bool hot = false;           // accessed while parked once: a CR3 load revives/remaps it eagerly
    uint8_t ntables = 0;        // tables on that walk (the traced frames it depends on); 0 when parked
    uint64_t tables[4] = {0, 0, 0, 0};
  };
  struct Allowed {
    bool ok = false;
    uint64_t gpa = 0;
    uint8_t prot = kNone;
    bool user = false;
    WalkResult w;
  };
  enum class Why { Cr3, Store, Invlpg };
  enum class OpKind : uint8_t { Map, Protect, Unmap };
  struct Op { uint64_t va, gpa; uint8_t prot; OpKind kind; };

  // Grant `need` on mirror page vp -> frame gp after a host fault (shadow_mmu.cpp).
  HostFaultAction install(uint64_t vp, uint64_t gp, uint8_t need, const WalkResult& w);
  bool translate(uint64_t va, bool write, bool user, bool fetch, uint64_t* gpa, GuestFaultInfo* f,
                 WalkResult* walk = nullptr);
  Allowed allowed(uint64_t va_page);
  void reconcile(uint64_t va_page, Why why);
  void track(uint64_t va_page, Mapping& m, const WalkResult& w);
  void untrack(uint64_t va_page, Mapping& m);
  void set_alias(uint64_t va_page, uint64_t old_gpa, uint64_t new_gpa);
  void trace_tables(const WalkResult& w, uint64_t va_page, Mapping* m);
  void table_written(uint64_t gpa_page, uint64_t off, uint64_t len);
  void protect_aliases(uint64_t gpa_page);
  void trace_tree(uint64_t table, int level);
  void wake_table(uint64_t gpa_page);
  void retire_table(uint64_t gpa_page);
  void retire_if_dormant(uint64_t gpa_page);
  void unmap_page(uint64_t va_page);
  void park_page(uint64_t va_page, Mapping& m);
  void mark_code(uint64_t gpa_page, uint64_t va_page);
  void code_written(uint64_t gpa_page);
  // Host calls: queued, then issued sorted and coalesced by flush_ops().
  void queue(OpKind k, uint64_t va, uint64_t gpa, uint8_t prot);
  bool flush_ops(uint64_t must_map_va = 0);  // false: the map of must_map_va failed
  bool issue(const Op& first, size_t pages);
  void release_parked();

  GuestMemory* mem_ = nullptr;
  Runtime* rt_ = nullptr;
  uint64_t cr3_ = 0;
  uint64_t kernel_slot_ = 0;  // PML4[VTB_KERNEL_PML4_SLOT] of the current cr3
  bool user_ = false;
  bool exec_user_ = false;
  uint64_t last_write_fault_ = ~0ULL;  // va page of the last write the guest took a #PF for
  size_t parked_ = 0, ndormant_ = 0;
  std::unordered_map<uint64_t, Mapping> mapped_;                        // va page -> frame
  std::unordered_map<uint64_t, std::vector<uint64_t>> aliases_;         // gpa page -> va pages mapped
  std::unordered_map<uint64_t, std::unordered_set<uint64_t>> code_;     // gpa page -> va pages translated
  struct Table { int level; bool dormant = false; std::unordered_set<uint64_t> users; };  // va pages mapped through it
  std::unordered_map<uint64_t, Table> tables_;                          // write-traced page-table frames
  std::vector<Op> ops_;
  std::unordered_map<uint64_t, size_t> op_at_;  // va page -> index in ops_
  Stats st_;
};

}  // namespace vtb::bt
