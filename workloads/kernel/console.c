/* tags: kernel — desc: console (16550 UART, polled), control channel records, panic and exit. */
#include <stdarg.h>
#include "kern.h"

#define UART_THR 0
#define UART_LSR 5
#define LSR_THRE 0x20

void kputc(char c) {
  /* Poll "transmit holding register empty" a bounded number of times: a
   * device model that never sets it must not hang the kernel. */
  for (int i = 0; i < 100000; i++)
    if (plat_inb(VTB_PORT_UART + UART_LSR) & LSR_THRE) break;
  plat_outb(VTB_PORT_UART + UART_THR, (uint8_t)c);
}

void kputs(const char *s) {
  while (*s) kputc(*s++);
}

void ctrl_write(const char *buf, size_t n) {
  for (size_t i = 0; i < n; i++) plat_outb(VTB_PORT_CTRL, (uint8_t)buf[i]);
}

static void put_num(uint64_t v, unsigned base, int width, char pad) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  while (width-- > n) kputc(pad);
  while (n) kputc(tmp[--n]);
}

static void kvprintf(const char *fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      kputc(*fmt);
      continue;
    }
    fmt++;
    char pad = ' ';
    int width = 0, lng = 0;
    if (*fmt == '0') pad = '0', fmt++;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l') lng = 1, fmt++;
    switch (*fmt) {
      case 'd': {
        int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
        if (v < 0) kputc('-'), v = -v;
        put_num((uint64_t)v, 10, width, pad);
        break;
      }
      case 'u': put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width, pad); break;
      case 'x': put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width, pad); break;
      case 'p': kputs("0x"); put_num(va_arg(ap, uint64_t), 16, width, pad); break;
      case 's': {
        const char *s = va_arg(ap, const char *);
        kputs(s ? s : "(null)");
        break;
      }
      case 'c': kputc((char)va_arg(ap, int)); break;
      case '%': kputc('%'); break;
      default: kputc('%'); kputc(*fmt); break;
    }
    if (!*fmt) break;
  }
}

void kprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kvprintf(fmt, ap);
  va_end(ap);
}

/* "R <name> <v>\n" on the control channel. */
static void ctrl_record(const char *name, uint64_t v) {
  char line[64] = "R ";
  size_t n = 2;
  while (*name && n < 40) line[n++] = *name++;
  line[n++] = ' ';
  char tmp[24];
  int k = 0;
  do tmp[k++] = (char)('0' + v % 10), v /= 10; while (v);
  while (k) line[n++] = tmp[--k];
  line[n++] = '\n';
  ctrl_write(line, n);
}

void kexit(uint32_t code) {
  /* Only on backends that needed them (kvm_pvm), so other runs stay identical. */
  if (kstats.syscall_gp_compat) ctrl_record("tbk.syscall_gp_compat", kstats.syscall_gp_compat);
  if (kstats.syscall_pf_compat) ctrl_record("tbk.syscall_pf_compat", kstats.syscall_pf_compat);
  plat_outl(VTB_PORT_EXIT, code);
  plat_halt_forever();
}

void panic(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  kputs("tbk: panic: ");
  kvprintf(fmt, ap);
  kputc('\n');
  va_end(ap);
  kexit(VTB_EXIT_PANIC);
}
