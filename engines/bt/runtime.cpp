// tags: engines|bt — desc: runtime setup and the dispatcher: block lookup/translation, chaining, indirect table, run loop.
#include "engines/bt/runtime.h"

#include <sys/mman.h>
#include <sys/ucontext.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "common/scoped_ns.h"
#include "common/abi/vtb_abi.h"
#include "common/clock.h"
#include "common/interrupt_source.h"
#include "common/page_walk.h"
#include "common/port_io.h"
#include "common/sud.h"
#include "engines/bt/layout.h"
#include "engines/bt/translator.h"

extern "C" uint8_t* bt_enter(uint64_t tc);
extern "C" void bt_exit_stub();
extern "C" void bt_io_stub();

namespace vtb::bt {

namespace {
Runtime* g_live = nullptr;
constexpr int64_t kSlice = 1 << 20;  // guest instructions (back edges) between dispatcher visits
// Asynchronous exits, belt and braces beside the armed timer (see run()):
// the timer repeats with this period after an expiry until the dispatcher
// re-arms it, and the dispatcher reads the clock itself every so many visits.
constexpr uint64_t kAsyncBackstopNs = 100'000'000;
constexpr int kClockEveryVisits = 4096;
constexpr uint64_t kNoTag = 0x8000000000000000ULL;  // non-canonical: never a guest pc
}  // namespace

void install_signal_handlers(Runtime* rt);  // faults.cpp
void remove_signal_handlers();
void prepare_thread_signals();

Runtime::Runtime(GuestAccess* mem, const RuntimeOptions& opt) : mem_(mem), opt_(opt) {}

std::unique_ptr<Runtime> Runtime::create(GuestAccess* mem, const RuntimeOptions& opt, Status* err) {
  if (g_live) {
    *err = Status::unavailable("bt: one bt VM per process (the engine owns the address window)");
    return nullptr;
  }
  std::unique_ptr<Runtime> rt(new Runtime(mem, opt));
  *err = rt->init();
  if (!*err) return nullptr;
  g_live = rt.get();
  install_signal_handlers(rt.get());
  return rt;
}

Runtime::~Runtime() {
  timer_.cancel();
  if (g_live == this) {
    remove_signal_handlers();
    g_live = nullptr;
  }
  blocks_.clear();
  if (sud_thread_) sud_disable();  // when this is the thread that ran the guest (SUD is per thread)
  if (window_reserved_ || global_mapped_) {
    // The caches' destructors re-reserve their ranges (and drop the aliases);
    // then the window goes, or (the caller holds the reservation) every page
    // of it is put back to PROT_NONE.
    for (CodeCache* cc : {&user_tc_, &kernel_tc_, &ibtc_}) {
      cc->~CodeCache();
      new (cc) CodeCache();
    }
    if (window_reserved_)
      munmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_WINDOW_HI - VTB_WINDOW_LO);
    else
      mmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_WINDOW_HI - VTB_WINDOW_LO, PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  }
}

