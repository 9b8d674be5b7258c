// tags: engines|pv — desc: PvEngine: window + hypercall page set-up, load, the run loop, registers, counters.
#include "engines/pv/pv_engine.h"

#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "common/clock.h"
#include "common/counters.h"
#include "common/page_walk.h"
#include "engines/pv/pv_engine_impl.h"
#include "engines/pv/pv_host.h"

extern "C" {
__attribute__((visibility("hidden"))) vtb::pv::PvCpu vtb_pv_cpu;
}

namespace vtb {

const char* pv_protect_name(PvProtect m) {
  switch (m) {
    case PvProtect::Pkeys: return "pkeys";
    case PvProtect::TwoAs: return "2as";
    case PvProtect::Mprotect: return "mprotect";
    case PvProtect::Off: return "off";
  }
  return "?";
}

bool parse_pv_protect(const std::string& s, PvProtect* out) {
  for (PvProtect m : {PvProtect::Pkeys, PvProtect::TwoAs, PvProtect::Mprotect, PvProtect::Off})
    if (s == pv_protect_name(m)) {
      *out = m;
      return true;
    }
  return false;
}

void pv_protect_mode_from_env(PvOptions* o) {
  // VTB_PV_UNPROTECTED=1: the old switch for the unsafe ablation, = off.
  if (const char* e = std::getenv("VTB_PV_UNPROTECTED"); e && *e && std::strcmp(e, "0") != 0) o->protect = PvProtect::Off;
  if (const char* e = std::getenv("VTB_PV_PROTECT"); e && *e) {
    PvProtect m;
    if (parse_pv_protect(e, &m))
      o->protect = m;
    else
      o->config_error = std::string("pv: VTB_PV_PROTECT='") + e + "' is not a protection mode (pkeys, 2as, mprotect, off)";
  }
}

std::unique_ptr<Engine> make_pv_engine() {
  PvOptions o;
  pv_protect_mode_from_env(&o);
  return make_pv_engine(o);
}
std::unique_ptr<Engine> make_pv_engine(const PvOptions& opts) { return std::make_unique<pv::PvEngine>(opts); }

namespace pv {

PvEngine* g_engine = nullptr;

namespace {

const char* const kHcNames[VTB_HC_COUNT] = {
    "set_trap_table", "mmu_update", "new_baseptr", "stack_switch", "iret", "sched_op", "set_timer", "console_io",
    "multicall", "invlpg", "io", "cpuid", "rdtsc", "null", "unpin_table", "pin_table", "clear_page", "copy_page",
    "vm_assist"};

uint64_t calibrate_tsc_hz() {
  const uint64_t t0 = monotonic_ns(), c0 = __rdtsc();
  while (monotonic_ns() - t0 < 2000000) {
  }
  const uint64_t t1 = monotonic_ns(), c1 = __rdtsc();
  return (c1 - c0) * 1000000000ULL / (t1 - t0);
}

// Synchronous guest traps, served inside the signal handler.
int sync_trap() { return g_engine && g_engine->serve_trap() ? 0 : 1; }

std::string hex(uint64_t x) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", (unsigned long long)x);
  return b;
}

}  // namespace

PvEngine::PvEngine(const PvOptions& opts) : opts_(opts) {
  if (!win_.reserve()) reserve_error_ = win_.error();
  resolve_protect_mode();
}

// The forced mode, else the best mode that keeps the guarantee against any
// user code: pkeys where the CPU has PKU (sound since user code is inspected
// for WRPKRU/XRSTOR before it may run, and user pages are W^X: pv_wx.cpp),
// else 2as where the host has what it needs (measured cheaper than mprotect
// on every row of the default suite, idle and loaded: docs/pv.md), else
// mprotect.
void PvEngine::resolve_protect_mode() {
  protect_error_ = opts_.config_error;
  std::optional<PvProtect> want = opts_.protect;
  if (!want && !opts_.protect_kernel) want = PvProtect::Off;
  std::string why;
  if (!want) {
    protect_ = PkeyGuard::available(&why)     ? PvProtect::Pkeys
               : PvUserSpace::available(&why) ? PvProtect::TwoAs
                                              : PvProtect::Mprotect;
    return;
  }
  protect_ = *want;
  if (!protect_error_.empty()) return;
  if (protect_ == PvProtect::Pkeys && !PkeyGuard::available(&why))
    protect_error_ = "pv: protection mode pkeys is unavailable: " + why;
  else if (protect_ == PvProtect::TwoAs && !PvUserSpace::available(&why))
    protect_error_ = why;
}

// One key over the hypercall page and the direct map; guest user code runs
// with its access disabled. PKRU is written at every user<->kernel
// transition (set_mode) and put into the frame of a signal that resumes
// guest code (pv_host.cpp).
bool PvEngine::setup_pkeys(std::string* err) {
  PvCpu& v = vtb_pv_cpu;
  if (!pkey_.init(err) || !pkey_.tag(VTB_HYPERCALL_VA, VTB_PAGE_SIZE, PROT_READ | PROT_EXEC, err) ||
      !pkey_.tag(VTB_KERNEL_VBASE, mem_->size(), PROT_READ | PROT_WRITE | PROT_EXEC, err))
    return false;
  win_.set_protect_key(pkey_.key());  // later protections of the range keep the key
  v.pkru_user = pkey_.user_pkru();
  v.pkru_kernel = pkey_.kernel_pkru();
  v.pkeys = true;
  return true;
}

PvEngine::~PvEngine() {
  timer_stop(&timer_);
  if (g_engine == this) {
    vtb_pv_cpu.active = false;
    if (vtb_pv_cpu.pkeys) pkru_port().write(vtb_pv_cpu.pkru_kernel);  // the key is freed with pkey_
    vtb_pv_cpu.pkeys = false;
    set_sync_trap_hook(nullptr);
    g_engine = nullptr;
    win_.set_listener(nullptr);
    us_.reset();
    win_.reset();
    restore_signal_handlers();
    if (syscall(SYS_gettid) == thread_tid_) teardown_vcpu_thread();
  }
}

Caps PvEngine::caps() const {
  Caps c;
  c.flavor = Flavor::Pv;
  c.owns_address_window = true;
  c.backend = std::string("pv@") + pv_protect_name(protect_);
  std::string why;
  if (!protect_error_.empty())
    c.available = Status::unavailable(protect_error_);
  else if (!reserve_error_.empty())
    c.available = Status::unavailable("pv: cannot reserve the guest address window: " + reserve_error_);
  else if (!sud_inclusive_available(&why))
    c.available = Status::unavailable("pv: " + why);
  else
    c.available = Status::ok();
  return c;
}

Status PvEngine::load(const BootImage& boot, GuestMemory& mem, InterruptSource& irq) {
  if (!reserve_error_.empty()) return Status::unavailable("pv: cannot reserve the guest address window: " + reserve_error_);
  if (!protect_error_.empty()) return Status::unavailable(protect_error_);
  if (g_engine && g_engine != this) return Status::unavailable("pv: another pv engine is active in this process");
  if (boot.flavor != Flavor::Pv) return Status::bad_input("pv: the engine runs the pv kernel flavor only");
  if (mem.size() < (2u << 20) || mem.size() % VTB_PAGE_SIZE)
    return Status::bad_input("pv: guest memory must be a whole number of pages, at least 2 MiB");
  PvCpu& v = vtb_pv_cpu;
  v.active = false;
  direct_user_ = false;  // a new kernel asks again (reset() ends the window's remote mode)
  win_.clear_error();
  if (!win_.reset()) return Status::host_error("pv: " + win_.error());
  PvWindow::ensure_max_map_count(262144);
  // Without FSGSBASE (CPU or kernel) the bases cannot be switched cheaply:
  // the engine then runs with the host's bases visible (pv.fsgs_isolation 0).
  v.fsgs = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) ? 1 : 0;
  // pv@2as: the user process starts now and replays every change of the
  // window's user half from here on (the boot tables' pages included).
  win_.set_listener(nullptr);
  us_.reset();
  if (protect_ == PvProtect::TwoAs) {
    std::string uerr;
    us_ = std::make_unique<PvUserSpace>();
    if (!us_->configure(&uerr)) {
      us_.reset();
      return Status::bad_input(uerr);
    }
    if (!us_->start(mem.fd(), v.fsgs, timer_signal() + 1, &uerr)) {
      us_.reset();
      return Status::host_error(uerr);
    }
    win_.set_listener(us_.get());
  }

