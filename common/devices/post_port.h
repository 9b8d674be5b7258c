// tags: common|devices — desc: the POST port 0x80: reads 0, writes ignored (micro in/out target).
#pragma once
#include <cstring>

#include "common/bus.h"

namespace vtb {

class PostPort : public Device {
 public:
  const char* name() const override { return "post-port"; }
  void read(uint64_t, uint8_t* data, unsigned size) override { std::memset(data, 0, size); }
  void write(uint64_t, const uint8_t*, unsigned) override { ++writes_; }
  uint64_t writes() const { return writes_; }

 private:
  uint64_t writes_ = 0;
};

}  // namespace vtb
