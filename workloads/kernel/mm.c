/* tags: kernel|mm — desc: physical frames (lazy bump + free list, refcounts) and 4-level page tables with COW. */
#include "kern.h"

uint64_t kernel_pml4_pa;
static uint64_t kernel_pdpt_pa;

/* Free physical memory: freed frames first (hot: last freed, first
 * reused), then up to two bump ranges of never-used frames (below and above
 * the program archive). Where clearing a page is cheap (plat_page_clear_cheap:
 * pv) a freed frame is reused before a never-used one, also for a zero page
 * (cleared then), as Linux's per-CPU lists do: the set of frames the guest
 * touches stays as small as its working set, whatever the number of
 * map/unmap rounds. Freed dirty frames sit on a stack of frame
 * numbers beside them (sized to RAM at mm_init), not on a list threaded
 * through them: freeing or reusing a frame writes nothing into it through
 * the direct map (on pv, clearing and copying go through the engine). */
static struct { uint64_t next, end; } range[2];
static uint32_t *dirty_stack; /* freed dirty frames (frame numbers) */
static uint64_t dirty_count;
static uint64_t free_zero; /* a list (pa, 0 = empty) of known-zero frames */
static uint64_t free_count, bump_left;
/* Page tables come from their own pool first (a bump range, then a free
 * list of released tables): all tables sit in a few contiguous runs, so a
 * pv engine that keeps them read-only re-protects one run, not one per
 * table (docs/pv.md). Other frames use the pool only when nothing else is left. */
#define TABLE_POOL_FRAMES 256
static struct { uint64_t next, end; } table_pool;
/* Released pool frames: a stack beside them, not a list threaded through
 * them, so that a released table is not written until it is used again (a
 * pv engine may keep it read-only until then). */
static uint32_t free_table[TABLE_POOL_FRAMES];
static unsigned free_tables;
static uint16_t refcnt[MAX_RAM / PAGE];

uint64_t mm_free_frames(void) { return free_count + bump_left; }

static uint64_t pop(uint64_t *list) {
  uint64_t pa = *list;
  *list = *(uint64_t *)P2V(pa);
  *(uint64_t *)P2V(pa) = 0; /* the link was the only non-zero word of a zero frame */
  free_count--;
  return pa;
}

/* A known-zero frame of the table pool, or 0. */
static uint64_t table_pool_take(void) {
  if (free_tables) {
    free_count--;
    return (uint64_t)free_table[--free_tables] * PAGE;
  }
  if (table_pool.next >= table_pool.end) return 0;
  bump_left--;
  table_pool.next += PAGE;
  if (boot.from_pvh) plat_page_clear(table_pool.next - PAGE); /* RAM is not known-zero under QEMU */
  return table_pool.next - PAGE;
}

/* The most recently freed dirty frame, cleared when `zero`. */
static uint64_t take_dirty(int zero) {
  free_count--;
  uint64_t pa = (uint64_t)dirty_stack[--dirty_count] * PAGE;
  if (zero) plat_page_clear(pa);
  return pa;
}

/* A frame with refcount 1. zero: its contents must read as zero. Order:
 * known-zero frames for a zero request (page-table pages cleared when
 * freed); then the most recently freed dirty frame -- for a zero request
 * only where the flavor clears a page cheaply (pv: through the engine; the
 * native flavor's `rep stosq` costs ~0.7 ms per page on kvm@pvm, which
 * emulates every kernel instruction, so there zero requests take
 * never-used frames while they last); then never-used frames; then dirty
 * ones (cleared); then the table pool. */
uint64_t frame_alloc(int zero) {
  uint64_t pa = 0;
  if (zero) { /* branches ordered for the fewest instructions on the native flavor */
    if (free_zero) pa = pop(&free_zero);
    else if (plat_page_clear_cheap && dirty_count) pa = take_dirty(1);
  } else if (dirty_count) {
    pa = take_dirty(0);
  } else if (free_zero) {
    pa = pop(&free_zero);
  }
  for (int i = 0; i < 2 && !pa; i++)
    if (range[i].next < range[i].end) {
      pa = range[i].next;
      range[i].next += PAGE;
      bump_left--;
      /* Never-used RAM is zero only where the loader says so (vtb's engines:
       * a fresh memfd). Under QEMU (PVH) firmware and the PVH loader leave
       * data in RAM: memtouch read non-zero "fresh" pages once the bump
       * reached them (qemu-tcg, ~12 rounds of 1024 pages in 64 MiB). */
      if (zero && boot.from_pvh) plat_page_clear(pa);
    }
  if (!pa && dirty_count) pa = take_dirty(zero);
  if (!pa) pa = table_pool_take();
  if (!pa) return 0;
  refcnt[pa / PAGE] = 1;
  return pa;
}

