/* tags: workloads|lib — desc: report API: phase markers and result records as control-channel lines. */
#include <stdarg.h>
#include "vtb.h"

int vtb_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

static void record(const char *line) { vtb_ctrl(line, strlen(line)); }

void vtb_phase_begin(int phase) {
  char b[32];
  snprintf(b, sizeof b, "%c %d\n", VTB_CTRL_BEGIN, phase);
  record(b);
}

void vtb_phase_end(int phase) {
  char b[32];
  snprintf(b, sizeof b, "%c %d\n", VTB_CTRL_END, phase);
  record(b);
}

void vtb_result(const char *key, const char *fmt, ...) {
  char b[256];
  int n = snprintf(b, sizeof b, "%c %s ", VTB_CTRL_RESULT, key);
  if (n < 0 || n >= (int)sizeof b - 2) return;
  va_list ap;
  va_start(ap, fmt);
  int m = vtb_vsnprintf(b + n, sizeof b - (size_t)n - 1, fmt, ap);
  va_end(ap);
  n += m;
  if (n > (int)sizeof b - 2) n = (int)sizeof b - 2;
  b[n] = '\n';
  b[n + 1] = 0;
  record(b);
}
