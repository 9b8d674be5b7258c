// tags: engines|kvm — desc: KVM_GET_STATS_FD header/descriptor parsing and snapshots.
#include "engines/kvm/kvm_stats.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engines/kvm/kvm_uapi.h"

namespace vtb::kvm {

StatsReader::~StatsReader() {
  if (fd_ >= 0) close(fd_);
}

Status StatsReader::open(int kvm_fd) {
  const int fd = ioctl(kvm_fd, KVM_GET_STATS_FD, nullptr);
  if (fd < 0) return Status::unavailable(std::string("KVM_GET_STATS_FD: ") + std::strerror(errno));
  kvm_stats_header hdr{};
  if (pread(fd, &hdr, sizeof hdr, 0) != static_cast<ssize_t>(sizeof hdr)) {
    close(fd);
    return Status::host_error("KVM stats: short read of the header");
  }
  const size_t desc_size = sizeof(uapi::StatsDesc) + hdr.name_size;
  std::vector<uint8_t> descs(desc_size * hdr.num_desc);
  if (!descs.empty() &&
      pread(fd, descs.data(), descs.size(), hdr.desc_offset) != static_cast<ssize_t>(descs.size())) {
    close(fd);
    return Status::host_error("KVM stats: short read of the descriptors");
  }
  names_.clear();
  offsets_.clear();
  uint64_t end = 0;
  for (uint32_t i = 0; i < hdr.num_desc; ++i) {
    uapi::StatsDesc d;
    std::memcpy(&d, descs.data() + i * desc_size, sizeof d);
    const char* name = reinterpret_cast<const char*>(descs.data() + i * desc_size + sizeof(uapi::StatsDesc));
    end = std::max<uint64_t>(end, d.offset + uint64_t(d.size) * 8);
    if ((d.flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE || d.size != 1) continue;
    names_.emplace_back(name, strnlen(name, hdr.name_size));
    offsets_.push_back(d.offset);
  }
  fd_ = fd;
  data_offset_ = hdr.data_offset;
  data_bytes_ = end;
  return Status::ok();
}

bool StatsReader::snapshot(std::vector<uint64_t>* out) const {
  out->assign(names_.size(), 0);
  if (fd_ < 0) return false;
  std::vector<uint8_t> data(data_bytes_);
  if (pread(fd_, data.data(), data.size(), static_cast<off_t>(data_offset_)) != static_cast<ssize_t>(data.size()))
    return false;
  for (size_t i = 0; i < names_.size(); ++i) std::memcpy(&(*out)[i], data.data() + offsets_[i], 8);
  return true;
}

void StatsReader::add_deltas(const std::vector<std::string>& names, const std::vector<uint64_t>& base,
                             const std::vector<uint64_t>& now, std::string_view prefix, Counters& out) {
  std::string key(prefix);
  for (size_t i = 0; i < names.size() && i < base.size() && i < now.size(); ++i) {
    if (now[i] <= base[i]) continue;
    key.resize(prefix.size());
    key += names[i];
    out.add(key, now[i] - base[i]);
  }
}

}  // namespace vtb::kvm