  // The last RAM page becomes the shared info page; the kernel sees less RAM.
  const uint64_t usable = mem.size() - VTB_PAGE_SIZE, shared_gpa = usable;
  vtb_boot_info bi{};
  if (!mem.read_obj(boot.boot_info_gpa, &bi) || bi.magic != VTB_BOOT_MAGIC)
    return Status::bad_input("pv: no boot info at " + hex(boot.boot_info_gpa));
  if (bi.kernel_end_gpa > usable) return Status::bad_input("pv: kernel and archive fill guest memory");
  if (bi.mem_bytes > usable) bi.mem_bytes = usable;
  bi.shared_gpa = shared_gpa;
  bi.hypercall_va = VTB_HYPERCALL_VA;
  mem.write_obj(boot.boot_info_gpa, bi);
  std::memset(mem.ptr(shared_gpa, VTB_PAGE_SIZE), 0, VTB_PAGE_SIZE);
  auto* shared = reinterpret_cast<vtb_shared_info*>(mem.ptr(shared_gpa, VTB_PAGE_SIZE));
  shared->tsc_hz = calibrate_tsc_hz();

  // Hypercall page: stub n = mov $n,%eax; jmp *slot(%rip).
  if (!win_.map_anon(VTB_HYPERCALL_VA, VTB_PAGE_SIZE, PROT_READ | PROT_WRITE)) return Status::host_error("pv: " + win_.error());
  auto* page = reinterpret_cast<uint8_t*>(VTB_HYPERCALL_VA);
  std::memset(page, 0xcc, VTB_PAGE_SIZE);
  constexpr uint32_t kSlotCall = 0xf00, kSlotIret = 0xf08;
  const uint64_t call_entry = uint64_t(vtb_pv_hc_entry), iret_entry = uint64_t(vtb_pv_iret_entry);
  std::memcpy(page + kSlotCall, &call_entry, 8);
  std::memcpy(page + kSlotIret, &iret_entry, 8);
  for (uint32_t n = 0; n < VTB_HC_COUNT; ++n) {
    uint8_t* s = page + n * VTB_HYPERCALL_STUB_SIZE;
    s[0] = 0xb8;
    std::memcpy(s + 1, &n, 4);
    s[5] = 0xff;
    s[6] = 0x25;
    const int32_t rel = int32_t((n == VTB_HC_IRET ? kSlotIret : kSlotCall) - (n * VTB_HYPERCALL_STUB_SIZE + 11));
    std::memcpy(s + 7, &rel, 4);
  }
  if (!win_.protect(VTB_HYPERCALL_VA, VTB_PAGE_SIZE, PROT_READ | PROT_EXEC)) return Status::host_error("pv: " + win_.error());

