// tags: harness|json — desc: a small streaming JSON writer (objects, arrays, escaped strings, numbers).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vtb {

// Builds compact JSON text. Keys and values must alternate correctly inside
// objects; the writer inserts commas. Strings are escaped per RFC 8259
// (control characters as \u00XX; invalid UTF-8 bytes as \u00XX of the byte,
// so the output is always valid JSON).
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  JsonWriter& value(int64_t v);
  JsonWriter& value(uint64_t v);
  JsonWriter& value(int v) { return value(int64_t(v)); }
  JsonWriter& value(double d);  // non-finite -> null
  JsonWriter& null();
  const std::string& str() const { return out_; }

  static std::string escape(std::string_view s);  // with the quotes

 private:
  void sep();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element yet
  bool after_key_ = false;
};

}  // namespace vtb
