// tags: engines|bt — desc: bt-softmmu's runtime side: the inline TLB's tables (map, fill, flush) and the miss / bounce exits of translated code.
#include <sys/mman.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "engines/bt/runtime.h"

namespace vtb::bt {

namespace {
constexpr uint64_t kPage = 0x1000;
constexpr uint64_t kCr4Pge = 0x80;
uint64_t* tlb_tab(bool user, int kind) { return reinterpret_cast<uint64_t*>(tlb_table(user, kind)); }
size_t tlb_index(uint64_t va) { return size_t((va >> 12) & (kTlbEntries - 1)); }
// A 2 MiB (level 2) or 1 GiB (level 3) page: its size, its key in tlb_big_ (base | level).
uint64_t big_size(uint64_t level) { return level == 2 ? (1ULL << 21) : (1ULL << 30); }
uint64_t big_key(uint64_t va, uint64_t level) { return (va & ~(big_size(level) - 1)) | level; }

// rep stos / rep scas over n elements of one page (T: the element): a
// constant-size copy per element, not a libc call each (a page of `rep
// stosq` was 512 memcpy calls).
template <class T>
void fill_elems(uint8_t* p, uint64_t n, uint64_t value) {
  const T v = T(value);
  for (uint64_t i = 0; i < n; ++i) memcpy(p + i * sizeof(T), &v, sizeof(T));
}
// Up to and including the first element that ends the repetition (repe: one
// that differs, repne: one that equals); *k elements compared, *last the last.
template <class T>
bool scan_elems(const uint8_t* p, uint64_t n, uint64_t value, bool repne, uint64_t* last, uint64_t* k) {
  uint64_t i = 0;
  if (!repne) {  // repe (tbk skips the empty entries of a page table): 8 equal elements at a time
    const T v = T(value);
    for (; i + 8 <= n; i += 8) {
      T diff = 0;
      for (int j = 0; j < 8; ++j) {
        T y;
        memcpy(&y, p + (i + uint64_t(j)) * sizeof(T), sizeof(T));
        diff |= T(y ^ v);
      }
      if (diff) break;
    }
  }
  for (; i < n; ++i) {
    T y;
    memcpy(&y, p + i * sizeof(T), sizeof(T));
    if ((uint64_t(y) == value) == repne) {
      *last = y;
      *k = i + 1;
      return true;
    }
  }
  if (n) {
    T y;
    memcpy(&y, p + (n - 1) * sizeof(T), sizeof(T));
    *last = y;
  }
  *k = n;
  return false;
}
}  // namespace

Status Runtime::tlb_init() {
  void* t = mmap(reinterpret_cast<void*>(kTlbBase), BT_TLB_BYTES, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (t == MAP_FAILED) return Status::host_error(std::string("bt: cannot map the softmmu TLB: ") + strerror(errno));
  AsmVcpu* a = asm_vcpu();
  const uint64_t idx_mask = (kTlbEntries - 1) << 12, page_mask = ~(kPage - 1);
  memcpy(reinterpret_cast<uint8_t*>(a) + BT_OFF_TLB_IDX_MASK, &idx_mask, 8);
  memcpy(reinterpret_cast<uint8_t*>(a) + BT_OFF_TLB_PAGE_MASK, &page_mask, 8);
  for (auto& g : tlb_gpa_) g.assign(kTlbEntries, ~0ULL);
  for (auto& g : tlb_glob_) g.assign(kTlbEntries, 0);
  tlb_used_.reserve(kTlbEntries);
  tlb_used_.assign(1, 0);  // the first flush clears every table
  tlb_used_.resize(kTlbEntries);
  tlb_flush();
  st_.tlb_flush = 0;
  return Status::ok();
}

// A flush clears the entries filled since the last one (tlb_used_), or all
// of them when that is most of the tables: a CR3 load costs what the
// address space used, not 2 x 1024 entries. A CR3 load (keep_global) leaves
// the entries of global pages, as the architecture lets a TLB do (and tbk's
// kernel would keep its entries across process switches if it marked its
// mappings global: it does not); CR0/CR4 writes drop them too.
void Runtime::tlb_flush(bool keep_global) {
  if (!opt_.softmmu) return;
  keep_global = keep_global && tlb_any_global_;
  tlb_kept_.clear();
  auto clear = [&](uint32_t k) {
    const bool u = k >= kTlbEntries;
    const size_t i = k & (kTlbEntries - 1);
    if (keep_global && tlb_glob_[u][i]) {
      tlb_kept_.push_back(k);
      return;
    }
    tlb_clear_entry(u, i);
    tlb_gpa_[u][i] = ~0ULL;
  };
  if (tlb_used_.size() < kTlbEntries / 2) {
    for (uint32_t k : tlb_used_) clear(k);
  } else {
    for (uint32_t k = 0; k < 2 * kTlbEntries; ++k) clear(k);
  }
  tlb_used_.swap(tlb_kept_);
  st_.tlb_kept_global += tlb_used_.size();
  if (tlb_used_.empty()) {
    tlb_any_global_ = false;
    tlb_big_.clear();
    tlb_big_last_ = 0;
  }
  ++st_.tlb_flush;
}

// invlpg: the entries of that page, in both modes (global or not); an entry
// of another page that shares the index stays (its kernel stack or data
// would miss again). A va inside a 2 MiB or 1 GiB page drops every entry
// filled from that page.
void Runtime::tlb_flush_page(uint64_t va) {
  if (!opt_.softmmu) return;
  const size_t i = tlb_index(va);
  const uint64_t tag = uint64_t(0) - (va & ~(kPage - 1));
  for (int u = 0; u < 2; ++u) {
    if (tlb_tab(u, kTlbRead)[i] != tag) continue;  // a write tag is only ever beside its read tag
    tlb_clear_entry(u, i);  // (tlb_gpa_ stays: the slot remains in tlb_used_)
  }
  if (!tlb_big_.empty()) {
    for (uint64_t level : {2, 3}) {
      const uint64_t key = big_key(va, level);
      if (!tlb_big_.erase(key)) continue;
      if (key == tlb_big_last_) tlb_big_last_ = 0;
      tlb_clear_big(key & ~level, big_size(level));
    }
  }
  ++st_.tlb_flush_page;
}

// One entry invalid in both tables of its mode (tlb_gpa_ left to the caller).
void Runtime::tlb_clear_entry(bool u, size_t i) {
  tlb_tab(u, kTlbRead)[i] = kTlbNoTag;
  tlb_tab(u, kTlbWrite)[i] = kTlbNoTag;
  tlb_glob_[u][i] = 0;
}

void Runtime::tlb_clear_big(uint64_t base, uint64_t size) {
  for (uint32_t k : tlb_used_) {
    const bool u = k >= kTlbEntries;
    const size_t i = k & (kTlbEntries - 1);
    const uint64_t tag = tlb_tab(u, kTlbRead)[i];
    if (tag == kTlbNoTag || ((uint64_t(0) - tag) & ~(size - 1)) != base) continue;
    tlb_clear_entry(u, i);
  }
}

uint8_t* Runtime::tlb_lookup(bool user, uint64_t va, size_t n, bool write) const {
  if (!opt_.softmmu || n == 0) return nullptr;
  const size_t i = tlb_index(va);
  const uint64_t tag = tlb_tab(user, write ? kTlbWrite : kTlbRead)[i];
  // As the probe: the last byte minus the page is below a page iff both ends lie in it.
  if (va + (n - 1) + tag >= kPage) return nullptr;
  return reinterpret_cast<uint8_t*>(va + tlb_tab(user, kTlbAddend)[i]);
}

void Runtime::tlb_drop_frame_writes(uint64_t gpa_page) {
  if (!opt_.softmmu) return;
  for (int u = 0; u < 2; ++u)
    for (uint64_t i = 0; i < kTlbEntries; ++i)
      if (tlb_gpa_[u][i] == gpa_page) tlb_tab(u, kTlbWrite)[i] = kTlbNoTag;
}

void Runtime::tlb_install(bool user, uint64_t va, const SoftAccess& sa) {
  const size_t i = tlb_index(va);
  const uint64_t page = va & ~(kPage - 1);
  const uint64_t host_page = reinterpret_cast<uint64_t>(sa.p0) - (va & (kPage - 1));
  tlb_tab(user, kTlbRead)[i] = uint64_t(0) - page;
  tlb_tab(user, kTlbWrite)[i] = sa.writable ? uint64_t(0) - page : kTlbNoTag;
  tlb_tab(user, kTlbAddend)[i] = host_page - page;
  if (tlb_gpa_[user][i] == ~0ULL) tlb_used_.push_back(uint32_t(i + (user ? kTlbEntries : 0)));
  tlb_gpa_[user][i] = sa.gpa0;
  const bool global = sa.global && (cpu_.cr4 & kCr4Pge);
  tlb_glob_[user][i] = global;
  tlb_any_global_ |= global;
  if (sa.level > 1) {
    const uint64_t key = big_key(va, uint64_t(sa.level));
    if (key != tlb_big_last_) tlb_big_.insert(key);  // (the kernel's fills come from a few big pages in a row)
    tlb_big_last_ = key;
  }
}

// Translated code missed the TLB with the guest VA in register r->a (the
// probe saved the registers it borrowed: see ExitRecord's kTlb* bits). A
// fill hands back the host address in that register and resumes at the
// inline continuation; a page-crossing access over two frames gets the
// bounce buffer and resumes in the out-of-line copy of the access, which
// ends with a TlbCommit exit; a fault is the guest's, at this instruction.
void Runtime::tlb_miss(const ExitRecord* r, int64_t* used, bool counting) {
  AsmVcpu* a = asm_vcpu();
  ++st_.tlb_miss;
  const uint64_t va = a->gpr[r->a];
  const size_t n = size_t(r->aux);
  const bool write = r->c & kTlbWriteAcc, user = r->c & kTlbUser;
  SoftAccess sa;
  GuestFaultInfo f;
  *used -= r->unexec;
  const bool ok = mem_->soft_fill(va, n, write, user, &sa, &f);
  if (!ok && (r->c & kTlbGroup) && no_group_pcs_.insert(r->guest_pc).second) {
    // The run's span faults somewhere: translate it again with one probe per
    // instruction, so that the fault comes from the right one (nothing of the
    // run has been done yet).
    a->gpr[RCX] = a->s6;
    if (r->c & kTlbRestoreS4) a->gpr[r->b] = a->s4;
    cpu_.rip = r->guest_pc;
    --*used;
    if (counting && *used > 0) executed_ += uint64_t(*used);
    *used = 0;
    invalidate_range(r->guest_pc, 1);
    return;
  }
  if (!ok) {
    if (r->c & kTlbRestoreS6) a->gpr[RCX] = a->s6;
    if (r->c & kTlbRestoreS1S2) {
      a->gpr[RCX] = a->s1;
      a->gpr[RDX] = a->s2;
    }
    if (r->c & kTlbRestoreS7) a->gpr[r->a] = a->s7;
    if (r->c & kTlbRestoreS4) a->gpr[r->b] = a->s4;
    cpu_.rip = r->guest_pc;
    --*used;
    if (counting && *used > 0) executed_ += uint64_t(*used);
    *used = 0;
    raise(f.vector, f.error, true, f.addr);
    return;
  }
  if (counting && *used > 0) executed_ += uint64_t(*used);
  *used = 0;
  // The translation of this block may be gone (a store to its own frame):
  // its bytes stay until the cache is flushed, so the instruction completes.
  hold_irq_ = true;
  if (!sa.p1 || sa.p0 + sa.n0 == sa.p1) {
    if (sa.cacheable) tlb_install(user, va, sa);
    a->gpr[r->a] = reinterpret_cast<uint64_t>(sa.p0);
    resume_tc_ = r->target;
    return;
  }
  ++st_.tlb_bounce;
  // The buffer keeps the address's alignment (a misaligned movaps still #GPs, #AC still applies).
  uint8_t* buf = bounce_buf_ + (va & 63);
  bounce_ = Bounce{true, write, sa.p0, sa.p1, sa.n0, n, buf};
  memcpy(buf, sa.p0, sa.n0);
  memcpy(buf + sa.n0, sa.p1, n - sa.n0);
  a->gpr[r->a] = reinterpret_cast<uint64_t>(buf);
  resume_tc_ = reinterpret_cast<uint64_t>(r) + sizeof(ExitRecord);
}

void Runtime::tlb_commit(const ExitRecord* r) {
  if (bounce_.live && bounce_.write) {
    memcpy(bounce_.p0, bounce_.buf, bounce_.n0);
    memcpy(bounce_.p1, bounce_.buf + bounce_.n0, bounce_.n - bounce_.n0);
  }
  bounce_.live = false;
  hold_irq_ = true;
  resume_tc_ = reinterpret_cast<uint64_t>(r) + sizeof(ExitRecord);
}

// Whole elements within one source page and one destination page per step,
// at most 1 MiB per visit (the rest is left to the element loop and the next
// visit). rcx/rsi/rdi always describe the elements done, so a fault on a later
// page leaves the guest state a native rep would.
bool Runtime::soft_string_run(uint8_t opcode, uint64_t src_base, int size, bool user, bool repne, uint64_t* last,
                              bool* compared) {
  AsmVcpu* a = asm_vcpu();
  const bool movs = opcode == 0xa4 || opcode == 0xa5, scas = opcode == 0xae || opcode == 0xaf;
  const uint64_t value = a->gpr[RAX];
  const uint64_t mask = size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
  *compared = false;
  for (uint64_t budget = 1 << 20; a->gpr[RCX] != 0 && budget > 0;) {
    const uint64_t dst = a->gpr[RDI], src = src_base + a->gpr[RSI];
    uint64_t room = kPage - (dst & (kPage - 1));
    if (movs) room = std::min(room, kPage - (src & (kPage - 1)));
    const uint64_t n = std::min<uint64_t>(a->gpr[RCX], room / uint64_t(size));
    if (n == 0) return true;  // an element crosses a page: the element loop
    const size_t bytes = size_t(n) * size_t(size);
    SoftAccess d, s;
    GuestFaultInfo f;
    if ((movs && !mem_->soft_fill(src, bytes, false, user, &s, &f)) || !mem_->soft_fill(dst, bytes, !scas, user, &d, &f)) {
      raise(f.vector, f.error, true, f.addr);
      return false;
    }
    if (scas) {  // repe/repne: up to the first element that ends the repetition
      uint64_t k = 0;
      bool stop = false;
      switch (size) {
        case 1: stop = scan_elems<uint8_t>(d.p0, n, value & mask, repne, last, &k); break;
        case 2: stop = scan_elems<uint16_t>(d.p0, n, value & mask, repne, last, &k); break;
        case 4: stop = scan_elems<uint32_t>(d.p0, n, value & mask, repne, last, &k); break;
        default: stop = scan_elems<uint64_t>(d.p0, n, value & mask, repne, last, &k); break;
      }
      *compared = *compared || k > 0;
      a->gpr[RDI] += k * uint64_t(size);
      a->gpr[RCX] -= k;
      if (stop) return true;
      budget -= std::min<uint64_t>(budget, k * uint64_t(size));
      continue;
    }
    if (movs) {
      if (d.p0 > s.p0 && d.p0 < s.p0 + bytes) {
        for (size_t i = 0; i < bytes; ++i) d.p0[i] = s.p0[i];  // overlapping forward copy repeats, as rep movs does
      } else {
        memmove(d.p0, s.p0, bytes);
      }
      a->gpr[RSI] += bytes;
    } else if (size == 1 || (value & mask) == (0x0101010101010101ULL * (value & 0xff) & mask)) {
      memset(d.p0, int(value & 0xff), bytes);  // every byte of the element the same (zeroing a page)
    } else {
      switch (size) {
        case 2: fill_elems<uint16_t>(d.p0, n, value); break;
        case 4: fill_elems<uint32_t>(d.p0, n, value); break;
        default: fill_elems<uint64_t>(d.p0, n, value); break;
      }
    }
    a->gpr[RDI] += bytes;
    a->gpr[RCX] -= n;
    budget -= std::min<uint64_t>(budget, bytes);
  }
  return true;
}

}  // namespace vtb::bt
