// tags: harness|json — desc: a small streaming JSON writer (objects, arrays, escaped strings, numbers).
#include "harness/json_writer.h"

#include <cmath>
#include <cstdio>

namespace vtb {

void JsonWriter::sep() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  sep();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  if (!first_.empty()) first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  sep();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  if (!first_.empty()) first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::key(std::string_view k) {
  sep();
  out_ += escape(k);
  out_ += ':';
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::value(std::string_view s) {
  sep();
  out_ += escape(s);
  return *this;
}
JsonWriter& JsonWriter::value(bool b) {
  sep();
  out_ += b ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::value(int64_t v) {
  sep();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(uint64_t v) {
  sep();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(double d) {
  sep();
  if (!std::isfinite(d)) {
    out_ += "null";
    return *this;
  }
  char buf[40];
  snprintf(buf, sizeof buf, "%.9g", d);
  out_ += buf;
  return *this;
}
JsonWriter& JsonWriter::null() {
  sep();
  out_ += "null";
  return *this;
}

// Length of a valid UTF-8 sequence starting at s[i], 0 if invalid.
static size_t utf8_len(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xc0) != 0x80) return 0;
  if (n == 3 && c == 0xe0 && b(i + 1) < 0xa0) return 0;  // overlong
  if (n == 3 && c == 0xed && b(i + 1) >= 0xa0) return 0; // surrogates
  if (n == 4 && c == 0xf0 && b(i + 1) < 0x90) return 0;  // overlong
  if (n == 4 && c == 0xf4 && b(i + 1) >= 0x90) return 0; // > U+10FFFF
  return n;
}

std::string JsonWriter::escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 2);
  o += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_len(s, i);
      if (n) {
        o.append(s.substr(i, n));
        i += n;
      } else {
        char buf[8];
        snprintf(buf, sizeof buf, "\\u%04x", c);
        o += buf;
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      case '\b': o += "\\b"; break;
      case '\f': o += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += char(c);
        }
    }
    ++i;
  }
  o += '"';
  return o;
}

}  // namespace vtb
