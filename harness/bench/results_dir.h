// tags: harness|bench — desc: atomic results folders: write into a hidden temp folder, then rename into place.
#pragma once
#include <string>

#include "harness/json.h"

namespace vtb::bench {

class ResultsDir {
 public:
  // Creates `<out_root>/.tmp-<final_name>-<pid>/` (and out_root if missing).
  bool create(const std::string& out_root, const std::string& final_name, std::string* err);
  const std::string& temp_path() const { return tmp_; }
  // Writes one file inside the temp folder (fsync'd); "sub/name" creates the subfolder.
  bool write_file(const std::string& name, const std::string& content, std::string* err);
  // fsyncs and renames the temp folder to `<out_root>/<final_name>` (adding
  // "-2", "-3", ... if that exists). Returns the final path or "" on error.
  std::string commit(std::string* err);
  // Removes the temp folder (used when the run is abandoned).
  void abandon();
  ~ResultsDir();

 private:
  std::string root_, name_, tmp_;
  bool committed_ = false;
};

// Reads a whole file; false when it cannot be opened or read.
bool read_text(const std::string& path, std::string* out);

// Reads and parses a JSON file; false with a one-line *err ("PATH: ...").
bool read_json_file(const std::string& path, Json* out, std::string* err);

// "2026-11-28-0957_host_abc123def456" for the given time (UTC).
std::string results_folder_name(long unix_time, const std::string& host, const std::string& commit);

}  // namespace vtb::bench
