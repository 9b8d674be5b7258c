/* tags: workloads|tools — desc: mkarchive OUT FILE...: pack guest program ELFs into a .vtba archive (format in vtb_abi.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/abi/vtb_abi.h"

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *buf = NULL;
  size_t cap = 0, n = 0, r;
  do {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      unsigned char *nb = realloc(buf, cap);
      if (!nb) { free(buf); fclose(f); return NULL; }
      buf = nb;
    }
    r = fread(buf + n, 1, cap - n, f);
    n += r;
  } while (r > 0);
  int err = ferror(f);
  fclose(f);
  if (err) { free(buf); return NULL; }
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mkarchive OUT.vtba [NAME=]FILE...\n");
    return 2;
  }
  int count = argc - 2;
  struct vtb_archive_header h = {VTB_ARCHIVE_MAGIC, (uint32_t)count};
  struct vtb_archive_entry *ent = calloc((size_t)count, sizeof *ent);
  unsigned char **blob = calloc((size_t)count, sizeof *blob);
  if (!ent || !blob) { fprintf(stderr, "mkarchive: out of memory\n"); return 1; }
  uint64_t off = sizeof h + (uint64_t)count * sizeof *ent;
  for (int i = 0; i < count; i++) {
    const char *arg = argv[2 + i], *eq = strchr(arg, '='), *path = eq ? eq + 1 : arg;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(base);
    if (nlen == 0 || nlen >= VTB_ARCHIVE_NAME_MAX) {
      fprintf(stderr, "mkarchive: program name of '%s' is empty or longer than %d bytes\n", arg, VTB_ARCHIVE_NAME_MAX - 1);
      return 1;
    }
    memcpy(ent[i].name, eq ? arg : base, nlen);
    for (int j = 0; j < i; j++)
      if (!strcmp(ent[j].name, ent[i].name)) {
        fprintf(stderr, "mkarchive: duplicate program name '%s'\n", ent[i].name);
        return 1;
      }
    size_t len = 0;
    blob[i] = slurp(path, &len);
    if (!blob[i]) { fprintf(stderr, "mkarchive: cannot read '%s'\n", path); return 1; }
    if (len < 4 || memcmp(blob[i], "\177ELF", 4)) { fprintf(stderr, "mkarchive: '%s' is not an ELF file\n", path); return 1; }
    off = (off + 15) & ~15ULL;
    ent[i].offset = off;
    ent[i].size = len;
    off += len;
  }
  FILE *o = fopen(argv[1], "wb");
  if (!o) { fprintf(stderr, "mkarchive: cannot create '%s'\n", argv[1]); return 1; }
  uint64_t pos = 0;
  static const unsigned char zeros[16];
  int ok = fwrite(&h, sizeof h, 1, o) == 1 && fwrite(ent, sizeof *ent, (size_t)count, o) == (size_t)count;
  pos = sizeof h + (uint64_t)count * sizeof *ent;
  for (int i = 0; ok && i < count; i++) {
    ok = fwrite(zeros, 1, ent[i].offset - pos, o) == ent[i].offset - pos &&
         fwrite(blob[i], 1, ent[i].size, o) == ent[i].size;
    pos = ent[i].offset + ent[i].size;
  }
  for (int i = 0; i < count; i++) free(blob[i]);
  free(blob);
  free(ent);
  if (fclose(o) || !ok) { fprintf(stderr, "mkarchive: write error on '%s'\n", argv[1]); remove(argv[1]); return 1; }
  return 0;
}
