// tags: engines|pv — desc: validated guest page tables (Xen-style frame types) and their reflection into the window.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "common/guest_memory.h"
#include "engines/pv/pv_window.h"

namespace vtb::pv {

// Frame bookkeeping, as Xen's page types: a frame is either ordinary memory
// or a page table of one level (1..4) covering one virtual range. A frame
// becomes a page table when a validated entry (or new_baseptr) first points
// at it; it must then have no writable user mapping, and every entry in it
// is validated. It stops being one when the last reference goes.
//
// Rules enforced on every entry:
//  * a leaf may map only frames of this guest (below usable RAM);
//  * a writable user-half leaf may not map a page-table frame;
//  * kernel-half leaves (VTB_KERNEL_VBASE...) must be the direct map
//    (virtual = VTB_KERNEL_VBASE + physical);
//  * no leaf may map the host-reserved ranges or outside the window;
//  * a table may sit at one level and one virtual position only.
// Refusals: -VTB_EPERM (not yours / page table writable), -VTB_EINVAL.
class PvMmu {
 public:
  PvMmu(GuestMemory& mem, PvWindow& win, uint64_t usable_bytes);

  // Map the kernel direct map and the loader's initial tables (trusted).
  bool boot(uint64_t loader_cr3);
  // One validated page-table write; reflection of the change is deferred
  // to flush().
  int64_t update(uint64_t ptr, uint64_t val);
  bool flush();  // apply deferred reflection; false on a host mapping failure
  int64_t new_baseptr(uint64_t pml4_gpa);
  // Pin: a PML4 becomes a validated root now; lower levels are validated
  // when they are linked. Unpin: a root is released (not the current one);
  // a lower-level table still linked from its (single) parent is detached:
  // the parent entry is dead to the engine and its root can no longer be
  // loaded (the kernel tears whole address spaces down bottom-up).
  int64_t pin(uint64_t gpa, int level);
  int64_t unpin(uint64_t gpa, int level, uint64_t flags = 0);  // VTB_UNPIN_ZERO: the frame is zeroed
  // clear_page (src null) / copy_page: write a whole ordinary frame through
  // the engine's own mapping, so the guest's direct map of it stays
  // unpopulated (pv@mprotect pays per populated page). Not a page table.
  int64_t page_write(uint64_t dst, const uint64_t* src);
  uint64_t cr3() const { return root_; }
  // pv@2as, one user process per address space: validated changes of
  // user-half entries outside the current tree, per root (a process that
  // last ran before one of its root's may map it stale), and how often
  // frame `g` became a root (a reused root frame is a new address space).
  // Changes whose tree is not known (a table linked from more than one
  // entry) count for every root.
  uint64_t foreign_updates() const { return foreign_; }
  uint64_t root_incarnation(uint64_t g) const { return g / VTB_PAGE_SIZE < frames_.size() ? frames_[g / VTB_PAGE_SIZE].incarnation : 0; }
  uint64_t root_changes(uint64_t g) const { return g / VTB_PAGE_SIZE < frames_.size() ? frames_[g / VTB_PAGE_SIZE].changes : 0; }

  // User/kernel transitions (mprotect mode): the kernel range (hypercall
  // page + direct map) is PROT_NONE while guest user code runs: one mprotect
  // to protect; one to unprotect (RWX, the hypercall page included) plus one
  // per run of page-table frames (read-only again).
  bool protect_kernel();
  bool unprotect_kernel();
  // Page-table frames change protection in the direct map (read-only while
  // a frame is a table) when a hypercall ends, not one by one: runs are
  // coalesced, frames back in their old state cost nothing, and nothing is
  // done while the kernel range is protected (unprotect recomputes it).
  bool commit_table_prot();
  // A frame that stops being a table stays read-only in the direct map
  // until the guest kernel writes it as ordinary memory: then this makes it
  // writable (true) and the write is retried. False: not such a frame.
  bool release_stale_table(uint64_t va);
  uint64_t stale_releases() const { return stale_releases_; }
  bool kernel_protected() const { return protected_; }
  // Tell `l` of every page the user half maps now, in runs (pv@2as: the
  // user process's log overflowed).
  void replay(WindowListener& l) const;
  // Re-derive one page of the user half from the guest tables (hidden fault).
  bool resync_page(uint64_t va);

  // pv@pkeys: user code is inspected before it may run, and user pages are
  // W^X in the window (pv_wx.cpp, docs/pv.md). A frame is *locked* while a
  // user page maps it executable: it has no writable user mapping and its
  // direct-map page is read-only, so its bytes cannot change unseen. Guest
  // PTEs that allow execution start without X in the window; the first
  // fetch faults into wx_fault(), which inspects the frame (and the bytes
  // that straddle into executable neighbour pages) and locks it; a write to
  // a locked frame (user page or direct map) unlocks it (drops X everywhere,
  // gives W back).
  void set_wx(bool on) { wx_ = on; }
  bool wx() const { return wx_; }
  enum class WxFault { NotMine, Served, Refused, Step };
  // A host fault at `va` that the guest's tables allow (`gpa` its frame).
  // Served: retry; Refused: the page holds a PKRU-changing sequence (the
  // fetch is the guest's #PF); NotMine: the usual handling applies.
  // Step: a write to a locked frame; the faulting page is mapped R+W+X for
  // one instruction (the bytes it runs were inspected: the frame is locked),
  // which the caller single-steps (TF); wx_end_step() after it drops X from
  // the frame everywhere. (Dropping X at once would never let a store that
  // sits in the page it writes complete: each retry would fetch-fault.)
  WxFault wx_fault(uint64_t va, uint64_t gpa, bool write, bool fetch);
  bool wx_stepping() const { return step_frame_ != kNoStep; }
  // The engine writes guest frame `gpa` itself (upcall frames, hypercall
  // results, mmu_update of ordinary memory): a locked frame is unlocked
  // first, so that no byte changes under an executable user mapping.
  bool wx_written(uint64_t gpa) { return !wx_ || gpa / VTB_PAGE_SIZE >= frames_.size() || !frames_[gpa / VTB_PAGE_SIZE].exec || wx_unlock(gpa / VTB_PAGE_SIZE); }
  bool wx_end_step();
  uint64_t wx_inspections() const { return inspections_; }
  uint64_t wx_flips() const { return wx_flips_; }
  uint64_t wx_refused() const { return refused_; }