Status Runtime::init() {
  if (!dec_.ok()) return Status::host_error("bt: capstone initialisation failed");
  if (opt_.reserve_window) {
    void* w = mmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_WINDOW_HI - VTB_WINDOW_LO, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (w == MAP_FAILED)
      return Status::host_error(std::string("bt: cannot reserve the guest window [0x10000, 16 TiB): ") +
                                strerror(errno));
    window_reserved_ = true;
  }
  // The vCPU block: one page, read-write (translated code stores into it).
  void* g = mmap(reinterpret_cast<void*>(kGlobalBase), BT_VCPU_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (g == MAP_FAILED) return Status::host_error(std::string("bt: cannot map the vCPU block: ") + strerror(errno));
  global_mapped_ = true;
  AsmVcpu* a = asm_vcpu();
  memset(a, 0, sizeof *a);
  a->rflags = 0x2;
  a->mxcsr = 0x1f80;
  put_host_fields();
  sync_inline_state();
  unsigned cpuid0[4];
  guest_cpuid(0, 0, cpuid0);  // the inline cpuid entry always holds a real answer
  address_checks_ = opt_.user_isolation && __builtin_cpu_supports("bmi2") && !opt_.softmmu;
  if (const char* v = getenv("VTB_BT_USER_CHECKS"); v && !strcmp(v, "0")) address_checks_ = false;  // experiments; counter bt.user_isolation says so
  bmi2_ = __builtin_cpu_supports("bmi2");
  // Experiments (before/after figures in docs/bt.md): 0 keeps every sensitive
  // instruction a callout; the counters bt.inline.<insn> say which ran inline.
  if (const char* v = getenv("VTB_BT_INLINE"); v && !strcmp(v, "0")) inline_sensitive_ = false;
  if (const char* v = getenv("VTB_BT_IO_LIGHT"); v && !strcmp(v, "0")) io_light_on_ = false;
  fault_rec_.reason = ExitReason::Fault;
  timer_.set_backstop(kAsyncBackstopNs);
  if (Status s = user_tc_.init(kUserTcBase, kTcSize); !s) return s;
  if (Status s = kernel_tc_.init(kKernelTcBase, kTcSize); !s) return s;
  if (Status s = ibtc_.init(kNegTagTable, BT_IBTC_SIZE, false); !s) return s;
  scratch_.resize(1 << 16);
  for (CodeCache* cc : {&user_tc_, &kernel_tc_}) {
    Emitter e(scratch_.data(), scratch_.size(), cc->top());
    size_t force_miss = 0;
    const size_t entry = Translator::emit_lookup_routine(e, &force_miss);
    const size_t io = e.size();  // jmp *0(%rip); .quad bt_io_stub (the light in/out callout)
    e.b(0xff); e.b(0x25); e.d32(0); e.q(reinterpret_cast<uint64_t>(&bt_io_stub));
    const uint64_t at = cc->alloc(e.size());
    memcpy(cc->writable(at), scratch_.data(), e.size());
    const int k = cc == &user_tc_ ? 0 : 1;
    (k == 0 ? user_lookup_ : kernel_lookup_) = at + entry;
    (k == 0 ? user_io_ : kernel_io_) = at + io;
    (k == 0 ? user_keep_ : kernel_keep_) = e.size();
    lookup_hit_rel8_[k] = at + force_miss;
    lookup_hit_val_[k] = scratch_[force_miss];
  }
  ibtc_reset();
  if (opt_.softmmu) return tlb_init();
  return Status::ok();
}

// The host's fields of the vCPU block that never change (the exit stub, the
// fault record, the address checks' bounds): at init, and again after guest
// user code that could overwrite them ran directly.
void Runtime::put_host_fields() {
  AsmVcpu* a = asm_vcpu();
  a->exit_fn = reinterpret_cast<uint64_t>(&bt_exit_stub);
  a->fault_rec = reinterpret_cast<uint64_t>(&fault_rec_);
  a->shift30_mask = ~(VTB_HOST_RESERVED_USER_LO - 1);
  static_assert(VTB_HOST_RESERVED_USER_LO == 1ULL << 30 && VTB_HOST_RESERVED_USER_HI == 2ULL << 30,
                "the exact user check assumes the host range is the second GiB");
  static_assert(VTB_USER_TOP == 512ULL << 30, "the exact user check assumes a 512 GiB user range");
  auto put = [](uint64_t off, uint64_t v) { *reinterpret_cast<uint64_t*>(kGlobalBase + off) = v; };
  put(BT_OFF_USER_LIMIT, VTB_USER_TOP + 0x1000);
  put(BT_OFF_HOLE_LO, VTB_HOST_RESERVED_USER_LO - kCheckMaxDisp);
  put(BT_OFF_HOLE_HI, VTB_HOST_RESERVED_USER_HI + kCheckMaxDisp);
  put(BT_OFF_SHIFT9_MASK, ~uint64_t(0x1ff));
  static_assert(VTB_WINDOW_HI == 16ULL << 40 && VTB_HOST_RESERVED_KERNEL_HI == 8ULL << 40 &&
                    VTB_HOST_RESERVED_KERNEL_LO == (8ULL << 40) - (1ULL << 30),
                "the exact kernel check assumes the window is 16 TiB and the host kernel range the GiB below 8 TiB");
  put(BT_OFF_KHALF_LO, VTB_HOST_RESERVED_KERNEL_HI + kCheckMaxDisp);
  put(BT_OFF_KHALF_HI, VTB_WINDOW_HI - kCheckMaxDisp);
  put(BT_OFF_KRES_LO, VTB_HOST_RESERVED_KERNEL_LO - kCheckMaxDisp);
  put(BT_OFF_SHIFT44_MASK, ~(VTB_WINDOW_HI - 1));
}

uint64_t& Runtime::gpr(int i) { return asm_vcpu()->gpr[i]; }

void Runtime::ibtc_reset() {
  uint64_t* neg = negtag();
  uint64_t* tca = tcaddr();
  const uint64_t ghost = user_lookup_ ? user_tc_.exec_base() : 0;  // ghost stub sits at the cache start
  for (uint64_t i = 0; i < kIbtcEntries; ++i) {
    neg[i] = uint64_t(0) - kNoTag;
    tca[i] = ghost;
  }
  ibtc_user_slots_.clear();
}

void Runtime::ibtc_clear_user() {
  uint64_t* neg = negtag();
  uint64_t* tca = tcaddr();
  for (uint32_t s : ibtc_user_slots_) {
    neg[s] = uint64_t(0) - kNoTag;
    tca[s] = user_tc_.exec_base();
  }
  ibtc_user_slots_.clear();
}

void Runtime::ibtc_insert(Block* b) {
  const uint32_t slot = uint32_t(b->pc & (kIbtcEntries - 1));
  negtag()[slot] = uint64_t(0) - b->pc;
  tcaddr()[slot] = entry_of(b, counting_ || !async_);
  if (b->space) {
    ibtc_user_slots_.push_back(slot);
    // Spaces of one code key keep the table across cr3 loads: keep the list bounded.
    if (ibtc_user_slots_.size() > 2 * kIbtcEntries) {
      std::sort(ibtc_user_slots_.begin(), ibtc_user_slots_.end());
      ibtc_user_slots_.erase(std::unique(ibtc_user_slots_.begin(), ibtc_user_slots_.end()), ibtc_user_slots_.end());
    }
  }
}

uint64_t Runtime::space_of(uint64_t pc) const {
  return (pc < VTB_USER_TOP && opt_.reflect_exceptions) ? cur_key_ : 0;
}

CodeCache& Runtime::cache_for(uint64_t pc) {
  // Code below 2 GiB (user programs) goes to the low cache; everything else
  // (the kernel at 8 TiB) to the cache just below the kernel.
  return pc < (1ULL << 31) ? user_tc_ : kernel_tc_;
}

Block* Runtime::find_block(uint64_t pc) {
  auto s = by_pc_.find(space_of(pc));
  if (s == by_pc_.end()) return nullptr;
  auto it = s->second.find(pc);
  return it == s->second.end() ? nullptr : it->second;
}

Block* Runtime::block_at_tc(uint64_t tc) {
  auto it = by_tc_.upper_bound(tc);
  if (it == by_tc_.begin()) return nullptr;
  --it;
  Block* b = it->second;
  return (tc >= b->tc && tc < b->tc + b->tc_size) ? b : nullptr;
}

Block* Runtime::translate(uint64_t pc, std::string* err) {
  const uint64_t t0 = monotonic_ns();
  const bool user = cpu_.cpl == 3;
  if (space_of(pc) && !orphans_.empty())
    if (Block* b = adopt(pc, user)) {
      st_.translate_ns += monotonic_ns() - t0;
      return b;
    }
  CodeCache& cc = cache_for(pc);
  const uint64_t lookup = &cc == &user_tc_ ? user_lookup_ : kernel_lookup_;
  TranslateEnv env;
  uint64_t src_end = pc;  // every byte the translator reads is part of the block's source
  env.fetch = [this, user, &src_end](uint64_t va, uint8_t* out, size_t n) {
    const size_t got = mem_->fetch(va, out, n, user);
    if (got) src_end = std::max(src_end, va + got);
    return got;
  };
  env.lookup_entry = lookup;
  if (pio_ && io_light_on_) env.io_entry = &cc == &user_tc_ ? user_io_ : kernel_io_;
  env.extend = extend_;
  env.user_checks = user && address_checks_;
  env.kernel_checks = !user && address_checks_;
  env.inline_if = !user;
  env.inline_sensitive = inline_sensitive_;
  env.bmi2 = bmi2_;
  env.inline_sysret = !opt_.direct_user;
  env.softmmu = opt_.softmmu;
  if (!no_group_pcs_.empty()) env.no_group = [this](uint64_t pc) { return no_group_pcs_.count(pc) != 0; };
  env.user = user;
  if (!exact_check_pcs_.empty()) env.exact_check = [this](uint64_t pc) { return exact_check_pcs_.count(pc) != 0; };
  have_translations_ = true;
  if (!traced_pcs_.empty()) env.traced_store = [this](uint64_t pc) { return traced_pcs_.count(pc) != 0; };
  auto blk = std::make_unique<Block>();
  blk->space = space_of(pc);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const uint64_t at = cc.top();
    const size_t cap = std::min<uint64_t>(scratch_.size(), cc.free_bytes());
    TranslateResult r = tr_.translate(pc, at, env, scratch_.data(), cap, blk.get());
    if (!r.ok && attempt == 0) {
      flush_all();
      *blk = Block{};
      blk->space = space_of(pc);
      src_end = pc;
      continue;
    }
    if (!r.ok) {
      *err = "bt: translation failed at 0x" + std::to_string(pc) + ": " + r.error;
      return nullptr;
    }
    const uint64_t got = cc.alloc(r.size);
    if (got != at) {
      *err = "bt: code cache allocation mismatch";
      return nullptr;
    }
    memcpy(cc.writable(at), scratch_.data(), r.size);
    ++st_.blocks;
    st_.insns += r.guest_insns;
    (user ? st_.user_checks : st_.kernel_checks) += r.address_checks;
    (user ? st_.user_checks_elided : st_.kernel_checks_elided) += r.address_checks_elided;
    st_.user_checks_hoisted += r.address_checks_hoisted;
    st_.soft_probes += r.soft_probes;
    st_.soft_probes_short += r.soft_probes_short;
    st_.soft_probes_alone += r.soft_probes_alone;
    st_.soft_probes_in_dest += r.soft_probes_in_dest;
    st_.soft_probes_covered += r.soft_probes_covered;
    st_.soft_scratch_dead += r.soft_scratch_dead;
    break;
  }
  Block* b = blk.get();
  b->src_end = std::max(src_end, b->end);
  b->user = user;
  if (b->space) {
    b->src.resize(size_t(b->src_end - pc));
    if (mem_->fetch(pc, b->src.data(), b->src.size(), user) != b->src.size()) b->src.clear();  // never adopted
  }
  record_code_pages(b);
  blocks_.push_back(std::move(blk));
  by_pc_[b->space][pc] = b;
  by_tc_[b->tc] = b;
  const uint64_t dt = monotonic_ns() - t0;
  st_.translate_ns += dt;
  return b;
}

