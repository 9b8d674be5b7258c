// tags: engines|bt — desc: the bt runtime: block map, chaining, indirect-branch table, dispatcher loop, callouts, faults.
#pragma once
#include <array>
#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/counters.h"
#include "common/engine.h"
#include "common/exit.h"
#include "common/host_cpuid.h"
#include "common/regs.h"
#include "common/status.h"
#include "common/thread_timer.h"
#include "engines/bt/block.h"
#include "engines/bt/code_cache.h"
#include "engines/bt/decoder.h"
#include "engines/bt/exit_record.h"
#include "engines/bt/guest_access.h"
#include "engines/bt/translator.h"
#include "engines/bt/vcpu.h"

namespace vtb {
class InterruptSource;
class PortIoHandler;
}

namespace vtb::bt {

struct RuntimeOptions {
  // Deliver guest exceptions through the guest IDT (the engine); when false
  // (snippet tests) every guest exception is returned as ExitKind::GuestFault.
  bool reflect_exceptions = false;
  // Reserve the whole guest window PROT_NONE here (tests). When false the
  // caller already holds the reservation (the engine, from its construction).
  bool reserve_window = true;
  // Guest user code (CPL 3) runs directly on the host CPU instead of being
  // translated; its syscalls come back through Syscall User Dispatch
  // (SIGSYS), its faults and privileged instructions as host signals, timer
  // interrupts through the asynchronous-exit signal (direct_user.cpp).
  bool direct_user = false;
  // Translated guest user code may only touch user addresses
  // (< VTB_USER_TOP): a check before every access (address_checks.cpp). Needs
  // BMI2 on the host (pext); without it the counter bt.user_isolation says 0.
  bool user_isolation = true;
  // bt-softmmu: guest addresses are not host addresses; every access of
  // translated code goes through the inline TLB (softmmu_emit.cpp), a miss
  // through GuestAccess::soft_fill (softmmu_runtime.cpp). No address checks.
  bool softmmu = false;
};

class Runtime {
 public:
  // One per process: the runtime owns fixed host addresses.
  static std::unique_ptr<Runtime> create(GuestAccess* mem, const RuntimeOptions& opt, Status* err);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Exit run(const RunLimits& limits);
  Regs regs() const;
  void set_regs(const Regs& r);
  void set_interrupt_source(InterruptSource* irq) { irq_ = irq; }
  // The Vm's port-I/O dispatch: in/out served without leaving run() (null: every access is an Exit).
  void set_port_io(PortIoHandler* h) { pio_ = h; }
  int io_light(const ExitRecord& r);  // the light in/out callout (from bt_io_stub): 1 served, 0 take the callout
  void stats(Counters& out) const;
  VirtCpu& cpu() { return cpu_; }
  uint64_t& gpr(int i);
  uint64_t guest_insns_executed() const { return executed_; }

  // Self-modifying code: drop every translation overlapping [va, va+len).
  void invalidate_range(uint64_t va, uint64_t len);
  // Drop every translation (counted as bt.tc_flush).
  void flush_all();
  // Address space switch: the new space is bound to a code key (code_reuse.cpp):
  // its own from before, or any key whose code pages it maps to the same
  // frames (a fork child takes its parent's translations), or a new one.
  void on_cr3_change();
  // A frame holding translations is about to be written (the MMUs' code-write
  // detection; `va_pages`: where it was translated from). Its blocks are set
  // aside (user range: kept for adoption by content) or dropped; blocks from
  // other frames at the same addresses stay.
  void code_frame_written(uint64_t gpa_page, const std::vector<uint64_t>& va_pages);
  // invlpg: a code page of the current key that maps another frame now (or
  // none) loses its blocks (bt.tc_stale_space).
  void code_page_check(uint64_t va);
  // bt-softmmu's inline TLB (softmmu_runtime.cpp): drop every entry / the
  // entries of one page (invlpg) / the write entries of a frame that now
  // holds translations.
  // keep_global: a CR3 load, which leaves the entries of global pages (G in
  // the leaf, CR4.PGE set when they were filled).
  void tlb_flush(bool keep_global = false);
  void tlb_flush_page(uint64_t va);
  void tlb_drop_frame_writes(uint64_t gpa_page);
  // The emulator's side of the inline TLB (SoftMmu::read/write): the host
  // address of an access of n bytes at va within one page when the mode's
  // read (write) entry holds it, else null; and the entry a walk resolved.
  uint8_t* tlb_lookup(bool user, uint64_t va, size_t n, bool write) const;
  void tlb_install(bool user, uint64_t va, const SoftAccess& sa);

