// tags: common|devices — desc: the testbed control device (records, phases, exit code).
#include "common/devices/control.h"

#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/abi/vtb_abi.h"
#include "common/clock.h"

namespace vtb {

ControlDevice::ControlDevice() {
  ctrl_.self = this;
  ctrl_.off = kCtrlOffset;
  ctrl_.nm = "vtb-control";
  exit_.self = this;
  exit_.off = kExitOffset;
  exit_.nm = "vtb-exit";
}

void ControlDevice::read(uint64_t offset, uint8_t* data, unsigned size) {
  std::memset(data, 0, size);  // reads: 0 (no input channel)
}

void ControlDevice::write(uint64_t offset, const uint8_t* data, unsigned size) {
  if (offset >= kExitOffset) {
    uint32_t v = 0;
    std::memcpy(&v, data, size < 4 ? size : 4);
    exited_ = true;
    exit_code_ = static_cast<int>(v);
    return;
  }
  const char c = static_cast<char>(data[0]);
  if (c == '\n') {
    feed_line(line_, monotonic_ns());
    line_.clear();
  } else if (line_.size() < 4096) {
    line_.push_back(c);
  }
}

void ControlDevice::feed_line(const std::string& line, uint64_t now_ns) {
  if (line.size() >= 3 && (line[0] == VTB_CTRL_BEGIN || line[0] == VTB_CTRL_END) && line[1] == ' ') {
    char* end = nullptr;
    const long id = std::strtol(line.c_str() + 2, &end, 10);
    if (end == line.c_str() + 2 || *end != '\0') {
      ++malformed_;
      return;
    }
    auto& list = phases_;
    if (line[0] == VTB_CTRL_BEGIN) {
      list.push_back({static_cast<int>(id), now_ns, 0, {}, false});
      if (snapshot_) {
        // The snapshot's own host time is not part of the phase: the phase
        // begins when it is taken (at the end marker it is taken after the stamp).
        const uint64_t t0 = monotonic_ns();
        list.back().counters = snapshot_();
        list.back().begin_ns = now_ns + (monotonic_ns() - t0);
        list.back().has_counters = true;
      }
      return;
    }
    for (auto it = list.rbegin(); it != list.rend(); ++it)
      if (it->phase == id && it->end_ns == 0) {
        it->end_ns = now_ns;
        if (it->has_counters) it->counters = snapshot_().minus(it->counters);
        return;
      }
    ++malformed_;  // end without begin
    return;
  }
  if (line.size() >= 3 && line[0] == VTB_CTRL_RESULT && line[1] == ' ') {
    const auto sp = line.find(' ', 2);
    if (sp == std::string::npos || sp == 2) {
      ++malformed_;
      return;
    }
    records_.emplace_back(line.substr(2, sp - 2), line.substr(sp + 1));
    return;
  }
  ++malformed_;
}

}  // namespace vtb