void Runtime::chain(Block* src, uint64_t site, Block* dst) {
  // A back edge keeps the budget check unless exits are asynchronous; then it
  // is remembered so that the timer signal can unchain it.
  const bool back = dst->pc <= src->pc;
  const uint64_t entry = entry_of(dst, counting_ || (back && !async_));
  uint64_t target = entry;
  if (dst == src && entry == dst->tc_fast)  // a self-loop: past its hoisted address checks (address_checks.cpp)
    for (const auto& [s, past_checks] : dst->loop_entries)
      if (s == site) target = past_checks;
  const int64_t rel = int64_t(target) - int64_t(site + 4);
  if (!fits_rel32(rel) || src->space != dst->space || !src->valid || !dst->valid) return;
  uint64_t stub = 0;
  for (size_t i = 0; i < src->outgoing_sites.size(); ++i)
    if (src->outgoing_sites[i] == site) stub = src->outgoing_stub[i];
  if (!stub) return;
  if (back && async_ && !counting_ && back_link_sites_.insert(site).second) back_links_.push_back({site, stub});
  CodeCache& cc = user_tc_.contains(site) ? user_tc_ : kernel_tc_;
  const int32_t r32 = int32_t(rel);
  memcpy(cc.writable(site), &r32, 4);
  // Remember the original stub so the link can be undone.
  bool known = false;
  for (const auto& in : dst->incoming) known |= in.first == site;
  if (!known) dst->incoming.push_back({site, stub});
  ++st_.chain;
  if (target != entry) ++st_.loop_entries_chained;
}

