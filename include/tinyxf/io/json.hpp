#pragma once
// tinyxf::json: a small strict JSON (RFC 8259) library.
//   Value parse(std::string_view text)             throws tinyxf::Error naming the byte offset
//   std::string dump(const Value&, int indent=-1)  compact when indent < 0
//   void append_escaped(std::string&, string_view) for hand-built JSON lines
// Numbers keep int64 exactly when the literal is an integer (and fits), otherwise double.
// Objects keep insertion order; lookups are linear, so index big objects (vocabularies) yourself.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf::json {

class Value;
using Array = std::vector<Value>;

enum class Type { null, boolean, integer, floating, string, array, object };

inline const char* type_name(Type type) {
  switch (type) {
    case Type::null: return "null";
    case Type::boolean: return "bool";
    case Type::integer: return "integer";
    case Type::floating: return "number";
    case Type::string: return "string";
    case Type::array: return "array";
    case Type::object: return "object";
  }
  return "?";
}

// An insertion-ordered object. Keys are unique unless parsed with allow_duplicate_keys.
class Object {
 public:
  using Member = std::pair<std::string, Value>;
  using iterator = std::vector<Member>::iterator;
  using const_iterator = std::vector<Member>::const_iterator;

  Object() = default;
  Object(std::initializer_list<Member> members);  // throws on a duplicate key

  // Defined after Value: vector<Member> members may not be instantiated while Value is
  // incomplete (clang rejects it; GCC happens to defer it).
  std::size_t size() const noexcept;
  bool empty() const noexcept;
  void reserve(std::size_t n);
  iterator begin() noexcept;
  iterator end() noexcept;
  const_iterator begin() const noexcept;
  const_iterator end() const noexcept;
  const std::vector<Member>& members() const noexcept { return members_; }

  // nullptr when the key is missing (the first match when duplicates were allowed).
  Value* find(std::string_view key);
  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  Value& at(std::string_view key);              // throws naming the key
  const Value& at(std::string_view key) const;  // throws naming the key
  Value& operator[](std::string_view key);      // inserts null when missing
  Value& insert_or_assign(std::string key, Value value);
  // Appends without looking for an existing key: for writers that know their keys are unique.
  void push_back(std::string key, Value value);
  bool erase(std::string_view key);

  bool operator==(const Object& other) const;

 private:
  std::vector<Member> members_;
};

