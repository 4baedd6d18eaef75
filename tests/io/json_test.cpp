#include "tinyxf/io/json.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace json = tinyxf::json;
using Catch::Matchers::Contains;

namespace {
// The message of the tinyxf::Error that parse throws (fails the test when nothing is thrown).
std::string parse_error(std::string_view text) {
  try {
    json::parse(text);
  } catch (const tinyxf::Error& error) {
    return error.what();
  }
  FAIL("parse accepted malformed input: " << text);
  return {};
}
}  // namespace

TEST_CASE("json: parses scalars with exact integers", "[json]") {
  CHECK(json::parse("null").is_null());
  CHECK(json::parse("true").as_bool());
  CHECK_FALSE(json::parse(" false ").as_bool());
  CHECK(json::parse("\"hi\"").as_string() == "hi");

  const json::Value big = json::parse("9223372036854775807");
  REQUIRE(big.is_int());
  CHECK(big.as_int() == std::numeric_limits<std::int64_t>::max());
  const json::Value small = json::parse("-9223372036854775808");
  REQUIRE(small.is_int());
  CHECK(small.as_int() == std::numeric_limits<std::int64_t>::min());

  // Past int64 the literal becomes a double, like most JSON readers.
  const json::Value huge = json::parse("9223372036854775808");
  REQUIRE(huge.is_double());
  CHECK(huge.as_double() == 9223372036854775808.0);

  CHECK(json::parse("-0").is_int());
  CHECK(json::parse("1.0").is_double());
  CHECK(json::parse("1e2").is_double());
  CHECK(json::parse("1e2").as_double() == 100.0);
  CHECK(json::parse("1E+2").as_double() == 100.0);
  CHECK(json::parse("-2.5e-3").as_double() == -0.0025);
  CHECK(json::parse("0.1").as_double() == 0.1);
}

TEST_CASE("json: number edge cases", "[json]") {
  CHECK(json::parse("5e-324").as_double() == std::numeric_limits<double>::denorm_min());
  CHECK(json::parse("1.7976931348623157e308").as_double() == std::numeric_limits<double>::max());
  // Underflow rounds to a signed zero; overflow is an error (JSON has no infinity).
  const double underflow = json::parse("-1e-400").as_double();
  CHECK(underflow == 0.0);
  CHECK(std::signbit(underflow));
  CHECK_THAT(parse_error("1e400"), Contains("number overflow") && Contains("byte 0"));
  CHECK_THAT(parse_error("[1" + std::string(400, '0') + "]"), Contains("number overflow") && Contains("byte 1"));
  CHECK(json::parse("0.0000" + std::string(400, '0') + "1").as_double() == 0.0);

  // as_int accepts integral doubles, rejects fractions; as_double widens integers.
  CHECK(json::parse("3.0").as_int() == 3);
  CHECK_THROWS_WITH(json::parse("3.5").as_int(), Contains("non-integral"));
  CHECK_THROWS_WITH(json::parse("1e300").as_int(), Contains("non-integral"));
  CHECK(json::parse("7").as_double() == 7.0);
  CHECK(json::parse("300").as<std::int32_t>() == 300);
  CHECK_THROWS_WITH(json::parse("300").as<std::uint8_t>(), Contains("out of range"));
  CHECK(json::parse("0.5").as<float>() == 0.5f);
}

TEST_CASE("json: containers keep order and nest", "[json]") {
  const json::Value value = json::parse(R"( {"b": [1, 2.5, "x", null, true, {}], "a": {"z": []}, "c": -1} )");
  REQUIRE(value.is_object());
  const json::Object& object = value.as_object();
  REQUIRE(object.size() == 3);
  CHECK(object.members()[0].first == "b");
  CHECK(object.members()[1].first == "a");
  CHECK(object.members()[2].first == "c");
  CHECK(value["b"].size() == 6);
  CHECK(value["b"][0].as_int() == 1);
  CHECK(value["b"][1].as_double() == 2.5);
  CHECK(value["b"][2].as_string() == "x");
  CHECK(value["b"][3].is_null());
  CHECK(value["b"][4].as_bool());
  CHECK(value["b"][5].as_object().empty());
  CHECK(value["a"]["z"].as_array().empty());
  CHECK(value.contains("c"));
  CHECK_FALSE(value.contains("d"));
  CHECK(value.find("d") == nullptr);
  CHECK(value.find("c")->as_int() == -1);
  CHECK(value.get<int>("c") == -1);
  CHECK(value.get_or<int>("missing", 42) == 42);
  CHECK(value.get_or<std::string>("missing", "dflt") == "dflt");
}

