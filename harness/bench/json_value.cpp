// tags: harness|bench — desc: JSON parser and writer for the bench (no external dependency).
#include "harness/bench/json_value.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vtb::bench {

Json Json::make_bool(bool b) { Json j; j.type_ = Type::Bool; j.bool_ = b; return j; }
Json Json::make_number(double d) { Json j; j.type_ = Type::Number; j.num_ = d; return j; }
Json Json::make_string(std::string s) { Json j; j.type_ = Type::String; j.str_ = std::move(s); return j; }
Json Json::make_array() { Json j; j.type_ = Type::Array; return j; }
Json Json::make_object() { Json j; j.type_ = Type::Object; return j; }

uint64_t Json::as_u64(uint64_t dflt) const {
  if (type_ != Type::Number) return dflt;
  if (has_int_) return neg_ ? dflt : int_;
  if (num_ < 0 || !std::isfinite(num_)) return dflt;
  return uint64_t(num_);
}

int64_t Json::as_i64(int64_t dflt) const {
  if (type_ != Type::Number) return dflt;
  if (has_int_) {
    if (neg_) return int_ <= uint64_t(INT64_MAX) + 1 ? int64_t(0 - int_) : dflt;
    return int_ <= uint64_t(INT64_MAX) ? int64_t(int_) : dflt;
  }
  return std::isfinite(num_) ? int64_t(num_) : dflt;
}

const Json* Json::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& [k, v] : obj_)
    if (k == key) return &v;
  return nullptr;
}

const Json& Json::operator[](std::string_view key) const {
  static const Json null_value;
  const Json* v = find(key);
  return v ? *v : null_value;
}

void Json::set(std::string key, Json v) {
  if (type_ != Type::Object) { *this = make_object(); }
  for (auto& [k, old] : obj_)
    if (k == key) { old = std::move(v); return; }
  obj_.emplace_back(std::move(key), std::move(v));
}

class JsonParser {
 public:
  explicit JsonParser(std::string_view t) : t_(t) {}

  bool parse(Json* out, std::string* err) {
    skip_ws();
    if (!value(out, 0)) { if (err) *err = msg_; return false; }
    skip_ws();
    if (p_ != t_.size()) { fail("trailing characters after the JSON value"); if (err) *err = msg_; return false; }
    return true;
  }

 private:
  std::string_view t_;
  size_t p_ = 0;
  std::string msg_;

