/* tags: harness|fuzz — desc: the fuzz program generator, shared by the guest driver (workloads/programs/fuzz.c) and `vtb fuzz`.
 *
 * Plain C, freestanding: the guest driver compiles it with the guest flags,
 * the harness with the host C++ compiler. Every program is a pure function
 * of (kind, seed, index): the same triple gives the same bytes everywhere
 * (harness/fuzz/tests/fuzz_gen_test.cpp checks it). docs/reliability.md. */
#ifndef VTB_FUZZ_GEN_H
#define VTB_FUZZ_GEN_H

#include <stddef.h>
#include <stdint.h>

enum fz_kind { FZ_FLIP = 0, FZ_RAND = 1, FZ_SEQ = 2 };

/* The code page of a rand/seq program: mapped by the child at the first
 * anonymous mmap address (VTB_USER_MMAP_BASE); data page right after it. */
#define FZ_CODE_MAX 4096
#define FZ_DATA_BYTES 128         /* the [r15 + 0..127] slots of a seq program */
#define FZ_STATE_OFF 0x100        /* seq: where the epilogue stores the registers */
#define FZ_SEQ_INSNS 48           /* instructions per seq program */
#define FZ_RAND_MIN 16            /* random bytes per rand program: 16..79 */
#define FZ_RAND_SPAN 64
/* The driver's default budget per program, in guest timer ticks (100 Hz):
 * a program still running then is killed and counted as a guest hang. */
#define FZ_BUDGET_TICKS 50

typedef struct { uint64_t s; } fz_rng;

