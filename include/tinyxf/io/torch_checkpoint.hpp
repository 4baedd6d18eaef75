#pragma once
// Reading PyTorch's torch.save files (`pytorch_model.bin`, `*.pt`): the zip format of PyTorch >= 1.6
//   <archive>/data.pkl     the pickled object: a state dict, {name: tensor}
//   <archive>/data/<key>   one storage's raw little-endian bytes per key
//   <archive>/byteorder    "little" (absent in files older than PyTorch 1.10: little too)
// The zip itself is libzip's business. data.pkl is read by a restricted unpickler, as
// torch.load(weights_only=True) does: it knows the opcodes torch.save writes and a short list of
// globals (OrderedDict, the tensor and parameter rebuild functions, the storage classes), builds
// nothing but dicts, lists, tuples, scalars and tensor descriptions, and refuses every other global
// by name — a pickle can name any Python function, and no code is ever run.
//
// Like SafetensorsFile, everything is validated before any byte is handed out: each tensor's
// storage exists, has the size its dtype and element count say, and holds every element the
// tensor's sizes, strides and offset reach. Errors name the file, the tensor or the pickle offset.
#include <zip.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/io/safetensors.hpp"

namespace tinyxf::io {

struct TorchTensorInfo {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  // in elements, as torch's Tensor.stride()
  std::int64_t storage_offset = 0;    // in elements
  std::string storage_key;            // <archive>/data/<storage_key>
  std::int64_t storage_numel = 0;

  // Validated by the reader: fits in int64 (an empty tensor's other sizes may be anything).
  std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (std::int64_t d : shape)
      if (d == 0) return 0;
    for (std::int64_t d : shape) n *= d;
    return n;
  }
};

namespace torch_pickle {

// One value of the unpickler. Containers refer to other values by index into the unpickler's
// arena, so a pickle that makes a list contain itself (legal) cannot leak or recurse.
struct Value {
  enum class Kind { none, boolean, integer, floating, string, tuple, list, dict, global, storage, tensor, mark };
  Kind kind = Kind::none;
  std::int64_t integer = 0;        // integer, boolean; storage: element count; tensor: Unpickler::tensor index
  double floating = 0.0;
  std::string text;                // string; global: "module name"; storage: key
  std::vector<std::size_t> items;  // tuple, list; dict: key, value, key, value, ...
  StDtype dtype = StDtype::F32;    // storage
};

// The globals a state dict is made of. Anything else is refused, as weights_only=True does.
inline bool allowed_global(std::string_view name) {
  static constexpr std::string_view allowed[] = {
      "collections OrderedDict",         "torch._utils _rebuild_tensor_v2",
      "torch._utils _rebuild_tensor",    "torch._utils _rebuild_parameter",
      "torch._utils _rebuild_parameter_with_state"};
  for (std::string_view a : allowed)
    if (a == name) return true;
  return false;
}

// torch.save names a storage's dtype by its legacy class (torch.FloatStorage, ...).
inline std::optional<StDtype> storage_dtype(std::string_view global) {
  static constexpr std::pair<std::string_view, StDtype> classes[] = {
      {"torch FloatStorage", StDtype::F32},  {"torch DoubleStorage", StDtype::F64},
      {"torch HalfStorage", StDtype::F16},   {"torch BFloat16Storage", StDtype::BF16},
      {"torch LongStorage", StDtype::I64},   {"torch IntStorage", StDtype::I32},
      {"torch ShortStorage", StDtype::I16},  {"torch CharStorage", StDtype::I8},
      {"torch ByteStorage", StDtype::U8},    {"torch BoolStorage", StDtype::BOOL}};
  for (const auto& [name, dtype] : classes)
    if (name == global) return dtype;
  return std::nullopt;
}

// The unpickler. `storage_bytes(key)` gives the size of <archive>/data/<key>, or nullopt when
// the archive has no such record.
class Unpickler {
 public:
  using StorageSize = std::optional<std::uint64_t> (*)(const void* context, const std::string& key);

  Unpickler(std::span<const std::byte> data, std::string source, StorageSize storage_size, const void* context)
      : data_(data), source_(std::move(source)), storage_size_(storage_size), context_(context) {}

