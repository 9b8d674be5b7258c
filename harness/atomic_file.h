// tags: harness — desc: write_file_atomic: a whole file or none (temporary file + fsync + rename).
#pragma once
#include <string>

namespace vtb {

// Writes `data` to `path` through a temporary file + rename (no partial file).
// Only a new file or a regular file is ever replaced. Returns false with a
// one-line *err.
bool write_file_atomic(const std::string& path, const std::string& data, std::string* err);

}  // namespace vtb
