/* tags: kernel — desc: freestanding memory and string helpers for tbk. */
#include "kern.h"

/* String instructions: one instruction per call however long the buffer,
 * which matters where every kernel instruction is emulated (kvm_pvm). */
void *memset(void *d, int c, size_t n) {
  void *p = d;
  uint64_t v = (uint8_t)c * 0x0101010101010101ULL;
  size_t q = n / 8, r = n % 8;
  __asm__ volatile("rep stosq" : "+D"(p), "+c"(q) : "a"(v) : "memory");
  __asm__ volatile("rep stosb" : "+D"(p), "+c"(r) : "a"(v) : "memory");
  return d;
}

/* Clear one 4 KiB page: a single `rep stosq`. */
void page_clear(void *page) {
  uint64_t n = PAGE / 8;
  __asm__ volatile("rep stosq" : "+D"(page), "+c"(n) : "a"(0ULL) : "memory");
}

void *memcpy(void *d, const void *s, size_t n) {
  void *p = d;
  size_t q = n / 8, r = n % 8;
  __asm__ volatile("rep movsq" : "+D"(p), "+S"(s), "+c"(q) : : "memory");
  __asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(r) : : "memory");
  return d;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q) return *p - *q;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

size_t strlcpy(char *d, const char *s, size_t n) {
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++) d[i] = s[i];
  if (n) d[i] = 0;
  return i;
}