  // Runs the pickle to its STOP; returns the index of the result in values().
  std::size_t run() {
    while (true) {
      op_offset_ = pos_;
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80: byte(); break;                  // PROTO
        case 0x95: bytes(8); break;                // FRAME (a hint for buffered readers)
        case '.':                                  // STOP
          if (stack_.size() != 1) fail("the pickle ends with ", stack_.size(), " values on the stack, not 1");
          return pop();
        case '(': push(make(Value::Kind::mark)); break;
        case ')': push(make(Value::Kind::tuple)); break;
        case ']': push(make(Value::Kind::list)); break;
        case '}': push(make(Value::Kind::dict)); break;
        case 't': case 'l': case 'd': {            // TUPLE, LIST, DICT from the items since MARK
          std::vector<std::size_t> items = pop_to_mark();
          const auto kind = op == 't' ? Value::Kind::tuple : op == 'l' ? Value::Kind::list : Value::Kind::dict;
          if (kind == Value::Kind::dict && items.size() % 2 != 0) fail("DICT with an odd number of items");
          const std::size_t v = make(kind);
          values_[v].items = std::move(items);
          push(v);
          break;
        }
        case 0x85: case 0x86: case 0x87: {         // TUPLE1, TUPLE2, TUPLE3
          const std::size_t n = op - 0x84u;
          need(n);
          const std::size_t v = make(Value::Kind::tuple);
          values_[v].items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          check_no_mark(values_[v].items);
          push(v);
          break;
        }
        case 'a': {                                // APPEND
          const std::size_t item = pop();
          container(top(), Value::Kind::list, "APPEND").items.push_back(item);
          break;
        }
        case 'e': {                                // APPENDS
          std::vector<std::size_t> items = pop_to_mark();
          auto& list = container(top(), Value::Kind::list, "APPENDS").items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case 's': {                                // SETITEM
          const std::size_t value = pop(), key = pop();
          auto& dict = container(top(), Value::Kind::dict, "SETITEM").items;
          dict.push_back(key);
          dict.push_back(value);
          break;
        }
        case 'u': {                                // SETITEMS
          std::vector<std::size_t> items = pop_to_mark();
          if (items.size() % 2 != 0) fail("SETITEMS with an odd number of items");
          auto& dict = container(top(), Value::Kind::dict, "SETITEMS").items;
          dict.insert(dict.end(), items.begin(), items.end());
          break;
        }
        case 'q': memo_put(static_cast<std::uint8_t>(byte())); break;   // BINPUT
        case 'r': memo_put(little<std::uint32_t>()); break;              // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;                         // MEMOIZE
        case 'h': memo_get(static_cast<std::uint8_t>(byte())); break;   // BINGET
        case 'j': memo_get(little<std::uint32_t>()); break;              // LONG_BINGET
        case 'J': push_int(static_cast<std::int32_t>(little<std::uint32_t>())); break;  // BININT
        case 'K': push_int(static_cast<std::uint8_t>(byte())); break;                    // BININT1
        case 'M': push_int(little<std::uint16_t>()); break;                               // BININT2
        case 0x8a: {                               // LONG1: n-byte little-endian two's complement
          const auto n = static_cast<std::uint8_t>(byte());
          if (n > 8) fail("LONG1 of ", int{n}, " bytes does not fit 64 bits");
          const std::byte* p = bytes(n);
          std::uint64_t u = 0;
          for (unsigned i = 0; i < n; ++i) u |= std::uint64_t{std::to_integer<std::uint8_t>(p[i])} << (8 * i);
          if (n > 0 && n < 8 && (std::to_integer<std::uint8_t>(p[n - 1]) & 0x80) != 0) u |= ~std::uint64_t{0} << (8 * n);
          push_int(static_cast<std::int64_t>(u));
          break;
        }
        case 'G': {                                // BINFLOAT: big-endian double
          const std::byte* p = bytes(8);
          std::uint64_t u = 0;
          for (int i = 0; i < 8; ++i) u = (u << 8) | std::to_integer<std::uint8_t>(p[i]);
          const std::size_t v = make(Value::Kind::floating);
          values_[v].floating = std::bit_cast<double>(u);
          push(v);
          break;
        }
        case 'N': push(make(Value::Kind::none)); break;
        case 0x88: case 0x89: {                    // NEWTRUE, NEWFALSE
          const std::size_t v = make(Value::Kind::boolean);
          values_[v].integer = op == 0x88;
          push(v);
          break;
        }
        case 'X': push_string(little<std::uint32_t>()); break;          // BINUNICODE
        case 0x8c: push_string(static_cast<std::uint8_t>(byte())); break;  // SHORT_BINUNICODE
        case 0x8d: push_string(little<std::uint64_t>()); break;          // BINUNICODE8
        case 'T': push_string(little<std::uint32_t>()); break;          // BINSTRING
        case 'U': push_string(static_cast<std::uint8_t>(byte())); break;  // SHORT_BINSTRING
        case 'B': push_string(little<std::uint32_t>()); break;          // BINBYTES
        case 'C': push_string(static_cast<std::uint8_t>(byte())); break;  // SHORT_BINBYTES
        case 'c': {                                // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          push_global(module + " " + name);
          break;
        }
        case 0x93: {                               // STACK_GLOBAL
          const std::size_t name = pop(), module = pop();
          if (values_[module].kind != Value::Kind::string || values_[name].kind != Value::Kind::string)
            fail("STACK_GLOBAL needs two strings");
          push_global(values_[module].text + " " + values_[name].text);
          break;
        }
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'R': {                                // REDUCE: callable(*args)
          const std::size_t args = pop(), callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 0x81: {                               // NEWOBJ: cls.__new__(cls, *args)
          const std::size_t args = pop(), cls = pop();
          push(reduce(cls, args));
          break;
        }
        case 'b': {                                // BUILD: set the state of the object below
          pop();  // an OrderedDict's _metadata, a parameter's __dict__: nothing a weight needs
          const Value::Kind kind = values_[top()].kind;
          if (kind != Value::Kind::dict && kind != Value::Kind::tensor)
            fail("BUILD on a ", kind_name(kind), " (only dicts and tensors take state here)");
          break;
        }
        case '0': pop(); break;                    // POP
        case '1': pop_to_mark(); break;            // POP_MARK
        case '2': need(1); push(stack_.back()); break;  // DUP
        default:
          fail("opcode 0x", hex(op), " is not one torch.save writes for a state dict");
      }
    }
  }

  const Value& value(std::size_t index) const { return values_[index]; }
  // A tensor value's description (its name is the caller's to fill in).
  const TorchTensorInfo& tensor(const Value& v) const { return tensors_[static_cast<std::size_t>(v.integer)]; }

  [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
    throw ParseError(::tinyxf::detail::concat(source_, ": data.pkl at byte ", offset, ": ", what), source_, offset, 0);
  }

 private:
  // Each opcode makes at most one value; a state dict's pickle makes ~20 per tensor.
  static constexpr std::size_t max_values = std::size_t{1} << 22;
  // A view that repeats elements (stride 0, overlapping strides) is materialized by readers:
  // bounded, since it is not bounded by the bytes of its storage.
  static constexpr std::int64_t max_repeated_bytes = std::int64_t{1} << 30;

  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    fail_at(op_offset_, ::tinyxf::detail::concat(std::forward<Parts>(parts)...));
  }

