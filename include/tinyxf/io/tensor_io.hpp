#pragma once
// Tensors <-> safetensors files (and torch.save state dicts in: load_torch_state_dict): named
// float32 / int64 tensors in, any supported dtype out
// (F16/BF16/F64 are converted to float32 by load_float_tensors, as Hugging Face's
// from_pretrained does); load_tensor / save_tensors keep each tensor's own dtype.
#include <filesystem>
#include <cstring>
#include <map>
#include <optional>

#include "tinyxf/io/safetensors.hpp"
#include "tinyxf/io/torch_checkpoint.hpp"
#include "tinyxf/ops/shape.hpp"

namespace tinyxf::io {

// Every floating tensor of the file as float32 (integer tensors are skipped; read them with
// load_int64_tensor), in file order, on `device`.
inline NamedTensors load_float_tensors(const SafetensorsFile& file, Device device = Device::cpu()) {
  NamedTensors out;
  for (const auto& name : file.names()) {
    const auto& info = file.info(name);
    if (!is_floating_point(info.dtype)) continue;
    Shape shape(info.shape.begin(), info.shape.end());
    out.emplace_back(name, Tensor::from_vector(file.to_float32(name), shape, device));
  }
  return out;
}

inline NamedTensors load_float_tensors(const std::filesystem::path& path, Device device = Device::cpu()) {
  return load_float_tensors(SafetensorsFile(path), device);
}

inline Tensor load_int64_tensor(const SafetensorsFile& file, std::string_view name,
                                              Device device = Device::cpu()) {
  TINYXF_CHECK_AS(IndexError, file.contains(name), file.source(), ": no tensor named '", name, "'");
  const auto& info = file.info(name);
  Shape shape(info.shape.begin(), info.shape.end());
  return Tensor::from_vector(file.to_int64(name), shape, device);
}

inline Tensor load_float_tensor(const SafetensorsFile& file, std::string_view name,
                                       Device device = Device::cpu()) {
  TINYXF_CHECK_AS(IndexError, file.contains(name), file.source(), ": no tensor named '", name, "'");
  const auto& info = file.info(name);
  Shape shape(info.shape.begin(), info.shape.end());
  return Tensor::from_vector(file.to_float32(name), shape, device);
}

// The tensor dtype a safetensors dtype loads as with load_tensor (nullopt: converted to int64).
inline std::optional<DType> tensor_dtype_of(StDtype dtype) {
  switch (dtype) {
    case StDtype::F32: return kFloat32;
    case StDtype::F64: return kFloat64;
    case StDtype::BF16: return kBFloat16;
    case StDtype::F16: return kFloat16;
    case StDtype::I64: return kInt64;
    case StDtype::I32: return kInt32;
    case StDtype::U8: return kUInt8;
    case StDtype::BOOL: return kBool;
    default: return std::nullopt;
  }
}
inline StDtype st_dtype_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return StDtype::F32;
    case DType::f64: return StDtype::F64;
    case DType::bf16: return StDtype::BF16;
    case DType::f16: return StDtype::F16;
    case DType::i64: return StDtype::I64;
    case DType::i32: return StDtype::I32;
    case DType::u8: return StDtype::U8;
    case DType::b8: return StDtype::BOOL;
  }
  return StDtype::F32;
}

namespace detail {
// A tensor of `dtype` holding row-major little-endian `bytes`, built on the cpu (the bytes may
// be unaligned in a file) and moved to `device`.
inline Tensor tensor_from_bytes(const Shape& shape, DType dtype, std::span<const std::byte> bytes, Device device) {
  Tensor t = Tensor::empty(shape, dtype);
  if (!bytes.empty()) std::memcpy(t.raw_data(), bytes.data(), bytes.size());
  return t.to(device);
}
}  // namespace detail

// One tensor in its own dtype (F32, F64, BF16, F16, I64, I32, U8, BOOL as float32, ..., bool;
// the other integer dtypes as int64), on `device`.
inline Tensor load_tensor(const SafetensorsFile& file, std::string_view name, Device device = Device::cpu()) {
  TINYXF_CHECK_AS(IndexError, file.contains(name), file.source(), ": no tensor named '", name, "'");
  const auto& info = file.info(name);
  Shape shape(info.shape.begin(), info.shape.end());
  const auto dtype = tensor_dtype_of(info.dtype);
  if (!dtype) return load_int64_tensor(file, name, device);
  return detail::tensor_from_bytes(shape, *dtype, info.bytes, device);
}

// One tensor of a torch.save file in its own dtype, as load_tensor above (I16 and I8, which have
// no tensor dtype, as int64), contiguous, on `device`.
inline Tensor load_tensor(const TorchCheckpoint& file, std::string_view name, Device device = Device::cpu()) {
  const auto& info = file.info(name);
  Shape shape(info.shape.begin(), info.shape.end());
  const auto dtype = tensor_dtype_of(info.dtype);
  if (!dtype) return Tensor::from_vector(file.to_float32(name), shape).to(kInt64).to(device);  // 8/16-bit: exact
  return detail::tensor_from_bytes(shape, *dtype, file.contiguous_bytes(name), device);
}

// Every tensor of a torch.save state dict (pytorch_model.bin, model.state_dict() saved with
// torch.save) in its own dtype and the state dict's order: torch.load(path, weights_only=True),
// with views made contiguous and tied tensors loaded once each.
inline NamedTensors load_torch_state_dict(const std::filesystem::path& path, Device device = Device::cpu()) {
  const TorchCheckpoint file(path);
  NamedTensors out;
  for (const auto& name : file.names()) out.emplace_back(name, load_tensor(file, name, device));
  return out;
}

// Writes tensors (any dtype, any device) atomically in their own dtypes, with optional string
// metadata.
inline void save_tensors(const std::filesystem::path& path, const NamedTensors& tensors,
                         const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  std::vector<Tensor> keep_alive;
  keep_alive.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep_alive.push_back(t.detach().to(Device::cpu()).contiguous());
    const Tensor& c = keep_alive.back();
    writer.add_view(name, st_dtype_of(c.dtype()), std::vector<std::int64_t>(c.shape().begin(), c.shape().end()),
                    std::span<const std::byte>(static_cast<const std::byte*>(c.raw_data()),
                                               static_cast<std::size_t>(c.numel()) * c.element_size()));
  }
  for (const auto& [k, v] : metadata) writer.set_metadata(k, v);
  writer.write(path);
}

// Writes float32 tensors (from any device) atomically, with optional string metadata.
inline void save_float_tensors(const std::filesystem::path& path, const NamedTensors& tensors,
                               const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  std::vector<std::vector<float>> keep_alive;
  keep_alive.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep_alive.push_back(t.to(kFloat32).to_vector<float>());
    const auto& values = keep_alive.back();
    writer.add_view(name, StDtype::F32, std::vector<std::int64_t>(t.shape().begin(), t.shape().end()),
                    std::as_bytes(std::span<const float>(values)));
  }
  for (const auto& [k, v] : metadata) writer.set_metadata(k, v);
  writer.write(path);
}

}  // namespace tinyxf::io
