// tags: harness|bench|tests — desc: the bench's JSON parser and writer.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/bench/json_value.h"

using vtb::bench::Json;
using vtb::bench::parse_json;
using vtb::bench::to_json;

TEST(JsonValue, ParsesNestedDocument) {
  Json j;
  std::string err;
  ASSERT_TRUE(parse_json(R"( {"a": [1, -2, 3.5e2, true, null], "b": {"c": "x\ny\u00e9"}, "big": 18446744073709551615} )", &j, &err)) << err;
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j["a"].items().size(), 5u);
  EXPECT_EQ(j["a"].items()[1].as_i64(), -2);
  EXPECT_DOUBLE_EQ(j["a"].items()[2].as_double(), 350.0);
  EXPECT_TRUE(j["a"].items()[3].as_bool());
  EXPECT_TRUE(j["a"].items()[4].is_null());
  EXPECT_EQ(j["b"]["c"].as_string(), "x\ny\xc3\xa9");
  EXPECT_EQ(j["big"].as_u64(), 18446744073709551615ull);  // exact, not via double
  EXPECT_TRUE(j["missing"].is_null());
}

TEST(JsonValue, RejectsMalformedInputWithOffset) {
  Json j;
  std::string err;
  for (const char* bad : {"", "{", "{\"a\" 1}", "[1,]", "{\"a\":1} x", "\"\x01\"", "tru", "01x"}) {
    EXPECT_FALSE(parse_json(bad, &j, &err)) << bad;
    EXPECT_NE(err.find("at byte"), std::string::npos) << err;
    err.clear();
  }
}

TEST(JsonValue, WriterRoundTrips) {
  Json o = Json::make_object();
  o.set("name", Json::make_string("quote \" backslash \\ tab \t ctl \x02"));
  o.set("n", Json::make_number(42));
  o.set("x", Json::make_number(0.125));
  Json a = Json::make_array();
  a.push(Json::make_bool(false));
  a.push(Json());
  o.set("a", a);
  o.set("n", Json::make_number(43));  // set() replaces, keeps order
  for (int indent : {0, 2}) {
    std::string text = to_json(o, indent);
    Json back;
    std::string err;
    ASSERT_TRUE(parse_json(text, &back, &err)) << err << "\n" << text;
    EXPECT_EQ(back["name"].as_string(), o["name"].as_string());
    EXPECT_EQ(back["n"].as_i64(), 43);
    EXPECT_DOUBLE_EQ(back["x"].as_double(), 0.125);
    EXPECT_EQ(back["a"].items().size(), 2u);
    EXPECT_EQ(back.members().front().first, "name");
  }
  EXPECT_EQ(to_json(Json::make_number(1.0 / 0.0)), "null");  // JSON has no infinity
  // ... but Google Benchmark writes NaN for a counter divided by zero: read it, and write it back.
  Json gb;
  std::string gerr;
  ASSERT_TRUE(parse_json(R"({"a": NaN, "b": Infinity, "c": -Infinity, "d": -1})", &gb, &gerr)) << gerr;
  EXPECT_TRUE(std::isnan(gb["a"].as_double()));
  EXPECT_EQ(gb["c"].as_double(), -1.0 / 0.0);
  EXPECT_EQ(to_json(gb, 0, true), R"({"a":NaN,"b":Infinity,"c":-Infinity,"d":-1})");
  EXPECT_EQ(to_json(gb), R"({"a":null,"b":null,"c":null,"d":-1})");
  EXPECT_FALSE(parse_json("[Nan]", &gb, &gerr));
  EXPECT_EQ(to_json(Json::make_number(39.1)), "39.1");       // shortest exact form
  EXPECT_EQ(to_json(Json::make_number(0.1 + 0.2)), "0.30000000000000004");
}