  static std::string hex(unsigned v) {
    static constexpr char digits[] = "0123456789abcdef";
    return {digits[(v >> 4) & 15], digits[v & 15]};
  }

  static const char* kind_name(Value::Kind kind) {
    switch (kind) {
      case Value::Kind::none: return "None";
      case Value::Kind::boolean: return "bool";
      case Value::Kind::integer: return "int";
      case Value::Kind::floating: return "float";
      case Value::Kind::string: return "string";
      case Value::Kind::tuple: return "tuple";
      case Value::Kind::list: return "list";
      case Value::Kind::dict: return "dict";
      case Value::Kind::global: return "global";
      case Value::Kind::storage: return "storage";
      case Value::Kind::tensor: return "tensor";
      case Value::Kind::mark: return "MARK";
    }
    return "?";
  }

  std::byte byte() { return *bytes(1); }
  const std::byte* bytes(std::uint64_t n) {
    if (n > data_.size() - pos_) fail("the pickle ends inside an opcode (", n, " bytes needed, ", data_.size() - pos_, " left)");
    const std::byte* p = data_.data() + pos_;
    pos_ += static_cast<std::size_t>(n);
    return p;
  }
  template <class T>
  T little() {
    const std::byte* p = bytes(sizeof(T));
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) u |= std::uint64_t{std::to_integer<std::uint8_t>(p[i])} << (8 * i);
    return static_cast<T>(u);
  }
  std::string line() {
    const std::size_t start = pos_;
    while (pos_ < data_.size() && data_[pos_] != std::byte{'\n'}) {
      if (pos_ - start > 256) fail("GLOBAL name longer than 256 bytes");
      ++pos_;
    }
    if (pos_ >= data_.size()) fail("the pickle ends inside a GLOBAL name");
    std::string text(reinterpret_cast<const char*>(data_.data() + start), pos_ - start);
    ++pos_;
    return text;
  }

