// tags: engines|pv — desc: pv@2as: the second host process that runs guest user code, its doorbell and mapping log (engine side).
#pragma once
#include <sched.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/counters.h"
#include "engines/pv/pv_cpu.h"
#include "engines/pv/pv_cpu_contention.h"
#include "engines/pv/pv_door.h"
#include "engines/pv/pv_window.h"

namespace vtb::pv {

class PvMmu;

// The user process of pv@2as (docs/pv.md): it maps only the current guest
// process's user pages (the window's user half, replayed from a log of
// changes) and runs guest user code; each of its traps is posted to a
// shared doorbell and served by the engine as an in-process trap would be.
// Guest-kernel memory, the hypercall page and the host's code and data are
// not mapped there.
class PvUserSpace final : public WindowListener {
 public:
  PvUserSpace() = default;
  ~PvUserSpace() override;  // the process is killed and reaped
  PvUserSpace(const PvUserSpace&) = delete;
  PvUserSpace& operator=(const PvUserSpace&) = delete;

  // The user-process binary (VTB_PV_USER_HOST, else the one built with
  // the engine); false with the reason when it is not there.
  static bool available(std::string* why);
  // The hand-over's settings from the environment (docs/pv.md); false with
  // a one-line reason when one is malformed. Before start().
  bool configure(std::string* err);
  // Start the process over guest RAM `mem_fd` and wait until it is ready.
  bool start(int mem_fd, bool fsgs, int preempt_sig, std::string* err);
  bool running() const { return s_ && s_->pid > 0; }
  // Run guest user code from the state in `v` until it traps, then put the
  // trap into `v` as the signal handler's copy_in does (sig, si_code,
  // trapno, err, addr; the engine's preempt = timer_signal). False: the
  // process failed, died or stopped answering (`*err`, an engine error;
  // the process is gone).
  bool run(PvCpu& v, int timer_sig, std::string* err);
  // The log overflowed: the caller re-logs the whole user half
  // (begin_replay() first), PvMmu::replay().
  bool overflowed() const { return s_ && s_->overflow; }
  uint64_t log_capacity() const { return log_cap_; }
  void begin_replay();

  // Run the user process on the CPU the calling (vCPU) thread is on, and
  // keep that thread there too: a handoff is then a switch on one CPU, not
  // a wake-up on the other one (an IPI: a VM exit when the host is itself a
  // virtual machine). The thread's affinity comes back when this object
  // goes (on that thread). Only with VTB_PV_2AS_PIN=1: measured 2.7×
  // faster per syscall at load 2, no faster at load 4.5 (docs/pv.md).
  void pin_here();
  bool pinned() const { return pinned_; }

  void mapped(uint64_t va, uint64_t len, uint64_t gpa, int prot) override;
  void unmapped(uint64_t va, uint64_t len) override;

  // One user process per guest address space (VTB_PV_2AS_PROCS, default
  // kDefaultProcs; 1 = one process whose window follows every switch).
  // The engine brackets a switch of guest page-table root (new_baseptr):
  // switch_begin() holds back the window's changes the switch makes;
  // switch_end() picks the new root's process: one that already maps it
  // and whose root saw no change since it last ran (PvMmu's
  // root_changes, foreign_updates) runs as it is (no mapping change at
  // all); otherwise the held-back changes go to the outgoing process when
  // it is the one reused, or a free, new or least recently used one is
  // reset and the whole user half is replayed into it (`mmu`'s replay).
  // root_incarnation tells a reused root frame from the old one. A process that cannot be started is counted, and the outgoing
  // one serves instead.
  void switch_begin();
  void switch_end(const PvMmu& mmu);
  // A root is gone (unpinned): its process's mappings belong to nobody.
  void root_released(uint64_t root);

  void stats(Counters& out) const;
  static constexpr unsigned kDefaultProcs = 4, kMaxProcs = 64;

