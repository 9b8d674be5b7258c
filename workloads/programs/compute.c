/* tags: workloads|programs — desc: compute N: CPU-bound (N rounds of mix + insertion sort over a fixed buffer); prints `result <hex>`. */
#include "vtb.h"

#define WORDS 512
static uint64_t buf[WORDS];

static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dULL;
  return x ^ (x >> 33);
}

int main(int argc, char **argv) {
  uint64_t n = vtb_atou(argc > 1 ? argv[1] : 0, 200);
  uint64_t s = 0x243f6a8885a308d3ULL, h = 0;
  vtb_phase_begin(1);
  for (uint64_t r = 0; r < n; r++) {
    for (int i = 0; i < WORDS; i++) buf[i] = mix(s + (uint64_t)i * 0x9e3779b97f4a7c15ULL + r);
    for (int i = 1; i < WORDS; i++) { /* insertion sort: branchy, memory-light */
      uint64_t v = buf[i];
      int j = i - 1;
      while (j >= 0 && buf[j] > v) {
        buf[j + 1] = buf[j];
        j--;
      }
      buf[j + 1] = v;
    }
    for (int i = 0; i < WORDS; i++) h = mix(h ^ buf[i]) + (uint64_t)i;
    s = h;
  }
  vtb_phase_end(1);
  vtb_result("result", "%lx", h);
  printf("result %lx\n", h);
  return 0;
}
