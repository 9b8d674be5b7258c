// tags: engines|bt — desc: the bt Engine: Runtime + shadow MMU over GuestMemory, boot state from the loader, Vm glue.
#include "engines/bt/bt_engine.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/abi/vtb_abi.h"
#include "common/boot_state.h"
#include "common/counters.h"
#include "common/sud.h"
#include "engines/bt/runtime.h"
#include "engines/bt/shadow_mmu.h"
#include "engines/bt/soft_mmu.h"

namespace vtb {

namespace {

// Raise vm.max_map_count when we may (root): every isolated mirrored page costs two VMAs.
void raise_map_count() {
  FILE* f = fopen("/proc/sys/vm/max_map_count", "r");
  long cur = 0;
  if (f) {
    if (fscanf(f, "%ld", &cur) != 1) cur = 0;
    fclose(f);
  }
  if (cur >= 1048576) return;
  f = fopen("/proc/sys/vm/max_map_count", "w");
  if (f) {
    fprintf(f, "1048576\n");
    fclose(f);
  }
}

// The guest window is reserved when the first bt engine is created (before
// anything else can map there) and released with the last one.
int g_window_refs = 0;
Status reserve_window() {
  if (g_window_refs++ > 0) return Status::ok();
  void* w = mmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_WINDOW_HI - VTB_WINDOW_LO, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (w == MAP_FAILED) {
    --g_window_refs;
    return Status::host_error(std::string("bt: cannot reserve the guest window [0x10000, 16 TiB): ") +
                              strerror(errno));
  }
  return Status::ok();
}
void release_window() {
  if (--g_window_refs == 0) munmap(reinterpret_cast<void*>(VTB_WINDOW_LO), VTB_WINDOW_HI - VTB_WINDOW_LO);
}

// bt: shadow paging (the mirror); bt-direct: the same with guest user code
// run natively; bt-softmmu: the software MMU (no mirror, an inline TLB).
enum class BtMode { Shadow, Direct, Soft };

class BtEngine : public Engine {
 public:
  explicit BtEngine(BtMode mode) : direct_(mode == BtMode::Direct), soft_(mode == BtMode::Soft) {
    raise_map_count();
    init_ = reserve_window();
    have_window_ = init_.is_ok();
    std::string why;
    if (init_ && direct_ && !sud_inclusive_available(&why)) init_ = Status::unavailable(why);
  }
  ~BtEngine() override {
    rt_.reset();
    if (have_window_) release_window();
  }
  std::string_view name() const override { return direct_ ? "bt-direct" : soft_ ? "bt-softmmu" : "bt"; }
  Caps caps() const override {
    Caps c;
    c.flavor = Flavor::Native;
    c.owns_address_window = true;
    c.counts_instructions = !direct_;  // directly executed user code is not counted
    c.backend = std::string(name());
    c.available = init_;
    return c;
  }
  Status load(const BootImage& boot, GuestMemory& mem, InterruptSource& irq) override {
    if (!have_window_) return init_;
    if (!rt_) {
      bt::RuntimeOptions opt;
      opt.reflect_exceptions = true;
      opt.reserve_window = false;
      opt.direct_user = direct_;
      opt.softmmu = soft_;
      mmu_.set_exec_user(direct_);
      Status st;
      rt_ = bt::Runtime::create(soft_ ? static_cast<bt::GuestAccess*>(&soft_mmu_) : &mmu_, opt, &st);
      if (!rt_) return st;
    }
    if (boot.flavor != Flavor::Native) return Status::bad_input("bt runs the native kernel flavor");
    if (soft_) soft_mmu_.attach(&mem, rt_.get());
    else mmu_.attach(&mem, rt_.get());
    rt_->set_interrupt_source(&irq);
    rt_->set_port_io(pio_);
    rt_->set_regs(boot_entry_regs(boot));  // the shared entry state (common/boot_state.h)
    loaded_ = true;
    return Status::ok();
  }
  Exit run(const RunLimits& limits) override {
    if (!loaded_) {
      Exit e;
      e.kind = ExitKind::EngineError;
      e.message = "bt: run() before a successful load()";
      return e;
    }
    return rt_->run(limits);
  }
  Regs regs() const override { return rt_ ? rt_->regs() : Regs{}; }
  void set_regs(const Regs& r) override {
    if (rt_) rt_->set_regs(r);
  }
  void set_port_io(PortIoHandler* h) override { pio_ = h; }
  void stats(Counters& out) const override {
    if (!rt_) return;
    rt_->stats(out);
    if (soft_) {
      const auto& m = soft_mmu_.stats();
      out.add("softmmu.walk", m.walks);
      out.add("softmmu.tlb_fill", m.fills);
      out.add("softmmu.slow_store_code", m.code_store);
      out.add("softmmu.cross_page", m.cross_page);
      out.add("softmmu.guest_fault", m.guest_pf);
      out.add("softmmu.emu_tlb_hit", m.tlb_hits);
      out.add("mmu.hidden_fault", 0);
      return;
    }
    const auto& s = mmu_.stats();
    out.add("mmu.mirror_map", s.maps);
    out.add("mmu.mirror_unmap", s.unmaps);
    out.add("mmu.shadow_flush", s.flushes);
    out.add("mmu.code_write", s.code_write);
    out.add("mmu.code_protect", s.protect_code);
    out.add("mmu.traced_tables", s.traced_tables);
    out.add("mmu.cr3_diff", s.cr3_diff);
    out.add("mmu.cr3_kept", s.cr3_kept);
    out.add("mmu.mirror_downgrade", s.downgrades);
    out.add("mmu.mirror_upgrade", s.upgrades);
    out.add("mmu.mirror_park", s.parks);
    out.add("mmu.mirror_eager", s.eager);
    out.add("mmu.host_calls", s.host_calls);
    out.add("mmu.table_dormant", s.dormant);
  }

 private:
  bt::ShadowMmu mmu_;
  bt::SoftMmu soft_mmu_;
  Status init_;
  std::unique_ptr<bt::Runtime> rt_;
  PortIoHandler* pio_ = nullptr;  // the Vm's port-I/O dispatch (in/out served inside run())
  bool loaded_ = false;
  bool have_window_ = false;
  bool direct_ = false;
  bool soft_ = false;
};

}  // namespace

std::unique_ptr<Engine> make_bt_engine() { return std::make_unique<BtEngine>(BtMode::Shadow); }
std::unique_ptr<Engine> make_bt_direct_engine() { return std::make_unique<BtEngine>(BtMode::Direct); }
std::unique_ptr<Engine> make_bt_softmmu_engine() { return std::make_unique<BtEngine>(BtMode::Soft); }

}  // namespace vtb