  std::size_t make(Value::Kind kind) {
    if (values_.size() >= max_values) fail("more than ", max_values, " values: not a state dict");
    values_.emplace_back().kind = kind;
    return values_.size() - 1;
  }
  void push(std::size_t v) { stack_.push_back(v); }
  void need(std::size_t n) const {
    if (stack_.size() < n) fail("the opcode needs ", n, " values, the stack holds ", stack_.size());
  }
  std::size_t pop() {
    need(1);
    const std::size_t v = stack_.back();
    if (values_[v].kind == Value::Kind::mark) fail("a MARK where a value belongs");
    stack_.pop_back();
    return v;
  }
  std::size_t top() const {
    need(1);
    return stack_.back();
  }
  void check_no_mark(const std::vector<std::size_t>& items) const {
    for (std::size_t v : items)
      if (values_[v].kind == Value::Kind::mark) fail("a MARK where a value belongs");
  }
  std::vector<std::size_t> pop_to_mark() {
    std::size_t i = stack_.size();
    while (i > 0 && values_[stack_[i - 1]].kind != Value::Kind::mark) --i;
    if (i == 0) fail("no MARK on the stack");
    std::vector<std::size_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(i), stack_.end());
    stack_.resize(i - 1);
    return items;
  }
  Value& container(std::size_t v, Value::Kind kind, const char* op) {
    if (values_[v].kind != kind) fail(op, " on a ", kind_name(values_[v].kind), ", not a ", kind_name(kind));
    return values_[v];
  }
  void memo_put(std::uint64_t key) {
    const std::size_t v = top();
    if (values_[v].kind == Value::Kind::mark) fail("memoizing a MARK");
    memo_[key] = v;
  }
  void memo_get(std::uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo entry ", key, " was never stored");
    push(it->second);
  }
  void push_int(std::int64_t i) {
    const std::size_t v = make(Value::Kind::integer);
    values_[v].integer = i;
    push(v);
  }
  void push_string(std::uint64_t n) {
    const std::byte* p = bytes(n);
    const std::size_t v = make(Value::Kind::string);
    values_[v].text.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    push(v);
  }
  void push_global(std::string name) {
    if (!allowed_global(name) && !storage_dtype(name))
      fail("refers to the global '", name, "', which a state dict does not hold (only tensors, dicts and the "
           "storage classes are read; torch.load(weights_only=True) refuses it too)");
    const std::size_t v = make(Value::Kind::global);
    values_[v].text = std::move(name);
    push(v);
  }

  std::int64_t as_int(std::size_t v, const char* what) const {
    if (values_[v].kind != Value::Kind::integer) fail(what, " is a ", kind_name(values_[v].kind), ", not an int");
    return values_[v].integer;
  }
  std::vector<std::int64_t> as_ints(std::size_t v, const char* what) const {
    if (values_[v].kind != Value::Kind::tuple && values_[v].kind != Value::Kind::list)
      fail(what, " is a ", kind_name(values_[v].kind), ", not a tuple");
    std::vector<std::int64_t> out;
    for (std::size_t item : values_[v].items) out.push_back(as_int(item, what));
    return out;
  }
  const std::vector<std::size_t>& args_of(std::size_t v, std::size_t min_count, const char* callable) const {
    if (values_[v].kind != Value::Kind::tuple) fail(callable, "'s arguments are a ", kind_name(values_[v].kind), ", not a tuple");
    if (values_[v].items.size() < min_count)
      fail(callable, " takes at least ", min_count, " arguments, the pickle gives ", values_[v].items.size());
    return values_[v].items;
  }

  // ('storage', storage class, key, location, element count) -> a storage of the archive.
  std::size_t persistent_load(std::size_t pid) {
    const auto& items = args_of(pid, 5, "a persistent id");
    if (values_[items[0]].kind != Value::Kind::string || values_[items[0]].text != "storage")
      fail("a persistent id that is not ('storage', ...)");
    const Value& cls = values_[items[1]];
    const auto dtype = cls.kind == Value::Kind::global ? storage_dtype(cls.text) : std::nullopt;
    if (!dtype) fail("a storage whose class is not a torch storage class");
    if (values_[items[2]].kind != Value::Kind::string) fail("a storage key that is not a string");
    const std::string key = values_[items[2]].text;
    const std::int64_t numel = as_int(items[4], "a storage's element count");
    if (numel < 0) fail("storage '", key, "' has ", numel, " elements");
    const auto size = storage_size_(context_, key);
    if (!size) fail("storage '", key, "' has no record data/", key, " in the archive");
    const std::size_t esize = element_size(*dtype);
    if (static_cast<std::uint64_t>(numel) > *size / esize || *size != static_cast<std::uint64_t>(numel) * esize)
      fail("storage '", key, "' holds ", *size, " bytes, its ", numel, " elements of ", dtype_name(*dtype), " need ",
           static_cast<std::uint64_t>(numel) * esize);
    const std::size_t v = make(Value::Kind::storage);
    values_[v].text = key;
    values_[v].integer = numel;
    values_[v].dtype = *dtype;
    return v;
  }

  std::size_t reduce(std::size_t callable, std::size_t args) {
    if (values_[callable].kind != Value::Kind::global) fail("REDUCE on a ", kind_name(values_[callable].kind));
    const std::string& name = values_[callable].text;
    if (name == "collections OrderedDict") {
      if (!args_of(args, 0, "OrderedDict").empty()) fail("OrderedDict with arguments");
      return make(Value::Kind::dict);
    }
    if (name == "torch._utils _rebuild_tensor_v2" || name == "torch._utils _rebuild_tensor")
      return rebuild_tensor(args_of(args, 4, "_rebuild_tensor"));
    if (name != "torch._utils _rebuild_parameter" && name != "torch._utils _rebuild_parameter_with_state")
      fail("REDUCE on '", name, "', which builds nothing a state dict holds");
    // _rebuild_parameter(tensor, requires_grad, hooks[, state]): the tensor is what is kept.
    const auto& items = args_of(args, 1, "_rebuild_parameter");
    if (values_[items[0]].kind != Value::Kind::tensor) fail("a parameter around a ", kind_name(values_[items[0]].kind));
    return items[0];
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata]).
  std::size_t rebuild_tensor(const std::vector<std::size_t>& args) {
    const Value& storage = values_[args[0]];
    if (storage.kind != Value::Kind::storage) fail("a tensor built on a ", kind_name(storage.kind), ", not a storage");
    TorchTensorInfo t;
    t.dtype = storage.dtype;
    t.storage_key = storage.text;
    t.storage_numel = storage.integer;
    t.storage_offset = as_int(args[1], "a tensor's storage offset");
    t.shape = as_ints(args[2], "a tensor's size");
    t.strides = as_ints(args[3], "a tensor's stride");
    if (t.shape.size() != t.strides.size())
      fail("a tensor with ", t.shape.size(), " sizes and ", t.strides.size(), " strides");
    if (t.storage_offset < 0) fail("a tensor at storage offset ", t.storage_offset);
    // The last element reached, checked without overflow: every size and stride is below 2^62.
    bool empty = false;
    std::int64_t last = t.storage_offset;
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0 || t.strides[d] < 0) fail("a tensor with size ", t.shape[d], " and stride ", t.strides[d]);
      if (t.shape[d] == 0) empty = true;
    }
    if (!empty) {
      std::int64_t count = 1, bytes = 0;
      for (std::size_t d = 0; d < t.shape.size(); ++d) {
        if (__builtin_mul_overflow(count, t.shape[d], &count)) fail("a tensor of more than 2^63 elements");
        std::int64_t reach = 0;
        if (__builtin_mul_overflow(t.shape[d] - 1, t.strides[d], &reach) || __builtin_add_overflow(last, reach, &last))
          fail("a tensor whose strides reach past 2^63 elements");
      }
      if (last >= t.storage_numel)
        fail("a tensor reaching element ", last, " of storage '", t.storage_key, "', which has ", t.storage_numel);
      if (count > t.storage_numel &&
          (__builtin_mul_overflow(count, static_cast<std::int64_t>(element_size(t.dtype)), &bytes) ||
           bytes > max_repeated_bytes))
        fail("a tensor of ", count, " elements repeating the ", t.storage_numel, " of storage '", t.storage_key,
             "': over the limit of ", max_repeated_bytes, " bytes for a view that repeats elements");
    }
    const std::size_t v = make(Value::Kind::tensor);
    values_[v].integer = static_cast<std::int64_t>(tensors_.size());
    tensors_.push_back(std::move(t));
    return v;
  }

  std::span<const std::byte> data_;
  std::string source_;
  StorageSize storage_size_;
  const void* context_;
  std::size_t pos_ = 0, op_offset_ = 0;
  std::vector<Value> values_;
  std::vector<std::size_t> stack_;
  std::map<std::uint64_t, std::size_t> memo_;
  std::vector<TorchTensorInfo> tensors_;
};

}  // namespace torch_pickle

