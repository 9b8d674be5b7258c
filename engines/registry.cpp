// tags: engines|registry — desc: one guarded line per engine; CMake options select them.
#include "engines/registry.h"

#include "engine_headers.h"  // generated: engines/<name>/<name>_engine.h of every engine built

// VTB_REGISTER(NAME, {"name", "technique", &factory}): the entry when the
// option VTB_ENGINE_<NAME> is ON (engines/CMakeLists.txt defines the macro
// VTB_ENGINE_<NAME> as 1), nothing when it is OFF (0). An unknown NAME (no
// folder engines/<name>/) is a compile error.
#define VTB_REGISTER(NAME, ...) VTB_REGISTER_IF(VTB_ENGINE_##NAME, __VA_ARGS__)
#define VTB_REGISTER_IF(on, ...) VTB_REGISTER_IF_(on, __VA_ARGS__)
#define VTB_REGISTER_IF_(on, ...) VTB_REGISTER_IF_##on(__VA_ARGS__)
#define VTB_REGISTER_IF_1(...) __VA_ARGS__,
#define VTB_REGISTER_IF_0(...)

#include <cstdlib>
#include <sstream>

namespace vtb {

namespace {

// The ablation knobs (the environment variables the engines read when created).
// pv's protection: the first value is the default on a host without PKU
// (unset, the engine takes pkeys with PKU, else 2as where available, else mprotect).
const EngineOption kPvProtect{
    "protect",
    "the pv guest kernel's protection from its user mode (unset: pkeys with PKU, else 2as where available, else "
    "mprotect; docs/pv.md)",
    {{"2as", "VTB_PV_UNPROTECTED=0 VTB_PV_PROTECT=2as", "guest user code in a second host process (docs/pv.md)"},
     {"mprotect", "VTB_PV_UNPROTECTED=0 VTB_PV_PROTECT=mprotect", "mprotect the kernel range at every switch"},
     {"off", "VTB_PV_UNPROTECTED=1 VTB_PV_PROTECT=off", "none: unsafe, measures the switches' cost"},
     {"pkeys", "VTB_PV_UNPROTECTED=0 VTB_PV_PROTECT=pkeys", "memory protection keys (needs PKU; docs/pv.md)"}}};
const EngineOption kKvmIrqchip{
    "irqchip", "who emulates the interrupt controller (docs/kvm.md)",
    {{"user", "VTB_KVM_IRQCHIP=user", "the vtb PIC in user space"},
     {"kernel", "VTB_KVM_IRQCHIP=kernel", "KVM's in-kernel irqchip"}}};
const EngineOption kBtUserChecks{
    "user_checks", "address checks isolating guest user code from the kernel's pages (docs/bt.md)",
    {{"on", "VTB_BT_USER_CHECKS=1", "checked (when the host has BMI2)"},
     {"off", "VTB_BT_USER_CHECKS=0", "unchecked: measures the checks' cost"}}};

}  // namespace

const std::vector<EngineInfo>& registered_engines() {
  // One line per engine, in the order `vtb list`, `vtb bench` and the
  // conformance matrix show them. `technique` (registry.h) is also a scope
  // of manifest checks: `expect = binary translation: ...` holds for bt and bt-direct.
  static const std::vector<EngineInfo> list = {
      VTB_REGISTER(KVM, {"kvm", "hardware assist", &make_kvm_engine, {kKvmIrqchip}})
      VTB_REGISTER(PV, {"pv", "paravirtualization", &make_pv_engine, {kPvProtect}})
      VTB_REGISTER(BT, {"bt", "binary translation", &make_bt_engine, {kBtUserChecks}})
      VTB_REGISTER(BT, {"bt-direct", "binary translation", &make_bt_direct_engine, {kBtUserChecks}})
      VTB_REGISTER(BT, {"bt-softmmu", "binary translation", &make_bt_softmmu_engine})
      VTB_REGISTER(SKELETON, {"skeleton", "template (runs no guest)", &make_skeleton_engine})
  };
  return list;
}

std::string parse_engine_spec(std::string_view spec, EngineSpec* out) {
  EngineSpec s;
  const size_t colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  s.info = find_engine(name);
  if (!s.info) return "unknown engine '" + std::string(name) + "'";
  if (colon == std::string_view::npos) {
    *out = s;
    return "";
  }
  s.options = std::string(spec.substr(colon));
  std::stringstream in{std::string(spec.substr(colon + 1))};
  std::string kv;
  while (std::getline(in, kv, ',')) {
    const size_t eq = kv.find('=');
    const std::string key = kv.substr(0, eq), value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    const EngineOption* opt = nullptr;
    std::string names;
    for (const auto& o : s.info->options) {
      names += (names.empty() ? "" : ", ") + std::string(o.name);
      if (o.name == key) opt = &o;
    }
    if (!opt)
      return "engine " + std::string(name) + " has no option '" + key + "' (" + (names.empty() ? "it has none" : "known: " + names) + ")";
    const EngineOptionValue* val = nullptr;
    std::string values;
    for (const auto& v : opt->values) {
      values += (values.empty() ? "" : ", ") + std::string(v.value);
      if (v.value == value) val = &v;
    }
    if (!val) return "option " + key + " of engine " + std::string(name) + ": bad value '" + value + "' (" + values + ")";
    s.chosen.emplace_back(opt, val);
  }
  if (s.chosen.empty()) return "engine '" + std::string(spec) + "': no option after ':'";
  *out = s;
  return "";
}

void apply_engine_options(const EngineSpec& spec) {
  for (const auto& [opt, val] : spec.chosen) {
    std::stringstream in{std::string(val->env)};
    std::string assignment;
    while (in >> assignment) {
      const size_t eq = assignment.find('=');
      setenv(assignment.substr(0, eq).c_str(), assignment.substr(eq + 1).c_str(), 1);
    }
  }
}

const EngineInfo* find_engine(std::string_view name) {
  for (const auto& e : registered_engines())
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace vtb
