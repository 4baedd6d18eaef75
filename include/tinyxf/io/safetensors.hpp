#pragma once
// safetensors reading and writing at the byte level (of the tensor core only its size rule).
// Layout: u64 little-endian header length N, N bytes of JSON header (space padded), data buffer.
//   {"__metadata__": {"k": "v"}, "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
// Offsets are relative to the data buffer; tensors are row-major and little-endian.
//
// SafetensorsFile validates the whole header before handing out any byte: every error names the
// file, the tensor and the failed check. SafetensorsWriter writes atomically (atomic_file.hpp).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/core/shape.hpp"
#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/core/half.hpp"
#include "tinyxf/io/json.hpp"

namespace tinyxf::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors.hpp copies little-endian tensor bytes as they are; big-endian hosts need byte swaps");

enum class StDtype : std::uint8_t { BOOL, U8, I8, U16, I16, F16, BF16, U32, I32, F32, F64, U64, I64 };

inline constexpr StDtype all_st_dtypes[] = {StDtype::BOOL, StDtype::U8,   StDtype::I8,  StDtype::U16, StDtype::I16,
                                            StDtype::F16,  StDtype::BF16, StDtype::U32, StDtype::I32, StDtype::F32,
                                            StDtype::F64,  StDtype::U64,  StDtype::I64};

inline constexpr std::size_t element_size(StDtype dtype) noexcept {
  switch (dtype) {
    case StDtype::BOOL:
    case StDtype::U8:
    case StDtype::I8: return 1;
    case StDtype::U16:
    case StDtype::I16:
    case StDtype::F16:
    case StDtype::BF16: return 2;
    case StDtype::U32:
    case StDtype::I32:
    case StDtype::F32: return 4;
    case StDtype::F64:
    case StDtype::U64:
    case StDtype::I64: return 8;
  }
  return 0;
}

// The name used in safetensors headers ("F32", "BF16", ...).
inline constexpr std::string_view dtype_name(StDtype dtype) noexcept {
  switch (dtype) {
    case StDtype::BOOL: return "BOOL";
    case StDtype::U8: return "U8";
    case StDtype::I8: return "I8";
    case StDtype::U16: return "U16";
    case StDtype::I16: return "I16";
    case StDtype::F16: return "F16";
    case StDtype::BF16: return "BF16";
    case StDtype::U32: return "U32";
    case StDtype::I32: return "I32";
    case StDtype::F32: return "F32";
    case StDtype::F64: return "F64";
    case StDtype::U64: return "U64";
    case StDtype::I64: return "I64";
  }
  return "?";
}

inline std::optional<StDtype> dtype_from_name(std::string_view name) noexcept {
  for (StDtype dtype : all_st_dtypes)
    if (dtype_name(dtype) == name) return dtype;
  return std::nullopt;
}

inline constexpr bool is_floating_point(StDtype dtype) noexcept {
  return dtype == StDtype::F16 || dtype == StDtype::BF16 || dtype == StDtype::F32 || dtype == StDtype::F64;
}

struct StTensorInfo {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // data_offsets, relative to the data buffer
  std::uint64_t end = 0;
  std::span<const std::byte> bytes;  // the tensor's data inside the file

  std::uint64_t numel() const noexcept { return (end - begin) / element_size(dtype); }
  std::uint64_t byte_size() const noexcept { return end - begin; }
};

