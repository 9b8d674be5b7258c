/* tags: workloads|census — desc: census [T]: the 18 Popek-Goldberg-breaking x86 instructions (Robin & Irvine 2000), raw, in guest kernel mode (ktest census) and user mode; one record per instruction and mode. */
#include "vtb.h"

static const char *const insn_name[VTB_CI_COUNT] = {
    "sgdt", "sidt", "sldt", "smsw", "pushf", "popf", "lar", "lsl", "verr",
    "verw", "pop_seg", "push_seg", "call_far", "jmp_far", "int_n", "ret_far", "str", "mov_seg"};
/* vtb_census_result.vector for VTB_CS_WRONG: what was wrong */
static const char *const what_name[] = {"value", "if-still-set", "ticks-moved", "ticks-stopped",
                                        "no-timer", "frame-cs", "not-delivered", "no-fault"};

static struct vtb_census_report rep;
static uint64_t popf_ticks = 2; /* argv[1]: ticks that must arrive after a user-mode popf clearing IF */
static int counts[4];

static void emit(int insn, const char *mode, const struct vtb_census_result *r) {
  char key[48];
  snprintf(key, sizeof key, "census.%s.%s", insn_name[insn], mode);
  counts[r->status & 3]++;
  switch (r->status) {
    case VTB_CS_OK: vtb_result(key, "ok"); printf("census: %-8s %-6s ok\n", insn_name[insn], mode); break;
    case VTB_CS_TRAP:
      vtb_result(key, "trap:%u", r->vector);
      printf("census: %-8s %-6s trap:%u\n", insn_name[insn], mode, r->vector);
      break;
    case VTB_CS_WRONG: {
      const char *w = r->vector < sizeof what_name / sizeof *what_name ? what_name[r->vector] : "value";
      vtb_result(key, "wrong:%s=0x%lx", w, r->seen);
      printf("census: %-8s %-6s wrong:%s=0x%lx\n", insn_name[insn], mode, w, r->seen);
      break;
    }
    default: vtb_result(key, "notrun"); printf("census: %-8s %-6s notrun\n", insn_name[insn], mode); break;
  }
}

/* ---- the user-mode checks: each runs in its own child (a trap kills it) ---- */
#define UCS 0x2b
#define SEL_DATA_U (VTB_CENSUS_SEL_DATA | 3)
#define SEL_UCODE2 (VTB_CENSUS_SEL_UCODE2 | 3)
#define IF_FLAG 0x200ULL

struct __attribute__((packed)) dtr { uint16_t limit; uint64_t base; };
struct __attribute__((packed)) fptr { uint32_t off; uint16_t sel; };
extern char u_call_target[], u_jmp_target[], u_jmp_back[];
struct fptr u_fc, u_fj, u_back;
/* Far CALL/JMP with 32-bit far pointers (user code lies below 4 GiB; the
 * 64-bit form m16:64 exists on Intel only): u_far_call returns the CS seen
 * in the call target (ax) and the CS the far call pushed (cx); u_far_jmp
 * the CS seen in the jump target (dx). */
__asm__(".text\n"
        "u_far_call:\n"
        "  lcall *u_fc(%rip)\n"
        "  ret\n"
        "u_far_jmp:\n"
        "  ljmp *u_fj(%rip)\n"
        "u_jmp_back:\n"
        "  ret\n"
        "u_call_target:\n"
        "  movw %cs, %ax\n"
        "  movl 4(%rsp), %ecx\n"
        "  lret\n"
        "u_jmp_target:\n"
        "  movw %cs, %dx\n"
        "  ljmp *u_back(%rip)\n");

static struct vtb_census_result R(int ok, uint64_t seen) {
  struct vtb_census_result r = {ok ? VTB_CS_OK : VTB_CS_WRONG, 0, seen};
  return r;
}
static struct vtb_census_result W(uint32_t what, uint64_t seen) {
  struct vtb_census_result r = {VTB_CS_WRONG, what, seen};
  return r;
}

static uint64_t flags(void) {
  uint64_t f;
  __asm__ volatile("pushfq; popq %0" : "=r"(f)::"memory");
  return f;
}

