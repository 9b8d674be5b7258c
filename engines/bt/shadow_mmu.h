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
// (mmap of the memfd). CR3 loads drop the user half, invlpg drops one page;
// kernel-half mappings are kept across CR3 loads (tbk shares them, like
// global pages). Frames that hold translated code are mirrored read-only
// everywhere, so a write through any alias invalidates the translations.
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
  bool traced(uint64_t va) override;

  struct Stats {
    uint64_t maps = 0, unmaps = 0, flushes = 0, code_write = 0, protect_code = 0, guest_pf = 0, traced_tables = 0;
  };
  const Stats& stats() const { return st_; }
  uint64_t cr3() const { return cr3_; }

 private:
  bool translate(uint64_t va, bool write, bool user, bool fetch, uint64_t* gpa, GuestFaultInfo* f,
                 WalkResult* walk = nullptr);
  void trace_tables(const WalkResult& w, uint64_t va_page);
  void table_written(uint64_t gpa_page, uint64_t off, uint64_t len);
  void protect_aliases(uint64_t gpa_page);
  void trace_tree(uint64_t table, int level);
  bool map_page(uint64_t va_page, uint64_t gpa_page, bool writable, bool exec = false);
  void unmap_page(uint64_t va_page);
  void mark_code(uint64_t gpa_page, uint64_t va_page);
  void code_written(uint64_t gpa_page);

  GuestMemory* mem_ = nullptr;
  Runtime* rt_ = nullptr;
  uint64_t cr3_ = 0;
  uint64_t kernel_slot_ = 0;  // PML4[VTB_KERNEL_PML4_SLOT] of the current cr3
  bool user_ = false;
  bool exec_user_ = false;
  struct Mapping { uint64_t gpa; bool writable; };
  std::unordered_map<uint64_t, Mapping> mapped_;                        // va page -> frame
  std::unordered_map<uint64_t, std::vector<uint64_t>> aliases_;         // gpa page -> va pages mapped
  std::unordered_map<uint64_t, std::unordered_set<uint64_t>> code_;     // gpa page -> va pages translated
  struct Table { int level; std::unordered_set<uint64_t> users; };     // va pages mapped through it
  std::unordered_map<uint64_t, Table> tables_;                          // write-traced page-table frames
  Stats st_;
};

}  // namespace vtb::bt
