/* tags: kernel|exec — desc: the in-memory program archive and exec of static ELF64 programs (argv on the user stack). */
#include "kern.h"

#define STACK_VMA_SIZE (1ULL << 20)
#define ARGV_MAX 32

struct elf64_ehdr {
  uint8_t ident[16];
  uint16_t type, machine;
  uint32_t version;
  uint64_t entry, phoff, shoff;
  uint32_t flags;
  uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf64_phdr {
  uint32_t type, flags;
  uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
#define PT_LOAD 1
#define PF_W 2

const void *archive_find(const char *name, uint64_t *size) {
  if (!boot.archive_size || boot.archive_size < sizeof(struct vtb_archive_header)) return 0;
  const uint8_t *base = P2V(boot.archive_pa);
  const struct vtb_archive_header *h = (const void *)base;
  if (h->magic != VTB_ARCHIVE_MAGIC) return 0;
  uint64_t n = h->count;
  if (n > (boot.archive_size - sizeof *h) / sizeof(struct vtb_archive_entry)) return 0;
  const struct vtb_archive_entry *e = (const void *)(h + 1);
  for (uint64_t i = 0; i < n; i++) {
    if (memcmp(e[i].name, name, strlen(name) + 1)) continue;
    if (e[i].offset > boot.archive_size || e[i].size > boot.archive_size - e[i].offset) return 0;
    *size = e[i].size;
    return base + e[i].offset;
  }
  return 0;
}

static long load_elf(uint64_t pml4, struct vma *vmas, const uint8_t *img, uint64_t size, uint64_t *entry) {
  const struct elf64_ehdr *eh = (const void *)img;
  if (size < sizeof *eh || memcmp(eh->ident, "\177ELF", 4) || eh->ident[4] != 2 || eh->machine != 62 ||
      eh->type != 2 || eh->phentsize != sizeof(struct elf64_phdr) || eh->phoff > size ||
      (uint64_t)eh->phnum * sizeof(struct elf64_phdr) > size - eh->phoff)
    return -VTB_EINVAL;
  const struct elf64_phdr *ph = (const void *)(img + eh->phoff);
  int nv = 0;
  for (int i = 0; i < eh->phnum; i++) {
    const struct elf64_phdr *p = &ph[i];
    if (p->type != PT_LOAD || !p->memsz) continue;
    if (p->vaddr < VTB_USER_BASE || p->memsz > VTB_USER_MMAP_BASE || p->vaddr + p->memsz > VTB_USER_MMAP_BASE ||
        p->filesz > p->memsz || p->offset > size || p->filesz > size - p->offset || nv == NVMA - 2)
      return -VTB_EINVAL;
    uint64_t lo = p->vaddr & PAGE_MASK, hi = (p->vaddr + p->memsz + PAGE - 1) & PAGE_MASK;
    uint64_t w = (p->flags & PF_W) ? PTE_W : 0;
    vmas[nv++] = (struct vma){lo, hi, w};
    for (uint64_t va = lo; va < hi; va += PAGE) {
      uint64_t *pte = vm_pte(pml4, va, 1);
      if (!pte) return -VTB_ENOMEM;
      /* The entry is not read back after the write: writes may be queued
       * until plat_pte_flush (pv batches them). */
      uint64_t pa = *pte & PTE_ADDR;
      if (!(*pte & PTE_P)) {
        pa = frame_alloc(1);
        if (!pa) return -VTB_ENOMEM;
        plat_pte_write(pte, pa | PTE_P | PTE_U | w);
      } else if (w) {
        plat_pte_write(pte, *pte | w);
      }
      /* copy the file bytes that fall in this page */
      uint64_t flo = p->vaddr, fhi = p->vaddr + p->filesz;
      uint64_t a = va > flo ? va : flo, b = va + PAGE < fhi ? va + PAGE : fhi;
      if (a < b) memcpy((uint8_t *)P2V(pa) + (a - va), img + p->offset + (a - flo), b - a);
    }
    plat_pte_flush(); /* the next segment may share this one's last page: it reads that entry */
  }
  if (!nv || eh->entry < VTB_USER_BASE || eh->entry >= VTB_USER_MMAP_BASE) return -VTB_EINVAL;
  *entry = eh->entry;
  return nv;
}

/* Replace p's image with program `name`; on failure p is unchanged. */
long proc_exec_image(struct proc *p, const char *name, int argc, char **argv) {
  uint64_t size;
  const uint8_t *img = archive_find(name, &size);
  if (!img) {
    kprintf("tbk: no program '%s' in the archive\n", name);
    return -VTB_EINVAL;
  }
  uint64_t pml4 = vm_new_space(), entry = 0;
  if (!pml4) return -VTB_ENOMEM;
  struct vma vmas[NVMA];
  memset(vmas, 0, sizeof vmas);
  long nv = load_elf(pml4, vmas, img, size, &entry);
  /* Stack: a lazily filled VMA below VTB_USER_STACK_TOP; the top page now. */
  uint64_t top = VTB_USER_STACK_TOP, spage = frame_alloc(1);
  if (nv >= 0 && (!spage || vm_map(pml4, top - PAGE, spage, PTE_U | PTE_W) < 0)) nv = -VTB_ENOMEM;
  /* argv: strings at the top of the stack page, then argc, argv[], NULL, envp NULL */
  uint64_t sp = top;
  uint64_t uargv[ARGV_MAX + 1];
  if (argc > ARGV_MAX) argc = ARGV_MAX;
  uint8_t *kpage = spage ? P2V(spage) : 0;
  for (int i = argc - 1; i >= 0 && nv >= 0; i--) {
    uint64_t n = strlen(argv[i]) + 1;
    if (top - sp + n > PAGE / 2) { nv = -VTB_EINVAL; break; }
    sp -= n;
    memcpy(kpage + (sp - (top - PAGE)), argv[i], n);
    uargv[i] = sp;
  }
  if (nv < 0) {
    plat_pte_flush(); /* the stack entry is read back */
    uint64_t *e = vm_pte(pml4, top - PAGE, 0);
    if (spage && !(e && (*e & PTE_P))) frame_unref(spage);
    vm_free_space(pml4);
    return nv;
  }
  uargv[argc] = 0;
  sp &= ~15ULL;
  if ((argc & 1) == 0) sp -= 8; /* rsp % 16 == 0 at _start after argc/argv/NULL/NULL */
  sp -= 8 * (uint64_t)(argc + 3);
  uint64_t *w = (uint64_t *)(kpage + (sp - (top - PAGE)));
  w[0] = (uint64_t)argc;
  for (int i = 0; i <= argc; i++) w[1 + i] = uargv[i];
  w[argc + 2] = 0; /* envp */
  vmas[nv++] = (struct vma){top - STACK_VMA_SIZE, top, PTE_W};
  plat_pte_flush();

  uint64_t old = p->pml4;
  p->pml4 = pml4;
  memcpy(p->vma, vmas, sizeof vmas);
  p->mmap_next = VTB_USER_MMAP_BASE;
  strlcpy(p->name, name, sizeof p->name);
  if (p == cur) proc_load_space(pml4);
  if (old) vm_free_space(old);
  struct trapframe *tf = proc_tf(p);
  memset(tf, 0, sizeof *tf);
  plat_user_frame(tf, entry, sp);
  return 0;
}