  // An engine part cannot go on (e.g. the mirror cannot revoke a mapping):
  // the running run() returns EngineError with `msg`; outside run() the
  // process stops with the message (nothing else would be safe).
  [[noreturn]] void engine_fatal(const std::string& msg);

  // Signal handler entry (faults.cpp), through bt_signal_trampoline: true when
  // the signal now returns into host code (bt_fault_return).
  bool handle_host_signal(int sig, void* info, void* uctx, const SignalFrame* fr);
  // The asynchronous-exit timer fired (faults.cpp): make translated code
  // come back to the dispatcher soon (unchain back edges, force table misses),
  // or take directly executed guest user code off the CPU (returns true then).
  bool on_async_signal(void* uctx, const SignalFrame* fr);
  static int async_signal_number();

  // Sensitive instructions inline where the vCPU block suffices (default;
  // inline_sensitive.cpp), or every one of them a callout (translations made
  // so far are dropped).
  void set_inline_sensitive(bool on) {
    inline_sensitive_ = on;
    if (have_translations_) reset_translations();
  }

 private:
  explicit Runtime(GuestAccess* mem, const RuntimeOptions& opt);
  Status init();

  // Dispatcher (runtime.cpp).
  Block* find_block(uint64_t pc);
  Block* translate(uint64_t pc, std::string* err);
  Block* block_at_tc(uint64_t tc);
  void chain(Block* src, uint64_t site, Block* dst);
  void ibtc_insert(Block* b);
  void ibtc_reset();
  void ibtc_clear_user();  // the user-range blocks' slots (an address-space switch)
  // The lookup tables through their writable alias (read-only at kNegTagTable).
  uint64_t* negtag() const { return reinterpret_cast<uint64_t*>(ibtc_.writable(kNegTagTable)); }
  uint64_t* tcaddr() const { return reinterpret_cast<uint64_t*>(ibtc_.writable(kTcAddrTable)); }
  void put_host_fields();
  uint64_t entry_of(const Block* b, bool checked) const { return checked ? b->tc : b->tc_fast; }
  uint64_t space_of(uint64_t pc) const;
  // Code keys and reuse (code_reuse.cpp).
  bool key_matches(uint64_t key);
  void bind_space();  // cur_key_ for the space cr3 now names
  void record_code_pages(Block* b);
  void drop_key_page(uint64_t key, uint64_t page, uint64_t keep_frame);
  Block* adopt(uint64_t pc, bool user);
  void set_aside(Block* b);
  void forget_orphans(uint64_t va, uint64_t len);
  CodeCache& cache_for(uint64_t pc);
  void unlink(Block* b);
  void drop_block(Block* b);  // unlink, invalidate, forget (counted as bt.tc_invalidate)
  void reset_translations();
  void arm_async_exit(uint64_t deadline);
  void clear_async_exit();
  bool emulate_traced_store(uint64_t pc, uint64_t va);
  // Direct execution of guest user code (direct_user.cpp).
  Status enable_direct_thread();
  // Guest user code may run at rip: the user range minus the host's second GiB.
  static bool guest_user_pc(uint64_t rip);
  // A signal interrupted directly executed guest user code (wherever it jumped).
  bool direct_guest_interrupted(uint64_t rip, const SignalFrame* fr) const;
  void record_thread_bases();
  void seal_for_direct();
  void unseal_after_direct(const SignalFrame* fr);
  void capture_guest(void* uctx, uint64_t rip, const SignalFrame* fr);
  bool direct_exit();
  void raise_outside_fetch(uint64_t pc);
  void raise_outside_access(uint64_t ea, bool write, bool user);

  // bt-softmmu (softmmu_runtime.cpp): map and clear the TLB tables; a miss
  // exit (fill, bounce, or the guest fault); the write-back of a bounce.
  Status tlb_init();
  void tlb_miss(const ExitRecord* r, int64_t* used, bool counting);
  void tlb_commit(const ExitRecord* r);
  // rep movs/stos/scas (DF clear) in page-bounded runs; false: a guest fault
  // was raised. scas: *last is the last element compared (*compared).
  bool soft_string_run(uint8_t opcode, uint64_t src_base, int size, bool user, bool repne, uint64_t* last,
                       bool* compared);

