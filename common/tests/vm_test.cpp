// tags: common|tests — desc: the Vm loop with a scripted engine: dispatch, counts, outcomes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <functional>
#include <vector>

#include "common/abi/vtb_abi.h"
#include "common/port_io.h"
#include "common/tests/elf_builder.h"
#include "common/vm.h"

namespace vtb {
namespace {

// Plays back a script of exits; records what the Vm answered.
class ScriptEngine : public Engine {
 public:
  std::deque<std::function<Exit(ScriptEngine&)>> script;
  Flavor flavor = Flavor::Native;
  Status avail = Status::ok();
  bool owns_window = false, counts_insns = false;
  uint8_t buf[64] = {};
  std::vector<uint8_t> reads;
  std::vector<int64_t> hypercall_answers;
  BootImage boot;
  InterruptSource* irq = nullptr;
  // Like an engine that serves port I/O inside run(): each PortIo step goes
  // to the Vm's handler first and only what it refuses is returned.
  bool serve_in_run = false;
  PortIoHandler* pio = nullptr;
  std::vector<PortIoResult> served;

  std::string_view name() const override { return "script"; }
  Caps caps() const override {
    Caps c;
    c.flavor = flavor;
    c.backend = "script";
    c.available = avail;
    c.owns_address_window = owns_window;
    c.counts_instructions = counts_insns;
    return c;
  }
  Status load(const BootImage& b, GuestMemory&, InterruptSource& i) override {
    boot = b;
    irq = &i;
    return Status::ok();
  }
  Exit run(const RunLimits&) override {
    if (script.empty()) {
      Exit e;
      e.kind = ExitKind::EngineError;
      e.message = "script ended";
      return e;
    }
    auto f = script.front();
    script.pop_front();
    Exit e = f(*this);
    if (serve_in_run && pio && e.kind == ExitKind::PortIo) {
      const PortIoResult res = pio->handle(e.port, e.is_write, e.size, e.count, e.data);
      served.push_back(res);
      if (res != PortIoResult::Exit) {
        if (!e.is_write) reads.push_back(e.data[0]);
        return run(RunLimits{});
      }
    }
    return e;
  }
  void set_port_io(PortIoHandler* h) override { pio = h; }
  void complete(const Exit& e) override {
    if (e.kind == ExitKind::PortIo && !e.is_write) reads.push_back(e.data[0]);
    if (e.kind == ExitKind::Hypercall) hypercall_answers.push_back(e.ret);
  }
  Regs regs() const override { return {}; }
  void set_regs(const Regs&) override {}

  static std::function<Exit(ScriptEngine&)> out(uint16_t port, std::string bytes) {
    return [port, bytes](ScriptEngine& s) {
      Exit e;
      e.kind = ExitKind::PortIo;
      e.port = port;
      e.size = 1;
      e.is_write = true;
      e.count = uint32_t(bytes.size());
      std::memcpy(s.buf, bytes.data(), bytes.size());
      e.data = s.buf;
      return e;
    };
  }
  static std::function<Exit(ScriptEngine&)> in(uint16_t port) {
    return [port](ScriptEngine& s) {
      Exit e;
      e.kind = ExitKind::PortIo;
      e.port = port;
      e.size = 1;
      e.data = s.buf;
      return e;
    };
  }
  static std::function<Exit(ScriptEngine&)> simple(ExitKind k, std::string msg = "") {
    return [k, msg](ScriptEngine&) {
      Exit e;
      e.kind = k;
      e.message = msg;
      return e;
    };
  }
  static std::function<Exit(ScriptEngine&)> exit_code(uint32_t code) {
    return [code](ScriptEngine& s) {
      Exit e;
      e.kind = ExitKind::PortIo;
      e.port = VTB_PORT_EXIT;
      e.size = 4;
      e.is_write = true;
      std::memcpy(s.buf, &code, 4);
      e.data = s.buf;
      return e;
    };
  }
};

GuestImage tiny_image(Flavor f = Flavor::Native) {
  GuestImage img;
  const uint64_t v = VTB_KERNEL_VBASE + 0x100000;
  EXPECT_TRUE(parse_elf(test::build_elf({{v, 0x100000, {0xf4}, 0x10}}, v), "t.elf", &img.kernel));
  img.flavor = f;
  img.cmdline = "hello";
  return img;
}

struct Fixture {
  ScriptEngine* eng;
  std::unique_ptr<Vm> vm;
};

Fixture make(std::function<void(ScriptEngine&)> setup,
             std::chrono::nanoseconds wall = std::chrono::seconds(10), uint64_t max_guest_insns = 0) {
  auto e = std::make_unique<ScriptEngine>();
  ScriptEngine* raw = e.get();
  setup(*raw);
  Status err;
  VmConfig cfg;
  cfg.mem_mib = 8;
  cfg.limits.wall = wall;
  cfg.limits.max_guest_insns = max_guest_insns;
  auto vm = Vm::create(cfg, std::move(e), &err);
  EXPECT_TRUE(vm) << err.message();
  return {raw, std::move(vm)};
}

TEST(Vm, ConsolePhasesRecordsAndExitCode) {
  auto f = make([](ScriptEngine& s) {
    s.script = {ScriptEngine::out(VTB_PORT_UART, "hi\n"), ScriptEngine::out(VTB_PORT_CTRL, "B 1\n"),
                ScriptEngine::out(VTB_PORT_NULL, "x"),    ScriptEngine::out(VTB_PORT_CTRL, "E 1\n"),
                ScriptEngine::out(VTB_PORT_CTRL, "R sum 42\n"), ScriptEngine::exit_code(3)};
  });
  ASSERT_TRUE(f.vm->load(tiny_image()));
  EXPECT_EQ(f.eng->boot.entry, VTB_KERNEL_VBASE + 0x100000);
  RunResult r = f.vm->run();
  EXPECT_EQ(r.outcome, Outcome::Exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.console, "hi\n");
  ASSERT_EQ(r.phases.size(), 1u);
  EXPECT_NE(r.phases[0].end_ns, 0u);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].second, "42");
  EXPECT_EQ(r.counters.get("exit.port_io"), 6u);
  EXPECT_EQ(r.counters.get("exit.port_io.unclaimed"), 0u);
}

