/* tags: workloads|lib — desc: printf/snprintf and vtb_atou, shared by the guest and host-native builds (identical output). */
#include <stdarg.h>
#include "vtb.h"

struct out { char *buf; size_t cap, len; };

static void put(struct out *o, char c) {
  if (o->len + 1 < o->cap) o->buf[o->len] = c;
  o->len++;
}

static void num(struct out *o, uint64_t v, unsigned base, int neg, int width, char pad, int left) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  int len = n + neg;
  if (neg && pad == '0') put(o, '-');
  if (!left)
    for (int i = len; i < width; i++) put(o, pad);
  if (neg && pad != '0') put(o, '-');
  while (n) put(o, tmp[--n]);
  if (left)
    for (int i = len; i < width; i++) put(o, ' ');
}

static void vfmt(struct out *o, const char *f, va_list ap) {
  for (; *f; f++) {
    if (*f != '%') {
      put(o, *f);
      continue;
    }
    f++;
    int left = 0, width = 0, lng = 0;
    char pad = ' ';
    for (; *f == '-' || *f == '0'; f++) {
      if (*f == '-') left = 1;
      else pad = '0';
    }
    if (left) pad = ' ';
    while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
    while (*f == 'l' || *f == 'z') lng = 1, f++;
    switch (*f) {
      case 'd':
      case 'i': {
        int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
        num(o, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, v < 0, width, pad, left);
        break;
      }
      case 'u': num(o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0, width, pad, left); break;
      case 'x': num(o, lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0, width, pad, left); break;
      case 'p':
        put(o, '0');
        put(o, 'x');
        num(o, (uint64_t)va_arg(ap, void *), 16, 0, width, pad, left);
        break;
      case 'c': put(o, (char)va_arg(ap, int)); break;
      case 's': {
        const char *s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        int n = (int)strlen(s);
        if (!left)
          for (int i = n; i < width; i++) put(o, ' ');
        while (*s) put(o, *s++);
        if (left)
          for (int i = n; i < width; i++) put(o, ' ');
        break;
      }
      case '%': put(o, '%'); break;
      case 0: return;
      default: put(o, '%'); put(o, *f); break;
    }
  }
}

int snprintf(char *buf, size_t n, const char *fmt, ...) {
  struct out o = {buf, n, 0};
  va_list ap;
  va_start(ap, fmt);
  vfmt(&o, fmt, ap);
  va_end(ap);
  if (n) buf[o.len < n ? o.len : n - 1] = 0;
  return (int)o.len;
}

int printf(const char *fmt, ...) {
  char buf[512];
  struct out o = {buf, sizeof buf, 0};
  va_list ap;
  va_start(ap, fmt);
  vfmt(&o, fmt, ap);
  va_end(ap);
  size_t len = o.len < sizeof buf ? o.len : sizeof buf - 1;
  vtb_write(1, buf, len);
  return (int)o.len;
}

/* used by report.c */
int vtb_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) {
  struct out o = {buf, n, 0};
  vfmt(&o, fmt, ap);
  if (n) buf[o.len < n ? o.len : n - 1] = 0;
  return (int)o.len;
}

uint64_t vtb_atou(const char *s, uint64_t dflt) {
  if (!s || !*s) return dflt;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return dflt;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  return v;
}
