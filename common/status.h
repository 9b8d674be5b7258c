// tags: common — desc: setup/host errors as values with a one-line message.
#pragma once
#include <string>
#include <utility>

namespace vtb {

// Typed error classes; the CLI maps them to exit codes (docs/cli.md).
enum class ErrorKind { None, BadInput, Unavailable, HostError, GuestFailure };

class Status {
 public:
  Status() = default;
  static Status ok() { return {}; }
  static Status error(ErrorKind k, std::string msg) { return Status(k, std::move(msg)); }
  static Status bad_input(std::string msg) { return error(ErrorKind::BadInput, std::move(msg)); }
  static Status unavailable(std::string msg) { return error(ErrorKind::Unavailable, std::move(msg)); }
  static Status host_error(std::string msg) { return error(ErrorKind::HostError, std::move(msg)); }
  bool is_ok() const { return kind_ == ErrorKind::None; }
  explicit operator bool() const { return is_ok(); }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return msg_; }

 private:
  Status(ErrorKind k, std::string m) : kind_(k), msg_(std::move(m)) {}
  ErrorKind kind_ = ErrorKind::None;
  std::string msg_;
};

}  // namespace vtb