static inline uint64_t fz_next(fz_rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* One independent stream per (kind, seed, index). */
static inline fz_rng fz_stream(int kind, uint64_t seed, uint64_t index) {
  fz_rng r = {seed ^ (0x5eedULL << 48) ^ ((uint64_t)kind << 40)};
  r.s ^= fz_next(&r) + index * 0xd1342543de82ef95ULL;
  fz_next(&r);
  return r;
}

/* The flip kind mutates one of these programs (name, argument) of the
 * archive: short runs of real programs. */
static const char *const fz_flip_names[] = {"hello", "compute", "syscall_loop", "forkwait", "memtouch", "badptr", "ctxswitch"};
static const char *const fz_flip_args[] = {"x", "2", "40", "3", "6", "", "5"};
#define FZ_FLIP_TEMPLATES 7
static inline int fz_flip_template(uint64_t seed, uint64_t index) {
  fz_rng r = fz_stream(FZ_FLIP, seed, index);
  return (int)(fz_next(&r) % FZ_FLIP_TEMPLATES);
}

/* ---- an x86-64 byte emitter ---- */
typedef struct { uint8_t *p; size_t n, max; } fz_buf;
static inline void fz_b(fz_buf *b, uint8_t v) { if (b->n < b->max) b->p[b->n] = v; b->n++; }
static inline void fz_u32(fz_buf *b, uint32_t v) { for (int i = 0; i < 4; ++i) fz_b(b, (uint8_t)(v >> (8 * i))); }
static inline void fz_movabs(fz_buf *b, int reg, uint64_t v) { /* movabs $v, %reg */
  fz_b(b, (uint8_t)(0x48 | (reg >> 3))); fz_b(b, (uint8_t)(0xb8 | (reg & 7)));
  for (int i = 0; i < 8; ++i) fz_b(b, (uint8_t)(v >> (8 * i)));
}
static inline void fz_rr(fz_buf *b, uint8_t op0, int op1, int reg, int rm) { /* REX.W op reg, rm (mod 3) */
  fz_b(b, (uint8_t)(0x48 | ((reg >> 3) << 2) | (rm >> 3))); fz_b(b, op0);
  if (op1 >= 0) fz_b(b, (uint8_t)op1);
  fz_b(b, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
}
static inline void fz_m15(fz_buf *b, uint8_t op, int reg, uint32_t disp) { /* op reg, disp32(%r15) */
  fz_b(b, (uint8_t)(0x49 | ((reg >> 3) << 2))); fz_b(b, op); fz_b(b, (uint8_t)(0x87 | ((reg & 7) << 3))); fz_u32(b, disp);
}
static inline void fz_push(fz_buf *b, int reg) { if (reg >= 8) fz_b(b, 0x41); fz_b(b, (uint8_t)(0x50 | (reg & 7))); }
static inline void fz_pop(fz_buf *b, int reg) { if (reg >= 8) fz_b(b, 0x41); fz_b(b, (uint8_t)(0x58 | (reg & 7))); }

/* registers a seq body may name: all but %rsp (4) and %r15 (15, the data base) */
static const int fz_regs[14] = {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
static inline int fz_reg(fz_rng *r) { return fz_regs[fz_next(r) % 14]; }

/* cmp $imm8, %reg: defines all six arithmetic flags (after an instruction
 * that leaves some undefined, so results never depend on the CPU model) */
static inline void fz_flag_fence(fz_buf *b, fz_rng *r) {
  int reg = fz_reg(r); fz_b(b, (uint8_t)(0x48 | (reg >> 3))); fz_b(b, 0x83); fz_b(b, (uint8_t)(0xf8 | (reg & 7)));
  fz_b(b, (uint8_t)fz_next(r));
}

/* One seq instruction: the translator's differential-test mix (engines/bt/
 * tests/differential_test.cpp) with architecturally defined results only. */
static inline void fz_seq_insn(fz_buf *b, fz_rng *r) {
  static const uint8_t alu[] = {0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85, 0x89, 0x87};
  static const uint8_t shift_ext[] = {0, 1, 4, 5, 7};
  const uint32_t disp = (uint32_t)(fz_next(r) % (FZ_DATA_BYTES / 8)) * 8;
  int reg = fz_reg(r), rm = fz_reg(r);
  switch (fz_next(r) % 16) {
    case 0: fz_rr(b, alu[fz_next(r) % 11], -1, reg, rm); break;
    case 1: fz_b(b, (uint8_t)(0x48 | (rm >> 3))); fz_b(b, 0x81); fz_b(b, (uint8_t)(0xc0 | ((fz_next(r) % 8) << 3) | (rm & 7)));
            fz_u32(b, (uint32_t)fz_next(r)); break;
    case 2: fz_b(b, (uint8_t)(0x48 | (rm >> 3))); fz_b(b, 0xc1);
            fz_b(b, (uint8_t)(0xc0 | (shift_ext[fz_next(r) % 5] << 3) | (rm & 7))); fz_b(b, (uint8_t)(1 + fz_next(r) % 63));
            fz_flag_fence(b, r); break;
    case 3: { const int f7 = (int)(fz_next(r) & 1); fz_b(b, (uint8_t)(0x48 | (rm >> 3))); fz_b(b, f7 ? 0xf7 : 0xff);
              fz_b(b, (uint8_t)(0xc0 | ((f7 ? 2 + fz_next(r) % 2 : fz_next(r) % 2) << 3) | (rm & 7))); break; }
    case 4: fz_rr(b, 0x0f, 0xaf, reg, rm); fz_flag_fence(b, r); break;                 /* imul */
    case 5: fz_rr(b, 0x0f, (int)(0x40 | (fz_next(r) % 16)), reg, rm); break;          /* cmovcc */
    case 6: fz_b(b, (uint8_t)(0x40 | (rm >> 3))); fz_b(b, 0x0f); fz_b(b, (uint8_t)(0x90 | (fz_next(r) % 16)));
            fz_b(b, (uint8_t)(0xc0 | (rm & 7))); break;                                /* setcc */
    case 7: fz_m15(b, 0x8b, reg, disp); break;                                          /* load */
    case 8: fz_m15(b, 0x89, reg, disp); break;                                          /* store */
    case 9: fz_m15(b, (uint8_t)(fz_next(r) & 1 ? 0x01 : 0x31), reg, disp); break;       /* add/xor to memory */
    case 10: fz_push(b, reg); fz_pop(b, rm); break;
    case 11: { const int x = fz_reg(r); /* lea disp8(rm, x, scale), reg */
               fz_b(b, (uint8_t)(0x48 | ((reg >> 3) << 2) | ((x >> 3) << 1) | (rm >> 3))); fz_b(b, 0x8d);
               fz_b(b, (uint8_t)(0x44 | ((reg & 7) << 3))); fz_b(b, (uint8_t)(((fz_next(r) % 4) << 6) | ((x & 7) << 3) | (rm & 7)));
               fz_b(b, (uint8_t)fz_next(r)); break; }
    case 12: fz_b(b, (uint8_t)(0x48 | (rm >> 3))); fz_b(b, 0x0f); fz_b(b, (uint8_t)(0xc8 | (rm & 7))); break;  /* bswap */
    case 13: fz_b(b, (uint8_t)(0x48 | (rm >> 3))); fz_b(b, 0xf7); fz_b(b, (uint8_t)(0xe0 | (rm & 7)));          /* mul */
             fz_flag_fence(b, r); break;
    case 14: fz_rr(b, 0x0f, (int)(0xa3 + 8 * (fz_next(r) % 4)), reg, rm); fz_flag_fence(b, r); break;  /* bt/bts/btr/btc */
    default: fz_flag_fence(b, r); break;
  }
}

/* The whole code page of a seq program. `data` is where the child maps the
 * data page (FZ_DATA_BYTES of slots, then the register save area); `init`
 * receives the initial slot contents. Saves the callee-saved registers, loads
 * every register but %rsp from the PRNG, runs FZ_SEQ_INSNS instructions
 * (with forward jcc over 1..2 of them), stores all registers and the
 * arithmetic flags at data + FZ_STATE_OFF, returns to its caller. */
static inline size_t fz_gen_seq(uint64_t seed, uint64_t index, uint8_t *code, uint64_t data, uint8_t init[FZ_DATA_BYTES]) {
  fz_rng r = fz_stream(FZ_SEQ, seed, index);
  fz_buf b = {code, 0, FZ_CODE_MAX};
  static const int saved[6] = {3, 5, 12, 13, 14, 15};
  for (int i = 0; i < 6; ++i) fz_push(&b, saved[i]);
  for (int i = 0; i < FZ_DATA_BYTES; ++i) init[i] = (uint8_t)fz_next(&r);
  fz_movabs(&b, 0, 0x2 | (fz_next(&r) & 0x8d5)); /* CF PF AF ZF SF OF; never TF, DF, AC */
  fz_push(&b, 0); fz_b(&b, 0x9d);                   /* push %rax; popfq */
  for (int i = 0; i < 14; ++i) fz_movabs(&b, fz_regs[i], fz_next(&r));
  fz_movabs(&b, 15, data);
  uint8_t insn[8][64];
  size_t len[8];
  for (int done = 0; done < FZ_SEQ_INSNS;) {
    /* a group of 1..3 instructions, optionally jumped over by a jcc */
    int k = 1 + (int)(fz_next(&r) % 3);
    if (k > FZ_SEQ_INSNS - done) k = FZ_SEQ_INSNS - done;
    size_t skip = 0;
    for (int j = 0; j < k; ++j) {
      fz_buf t = {insn[j], 0, sizeof insn[j]};
      fz_seq_insn(&t, &r);
      len[j] = t.n;
      if (j > 0) skip += t.n;
    }
    for (int j = 0; j < k; ++j) {
      if (j == 1 && fz_next(&r) % 3 == 0) { fz_b(&b, (uint8_t)(0x70 | (fz_next(&r) % 16))); fz_b(&b, (uint8_t)skip); }
      for (size_t q = 0; q < len[j]; ++q) fz_b(&b, insn[j][q]);
    }
    done += k;
  }
  for (int reg = 0; reg < 16; ++reg)
    if (reg != 4) fz_m15(&b, 0x89, reg, FZ_STATE_OFF + 8u * (uint32_t)reg);
  fz_b(&b, 0x9c); fz_pop(&b, 0);                    /* pushfq; pop %rax */
  fz_m15(&b, 0x89, 0, FZ_STATE_OFF + 8 * 4);        /* flags in the %rsp slot */
  for (int i = 5; i >= 0; --i) fz_pop(&b, saved[i]);
  fz_b(&b, 0xc3);
  return b.n;
}

/* Offset of the random bytes in a rand program's code page. */
#define FZ_RAND_BODY_OFF (15 * 10)
/* A rand program: every register but %rsp loaded from the PRNG, 16..79
 * random bytes, then exit(0) (mov $0,%eax; xor %edi,%edi; syscall) for
 * whatever falls through. */
static inline size_t fz_gen_rand(uint64_t seed, uint64_t index, uint8_t *code) {
  fz_rng r = fz_stream(FZ_RAND, seed, index);
  fz_buf b = {code, 0, FZ_CODE_MAX};
  for (int reg = 0; reg < 16; ++reg) {
    uint64_t v = fz_next(&r);
    /* half the registers point into the code/data pages, so memory operands
     * sometimes hit mapped memory rather than always faulting */
    if (v & 1) v = 0x100000000ULL + ((v >> 8) & 0x1fff);
    if (reg != 4) fz_movabs(&b, reg, v);
  }
  const size_t n = FZ_RAND_MIN + (size_t)(fz_next(&r) % FZ_RAND_SPAN);
  for (size_t i = 0; i < n; ++i) fz_b(&b, (uint8_t)fz_next(&r));
  static const uint8_t tail[] = {0xb8, 0, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05};
  for (size_t i = 0; i < sizeof tail; ++i) fz_b(&b, tail[i]);
  return b.n;
}

/* FNV-1a, for the seq result line. */
static inline uint64_t fz_fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *c = (const uint8_t *)p;
  for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 0x100000001b3ULL;
  return h;
}
#define FZ_FNV0 0xcbf29ce484222325ULL

#endif