  // Callouts (privileged.cpp). Return value drives the dispatcher.
  enum class Step { Resume, Jump, ExitVm, Fault, Error };
  Step callout(const ExitRecord& r, Exit* out);
  Step port_io(const ExitRecord& r, Exit* out);
  Step serve_port_io(Exit* out);  // through pio_ when it takes the access, else ExitVm
  bool complete_pending_in();     // a served read's data into rax / guest memory (false: a fault was raised)
  bool read_operand_mem(const ExitRecord& r, void* out, size_t n);
  bool write_operand_mem(const ExitRecord& r, const void* in, size_t n);
  uint64_t operand_address(const ExitRecord& r) const;
  uint64_t full_rflags() const;
  // The virtual flags (IF, IOPL, TF, NT, AC, ID...): IF lives in AsmVcpu::vif
  // so that translated kernel code can change it inline (cli/sti).
  // (0 or kFlagIF there, so that an inline pushf adds it to the image).
  uint64_t vflags() const { return (cpu_.vflags & ~kFlagIF) | (asm_vcpu()->vif ? kFlagIF : 0); }
  void set_vflags(uint64_t v) {
    cpu_.vflags = v & ~kFlagIF;
    asm_vcpu()->vif = v & kFlagIF;
    sync_inline_state();
  }
  // Inline sensitive instructions (inline_sensitive.cpp): the vCPU block's
  // fields they read, recomputed whenever the virtual flags, CR4 or the TSC
  // offset change (and after guest user code ran directly).
  void sync_inline_state();
  void sync_cpl_from_inline();
  uint64_t inline_count(InlineOp op) const;
  static CalloutOp inline_callout(InlineOp op);
  void guest_cpuid(uint32_t leaf, uint32_t sub, unsigned out[4]);
  void set_full_rflags(uint64_t f, bool allow_if_iopl);
  bool load_segment_descriptor(uint16_t sel, uint64_t desc[2], bool* present);

  // Exceptions and interrupts (exceptions.cpp).
  // soft_len: the length of the `int n`/`int3` instruction of a software
  // interrupt (rip is after it; a refused one faults on the instruction).
  void raise(uint8_t vector, uint32_t error = 0, bool has_error = false, uint64_t cr2 = 0, uint8_t soft_len = 0);
  bool read_tss_rsp(int which, uint64_t* out);  // 0 = rsp0, 1..7 = ist
  bool deliver_pending(Exit* out);  // true: an Exit for the Vm is in *out
  void raise_signal_exception(bool int3_soft);
  bool deliver_event(uint8_t vector, bool has_error, uint32_t error, uint8_t soft_len, Exit* out);
  Step do_iret(int opsize);
  Step do_syscall();
  Step do_sysret(int opsize);