namespace torch_pickle {
// torch.save's legacy format begins with its magic number, pickled: PROTO 2, LONG1 of 10 bytes.
// (Two bytes, 0x80 and a protocol number, would also begin many safetensors files: those are
// the low bytes of their header length.)
inline bool has_legacy_magic(std::span<const std::byte> head) {
  static constexpr unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20};
  if (head.size() < sizeof magic) return false;
  for (std::size_t i = 0; i < sizeof magic; ++i)
    if (std::to_integer<unsigned char>(head[i]) != magic[i]) return false;
  return true;
}
}  // namespace torch_pickle

namespace torch_pickle {
// The first `count` bytes of a file (fewer for a shorter one, none for one that cannot be opened).
inline std::vector<std::byte> file_head(const std::filesystem::path& path, std::size_t count) {
  std::vector<std::byte> head(count);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  head.resize(std::fread(head.data(), 1, head.size(), f));
  std::fclose(f);
  return head;
}
}  // namespace torch_pickle

// Whether `path` starts like a torch.save file: a zip archive ("PK\3\4"), or the legacy format's
// magic number (which TorchCheckpoint refuses by name). A safetensors file starts with its header
// length.
inline bool is_torch_save_file(const std::filesystem::path& path) {
  const std::vector<std::byte> head = torch_pickle::file_head(path, 10);
  static constexpr std::byte zip_magic[] = {std::byte{'P'}, std::byte{'K'}, std::byte{3}, std::byte{4}};
  const bool zip = head.size() >= 4 && std::equal(std::begin(zip_magic), std::end(zip_magic), head.begin());
  return zip || torch_pickle::has_legacy_magic(head);
}

