// tags: harness|fuzz — desc: classifies a fuzz mismatch by the host-dependent instructions the program ran (Capstone).
#include <capstone/capstone.h>

#include <cstring>
#include <regex>
#include <set>

#include "common/abi/vtb_abi.h"
#include "harness/fuzz/fuzz.h"
#include "harness/fuzz/fuzz_gen.h"

namespace vtb::fuzz {
namespace {

struct Segment {
  uint64_t vaddr;
  std::string bytes;
};

// Instructions whose result depends on the machine (the host CPU for engines
// that run guest user code natively, QEMU's -cpu max model for the reference).
std::string category(const cs_insn& in) {
  static const std::set<std::string> values = {"cpuid", "rdtsc", "rdtscp", "rdrand", "rdseed", "rdpid", "xgetbv", "rdpmc"};
  static const std::set<std::string> fsgs = {"rdfsbase", "rdgsbase", "wrfsbase", "wrgsbase"};
  static const std::set<std::string> umip = {"sgdt", "sidt", "sldt", "str", "smsw"};
  static const std::set<std::string> seg = {"lsl", "lar", "verr", "verw"};
  static const std::set<std::string> tsx = {"xbegin", "xend", "xabort", "xtest"};
  const std::string m = in.mnemonic;
  if (values.count(m)) return "host-values";
  if (fsgs.count(m)) return "fsgsbase";
  if (umip.count(m)) return "umip";
  if (seg.count(m)) return "segment-query";
  if (tsx.count(m)) return "tsx";
  if (m == "rdpkru" || m == "wrpkru") return "pku";
  // descriptor tables and segments: the engines run guest user code with the
  // host's GDT/LDT and segment state (docs/pv.md, docs/bt.md)
  static const std::set<std::string> segs = {"ljmp", "lcall", "retf", "retfq", "iret", "iretd", "iretq", "lds", "les",
                                             "lfs", "lgs", "lss", "push", "pop", "mov", "int", "into", "int1", "icebp"};
  if (segs.count(m) && in.detail) {
    for (uint8_t i = 0; i < in.detail->x86.op_count; ++i)
      if (in.detail->x86.operands[i].type == X86_OP_REG &&
          std::set<unsigned>{X86_REG_CS, X86_REG_DS, X86_REG_ES, X86_REG_FS, X86_REG_GS, X86_REG_SS}.count(
              in.detail->x86.operands[i].reg))
        return "segmentation";
    if (m != "push" && m != "pop" && m != "mov") return m.rfind("int", 0) == 0 || m == "icebp" ? "software-interrupt" : "segmentation";
  }
  if (in.detail) {
    for (uint8_t i = 0; i < in.detail->groups_count; ++i) {
      const unsigned g = in.detail->groups[i];
      if (g == X86_GRP_FPU || g == X86_GRP_MMX || g == X86_GRP_3DNOW || (g >= X86_GRP_SSE1 && g <= X86_GRP_SSE4A) ||
          g == X86_GRP_AVX || g == X86_GRP_AVX2 || g == X86_GRP_AVX512 || g == X86_GRP_FMA || g == X86_GRP_FMA4 ||
          g == X86_GRP_F16C || g == X86_GRP_AES || g == X86_GRP_PCLMUL || g == X86_GRP_SHA || g == X86_GRP_XOP)
        return "fpu-simd";
      if (g == X86_GRP_BMI || g == X86_GRP_BMI2 || g == X86_GRP_ADX || g == X86_GRP_TBM)
        return "cpu-feature";
    }
  }
  return "";
}

// Whether the instruction addresses memory through SS: a base of rsp/rbp, or
// an implicit stack access (push, pop, call, ret, leave, enter, ...).
bool uses_stack_segment(csh h, const cs_insn& in) {
  if (!in.detail) return false;
  for (uint8_t i = 0; i < in.detail->x86.op_count; ++i) {
    const cs_x86_op& o = in.detail->x86.operands[i];
    if (o.type == X86_OP_MEM && (o.mem.base == X86_REG_RSP || o.mem.base == X86_REG_RBP ||
                                 o.mem.base == X86_REG_ESP || o.mem.base == X86_REG_EBP || o.mem.segment == X86_REG_SS))
      return true;
  }
  cs_regs rd, wr;
  uint8_t nr = 0, nw = 0;
  if (cs_regs_access(h, &in, rd, &nr, wr, &nw) != CS_ERR_OK) return false;
  for (uint8_t i = 0; i < nr; ++i)
    if (rd[i] == X86_REG_RSP) return true;
  return false;
}

class Decoder {
 public:
  Decoder() {
    ok_ = cs_open(CS_ARCH_X86, CS_MODE_64, &h_) == CS_ERR_OK;
    if (ok_) cs_option(h_, CS_OPT_DETAIL, CS_OPT_ON);
  }
  ~Decoder() {
    if (ok_) cs_close(&h_);
  }
  // The category of the instruction at `addr` ("" none, "invalid-encoding" undecodable).
  std::string at(const std::vector<Segment>& segs, uint64_t addr, std::string* mnem, size_t* len) {
    *len = 0;
    std::string c;
    const Found f = decode(segs, addr, [&](const cs_insn& in) {
      *mnem = in.mnemonic;
      *len = in.size;
      c = category(in);
    });
    return f == Found::Undecodable ? "invalid-encoding" : c;
  }
  // Whether the instruction at `addr` addresses memory through SS.
  bool stack_access_at(const std::vector<Segment>& segs, uint64_t addr) {
    bool r = false;
    decode(segs, addr, [&](const cs_insn& in) { r = uses_stack_segment(h_, in); });
    return r;
  }

