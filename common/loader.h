// tags: common|loader — desc: validating ELF64 loader and guest image placement.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/engine.h"
#include "common/guest_memory.h"
#include "common/status.h"

namespace vtb {

struct ElfSegment {
  uint64_t vaddr = 0, paddr = 0, filesz = 0, memsz = 0, file_offset = 0;
  uint32_t flags = 0;  // PF_R/W/X
};

struct ElfImage {
  std::vector<uint8_t> bytes;
  uint64_t entry = 0;
  std::vector<ElfSegment> segments;  // PT_LOAD only, sorted by paddr
};

// Parses and validates an ELF64 x86-64 executable: rejects truncated files,
// wrong class/data/machine/type, program headers outside the file, segments
// with filesz > memsz, overlapping segments. The message names the problem,
// e.g. "tbk.elf: truncated: program header 2 ends at 0x1f8 past file size 0x100".
Status parse_elf(std::vector<uint8_t> bytes, const std::string& what, ElfImage* out);
// The largest guest memory the loader's boot mapping covers (MiB): every
// runner, the qemu-tcg peer included, refuses more as bad input.
inline constexpr size_t kMaxGuestMemMib = 1024;
inline constexpr size_t kMinGuestMemMib = 16;
// The largest kernel or archive file read (guest memory is at most 16 GiB,
// and no image of this testbed comes near this).
inline constexpr uint64_t kMaxInputFileBytes = 256ULL << 20;
// Reads a whole regular file of at most kMaxInputFileBytes. A missing or
// unreadable path, a directory, a device, a FIFO or socket (never opened
// blocking) or a larger file is bad input, with the reason.
Status read_file(const std::string& path, std::vector<uint8_t>* out);

struct GuestImage {
  ElfImage kernel;
  std::vector<uint8_t> archive;  // struct vtb_archive_header ... (may be empty)
  std::string cmdline;
  Flavor flavor = Flavor::Native;
};

// Writes the kernel segments at their physical addresses, the archive after
// the kernel (page aligned), the boot info at VTB_BOOTINFO_GPA, and the
// loader page tables/GDT (identity map of the first 1 GiB + the kernel direct
// map at VTB_KERNEL_VBASE). Rejects segments outside guest memory.
Status place_image(const GuestImage& img, GuestMemory& mem, BootImage* boot);

}  // namespace vtb
