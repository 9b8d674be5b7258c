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

namespace vtb {

const std::vector<EngineInfo>& registered_engines() {
  // One line per engine, in the order `vtb list`, `vtb bench` and the
  // conformance matrix show them. `technique` (registry.h) is also a scope
  // of manifest checks: `expect = binary translation: ...` holds for bt and bt-direct.
  static const std::vector<EngineInfo> list = {
      VTB_REGISTER(KVM, {"kvm", "hardware assist", &make_kvm_engine})
      VTB_REGISTER(PV, {"pv", "paravirtualization", &make_pv_engine})
      VTB_REGISTER(BT, {"bt", "binary translation", &make_bt_engine})
      VTB_REGISTER(BT, {"bt-direct", "binary translation", &make_bt_direct_engine})
      VTB_REGISTER(SKELETON, {"skeleton", "template (runs no guest)", &make_skeleton_engine})
  };
  return list;
}

const EngineInfo* find_engine(std::string_view name) {
  for (const auto& e : registered_engines())
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace vtb
