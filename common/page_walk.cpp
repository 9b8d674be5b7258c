// tags: common|mmu — desc: 4-level x86-64 guest page-table walker.
#include "common/page_walk.h"

namespace vtb {
namespace {

constexpr uint64_t P = 1ULL << 0, RW = 1ULL << 1, US = 1ULL << 2, A = 1ULL << 5, D = 1ULL << 6,
                   PS = 1ULL << 7, XD = 1ULL << 63;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ULL;  // 52-bit physical
constexpr uint64_t kMaxPhysBits = 52;

// Reserved bits that must be zero, per level (4 = PML4E .. 1 = PTE), for a
// 52-bit MAXPHYADDR: bit 7 in a PML4E; bits 12..29 (minus PAT bit 12) in a
// 1 GiB PDPTE; bits 13..20 in a 2 MiB PDE; XD without EFER.NXE.
bool reserved_bits_set(uint64_t e, int level, bool leaf, bool nxe) {
  (void)kMaxPhysBits;
  if (!nxe && (e & XD)) return true;
  if (level == 4 && (e & PS)) return true;
  if (leaf && level == 3 && (e & 0x3fffe000ULL)) return true;
  if (leaf && level == 2 && (e & 0x1fe000ULL)) return true;
  return false;
}

}  // namespace

bool is_canonical(uint64_t va) {
  const int64_t s = static_cast<int64_t>(va << 16) >> 16;
  return static_cast<uint64_t>(s) == va;
}

WalkResult walk_page_tables(GuestMemory& mem, uint64_t cr3, uint64_t va, const WalkRequest& req) {
  WalkResult r;
  if (!is_canonical(va)) {
    r.status = WalkStatus::NonCanonical;
    return r;
  }
  uint32_t err_base = (req.write ? uint32_t(kPfWrite) : 0u) | (req.user ? uint32_t(kPfUser) : 0u) |
                      (req.fetch ? uint32_t(kPfFetch) : 0u);
  uint64_t table = cr3 & kAddrMask;
  bool user_ok = true, write_ok = true, exec_ok = true;
  for (int level = 4; level >= 1; --level) {
    const unsigned shift = 12 + 9 * (level - 1);
    const uint64_t idx = (va >> shift) & 511;
    const uint64_t egpa = table + idx * 8;
    r.table_gpa[4 - level] = table;
    uint64_t e = 0;
    if (!mem.read_obj(egpa, &e)) {
      r.status = WalkStatus::BadTable;
      return r;
    }
    if (!(e & P)) {
      r.status = WalkStatus::PageFault;
      r.error_code = err_base;
      return r;
    }
    const bool leaf = level == 1 || ((level == 2 || level == 3) && (e & PS));
    if (reserved_bits_set(e, level, leaf, req.nxe)) {
      r.status = WalkStatus::PageFault;
      r.error_code = err_base | kPfPresent | kPfReserved;
      return r;
    }
    user_ok = user_ok && (e & US);
    write_ok = write_ok && (e & RW);
    exec_ok = exec_ok && !(req.nxe && (e & XD));
    if (leaf) {
      const uint64_t page_mask = (1ULL << shift) - 1;
      bool denied = false;
      if (req.user && !user_ok) denied = true;
      if (req.write && !write_ok && (req.user || req.cr0_wp)) denied = true;
      if (req.fetch && !exec_ok) denied = true;
      if (denied) {
        r.status = WalkStatus::PageFault;
        r.error_code = err_base | kPfPresent;
        return r;
      }
      uint64_t ne = e | A | (req.write ? D : 0);
      if (req.set_ad && ne != e) mem.write_obj(egpa, ne);
      r.status = WalkStatus::Ok;
      r.leaf_pte = req.set_ad ? ne : e;
      r.leaf_pte_gpa = egpa;
      r.level = level;
      r.gpa = (e & kAddrMask & ~page_mask) | (va & page_mask);
      r.writable = write_ok;
      r.user = user_ok;
      r.executable = exec_ok;
      return r;
    }
    if (req.set_ad && !(e & A)) mem.write_obj(egpa, e | A);
    table = e & kAddrMask;
  }
  return r;  // unreachable: level 1 is always a leaf
}

}  // namespace vtb
