// tags: harness|json — desc: parse/dump and safe lookups over nlohmann::ordered_json.
#include "harness/json.h"

#include <cmath>

namespace vtb {

namespace {

// Google Benchmark writes NaN / Infinity / -Infinity as bare tokens; JSON has
// none of them. Outside strings they become null before nlohmann parses.
std::string nonfinite_as_null(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  bool in_str = false;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (in_str) {
      out.push_back(c);
      if (c == '\\' && i + 1 < t.size()) out.push_back(t[++i]);
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    bool replaced = false;
    for (std::string_view tok : {"-Infinity", "Infinity", "NaN"})
      if (t.substr(i, tok.size()) == tok) {
        out += "null";
        i += tok.size() - 1;
        replaced = true;
        break;
      }
    if (!replaced) out.push_back(c);
  }
  return out;
}

}  // namespace

bool parse_json(std::string_view text, Json* out, std::string* err) {
  const bool has_tokens = text.find("NaN") != text.npos || text.find("Infinity") != text.npos;
  const std::string fixed = has_tokens ? nonfinite_as_null(text) : std::string();
  try {
    *out = has_tokens ? Json::parse(fixed) : Json::parse(text.begin(), text.end());
    return true;
  } catch (const Json::parse_error& e) {
    if (err) *err = "JSON " + std::string(e.what()).substr(0, 200);
    return false;
  }
}

std::string dump_json(const Json& v, int indent) {
  return v.dump(indent, ' ', false, Json::error_handler_t::replace);
}

const Json* json_find(const Json& o, std::string_view key) {
  if (!o.is_object()) return nullptr;
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

const Json& json_at(const Json& o, std::string_view key) {
  static const Json null_value;
  const Json* v = json_find(o, key);
  return v ? *v : null_value;
}

uint64_t json_u64(const Json& v, uint64_t dflt) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) return v.get<int64_t>() < 0 ? dflt : uint64_t(v.get<int64_t>());
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return std::isfinite(d) && d >= 0 ? uint64_t(d) : dflt;
  }
  return dflt;
}

int64_t json_i64(const Json& v, int64_t dflt) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= uint64_t(INT64_MAX) ? int64_t(v.get<uint64_t>()) : dflt;
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return std::isfinite(d) ? int64_t(d) : dflt;
  }
  return dflt;
}

double json_double(const Json& v, double dflt) { return v.is_number() ? v.get<double>() : dflt; }

std::string json_string(const Json& v) { return v.is_string() ? v.get<std::string>() : std::string(); }

}  // namespace vtb