// The same guest through the Vm's PortIoHandler (an engine serving port I/O
// inside run()): the same console, phases, records, exit code and counts;
// only the exit port and each control line's '\n' come back as exits.
TEST(Vm, PortIoServedInRunCountsAsExitsAndKeepsMarkersAndExit) {
  using R = PortIoResult;
  auto bytes = [](uint16_t port, const std::string& str) {
    std::vector<std::function<Exit(ScriptEngine&)>> v;
    for (char c : str) v.push_back(ScriptEngine::out(port, std::string(1, c)));
    return v;
  };
  auto f = make([&](ScriptEngine& s) {
    s.serve_in_run = true;
    for (auto& v : {bytes(VTB_PORT_UART, "hi\n"), bytes(VTB_PORT_CTRL, "B 1\n"), bytes(VTB_PORT_NULL, "x"),
                    bytes(VTB_PORT_PIC1, "\x20"), bytes(VTB_PORT_CTRL, "E 1\n")})
      s.script.insert(s.script.end(), v.begin(), v.end());
    s.script.push_back(ScriptEngine::in(0x1234));  // unclaimed: all ones, counted
    s.script.push_back(ScriptEngine::in(VTB_PORT_NULL));
    s.script.push_back(ScriptEngine::exit_code(3));
  });
  ASSERT_TRUE(f.vm->load(tiny_image()));
  ASSERT_NE(f.eng->pio, nullptr);
  RunResult r = f.vm->run();
  EXPECT_EQ(r.outcome, Outcome::Exited);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.console, "hi\n");
  ASSERT_EQ(r.phases.size(), 1u);
  EXPECT_TRUE(r.phases[0].has_counters);
  EXPECT_LT(r.phases[0].begin_ns, r.phases[0].end_ns);
  // The phase's counts: the null port, the PIC write, "E 1\n".
  EXPECT_EQ(r.phases[0].counters.get("exit.port_io"), 6u);
  EXPECT_EQ(r.counters.get("exit.port_io"), 3u + 4u + 1u + 1u + 4u + 2u + 1u);
  EXPECT_EQ(r.counters.get("exit.port_io.unclaimed"), 1u);
  ASSERT_EQ(f.eng->reads.size(), 2u);
  EXPECT_EQ(f.eng->reads[0], 0xff);
  EXPECT_EQ(f.eng->reads[1], 0x00);
  const std::vector<R> want = {R::Served, R::Served, R::Served,     // "hi\n" to the UART
                               R::Served, R::Served, R::Served, R::Exit,  // "B 1" then its '\n'
                               R::Served,                          // the null port
                               R::ServedIrq,                       // an EOI to the PIC
                               R::Served, R::Served, R::Served, R::Exit,  // "E 1\n"
                               R::Served, R::Served,               // the two reads
                               R::Exit};                           // the exit port
  EXPECT_EQ(f.eng->served, want);
}

// VTB_IO_IN_RUN=0 hands the engine no handler: every access is an exit.
TEST(Vm, IoInRunOffHandsNoHandler) {
  setenv("VTB_IO_IN_RUN", "0", 1);
  auto f = make([](ScriptEngine& s) { s.script = {ScriptEngine::exit_code(0)}; });
  const Status st = f.vm->load(tiny_image());
  unsetenv("VTB_IO_IN_RUN");
  ASSERT_TRUE(st);
  EXPECT_EQ(f.eng->pio, nullptr);
}

TEST(Vm, UnclaimedPortReadsAllOnesAndIsCounted) {
  auto f = make([](ScriptEngine& s) {
    s.script = {ScriptEngine::in(0x1234), ScriptEngine::in(VTB_PORT_NULL), ScriptEngine::exit_code(0)};
  });
  ASSERT_TRUE(f.vm->load(tiny_image()));
  RunResult r = f.vm->run();
  EXPECT_EQ(r.outcome, Outcome::Exited);
  ASSERT_EQ(f.eng->reads.size(), 2u);
  EXPECT_EQ(f.eng->reads[0], 0xff);
  EXPECT_EQ(f.eng->reads[1], 0x00);
  EXPECT_EQ(r.counters.get("exit.port_io.unclaimed"), 1u);
}