  GuestAccess* mem_;
  RuntimeOptions opt_;
  InterruptSource* irq_ = nullptr;
  Decoder dec_;
  Translator tr_{dec_};
  CodeCache user_tc_, kernel_tc_;
  CodeCache ibtc_;  // the two lookup tables: read-only at kNegTagTable, written through the alias
  uint64_t user_lookup_ = 0, kernel_lookup_ = 0, user_keep_ = 0, kernel_keep_ = 0;
  std::vector<uint8_t> scratch_;
  std::deque<std::unique_ptr<Block>> blocks_;
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, Block*>> by_pc_;  // code key -> pc -> block
  // Code key -> code page -> the frame its blocks were translated from (and
  // at which privilege): an address space may use a key only while it maps
  // every one of these pages to that frame (checked at each cr3 load; a root
  // is reused when the guest frees a page table root and allocates it again).
  struct CodePage { uint64_t frame; bool user; };
  std::unordered_map<uint64_t, std::unordered_map<uint64_t, CodePage>> space_code_;
  std::unordered_map<uint64_t, uint64_t> root_key_;  // cr3 root -> the code key it was bound to last
  uint64_t cur_key_ = 1, next_key_ = 3;              // the current space's key; keys are odd (0: kernel)
  // Blocks whose frame was written, by pc: adopted by a key whose space has
  // the same bytes there again (exec of the same program into fresh frames).
  std::unordered_map<uint64_t, std::vector<Block*>> orphans_;
  std::vector<uint8_t> adopt_buf_;
  std::map<uint64_t, Block*> by_tc_;
  std::vector<uint32_t> ibtc_user_slots_;
  std::unordered_map<uint64_t, int> traced_traps_;  // guest pc -> traced-write traps taken
  std::unordered_set<uint64_t> traced_pcs_;          // stores retranslated as TracedStore callouts
  // bt-softmmu: the frame behind each TLB entry (~0: empty), per mode; a
  // page-crossing access in flight through the bounce buffer.
  std::vector<uint64_t> tlb_gpa_[2];
  std::vector<uint32_t> tlb_used_;  // entries filled since the last flush (mode * entries + index)
  std::vector<uint32_t> tlb_kept_;  // (a flush's scratch: the global entries it keeps)
  std::vector<uint8_t> tlb_glob_[2];  // the entry is a global page's
  bool tlb_any_global_ = false;       // some entry may be global
  std::unordered_set<uint64_t> tlb_big_;  // 2 MiB / 1 GiB pages with entries (base | level): invlpg drops them whole
  uint64_t tlb_big_last_ = 0;             // the key inserted last (0: none)
  void tlb_clear_entry(bool user, size_t i);
  void tlb_clear_big(uint64_t base, uint64_t size);
  struct Bounce { bool live = false; bool write = false; uint8_t* p0 = nullptr; uint8_t* p1 = nullptr; size_t n0 = 0, n = 0;
                  uint8_t* buf = nullptr; };
  Bounce bounce_;
  alignas(64) uint8_t bounce_buf_[8192 + 64];
  HostCpuidCache host_cpuid_;  // the host's answers per (leaf, subleaf); counts host.cpuid
  std::unordered_set<uint64_t> exact_check_pcs_;     // user checks that must use the exact address
  std::unordered_set<uint64_t> no_group_pcs_;        // bt-softmmu: push/pop runs that faulted: one probe per instruction
  std::unordered_set<uint64_t> no_adapt_;            // general stores: never emulated/adapted again
  std::unordered_map<uint64_t, int> traced_useless_;  // consecutive TracedStore callouts that hit no table
  bool window_reserved_ = false;
  bool global_mapped_ = false;

  VirtCpu cpu_;
  // Pending exception raised by a callout or a fault.
  struct Pending { bool valid = false; uint8_t vector = 0; bool has_error = false; uint32_t error = 0; uint64_t cr2 = 0; uint8_t soft = 0; };
  Pending exc_;
  uint64_t resume_tc_ = 0;   // where to re-enter translated code (0: look up cpu_.rip)
  // Port I/O in flight: data buffer handed to the Vm.
  alignas(8) uint8_t io_buf_[16384];
  struct PendingIn { bool valid = false; int size = 0; uint32_t count = 0; bool string = false; bool rep = false; } pending_in_;
  PortIoHandler* pio_ = nullptr;
  uint64_t io_in_run_ = 0;  // bt.port_io_in_run: accesses the Vm's handler served without an exit
  uint64_t io_light_ = 0;   // bt.port_io_light: of those, served by the light callout (no dispatcher visit)
  bool io_served_ = false;  // the light callout served this in/out; its callout only resumes (the PIC/PIT moved)
  bool io_light_on_ = true; // VTB_BT_IO_LIGHT=0: kernel in/out take the callout (before/after figures)
  uint64_t user_io_ = 0, kernel_io_ = 0;  // the light callout's trampoline in each cache (kept prefix)
  uint64_t executed_ = 0;
  std::string error_;