// A torch.save file, opened and validated; tensors are read on demand.
class TorchCheckpoint {
 public:
  // The pickle is metadata: a few MB even for billions of parameters.
  static constexpr std::uint64_t max_pickle_size = std::uint64_t{1} << 30;

  explicit TorchCheckpoint(const std::filesystem::path& path) : source_(path.string()) {
    TINYXF_CHECK_IO(std::filesystem::is_regular_file(path), source_, "torch checkpoint: '", source_,
                    "' is not a regular file");
    check_not_legacy(torch_pickle::file_head(path, 10));
    int error = 0;
    archive_size_ = std::filesystem::file_size(path);
    zip_.reset(::zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &error));
    if (zip_ == nullptr) fail("not a zip archive that torch.save writes (libzip: ", zip_error_text(error), ")");
    load();
  }

  // A file held in memory; `source` names it in error messages.
  static TorchCheckpoint from_memory(std::vector<std::byte> bytes, std::string source = "<memory>") {
    TorchCheckpoint c;
    c.source_ = std::move(source);
    c.owned_ = std::make_unique<std::vector<std::byte>>(std::move(bytes));
    c.archive_size_ = c.owned_->size();
    c.check_not_legacy(*c.owned_);
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* src = ::zip_source_buffer_create(c.owned_->data(), c.owned_->size(), 0, &error);
    if (src != nullptr) {
      c.zip_.reset(::zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &error));
      if (c.zip_ == nullptr) ::zip_source_free(src);
    }
    if (c.zip_ == nullptr) {
      const std::string text = ::zip_error_strerror(&error);
      zip_error_fini(&error);
      c.fail("not a zip archive that torch.save writes (libzip: ", text, ")");
    }
    zip_error_fini(&error);
    c.load();
    return c;
  }

  TorchCheckpoint(const TorchCheckpoint&) = delete;
  TorchCheckpoint& operator=(const TorchCheckpoint&) = delete;
  // Moving keeps the archive valid: neither libzip's handle nor the owned buffer moves in memory.
  TorchCheckpoint(TorchCheckpoint&& other) noexcept = default;
  TorchCheckpoint& operator=(TorchCheckpoint&& other) noexcept {
    if (this != &other) {
      zip_.reset();  // before the buffer it reads from
      source_ = std::move(other.source_);
      owned_ = std::move(other.owned_);
      zip_ = std::move(other.zip_);
      archive_size_ = other.archive_size_;
      prefix_ = std::move(other.prefix_);
      tensors_ = std::move(other.tensors_);
      names_ = std::move(other.names_);
      index_ = std::move(other.index_);
    }
    return *this;
  }
  ~TorchCheckpoint() = default;  // zip_, declared after owned_, is discarded first

  const std::string& source() const noexcept { return source_; }
  std::size_t size() const noexcept { return tensors_.size(); }
  // Tensor names in the state dict's order.
  const std::vector<std::string>& names() const noexcept { return names_; }
  const std::vector<TorchTensorInfo>& tensors() const noexcept { return tensors_; }
  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
  const TorchTensorInfo& info(std::string_view name) const {
    const auto it = index_.find(name);
    if (it == index_.end())
      throw IndexError(::tinyxf::detail::concat("torch checkpoint '", source_, "': no tensor named '", name,
                                                "' (the file holds ", tensors_.size(), " tensors)"));
    return tensors_[it->second];
  }

  // The tensor's elements in row-major order, little-endian, as stored (a view's are gathered).
  std::vector<std::byte> contiguous_bytes(std::string_view name) const {
    const TorchTensorInfo& t = info(name);
    const std::vector<std::byte> storage = read_record("data/" + t.storage_key);
    const std::size_t esize = element_size(t.dtype);
    const auto count = static_cast<std::size_t>(t.numel());
    std::vector<std::byte> out(count * esize);
    if (count == 0) return out;
    // Walk the elements in row-major order with an odometer over the dimensions. The offset only
    // ever moves between elements of the tensor (a stride is added only when the index stays in
    // range), so it never passes the last element, which the loader checked: a size-1 dimension's
    // stride, which nothing bounds (torch accepts 2^63 - 1), is never added.
    const std::size_t rank = t.shape.size();
    std::vector<std::int64_t> index(rank, 0);
    std::int64_t offset = t.storage_offset;
    for (std::size_t i = 0; i < count; ++i) {
      std::memcpy(out.data() + i * esize, storage.data() + static_cast<std::size_t>(offset) * esize, esize);
      for (std::size_t d = rank; d-- > 0;) {
        if (++index[d] < t.shape[d]) {
          offset += t.strides[d];
          break;
        }
        offset -= t.strides[d] * (t.shape[d] - 1);
        index[d] = 0;
      }
    }
    return out;
  }

  // Every dtype converts to float (integers above 2^24 and F64 round).
  std::vector<float> to_float32(std::string_view name) const {
    const std::vector<std::byte> bytes = contiguous_bytes(name);
    return detail::bytes_to_float32(info(name).dtype, bytes);
  }

  // A record of the archive by its name under <archive>/ ("data.pkl", "version", "data/0"), whole,
  // its CRC checked.
  // A compressed record is bounded by `limit` (default: the archive's size, as a stored one is).
  std::vector<std::byte> read_record(const std::string& record, std::optional<std::uint64_t> limit = {}) const {
    const auto i = find(record);
    if (!i) fail("no record ", prefix_, record, " in the archive");
    const auto size = *record_size(record);
    const std::uint64_t bound = limit.value_or(archive_size_);
    if (size > bound) fail(prefix_, record, " is ", size, " bytes, over the limit of ", bound);
    std::vector<std::byte> out(static_cast<std::size_t>(size));
    zip_file_t* file = ::zip_fopen_index(zip_.get(), static_cast<zip_uint64_t>(*i), 0);
    if (file == nullptr) fail("cannot open ", prefix_, record, ": ", ::zip_strerror(zip_.get()));
    std::size_t done = 0;
    while (done < out.size()) {
      const zip_int64_t n = ::zip_fread(file, out.data() + done, out.size() - done);
      if (n <= 0) {
        const std::string text = n < 0 ? ::zip_file_strerror(file) : "it ends early";
        ::zip_fclose(file);
        fail("reading ", prefix_, record, " at byte ", done, " of ", out.size(), ": ", text);
      }
      done += static_cast<std::size_t>(n);
    }
    // libzip compares the CRC when a read reaches the end of the record: one more read does.
    std::byte extra{};
    if (const zip_int64_t n = ::zip_fread(file, &extra, 1); n != 0) {
      const std::string text = n < 0 ? ::zip_file_strerror(file) : "it is longer than its size";
      ::zip_fclose(file);
      fail("reading ", prefix_, record, ": ", text);
    }
    ::zip_fclose(file);
    return out;
  }

 private:
  TorchCheckpoint() = default;

  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    throw IoError(::tinyxf::detail::concat("torch checkpoint '", source_, "': ", std::forward<Parts>(parts)...), source_);
  }

  static std::string zip_error_text(int code) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    std::string text = ::zip_error_strerror(&error);
    zip_error_fini(&error);
    return text;
  }


  // torch.save before PyTorch 1.6 (or with _use_new_zipfile_serialization=False) wrote a bare
  // pickle stream; say so instead of "not a zip archive".
  void check_not_legacy(std::span<const std::byte> head) const {
    if (torch_pickle::has_legacy_magic(head))
      fail("written in torch.save's legacy format (PyTorch < 1.6, or _use_new_zipfile_serialization=False), "
           "which is not read: load and save it again with PyTorch >= 1.6, or convert it to safetensors");
  }


  std::optional<zip_int64_t> find(const std::string& record) const {
    const zip_int64_t i = ::zip_name_locate(zip_.get(), (prefix_ + record).c_str(), ZIP_FL_ENC_RAW);
    if (i < 0) return std::nullopt;
    return i;
  }
  std::optional<std::uint64_t> record_size(const std::string& record) const {
    const auto i = find(record);
    if (!i) return std::nullopt;
    zip_stat_t st;
    zip_stat_init(&st);
    if (::zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(*i), 0, &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0)
      fail("cannot read the size of ", prefix_, record);
    return st.size;
  }
  // Finds <archive>/data.pkl, checks the byte order, runs the pickle and builds the tensor table.
  void load() {
    const zip_int64_t entries = ::zip_get_num_entries(zip_.get(), 0);
    std::optional<std::string> prefix;
    bool torchscript = false;
    for (zip_int64_t i = 0; i < entries; ++i) {
      const char* raw = ::zip_get_name(zip_.get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
      if (raw == nullptr) continue;
      const std::string_view name(raw);
      const auto slash = name.find('/');
      if (slash == std::string_view::npos) continue;
      const std::string_view rest = name.substr(slash + 1);
      if (rest == "data.pkl") {
        if (prefix && *prefix != name.substr(0, slash + 1))
          fail("holds two pickles (", *prefix, "data.pkl and ", name, ")");
        prefix = std::string(name.substr(0, slash + 1));
      }
      if (rest == "constants.pkl" || rest.starts_with("code/")) torchscript = true;
    }
    if (!prefix) {
      if (torchscript) fail("is a TorchScript archive (torch.jit.save), not a state dict saved by torch.save");
      fail("has no <archive>/data.pkl record: not written by torch.save");
    }
    prefix_ = *prefix;
    if (record_size("byteorder")) {
      const std::vector<std::byte> order = read_record("byteorder", 16);
      const std::string_view text(reinterpret_cast<const char*>(order.data()), order.size());
      if (text != "little") fail("was written on a '", text, "'-endian machine; only little-endian files are read");
    }
    // Bounded by the archive's size too: torch.save stores data.pkl uncompressed, and a compressed
    // record's claimed size is allocated before a byte of it is read.
    const std::vector<std::byte> pickle = read_record("data.pkl", std::min(max_pickle_size, archive_size_));
    torch_pickle::Unpickler unpickler(pickle, source_, &storage_size_of, this);
    const std::size_t root = unpickler.run();
    const auto& top = unpickler.value(root);
    using Kind = torch_pickle::Value::Kind;
    if (top.kind != Kind::dict)
      fail("holds a pickled ", top.kind == Kind::tensor ? "tensor" : "object", ", not a state dict {name: tensor}");
    for (std::size_t i = 0; i + 1 < top.items.size(); i += 2) {
      const auto& key = unpickler.value(top.items[i]);
      const auto& value = unpickler.value(top.items[i + 1]);
      if (key.kind != Kind::string) fail("holds a dict with a key that is not a string");
      if (value.kind != Kind::tensor)
        fail("'", key.text, "' is not a tensor: the file is not a plain state dict (a training checkpoint? "
             "save model.state_dict() instead)");
      TorchTensorInfo t = unpickler.tensor(value);
      t.name = key.text;
      const auto [it, inserted] = index_.emplace(t.name, tensors_.size());
      if (!inserted) tensors_[it->second] = std::move(t);  // a dict keeps the last value of a key
      else {
        names_.push_back(it->first);
        tensors_.push_back(std::move(t));
      }
    }
  }

  static std::optional<std::uint64_t> storage_size_of(const void* self, const std::string& key) {
    return static_cast<const TorchCheckpoint*>(self)->record_size("data/" + key);
  }

  std::string source_;
  std::unique_ptr<std::vector<std::byte>> owned_;  // from_memory's bytes; libzip reads them in place
  struct ZipDiscard {
    void operator()(zip_t* zip) const noexcept { ::zip_discard(zip); }
  };
  // A member, so that a constructor that throws after opening the archive still closes it.
  std::unique_ptr<zip_t, ZipDiscard> zip_;
  std::uint64_t archive_size_ = 0;
  std::string prefix_;  // "<archive>/"
  std::vector<TorchTensorInfo> tensors_;
  std::vector<std::string> names_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace tinyxf::io