  mmu_ = std::make_unique<PvMmu>(mem, win_, usable);
  mmu_->set_wx(protect_ == PvProtect::Pkeys);  // inspected user code, W^X (pv_wx.cpp)
  win_.set_protect_key(-1);
  wx_tf_set_ = false;
  wx_guest_tf_ = 0;
  if (!mmu_->boot(boot.loader_cr3)) return Status::host_error("pv: " + win_.error());
  mem_ = &mem;  // setup_pkeys needs its size
  v.pkeys = false;
  std::string perr;
  if (protect_ == PvProtect::Pkeys && !setup_pkeys(&perr)) return Status::host_error("pv: protection keys: " + perr);

  std::string err;
  if (!install_signal_handlers(&err)) return Status::host_error("pv: " + err);
  set_sync_trap_hook(&sync_trap);

  std::memset(v.gpr, 0, sizeof v.gpr);
  v.gpr[RDI] = boot.boot_info_gpa;
  v.gpr[RSP] = VTB_PV_BOOT_STACK_TOP;
  v.rip = boot.entry;
  v.rflags = 0x202;
  v.fpu_valid = 0;
  v.mode = Mode::Kernel;
  v.shared = shared;
  v.kernel_sp = 0;
  v.timer_period_ns = v.timer_next_ns = 0;
  v.timer_fired = 0;
  v.limit_hit = 0;
  v.deadline_ns = ~0ULL;
  std::memset(v.hc_count, 0, sizeof v.hc_count);
  v.null_fast = 0;
  // The guest's FS/GS bases start at 0 and are its own from then on; the
  // host's are installed whenever host code runs (pv_entry.S).
  v.guest_fs = v.guest_gs = 0;
  v.in_guest = 0;
  std::memset(trap_, 0, sizeof trap_);
  std::memset(trap_flags_, 0, sizeof trap_flags_);
  irq_ = &irq;
  g_engine = this;
  v.active = true;
  loaded_ = true;
  return Status::ok();
}

