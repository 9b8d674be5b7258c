/* tags: workloads|programs — desc: memtouch PAGES [ROUNDS]: ROUNDS x (map PAGES fresh anonymous pages, touch each, unmap) (page-fault heavy). */
#include "vtb.h"

/* One round: map `pages` fresh anonymous pages, touch each, sum two bytes of each, unmap.
 * Returns munmap's result, or 1 when the mapping failed (reported). */
static long touch_round(uint64_t pages, uint64_t *sum) {
  uint64_t len = pages * VTB_PAGE_SIZE;
  uint8_t *p = vtb_mmap(0, len, VTB_PROT_READ | VTB_PROT_WRITE);
  if (VTB_MMAP_FAILED(p)) {
    printf("memtouch: mmap of %lu pages failed (%ld)\n", pages, (long)(intptr_t)p);
    return 1;
  }
  for (uint64_t i = 0; i < pages; i++) p[i * VTB_PAGE_SIZE] = (uint8_t)(i + 1);
  *sum = 0;
  for (uint64_t i = 0; i < pages; i++) *sum += p[i * VTB_PAGE_SIZE + VTB_PAGE_SIZE - 1] + p[i * VTB_PAGE_SIZE];
  return vtb_munmap(p, len);
}

int main(int argc, char **argv) {
  uint64_t pages = vtb_atou(argc > 1 ? argv[1] : 0, 1024);
  /* ROUNDS repeats the whole map-touch-unmap inside the one phase 1: an
   * iteration count the bench may scale (pages is a size bounded by guest memory). */
  uint64_t rounds = vtb_atou(argc > 2 ? argv[2] : 0, 1);
  uint64_t expect = 0; /* first byte (i + 1) mod 256, last byte still zero */
  for (uint64_t i = 0; i < pages; i++) expect += (uint8_t)(i + 1);
  uint64_t sum = 0;
  long r = 0;
  int bad = 0;
  vtb_phase_begin(1);
  for (uint64_t k = 0; k < rounds && !bad; k++) {
    r = touch_round(pages, &sum);
    bad = r != 0 || sum != expect;
  }
  vtb_phase_end(1);
  vtb_result("ops", "%lu", pages * rounds);
  vtb_result("pages", "%lu", pages);
  printf("memtouch: %lu pages touched, sum %lu, munmap %ld\n", pages, sum, r);
  return bad ? 1 : 0;
}
