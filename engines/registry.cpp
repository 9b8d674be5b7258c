// tags: engines|registry — desc: one line per engine; CMake options select them.
#include "engines/registry.h"

#ifdef VTB_ENGINE_KVM
#include "engines/kvm/kvm_engine.h"
#endif
#ifdef VTB_ENGINE_PV
#include "engines/pv/pv_engine.h"
#endif
#ifdef VTB_ENGINE_BT
#include "engines/bt/bt_engine.h"
#endif

namespace vtb {

const std::vector<EngineInfo>& registered_engines() {
  static const std::vector<EngineInfo> list = {
#ifdef VTB_ENGINE_KVM
      {"kvm", "hardware assist", &make_kvm_engine},
#endif
#ifdef VTB_ENGINE_PV
      {"pv", "paravirtualization", &make_pv_engine},
#endif
#ifdef VTB_ENGINE_BT
      {"bt", "binary translation", &make_bt_engine},
      {"bt-direct", "binary translation", &make_bt_direct_engine},
#endif
  };
  return list;
}

const EngineInfo* find_engine(std::string_view name) {
  for (const auto& e : registered_engines())
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace vtb
