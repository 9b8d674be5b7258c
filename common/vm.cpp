// tags: common|vm — desc: the VM run loop: run the engine, dispatch exits, count them.
#include "common/vm.h"

#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "common/clock.h"
#include "common/devices/control.h"
#include "common/devices/pic.h"
#include "common/devices/pit.h"
#include "common/devices/post_port.h"
#include "common/devices/uart.h"
#include "common/host_events.h"
#include "common/interrupt_source.h"
#include "common/port_io.h"

namespace vtb {

namespace {

// Held by the loaded VM whose engine owns the process's guest address window
// (Caps::owns_address_window); at most one per process.
std::atomic<bool> g_window_held{false};
struct WindowClaim {
  bool held = false;
  bool claim() { return held || (held = !g_window_held.exchange(true)); }
  ~WindowClaim() {
    if (held) g_window_held = false;
  }
};

}  // namespace

struct Vm::Impl : PortIoHandler {
  VmConfig cfg;
  WindowClaim window;  // released after the engine is gone (members die in reverse order)
  std::unique_ptr<GuestMemory> mem;
  std::unique_ptr<Engine> engine;
  Bus pio{"port-io"};
  Bus mmio{"mmio"};
  Counters counters;
  const HostEventSnapshot host_start = HostEventSnapshot::now();  // host.* counts from here
  Uart uart;
  ControlDevice control;
  PostPort post;
  Pic pic;
  Pit pit{[this](int irq) { pic.raise_irq(irq); }};
  bool loaded = false;

  // Every counter now: the loop's, the devices', the engine's stats(), the host events (host.*).
  Counters snapshot() const {
    Counters c = counters;
    c.set("timer.ticks", pit.ticks_fired());
    c.set("timer.ticks_coalesced", pit.ticks_coalesced());
    c.set("irq.delivered", pic.delivered());
    if (control.malformed_lines()) c.set("control.malformed_lines", control.malformed_lines());
    engine->stats(c);
    const HostEventSnapshot host_now = HostEventSnapshot::now();
    for (unsigned i = 0; i < unsigned(HostEvent::kCount); ++i)
      if (const uint64_t d = host_now.n[i] - host_start.n[i]) c.set(std::string("host.") + kHostEventNames[i], d);
    return c;
  }

  Status add_devices() {
    pic.set_timer(&pit);
    control.set_snapshot([this] { return snapshot(); });
    uart.set_echo(cfg.echo_console);
    struct { uint64_t base, len; Device* dev; } table[] = {
        {VTB_PORT_UART, 8, &uart},
        {VTB_PORT_PIC1, 2, pic.master()},
        {VTB_PORT_PIC2, 2, pic.slave()},
        {VTB_PORT_PIT, 4, &pit},
        {VTB_PORT_NULL, 1, &post},
        {VTB_PORT_CTRL, 1, control.ctrl_port()},
        {VTB_PORT_EXIT, 4, control.exit_port()},
    };
    for (const auto& t : table)
      if (Status s = pio.add(t.base, t.len, t.dev); !s) return s;
    return Status::ok();
  }

  uint64_t* port_io_count = nullptr;  // counters' "exit.port_io" (node-based map: the slot stays put)

  // One port access (count elements) on the bus, counted: the same for a
  // PortIo exit and for an access an engine serves through handle().
  void serve_port_io(Device* dev, uint64_t off, bool write, unsigned size, uint32_t count, uint8_t* data) {
    if (!port_io_count) port_io_count = &counters.slot("exit.port_io");
    ++*port_io_count;
    if (!dev) {  // what Bus::read/write do for an address nobody claims
      if (!write) std::memset(data, 0xff, size_t(size) * count);
      counters.slot("exit.port_io.unclaimed") += count;
      return;
    }
    for (uint32_t i = 0; i < count; ++i) {
      uint8_t* d = data + size_t(i) * size;
      if (write) dev->write(off, d, size);
      else dev->read(off, d, size);
    }
  }

  void do_port_io(Exit& e) {
    uint64_t off = 0;
    Device* dev = pio.find(e.port, &off);
    serve_port_io(dev, off, e.is_write, e.size, e.count, e.data);
  }

  // PortIoHandler: what may be served inside the engine's run(). The exit
  // port ends the run and a control line's '\n' stamps a phase marker and
  // snapshots every counter (the engine's included): both stay exits, so
  // the Vm's loop sees them exactly as before.
  PortIoResult handle(uint16_t port, bool write, uint8_t size, uint32_t count, uint8_t* data) override {
    uint64_t off = 0;
    Device* dev = pio.find(port, &off);
    if (dev == control.exit_port()) return PortIoResult::Exit;
    if (dev == control.ctrl_port() && write && std::memchr(data, '\n', size_t(size) * count))
      return PortIoResult::Exit;
    serve_port_io(dev, off, write, size, count, data);
    const bool irq = dev == pic.master() || dev == pic.slave() || dev == &pit;
    return irq ? PortIoResult::ServedIrq : PortIoResult::Served;
  }

  void do_mmio(Exit& e) {
    ++counters.slot("exit.mmio");
    const bool claimed = e.is_write ? mmio.write(e.gpa, e.data, e.size) : mmio.read(e.gpa, e.data, e.size);
    if (!claimed) ++counters.slot("exit.mmio.unclaimed");
  }

