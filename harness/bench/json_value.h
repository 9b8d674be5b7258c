// tags: harness|bench — desc: a small JSON value + parser (reads `vtb run --json` reports) and string escaping.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vtb::bench {

// One JSON value. Numbers are kept as double (and as the exact integer when
// the text was an integer that fits in int64/uint64).
class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };

  Json() = default;
  static Json make_bool(bool b);
  static Json make_number(double d);
  static Json make_string(std::string s);
  static Json make_array();
  static Json make_object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  bool as_bool(bool dflt = false) const { return type_ == Type::Bool ? bool_ : dflt; }
  double as_double(double dflt = 0) const { return type_ == Type::Number ? num_ : dflt; }
  uint64_t as_u64(uint64_t dflt = 0) const;
  int64_t as_i64(int64_t dflt = 0) const;
  const std::string& as_string() const { return str_; }  // "" unless a string

  // Array access.
  const std::vector<Json>& items() const { return arr_; }
  void push(Json v) { arr_.push_back(std::move(v)); }
  // Object access; members keep their order of appearance.
  const std::vector<std::pair<std::string, Json>>& members() const { return obj_; }
  const Json* find(std::string_view key) const;  // nullptr when absent / not an object
  const Json& operator[](std::string_view key) const;  // Null when absent
  void set(std::string key, Json v);

 private:
  friend class JsonParser;
  Type type_ = Type::Null;
  bool bool_ = false;
  double num_ = 0;
  bool has_int_ = false;
  bool neg_ = false;
  uint64_t int_ = 0;  // magnitude when has_int_
  std::string str_;
  std::vector<Json> arr_;
  std::vector<std::pair<std::string, Json>> obj_;
};

// Parses one JSON document (RFC 8259; trailing whitespace allowed; also the
// NaN, Infinity and -Infinity that Google Benchmark writes for non-finite
// counters). On error returns false and sets *err to a one-line message with
// the byte offset.
bool parse_json(std::string_view text, Json* out, std::string* err);

// Serialises a value (compact, or indented by `indent` spaces per level).
// Non-finite numbers become null, or with `nonfinite_tokens` NaN / Infinity /
// -Infinity (as Google Benchmark's own bench.json has them).
std::string to_json(const Json& v, int indent = 0, bool nonfinite_tokens = false);

// A JSON string literal for `s`, quotes included.
std::string json_quote(std::string_view s);

}  // namespace vtb::bench
