// tags: engines|kvm — desc: C++-safe forms of the <linux/kvm.h> ioctls whose structs end in __DECLARE_FLEX_ARRAY.
//
// Linux uapi headers (6.1) wrap those flexible arrays in `struct { struct {} __empty; T x[]; }`.
// In C++ the empty struct has size 1, so sizeof(struct kvm_cpuid2) is 12, not 8,
// and _IOWR(..., struct kvm_cpuid2) encodes a size KVM rejects with EINVAL.
// These are the numbers a C compiler produces (measured: KVM_GET_SUPPORTED_CPUID
// is 0xc008ae05 in C, 0xc00cae05 in C++).
#pragma once
#include <linux/kvm.h>

#include <cstdint>

namespace vtb::kvm::uapi {

constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, 8);
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, 8);
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);

// struct kvm_cpuid2 / kvm_msrs headers (8 bytes) followed by their entries.
struct CpuidHeader {
  uint32_t nent, padding;
};
struct MsrsHeader {
  uint32_t nmsrs, pad;
};
// struct kvm_stats_desc without its name: the name starts at byte 16.
struct StatsDesc {
  uint32_t flags;
  int16_t exponent;
  uint16_t size;
  uint32_t offset;
  uint32_t bucket_size;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 && sizeof(StatsDesc) == 16);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

}  // namespace vtb::kvm::uapi
