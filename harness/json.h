// tags: harness|json — desc: JSON for the harness and the bench: nlohmann::ordered_json plus the few lookups every reader needs.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vtb {

// Members keep their order of insertion (the order the schema documents).
using Json = nlohmann::ordered_json;

// Parses one JSON document. Also accepts the bare NaN, Infinity and -Infinity
// tokens Google Benchmark writes for non-finite counters (read as null). On
// error returns false and sets *err to a one-line message with the byte offset.
bool parse_json(std::string_view text, Json* out, std::string* err);

// Compact (indent < 0) or indented text. Non-finite numbers become null;
// invalid UTF-8 in strings becomes U+FFFD (the output is always valid JSON).
std::string dump_json(const Json& v, int indent = -1);

// Lookups that never throw: a member (nullptr when absent or `o` is no object),
// and typed reads with a default for a missing or mistyped value.
const Json* json_find(const Json& o, std::string_view key);
const Json& json_at(const Json& o, std::string_view key);  // null when absent
uint64_t json_u64(const Json& v, uint64_t dflt = 0);
int64_t json_i64(const Json& v, int64_t dflt = 0);
double json_double(const Json& v, double dflt = 0);
std::string json_string(const Json& v);  // "" unless a string

}  // namespace vtb
