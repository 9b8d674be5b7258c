// tags: common|devices — desc: address-range buses for port I/O and MMIO.
#include "common/bus.h"

#include <cstdio>
#include <cstring>

namespace vtb {

Status Bus::add(uint64_t base, uint64_t len, Device* dev) {
  char buf[160];
  if (len == 0 || base + len < base || dev == nullptr) {
    std::snprintf(buf, sizeof buf, "%s bus: bad range [0x%llx, +0x%llx)", name_.c_str(),
                  (unsigned long long)base, (unsigned long long)len);
    return Status::bad_input(buf);
  }
  auto next = ranges_.lower_bound(base);
  if (next != ranges_.end() && next->first < base + len) {
    std::snprintf(buf, sizeof buf, "%s bus: %s at 0x%llx overlaps %s at 0x%llx", name_.c_str(),
                  dev->name(), (unsigned long long)base, next->second.dev->name(),
                  (unsigned long long)next->first);
    return Status::bad_input(buf);
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len > base) {
      std::snprintf(buf, sizeof buf, "%s bus: %s at 0x%llx overlaps %s at 0x%llx", name_.c_str(),
                    dev->name(), (unsigned long long)base, prev->second.dev->name(),
                    (unsigned long long)prev->first);
      return Status::bad_input(buf);
    }
  }
  ranges_.emplace(base, Range{len, dev});
  return Status::ok();
}

Device* Bus::find(uint64_t addr, uint64_t* offset) const {
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  if (addr - it->first >= it->second.len) return nullptr;
  if (offset) *offset = addr - it->first;
  return it->second.dev;
}

bool Bus::read(uint64_t addr, uint8_t* data, unsigned size) {
  uint64_t off = 0;
  Device* d = find(addr, &off);
  if (!d) {
    std::memset(data, 0xff, size);
    return false;
  }
  d->read(off, data, size);
  return true;
}

bool Bus::write(uint64_t addr, const uint8_t* data, unsigned size) {
  uint64_t off = 0;
  Device* d = find(addr, &off);
  if (!d) return false;
  d->write(off, data, size);
  return true;
}

}  // namespace vtb
