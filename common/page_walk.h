// tags: common|mmu — desc: 4-level x86-64 guest page-table walker (A/D, permissions, huge pages).
#pragma once
#include <cstdint>

#include "common/guest_memory.h"

namespace vtb {

// Architectural #PF error-code bits.
enum : uint32_t { kPfPresent = 1, kPfWrite = 2, kPfUser = 4, kPfReserved = 8, kPfFetch = 16 };

struct WalkRequest {
  bool write = false;
  bool user = false;    // access made at CPL 3
  bool fetch = false;   // instruction fetch
  bool cr0_wp = true;   // supervisor writes honour R/W
  bool nxe = true;      // EFER.NXE: bit 63 is XD (else reserved)
  bool set_ad = true;   // set Accessed on every level, Dirty on the leaf for writes
};

enum class WalkStatus {
  Ok,
  PageFault,      // deliver #PF with `error_code`, CR2 = va
  NonCanonical,   // deliver #GP(0) (or #SS for stack accesses)
  BadTable,       // a table pointer lies outside guest RAM (no architectural meaning: engine error)
};

struct WalkResult {
  WalkStatus status = WalkStatus::PageFault;
  uint64_t gpa = 0;        // translated address (Ok)
  uint64_t leaf_pte = 0;   // the leaf entry as read (after A/D update)
  uint64_t leaf_pte_gpa = 0;
  int level = 0;           // 1 = 4 KiB page, 2 = 2 MiB, 3 = 1 GiB
  bool writable = false, user = false, executable = false;  // effective permissions
  uint32_t error_code = 0; // PageFault
  uint64_t table_gpa[4] = {0, 0, 0, 0};  // gpa of the table read at levels 4..1 (index 0 = PML4)
};

bool is_canonical(uint64_t va);
WalkResult walk_page_tables(GuestMemory& mem, uint64_t cr3, uint64_t va, const WalkRequest& req);

}  // namespace vtb