class Value {
 public:
  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}
  Value(bool b) noexcept : data_(b) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Value(T number) : data_(checked_int64(number)) {}
  template <std::floating_point T>
  Value(T number) noexcept : data_(static_cast<double>(number)) {}
  Value(const char* text) : data_(std::string(text)) {}  // else a pointer would convert to bool
  Value(std::string_view text) : data_(std::string(text)) {}
  Value(std::string text) noexcept : data_(std::move(text)) {}
  Value(Array array) noexcept : data_(std::move(array)) {}
  Value(Object object) noexcept : data_(std::move(object)) {}

  Type type() const noexcept { return static_cast<Type>(data_.index()); }
  const char* type_name() const noexcept { return json::type_name(type()); }
  bool is_null() const noexcept { return type() == Type::null; }
  bool is_bool() const noexcept { return type() == Type::boolean; }
  bool is_int() const noexcept { return type() == Type::integer; }
  bool is_double() const noexcept { return type() == Type::floating; }
  bool is_number() const noexcept { return is_int() || is_double(); }
  bool is_string() const noexcept { return type() == Type::string; }
  bool is_array() const noexcept { return type() == Type::array; }
  bool is_object() const noexcept { return type() == Type::object; }

  bool as_bool() const { return get_checked<bool>(Type::boolean); }
  // Integers exactly; a double only when it holds an integral value in int64 range.
  std::int64_t as_int() const {
    if (auto* integer = std::get_if<std::int64_t>(&data_)) return *integer;
    if (auto* floating = std::get_if<double>(&data_)) {
      // 2^63 is exactly representable, so the range test is exact.
      TINYXF_CHECK(std::trunc(*floating) == *floating && *floating >= -9223372036854775808.0 &&
                       *floating < 9223372036854775808.0,
                   "json: expected integer, got non-integral number ", *floating);
      return static_cast<std::int64_t>(*floating);
    }
    throw_type_error("integer");
  }
  double as_double() const {
    if (auto* floating = std::get_if<double>(&data_)) return *floating;
    if (auto* integer = std::get_if<std::int64_t>(&data_)) return static_cast<double>(*integer);
    throw_type_error("number");
  }
  const std::string& as_string() const { return get_checked<std::string>(Type::string); }
  std::string& as_string() { return get_checked<std::string>(Type::string); }
  const Array& as_array() const { return get_checked<Array>(Type::array); }
  Array& as_array() { return get_checked<Array>(Type::array); }
  const Object& as_object() const { return get_checked<Object>(Type::object); }
  Object& as_object() { return get_checked<Object>(Type::object); }

  // as<T>() for T = bool, any integral (range checked), any floating point, std::string,
  // std::string_view (into this value), Array, Object.
  template <class T>
  T as() const {
    if constexpr (std::same_as<T, bool>) {
      return as_bool();
    } else if constexpr (std::integral<T>) {
      const std::int64_t value = as_int();
      TINYXF_CHECK(std::in_range<T>(value), "json: integer ", value, " out of range for the target type");
      return static_cast<T>(value);
    } else if constexpr (std::floating_point<T>) {
      return static_cast<T>(as_double());
    } else if constexpr (std::same_as<T, std::string> || std::same_as<T, std::string_view>) {
      return T(as_string());
    } else if constexpr (std::same_as<T, Array>) {
      return as_array();
    } else {
      static_assert(std::same_as<T, Object>, "json::Value::as<T>: unsupported T");
      return as_object();
    }
  }

  // Object access. at/get name the key in their errors; operator[] on a non-const value inserts
  // (turning a null value into an object, so builders can write v["a"]["b"] = 1).
  const Value* find(std::string_view key) const { return is_object() ? as_object().find(key) : nullptr; }
  Value* find(std::string_view key) { return is_object() ? as_object().find(key) : nullptr; }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Value& at(std::string_view key) const { return object_for_key(key).at(key); }
  Value& at(std::string_view key) { return const_cast<Value&>(static_cast<const Value&>(*this).at(key)); }
  const Value& operator[](std::string_view key) const { return at(key); }
  Value& operator[](std::string_view key) {
    if (is_null()) data_ = Object{};
    return const_cast<Object&>(object_for_key(key))[key];
  }
  template <class T>
  T get(std::string_view key) const {
    const Value& member = at(key);
    try {
      return member.as<T>();
    } catch (const Error& error) {
      throw Error(::tinyxf::detail::concat(error.what(), " (key \"", key, "\")"));
    }
  }
  // The fallback when the key is missing or null.
  template <class T>
  T get_or(std::string_view key, T fallback) const {
    const Value* member = find(key);
    if (member == nullptr || member->is_null()) return fallback;
    return get<T>(key);
  }

  // Array access (bounds checked), and size() of an array or object.
  const Value& at(std::size_t index) const {
    const Array& array = as_array();
    TINYXF_CHECK(index < array.size(), "json: index ", index, " out of range for array of size ", array.size());
    return array[index];
  }
  Value& at(std::size_t index) { return const_cast<Value&>(static_cast<const Value&>(*this).at(index)); }
  const Value& operator[](std::size_t index) const { return at(index); }
  Value& operator[](std::size_t index) { return at(index); }
  std::size_t size() const {
    if (is_array()) return as_array().size();
    if (is_object()) return as_object().size();
    throw_type_error("array or object");
  }
  void push_back(Value value) {
    if (is_null()) data_ = Array{};
    as_array().push_back(std::move(value));
  }

  bool operator==(const Value& other) const { return data_ == other.data_; }

 private:
  template <class T>
  static std::int64_t checked_int64(T number) {
    TINYXF_CHECK(std::in_range<std::int64_t>(number), "json: integer ", number, " does not fit in int64");
    return static_cast<std::int64_t>(number);
  }
  [[noreturn]] void throw_type_error(const char* expected) const {
    throw Error(::tinyxf::detail::concat("json: expected ", expected, ", got ", type_name()));
  }
  template <class T>
  const T& get_checked(Type expected) const {
    if (auto* value = std::get_if<T>(&data_)) return *value;
    throw_type_error(json::type_name(expected));
  }
  template <class T>
  T& get_checked(Type expected) {
    return const_cast<T&>(static_cast<const Value&>(*this).get_checked<T>(expected));
  }
  const Object& object_for_key(std::string_view key) const {
    TINYXF_CHECK(is_object(), "json: expected object to look up key \"", key, "\", got ", type_name());
    return std::get<Object>(data_);
  }

  // The alternative order matches enum Type.
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> data_;
};