bool PvEngine::setup_thread(std::string* err) {
  const long tid = syscall(SYS_gettid);
  if (tid == thread_tid_ && timer_.valid) return true;
  if (!setup_vcpu_thread(err)) return false;
  thread_tid_ = tid;
  host_tick_ns_ = 0;
  arm_host_timer();
  if (!timer_.valid) {
    *err = "pv: cannot start the vCPU timer: " + timer_error_;
    return false;
  }
  return true;
}

void PvEngine::arm_host_timer() {
  // The host tick serves the guest timer and the wall limit: 10 ms, or the
  // guest's period when shorter (not below 1 ms: each tick costs ~40 us here).
  uint64_t tick = 10000000;
  const uint64_t p = vtb_pv_cpu.timer_period_ns;
  if (p && p < tick) tick = p < 1000000 ? 1000000 : p;
  if (!thread_tid_ || (tick == host_tick_ns_ && timer_.valid)) return;
  if (timer_start(&timer_, thread_tid_, tick, &timer_error_)) host_tick_ns_ = tick;
}

Exit PvEngine::fault_exit(const std::string& msg, unsigned vector, uint64_t err, uint64_t addr) {
  Exit e;
  e.kind = ExitKind::GuestFault;
  e.vector = uint8_t(vector);
  e.error_code = err;
  e.fault_addr = addr;
  e.rip = vtb_pv_cpu.rip;
  e.message = msg;
  return e;
}

Exit PvEngine::run(const RunLimits& limits) {
  PvCpu& v = vtb_pv_cpu;
  Exit e;
  if (!loaded_ || g_engine != this) {
    e.kind = ExitKind::EngineError;
    e.message = "pv: run() before a successful load()";
    return e;
  }
  std::string err;
  if (!setup_thread(&err)) {
    e.kind = ExitKind::EngineError;
    e.message = err;
    return e;
  }
  if (us_) us_->pin_here();  // pv@2as: this thread and the user process on one CPU
  v.deadline_ns = limits.wall.count() > 0 ? monotonic_ns() + uint64_t(limits.wall.count()) : ~0ULL;
  v.limit_hit = 0;
  if (pending_read_size_) {
    uint64_t val = 0;
    std::memcpy(&val, io_buf_, size_t(pending_read_size_));
    v.gpr[RAX] = val;
    pending_read_size_ = 0;
  }
  for (;;) {
    pending_exit_.reset();
    if (monotonic_ns() >= v.deadline_ns) {
      e.kind = ExitKind::LimitReached;
      e.rip = v.rip;
      e.message = "pv: wall-clock limit reached (guest rip " + hex(v.rip) + ")";
      return e;
    }
    bool delivered = false;
    if (!deliver_events(&delivered)) return *pending_exit_;
    if (!win_.error().empty()) break;
    v.exit_reason = ExitReason::None;
    if (us_ && v.mode == Mode::User) {  // pv@2as: guest user code runs in the user process
      if (!run_user(&e)) return e;
      if (!handle_signal()) return *pending_exit_;
      if (!win_.error().empty()) break;
      continue;
    }
    if (v.pkeys) pkru_port().write(v.mode == Mode::User ? v.pkru_user : v.pkru_kernel);  // this thread's PKRU
    if (v.fsgs) {  // this thread's own bases (the run thread may change between runs)
      __asm__ volatile("rdfsbase %0" : "=r"(v.host_fs));
      __asm__ volatile("rdgsbase %0" : "=r"(v.host_gs));
    }
    vtb_pv_enter();
    if (!win_.error().empty()) break;
    switch (v.exit_reason) {
      case ExitReason::Hypercall:
        if (pending_exit_) return *pending_exit_;
        e.kind = ExitKind::EngineError;
        e.message = "pv: hypercall exit without a reason";
        return e;
      case ExitReason::Signal:
        if (v.sig == 0) {  // served in the handler, which prepared this exit
          if (pending_exit_) return *pending_exit_;
          if (us_ && v.mode == Mode::User) continue;  // pv@2as: on to the user process
          e.kind = ExitKind::EngineError;
          e.message = "pv: trap exit without a reason";
          return e;
        }
        if (!handle_signal()) return *pending_exit_;
        if (!win_.error().empty()) break;
        continue;
      case ExitReason::UserMode:
        continue;
      case ExitReason::BadStack:
        return fault_exit("pv: hypercall entered with an unreadable guest stack (rsp " + hex(v.gpr[RSP]) +
                              "); the stubs must be called, not jumped to", 14, 0, v.addr);
      case ExitReason::None:
        e.kind = ExitKind::EngineError;
        e.message = "pv: guest left without a reason";
        return e;
    }
  }
  e.kind = ExitKind::EngineError;
  e.rip = v.rip;
  e.message = "pv: host mapping failure: " + win_.error();
  return e;
}