  // hlt with nothing pending: sleep to the next timer event. False when the
  // guest can never wake up.
  bool wait_for_event(uint64_t deadline_ns) {
    pic.update(monotonic_ns());
    if (pic.pending()) return true;
    const uint64_t next = pic.next_event_ns();
    if (next == 0) return false;
    const uint64_t until = next < deadline_ns ? next : deadline_ns;
    const uint64_t now = monotonic_ns();
    if (until > now) {
      timespec ts{time_t((until - now) / 1000000000ULL), long((until - now) % 1000000000ULL)};
      nanosleep(&ts, nullptr);
    }
    pic.update(monotonic_ns());
    return true;
  }
};

Vm::Vm() : impl_(new Impl) {}
Vm::~Vm() = default;

std::unique_ptr<Vm> Vm::create(const VmConfig& cfg, std::unique_ptr<Engine> engine, Status* err) {
  std::unique_ptr<Vm> vm(new Vm());
  Impl& m = *vm->impl_;
  m.cfg = cfg;
  if (!engine) {
    *err = Status::bad_input("no engine");
    return nullptr;
  }
  m.engine = std::move(engine);
  m.mem = GuestMemory::create(cfg.mem_mib << 20, err);
  if (!m.mem) return nullptr;
  if (Status s = m.add_devices(); !s) {
    *err = s;
    return nullptr;
  }
  *err = Status::ok();
  return vm;
}

Status Vm::load(const GuestImage& img) {
  Impl& m = *impl_;
  const Caps caps = m.engine->caps();
  if (!caps.available) return caps.available;
  if (caps.flavor != img.flavor)
    return Status::bad_input(std::string("engine ") + std::string(m.engine->name()) + " runs the " +
                             flavor_name(caps.flavor) + " kernel flavor, the image is " + flavor_name(img.flavor));
  const std::string name(m.engine->name());
  if (m.cfg.limits.max_guest_insns && !caps.counts_instructions)
    return Status::bad_input("engine " + name + " cannot count guest instructions: no max_guest_insns bound");
  if (caps.owns_address_window && !m.window.claim())
    return Status::bad_input("engine " + name + " owns the process's guest address window and another VM in "
                             "this process holds it: one such VM per process (vtb run --vms and vtb bench "
                             "use a child process per VM)");
  BootImage boot;
  if (Status s = place_image(img, *m.mem, &boot); !s) return s;
  // VTB_IO_IN_RUN=0: every port access comes back as an Exit (before/after figures).
  if (const char* v = std::getenv("VTB_IO_IN_RUN"); !v || std::strcmp(v, "0") != 0) m.engine->set_port_io(&m);
  if (Status s = m.engine->load(boot, *m.mem, m.pic); !s) return s;
  m.loaded = true;
  return Status::ok();
}

RunResult Vm::run() {
  Impl& m = *impl_;
  RunResult r;
  if (!m.loaded) {
    r.outcome = Outcome::EngineError;
    r.message = "Vm::run called before a successful load";
    return r;
  }
  const uint64_t start = monotonic_ns();
  const uint64_t wall = uint64_t(m.cfg.limits.wall.count());
  const uint64_t deadline = wall ? start + wall : ~0ULL;
  bool done = false;
  while (!done) {
    const uint64_t now = monotonic_ns();
    if (now >= deadline) {
      r.outcome = Outcome::LimitReached;
      r.message = "wall-clock limit reached (" + std::to_string(wall / 1000000) + " ms)";
      break;
    }
    RunLimits lim{m.cfg.limits.max_guest_insns, std::chrono::nanoseconds(deadline - now), now};
    Exit e = m.engine->run(lim);
    switch (e.kind) {
      case ExitKind::PortIo:
        m.do_port_io(e);
        if (m.control.exited()) {
          r.outcome = Outcome::Exited;
          r.exit_code = m.control.exit_code();
          done = true;
        }
        break;
      case ExitKind::Mmio:
        m.do_mmio(e);
        break;
      case ExitKind::Hypercall:
        // Engines serve their own hypercalls; one that reaches the Vm has no handler.
        ++m.counters.slot("exit.hypercall.unhandled");
        e.ret = -VTB_ENOSYS;
        break;
      case ExitKind::Halt:
        ++m.counters.slot("exit.halt");
        if (!m.wait_for_event(deadline)) {
          r.outcome = Outcome::Shutdown;
          r.message = "guest halted with no interrupt pending or programmed";
          done = true;
        }
        break;
      case ExitKind::Shutdown:
        ++m.counters.slot("exit.shutdown");
        r.outcome = Outcome::Shutdown;
        r.message = e.message.empty() ? "guest shut down (triple fault)" : e.message;
        done = true;
        break;
      case ExitKind::GuestFault:
        ++m.counters.slot("exit.guest_fault");
        r.outcome = Outcome::GuestFault;
        r.message = e.message;
        done = true;
        break;
      case ExitKind::LimitReached:
        r.outcome = Outcome::LimitReached;
        r.message = e.message.empty() ? "run limit reached" : e.message;
        done = true;
        break;
      case ExitKind::EngineError:
        r.outcome = Outcome::EngineError;
        r.message = e.message;
        done = true;
        break;
    }
    // The engine keeps `e` (its data buffer, e.ret) for the next run().
    if (!done && (e.kind == ExitKind::PortIo || e.kind == ExitKind::Mmio || e.kind == ExitKind::Hypercall))
      m.engine->complete(e);
  }
  r.wall_seconds = double(monotonic_ns() - start) * 1e-9;
  r.console = m.uart.output();
  r.phases = m.control.phases();
  r.records = m.control.records();
  r.counters = m.snapshot();
  return r;
}

GuestMemory& Vm::memory() { return *impl_->mem; }
Bus& Vm::pio() { return impl_->pio; }
Bus& Vm::mmio() { return impl_->mmio; }
Engine& Vm::engine() { return *impl_->engine; }
Counters& Vm::counters() { return impl_->counters; }

}  // namespace vtb
