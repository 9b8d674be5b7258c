// tags: common|devices — desc: port-I/O and MMIO buses; overlaps are rejected.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"

namespace vtb {

// A device claims [base, base+len) on one bus. Offsets are relative to base.
// Accesses are 1, 2, 4 or 8 bytes, little-endian, in `data`.
class Device {
 public:
  virtual ~Device() = default;
  virtual const char* name() const = 0;
  virtual void read(uint64_t offset, uint8_t* data, unsigned size) = 0;
  virtual void write(uint64_t offset, const uint8_t* data, unsigned size) = 0;
};

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}
  // Fails (BadInput) if the range is empty or overlaps a registered one.
  Status add(uint64_t base, uint64_t len, Device* dev);
  // Returns false when no device claims the address: reads then return all
  // ones (0xff...), writes are dropped; the caller counts it.
  bool read(uint64_t addr, uint8_t* data, unsigned size);
  bool write(uint64_t addr, const uint8_t* data, unsigned size);
  Device* find(uint64_t addr, uint64_t* offset) const;

 private:
  struct Range { uint64_t len; Device* dev; };
  std::string name_;
  std::map<uint64_t, Range> ranges_;  // by base
};

}  // namespace vtb
