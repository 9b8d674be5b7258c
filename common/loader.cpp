// tags: common|loader — desc: ELF64 validation and placing the guest image in RAM.
#include "common/loader.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/abi/vtb_abi.h"

namespace vtb {
namespace {

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

using ull = unsigned long long;

}  // namespace

Status read_file(const std::string& path, std::vector<uint8_t>* out) {
  // Non-blocking open: a FIFO without a writer must not hang here; then only
  // a regular file of bounded size is read (a device, directory or FIFO is
  // bad input, before any byte is read).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Status::bad_input(path + ": cannot open: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::bad_input(path + ": cannot stat: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return Status::bad_input(path + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) return Status::bad_input(path + ": not a regular file (device, FIFO or socket)");
  if (uint64_t(st.st_size) > kMaxInputFileBytes)
    return Status::bad_input(fmt("%s: %llu bytes, more than the %llu MiB an input file may have", path.c_str(),
                                 (ull)st.st_size, (ull)(kMaxInputFileBytes >> 20)));
  out->resize(size_t(st.st_size));
  size_t got = 0;
  while (got < out->size()) {
    const ssize_t n = read(fd, out->data() + got, out->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::bad_input(path + ": read error: " + std::strerror(errno));
    if (n == 0) break;  // shrank while we read: take what is there
    got += size_t(n);
  }
  out->resize(got);
  return Status::ok();
}

Status parse_elf(std::vector<uint8_t> bytes, const std::string& what, ElfImage* out) {
  const size_t size = bytes.size();
  if (size < sizeof(Elf64_Ehdr))
    return Status::bad_input(fmt("%s: truncated: %zu bytes, smaller than an ELF64 header", what.c_str(), size));
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    return Status::bad_input(what + ": not an ELF file (bad magic)");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64)
    return Status::bad_input(what + ": not ELF64 (class " + std::to_string(eh.e_ident[EI_CLASS]) + ")");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return Status::bad_input(what + ": not little-endian");
  if (eh.e_machine != EM_X86_64)
    return Status::bad_input(what + ": wrong machine " + std::to_string(eh.e_machine) + " (want x86-64)");
  if (eh.e_type != ET_EXEC)
    return Status::bad_input(what + ": not an executable (e_type " + std::to_string(eh.e_type) + ")");
  if (eh.e_phnum == 0) return Status::bad_input(what + ": no program headers");
  if (eh.e_phentsize != sizeof(Elf64_Phdr))
    return Status::bad_input(fmt("%s: bad program header size %u", what.c_str(), eh.e_phentsize));
  const uint64_t ph_end = eh.e_phoff + uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr);
  if (eh.e_phoff > size || ph_end > size || ph_end < eh.e_phoff)
    return Status::bad_input(fmt("%s: truncated: program headers end at 0x%llx past file size 0x%zx",
                                 what.c_str(), (ull)ph_end, size));
  ElfImage img;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    if (ph.p_filesz > ph.p_memsz)
      return Status::bad_input(fmt("%s: segment %u: file size 0x%llx > memory size 0x%llx", what.c_str(), i,
                                   (ull)ph.p_filesz, (ull)ph.p_memsz));
    if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
      return Status::bad_input(fmt("%s: truncated: segment %u ends at 0x%llx past file size 0x%zx", what.c_str(),
                                   i, (ull)(ph.p_offset + ph.p_filesz), size));
    if (ph.p_paddr + ph.p_memsz < ph.p_paddr || ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
      return Status::bad_input(fmt("%s: segment %u wraps the address space", what.c_str(), i));
    img.segments.push_back({ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz, ph.p_offset, ph.p_flags});
  }
  if (img.segments.empty()) return Status::bad_input(what + ": no loadable segment");
  std::sort(img.segments.begin(), img.segments.end(),
            [](const ElfSegment& a, const ElfSegment& b) { return a.paddr < b.paddr; });
  for (size_t i = 1; i < img.segments.size(); ++i) {
    const auto& a = img.segments[i - 1];
    const auto& b = img.segments[i];
    if (a.paddr + a.memsz > b.paddr)
      return Status::bad_input(fmt("%s: segments at physical 0x%llx and 0x%llx overlap", what.c_str(),
                                   (ull)a.paddr, (ull)b.paddr));
  }
  bool entry_ok = false;
  for (const auto& s : img.segments)
    if ((s.flags & PF_X) && eh.e_entry >= s.vaddr && eh.e_entry < s.vaddr + s.memsz) entry_ok = true;
  if (!entry_ok)
    return Status::bad_input(fmt("%s: entry point 0x%llx is not inside an executable segment", what.c_str(),
                                 (ull)eh.e_entry));
  img.entry = eh.e_entry;
  img.bytes = std::move(bytes);
  *out = std::move(img);
  return Status::ok();
}