int Runtime::async_signal_number() { return SIGRTMIN + 3; }

// Signal context: only plain stores into memory the dispatcher does not touch
// while translated code runs (in_guest_).
bool Runtime::on_async_signal(void* uctx, const SignalFrame* fr) {
  timer_.fired();
  exit_req_ = 1;
  asm_vcpu()->irq_pending = 1;
  if (!in_guest_) return false;
  if (in_direct_) {
    // Guest user code runs natively: take it out now, or try again shortly
    // when the signal caught the entry/exit glue instead.
    const uint64_t rip = uint64_t(static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RIP]);
    if (direct_guest_interrupted(rip, fr)) {
      hf_ = HostFault{};
      hf_.sig = async_signal_number();
      capture_guest(uctx, rip, fr);
      return true;
    }
    timer_.want(monotonic_ns() + 50000, 0);
    return false;
  }
  for (const Link& l : back_links_) {
    CodeCache& cc = user_tc_.contains(l.site) ? user_tc_ : kernel_tc_;
    const int32_t r32 = int32_t(int64_t(l.stub) - int64_t(l.site + 4));
    memcpy(cc.writable(l.site), &r32, 4);
  }
  *user_tc_.writable(lookup_hit_rel8_[0]) = 0;  // jrcxz falls through to the miss exit
  *kernel_tc_.writable(lookup_hit_rel8_[1]) = 0;
  lookups_forced_ = 1;
  return false;
}

void Runtime::clear_async_exit() {
  exit_req_ = 0;
  clock_due_ = true;
  if (lookups_forced_) {
    lookups_forced_ = 0;
    *user_tc_.writable(lookup_hit_rel8_[0]) = lookup_hit_val_[0];
    *kernel_tc_.writable(lookup_hit_rel8_[1]) = lookup_hit_val_[1];
  }
  ++st_.async_exits;
}

// Program the host timer for the earliest of the wall deadline and the next
// guest timer event (never closer than 200 us: an event the guest cannot take
// now, IF=0, must not turn into a signal storm).
void Runtime::arm_async_exit(uint64_t deadline) {
  uint64_t want = deadline;
  if (irq_) {
    const uint64_t ne = irq_->next_event_ns();
    if (ne && (!want || ne < want)) want = ne;
  }
  if (!want) return;
  const uint64_t armed = timer_.armed_ns();  // 0 once it has fired
  if (armed && armed <= want) return;        // an early enough expiry is pending: no clock read
  // An event already put off to the floor (IF=0 in a loop of exits: micro_divzero) with that expiry
  // still pending: no clock read at every visit either.
  if (armed && want == floored_want_) return;
  const uint64_t now = visit_now();
  if (want < now + 200000) floored_want_ = want;
  want = std::max(want, now + 200000);
  if (armed && armed <= want) return;
  timer_.want(want, now);
}