 private:
  // One user process: its door, mapping log and done eventfd.
  struct Slot {
    pv_door* door = nullptr;
    pv_maplog* maplog = nullptr;      // the page(s) after the door: read-only in the user process
    int door_fd = -1;
    int done_fd = -1;                 // eventfd: the mapper's token per log applied
    pid_t pid = -1;
    pid_t mapper_tid = -1;            // its mapper thread (affinity)
    uint32_t seen = 0;                // to_engine seen
    std::vector<pv_door_log> log;     // changes for its next resume (the mapper applies them first)
    uint64_t outstanding = 0;         // logs posted to the mapper and not yet confirmed
    bool overflow = false;
    bool has_root = false;            // maps the user half of `root` (as of `gen`)
    std::map<uint64_t, uint64_t> shadow;  // page -> gpa | prot: what it maps once its log is applied
    uint64_t root = 0, incarnation = 0, gen = 0, changes = 0, used = 0;  // gen, changes: PvMmu's counts when it last ran
  };
  bool spawn(Slot& s, std::string* err);
  void track(Slot& s, uint64_t op, uint64_t va, uint64_t len, uint64_t gpa_prot);
  static void add_pages(std::map<uint64_t, uint64_t>* pages, uint64_t va, uint64_t len, uint64_t gpa_prot);
  void log_difference(const std::map<uint64_t, uint64_t>& want);
  void kill_process(Slot& s);
  void close_slot(Slot& s);
  void append(uint64_t op, uint64_t va, uint64_t len, uint64_t gpa_prot);
  bool post_to_user(Slot& sl);  // true: it woke the user process (it slept)
  static bool post(pv_door& d, volatile uint32_t* word, volatile uint32_t* sleeps, uint64_t* wakes);
  bool wait_trap(PvCpu& v, uint64_t limit_ns, std::string* err);
  bool confirm_logs(Slot& sl, std::string* err);  // its mapper is done with every log posted (its log may be rewritten)
  bool post_log(Slot& sl);                         // the staged log to the mapper, which then resumes the guest thread (true: woken)
  bool take_trap(PvCpu& v, int timer_sig, std::string* err);
  void kill_process() { if (s_) kill_process(*s_); }
  bool spin_cpus() const;
  // Where the two sides run in this epoch: as they were (contended), on one
  // CPU (co-located futex hand-overs) or apart (the user processes on the
  // other CPUs: spinning; a spinner on its peer's CPU holds it off).
  enum class Place { Free, Together, Apart };
  void place(Place want);
  bool set_user_affinity(const cpu_set_t& m);
  bool pick_spin(uint64_t now, bool wakes);  // auto: spin this hand-over's epoch (few resumes must wake a sleeper)?
  bool dead(std::string* err);  // reaped (true, with the reason)

  std::vector<std::unique_ptr<Slot>> slots_;
  Slot* s_ = nullptr;                 // the process that runs guest user code now
  unsigned max_procs_ = kDefaultProcs;
  int mem_fd_ = -1;
  bool fsgs_ = false;
  int preempt_sig_ = 0;
  uint64_t log_cap_ = PV_DOOR_LOG_MAX;
  bool switching_ = false;            // between switch_begin and switch_end
  std::vector<pv_door_log> held_;     // the switch's window changes, held back
  uint64_t use_clock_ = 0;
  uint64_t clean_switches_ = 0, diff_switches_ = 0, replay_switches_ = 0, spawns_ = 0, spawn_failures_ = 0;
  uint32_t xsave_size_ = 0;   // the engine's xsave image (standard format, XCR0)
  uint64_t xcr0_ = 0;
  uint32_t mxcsr_mask_ = 0xffbf;
  uint32_t xsave_end_[64] = {};  // per XCR0 component: offset + size in the standard format
  // counters
  uint64_t mapper_logs_ = 0, mapper_wakes_ = 0, mapper_waits_ = 0, yields_ = 0;
  uint64_t handoff_ns_ = 0;  // time.pv.2as.handoff_ns (ScopedNs)
  bool pinned_ = false;
  long pinned_tid_ = 0;
  cpu_set_t old_mask_{};
  cpu_set_t one_cpu_{};  // the CPU of pinning or co-location
  CpuContention contention_;  // gates spinning (pv_cpu_contention.h)
  bool gate_ = true;
  unsigned yield_ = 1;  // VTB_PV_2AS_YIELD: 0 never, 1 after a co-located wake-up, 2 after every wake-up
  enum class QuietMode { Auto, Pin, Spin };  // VTB_PV_2AS_QUIET
  QuietMode quiet_mode_ = QuietMode::Auto;
  Place place_ = Place::Free;
  bool colocate_saved_ = false;
  cpu_set_t user_mask_{};  // the user processes' CPUs while placed
  uint64_t colocations_ = 0, separations_ = 0;
  // auto: this epoch's hand-overs and those that must wake a sleeper (pick_spin)
  bool spin_pick_ = false;
  static constexpr unsigned kHoldEpochs = 8;
  uint64_t mix_epoch_ns_ = 0, mix_handoffs_ = 0, mix_wakes_ = 0, mix_spun_ = 0, mix_user_sleeps_ = 0, spin_epochs_ = 0, pin_epochs_ = 0;
  unsigned hold_ = 0;
  const Slot* trapped_ = nullptr;  // the process whose trap was taken last
  bool spin_now_ = false;  // this handoff may spin (cap set, CPUs quiet)
  uint64_t spin_us_ = 0;
  pv_spin spin_{};  // the engine side's hand-over policy (pv_door.h)
  uint64_t handoffs_ = 0, spins_ = 0, spin_misses_ = 0, futex_waits_ = 0, wakes_ = 0, preempts_ = 0, log_entries_ = 0, replays_ = 0;
};

}  // namespace vtb::pv