namespace detail {
inline std::string format_shape(std::span<const std::int64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

// Byte size of a shape under the tensor core's size rule (core/shape.hpp: element count, every
// stride and the byte count at most 2^62, zero-size dimensions included), or nullopt. A header
// passing this check always makes a tensor the core can create.
inline std::optional<std::uint64_t> checked_byte_size(std::span<const std::int64_t> shape, StDtype dtype) {
  std::int64_t count = 1, stride_product = 1;
  for (std::int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    count = ::tinyxf::detail::bounded_product(count, dim);
    stride_product = ::tinyxf::detail::bounded_product(stride_product, dim > 1 ? dim : 1);
    if (count < 0 || stride_product < 0) return std::nullopt;
  }
  const std::int64_t bytes = ::tinyxf::detail::bounded_product(count, static_cast<std::int64_t>(element_size(dtype)));
  if (bytes < 0) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

template <class T>
T load_unaligned(const std::byte* source) noexcept {
  T value;
  std::memcpy(&value, source, sizeof(T));
  return value;
}

// Converts every element of `bytes` (of type Source) with `convert` into out.
template <class Source, class Out, class Convert>
void convert_elements(std::span<const std::byte> bytes, std::vector<Out>& out, Convert convert) {
  const std::size_t count = bytes.size() / sizeof(Source);
  out.resize(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = convert(load_unaligned<Source>(bytes.data() + i * sizeof(Source)));
}

// Little-endian elements of `dtype` as float (integers above 2^24 and F64 round).
inline std::vector<float> bytes_to_float32(StDtype dtype, std::span<const std::byte> bytes) {
  std::vector<float> out;
  const auto cast = [](auto value) { return static_cast<float>(value); };
  switch (dtype) {
    case StDtype::BOOL:
      convert_elements<std::uint8_t>(bytes, out, [](std::uint8_t v) { return v != 0 ? 1.0f : 0.0f; });
      break;
    case StDtype::U8: convert_elements<std::uint8_t>(bytes, out, cast); break;
    case StDtype::I8: convert_elements<std::int8_t>(bytes, out, cast); break;
    case StDtype::U16: convert_elements<std::uint16_t>(bytes, out, cast); break;
    case StDtype::I16: convert_elements<std::int16_t>(bytes, out, cast); break;
    case StDtype::F16: convert_elements<std::uint16_t>(bytes, out, f16_to_float); break;
    case StDtype::BF16: convert_elements<std::uint16_t>(bytes, out, bf16_to_float); break;
    case StDtype::U32: convert_elements<std::uint32_t>(bytes, out, cast); break;
    case StDtype::I32: convert_elements<std::int32_t>(bytes, out, cast); break;
    case StDtype::F32:
      out.resize(bytes.size() / sizeof(float));
      if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
      break;
    case StDtype::F64: convert_elements<double>(bytes, out, cast); break;
    case StDtype::U64: convert_elements<std::uint64_t>(bytes, out, cast); break;
    case StDtype::I64: convert_elements<std::int64_t>(bytes, out, cast); break;
  }
  return out;
}
}  // namespace detail

// ---- reader ---------------------------------------------------------------------------------

class SafetensorsFile {
 public:
  // Same limit as the reference implementation: a header is metadata, never gigabytes.
  static constexpr std::uint64_t max_header_size = 100'000'000;

  // Maps the file read-only (MAP_PRIVATE); files that cannot be mapped (empty ones) are read.
  // Only regular files are accepted: a device or pipe could be endless.
  // The mapping lives as long as this object: do not truncate the file while it is open.
  explicit SafetensorsFile(const std::filesystem::path& path) : source_(path.string()) {
    // O_NONBLOCK: a FIFO must not block the open; it is refused below like every non-regular file.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    TINYXF_CHECK_IO(fd >= 0, source_, "safetensors: cannot open '", source_, "': ", detail::errno_text(errno));
    struct ::stat status {};
    if (::fstat(fd, &status) != 0) {
      const int stat_error = errno;
      ::close(fd);
      throw IoError(
          ::tinyxf::detail::concat("safetensors: cannot stat '", source_, "': ", detail::errno_text(stat_error)),
          source_);
    }
    if (!S_ISREG(status.st_mode)) {
      ::close(fd);
      throw IoError(::tinyxf::detail::concat("safetensors: '", source_, "' is not a regular file (",
                                             S_ISDIR(status.st_mode) ? "a folder" : "a device, pipe or socket", ")"),
                    source_);
    }
    if (status.st_size > 0) {
      void* mapping = ::mmap(nullptr, static_cast<std::size_t>(status.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (mapping != MAP_FAILED) {
        mapping_ = mapping;
        mapping_size_ = static_cast<std::size_t>(status.st_size);
        bytes_ = {static_cast<const std::byte*>(mapping), mapping_size_};
      }
    }
    ::close(fd);
    if (mapping_ == nullptr) {
      const std::string contents = read_file(path);
      const auto* first = reinterpret_cast<const std::byte*>(contents.data());
      owned_.assign(first, first + contents.size());
      bytes_ = owned_;
    }
    load();
  }

  // A file held in memory; `source` names it in error messages.
  static SafetensorsFile from_memory(std::vector<std::byte> bytes, std::string source = "<memory>") {
    SafetensorsFile file;
    file.source_ = std::move(source);
    file.owned_ = std::move(bytes);
    file.bytes_ = file.owned_;
    file.load();
    return file;
  }
  static SafetensorsFile from_memory(std::string_view bytes, std::string source = "<memory>") {
    const auto* first = reinterpret_cast<const std::byte*>(bytes.data());
    return from_memory(std::vector<std::byte>(first, first + bytes.size()), std::move(source));
  }

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  // Moving keeps every span valid: neither the mapping nor the owned buffer moves in memory.
  SafetensorsFile(SafetensorsFile&& other) noexcept { *this = std::move(other); }
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept {
    if (this != &other) {
      unmap();
      source_ = std::move(other.source_);
      mapping_ = std::exchange(other.mapping_, nullptr);
      mapping_size_ = std::exchange(other.mapping_size_, 0);
      owned_ = std::move(other.owned_);
      bytes_ = std::exchange(other.bytes_, {});
      header_size_ = other.header_size_;
      tensors_ = std::move(other.tensors_);
      names_ = std::move(other.names_);
      index_ = std::move(other.index_);
      metadata_ = std::move(other.metadata_);
    }
    return *this;
  }
  ~SafetensorsFile() { unmap(); }

  const std::string& source() const noexcept { return source_; }
  bool is_memory_mapped() const noexcept { return mapping_ != nullptr; }
  std::size_t size() const noexcept { return tensors_.size(); }
  // Tensor names in file order (by data offset).
  const std::vector<std::string>& names() const noexcept { return names_; }
  const std::vector<StTensorInfo>& tensors() const noexcept { return tensors_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  std::uint64_t header_size() const noexcept { return header_size_; }
  std::span<const std::byte> file_bytes() const noexcept { return bytes_; }

  bool contains(std::string_view name) const { return index_.find(name) != index_.end(); }
  const StTensorInfo& info(std::string_view name) const {
    const auto it = index_.find(name);
    if (it == index_.end())
      fail_as<IndexError>("no tensor named '", name, "' (the file holds ", tensors_.size(), " tensors)");
    return tensors_[it->second];
  }
  std::span<const std::byte> raw(std::string_view name) const { return info(name).bytes; }

  // Every dtype converts to float (integers above 2^24 and F64 round).
  std::vector<float> to_float32(std::string_view name) const {
    const StTensorInfo& tensor = info(name);
    return detail::bytes_to_float32(tensor.dtype, tensor.bytes);
  }

  // Integer and BOOL tensors, exactly. Floating-point tensors are refused rather than truncated.
  std::vector<std::int64_t> to_int64(std::string_view name) const {
    const StTensorInfo& tensor = info(name);
    if (is_floating_point(tensor.dtype))
      fail_as<DTypeError>("tensor '", tensor.name, "': to_int64 needs an integer or BOOL tensor, the dtype is ",
                          dtype_name(tensor.dtype));
    std::vector<std::int64_t> out;
    const auto bytes = tensor.bytes;
    const auto cast = [](auto value) { return static_cast<std::int64_t>(value); };
    switch (tensor.dtype) {
      case StDtype::BOOL:
        detail::convert_elements<std::uint8_t>(bytes, out, [](std::uint8_t v) { return std::int64_t{v != 0}; });
        break;
      case StDtype::U8: detail::convert_elements<std::uint8_t>(bytes, out, cast); break;
      case StDtype::I8: detail::convert_elements<std::int8_t>(bytes, out, cast); break;
      case StDtype::U16: detail::convert_elements<std::uint16_t>(bytes, out, cast); break;
      case StDtype::I16: detail::convert_elements<std::int16_t>(bytes, out, cast); break;
      case StDtype::U32: detail::convert_elements<std::uint32_t>(bytes, out, cast); break;
      case StDtype::I32: detail::convert_elements<std::int32_t>(bytes, out, cast); break;
      case StDtype::I64: detail::convert_elements<std::int64_t>(bytes, out, cast); break;
      case StDtype::U64:
        for (std::size_t i = 0; i < bytes.size() / 8; ++i) {
          const auto value = detail::load_unaligned<std::uint64_t>(bytes.data() + i * 8);
          if (value > static_cast<std::uint64_t>(INT64_MAX))
            fail_as<ValueError>("tensor '", tensor.name, "': U64 element ", i, " = ", value, " does not fit in int64");
          out.push_back(static_cast<std::int64_t>(value));
        }
        break;
      default: break;  // floating point: refused above
    }
    return out;
  }

 private:
  SafetensorsFile() = default;

  void unmap() noexcept {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
    mapping_ = nullptr;
    mapping_size_ = 0;
  }

  // Malformed content is an IoError naming the file; fail_as for lookups and conversions.
  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    throw IoError(::tinyxf::detail::concat("safetensors '", source_, "': ", std::forward<Parts>(parts)...), source_);
  }
  template <class ErrorType, class... Parts>
  [[noreturn]] void fail_as(Parts&&... parts) const {
    throw ErrorType(::tinyxf::detail::concat("safetensors '", source_, "': ", std::forward<Parts>(parts)...));
  }

  // Validates the header and the data layout, then builds the tables. Nothing is trusted before.
  void load() {
    const std::uint64_t file_size = bytes_.size();
    if (file_size < 8) fail("file is ", file_size, " bytes, shorter than the 8-byte header length");
    header_size_ = detail::load_unaligned<std::uint64_t>(bytes_.data());
    if (header_size_ > file_size - 8)
      fail("header length ", header_size_, " exceeds the file size ", file_size, " minus 8");
    if (header_size_ > max_header_size)
      fail("header length ", header_size_, " exceeds the limit of ", max_header_size, " bytes");
    const std::string_view header_text(reinterpret_cast<const char*>(bytes_.data() + 8), header_size_);
    const std::span<const std::byte> data = bytes_.subspan(8 + header_size_);

    json::Value header;
    try {
      json::ParseOptions options;
      options.allow_duplicate_keys = true;  // reported below with the tensor's name
      header = json::parse(header_text, options);
    } catch (const ParseError& error) {
      constexpr std::size_t header_start = 8;  // after the 8-byte header length
      throw ParseError(::tinyxf::detail::concat("safetensors '", source_, "': header JSON malformed (offsets count ",
                                                "from the header start, file byte 8): ", error.what()),
                       source_, header_start + error.byte_offset(), error.line());
    }
    if (!header.is_object()) fail("header is a JSON ", header.type_name(), ", not an object");

    std::set<std::string_view> seen;
    for (const auto& [name, entry] : header.as_object()) {
      if (!seen.insert(name).second) {
        if (name == "__metadata__") fail("duplicate \"__metadata__\" entry");
        fail("duplicate tensor name '", name, "'");
      }
      if (name == "__metadata__") {
        read_metadata(entry);
      } else {
        tensors_.push_back(read_tensor_entry(name, entry, data));
      }
    }

    std::stable_sort(tensors_.begin(), tensors_.end(), [](const StTensorInfo& a, const StTensorInfo& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    check_layout();

    names_.reserve(tensors_.size());
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      names_.push_back(tensors_[i].name);
      index_.emplace(tensors_[i].name, i);
    }
  }

  void read_metadata(const json::Value& entry) {
    if (!entry.is_object()) fail("\"__metadata__\" is a JSON ", entry.type_name(), ", not an object");
    for (const auto& [key, value] : entry.as_object()) {
      if (!value.is_string())
        fail("\"__metadata__\" value for key '", key, "' is a JSON ", value.type_name(), ", not a string");
      if (!metadata_.emplace(key, value.as_string()).second) fail("duplicate \"__metadata__\" key '", key, "'");
    }
  }

  StTensorInfo read_tensor_entry(const std::string& name, const json::Value& entry,
                                 std::span<const std::byte> data) const {
    if (!entry.is_object()) fail("tensor '", name, "': entry is a JSON ", entry.type_name(), ", not an object");
    // The parser keeps duplicates (allow_duplicate_keys) and find() would take the first; Python's
    // safetensors refuses a repeated field, so a file it cannot read is not read here either.
    std::set<std::string_view> fields;
    for (const auto& [key, value] : entry.as_object())
      if (!fields.insert(key).second) fail("tensor '", name, "': duplicate field \"", key, "\" in its entry");
    StTensorInfo tensor;
    tensor.name = name;

    const json::Value* dtype = entry.find("dtype");
    if (dtype == nullptr) fail("tensor '", name, "': missing \"dtype\"");
    if (!dtype->is_string()) fail("tensor '", name, "': \"dtype\" is a JSON ", dtype->type_name(), ", not a string");
    const auto parsed_dtype = dtype_from_name(dtype->as_string());
    if (!parsed_dtype) fail("tensor '", name, "': unknown dtype '", dtype->as_string(), "'");
    tensor.dtype = *parsed_dtype;

    const json::Value* shape = entry.find("shape");
    if (shape == nullptr) fail("tensor '", name, "': missing \"shape\"");
    if (!shape->is_array()) fail("tensor '", name, "': \"shape\" is a JSON ", shape->type_name(), ", not an array");
    for (std::size_t i = 0; i < shape->size(); ++i) {
      const json::Value& dim = (*shape)[i];
      if (!dim.is_int() || dim.as_int() < 0)
        fail("tensor '", name, "': shape dimension ", i, " is ", json::dump(dim), ", not a non-negative integer");
      tensor.shape.push_back(dim.as_int());
    }
    const auto byte_size = detail::checked_byte_size(tensor.shape, tensor.dtype);
    if (!byte_size)
      fail("tensor '", name, "': shape ", detail::format_shape(tensor.shape), " of ", dtype_name(tensor.dtype),
           " exceeds the size limit of 2^62 elements, strides or bytes");

    const json::Value* offsets = entry.find("data_offsets");
    if (offsets == nullptr) fail("tensor '", name, "': missing \"data_offsets\"");
    if (!offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_int() || !(*offsets)[1].is_int() ||
        (*offsets)[0].as_int() < 0 || (*offsets)[1].as_int() < 0)
      fail("tensor '", name, "': \"data_offsets\" must be [begin, end] with non-negative integers, got ",
           json::dump(*offsets));
    tensor.begin = static_cast<std::uint64_t>((*offsets)[0].as_int());
    tensor.end = static_cast<std::uint64_t>((*offsets)[1].as_int());
    if (tensor.begin > tensor.end)
      fail("tensor '", name, "': data_offsets begin ", tensor.begin, " is after end ", tensor.end);
    if (tensor.end > data.size())
      fail("tensor '", name, "': data_offsets end ", tensor.end, " is past the end of the data buffer (", data.size(),
           " bytes)");
    if (tensor.end - tensor.begin != *byte_size)
      fail("tensor '", name, "': shape ", detail::format_shape(tensor.shape), " of ", dtype_name(tensor.dtype),
           " needs ", *byte_size, " bytes but data_offsets [", tensor.begin, ", ", tensor.end, "] span ",
           tensor.end - tensor.begin);
    tensor.bytes = data.subspan(tensor.begin, tensor.end - tensor.begin);
    return tensor;
  }

  // Tensors (sorted by offset) must tile the data buffer from byte 0 without overlaps or holes;
  // bytes after the last tensor are allowed.
  void check_layout() const {
    std::uint64_t covered_end = 0;
    const StTensorInfo* covering = nullptr;  // the tensor that ends at covered_end
    for (const StTensorInfo& tensor : tensors_) {
      if (tensor.begin < covered_end)
        fail("tensor '", tensor.name, "' (data bytes [", tensor.begin, ", ", tensor.end, ")) overlaps tensor '",
             covering->name, "' (data bytes [", covering->begin, ", ", covering->end, "))");
      if (tensor.begin > covered_end)
        fail("gap in the data buffer: bytes [", covered_end, ", ", tensor.begin, ") before tensor '", tensor.name,
             "' belong to no tensor");
      if (tensor.end > covered_end || covering == nullptr) covering = &tensor;
      covered_end = tensor.end;
    }
  }

  std::string source_;
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::vector<std::byte> owned_;
  std::span<const std::byte> bytes_;
  std::uint64_t header_size_ = 0;
  std::vector<StTensorInfo> tensors_;
  std::vector<std::string> names_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// ---- writer ---------------------------------------------------------------------------------

class SafetensorsWriter {
 public:
  // Copies `data`, which must hold exactly shape × element_size(dtype) bytes.
  void add(std::string name, StDtype dtype, std::vector<std::int64_t> shape, std::span<const std::byte> data) {
    Entry& entry = add_entry(std::move(name), dtype, std::move(shape), data);
    entry.owned.assign(data.begin(), data.end());
    entry.data = entry.owned;
  }
  // Like add but keeps only a view: `data` must stay alive and unchanged until write() returns.
  // Saves a copy of every weight when checkpointing big models.
  void add_view(std::string name, StDtype dtype, std::vector<std::int64_t> shape, std::span<const std::byte> data) {
    add_entry(std::move(name), dtype, std::move(shape), data).data = data;
  }
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const float> values) {
    add(std::move(name), StDtype::F32, std::move(shape), std::as_bytes(values));
  }
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const double> values) {
    add(std::move(name), StDtype::F64, std::move(shape), std::as_bytes(values));
  }
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int64_t> values) {
    add(std::move(name), StDtype::I64, std::move(shape), std::as_bytes(values));
  }
  void add(std::string name, std::vector<std::int64_t> shape, std::span<const std::int32_t> values) {
    add(std::move(name), StDtype::I32, std::move(shape), std::as_bytes(values));
  }

  void set_metadata(std::string key, std::string value) {
    metadata_.insert_or_assign(std::move(key), std::move(value));
  }

  std::size_t size() const noexcept { return entries_.size(); }
  bool contains(std::string_view name) const { return names_.find(name) != names_.end(); }

  // The JSON header, padded with spaces so the data buffer starts at a multiple of 8.
  std::string header() const {
    json::Object root;
    root.reserve(entries_.size() + 1);
    if (!metadata_.empty()) {
      json::Object metadata;
      for (const auto& [key, value] : metadata_) metadata.push_back(key, value);
      root.push_back("__metadata__", std::move(metadata));
    }
    std::uint64_t offset = 0;
    for (const Entry& entry : entries_) {
      json::Array shape(entry.shape.begin(), entry.shape.end());
      const std::uint64_t end = offset + entry.data.size();
      json::Object info;
      info.push_back("dtype", std::string(dtype_name(entry.dtype)));
      info.push_back("shape", std::move(shape));
      info.push_back("data_offsets", json::array({offset, end}));
      root.push_back(entry.name, std::move(info));
      offset = end;
    }
    std::string text = json::dump(json::Value(std::move(root)));
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
  }

  // The whole file in memory.
  std::vector<std::byte> serialize() const {
    std::vector<std::byte> out;
    append_file(out);
    return out;
  }

  // Writes atomically: a crash mid-write leaves any previous file at `path` intact.
  void write(const std::filesystem::path& path) const {
    AtomicFileWriter writer(path);
    const std::string header_text = header();
    writer.write(length_prefix(header_text.size()));
    writer.write(header_text);
    for (const Entry& entry : entries_) writer.write(entry.data);
    writer.commit();
  }

 private:
  struct Entry {
    std::string name;
    StDtype dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> owned;     // empty for views
    std::span<const std::byte> data;  // into owned, or the caller's buffer
  };

  Entry& add_entry(std::string name, StDtype dtype, std::vector<std::int64_t> shape, std::span<const std::byte> data) {
    TINYXF_CHECK_AS(ValueError, name != "__metadata__",
                    "safetensors writer: \"__metadata__\" is reserved, not a tensor name");
    TINYXF_CHECK_AS(ValueError, !contains(name), "safetensors writer: duplicate tensor name '", name, "'");
    for (std::size_t i = 0; i < shape.size(); ++i)
      TINYXF_CHECK_AS(ShapeError, shape[i] >= 0, "safetensors writer: tensor '", name, "': shape dimension ", i, " is ",
                      shape[i], ", must be non-negative");
    const auto byte_size = detail::checked_byte_size(shape, dtype);
    TINYXF_CHECK_AS(ShapeError, byte_size.has_value(), "safetensors writer: tensor '", name, "': shape ",
                    detail::format_shape(shape), " exceeds the size limit of 2^62 elements, strides or bytes");
    TINYXF_CHECK_AS(ShapeError, *byte_size == data.size(), "safetensors writer: tensor '", name, "': shape ",
                    detail::format_shape(shape), " of ", dtype_name(dtype), " needs ", *byte_size, " bytes, got ",
                    data.size());
    names_.insert(name);
    entries_.push_back(Entry{std::move(name), dtype, std::move(shape), {}, {}});
    return entries_.back();
  }

  static std::string length_prefix(std::uint64_t header_size) {
    std::string prefix(8, '\0');
    std::memcpy(prefix.data(), &header_size, 8);  // little-endian host (static_assert above)
    return prefix;
  }

  void append_file(std::vector<std::byte>& out) const {
    const std::string header_text = header();
    std::size_t total = 8 + header_text.size();
    for (const Entry& entry : entries_) total += entry.data.size();
    out.reserve(total);
    const auto append = [&out](std::string_view bytes) {
      const auto* first = reinterpret_cast<const std::byte*>(bytes.data());
      out.insert(out.end(), first, first + bytes.size());
    };
    append(length_prefix(header_text.size()));
    append(header_text);
    for (const Entry& entry : entries_) out.insert(out.end(), entry.data.begin(), entry.data.end());
  }

  std::vector<Entry> entries_;
  std::set<std::string, std::less<>> names_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace tinyxf::io
