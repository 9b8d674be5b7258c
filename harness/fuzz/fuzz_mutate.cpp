// tags: harness|fuzz — desc: flip-kind mutants (bit flips in an ELF's loaded bytes) and program archive read/write.
#include <elf.h>

#include <cstring>

#include "common/abi/vtb_abi.h"
#include "harness/fuzz/fuzz.h"
#include "harness/fuzz/fuzz_gen.h"

namespace vtb::fuzz {

std::vector<LoadSegment> load_segments(const std::string& elf, uint64_t* headers_end) {
  std::vector<LoadSegment> v;
  Elf64_Ehdr eh;
  if (elf.size() < sizeof eh) return v;
  memcpy(&eh, elf.data(), sizeof eh);
  if (headers_end) *headers_end = eh.e_phoff + uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr);
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    const uint64_t at = eh.e_phoff + uint64_t(i) * sizeof ph;
    if (at + sizeof ph > elf.size()) break;
    memcpy(&ph, elf.data() + at, sizeof ph);
    if (ph.p_type == PT_LOAD && ph.p_filesz != 0 && ph.p_offset + ph.p_filesz <= elf.size())
      v.push_back({ph.p_offset, ph.p_vaddr, ph.p_filesz});
  }
  return v;
}

// 1..8 flips (a quarter of them replace the whole byte) at positions drawn
// uniformly over the file bytes of the PT_LOAD segments; the ELF and program
// headers stay intact so that exec always succeeds.
std::string flip_mutant(uint64_t seed, uint64_t index, const std::string& elf) {
  std::string m = elf;
  fz_rng r = fz_stream(FZ_FLIP, seed, index);
  fz_next(&r);  // the template draw (fz_flip_template)
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [offset, size)
  uint64_t total = 0, hdr_end = 0;
  for (const LoadSegment& seg : load_segments(m, &hdr_end)) {
    // skip the headers when the first segment maps them
    uint64_t lo = seg.offset, hi = seg.offset + seg.filesz;
    if (lo < hdr_end) lo = hdr_end < hi ? hdr_end : hi;
    if (hi > lo) ranges.emplace_back(lo, hi - lo), total += hi - lo;
  }
  if (total == 0) return m;
  const int flips = 1 + int(fz_next(&r) % 8);
  for (int f = 0; f < flips; ++f) {
    uint64_t pos = fz_next(&r) % total;
    for (const auto& [off, size] : ranges) {
      if (pos < size) {
        const uint64_t v = fz_next(&r);
        if (v % 4 == 0)
          m[off + pos] = char(uint8_t(v >> 8));
        else
          m[off + pos] = char(uint8_t(m[off + pos]) ^ uint8_t(1u << ((v >> 8) % 8)));
        break;
      }
      pos -= size;
    }
  }
  return m;
}

bool read_archive(const std::string& b, std::vector<std::pair<std::string, std::string>>* out) {
  vtb_archive_header h;
  if (b.size() < sizeof h) return false;
  memcpy(&h, b.data(), sizeof h);
  if (h.magic != VTB_ARCHIVE_MAGIC || sizeof h + uint64_t(h.count) * sizeof(vtb_archive_entry) > b.size()) return false;
  out->clear();
  for (uint32_t i = 0; i < h.count; ++i) {
    vtb_archive_entry e;
    memcpy(&e, b.data() + sizeof h + size_t(i) * sizeof e, sizeof e);
    if (memchr(e.name, 0, sizeof e.name) == nullptr || e.offset > b.size() || e.size > b.size() - e.offset) return false;
    out->emplace_back(e.name, b.substr(e.offset, e.size));
  }
  return true;
}

std::string write_archive(const std::vector<std::pair<std::string, std::string>>& entries) {
  vtb_archive_header h{VTB_ARCHIVE_MAGIC, uint32_t(entries.size())};
  std::string out(sizeof h + entries.size() * sizeof(vtb_archive_entry), '\0');
  memcpy(out.data(), &h, sizeof h);
  for (size_t i = 0; i < entries.size(); ++i) {
    out.resize((out.size() + 15) & ~size_t(15), '\0');  // blobs 16-byte aligned
    vtb_archive_entry e{};
    strncpy(e.name, entries[i].first.c_str(), sizeof e.name - 1);
    e.offset = out.size();
    e.size = entries[i].second.size();
    memcpy(out.data() + sizeof h + i * sizeof e, &e, sizeof e);
    out += entries[i].second;
  }
  return out;
}

}  // namespace vtb::fuzz
