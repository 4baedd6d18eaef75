#pragma once
// tinyxf::json: a strict JSON (RFC 8259) value type over nlohmann-json's parser.
//   Value parse(std::string_view text, options)    throws tinyxf::ParseError naming the byte offset
//   Value parse_file(path, options)                the same for a file; errors name the path
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
#include <filesystem>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinyxf/core/error.hpp"
#include "tinyxf/io/atomic_file.hpp"

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
      TINYXF_CHECK_AS(ValueError,
                      std::trunc(*floating) == *floating && *floating >= -9223372036854775808.0 &&
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
      TINYXF_CHECK_AS(ValueError, std::in_range<T>(value), "json: integer ", value,
                      " out of range for the target type");
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
    } catch (const ValueError& error) {
      throw ValueError(::tinyxf::detail::concat(error.what(), " (key \"", key, "\")"));
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
    TINYXF_CHECK_AS(IndexError, index < array.size(), "json: index ", index, " out of range for array of size ",
                    array.size());
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
    TINYXF_CHECK_AS(ValueError, std::in_range<std::int64_t>(number), "json: integer ", number,
                    " does not fit in int64");
    return static_cast<std::int64_t>(number);
  }
  [[noreturn]] void throw_type_error(const char* expected) const {
    throw ValueError(::tinyxf::detail::concat("json: expected ", expected, ", got ", type_name()));
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
    TINYXF_CHECK_AS(ValueError, is_object(), "json: expected object to look up key \"", key, "\", got ", type_name());
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
    TINYXF_CHECK_AS(ValueError, !contains(member.first), "json: duplicate key \"", member.first,
                    "\" in object literal");
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
  TINYXF_CHECK_AS(IndexError, value != nullptr, "json: missing key \"", key, "\"");
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
// nlohmann-json's lexer and parser (fuzz-tested, iterative, so deep nesting cannot overflow the
// stack) feed a SAX handler that builds json::Value directly. The handler adds what nlohmann does
// not check: duplicate keys, a nesting limit, a leading byte order mark, the source name.

struct ParseOptions {
  std::size_t max_depth = 512;        // nesting limit, so hostile input cannot exhaust memory
  bool allow_duplicate_keys = false;  // keep duplicates (in order) for callers that check them
  std::string source;                 // the file (or buffer) name errors report; empty: none
};

namespace detail {

// A char iterator that records the furthest byte nlohmann's lexer has read, so the SAX callbacks
// (which get no position) can locate their errors. The lexer reads each byte once, in order.
class TrackingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackingIterator() = default;
  TrackingIterator(const char* position, const char** last_read) : position_(position), last_read_(last_read) {}
  reference operator*() const {
    *last_read_ = position_;
    return *position_;
  }
  TrackingIterator& operator++() {
    ++position_;
    return *this;
  }
  TrackingIterator operator++(int) {
    TrackingIterator before = *this;
    ++position_;
    return before;
  }
  bool operator==(const TrackingIterator& other) const { return position_ == other.position_; }

 private:
  const char* position_ = nullptr;
  const char** last_read_ = nullptr;
};

class ValueBuilder {
 public:
  using Json = nlohmann::json;

  ValueBuilder(std::string_view text, const ParseOptions& options) : text_(text), options_(options) {}

  Value parse() {
    if (text_.starts_with("\xEF\xBB\xBF")) fail_at(0, "a UTF-8 byte order mark is not allowed before the value");
    const char* last_read = text_.data();
    last_read_ = &last_read;
    Json::sax_parse(TrackingIterator(text_.data(), &last_read),
                    TrackingIterator(text_.data() + text_.size(), &last_read), this,
                    nlohmann::detail::input_format_t::json, /*strict=*/true);
    return std::move(root_);
  }

  // ---- nlohmann SAX interface ----
  bool null() { return add(Value()); }
  bool boolean(bool value) { return add(Value(value)); }
  bool number_integer(Json::number_integer_t value) { return add(Value(value)); }
  bool number_unsigned(Json::number_unsigned_t value) {
    // Past int64 the literal becomes a double, like most JSON readers.
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return add(Value(static_cast<double>(value)));
    return add(Value(static_cast<std::int64_t>(value)));
  }
  // nlohmann reports a literal out of double range (JSON has no infinity) as a parse error; on
  // underflow strtod gives the nearest double, a signed zero for the smallest.
  bool number_float(Json::number_float_t value, const std::string&) { return add(Value(value)); }
  bool string(std::string& value) { return add(Value(std::move(value))); }
  // Only nlohmann's binary formats (CBOR, MessagePack, ...) produce binary values, never JSON text.
  bool binary(Json::binary_t&) { fail_at(last_read_offset(), "binary value in JSON text"); }
  bool start_object(std::size_t) { return open(Value(Object{})); }
  bool key(std::string& key) {
    pending_key_ = std::move(key);
    return true;
  }
  bool end_object() {
    if (!options_.allow_duplicate_keys) check_unique_keys(open_.back().value->as_object(), open_.back().start);
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t) { return open(Value(Array{})); }
  bool end_array() {
    open_.pop_back();
    return true;
  }
  bool parse_error(std::size_t chars_read, const std::string& last_token, const nlohmann::detail::exception& error) {
    // chars_read counts the offending byte (one past the end at the end of input). A number out
    // of range is reported from its first digit, as the whole literal is at fault.
    constexpr int number_overflow = 406;
    std::size_t offset = chars_read > 0 ? chars_read - 1 : 0;
    if (error.id == number_overflow && chars_read >= last_token.size()) offset = chars_read - last_token.size();
    fail_at(std::min(offset, text_.size()), nlohmann_reason(error));
  }

 private:
  struct OpenContainer {
    Value* value;
    std::size_t start;  // byte offset of its '{' or '['
  };

  std::size_t last_read_offset() const { return static_cast<std::size_t>(*last_read_ - text_.data()); }

  bool add(Value value) {
    if (open_.empty()) {
      root_ = std::move(value);
    } else if (Value& parent = *open_.back().value; parent.is_array()) {
      parent.as_array().push_back(std::move(value));
    } else {
      parent.as_object().push_back(std::move(pending_key_), std::move(value));
    }
    return true;
  }

  bool open(Value container) {
    const std::size_t start = last_read_offset();
    if (open_.size() >= options_.max_depth) fail_at(start, "nesting deeper than the limit of ", options_.max_depth);
    add(std::move(container));
    Value* opened = &root_;
    if (open_.size() > 0) {
      Value& parent = *open_.back().value;
      opened = parent.is_array() ? &parent.as_array().back() : &(parent.as_object().end() - 1)->second;
    }
    open_.push_back({opened, start});
    return true;
  }

  // Checked once the object is complete: quadratic for small objects, sorting for big ones.
  void check_unique_keys(const Object& object, std::size_t object_start) const {
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

  // nlohmann's what() is "[json.exception.parse_error.101] parse error at line 1, column 5: <why>";
  // the location is reported as a byte offset instead, so keep only <why>.
  static std::string nlohmann_reason(const nlohmann::detail::exception& error) {
    const std::string_view what = error.what();
    const std::size_t column = what.find("column ");
    const std::size_t colon = column == std::string_view::npos ? what.find("] ") : what.find(": ", column);
    return std::string(colon == std::string_view::npos ? what : what.substr(colon + 2));
  }

  template <class... Parts>
  [[noreturn]] void fail_at(std::size_t offset, Parts&&... parts) const {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    const std::string where = options_.source.empty() ? "" : ::tinyxf::detail::concat(" in ", options_.source);
    throw ParseError(::tinyxf::detail::concat("json parse error", where, " at byte ", offset, " (line ", line,
                                              ", column ", column, "): ", std::forward<Parts>(parts)...),
                     options_.source, offset, line);
  }

  std::string_view text_;
  const ParseOptions& options_;
  const char** last_read_ = nullptr;
  Value root_;
  std::vector<OpenContainer> open_;
  std::string pending_key_;
};

}  // namespace detail

// Parses one JSON document; throws ParseError naming options.source, the byte offset and the line.
inline Value parse(std::string_view text, const ParseOptions& options = {}) {
  return detail::ValueBuilder(text, options).parse();
}

// Reads (bounded by io::limits::json_file) and parses a JSON file; errors name the path.
inline Value parse_file(const std::filesystem::path& path, ParseOptions options = {}) {
  options.source = path.string();
  return parse(io::read_file(path, io::limits::json_file), options);
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
  TINYXF_CHECK_AS(ValueError, std::isfinite(value), "json: cannot write non-finite number ", value);
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