void Runtime::unlink(Block* b) {
  for (auto& [site, stub] : b->incoming) {
    Block* src = block_at_tc(site);
    if (!src || !src->valid) continue;
    CodeCache& cc = user_tc_.contains(site) ? user_tc_ : kernel_tc_;
    const int32_t r32 = int32_t(int64_t(stub) - int64_t(site + 4));
    memcpy(cc.writable(site), &r32, 4);
  }
  b->incoming.clear();
  const uint32_t slot = uint32_t(b->pc & (kIbtcEntries - 1));
  const uint64_t in_table = tcaddr()[slot];
  if (in_table == b->tc || in_table == b->tc_fast) {
    negtag()[slot] = uint64_t(0) - kNoTag;
    tcaddr()[slot] = user_tc_.exec_base();
  }
}

void Runtime::invalidate_range(uint64_t va, uint64_t len) {
  std::vector<Block*> dead;
  for (auto& [space, m] : by_pc_)
    for (auto& [pc, b] : m)
      if (b->pc < va + len && va < b->end) dead.push_back(b);
  for (Block* b : dead) drop_block(b);
  forget_orphans(va, len);
}

void Runtime::drop_block(Block* b) {
  unlink(b);
  b->valid = false;
  auto m = by_pc_.find(b->space);
  if (m != by_pc_.end()) {
    auto it = m->second.find(b->pc);
    if (it != m->second.end() && it->second == b) m->second.erase(it);
  }
  ++st_.tc_invalidate;
  resume_tc_ = 0;
}

void Runtime::flush_all() {
  reset_translations();
  ++st_.tc_flush;
}

void Runtime::reset_translations() {
  back_links_.clear();
  back_link_sites_.clear();
  have_translations_ = false;
  blocks_.clear();
  by_pc_.clear();
  space_code_.clear();
  orphans_.clear();
  by_tc_.clear();
  user_tc_.reset(user_keep_);
  kernel_tc_.reset(kernel_keep_);
  ibtc_reset();
  resume_tc_ = 0;
}

// A store hit a write-traced page table: do it here (the mirror follows in
// GuestAccess::write) and continue after it. A store that keeps trapping is
// retranslated into a TracedStore callout (adaptive translation).
bool Runtime::emulate_traced_store(uint64_t pc, uint64_t va) {
  if (no_adapt_.count(pc)) return false;
  uint8_t code[16];
  const size_t got = mem_->fetch(pc, code, 15, cpu_.cpl == 3);
  Insn in;
  uint8_t reg;
  int size;
  uint64_t imm;
  bool high8;
  if (!dec_.decode(code, got, pc, &in) || !simple_store(in, &reg, &size, &imm, &high8)) return false;
  AsmVcpu* a = asm_vcpu();
  uint64_t v = reg == 0xff ? imm : (high8 ? a->gpr[reg] >> 8 : a->gpr[reg]);
  GuestFaultInfo f;
  if (!mem_->write(va, &v, size_t(size), cpu_.cpl == 3, &f)) {
    cpu_.rip = pc;
    raise(f.vector, f.error, true, f.addr);
    return true;
  }
  ++st_.pte_trap;
  cpu_.rip = pc + in.len;
  resume_tc_ = 0;
  if (++traced_traps_[pc] == 2 && traced_pcs_.insert(pc).second) {
    ++st_.adaptive;
    invalidate_range(pc, in.len);  // retranslated with the callout on the next visit
  }
  return true;
}

namespace {
// An `in` of `size` bytes into rax: 32-bit results zero-extend, 8/16 merge.
void merge_in(uint64_t& rax, uint64_t v, int size) {
  if (size == 4) rax = v;
  else rax = (rax & ~((1ULL << (8 * size)) - 1)) | v;
}
}  // namespace

// The data of a read the Vm (or its handler) answered: into rax, or for
// ins into guest memory at rdi. False when that store raised a guest fault.
bool Runtime::complete_pending_in() {
  if (!pending_in_.valid) return true;
  pending_in_.valid = false;
  AsmVcpu* a = asm_vcpu();
  if (!pending_in_.string) {
    uint64_t v = 0;
    memcpy(&v, io_buf_, size_t(pending_in_.size));
    merge_in(a->gpr[RAX], v, pending_in_.size);
    return true;
  }
  // ins: store the data at rdi, advance rdi (and rcx for rep).
  const size_t n = size_t(pending_in_.size) * pending_in_.count;
  GuestFaultInfo f;
  const bool df = a->rflags & kFlagDF;
  uint64_t rdi = a->gpr[RDI];
  const uint64_t at = df ? rdi - n + size_t(pending_in_.size) : rdi;
  if (!mem_->write(at, io_buf_, n, cpu_.cpl == 3, &f)) {
    raise(f.vector, f.error, true, f.addr);
    return false;
  }
  a->gpr[RDI] = df ? rdi - n : rdi + n;
  if (pending_in_.rep) a->gpr[RCX] -= pending_in_.count;
  return true;
}

// An in/out the callout prepared as an Exit: the Vm's handler serves it
// here when it takes it (counting it as the Vm does), and the dispatcher
// resumes translated code; what it refuses leaves run() as before.
Runtime::Step Runtime::serve_port_io(Exit* out) {
  if (!pio_) return Step::ExitVm;
  const PortIoResult res = pio_->handle(out->port, out->is_write, out->size, out->count, out->data);
  if (res == PortIoResult::Exit) return Step::ExitVm;
  ++io_in_run_;
  // The PIC or PIT changed: the next dispatcher visit reads the clock and the
  // interrupt lines, as the first visit after a return from the Vm does.
  if (res == PortIoResult::ServedIrq) clock_due_ = true;
  *out = Exit{};
  return complete_pending_in() ? Step::Resume : Step::Jump;
}

