// tags: common|tests — desc: builds small ELF64 images in memory for loader tests.
#pragma once
#include <elf.h>

#include <cstring>
#include <vector>

namespace vtb::test {

struct SegSpec {
  uint64_t vaddr, paddr;
  std::vector<uint8_t> data;
  uint64_t memsz;
  uint32_t flags = PF_R | PF_X;
};

inline std::vector<uint8_t> build_elf(const std::vector<SegSpec>& segs, uint64_t entry) {
  const size_t phoff = sizeof(Elf64_Ehdr);
  size_t off = phoff + segs.size() * sizeof(Elf64_Phdr);
  std::vector<uint8_t> out(off);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = phoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = uint16_t(segs.size());
  std::memcpy(out.data(), &eh, sizeof eh);
  for (size_t i = 0; i < segs.size(); ++i) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = segs[i].flags;
    ph.p_offset = out.size();
    ph.p_vaddr = segs[i].vaddr;
    ph.p_paddr = segs[i].paddr;
    ph.p_filesz = segs[i].data.size();
    ph.p_memsz = segs[i].memsz;
    ph.p_align = 0x1000;
    std::memcpy(out.data() + phoff + i * sizeof ph, &ph, sizeof ph);
    out.insert(out.end(), segs[i].data.begin(), segs[i].data.end());
  }
  return out;
}

}  // namespace vtb::test
