#pragma once
// TensorBoard event files (`report_to = "tensorboard"`, like Hugging Face's TensorBoardCallback):
// scalars and text in TensorBoard's own format, so `tensorboard --logdir` and its
// EventAccumulator read them without TensorFlow or protobuf on our side.
//
// The file is TFRecord framing around serialized `tensorboard.Event` protos:
//   uint64 length | uint32 masked_crc32c(length) | event bytes | uint32 masked_crc32c(bytes)
// (little endian). The first event carries file_version "brain.Event:2". Each event is flushed
// when written: a killed run loses at most the record being written, which TensorBoard's reader
// skips as truncated. Only the few proto fields we write are encoded, with proto3's rules
// (fields in number order, default values omitted), so the bytes equal what TensorBoard's
// Python writer produces for the same events (tests/data/golden/tensorboard/).
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf::train {

namespace tensorboard_detail {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses.
inline std::uint32_t crc32c(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const char ch : bytes) crc = table[(crc ^ static_cast<std::uint8_t>(ch)) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// TFRecord stores a rotated CRC plus a constant, so that CRCs of CRCs stay well distributed.
inline std::uint32_t masked_crc32c(std::string_view bytes) {
  const std::uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

// Protobuf wire format: the handful of encodings the Event/Summary messages need.
class ProtoWriter {
 public:
  ProtoWriter& varint_field(int field, std::uint64_t v) {
    if (v == 0) return *this;
    key(field, 0);
    varint(v);
    return *this;
  }
  ProtoWriter& double_field(int field, double v) {
    if (std::bit_cast<std::uint64_t>(v) == 0) return *this;
    key(field, 1);
    fixed(std::bit_cast<std::uint64_t>(v), 8);
    return *this;
  }
  // `always`: a member of a oneof, which proto3 writes even when it is 0.
  ProtoWriter& float_field(int field, float v, bool always = false) {
    if (std::bit_cast<std::uint32_t>(v) == 0 && !always) return *this;
    key(field, 5);
    fixed(std::bit_cast<std::uint32_t>(v), 4);
    return *this;
  }
  // Strings, bytes and embedded messages. `always` writes an empty one too (a set sub-message, a
  // oneof member or a repeated element, which proto3 keeps).
  ProtoWriter& bytes_field(int field, std::string_view bytes, bool always = false) {
    if (bytes.empty() && !always) return *this;
    key(field, 2);
    varint(bytes.size());
    out_.append(bytes);
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void key(int field, int wire_type) { varint(static_cast<std::uint64_t>(field) << 3 | static_cast<std::uint64_t>(wire_type)); }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void fixed(std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  std::string out_;
};

// Field numbers of tensorboard/compat/proto/{event,summary,tensor,tensor_shape}.proto.
namespace field {
inline constexpr int event_wall_time = 1, event_step = 2, event_file_version = 3, event_summary = 5;
inline constexpr int summary_value = 1;
inline constexpr int value_tag = 1, value_simple_value = 2, value_tensor = 8, value_metadata = 9;
inline constexpr int metadata_plugin_data = 1, plugin_name = 1;
inline constexpr int tensor_dtype = 1, tensor_shape = 2, tensor_string_val = 8, shape_dim = 2, dim_size = 1;
inline constexpr int dt_string = 7;
}  // namespace field

inline std::string event(double wall_time, std::int64_t step, std::string_view summary_value) {
  ProtoWriter summary;
  summary.bytes_field(field::summary_value, summary_value, true);
  ProtoWriter e;
  e.double_field(field::event_wall_time, wall_time).varint_field(field::event_step, static_cast<std::uint64_t>(step));
  e.bytes_field(field::event_summary, summary.str(), true);
  return e.str();
}

// One TFRecord around `data`.
inline std::string record(std::string_view data) {
  std::string header(8, '\0');
  for (int i = 0; i < 8; ++i) header[static_cast<std::size_t>(i)] = static_cast<char>((data.size() >> (8 * i)) & 0xFF);
  std::string out = header;
  const auto put32 = [&out](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  put32(masked_crc32c(header));
  out.append(data);
  put32(masked_crc32c(data));
  return out;
}

inline std::string host_name() {
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) != 0) return "localhost";
  return host.data();
}

inline double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace tensorboard_detail

// Appends events to one `events.out.tfevents.<unix time>.<host>.<pid>.<n>` file in log_dir (the
// name TensorBoard's own writer uses). Every write takes the wall time from `clock` (seconds since
// the Unix epoch; tests pass a fixed one).
class TensorBoardWriter {
 public:
  using Clock = double (*)();

  explicit TensorBoardWriter(const std::filesystem::path& log_dir, Clock clock = &tensorboard_detail::unix_seconds)
      : clock_(clock) {
    std::error_code ec;
    std::filesystem::create_directories(log_dir, ec);
    TINYXF_CHECK(!ec, "TensorBoardWriter: cannot create the log directory ", log_dir.string(), ": ", ec.message());
    static std::atomic<int> files_opened{0};  // writers on several threads never share a name
    const double now = clock_();
    path_ = log_dir / ("events.out.tfevents." + std::to_string(static_cast<std::int64_t>(now)) + "." +
                       tensorboard_detail::host_name() + "." +
                       std::to_string(getpid()) + "." + std::to_string(files_opened++));
    file_.reset(std::fopen(path_.c_str(), "ab"));
    TINYXF_CHECK(file_ != nullptr, "TensorBoardWriter: cannot open ", path_.string(), " for writing");
    tensorboard_detail::ProtoWriter e;
    e.double_field(tensorboard_detail::field::event_wall_time, now)
        .bytes_field(tensorboard_detail::field::event_file_version, "brain.Event:2", true);
    write_record(e.str());
  }

  // SummaryWriter.add_scalar(tag, value, step).
  void add_scalar(std::string_view tag, double value, std::int64_t step) {
    namespace f = tensorboard_detail::field;
    tensorboard_detail::ProtoWriter v;
    v.bytes_field(f::value_tag, tag).float_field(f::value_simple_value, static_cast<float>(value), true);
    write_record(tensorboard_detail::event(clock_(), step, v.str()));
  }

  // SummaryWriter.add_text(tag, text, step): the text plugin's format (tag "<tag>/text_summary", a
  // one-element DT_STRING tensor).
  void add_text(std::string_view tag, std::string_view text, std::int64_t step = 0) {
    namespace f = tensorboard_detail::field;
    tensorboard_detail::ProtoWriter dim, shape, tensor, plugin, metadata, v;
    dim.varint_field(f::dim_size, 1);
    shape.bytes_field(f::shape_dim, dim.str(), true);
    tensor.varint_field(f::tensor_dtype, f::dt_string)
        .bytes_field(f::tensor_shape, shape.str(), true)
        .bytes_field(f::tensor_string_val, text, true);
    plugin.bytes_field(f::plugin_name, "text");
    metadata.bytes_field(f::metadata_plugin_data, plugin.str(), true);
    v.bytes_field(f::value_tag, std::string(tag) + "/text_summary")
        .bytes_field(f::value_tensor, tensor.str(), true)
        .bytes_field(f::value_metadata, metadata.str(), true);
    write_record(tensorboard_detail::event(clock_(), step, v.str()));
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  void write_record(std::string_view event_bytes) {
    const std::string rec = tensorboard_detail::record(event_bytes);
    TINYXF_CHECK(std::fwrite(rec.data(), 1, rec.size(), file_.get()) == rec.size() && std::fflush(file_.get()) == 0,
                 "TensorBoardWriter: cannot write to ", path_.string());
  }

  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  Clock clock_;
  std::filesystem::path path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
};

// The serialized events of a TFRecord file, each record's length and data CRCs checked; a
// damaged record is an error naming the file and its offset. A record cut short at the end (a
// run killed while writing) ends the list, as TensorBoard's reader treats it.
inline std::vector<std::string> read_tfrecords(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  TINYXF_CHECK(f != nullptr, "read_tfrecords: cannot open ", path.string());
  std::string bytes;
  std::array<char, 65536> buf;
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), f)) > 0;) bytes.append(buf.data(), n);
  std::fclose(f);
  const auto u32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[at + i])) << (8 * i);
    return v;
  };
  std::vector<std::string> records;
  for (std::size_t at = 0; at + 12 <= bytes.size();) {
    const std::string_view header(bytes.data() + at, 8);
    TINYXF_CHECK(tensorboard_detail::masked_crc32c(header) == u32(at + 8), "read_tfrecords: ", path.string(),
                 ": corrupt record length at byte ", at);
    std::uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(header[i])) << (8 * i);
    if (length > bytes.size() - at - 12 || bytes.size() - at - 12 - length < 4) break;  // truncated tail
    const std::string_view data(bytes.data() + at + 12, length);
    TINYXF_CHECK(tensorboard_detail::masked_crc32c(data) == u32(at + 12 + length), "read_tfrecords: ", path.string(),
                 ": corrupt record data at byte ", at + 12);
    records.emplace_back(data);
    at += 16 + length;
  }
  return records;
}

// Hugging Face's default logging_dir: <output_dir>/runs/<Mon DD_HH-MM-SS>_<host> (local time).
inline std::filesystem::path default_logging_dir(const std::filesystem::path& output_dir) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::array<char, 64> stamp{};
  std::strftime(stamp.data(), stamp.size(), "%b%d_%H-%M-%S", &local);
  return output_dir / "runs" / (std::string(stamp.data()) + "_" + tensorboard_detail::host_name());
}

// Hugging Face's rewrite_logs: "eval_x" -> "eval/x", "test_x" -> "test/x", anything else -> "train/x".
inline std::string tensorboard_tag(std::string_view key) {
  if (key.starts_with("eval_")) return "eval/" + std::string(key.substr(5));
  if (key.starts_with("test_")) return "test/" + std::string(key.substr(5));
  return "train/" + std::string(key);
}

}  // namespace tinyxf::train