static uint64_t rdtsc64(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static struct vtb_census_result user_check(int insn) {
  uint64_t v = 0xdead, v2 = 0xdead, sel = SEL_DATA_U;
  uint8_t zf = 0, zf2 = 1;
  struct dtr d = {0, 0};
  switch (insn) {
    case VTB_CI_SGDT:
      __asm__ volatile("sgdt %0" : "=m"(d)::"memory");
      return R(rep.gdt_base && d.base == rep.gdt_base && d.limit == rep.gdt_limit, d.base);
    case VTB_CI_SIDT:
      __asm__ volatile("sidt %0" : "=m"(d)::"memory");
      return R(rep.idt_base && d.base == rep.idt_base && d.limit == rep.idt_limit, d.base);
    case VTB_CI_SLDT:
      __asm__ volatile("sldt %0" : "+r"(v));
      return R(rep.ldt_sel && (v & 0xffff) == rep.ldt_sel, v & 0xffff);
    case VTB_CI_STR:
      __asm__ volatile("str %0" : "+r"(v));
      return R(rep.tr_sel && (v & 0xffff) == rep.tr_sel, v & 0xffff);
    case VTB_CI_SMSW:
      __asm__ volatile("smsw %0" : "+r"(v));
      return R(rep.cr0 != ~0ULL && (v & 0xffff) == (rep.cr0 & 0xffff), v & 0xffff);
    case VTB_CI_PUSHF: v = flags(); return R((v & 0x3200) == IF_FLAG, v); /* IF set, IOPL 0 */
    case VTB_CI_POPF: {
      /* CPL 3, IOPL 0: popf must leave IF set, and the timer keeps ticking. */
      __asm__ volatile("pushfq\n\tandq $~0x200, (%%rsp)\n\tpopfq\n\tpushfq\n\tpopq %0" : "=r"(v)::"cc", "memory");
      if (!(v & IF_FLAG)) return W(1, v);
      /* Bounded by guest time, not by iterations: a tick that never comes
       * ends the wait after 10^10 TSC cycles (3-10 s), whatever a syscall
       * costs on the engine (40 ns on bt, ~10 us on kvm@pvm). */
      uint64_t t0 = vtb_ticks();
      const uint64_t c0 = rdtsc64();
      while (vtb_ticks() < t0 + popf_ticks && rdtsc64() - c0 < 10000000000ULL) {}
      return vtb_ticks() >= t0 + popf_ticks ? R(1, 0) : W(3, vtb_ticks() - t0);
    }
    case VTB_CI_LAR:
      __asm__ volatile("xorl %k0, %k0\n\tlar %k2, %k0\n\tsetz %1" : "=&r"(v), "=&q"(zf) : "r"(sel) : "cc");
      return R(zf && (v & 0x00f0ff00) == VTB_CENSUS_DATA_AR, zf ? v : ~0ULL);
    case VTB_CI_LSL:
      __asm__ volatile("xorl %k0, %k0\n\tlsl %k2, %k0\n\tsetz %1" : "=&r"(v), "=&q"(zf) : "r"(sel) : "cc");
      return R(zf && v == VTB_CENSUS_DATA_LIMIT, zf ? v : ~0ULL);
    case VTB_CI_VERR:
      __asm__ volatile("verr %w2\n\tsetz %0\n\tverr %w3\n\tsetz %1"
                       : "=&q"(zf), "=&q"(zf2) : "r"(sel), "r"((uint64_t)VTB_CENSUS_SEL_LDT) : "cc");
      return R(zf && !zf2, (uint64_t)zf | (uint64_t)zf2 << 1);
    case VTB_CI_VERW:
      __asm__ volatile("verw %w2\n\tsetz %0\n\tverw %w3\n\tsetz %1"
                       : "=&q"(zf), "=&q"(zf2) : "r"(sel), "r"((uint64_t)UCS) : "cc");
      return R(zf && !zf2, (uint64_t)zf | (uint64_t)zf2 << 1);
    case VTB_CI_POP_SEG:
      __asm__ volatile("pushq %1\n\tpopq %%fs\n\tmovw %%fs, %w0" : "+r"(v) : "r"(sel) : "memory");
      return R((v & 0xffff) == sel, v & 0xffff);
    case VTB_CI_PUSH_SEG:
      __asm__ volatile("movw %w1, %%fs\n\tpushq %%fs\n\tpopq %0" : "+r"(v) : "r"(sel) : "memory");
      return R((v & 0xffff) == sel, v & 0xffff);
    case VTB_CI_MOV_SEG:
      __asm__ volatile("movw %%cs, %w0\n\tmovw %w2, %%ds\n\tmovw %%ds, %w1" : "=&r"(v), "=&r"(v2) : "r"(sel) : "memory");
      v &= 0xffff, v2 &= 0xffff;
      return R(v == UCS && v2 == sel, v == UCS ? v2 : v);
    case VTB_CI_RET_FAR:
      __asm__ volatile("pushq %1\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n"
                       "1:\n\tmovw %%cs, %w0\n\t"
                       "pushq %2\n\tleaq 2f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n2:"
                       : "+r"(v) : "i"(SEL_UCODE2), "i"(UCS) : "rax", "memory");
      return R((v & 0xffff) == SEL_UCODE2, v & 0xffff);
    case VTB_CI_CALL_FAR:
    case VTB_CI_JMP_FAR: {
      uint64_t ax = 0xdead, cx = 0xdead, dx = 0xdead;
      u_fc = (struct fptr){(uint32_t)(uint64_t)u_call_target, SEL_UCODE2};
      u_fj = (struct fptr){(uint32_t)(uint64_t)u_jmp_target, SEL_UCODE2};
      u_back = (struct fptr){(uint32_t)(uint64_t)u_jmp_back, UCS};
      if (insn == VTB_CI_CALL_FAR) {
        __asm__ volatile("call u_far_call" : "+a"(ax), "+c"(cx)::"rdx", "memory");
        ax &= 0xffff, cx &= 0xffff;
        return R(ax == SEL_UCODE2 && cx == UCS, ax == SEL_UCODE2 ? cx : ax);
      }
      __asm__ volatile("call u_far_jmp" : "+d"(dx)::"rax", "rcx", "memory");
      dx &= 0xffff;
      return R(dx == SEL_UCODE2, dx);
    }
    case VTB_CI_INT_N:
      /* The kernel's gate for this vector has DPL 0: the guest must see
       * #GP (the parent checks the child was killed with vector 13). */
      __asm__ volatile("int %0" ::"i"(VTB_CENSUS_INT_VECTOR) : "memory");
      return W(7, 0);
  }
  return W(0, 0);
}

static void run_user(int insn) {
  long pid = vtb_fork();
  if (pid == 0) {
    struct vtb_census_result r = user_check(insn);
    emit(insn, "user", &r);
    exit((int)r.status);
  }
  int st = -1;
  if (pid > 0 && vtb_wait(pid, &st) == pid && !(st & VTB_WSTATUS_KILLED)) {
    counts[st & 3]++; /* the child wrote the record */
    return;
  }
  struct vtb_census_result r = {VTB_CS_NOTRUN, 0, 0};
  if (pid > 0 && (st & VTB_WSTATUS_KILLED)) {
    int vec = st & 0xff;
    if (insn == VTB_CI_INT_N && vec == 13) r.status = VTB_CS_OK; /* #GP through the DPL-0 gate: correct */
    else r.status = VTB_CS_TRAP, r.vector = (uint32_t)vec;
  }
  emit(insn, "user", &r);
}

int main(int argc, char **argv) {
  popf_ticks = vtb_atou(argc > 1 ? argv[1] : 0, 2);
  if (!popf_ticks) popf_ticks = 1;
  long k = vtb_ktest("census", (uint64_t)&rep);
  if (k < 0) printf("census: kernel half unavailable (ktest census: %ld)\n", k);
  for (int i = 0; i < VTB_CI_COUNT; i++) emit(i, "kernel", &rep.r[i]);
  for (int i = 0; i < VTB_CI_COUNT; i++) run_user(i);
  printf("census: done: %d ok, %d wrong, %d trapped, %d not run\n", counts[VTB_CS_OK], counts[VTB_CS_WRONG],
         counts[VTB_CS_TRAP], counts[VTB_CS_NOTRUN]);
  return 0;
}
