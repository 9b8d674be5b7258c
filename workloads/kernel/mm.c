/* tags: kernel|mm — desc: physical frames (lazy bump + free list, refcounts) and 4-level page tables with COW. */
#include "kern.h"

uint64_t kernel_pml4_pa;
static uint64_t kernel_pdpt_pa;

/* Free physical memory: up to two bump ranges (below and above the program
 * archive), then a free list threaded through freed frames. RAM arrives
 * zeroed, so never-used frames need no clearing. */
static struct { uint64_t next, end; } range[2];
static uint64_t free_list; /* pa of the first free frame, 0 = empty */
static uint64_t free_count, bump_left;
static uint16_t refcnt[MAX_RAM / PAGE];

uint64_t mm_free_frames(void) { return free_count + bump_left; }

uint64_t frame_alloc(int zero) {
  uint64_t pa = 0;
  if (free_list) {
    pa = free_list;
    free_list = *(uint64_t *)P2V(pa);
    free_count--;
    if (zero) memset(P2V(pa), 0, PAGE);
    else *(uint64_t *)P2V(pa) = 0;
  } else {
    for (int i = 0; i < 2 && !pa; i++)
      if (range[i].next < range[i].end) {
        pa = range[i].next;
        range[i].next += PAGE;
        bump_left--;
      }
    if (!pa) return 0;
  }
  refcnt[pa / PAGE] = 1;
  return pa;
}

void frame_ref(uint64_t pa) { refcnt[pa / PAGE]++; }
unsigned frame_refcount(uint64_t pa) { return refcnt[pa / PAGE]; }

void frame_unref(uint64_t pa) {
  if (refcnt[pa / PAGE] == 0) panic("frame 0x%lx freed twice", pa);
  if (--refcnt[pa / PAGE]) return;
  *(uint64_t *)P2V(pa) = free_list;
  free_list = pa;
  free_count++;
}

static void add_range(int i, uint64_t lo, uint64_t hi) {
  lo = (lo + PAGE - 1) & PAGE_MASK;
  hi &= PAGE_MASK;
  if (hi <= lo) return;
  range[i].next = lo;
  range[i].end = hi;
  bump_left += (hi - lo) / PAGE;
}

static uint64_t new_table(int level) {
  uint64_t pa = frame_alloc(1);
  if (!pa) return 0;
  plat_pt_pin(pa, level);
  return pa;
}

void mm_init(void) {
  uint64_t lo = boot.free_lo, top = boot.mem_bytes;
  uint64_t alo = boot.archive_pa, ahi = boot.archive_pa + boot.archive_size;
  if (boot.archive_size && alo >= lo) {
    add_range(0, lo, alo);
    add_range(1, ahi, top);
  } else {
    add_range(0, lo, top);
  }
  /* The kernel half: PML4[VTB_KERNEL_PML4_SLOT] -> one PDPT whose first
   * entry maps RAM with 2 MiB pages (direct map, VBASE + pa). Shared by
   * every address space. Nothing is identity-mapped. */
  uint64_t pd = new_table(2);
  kernel_pdpt_pa = new_table(3);
  kernel_pml4_pa = new_table(4);
  if (!pd || !kernel_pdpt_pa || !kernel_pml4_pa) panic("out of memory building the kernel page tables");
  uint64_t *pde = P2V(pd);
  for (uint64_t pa = 0; pa < top; pa += 2ULL << 20)
    plat_pte_write(&pde[pa >> 21], pa | PTE_P | PTE_W | PTE_PS);
  plat_pte_write((uint64_t *)P2V(kernel_pdpt_pa), pd | PTE_P | PTE_W);
  plat_pte_write((uint64_t *)P2V(kernel_pml4_pa) + VTB_KERNEL_PML4_SLOT, kernel_pdpt_pa | PTE_P | PTE_W);
  plat_new_baseptr(kernel_pml4_pa);
}

uint64_t vm_new_space(void) {
  uint64_t pa = new_table(4);
  if (!pa) return 0;
  plat_pte_write((uint64_t *)P2V(pa) + VTB_KERNEL_PML4_SLOT, kernel_pdpt_pa | PTE_P | PTE_W);
  return pa;
}

uint64_t *vm_pte(uint64_t pml4, uint64_t va, int create) {
  uint64_t *table = P2V(pml4);
  for (int level = 4; level > 1; level--) {
    uint64_t *e = &table[(va >> (12 + 9 * (level - 1))) & 511];
    if (!(*e & PTE_P)) {
      if (!create) return 0;
      uint64_t t = new_table(level - 1);
      if (!t) return 0;
      plat_pte_write(e, t | PTE_P | PTE_W | PTE_U);
    } else if (*e & PTE_PS) {
      return 0; /* no huge pages in user space */
    }
    table = P2V(*e & PTE_ADDR);
  }
  return &table[(va >> 12) & 511];
}