static void push(uint64_t *list, uint64_t pa) {
  *(uint64_t *)P2V(pa) = *list;
  *list = pa;
  free_count++;
}

/* Free a frame of refcount 1 whose contents are all zero (back to the
 * table pool when it came from there). */
static void frame_free_zeroed(uint64_t pa) {
  if (refcnt[pa / PAGE] != 1) panic("zeroed frame 0x%lx freed with refcount %u", pa, refcnt[pa / PAGE]);
  refcnt[pa / PAGE] = 0;
  if (table_pool.end && pa >= table_pool.end - TABLE_POOL_FRAMES * PAGE && pa < table_pool.end) {
    free_table[free_tables++] = (uint32_t)(pa / PAGE);
    free_count++;
  } else {
    push(&free_zero, pa);
  }
}

void frame_ref(uint64_t pa) { refcnt[pa / PAGE]++; }
unsigned frame_refcount(uint64_t pa) { return refcnt[pa / PAGE]; }

void frame_unref(uint64_t pa) {
  if (refcnt[pa / PAGE] == 0) panic("frame 0x%lx freed twice", pa);
  if (--refcnt[pa / PAGE]) return;
  dirty_stack[dirty_count++] = (uint32_t)(pa / PAGE);
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
  uint64_t pa = table_pool_take();
  if (pa) refcnt[pa / PAGE] = 1;
  else pa = frame_alloc(1);
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
  /* The dirty-frame stack: one 32-bit slot per frame of RAM, from the first
   * range with room (16 pages for 64 MiB). */
  uint64_t stack_pages = (top / PAGE * sizeof *dirty_stack + PAGE - 1) / PAGE;
  for (int i = 0; i < 2 && !dirty_stack; i++)
    if (range[i].end - range[i].next >= 2 * stack_pages * PAGE) {
      dirty_stack = P2V(range[i].next);
      range[i].next += stack_pages * PAGE;
      bump_left -= stack_pages;
    }
  if (!dirty_stack) panic("no room for the free-frame stack (%lu pages)", stack_pages);
  for (int i = 0; i < 2; i++) /* the table pool: the start of a range that has room for it */
    if (range[i].end - range[i].next >= 4ULL * TABLE_POOL_FRAMES * PAGE) {
      table_pool.next = range[i].next;
      table_pool.end = range[i].next += TABLE_POOL_FRAMES * PAGE;
      break;
    }
  /* The kernel half: PML4[VTB_KERNEL_PML4_SLOT] -> one PDPT whose first
   * entry maps RAM with 2 MiB pages (direct map, VBASE + pa). Shared by
   * every address space. Nothing is identity-mapped. */
  kernel_pdpt_pa = new_table(3);
  kernel_pml4_pa = new_table(4);
  if (!kernel_pdpt_pa || !kernel_pml4_pa) panic("out of memory building the kernel page tables");
  for (uint64_t gb = 0; gb < top; gb += 1ULL << 30) { /* one PD per GiB of RAM */
    uint64_t pd = new_table(2);
    if (!pd) panic("out of memory building the kernel page tables");
    uint64_t *pde = P2V(pd);
    for (uint64_t pa = gb; pa < top && pa < gb + (1ULL << 30); pa += 2ULL << 20)
      plat_pte_write(&pde[(pa >> 21) & 511], pa | PTE_P | PTE_W | PTE_PS);
    plat_pte_write((uint64_t *)P2V(kernel_pdpt_pa) + (gb >> 30), pd | PTE_P | PTE_W);
  }
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

/* Unmapping goes in chunks: the chunk's entries are cleared (one batch on
 * pv), the TLB is invalidated (per page, or whole past UNMAP_FULL_FLUSH
 * pages, as Linux's single-page flush ceiling), then its frames are freed. */
#define UNMAP_CHUNK 64
#define UNMAP_FULL_FLUSH 32
static void unmap_chunk_done(int current, const uint64_t *va, const uint64_t *pa, int n) {
  plat_pte_flush();
  if (current && n > UNMAP_FULL_FLUSH) plat_flush_tlb();
  else if (current)
    for (int i = 0; i < n; i++) plat_invlpg(va[i]);
  for (int i = 0; i < n; i++) frame_unref(pa[i]);
}

void vm_unmap_range(uint64_t pml4, uint64_t lo, uint64_t hi) {
  uint64_t vas[UNMAP_CHUNK], pas[UNMAP_CHUNK];
  int n = 0, current = is_current(pml4);
  for (uint64_t va = lo; va < hi; va += PAGE) {
    uint64_t *pte = vm_pte(pml4, va, 0);
    if (!pte || !(*pte & PTE_P)) continue;
    vas[n] = va;
    pas[n++] = *pte & PTE_ADDR;
    plat_pte_write(pte, 0);
    if (n == UNMAP_CHUNK) {
      unmap_chunk_done(current, vas, pas, n);
      n = 0;
    }
  }
  unmap_chunk_done(current, vas, pas, n);
}

/* Index of the first non-zero entry in t[from, 512), or 512: one `repe
 * scasq` instead of a loop (tables hold only zero or present entries). */
static int next_used(const uint64_t *t, int from) {
  if (from >= 512) return 512;
  const uint64_t *p = t + from;
  uint64_t n = 512 - (uint64_t)from;
  __asm__ volatile("repe scasq" : "+D"(p), "+c"(n) : "a"(0ULL) : "cc", "memory");
  int i = (int)(p - t) - 1;
  return t[i] ? i : 512;
}
#define FOR_USED(i, t) for (int i = next_used(t, 0); i < 512; i = next_used(t, i + 1))

/* Walk the user half (PML4 slot 0) and call fn on every present leaf. */
typedef int (*leaf_fn)(uint64_t va, uint64_t *pte, void *arg);
static int walk_user(uint64_t pml4, leaf_fn fn, void *arg) {
  uint64_t *l4 = P2V(pml4);
  if (!(l4[0] & PTE_P)) return 0;
  uint64_t *l3 = P2V(l4[0] & PTE_ADDR);
  FOR_USED(i, l3) {
    uint64_t *l2 = P2V(l3[i] & PTE_ADDR);
    FOR_USED(j, l2) {
      uint64_t *l1 = P2V(l2[j] & PTE_ADDR);
      FOR_USED(k, l1) {
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

/* A table page leaves use: unpin it (it becomes ordinary memory), clear
 * the few entries that were in use, and free it as a known-zero frame. */
static void table_free(uint64_t pa, int level) {
  plat_pt_unpin(pa, level);
  uint64_t *t = P2V(pa);
  FOR_USED(i, t) t[i] = 0;
  frame_free_zeroed(pa);
}

/* Free a whole address space (not the loaded one: the caller switched away). */
void vm_free_space(uint64_t pml4) {
  uint64_t *l4 = P2V(pml4);
  if (l4[0] & PTE_P) {
    uint64_t *l3 = P2V(l4[0] & PTE_ADDR);
    FOR_USED(i, l3) {
      uint64_t *l2 = P2V(l3[i] & PTE_ADDR);
      FOR_USED(j, l2) {
        uint64_t *l1 = P2V(l2[j] & PTE_ADDR);
        FOR_USED(k, l1) frame_unref(l1[k] & PTE_ADDR);
        table_free(l2[j] & PTE_ADDR, 1);
      }
      table_free(l3[i] & PTE_ADDR, 2);
    }
    table_free(l4[0] & PTE_ADDR, 3);
  }
  table_free(pml4, 4);
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
    plat_page_copy(pa, old);
    kstats.cow_copies++;
    plat_pte_write(pte, pa | flags);
    frame_unref(old);
  }
  plat_invlpg(va & PAGE_MASK);
  return 1;
}