// ---- Object members (need the complete Value) ------------------------------------------------

inline std::size_t Object::size() const noexcept { return members_.size(); }
inline bool Object::empty() const noexcept { return members_.empty(); }
inline void Object::reserve(std::size_t n) { members_.reserve(n); }
inline Object::iterator Object::begin() noexcept { return members_.begin(); }
inline Object::iterator Object::end() noexcept { return members_.end(); }
inline Object::const_iterator Object::begin() const noexcept { return members_.begin(); }
inline Object::const_iterator Object::end() const noexcept { return members_.end(); }
inline Object::Object(std::initializer_list<Member> members) {
  members_.reserve(members.size());
  for (const Member& member : members) {
    TINYXF_CHECK(!contains(member.first), "json: duplicate key \"", member.first, "\" in object literal");
    members_.push_back(member);
  }
}
inline const Value* Object::find(std::string_view key) const {
  for (const Member& member : members_)
    if (member.first == key) return &member.second;
  return nullptr;
}
inline Value* Object::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Object&>(*this).find(key));
}
inline const Value& Object::at(std::string_view key) const {
  const Value* value = find(key);
  TINYXF_CHECK(value != nullptr, "json: missing key \"", key, "\"");
  return *value;
}
inline Value& Object::at(std::string_view key) { return const_cast<Value&>(static_cast<const Object&>(*this).at(key)); }
inline Value& Object::operator[](std::string_view key) {
  if (Value* value = find(key)) return *value;
  members_.emplace_back(std::string(key), Value());
  return members_.back().second;
}
inline Value& Object::insert_or_assign(std::string key, Value value) {
  if (Value* existing = find(key)) return *existing = std::move(value);
  members_.emplace_back(std::move(key), std::move(value));
  return members_.back().second;
}
inline void Object::push_back(std::string key, Value value) { members_.emplace_back(std::move(key), std::move(value)); }
inline bool Object::erase(std::string_view key) {
  auto it = std::find_if(members_.begin(), members_.end(), [&](const Member& m) { return m.first == key; });
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}
inline bool Object::operator==(const Object& other) const { return members_ == other.members_; }

// Builders: json::array({1, "two", 3.0}), json::object({{"name", "w"}, {"shape", json::array({2, 3})}}).
inline Value array(std::initializer_list<Value> items = {}) { return Value(Array(items)); }
inline Value object(std::initializer_list<Object::Member> members = {}) { return Value(Object(members)); }

// ---- UTF-8 ----------------------------------------------------------------------------------

namespace detail {
// Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF)
// starting at text[0], or 0 when it is malformed.
inline std::size_t utf8_sequence_length(const unsigned char* text, std::size_t available) {
  const unsigned char lead = text[0];
  if (lead < 0x80) return 1;
  std::size_t length;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (available < length) return 0;
  if (text[1] < second_min || text[1] > second_max) return 0;
  for (std::size_t i = 2; i < length; ++i)
    if ((text[i] & 0xC0) != 0x80) return 0;
  return length;
}

inline void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}
}  // namespace detail