int vm_map(uint64_t pml4, uint64_t va, uint64_t pa, uint64_t flags) {
  uint64_t *pte = vm_pte(pml4, va, 1);
  if (!pte) return -VTB_ENOMEM;
  plat_pte_write(pte, pa | flags | PTE_P);
  return 0;
}

static int is_current(uint64_t pml4) { return cur && cur->pml4 == pml4; }

void vm_unmap_range(uint64_t pml4, uint64_t lo, uint64_t hi) {
  for (uint64_t va = lo; va < hi; va += PAGE) {
    uint64_t *pte = vm_pte(pml4, va, 0);
    if (!pte || !(*pte & PTE_P)) continue;
    uint64_t pa = *pte & PTE_ADDR;
    plat_pte_write(pte, 0);
    if (is_current(pml4)) plat_invlpg(va);
    frame_unref(pa);
  }
  plat_pte_flush();
}

/* Walk the user half (PML4 slot 0) and call fn on every present leaf. */
typedef int (*leaf_fn)(uint64_t va, uint64_t *pte, void *arg);
static int walk_user(uint64_t pml4, leaf_fn fn, void *arg) {
  uint64_t *l4 = P2V(pml4);
  if (!(l4[0] & PTE_P)) return 0;
  uint64_t *l3 = P2V(l4[0] & PTE_ADDR);
  for (int i = 0; i < 512; i++) {
    if (!(l3[i] & PTE_P)) continue;
    uint64_t *l2 = P2V(l3[i] & PTE_ADDR);
    for (int j = 0; j < 512; j++) {
      if (!(l2[j] & PTE_P)) continue;
      uint64_t *l1 = P2V(l2[j] & PTE_ADDR);
      for (int k = 0; k < 512; k++) {
        if (!(l1[k] & PTE_P)) continue;
        uint64_t va = ((uint64_t)i << 30) | ((uint64_t)j << 21) | ((uint64_t)k << 12);
        int r = fn(va, &l1[k], arg);
        if (r) return r;
      }
    }
  }
  return 0;
}

static int cow_share(uint64_t va, uint64_t *pte, void *arg) {
  uint64_t child = *(uint64_t *)arg;
  uint64_t v = *pte;
  if (v & (PTE_W | PTE_COW)) {
    v = (v & ~PTE_W) | PTE_COW;
    if (v != *pte) plat_pte_write(pte, v);
  }
  uint64_t *c = vm_pte(child, va, 1);
  if (!c) return -VTB_ENOMEM;
  plat_pte_write(c, v);
  frame_ref(v & PTE_ADDR);
  return 0;
}

int vm_fork_copy(uint64_t parent, uint64_t child) {
  int r = walk_user(parent, cow_share, &child);
  plat_pte_flush();
  if (is_current(parent)) plat_flush_tlb(); /* parent pages just became read-only */
  return r;
}

void vm_free_space(uint64_t pml4) {
  uint64_t *l4 = P2V(pml4);
  if (l4[0] & PTE_P) {
    uint64_t *l3 = P2V(l4[0] & PTE_ADDR);
    for (int i = 0; i < 512; i++) {
      if (!(l3[i] & PTE_P)) continue;
      uint64_t *l2 = P2V(l3[i] & PTE_ADDR);
      for (int j = 0; j < 512; j++) {
        if (!(l2[j] & PTE_P)) continue;
        uint64_t *l1 = P2V(l2[j] & PTE_ADDR);
        for (int k = 0; k < 512; k++)
          if (l1[k] & PTE_P) frame_unref(l1[k] & PTE_ADDR);
        plat_pt_unpin(l2[j] & PTE_ADDR, 1);
        frame_unref(l2[j] & PTE_ADDR);
      }
      plat_pt_unpin(l3[i] & PTE_ADDR, 2);
      frame_unref(l3[i] & PTE_ADDR);
    }
    plat_pt_unpin(l4[0] & PTE_ADDR, 3);
    frame_unref(l4[0] & PTE_ADDR);
  }
  plat_pt_unpin(pml4, 4);
  frame_unref(pml4);
}

int vm_cow_fault(uint64_t pml4, uint64_t va) {
  uint64_t *pte = vm_pte(pml4, va & PAGE_MASK, 0);
  if (!pte || (*pte & (PTE_P | PTE_COW)) != (PTE_P | PTE_COW)) return 0;
  uint64_t old = *pte & PTE_ADDR;
  uint64_t flags = (*pte & ~PTE_ADDR & ~PTE_COW) | PTE_W;
  if (frame_refcount(old) == 1) {
    kstats.cow_reuse++;
    plat_pte_write(pte, old | flags);
  } else {
    uint64_t pa = frame_alloc(0);
    if (!pa) return 0;
    memcpy(P2V(pa), P2V(old), PAGE);
    kstats.cow_copies++;
    plat_pte_write(pte, pa | flags);
    frame_unref(old);
  }
  plat_invlpg(va & PAGE_MASK);
  return 1;
}
