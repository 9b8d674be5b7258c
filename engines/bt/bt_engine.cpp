// tags: engines|bt — desc: the bt Engine: Runtime + shadow MMU over GuestMemory, loader state, Vm glue.
#include "engines/bt/bt_engine.h"

namespace vtb {

namespace {
class BtEngine : public Engine {
 public:
  std::string_view name() const override { return "bt"; }
  Caps caps() const override {
    Caps c;
    c.flavor = Flavor::Native;
    c.owns_address_window = true;
    c.counts_instructions = true;
    c.backend = "bt";
    c.available = Status::unavailable("bt engine: shadow MMU not built yet");
    return c;
  }
  Status load(const BootImage&, GuestMemory&, InterruptSource&) override { return caps().available; }
  Exit run(const RunLimits&) override {
    Exit e;
    e.kind = ExitKind::EngineError;
    e.message = "bt engine not loaded";
    return e;
  }
  Regs regs() const override { return {}; }
  void set_regs(const Regs&) override {}
};
}  // namespace

std::unique_ptr<Engine> make_bt_engine() { return std::make_unique<BtEngine>(); }

}  // namespace vtb