 private:
  enum class Found { None, Undecodable, Insn };
  // Decodes the instruction at `addr` in whichever segment holds it and
  // hands it to `use` (Found::Insn).
  template <typename F>
  Found decode(const std::vector<Segment>& segs, uint64_t addr, F use) {
    for (const auto& s : segs) {
      if (addr < s.vaddr || addr >= s.vaddr + s.bytes.size()) continue;
      if (!ok_) return Found::None;
      cs_insn* in = nullptr;
      if (cs_disasm(h_, reinterpret_cast<const uint8_t*>(s.bytes.data()) + (addr - s.vaddr),
                    s.bytes.size() - (addr - s.vaddr), addr, 1, &in) != 1)
        return Found::Undecodable;
      use(*in);
      cs_free(in, 1);
      return Found::Insn;
    }
    return Found::None;
  }

  csh h_ = 0;
  bool ok_ = false;
};

std::vector<uint64_t> kill_rips(const std::string& console) {
  static const std::regex re("killed: .*rip 0x([0-9a-f]+)");
  std::vector<uint64_t> v;
  for (std::sregex_iterator it(console.begin(), console.end(), re), end; it != end; ++it)
    v.push_back(strtoull((*it)[1].str().c_str(), nullptr, 16));
  return v;
}

}  // namespace

std::string classify(int kind, uint64_t seed, uint64_t index, const std::string& mutant, const Outcome& ref,
                     const Outcome& eng, std::string* detail) {
  std::vector<Segment> segs;
  uint64_t sweep_from = 0, sweep_to = 0;
  if (kind == FZ_FLIP) {
    for (const LoadSegment& l : load_segments(mutant, nullptr)) segs.push_back({l.vaddr, mutant.substr(l.offset, l.filesz)});
  } else {
    std::string page(FZ_CODE_MAX, '\0');
    uint8_t init[FZ_DATA_BYTES];
    size_t n = kind == FZ_RAND ? fz_gen_rand(seed, index, reinterpret_cast<uint8_t*>(page.data()))
                               : fz_gen_seq(seed, index, reinterpret_cast<uint8_t*>(page.data()),
                                            VTB_USER_MMAP_BASE + 4096, init);
    page.resize(n);
    segs.push_back({VTB_USER_MMAP_BASE, page});
    if (kind == FZ_RAND) sweep_from = VTB_USER_MMAP_BASE + FZ_RAND_BODY_OFF, sweep_to = VTB_USER_MMAP_BASE + n;
  }
  Decoder d;
  std::string mnem;
  size_t len = 0;
  // 1. the instruction where either side was killed
  std::vector<uint64_t> rips = kill_rips(ref.console);
  for (uint64_t r : kill_rips(eng.console)) rips.push_back(r);
  for (uint64_t rip : rips) {
    std::string c = d.at(segs, rip, &mnem, &len);
    if (!c.empty()) {
      char b[96];
      snprintf(b, sizeof b, "%s at rip 0x%llx", mnem.empty() ? "undecodable bytes" : mnem.c_str(), (unsigned long long)rip);
      *detail = b;
      return "host-dependent:" + c;
    }
  }
  // 1b. #SS on one side, #GP on the other, at a stack access: the CPU raises
  // #SS for a non-canonical address through SS; QEMU TCG raises #GP.
  const bool ss_gp = (ref.what == "killed:13" && eng.what == "killed:12") ||
                     (ref.what == "killed:12" && eng.what == "killed:13");
  for (uint64_t rip : rips)
    if (ss_gp && d.stack_access_at(segs, rip)) {
      char b[96];
      snprintf(b, sizeof b, "stack access at rip 0x%llx: #SS vs #GP", (unsigned long long)rip);
      *detail = b;
      return "host-dependent:stack-segment";
    }
  // 2. rand: the first host-dependent instruction in a linear sweep of the body
  for (uint64_t a = sweep_from; a < sweep_to;) {
    std::string c = d.at(segs, a, &mnem, &len);
    if (!c.empty() && c != "invalid-encoding") {
      char b[96];
      snprintf(b, sizeof b, "%s at 0x%llx (linear sweep)", mnem.c_str(), (unsigned long long)a);
      *detail = b;
      return "host-dependent:" + c;
    }
    a += len ? len : 1;
  }
  *detail = "";
  return "unexplained";
}

}  // namespace vtb::fuzz