inline bool is_valid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    if (bytes[i] < 0x80) {
      ++i;
      continue;
    }
    const std::size_t length = detail::utf8_sequence_length(bytes + i, text.size() - i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// ---- parse ----------------------------------------------------------------------------------

struct ParseOptions {
  std::size_t max_depth = 512;        // nesting limit, so hostile input cannot overflow the stack
  bool allow_duplicate_keys = false;  // keep duplicates (in order) for callers that check them
};

namespace detail {

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options)
      : begin_(text.data()), cursor_(text.data()), end_(text.data() + text.size()), options_(options) {}

  Value parse_document() {
    skip_whitespace();
    Value value = parse_value(0);
    skip_whitespace();
    if (cursor_ != end_) fail("expected end of input after the JSON value, found ", describe_current());
    return value;
  }

 private:
  template <class... Parts>
  [[noreturn]] void fail_at(const char* where, Parts&&... parts) const {
    std::size_t line = 1, column = 1;
    for (const char* c = begin_; c < where; ++c) {
      if (*c == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw Error(::tinyxf::detail::concat("json parse error at byte ", where - begin_, " (line ", line, ", column ",
                                         column, "): ", std::forward<Parts>(parts)...));
  }
  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    fail_at(cursor_, std::forward<Parts>(parts)...);
  }
  std::string describe_current() const {
    if (cursor_ == end_) return "end of input";
    const auto byte = static_cast<unsigned char>(*cursor_);
    if (byte >= 0x20 && byte < 0x7F) return ::tinyxf::detail::concat("'", static_cast<char>(byte), "'");
    static constexpr char hex[] = "0123456789ABCDEF";
    return ::tinyxf::detail::concat("byte 0x", hex[byte >> 4], hex[byte & 0xF]);
  }

  void skip_whitespace() {
    while (cursor_ != end_ && (*cursor_ == ' ' || *cursor_ == '\n' || *cursor_ == '\r' || *cursor_ == '\t')) ++cursor_;
  }

  Value parse_value(std::size_t depth) {
    if (cursor_ == end_) fail("expected a value, found end of input");
    switch (*cursor_) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': {
        std::string text;
        parse_string(text);
        return Value(std::move(text));
      }
      case 't': expect_literal("true"); return Value(true);
      case 'f': expect_literal("false"); return Value(false);
      case 'n': expect_literal("null"); return Value();
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9': return parse_number();
      default:
        fail("expected a value (object, array, string, number, true, false or null), found ", describe_current());
    }
  }

  void expect_literal(std::string_view literal) {
    if (static_cast<std::size_t>(end_ - cursor_) < literal.size() ||
        std::memcmp(cursor_, literal.data(), literal.size()) != 0)
      fail("invalid literal, expected '", literal, "'");
    cursor_ += literal.size();
  }

  void check_depth(std::size_t depth) const {
    if (depth > options_.max_depth) fail("nesting deeper than the limit of ", options_.max_depth);
  }

  Value parse_array(std::size_t depth) {
    check_depth(depth);
    ++cursor_;  // '['
    Array items;
    skip_whitespace();
    if (cursor_ != end_ && *cursor_ == ']') {
      ++cursor_;
      return Value(std::move(items));
    }
    while (true) {
      skip_whitespace();
      items.push_back(parse_value(depth));
      skip_whitespace();
      if (cursor_ != end_ && *cursor_ == ',') {
        ++cursor_;
        skip_whitespace();
        if (cursor_ != end_ && *cursor_ == ']') fail("trailing comma before ']'");
        continue;
      }
      if (cursor_ != end_ && *cursor_ == ']') {
        ++cursor_;
        return Value(std::move(items));
      }
      fail("expected ',' or ']' after array element, found ", describe_current());
    }
  }

  Value parse_object(std::size_t depth) {
    check_depth(depth);
    const char* object_start = cursor_;
    ++cursor_;  // '{'
    Object object;
    skip_whitespace();
    if (cursor_ != end_ && *cursor_ == '}') {
      ++cursor_;
      return Value(std::move(object));
    }
    while (true) {
      skip_whitespace();
      if (cursor_ == end_ || *cursor_ != '"') {
        if (cursor_ != end_ && *cursor_ == '}') fail("trailing comma before '}'");
        fail("expected '\"' to start an object key, found ", describe_current());
      }
      std::string key;
      parse_string(key);
      skip_whitespace();
      if (cursor_ == end_ || *cursor_ != ':') fail("expected ':' after object key, found ", describe_current());
      ++cursor_;
      skip_whitespace();
      Value member = parse_value(depth);
      object.push_back(std::move(key), std::move(member));
      skip_whitespace();
      if (cursor_ != end_ && *cursor_ == ',') {
        ++cursor_;
        continue;
      }
      if (cursor_ != end_ && *cursor_ == '}') {
        ++cursor_;
        break;
      }
      fail("expected ',' or '}' after object member, found ", describe_current());
    }
    if (!options_.allow_duplicate_keys) check_unique_keys(object, object_start);
    return Value(std::move(object));
  }

  // Checked once the object is complete: quadratic for small objects, sorting for big ones.
  void check_unique_keys(const Object& object, const char* object_start) const {
    const auto& members = object.members();
    constexpr std::size_t small_object = 16;
    if (members.size() <= small_object) {
      for (std::size_t i = 1; i < members.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
          if (members[i].first == members[j].first)
            fail_at(object_start, "duplicate key \"", members[i].first, "\" in object");
      return;
    }
    std::vector<const std::string*> keys;
    keys.reserve(members.size());
    for (const auto& member : members) keys.push_back(&member.first);
    std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
    for (std::size_t i = 1; i < keys.size(); ++i)
      if (*keys[i] == *keys[i - 1]) fail_at(object_start, "duplicate key \"", *keys[i], "\" in object");
  }

  void parse_string(std::string& out) {
    const char* string_start = cursor_;
    ++cursor_;  // opening quote
    while (true) {
      // Fast path: copy the run of plain ASCII bytes in one go.
      const char* run_start = cursor_;
      while (cursor_ != end_) {
        const auto byte = static_cast<unsigned char>(*cursor_);
        if (byte == '"' || byte == '\\' || byte < 0x20 || byte >= 0x80) break;
        ++cursor_;
      }
      out.append(run_start, cursor_);
      if (cursor_ == end_) fail_at(string_start, "unterminated string");
      const auto byte = static_cast<unsigned char>(*cursor_);
      if (byte == '"') {
        ++cursor_;
        return;
      }
      if (byte == '\\') {
        parse_escape(out);
      } else if (byte < 0x20) {
        fail("unescaped control character ", describe_current(), " in string");
      } else {
        const std::size_t length = utf8_sequence_length(reinterpret_cast<const unsigned char*>(cursor_),
                                                        static_cast<std::size_t>(end_ - cursor_));
        if (length == 0) fail("invalid UTF-8 sequence starting with ", describe_current(), " in string");
        out.append(cursor_, length);
        cursor_ += length;
      }
    }
  }

  void parse_escape(std::string& out) {
    const char* escape_start = cursor_;
    ++cursor_;  // backslash
    if (cursor_ == end_) fail_at(escape_start, "unterminated escape sequence");
    switch (*cursor_++) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: fail_at(escape_start, "invalid escape sequence '\\", cursor_[-1], "'");
    }
    std::uint32_t code_point = parse_hex4(escape_start);
    if (code_point >= 0xDC00 && code_point <= 0xDFFF)
      fail_at(escape_start, "lone low surrogate \\u", std::string_view(escape_start + 2, 4), " in string");
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      const char* low_start = cursor_;
      if (end_ - cursor_ < 2 || cursor_[0] != '\\' || cursor_[1] != 'u')
        fail_at(escape_start, "lone high surrogate \\u", std::string_view(escape_start + 2, 4),
                " (expected a \\uDC00-\\uDFFF escape after it)");
      cursor_ += 2;
      const std::uint32_t low = parse_hex4(low_start);
      if (low < 0xDC00 || low > 0xDFFF)
        fail_at(low_start, "high surrogate \\u", std::string_view(escape_start + 2, 4), " followed by \\u",
                std::string_view(low_start + 2, 4), ", which is not a low surrogate");
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code_point);
  }

  std::uint32_t parse_hex4(const char* escape_start) {
    if (end_ - cursor_ < 4) fail_at(escape_start, "truncated \\u escape (expected 4 hex digits)");
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *cursor_;
      std::uint32_t digit;
      if (c >= '0' && c <= '9')
        digit = static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        digit = static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        digit = static_cast<std::uint32_t>(c - 'A' + 10);
      else
        fail("expected a hex digit in \\u escape, found ", describe_current());
      value = value * 16 + digit;
      ++cursor_;
    }
    return value;
  }

  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  Value parse_number() {
    const char* number_start = cursor_;
    if (*cursor_ == '-') {
      ++cursor_;
      if (cursor_ == end_ || !is_digit(*cursor_)) fail("expected a digit after '-', found ", describe_current());
    }
    const char* integer_digits = cursor_;
    if (*cursor_ == '0') {
      ++cursor_;
      if (cursor_ != end_ && is_digit(*cursor_)) fail_at(integer_digits, "leading zeros are not allowed in numbers");
    } else {
      while (cursor_ != end_ && is_digit(*cursor_)) ++cursor_;
    }
    const char* integer_end = cursor_;
    bool is_integer = true;
    if (cursor_ != end_ && *cursor_ == '.') {
      is_integer = false;
      ++cursor_;
      if (cursor_ == end_ || !is_digit(*cursor_))
        fail("expected a digit after the decimal point, found ", describe_current());
      while (cursor_ != end_ && is_digit(*cursor_)) ++cursor_;
    }
    if (cursor_ != end_ && (*cursor_ == 'e' || *cursor_ == 'E')) {
      is_integer = false;
      ++cursor_;
      if (cursor_ != end_ && (*cursor_ == '+' || *cursor_ == '-')) ++cursor_;
      if (cursor_ == end_ || !is_digit(*cursor_)) fail("expected a digit in the exponent, found ", describe_current());
      while (cursor_ != end_ && is_digit(*cursor_)) ++cursor_;
    }
    if (is_integer) {
      std::int64_t integer = 0;
      const auto [end, error] = std::from_chars(number_start, cursor_, integer);
      if (error == std::errc() && end == cursor_) return Value(integer);
      // Too big for int64: fall through to double, as most JSON libraries do.
    }
    double floating = 0;
    const auto [end, error] = std::from_chars(number_start, cursor_, floating);
    if (error == std::errc::result_out_of_range) {
      if (magnitude_exponent(integer_digits, integer_end, cursor_) > 0)
        fail_at(number_start, "number ", std::string_view(number_start, cursor_ - number_start),
                " is out of double range");
      // Underflow: the nearest double is a signed zero.
      return Value(*number_start == '-' ? -0.0 : 0.0);
    }
    if (error != std::errc() || end != cursor_)
      fail_at(number_start, "invalid number ", std::string_view(number_start, cursor_ - number_start));
    return Value(floating);
  }

  // Decimal exponent of the leading significant digit of a validated number literal in
  // [integer_digits, number_end): > 0 means the value overflowed, <= 0 that it underflowed.
  static long magnitude_exponent(const char* integer_digits, const char* integer_end, const char* number_end) {
    long exponent = 0;
    const char* c = integer_end;
    if (*integer_digits != '0') {
      exponent = static_cast<long>(integer_end - integer_digits) - 1;
    } else if (c != number_end && *c == '.') {
      exponent = -1;
      for (++c; c != number_end && *c == '0'; ++c) --exponent;
    }
    const char* scan = std::find_if(integer_end, number_end, [](char ch) { return ch == 'e' || ch == 'E'; });
    if (scan == number_end) return exponent;
    ++scan;
    const bool negative = *scan == '-';
    if (*scan == '+' || *scan == '-') ++scan;
    long written_exponent = 0;  // capped: only its sign against the digit count matters
    for (; scan != number_end && written_exponent < 100'000'000; ++scan)
      written_exponent = written_exponent * 10 + (*scan - '0');
    return exponent + (negative ? -written_exponent : written_exponent);
  }

  const char* begin_;
  const char* cursor_;
  const char* end_;
  const ParseOptions& options_;
};

}  // namespace detail

