// tags: engines|kvm — desc: the kvm engine (hardware assist through /dev/kvm): factory for the registry.
#pragma once
#include <memory>

#include "common/engine.h"

namespace vtb {

// The registry calls this. Environment:
//   VTB_KVM_DEV=path          device node (default /dev/kvm)
//   VTB_KVM_BACKEND=label     backend label override ("nested-tcg" -> "kvm@nested-tcg")
//   VTB_KVM_IRQCHIP=kernel    in-kernel PIC+PIT instead of the common ones (default: user)
std::unique_ptr<Engine> make_kvm_engine();

}  // namespace vtb
