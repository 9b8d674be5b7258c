/* tags: workloads|programs — desc: memtouch PAGES: map PAGES fresh anonymous pages and touch each (page-fault heavy). */
#include "vtb.h"

int main(int argc, char **argv) {
  uint64_t pages = vtb_atou(argc > 1 ? argv[1] : 0, 1024);
  uint64_t len = pages * VTB_PAGE_SIZE;
  vtb_phase_begin(1);
  uint8_t *p = vtb_mmap(0, len, VTB_PROT_READ | VTB_PROT_WRITE);
  if (VTB_MMAP_FAILED(p)) {
    vtb_phase_end(1);
    printf("memtouch: mmap of %lu pages failed (%ld)\n", pages, (long)(intptr_t)p);
    return 1;
  }
  for (uint64_t i = 0; i < pages; i++) p[i * VTB_PAGE_SIZE] = (uint8_t)(i + 1);
  uint64_t sum = 0;
  for (uint64_t i = 0; i < pages; i++) sum += p[i * VTB_PAGE_SIZE + VTB_PAGE_SIZE - 1] + p[i * VTB_PAGE_SIZE];
  long r = vtb_munmap(p, len);
  vtb_phase_end(1);
  vtb_result("pages", "%lu", pages);
  printf("memtouch: %lu pages touched, sum %lu, munmap %ld\n", pages, sum, r);
  uint64_t expect = 0; /* first byte (i + 1) mod 256, last byte still zero */
  for (uint64_t i = 0; i < pages; i++) expect += (uint8_t)(i + 1);
  return r == 0 && sum == expect ? 0 : 1;
}