  // Fault captured by the signal handler.
  struct HostFault { int sig = 0; int code = 0; uint64_t addr = 0; uint64_t trapno = 0; uint64_t err = 0; uint64_t tc_rip = 0; };
  HostFault hf_;
  ExitRecord fault_rec_{};
  volatile bool in_guest_ = false;
  bool counting_ = false;
  // Asynchronous exits (no instruction budget on back edges): a host timer at
  // the next guest timer event / wall deadline unchains every back edge and
  // forces indirect-table misses; translated code then reaches the dispatcher
  // within a block or two. Used whenever instructions are not counted.
  bool async_ = false;               // the timer exists; back edges are not checked
  bool extend_ = false;              // mode the current translations were made in
  bool have_translations_ = false;
  bool clock_due_ = true;            // read the clock (deadline, timer devices) at the next dispatcher visit
  // One clock reading per dispatcher visit (0: not read yet); the first visit
  // of a run() uses the one taken at its entry. A read costs ~60 ns on this
  // host (clock_gettime, 150 cycles): three of them made up most of the
  // dispatcher's share of a port I/O exit.
  uint64_t visit_now_ = 0;
  uint64_t floored_want_ = 0;  // arm_async_exit: the expiry last put off to the 200 us floor
  uint64_t visit_now() {
    if (!visit_now_) visit_now_ = monotonic_ns();
    return visit_now_;
  }
  ThreadTimer timer_;
  volatile sig_atomic_t exit_req_ = 0;
  volatile sig_atomic_t lookups_forced_ = 0;
  struct Link { uint64_t site, stub; };
  std::vector<Link> back_links_;                 // chained back edges (target pc <= source pc)
  std::unordered_set<uint64_t> back_link_sites_;
  uint64_t lookup_hit_rel8_[2] = {};             // exec address of each lookup routine's hit rel8
  uint8_t lookup_hit_val_[2] = {};
  volatile bool in_direct_ = false;  // translated code is not running: guest user code is, natively
  // The host's fields of the vCPU block that a direct entry clears or the guest
  // may overwrite while it runs directly, as they were (put back after it).
  struct Sealed {
    int64_t budget = 0;
    uint64_t vif = 0, fs_base = 0, gs_base = 0, kernel_gs_base = 0;
    uint64_t inline_count[BT_INLINE_OPS] = {};
  } sealed_;
  uint64_t cpuid_key_ = 0;
  bool inline_sensitive_ = true;  // pushf/popf/rdtsc/cpuid/swapgs inline (VTB_BT_INLINE=0: callouts)
  bool bmi2_ = false;  // (subleaf << 32 | leaf) answered inline
  bool sud_thread_ = false;         // SUD is on for the thread that runs the guest
  bool address_checks_ = false;        // user translations carry address checks
  bool hold_irq_ = false;  // resume_tc_ is mid-instruction-sequence: no event delivery now
  bool in_run_ = false;
  sigjmp_buf engine_fault_jmp_;

  // Counters (hot ones kept as plain fields).
  struct Stats {
    uint64_t blocks = 0, insns = 0, chain = 0, ind_miss = 0, tc_flush = 0, tc_invalidate = 0, translate_ns = 0;
    uint64_t tc_stale_space = 0;  // blocks dropped: their code page maps another frame in the current space now
    uint64_t tc_set_aside = 0, tc_reused = 0;  // blocks kept after a write to their frame / adopted from those
    uint64_t space_shared = 0, space_new = 0;  // cr3 loads bound to another root's key / to a new key
    uint64_t translate_ns_cold = 0, hidden_fault = 0, exits = 0, reentries = 0, async_exits = 0;
    uint64_t host_fault_ns = 0;  // time.bt.host_fault_ns: the shadow MMU's handling of host page faults
    uint64_t direct_entries = 0, direct_syscalls = 0, direct_faults = 0, direct_interrupts = 0, direct_outside = 0;
    uint64_t user_checks_elided = 0, kernel_checks_elided = 0;
    uint64_t user_checks_hoisted = 0, loop_entries_chained = 0;  // self-loop check hoisting (address_checks.cpp)
    uint64_t soft_probes = 0, soft_probes_short = 0, soft_probes_alone = 0, soft_probes_in_dest = 0, soft_probes_covered = 0, soft_scratch_dead = 0;  // bt-softmmu: TLB probes translated, short form among them
    uint64_t user_checks = 0, kernel_checks = 0, user_isolation_faults = 0, kernel_isolation_faults = 0;
    uint64_t priv[uint8_t(CalloutOp::Count)] = {};
    uint64_t cr_write[16] = {}, cr_read[16] = {};
    uint64_t pte_trap = 0, pte_callout = 0, pte_untraced = 0, adaptive = 0;
    uint64_t tlb_miss = 0, tlb_flush = 0, tlb_flush_page = 0, tlb_bounce = 0;
    uint64_t tlb_kept_global = 0;  // softmmu.tlb_kept_global: global entries a CR3 load kept
    std::map<int, uint64_t> reflected;
  } st_;
  friend class RuntimeTestPeer;
  friend struct SignalGlue;
};

}  // namespace vtb::bt
