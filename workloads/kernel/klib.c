/* tags: kernel — desc: freestanding memory and string helpers for tbk. */
#include "kern.h"

void *memset(void *d, int c, size_t n) {
  unsigned char *p = d;
  if (((uint64_t)p & 7) == 0 && (n & 7) == 0) {
    uint64_t v = (uint8_t)c * 0x0101010101010101ULL;
    for (uint64_t *q = d; n; n -= 8) *q++ = v;
    return d;
  }
  while (n--) *p++ = (unsigned char)c;
  return d;
}

void *memcpy(void *d, const void *s, size_t n) {
  if ((((uint64_t)d | (uint64_t)s | n) & 7) == 0) {
    uint64_t *q = d;
    const uint64_t *r = s;
    for (; n; n -= 8) *q++ = *r++;
    return d;
  }
  unsigned char *p = d;
  const unsigned char *r = s;
  while (n--) *p++ = *r++;
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