  bool fail(const char* what) {
    if (msg_.empty()) msg_ = std::string("JSON: ") + what + " at byte " + std::to_string(p_);
    return false;
  }
  void skip_ws() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\n' || t_[p_] == '\r')) ++p_;
  }
  bool lit(std::string_view w) {
    if (t_.substr(p_, w.size()) != w) return fail("invalid literal");
    p_ += w.size();
    return true;
  }
  static void put_utf8(std::string& s, uint32_t cp) {
    if (cp < 0x80) s += char(cp);
    else if (cp < 0x800) { s += char(0xc0 | (cp >> 6)); s += char(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) { s += char(0xe0 | (cp >> 12)); s += char(0x80 | ((cp >> 6) & 0x3f)); s += char(0x80 | (cp & 0x3f)); }
    else { s += char(0xf0 | (cp >> 18)); s += char(0x80 | ((cp >> 12) & 0x3f)); s += char(0x80 | ((cp >> 6) & 0x3f)); s += char(0x80 | (cp & 0x3f)); }
  }
  bool hex4(uint32_t* v) {
    if (p_ + 4 > t_.size()) return fail("truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = t_[p_++];
      *v <<= 4;
      if (c >= '0' && c <= '9') *v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') *v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') *v |= uint32_t(c - 'A' + 10);
      else return fail("bad hex digit in \\u escape");
    }
    return true;
  }
  bool string(std::string* s) {
    ++p_;  // opening quote
    while (true) {
      if (p_ >= t_.size()) return fail("unterminated string");
      char c = t_[p_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') { *s += c; continue; }
      if (p_ >= t_.size()) return fail("unterminated escape");
      char e = t_[p_++];
      switch (e) {
        case '"': *s += '"'; break;
        case '\\': *s += '\\'; break;
        case '/': *s += '/'; break;
        case 'b': *s += '\b'; break;
        case 'f': *s += '\f'; break;
        case 'n': *s += '\n'; break;
        case 'r': *s += '\r'; break;
        case 't': *s += '\t'; break;
        case 'u': {
          uint32_t cp;
          if (!hex4(&cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00 && t_.substr(p_, 2) == "\\u") {
            p_ += 2;
            uint32_t lo;
            if (!hex4(&lo)) return false;
            if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          put_utf8(*s, cp);
          break;
        }
        default: return fail("invalid escape");
      }
    }
  }
  bool number(Json* out) {
    size_t start = p_;
    bool neg = false;
    if (t_[p_] == '-') { neg = true; ++p_; }
    size_t int_start = p_;
    while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
    if (p_ == int_start) return fail("invalid number");
    bool is_int = true;
    if (p_ < t_.size() && t_[p_] == '.') {
      is_int = false; ++p_;
      size_t f = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
      if (p_ == f) return fail("invalid fraction");
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      is_int = false; ++p_;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      size_t f = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
      if (p_ == f) return fail("invalid exponent");
    }
    std::string text(t_.substr(start, p_ - start));
    *out = Json::make_number(std::strtod(text.c_str(), nullptr));
    if (is_int && p_ - int_start <= 20) {
      errno = 0;
      uint64_t v = std::strtoull(text.c_str() + (neg ? 1 : 0), nullptr, 10);
      if (errno != ERANGE) {
        out->has_int_ = true;
        out->neg_ = neg;
        out->int_ = v;
      }
    }
    return true;
  }
  bool value(Json* out, int depth) {
    if (depth > 200) return fail("nesting too deep");
    if (p_ >= t_.size()) return fail("unexpected end of input");
    char c = t_[p_];
    if (c == 'n') { *out = Json(); return lit("null"); }
    if (c == 't') { *out = Json::make_bool(true); return lit("true"); }
    if (c == 'f') { *out = Json::make_bool(false); return lit("false"); }
    // Google Benchmark (and Python) write non-finite numbers as these tokens.
    if (c == 'N') { *out = Json::make_number(NAN); return lit("NaN"); }
    if (c == 'I') { *out = Json::make_number(INFINITY); return lit("Infinity"); }
    if (c == '-' && t_.substr(p_, 2) == "-I") { ++p_; *out = Json::make_number(-INFINITY); return lit("Infinity"); }
    if (c == '"') { *out = Json::make_string(""); return string(&out->str_); }
    if (c == '-' || (c >= '0' && c <= '9')) return number(out);
    if (c == '[') {
      ++p_;
      *out = Json::make_array();
      skip_ws();
      if (p_ < t_.size() && t_[p_] == ']') { ++p_; return true; }
      while (true) {
        skip_ws();
        Json v;
        if (!value(&v, depth + 1)) return false;
        out->arr_.push_back(std::move(v));
        skip_ws();
        if (p_ >= t_.size()) return fail("unterminated array");
        if (t_[p_] == ',') { ++p_; continue; }
        if (t_[p_] == ']') { ++p_; return true; }
        return fail("expected ',' or ']'");
      }
    }
    if (c == '{') {
      ++p_;
      *out = Json::make_object();
      skip_ws();
      if (p_ < t_.size() && t_[p_] == '}') { ++p_; return true; }
      while (true) {
        skip_ws();
        if (p_ >= t_.size() || t_[p_] != '"') return fail("expected a member name");
        std::string key;
        if (!string(&key)) return false;
        skip_ws();
        if (p_ >= t_.size() || t_[p_] != ':') return fail("expected ':'");
        ++p_;
        skip_ws();
        Json v;
        if (!value(&v, depth + 1)) return false;
        out->obj_.emplace_back(std::move(key), std::move(v));
        skip_ws();
        if (p_ >= t_.size()) return fail("unterminated object");
        if (t_[p_] == ',') { ++p_; continue; }
        if (t_[p_] == '}') { ++p_; return true; }
        return fail("expected ',' or '}'");
      }
    }
    return fail("unexpected character");
  }
};

bool parse_json(std::string_view text, Json* out, std::string* err) {
  JsonParser p(text);
  return p.parse(out, err);
}

std::string json_quote(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
        else o += char(c);
    }
  }
  return o + "\"";
}

static void write(const Json& v, int indent, int level, std::string& o, bool tokens) {
  auto nl = [&](int lvl) { if (indent) { o += '\n'; o.append(size_t(indent * lvl), ' '); } };
  switch (v.type()) {
    case Json::Type::Null: o += "null"; break;
    case Json::Type::Bool: o += v.as_bool() ? "true" : "false"; break;
    case Json::Type::Number: {
      double d = v.as_double();
      if (!std::isfinite(d)) { o += !tokens ? "null" : std::isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity"; break; }
      char b[40];
      if (d == std::floor(d) && std::fabs(d) < 1e15) std::snprintf(b, sizeof b, "%.0f", d);
      else {
        std::snprintf(b, sizeof b, "%.15g", d);  // shortest form that reads back exactly
        if (std::strtod(b, nullptr) != d) std::snprintf(b, sizeof b, "%.17g", d);
      }
      o += b;
      break;
    }
    case Json::Type::String: o += json_quote(v.as_string()); break;
    case Json::Type::Array: {
      o += '[';
      bool first = true;
      for (const auto& x : v.items()) { if (!first) o += ','; first = false; nl(level + 1); write(x, indent, level + 1, o, tokens); }
      if (!v.items().empty()) nl(level);
      o += ']';
      break;
    }
    case Json::Type::Object: {
      o += '{';
      bool first = true;
      for (const auto& [k, x] : v.members()) {
        if (!first) o += ',';
        first = false;
        nl(level + 1);
        o += json_quote(k);
        o += indent ? ": " : ":";
        write(x, indent, level + 1, o, tokens);
      }
      if (!v.members().empty()) nl(level);
      o += '}';
      break;
    }
  }
}

std::string to_json(const Json& v, int indent, bool nonfinite_tokens) {
  std::string o;
  write(v, indent, 0, o, nonfinite_tokens);
  return o;
}

}  // namespace vtb::bench