bool PvEngine::run_user(Exit* e) {
  PvCpu& v = vtb_pv_cpu;
  std::string err;
  if (us_->overflowed()) {  // more changes than the log holds: the whole user half again
    us_->begin_replay();
    mmu_->replay(*us_);
  }
  if (us_->overflowed())
    err = "pv@2as: the user half needs more mappings than the log holds (" + std::to_string(us_->log_capacity()) + ")";
  else if (us_->run(v, timer_signal(), &err)) {
    if (v.sig == timer_signal() && monotonic_ns() >= v.deadline_ns) v.limit_hit = 1;
    return true;
  }
  e->kind = ExitKind::EngineError;
  e->rip = v.rip;
  e->message = err;
  return false;
}

Regs PvEngine::regs() const {
  const PvCpu& v = vtb_pv_cpu;
  Regs r;
  const uint64_t* g = v.gpr;
  r.rax = g[RAX]; r.rbx = g[RBX]; r.rcx = g[RCX]; r.rdx = g[RDX]; r.rsi = g[RSI]; r.rdi = g[RDI];
  r.rbp = g[RBP]; r.rsp = g[RSP]; r.r8 = g[R8]; r.r9 = g[R9]; r.r10 = g[R10]; r.r11 = g[R11];
  r.r12 = g[R12]; r.r13 = g[R13]; r.r14 = g[R14]; r.r15 = g[R15];
  r.rip = v.rip;
  r.rflags = (v.rflags & ~0x200ULL) | ((v.mode == Mode::User || (v.shared && v.shared->vif)) ? 0x200 : 0);
  r.cr3 = mmu_ ? mmu_->cr3() : 0;
  r.cr2 = v.shared ? v.shared->cr2 : 0;
  r.cs.selector = v.mode == Mode::User ? VTB_PV_CS_USER : VTB_PV_CS_KERNEL;
  r.ss.selector = v.mode == Mode::User ? VTB_PV_SS_USER : VTB_PV_SS_KERNEL;
  return r;
}

void PvEngine::set_regs(const Regs& r) {
  PvCpu& v = vtb_pv_cpu;
  uint64_t* g = v.gpr;
  g[RAX] = r.rax; g[RBX] = r.rbx; g[RCX] = r.rcx; g[RDX] = r.rdx; g[RSI] = r.rsi; g[RDI] = r.rdi;
  g[RBP] = r.rbp; g[RSP] = r.rsp; g[R8] = r.r8; g[R9] = r.r9; g[R10] = r.r10; g[R11] = r.r11;
  g[R12] = r.r12; g[R13] = r.r13; g[R14] = r.r14; g[R15] = r.r15;
  v.rip = r.rip;
  v.rflags = (r.rflags & 0xcd5) | 0x202;
  if (v.shared) v.shared->vif = (r.rflags & 0x200) ? 1 : 0;
}