  bool is_page_table(uint64_t gpa) const;
  uint64_t validated_updates() const { return validated_; }
  uint64_t unvalidated_writes() const { return unvalidated_; }
  uint64_t pt_frames() const;
  const std::string& error() const { return win_.error(); }

 private:
  struct Frame {
    uint8_t level = 0;   // 0: not a page table
    uint8_t pinned = 0;  // a root pinned by new_baseptr
    uint32_t pt_refs = 0;
    uint32_t wr_refs = 0;  // writable user-half leaves mapping it
    uint8_t tainted = 0;  // a root with detached tables below it
    uint64_t va_base = 0;
    uint64_t parent = 0;  // gpa of the entry that linked it (pt_refs == 1)
    uint8_t exec = 0;   // pv@pkeys: locked (inspected, executable somewhere, nowhere writable)
    uint8_t wrote = 0;  // pv@pkeys: unlocked by a write at least once (the next lock is a flip)
    uint32_t incarnation = 0;  // times it became a root (root_incarnation)
    uint64_t changes = 0;      // a root: user-half changes while not current (root_changes)
  };
  int64_t take(int level, uint64_t va, uint64_t e, uint64_t egpa);
  void drop(int level, uint64_t va, uint64_t e, uint64_t egpa);
  int64_t promote(uint64_t frame, int level, uint64_t va_base);
  void demote(uint64_t frame);
  uint64_t entry(uint64_t table_gpa, unsigned i) const;
  void note_table_change(uint64_t frame);  // its direct-map protection is due at commit_table_prot() or unprotect_kernel()
  bool in_current(uint64_t table_frame, int level, uint64_t va, bool* shared) const;
  void note_foreign(uint64_t table_frame);
  using Pages = std::vector<std::pair<uint64_t, uint64_t>>;  // (va, gpa | PROT_* bits), va ascending
  // `user`: every entry above this table allows user access. In the
  // window's remote mode (pv@2as, direct user access) a leaf that does not
  // (a kernel-only page in the user half) is not the user process's: left out.
  void collect(uint64_t table, int level, uint64_t va_base, uint64_t lo, uint64_t hi, Pages& out,
               bool user = true) const;
  bool sync(uint64_t lo, uint64_t hi);
  int64_t unpin_table(uint64_t gpa, int level);

  GuestMemory& mem_;
  PvWindow& win_;
  uint64_t usable_;
  std::vector<Frame> frames_;
  uint64_t root_ = 0;
  bool boot_mode_ = true;
  bool protected_ = false;
  std::map<uint64_t, uint64_t> mapped_;  // user-half page va -> gpa | prot bits
  std::vector<std::pair<uint64_t, uint64_t>> dirty_;
  std::vector<uint64_t> prot_dirty_;  // frames whose table state changed since the last commit
  std::vector<uint8_t> ro_;          // direct-map page read-only: a table, or one until the kernel writes it
  // The read-only frames as runs (first frame -> end), kept in step with
  // ro_ by set_ro(): unprotect_kernel() re-protects them without a walk
  // over every frame (O(runs), not O(frames), per kernel entry).
  std::map<uint64_t, uint64_t> ro_runs_;
  void set_ro(uint64_t f, bool ro);
  // pv@pkeys W^X (pv_wx.cpp).
  uint64_t wx_prot(uint64_t va, uint64_t gpa_prot);  // the window's protection for a wanted page
  bool wx_lock(uint64_t f);
  bool wx_unlock(uint64_t f);
  bool wx_resync_frame(uint64_t f);  // re-derive every user page that maps frame f
  bool wx_granted(uint64_t va) const;
  bool wants_ro(uint64_t f) const { return frames_[f].level != 0 || frames_[f].exec; }
  bool wx_ = false;
  static constexpr uint64_t kNoStep = ~0ULL;
  uint64_t step_frame_ = kNoStep;  // the frame a single-stepped store may write
  std::map<uint64_t, uint64_t> xok_;  // user page va -> gpa it was inspected executable with
  uint64_t inspections_ = 0, wx_flips_ = 0, refused_ = 0;
  std::set<uint64_t> dead_;  // entry gpas whose link was detached by unpin
  uint64_t validated_ = 0, unvalidated_ = 0, stale_releases_ = 0, foreign_ = 0;
};

}  // namespace vtb::pv