TEST_CASE("json: accessor errors name the key and the expected type", "[json]") {
  const json::Value value = json::parse(R"({"name": "w", "dims": [2, 3]})");
  CHECK_THROWS_WITH(value.at("dtype"), Contains("missing key \"dtype\""));
  CHECK_THROWS_WITH(value["dtype"], Contains("missing key \"dtype\""));
  CHECK_THROWS_WITH(value.get<std::int64_t>("name"),
                    Contains("expected integer, got string") && Contains("key \"name\""));
  CHECK_THROWS_WITH(value.at("name").as_array(), Contains("expected array, got string"));
  CHECK_THROWS_WITH(value.at("dims").as_object(), Contains("expected object, got array"));
  CHECK_THROWS_WITH(value.at("dims").at("x"), Contains("expected object to look up key \"x\", got array"));
  CHECK_THROWS_WITH(value.at("dims").at(2), Contains("index 2 out of range for array of size 2"));
  CHECK_THROWS_WITH(value.at("dims").as_bool(), Contains("expected bool, got array"));
  CHECK_THROWS_WITH(json::parse("null").as_double(), Contains("expected number, got null"));
  CHECK_THROWS_WITH(json::parse("1").size(), Contains("expected array or object, got integer"));
}

TEST_CASE("json: unicode escapes become UTF-8", "[json]") {
  CHECK(json::parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xC3\xA9\xE2\x82\xAC");
  CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // U+1F600
  CHECK(json::parse(R"("\uDBFF\uDFFF")").as_string() == "\xF4\x8F\xBF\xBF");  // U+10FFFF
  CHECK(json::parse(R"("\u0000")").as_string() == std::string(1, '\0'));
  CHECK(json::parse(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
  // Raw UTF-8 passes through untouched.
  CHECK(json::parse("\"\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\"").as_string() ==
        "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");
}

TEST_CASE("json: malformed input names the byte offset and what was expected", "[json]") {
  // Offsets are 0-based bytes of the offending character (one past the end at end of input); the
  // reasons are nlohmann-json's.
  CHECK_THAT(parse_error(""), Contains("byte 0") && Contains("unexpected end of input"));
  CHECK_THAT(parse_error("   "), Contains("byte 3") && Contains("unexpected end of input"));
  CHECK_THAT(parse_error("[1, 2"), Contains("byte 5") && Contains("parsing array") && Contains("expected ']'"));
  CHECK_THAT(parse_error("[1 2]"), Contains("byte 3") && Contains("unexpected number literal; expected ']'"));
  CHECK_THAT(parse_error("[1,]"), Contains("byte 3") && Contains("unexpected ']'"));
  CHECK_THAT(parse_error("{\"a\":1,}"), Contains("byte 7") && Contains("unexpected '}'; expected string literal"));
  CHECK_THAT(parse_error("{\"a\" 1}"), Contains("byte 5") && Contains("expected ':'"));
  CHECK_THAT(parse_error("{a:1}"), Contains("byte 1") && Contains("parsing object key"));
  CHECK_THAT(parse_error("{\"a\":1 \"b\":2}"), Contains("byte 9") && Contains("expected '}'"));
  CHECK_THAT(parse_error("{\"a\":1, \"a\":2}"), Contains("byte 0") && Contains("duplicate key \"a\""));
  CHECK_THAT(parse_error("[tru]"), Contains("byte 4") && Contains("invalid literal"));
  CHECK_THAT(parse_error("nul"), Contains("byte 3") && Contains("invalid literal"));
  CHECK_THAT(parse_error("[+1]"), Contains("byte 1") && Contains("invalid literal"));
  CHECK_THAT(parse_error("01"), Contains("byte 1") && Contains("expected end of input"));  // no leading zeros
  CHECK_THAT(parse_error("-"), Contains("byte 1") && Contains("expected digit after '-'"));
  CHECK_THAT(parse_error("1."), Contains("byte 2") && Contains("expected digit after '.'"));
  CHECK_THAT(parse_error(".5"), Contains("byte 0") && Contains("invalid literal"));
  CHECK_THAT(parse_error("1e"), Contains("byte 2") && Contains("after exponent"));
  CHECK_THAT(parse_error("1e+"), Contains("byte 3") && Contains("after exponent sign"));
  CHECK_THAT(parse_error("NaN"), Contains("byte 0") && Contains("invalid literal"));
  CHECK_THAT(parse_error("Infinity"), Contains("byte 0") && Contains("invalid literal"));
  CHECK_THAT(parse_error("{} x"), Contains("byte 3") && Contains("expected end of input"));
  CHECK_THAT(parse_error("1 2"), Contains("byte 2") && Contains("expected end of input"));
  CHECK_THAT(parse_error("[1] // comment"), Contains("byte 4") && Contains("expected end of input"));
  CHECK_THAT(parse_error("\"abc"), Contains("byte 4") && Contains("missing closing quote"));
  CHECK_THAT(parse_error("\"a\nb\""), Contains("byte 2") && Contains("control character U+000A"));
  CHECK_THAT(parse_error("\"a\tb\""), Contains("byte 2") && Contains("control character U+0009"));
  CHECK_THAT(parse_error(R"("\x")"), Contains("byte 2") && Contains("forbidden character after backslash"));
  CHECK_THAT(parse_error(R"("\u12xz")"), Contains("byte 5") && Contains("must be followed by 4 hex digits"));
  CHECK_THAT(parse_error(R"("\u12)"), Contains("must be followed by 4 hex digits"));
  CHECK_THAT(parse_error(R"("\uD800")"), Contains("byte 7") && Contains("surrogate U+D800..U+DBFF must be followed"));
  CHECK_THAT(parse_error(R"("\uD800\u0041")"), Contains("byte 12") && Contains("must be followed by U+DC00"));
  CHECK_THAT(parse_error(R"("\uDC00")"), Contains("byte 6") && Contains("U+DC00..U+DFFF must follow"));
  CHECK_THAT(parse_error("\"\xC0\x80\""), Contains("byte 1") && Contains("ill-formed UTF-8"));  // overlong
  CHECK_THAT(parse_error("\"\xED\xA0\x80\""), Contains("ill-formed UTF-8"));                     // encoded surrogate
  CHECK_THAT(parse_error("\"\xF4\x90\x80\x80\""), Contains("ill-formed UTF-8"));                 // above U+10FFFF
  CHECK_THAT(parse_error("\"\xE2\x82\""), Contains("ill-formed UTF-8"));                         // truncated sequence
  CHECK_THAT(parse_error("\xEF\xBB\xBF{}"), Contains("byte 0") && Contains("byte order mark"));  // no BOM
  CHECK_THAT(parse_error("[1,\n 2,\n x]"), Contains("byte 9") && Contains("line 3, column 2"));
}

TEST_CASE("json: parse errors are ParseErrors naming the source, offset and line", "[json][errors]") {
  json::ParseOptions options;
  options.source = "models/tiny/config.json";
  try {
    json::parse("{\n  \"a\": [1,\n  2,]\n}", options);
    FAIL("parse accepted a trailing comma");
  } catch (const tinyxf::ParseError& error) {
    CHECK(error.path() == "models/tiny/config.json");
    CHECK(error.byte_offset() == 17);
    CHECK(error.line() == 3);
    CHECK_THAT(error.what(), Contains("in models/tiny/config.json at byte 17 (line 3, column 5)"));
  }
  REQUIRE_THROWS_AS(json::parse("{\"a\":1,\"a\":2}"), tinyxf::ParseError);
  REQUIRE_THROWS_AS(json::parse(std::string(600, '[')), tinyxf::ParseError);
  REQUIRE_THROWS_AS(json::parse("[1] x"), tinyxf::ParseError);
  // ParseError is an IoError is an Error, so existing handlers keep catching it.
  REQUIRE_THROWS_AS(json::parse("nul"), tinyxf::IoError);
  REQUIRE_THROWS_AS(json::parse("nul"), tinyxf::Error);
}

TEST_CASE("json: parse_file names the path, and a missing file is an IoError", "[json][errors]") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "tinyxf_json_parse_file_test";
  std::filesystem::create_directories(dir);
  const std::filesystem::path good = dir / "good.json", bad = dir / "bad.json", missing = dir / "missing.json";
  std::ofstream(good) << R"({"hidden_size": 768, "dropout": 0.1})";
  std::ofstream(bad) << "{\"hidden_size\": 768,\n \"dropout\": .1}";
  std::filesystem::remove(missing);

  CHECK(json::parse_file(good).get<int>("hidden_size") == 768);
  try {
    json::parse_file(bad);
    FAIL("parse_file accepted .1");
  } catch (const tinyxf::ParseError& error) {
    CHECK(error.path() == bad.string());
    CHECK(error.byte_offset() == 33);
    CHECK(error.line() == 2);
    CHECK_THAT(error.what(), Contains(bad.string()) && Contains("byte 33"));
  }
  try {
    json::parse_file(missing);
    FAIL("parse_file read a missing file");
  } catch (const tinyxf::ParseError&) {
    FAIL("a missing file is not a parse error");
  } catch (const tinyxf::IoError& error) {
    CHECK(error.path() == missing.string());
    CHECK_THAT(error.what(), Contains("cannot open") && Contains("missing.json"));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("json: depth limit stops runaway nesting", "[json]") {
  const std::string ok = std::string(512, '[') + std::string(512, ']');
  CHECK(json::parse(ok).is_array());
  const std::string too_deep = std::string(513, '[') + std::string(513, ']');
  CHECK_THAT(parse_error(too_deep), Contains("byte 512") && Contains("nesting deeper than the limit of 512"));
  // Deep enough to crash a recursive parser without the limit.
  CHECK_THAT(parse_error(std::string(1'000'000, '[')), Contains("nesting deeper"));
  json::ParseOptions shallow;
  shallow.max_depth = 2;
  CHECK(json::parse("[[1]]", shallow).is_array());
  CHECK_THROWS_WITH(json::parse("[{\"a\":[]}]", shallow), Contains("limit of 2"));
}

TEST_CASE("json: duplicate keys in big objects, and allowing them", "[json]") {
  std::string text = "{";
  for (int i = 0; i < 100; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  CHECK(json::parse(text.substr(0, text.size() - 1) + "}").size() == 100);
  CHECK_THAT(parse_error(text + "\"k57\":0}"), Contains("duplicate key \"k57\""));

  json::ParseOptions keep;
  keep.allow_duplicate_keys = true;
  const json::Value value = json::parse(R"({"a":1,"a":2})", keep);
  CHECK(value.size() == 2);
  CHECK(value.at("a").as_int() == 1);  // find returns the first
}

TEST_CASE("json: dump is compact or indented and round-trips", "[json]") {
  const std::string text = R"({"name":"w\"\\\n\u0001","shape":[2,3],"scale":0.1,"big":1e+300,"one":1.0,"neg":-0.0,)"
                           R"("i":-9223372036854775808,"ok":true,"none":null,"empty":{},"list":[],"utf":"é😀"})";
  const json::Value value = json::parse(text);
  CHECK(json::dump(value) == text);
  CHECK(json::parse(json::dump(value, 2)) == value);
  CHECK(json::parse(json::dump(value, 0)) == value);
  CHECK(json::dump(json::parse(R"({"a":[1,{"b":null}],"c":{}})"), 2) ==
        "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {}\n}");

  // Doubles use the shortest form that reads back exactly and stay doubles.
  for (double d : {0.1, 1.0 / 3.0, 6.02214076e23, 5e-324, -1.7976931348623157e308, 100.0, 1e21}) {
    const json::Value read_back = json::parse(json::dump(json::Value(d)));
    REQUIRE(read_back.is_double());
    CHECK(read_back.as_double() == d);
  }
  CHECK(json::dump(json::Value(0.1)) == "0.1");
  CHECK(json::dump(json::Value(2.0)) == "2.0");
  CHECK_THROWS_WITH(json::dump(json::Value(std::nan(""))), Contains("non-finite"));
  CHECK_THROWS_WITH(json::dump(json::Value(INFINITY)), Contains("non-finite"));
}

TEST_CASE("json: builders", "[json]") {
  json::Value value = json::object({{"dtype", "F32"}, {"shape", json::array({2, 3})}, {"ok", true}});
  value["data_offsets"] = json::array({0, 24});
  value["nested"]["deeper"] = 1.5;  // null becomes an object on write
  json::Value list;
  list.push_back(1);
  list.push_back("two");
  value.as_object().insert_or_assign("list", list);
  CHECK(json::dump(value) ==
        R"({"dtype":"F32","shape":[2,3],"ok":true,"data_offsets":[0,24],"nested":{"deeper":1.5},"list":[1,"two"]})");
  CHECK(value.as_object().erase("ok"));
  CHECK_FALSE(value.contains("ok"));

  CHECK(json::Value("text").is_string());  // not bool
  CHECK(json::Value(std::uint8_t{7}).as_int() == 7);
  CHECK(json::Value(2.5f).as_double() == 2.5);
  CHECK_THROWS_WITH(json::Value(std::numeric_limits<std::uint64_t>::max()), Contains("does not fit in int64"));
  CHECK_THROWS_WITH(json::object({{"a", 1}, {"a", 2}}), Contains("duplicate key \"a\""));
  json::Value scalar = 3;
  CHECK_THROWS_WITH(scalar["x"] = 1, Contains("expected object"));
}

TEST_CASE("json: append_escaped for hand-written JSON lines", "[json]") {
  std::string line = "{\"text\":\"";
  json::append_escaped(line, "tab\there \"q\" back\\slash \x01 \x7f caf\xC3\xA9");
  line += "\"}";
  CHECK(line == "{\"text\":\"tab\\there \\\"q\\\" back\\\\slash \\u0001 \x7f caf\xC3\xA9\"}");
  CHECK(json::parse(line).at("text").as_string() == "tab\there \"q\" back\\slash \x01 \x7f caf\xC3\xA9");

  std::string all_bytes;
  for (int c = 0; c < 0x80; ++c) all_bytes += static_cast<char>(c);
  std::string quoted;
  json::append_quoted(quoted, all_bytes);
  CHECK(json::parse(quoted).as_string() == all_bytes);

  std::string numbers;
  json::append_number(numbers, std::int32_t{-7});
  numbers += ',';
  json::append_number(numbers, std::uint32_t{4000000000u});
  numbers += ',';
  json::append_number(numbers, std::uint64_t{18446744073709551615u});
  numbers += ',';
  json::append_number(numbers, 0.1f);
  numbers += ',';
  json::append_number(numbers, 3.0);
  CHECK(numbers == "-7,4000000000,18446744073709551615,0.1,3.0");
  CHECK_THROWS_WITH(json::append_number(numbers, NAN), Contains("non-finite"));

  CHECK(json::is_valid_utf8("plain \xC3\xA9 \xF0\x9F\x98\x80"));
  CHECK_FALSE(json::is_valid_utf8("\xC3"));
  CHECK_FALSE(json::is_valid_utf8("\xFF"));
}