namespace {

constexpr uint64_t kPte_P = 1, kPte_W = 2, kPte_PS = 0x80;
constexpr uint64_t kLowReservedEnd = VTB_LOADER_PT_GPA + VTB_LOADER_PT_SIZE;

uint64_t page_up(uint64_t x) { return (x + VTB_PAGE_SIZE - 1) & ~(VTB_PAGE_SIZE - 1); }

// Identity map of [0, 1 GiB) and the same range at VTB_KERNEL_VBASE, 2 MiB pages.
void build_loader_tables(GuestMemory& mem) {
  const uint64_t pml4 = VTB_LOADER_PT_GPA, pdpt = pml4 + 0x1000, pd = pml4 + 0x2000;
  mem.write_obj<uint64_t>(pml4 + 0 * 8, pdpt | kPte_P | kPte_W);
  mem.write_obj<uint64_t>(pml4 + VTB_KERNEL_PML4_SLOT * 8, pdpt | kPte_P | kPte_W);
  mem.write_obj<uint64_t>(pdpt, pd | kPte_P | kPte_W);
  for (uint64_t i = 0; i < 512; ++i)
    mem.write_obj<uint64_t>(pd + i * 8, (i << 21) | kPte_P | kPte_W | kPte_PS);
}

void build_loader_gdt(GuestMemory& mem) {
  const uint64_t gdt[3] = {0, 0x00af9a000000ffffULL /* 0x08 code64 */, 0x00cf92000000ffffULL /* 0x10 data */};
  mem.write(VTB_LOADER_GDT_GPA, gdt, sizeof gdt);
}

}  // namespace

Status place_image(const GuestImage& img, GuestMemory& mem, BootImage* boot) {
  static_assert(sizeof(vtb_boot_info) <= 0x1000, "boot info must fit one page");
  uint64_t lo = ~0ULL, hi = 0;
  for (const auto& s : img.kernel.segments) {
    if (s.paddr < kLowReservedEnd)
      return Status::bad_input(fmt("kernel segment at physical 0x%llx overlaps the loader area below 0x%llx",
                                   (ull)s.paddr, (ull)kLowReservedEnd));
    if (!mem.contains(s.paddr, s.memsz))
      return Status::bad_input(fmt("kernel segment [0x%llx, 0x%llx) lies outside guest memory (%zu MiB)",
                                   (ull)s.paddr, (ull)(s.paddr + s.memsz), mem.size() >> 20));
    mem.write(s.paddr, img.kernel.bytes.data() + s.file_offset, s.filesz);
    if (s.memsz > s.filesz) std::memset(mem.ptr(s.paddr + s.filesz, s.memsz - s.filesz), 0, s.memsz - s.filesz);
    lo = std::min(lo, s.paddr);
    hi = std::max(hi, s.paddr + s.memsz);
  }
  const uint64_t archive_gpa = page_up(hi);
  if (!img.archive.empty()) {
    vtb_archive_header ah{};
    if (img.archive.size() < sizeof ah) return Status::bad_input("program archive: truncated header");
    std::memcpy(&ah, img.archive.data(), sizeof ah);
    if (ah.magic != VTB_ARCHIVE_MAGIC) return Status::bad_input("program archive: bad magic (not a .vtba file)");
    if (!mem.contains(archive_gpa, img.archive.size()))
      return Status::bad_input(fmt("program archive (%zu bytes) does not fit in guest memory after the kernel",
                                   img.archive.size()));
    mem.write(archive_gpa, img.archive.data(), img.archive.size());
  }
  if (img.cmdline.size() >= VTB_CMDLINE_MAX)
    return Status::bad_input(fmt("kernel command line too long (%zu bytes, max %d)", img.cmdline.size(),
                                 VTB_CMDLINE_MAX - 1));
  vtb_boot_info bi{};
  bi.magic = VTB_BOOT_MAGIC;
  bi.flavor = static_cast<uint32_t>(img.flavor);
  bi.mem_bytes = mem.size();
  bi.archive_gpa = img.archive.empty() ? 0 : archive_gpa;
  bi.archive_size = img.archive.size();
  bi.kernel_end_gpa = page_up(archive_gpa + img.archive.size());
  std::memcpy(bi.cmdline, img.cmdline.data(), img.cmdline.size());
  mem.write_obj(VTB_BOOTINFO_GPA, bi);
  if (mem.size() > (uint64_t(kMaxGuestMemMib) << 20))
    return Status::bad_input(fmt("guest memory above %zu MiB is not supported by the loader mapping", kMaxGuestMemMib));
  build_loader_tables(mem);
  build_loader_gdt(mem);
  boot->entry = img.kernel.entry;
  boot->boot_info_gpa = VTB_BOOTINFO_GPA;
  boot->loader_cr3 = VTB_LOADER_PT_GPA;
  boot->loader_gdt_gpa = VTB_LOADER_GDT_GPA;
  boot->kernel_lo_gpa = lo;
  boot->kernel_hi_gpa = hi;
  boot->flavor = img.flavor;
  return Status::ok();
}

}  // namespace vtb
