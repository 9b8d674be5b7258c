// tags: harness|conformance — desc: parser for engines/<name>/known_failures.txt: "<workload>[@full] <reason>" per line, malformed lines are errors.
#include "harness/conformance/known_failures.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace vtb {

Status parse_known_failures(const std::string& text, const std::string& what,
                            const std::vector<std::string>* workloads, std::vector<KnownFailure>* out) {
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream ss(line);
    KnownFailure k;
    k.line = n;
    if (!(ss >> k.workload) || k.workload[0] == '#') continue;
    std::getline(ss >> std::ws, k.reason);
    while (!k.reason.empty() && isspace(static_cast<unsigned char>(k.reason.back()))) k.reason.pop_back();
    auto bad = [&](const std::string& why) {
      return Status::bad_input(what + ":" + std::to_string(n) + ": " + why + " in '" + line +
                               "' (format: <workload>[@full] <reason>)");
    };
    if (k.workload.find(':') != std::string::npos) return bad("':' after the workload");
    if (const size_t at = k.workload.find('@'); at != std::string::npos) {
      if (k.workload.compare(at, std::string::npos, "@full") != 0) return bad("unknown suffix (only @full)");
      k.full_only = true;
      k.workload.resize(at);
    }
    if (k.workload.empty()) return bad("no workload");
    if (k.reason.empty()) return bad("no reason");
    if (workloads && k.workload != "*" &&
        std::find(workloads->begin(), workloads->end(), k.workload) == workloads->end())
      return bad("unknown workload '" + k.workload + "'");
    out->push_back(std::move(k));
  }
  return Status::ok();
}

Status load_known_failures(const std::string& source_dir, const std::string& engine,
                           const std::vector<std::string>* workloads, std::vector<KnownFailure>* out) {
  const std::string path = source_dir + "/engines/" + engine + "/known_failures.txt";
  std::ifstream f(path);
  if (!f) return Status::ok();
  std::stringstream text;
  text << f.rdbuf();
  return parse_known_failures(text.str(), path, workloads, out);
}

std::string known_failure_reason(const std::vector<KnownFailure>& list, const std::string& workload, bool full) {
  for (const auto& k : list)
    if ((k.workload == workload || k.workload == "*") && (full || !k.full_only)) return k.reason;
  return "";
}

}  // namespace vtb
