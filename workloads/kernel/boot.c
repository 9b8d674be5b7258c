/* tags: kernel — desc: boot-info normalisation: vtb_boot_info (our engines) or PVH start info (QEMU -kernel). */
#include "kern.h"

struct bootcfg boot;
extern char _kernel_end[]; /* linker script: end of the loaded image (virtual) */

/* Xen PVH start info, as QEMU's PVH option ROM writes it (version 1). */
struct pvh_start_info {
  uint32_t magic, version, flags, nr_modules;
  uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
  uint32_t memmap_entries, reserved;
};
struct pvh_module { uint64_t paddr, size, cmdline_paddr, reserved; };
struct pvh_memmap { uint64_t addr, size; uint32_t type, reserved; };

static uint64_t page_up(uint64_t x) { return (x + PAGE - 1) & PAGE_MASK; }

static void from_pvh(const struct pvh_start_info *si) {
  boot.from_pvh = 1;
  uint64_t kend = page_up(V2P(_kernel_end));
  /* RAM = the E820 RAM range that holds the kernel. */
  if (si->version >= 1 && si->memmap_paddr) {
    const struct pvh_memmap *mm = P2V(si->memmap_paddr);
    for (uint32_t i = 0; i < si->memmap_entries; i++)
      if (mm[i].type == 1 && mm[i].addr <= VTB_KERNEL_PHYS_LOAD &&
          mm[i].addr + mm[i].size > VTB_KERNEL_PHYS_LOAD)
        boot.mem_bytes = mm[i].addr + mm[i].size;
  }
  if (!boot.mem_bytes) panic("PVH start info has no RAM range holding the kernel");
  if (si->cmdline_paddr) strlcpy(boot.cmdline, P2V(si->cmdline_paddr), sizeof boot.cmdline);
  /* QEMU passes -initrd as the first PVH module (placed near the top of RAM). */
  if (si->nr_modules >= 1 && si->modlist_paddr) {
    const struct pvh_module *m = P2V(si->modlist_paddr);
    boot.archive_pa = m[0].paddr;
    boot.archive_size = m[0].size;
  }
  boot.free_lo = kend;
}

static void from_vtb(const struct vtb_boot_info *bi) {
  boot.mem_bytes = bi->mem_bytes;
  boot.archive_pa = bi->archive_gpa;
  boot.archive_size = bi->archive_size;
  boot.free_lo = page_up(bi->kernel_end_gpa);
  uint64_t kend = page_up(V2P(_kernel_end));
  if (boot.free_lo < kend) boot.free_lo = kend;
  strlcpy(boot.cmdline, bi->cmdline, sizeof boot.cmdline);
}

void boot_parse(uint64_t boot_pa) {
  const uint32_t *magic = P2V(boot_pa);
  if (boot_pa && *magic == VTB_BOOT_MAGIC)
    from_vtb(P2V(boot_pa));
  else if (boot_pa && *magic == VTB_PVH_MAGIC)
    from_pvh(P2V(boot_pa));
  else
    panic("no boot info at 0x%lx (magic 0x%x)", boot_pa, boot_pa ? *magic : 0);
  if (boot.mem_bytes > MAX_RAM) boot.mem_bytes = MAX_RAM;
  if (boot.archive_size && boot.archive_pa + boot.archive_size > boot.mem_bytes)
    panic("program archive at 0x%lx lies outside the usable RAM", boot.archive_pa);
}
