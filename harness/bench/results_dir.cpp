// tags: harness|bench — desc: creates, fills and atomically publishes a results/<date>_<host>_<commit>/ folder.
#include "harness/bench/results_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace vtb::bench {

namespace {
bool mkdirs(const std::string& p) {
  if (p.empty()) return false;
  struct stat st;
  if (stat(p.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
  auto slash = p.find_last_of('/');
  if (slash != std::string::npos && slash > 0 && !mkdirs(p.substr(0, slash))) return false;
  return mkdir(p.c_str(), 0755) == 0 || errno == EEXIST;
}

void fsync_path(const std::string& p, int flags) {
  int fd = open(p.c_str(), flags | O_CLOEXEC);
  if (fd >= 0) { fsync(fd); close(fd); }
}

void remove_tree(const std::string& p) {
  DIR* d = opendir(p.c_str());
  if (!d) { unlink(p.c_str()); return; }
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string c = p + "/" + n;
    struct stat st;
    if (lstat(c.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(c);
    else unlink(c.c_str());
  }
  closedir(d);
  rmdir(p.c_str());
}
}  // namespace

std::string results_folder_name(long unix_time, const std::string& host, const std::string& commit) {
  time_t t = time_t(unix_time);
  tm g{};
  gmtime_r(&t, &g);
  char d[32];
  strftime(d, sizeof d, "%Y-%m-%d-%H%M", &g);
  std::string c = commit;
  for (char& ch : c) if (ch == '+') ch = '-';
  return std::string(d) + "_" + host + "_" + c;
}

bool ResultsDir::create(const std::string& out_root, const std::string& final_name, std::string* err) {
  root_ = out_root;
  name_ = final_name;
  if (!mkdirs(root_)) { *err = "cannot create results folder " + root_ + ": " + strerror(errno); return false; }
  tmp_ = root_ + "/.tmp-" + name_ + "-" + std::to_string(getpid());
  remove_tree(tmp_);
  if (mkdir(tmp_.c_str(), 0755) != 0) { *err = "cannot create " + tmp_ + ": " + strerror(errno); tmp_.clear(); return false; }
  return true;
}

bool read_text(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return !f.bad();
}

bool read_json_file(const std::string& path, Json* out, std::string* err) {
  std::string text, perr;
  if (!read_text(path, &text)) {
    *err = path + ": cannot read";
    return false;
  }
  if (!parse_json(text, out, &perr)) {
    *err = path + ": " + perr;
    return false;
  }
  return true;
}

bool ResultsDir::write_file(const std::string& name, const std::string& content, std::string* err) {
  std::string p = tmp_ + "/" + name;
  auto slash = p.find_last_of('/');
  if (name.find('/') != std::string::npos && !mkdirs(p.substr(0, slash))) {
    *err = "cannot create " + p.substr(0, slash) + ": " + strerror(errno);
    return false;
  }
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { *err = "cannot write " + p + ": " + strerror(errno); return false; }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = "cannot write " + p + ": " + strerror(errno);
      close(fd);
      return false;
    }
    off += size_t(n);
  }
  fsync(fd);
  close(fd);
  return true;
}

std::string ResultsDir::commit(std::string* err) {
  if (tmp_.empty()) { *err = "no temp folder"; return ""; }
  // Make every file durable before the folder appears under its final name.
  if (DIR* d = opendir(tmp_.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') fsync_path(tmp_ + "/" + e->d_name, O_RDONLY);
    closedir(d);
  }
  fsync_path(tmp_, O_RDONLY | O_DIRECTORY);
  for (int i = 1; i < 100; ++i) {
    std::string dst = root_ + "/" + name_ + (i == 1 ? "" : "-" + std::to_string(i));
    struct stat st;
    if (stat(dst.c_str(), &st) == 0) continue;  // never overwrite a published run
    if (rename(tmp_.c_str(), dst.c_str()) == 0) {
      fsync_path(root_, O_RDONLY | O_DIRECTORY);
      committed_ = true;
      tmp_.clear();
      return dst;
    }
    if (errno != EEXIST && errno != ENOTEMPTY) { *err = "cannot publish " + dst + ": " + strerror(errno); return ""; }
  }
  *err = "too many results folders named " + name_;
  return "";
}

void ResultsDir::abandon() {
  if (!tmp_.empty()) remove_tree(tmp_);
  tmp_.clear();
}

ResultsDir::~ResultsDir() {
  if (!committed_) abandon();
}

}  // namespace vtb::bench