void PvEngine::stats(Counters& out) const {
  const PvCpu& v = vtb_pv_cpu;
  for (unsigned n = 0; n < VTB_HC_COUNT; ++n) {
    const uint64_t c = v.hc_count[n] + (n == VTB_HC_NULL ? v.null_fast : 0);
    if (c) out.add(std::string("exit.hypercall.") + kHcNames[n], c);
  }
  if (v.hc_count[VTB_HC_COUNT]) out.add("exit.hypercall.unknown", v.hc_count[VTB_HC_COUNT]);
  if (mmu_) {
    out.add("mmu.validated_update", mmu_->validated_updates());
    if (mmu_->unvalidated_writes()) out.add("mmu.unvalidated_write", mmu_->unvalidated_writes());
    out.gauge("pv.pt_frames", mmu_->pt_frames());
    out.gauge("pv.direct_map_resident", PvWindow::resident_pages(VTB_KERNEL_VBASE, mem_ ? mem_->size() : 0));
    if (mmu_->stale_releases()) out.add("pv.stale_table_release", mmu_->stale_releases());
  }
  static const char* const kBuckets[4] = {"1", "2_8", "9_64", "65_up"};
  for (int i = 0; i < 4; ++i)
    if (batch_[i]) out.add(std::string("mmu.update_batch.") + kBuckets[i], batch_[i]);
  for (unsigned i = 0; i < 256; ++i)
    if (reflected_[i]) out.add("fault.reflected." + std::to_string(i), reflected_[i]);
  out.add("pv.syscall_bounce", syscall_bounce_);
  if (io_in_run_) out.add("pv.port_io_in_run", io_in_run_);
  out.gauge("pv.fsgs_isolation", vtb_pv_cpu.fsgs);
  if (cpuid_.misses()) out.add("host.cpuid", cpuid_.misses());
  out.add("pv.map_ops", win_.map_ops());
  out.gauge("pv.direct_user_access", direct_user_ ? 1 : 0);
  out.gauge("pv.window_user_remote", win_.user_remote() ? 1 : 0);
  if (win_.kernel_pages_mapped()) out.add("pv.window_kernel_page_maps", win_.kernel_pages_mapped());
  out.add("pv.kernel_protect_ops", win_.protect_ops());
  if (protect_ == PvProtect::Pkeys) {
    out.add("pv.pkru_writes", pkru_writes_);
    out.add("pv.pkeys.inspections", mmu_ ? mmu_->wx_inspections() : 0);
    out.add("pv.pkeys.wx_flips", mmu_ ? mmu_->wx_flips() : 0);
    out.add("pv.pkeys.refused", mmu_ ? mmu_->wx_refused() : 0);
  }
  if (us_) us_->stats(out);
  out.add("pv.events_delivered", events_delivered_);
  out.add("pv.host_ticks", host_ticks_);
  if (hidden_faults_) out.add("mmu.hidden_fault", hidden_faults_);
  if (int80_refused_) out.add("pv.int80_refused", int80_refused_);
  if (sysenter_refused_) out.add("pv.sysenter_refused", sysenter_refused_);
  if (blocks_) out.add("pv.block", blocks_);
  out.add("time.pv.protect_ns", win_.protect_ns());
  out.add("time.pv.syscall_bounce_ns", syscall_bounce_ns_);
  if (hidden_fault_ns_) out.add("time.pv.hidden_fault_ns", hidden_fault_ns_);
}

bool PvEngine::copy_from_guest(uint64_t va, void* out, size_t len) {
  auto* o = static_cast<uint8_t*>(out);
  while (len) {
    WalkRequest req;
    req.set_ad = false;
    const WalkResult w = walk_page_tables(*mem_, mmu_->cr3(), va, req);
    const size_t chunk = std::min<size_t>(len, VTB_PAGE_SIZE - (va & (VTB_PAGE_SIZE - 1)));
    if (w.status != WalkStatus::Ok) return false;
    const uint8_t* p = mem_->ptr(w.gpa, chunk);
    if (!p) return false;
    std::memcpy(o, p, chunk);
    o += chunk, va += chunk, len -= chunk;
  }
  return true;
}

bool PvEngine::copy_to_guest(uint64_t va, const void* in, size_t len) {
  auto* i = static_cast<const uint8_t*>(in);
  while (len) {
    WalkRequest req;
    req.write = true;
    req.set_ad = false;
    const WalkResult w = walk_page_tables(*mem_, mmu_->cr3(), va, req);
    const size_t chunk = std::min<size_t>(len, VTB_PAGE_SIZE - (va & (VTB_PAGE_SIZE - 1)));
    if (w.status != WalkStatus::Ok || mmu_->is_page_table(w.gpa) || !mmu_->wx_written(w.gpa)) return false;
    uint8_t* p = mem_->ptr(w.gpa, chunk);
    if (!p) return false;
    std::memcpy(p, i, chunk);
    i += chunk, va += chunk, len -= chunk;
  }
  return true;
}

}  // namespace pv
}  // namespace vtb
