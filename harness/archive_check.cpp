// tags: harness|runner — desc: validation of the program archive (vtb_archive_header) before any run.
#include <cstring>

#include "common/abi/vtb_abi.h"
#include "common/loader.h"
#include "harness/runner_internal.h"

namespace vtb::harness {

Status validate_archive(const std::vector<uint8_t>& b, const std::string& what, std::vector<std::string>* names) {
  auto hex = [](uint64_t v) {
    char buf[24];
    snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  vtb_archive_header h;
  if (b.size() < sizeof h) return Status::bad_input(what + ": not a program archive: truncated header (" + std::to_string(b.size()) + " bytes)");
  memcpy(&h, b.data(), sizeof h);
  if (h.magic != VTB_ARCHIVE_MAGIC) return Status::bad_input(what + ": not a program archive: bad magic " + hex(h.magic));
  const uint64_t table_end = sizeof h + uint64_t(h.count) * sizeof(vtb_archive_entry);
  if (h.count > 4096 || table_end > b.size())
    return Status::bad_input(what + ": truncated: entry table of " + std::to_string(h.count) + " entries ends at " +
                             hex(table_end) + " past file size " + hex(b.size()));
  names->clear();
  for (uint32_t i = 0; i < h.count; ++i) {
    vtb_archive_entry e;
    memcpy(&e, b.data() + sizeof h + size_t(i) * sizeof e, sizeof e);
    if (memchr(e.name, 0, sizeof e.name) == nullptr || e.name[0] == 0)
      return Status::bad_input(what + ": entry " + std::to_string(i) + " has no valid name");
    if (e.offset < table_end || e.offset > b.size() || e.size > b.size() - e.offset)
      return Status::bad_input(what + ": truncated: entry '" + std::string(e.name) + "' [" + hex(e.offset) + ", +" +
                               hex(e.size) + ") lies outside the file (size " + hex(b.size()) + ")");
    names->emplace_back(e.name);
  }
  return Status::ok();
}

Status check_archive(const std::string& path, const std::string& program, std::vector<uint8_t>* bytes) {
  if (path.empty()) return Status::bad_input("no program archive (build the workloads, or pass --archive / set VTB_ARCHIVE)");
  if (Status s = read_file(path, bytes); !s) return Status::bad_input(s.message());
  std::vector<std::string> names;
  if (Status s = validate_archive(*bytes, path, &names); !s) return s;
  for (const auto& n : names)
    if (n == program) return Status::ok();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return Status::bad_input(path + ": has no program '" + program + "' (holds: " + (list.empty() ? "nothing" : list) + ")");
}

Status check_kernel(const std::string& path, const char* flavor, ElfImage* out) {
  if (path.empty())
    return Status::bad_input(std::string("no ") + flavor + " kernel (build the workloads, or pass --kernel / set " +
                             (std::string(flavor) == "pv" ? "VTB_KERNEL_PV)" : "VTB_KERNEL)"));
  std::vector<uint8_t> bytes;
  if (Status s = read_file(path, &bytes); !s) return Status::bad_input(s.message());
  if (Status s = parse_elf(std::move(bytes), path, out); !s) return Status::bad_input(s.message());
  return Status::ok();
}

}  // namespace vtb::harness