// The light callout of a kernel in/out (bt_io_stub, on the host stack with
// the guest's caller-saved GPRs in the vCPU block): the Vm's handler serves
// the access and translated code goes on (1). 0 takes the callout with the
// same record: no handler or not CPL 0 (the callout's checks), refused (an
// exit), or served but the PIC/PIT moved (io_served_: the callout resumes
// through the dispatcher, which looks at the interrupt lines first).
int Runtime::io_light(const ExitRecord& r) {
  AsmVcpu* a = asm_vcpu();
  if (!pio_ || a->cpl_mode != 0) return 0;
  const bool write = r.op == CalloutOp::Out;
  const uint16_t port = (r.aux & kOpPortDx) ? uint16_t(a->gpr[RDX]) : uint16_t(r.target);
  uint64_t v = write ? a->gpr[RAX] : 0;
  uint8_t data[8];
  memcpy(data, &v, sizeof data);
  const PortIoResult res = pio_->handle(port, write, r.a, 1, data);
  if (res == PortIoResult::Exit) return 0;
  ++io_in_run_;
  if (!write) {
    v = 0;
    memcpy(&v, data, r.a);
    merge_in(a->gpr[RAX], v, r.a);
  }
  if (res == PortIoResult::ServedIrq) {
    io_served_ = true;  // counted in priv.* by the callout
    return 0;
  }
  ++st_.priv[uint8_t(r.op)];
  ++io_light_;
  return 1;
}