TEST(Vm, HaltWithNoTimerIsAShutdown) {
  auto f = make([](ScriptEngine& s) { s.script = {ScriptEngine::simple(ExitKind::Halt)}; });
  ASSERT_TRUE(f.vm->load(tiny_image()));
  RunResult r = f.vm->run();
  EXPECT_EQ(r.outcome, Outcome::Shutdown);
  EXPECT_NE(r.message.find("halted"), std::string::npos);
  EXPECT_EQ(r.counters.get("exit.halt"), 1u);
}

TEST(Vm, TypedOutcomesCarryTheEngineMessage) {
  for (auto [k, o] : {std::pair{ExitKind::Shutdown, Outcome::Shutdown},
                      std::pair{ExitKind::GuestFault, Outcome::GuestFault},
                      std::pair{ExitKind::LimitReached, Outcome::LimitReached},
                      std::pair{ExitKind::EngineError, Outcome::EngineError}}) {
    auto f = make([k = k](ScriptEngine& s) { s.script = {ScriptEngine::simple(k, "why: test")}; });
    ASSERT_TRUE(f.vm->load(tiny_image()));
    RunResult r = f.vm->run();
    EXPECT_EQ(r.outcome, o);
    EXPECT_EQ(r.message, "why: test");
  }
}

TEST(Vm, UnhandledHypercallAnswersEnosys) {
  auto f = make([](ScriptEngine& s) {
    s.script = {ScriptEngine::simple(ExitKind::Hypercall), ScriptEngine::exit_code(0)};
  });
  ASSERT_TRUE(f.vm->load(tiny_image()));
  f.vm->run();
  ASSERT_EQ(f.eng->hypercall_answers.size(), 1u);
  EXPECT_EQ(f.eng->hypercall_answers[0], -VTB_ENOSYS);
}

TEST(Vm, RejectsFlavorMismatchAndUnavailableEngine) {
  auto f = make([](ScriptEngine& s) { s.flavor = Flavor::Pv; });
  Status s = f.vm->load(tiny_image(Flavor::Native));
  EXPECT_EQ(s.kind(), ErrorKind::BadInput);
  auto g = make([](ScriptEngine& s) { s.avail = Status::unavailable("no /dev/kvm"); });
  Status t = g.vm->load(tiny_image());
  EXPECT_EQ(t.kind(), ErrorKind::Unavailable);
  EXPECT_EQ(t.message(), "no /dev/kvm");
  EXPECT_EQ(g.vm->run().outcome, Outcome::EngineError);
}

TEST(Vm, RefusesAnInstructionBoundTheEngineCannotCount) {
  auto f = make([](ScriptEngine&) {}, std::chrono::seconds(10), 1000);
  Status s = f.vm->load(tiny_image());
  EXPECT_EQ(s.kind(), ErrorKind::BadInput);
  EXPECT_NE(s.message().find("cannot count guest instructions"), std::string::npos) << s.message();
  auto g = make([](ScriptEngine& e) { e.counts_insns = true; }, std::chrono::seconds(10), 1000);
  EXPECT_TRUE(g.vm->load(tiny_image()));
}

TEST(Vm, OneWindowOwningVmPerProcess) {
  auto owner = [](ScriptEngine& e) { e.owns_window = true; };
  auto a = make(owner);
  ASSERT_TRUE(a.vm->load(tiny_image()));
  ASSERT_TRUE(a.vm->load(tiny_image()));  // loading again keeps its own claim
  auto b = make(owner);
  Status s = b.vm->load(tiny_image());
  EXPECT_EQ(s.kind(), ErrorKind::BadInput);
  EXPECT_NE(s.message().find("address window"), std::string::npos) << s.message();
  auto other = make([](ScriptEngine&) {});  // an engine without a window is not limited
  EXPECT_TRUE(other.vm->load(tiny_image()));
  a.vm.reset();
  EXPECT_TRUE(b.vm->load(tiny_image()));
}

TEST(Vm, WallLimitStopsTheLoop) {
  auto slow_out = [](ScriptEngine& s) {
    timespec ts{0, 2000000};  // each "guest step" takes 2 ms
    nanosleep(&ts, nullptr);
    return ScriptEngine::out(VTB_PORT_NULL, "x")(s);
  };
  auto f = make(
      [&](ScriptEngine& s) {
        for (int i = 0; i < 1000; ++i) s.script.push_back(slow_out);
      },
      std::chrono::milliseconds(20));
  ASSERT_TRUE(f.vm->load(tiny_image()));
  RunResult r = f.vm->run();
  EXPECT_EQ(r.outcome, Outcome::LimitReached);
  EXPECT_NE(r.message.find("wall-clock limit"), std::string::npos);
  EXPECT_LT(r.counters.get("exit.port_io"), 1000u);
}

}  // namespace
}  // namespace vtb