inline Value parse(std::string_view text, const ParseOptions& options = {}) {
  return detail::Parser(text, options).parse_document();
}

// ---- dump -----------------------------------------------------------------------------------

// Appends s with '"', '\\' and control characters escaped (no surrounding quotes). Other bytes,
// UTF-8 included, are copied as they are: pass valid UTF-8 (see is_valid_utf8) for valid JSON.
inline void append_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  const char* run_start = s.data();
  const char* const end = s.data() + s.size();
  for (const char* c = s.data(); c != end; ++c) {
    const auto byte = static_cast<unsigned char>(*c);
    if (byte >= 0x20 && byte != '"' && byte != '\\') continue;
    out.append(run_start, c);
    run_start = c + 1;
    switch (byte) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char escape[] = {'\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xF]};
        out.append(escape, sizeof escape);
      }
    }
  }
  out.append(run_start, end);
}

// Appends "s" with quotes.
inline void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s);
  out += '"';
}

// Any integer type (token ids are often int32 or uint32), written exactly.
template <std::integral T>
  requires(!std::same_as<T, bool>)
void append_number(std::string& out, T value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

// Shortest text that parses back to the same value of type T (so 0.1f writes "0.1"); integral
// values keep a ".0" so they read back as doubles. NaN and infinities have no JSON form and throw.
template <std::floating_point T>
void append_number(std::string& out, T value) {
  TINYXF_CHECK(std::isfinite(value), "json: cannot write non-finite number ", value);
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

namespace detail {
inline void append_newline_indent(std::string& out, int indent, int level) {
  out += '\n';
  out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
}

inline void dump_value(std::string& out, const Value& value, int indent, int level) {
  switch (value.type()) {
    case Type::null: out += "null"; return;
    case Type::boolean: out += value.as_bool() ? "true" : "false"; return;
    case Type::integer: append_number(out, value.as_int()); return;
    case Type::floating: append_number(out, value.as_double()); return;
    case Type::string: append_quoted(out, value.as_string()); return;
    case Type::array: {
      const Array& items = value.as_array();
      out += '[';
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ',';
        if (indent >= 0) append_newline_indent(out, indent, level + 1);
        dump_value(out, items[i], indent, level + 1);
      }
      if (indent >= 0 && !items.empty()) append_newline_indent(out, indent, level);
      out += ']';
      return;
    }
    case Type::object: {
      const Object& object = value.as_object();
      out += '{';
      bool first = true;
      for (const auto& [key, member] : object) {
        if (!first) out += ',';
        first = false;
        if (indent >= 0) append_newline_indent(out, indent, level + 1);
        append_quoted(out, key);
        out += indent >= 0 ? ": " : ":";
        dump_value(out, member, indent, level + 1);
      }
      if (indent >= 0 && !object.empty()) append_newline_indent(out, indent, level);
      out += '}';
      return;
    }
  }
}
}  // namespace detail

// Appends the JSON text of value to out (the allocation-friendly form of dump).
inline void dump_to(std::string& out, const Value& value, int indent = -1) {
  detail::dump_value(out, value, indent, 0);
}

inline std::string dump(const Value& value, int indent = -1) {
  std::string out;
  dump_to(out, value, indent);
  return out;
}

}  // namespace tinyxf::json