Exit Runtime::run(const RunLimits& lim) {
  Exit out;
  AsmVcpu* a = asm_vcpu();
  const uint64_t start = lim.now_ns ? lim.now_ns : monotonic_ns();
  const uint64_t deadline = lim.wall.count() > 0 ? start + uint64_t(lim.wall.count()) : 0;
  const bool counting = lim.max_guest_insns != 0;
  counting_ = counting;
  prepare_thread_signals();  // this thread's signal stack (and, for bt-direct, its FS/GS bases)
  if (opt_.direct_user) record_thread_bases();
  if (!counting || opt_.direct_user) async_ = bool(timer_.bind(async_signal_number()));
  const bool extend = !counting;
  if (extend != extend_) {
    // Translations made for the other mode (block shape, entries) are dropped.
    if (have_translations_) reset_translations();
    extend_ = extend;
  }
  in_run_ = true;
  clock_due_ = true;
  if (sigsetjmp(engine_fault_jmp_, 0)) {
    in_guest_ = false;
    in_direct_ = false;
    bt_direct_host.live = 0;
    in_run_ = false;
    // The jump may have left a signal handler that had the timer signal
    // blocked (sigsetjmp does not save the mask: it is on the exit path).
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, async_signal_number());
    pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
    timer_.disarm();
    out.kind = ExitKind::EngineError;
    out.message = error_;
    out.rip = cpu_.rip;
    return out;
  }
  auto finish = [&](ExitKind k, std::string msg) {
    out.kind = k;
    out.message = std::move(msg);
    out.rip = cpu_.rip;
    in_run_ = false;
    timer_.disarm();  // the run is over: no backstop signals into the host's own code
    return out;
  };
  if (opt_.direct_user) {
    if (!async_) return finish(ExitKind::EngineError, "bt-direct: no host timer for asynchronous exits");
    if (Status st = enable_direct_thread(); !st) return finish(ExitKind::EngineError, st.message());
  }
  complete_pending_in();
  const bool async = async_ && !counting;
  // The wall deadline cannot be missed: every expiry of the timer sets
  // exit_req_ (checked below after in_guest_ is set, so an expiry is either
  // seen here or finds translated code to unchain), ThreadTimer::armed_ns()
  // never claims an expiry that was already signalled, and the timer repeats
  // every kAsyncBackstopNs until it is re-armed. A guest that exits often
  // also has the clock read every kClockEveryVisits visits without any signal.
  int clock_visits = kClockEveryVisits;
  visit_now_ = start;  // the first visit uses the reading taken at entry
  for (bool first = true;; first = false) {
    if (!first) visit_now_ = 0;
    // (not clock_due_: it stays set while the guest keeps IF clear, and
    // every visit of a loop of exits read the clock: micro_divzero)
    bool deadline_check = first || !async;
    if (exit_req_) {
      clear_async_exit();
      clock_visits = kClockEveryVisits;
      deadline_check = true;
    } else if (--clock_visits == 0) {
      clock_visits = kClockEveryVisits;
      clock_due_ = true;
      deadline_check = true;
    }
    // With asynchronous exits the host timer brings the dispatcher back at
    // the deadline and at guest timer events: the clock is read only then
    // (and every kClockEveryVisits visits).
    if (!async) clock_due_ = true;
    if (deadline && deadline_check && visit_now() >= deadline)
      return finish(ExitKind::LimitReached, "wall-clock limit reached");
    if (counting && executed_ >= lim.max_guest_insns)
      return finish(ExitKind::LimitReached, "guest instruction limit reached (" + std::to_string(executed_) + ")");
    const bool held = hold_irq_;
    if (hold_irq_) {
      hold_irq_ = false;
    } else if (deliver_pending(&out)) {
      in_run_ = false;
      return out;
    }
    uint64_t tc = resume_tc_;
    resume_tc_ = 0;
    bool direct = false;
    if (!tc && opt_.direct_user && cpu_.cpl == 3) {
      if (!guest_user_pc(cpu_.rip)) {  // never jump into the host's ranges (or out of the window)
        raise_outside_fetch(cpu_.rip);
        continue;
      }
      tc = cpu_.rip;  // guest user code runs as it is
      direct = true;
      ++st_.direct_entries;
    }
    if (!tc) {
      Block* b = find_block(cpu_.rip);
      if (!b) {
        std::string err;
        b = translate(cpu_.rip, &err);
        if (!b) return finish(ExitKind::EngineError, err);
      }
      tc = entry_of(b, counting);
    }
    const int64_t slice = counting ? std::min<int64_t>(kSlice, int64_t(lim.max_guest_insns - executed_)) : kSlice;
    a->budget = slice;
    if (async || direct) arm_async_exit(deadline);
    // Inline sti goes to the callout when something may be deliverable.
    a->irq_pending = irq_ ? uint64_t(clock_due_ || irq_->pending()) : 0;
    in_direct_ = direct;
    in_guest_ = true;
    if (exit_req_) {  // the timer fired after the checks above: look again
      in_guest_ = false;
      in_direct_ = false;
      if (direct) {
        --st_.direct_entries;
        tc = 0;
      }
      resume_tc_ = tc;
      hold_irq_ = held;
      continue;
    }
    if (direct) seal_for_direct();
    a->cpl_mode = uint64_t(cpu_.cpl);
    const ExitRecord* r = reinterpret_cast<const ExitRecord*>(direct ? bt_enter_direct(tc) : bt_enter(tc));
    in_guest_ = false;
    in_direct_ = false;
    // Inline syscall/sysret move the privilege level (never directly run user
    // code, which may write the vCPU block).
    if (!direct && a->cpl_mode != uint64_t(cpu_.cpl)) sync_cpl_from_inline();
    ++st_.exits;
    int64_t used = slice - a->budget;
    switch (r->reason) {
      case ExitReason::Branch: {
        cpu_.rip = r->target;
        Block* src = block_at_tc(r->aux);
        const uint64_t src_pc = src ? src->pc : 0;
        const size_t nblocks_before = st_.tc_flush;
        Block* dst = find_block(r->target);
        if (!dst) {
          std::string err;
          dst = translate(r->target, &err);
          if (!dst) return finish(ExitKind::EngineError, err);
        }
        if (src && st_.tc_flush == nblocks_before) chain(src, r->aux, dst);
        resume_tc_ = entry_of(dst, counting || dst->pc <= src_pc);
        break;
      }
      case ExitReason::IndirectMiss: {
        cpu_.rip = a->s5;
        if (!lookups_forced_) ++st_.ind_miss;
        Block* dst = find_block(cpu_.rip);
        if (!dst) {
          std::string err;
          dst = translate(cpu_.rip, &err);
          if (!dst) return finish(ExitKind::EngineError, err);
        }
        ibtc_insert(dst);
        resume_tc_ = entry_of(dst, counting);
        break;
      }
      case ExitReason::Budget: {
        cpu_.rip = r->target;
        break;  // dispatcher checks limits/interrupts, then re-enters at the checked entry
      }
      case ExitReason::Callout: {
        used -= r->unexec;
        cpu_.rip = r->guest_pc;
        const uint64_t inval = st_.tc_invalidate + st_.tc_flush;
        const Step s = callout(*r, &out);
        if (s == Step::Fault) --used;
        if (counting) executed_ += uint64_t(std::max<int64_t>(used, 0));
        used = 0;
        const bool resumable = inval == st_.tc_invalidate + st_.tc_flush && cpu_.rip == r->guest_pc + r->len;
        switch (s) {
          case Step::Resume:
            if (resumable) resume_tc_ = reinterpret_cast<uint64_t>(r) + sizeof(ExitRecord);
            break;
          case Step::Jump:
          case Step::Fault:
            break;
          case Step::ExitVm:
            if (resumable) resume_tc_ = reinterpret_cast<uint64_t>(r) + sizeof(ExitRecord);
            in_run_ = false;
            out.rip = cpu_.rip;
            return out;
          case Step::Error:
            return finish(ExitKind::EngineError, error_);
        }
        break;
      }
      case ExitReason::Undefined:
        used -= r->unexec;
        cpu_.rip = r->guest_pc;
        raise(6);
        break;
      case ExitReason::FetchFault: {
        used -= r->unexec;
        cpu_.rip = r->guest_pc;
        uint64_t gpa;
        if (mem_->code_frame(r->target, cpu_.cpl == 3, &gpa)) {
          // The page became fetchable after the translation (a store earlier
          // in the same block demand-mapped it): translate again.
          if (Block* b = block_at_tc(reinterpret_cast<uint64_t>(r))) drop_block(b);
          break;
        }
        const GuestFaultInfo f = mem_->fetch_fault(r->target, cpu_.cpl == 3);
        raise(f.vector, f.error, true, f.addr);
        break;
      }
      case ExitReason::UserAccess: {
        // Guest code reached for an address outside its allowance (user: the
        // user range; kernel: the window minus the host's ranges): what the
        // guest's own tables say about such an access (#PF), never the host
        // mirror's answer.
        used -= r->unexec;
        cpu_.rip = r->guest_pc;
        const uint64_t ea = a->ea;
        const bool user = cpu_.cpl == 3;
        if (guest_may_address(ea, user) && exact_check_pcs_.insert(r->guest_pc).second) {
          // The quick form (base register bound) refused a user address (base
          // past the range, negative displacement): retranslate with the exact one.
          invalidate_range(r->guest_pc, 1);
          break;
        }
        ++(user ? st_.user_isolation_faults : st_.kernel_isolation_faults);
        raise_outside_access(ea, r->b, user);
        break;
      }
      case ExitReason::TlbMiss:
        tlb_miss(r, &used, counting);
        break;
      case ExitReason::TlbCommit:
        tlb_commit(r);
        break;
      case ExitReason::Unsupported: {
        cpu_.rip = r->guest_pc;
        Block* b = block_at_tc(reinterpret_cast<uint64_t>(r));
        return finish(ExitKind::EngineError, "bt: unsupported instruction at 0x" + [&] {
          char buf[32];
          snprintf(buf, sizeof buf, "%llx", (unsigned long long)r->guest_pc);
          return std::string(buf);
        }() + (b ? ": " + b->error : std::string()));
      }
      case ExitReason::Fault: {
        // The signal handler saved the guest registers; find the guest instruction.
        if (direct) {  // wherever directly executed user code was (it may have jumped into a cache)
          if (!direct_exit()) return finish(ExitKind::EngineError, error_);
          break;
        }
        Block* b = block_at_tc(hf_.tc_rip);
        const InsnMapEntry* m = b ? b->lookup(hf_.tc_rip) : nullptr;
        if (!m) return finish(ExitKind::EngineError, "bt: host fault in translated code outside any block");
        const uint64_t pc = b->pc + m->guest_off;
        if (hf_.sig == SIGSEGV && hf_.trapno == 14) {
          GuestFaultInfo f;
          HostFaultAction act;
          {
            ScopedNs timed(st_.host_fault_ns);
            act = mem_->host_fault(hf_.addr, hf_.err & 2, cpu_.cpl == 3, &f);
          }
          if (act == HostFaultAction::Retry) {
            ++st_.hidden_fault;
            resume_tc_ = hf_.tc_rip;  // registers are exactly as at the fault
            // cpu_.rip is not this instruction's pc and a rewrite sequence may be
            // half done: no interrupt may be delivered before translated code resumes.
            hold_irq_ = true;
            break;
          }
          if (act == HostFaultAction::TracedWrite) {
            if (m->fixup == Fixup::None && emulate_traced_store(pc, hf_.addr)) {
              if (counting) used -= (b->ninsns - m->index - 1);
              break;
            }
            mem_->drop_write_trace(hf_.addr);
            ++st_.pte_untraced;
            resume_tc_ = hf_.tc_rip;
            hold_irq_ = true;
            break;
          }
          if (act == HostFaultAction::Unknown) {
            char buf[128];
            snprintf(buf, sizeof buf, "bt: host fault at 0x%llx from guest pc 0x%llx is not a guest address",
                     (unsigned long long)hf_.addr, (unsigned long long)pc);
            return finish(ExitKind::EngineError, buf);
          }
          if (m->fixup == Fixup::RestoreS4) a->gpr[m->reg] = a->s4;
          if (m->fixup == Fixup::RestoreS1S2) { a->gpr[RCX] = a->s1; a->gpr[RDX] = a->s2; }
          cpu_.rip = pc;
          raise(f.vector, f.error, true, f.addr);
        } else {
          if (m->fixup == Fixup::RestoreS4) a->gpr[m->reg] = a->s4;
          if (m->fixup == Fixup::RestoreS1S2) { a->gpr[RCX] = a->s1; a->gpr[RDX] = a->s2; }
          cpu_.rip = pc;
          raise_signal_exception(false);
        }
        if (counting) used -= (b->ninsns - m->index);
        break;
      }
    }
    if (counting && used > 0) executed_ += uint64_t(used);
  }
}

}  // namespace vtb::bt

extern "C" int bt_io_light(const vtb::bt::ExitRecord* r) { return vtb::bt::g_live->io_light(*r); }
