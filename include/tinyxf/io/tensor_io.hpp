#pragma once
// Tensors <-> safetensors files: named float32 / int64 tensors in, any supported dtype out
// (F16/BF16/F64 are converted to float32 on load, as Hugging Face's from_pretrained does).
#include <filesystem>
#include <map>

#include "tinyxf/io/safetensors.hpp"
#include "tinyxf/nn/module.hpp"

namespace tinyxf::io {

// Every floating tensor of the file as float32 (integer tensors are skipped; read them with
// load_int64_tensor), in file order, on `device`.
inline nn::NamedTensors load_float_tensors(const SafetensorsFile& file, Device device = Device::cpu()) {
  nn::NamedTensors out;
  for (const auto& name : file.names()) {
    const auto& info = file.info(name);
    if (!is_floating_point(info.dtype)) continue;
    Shape shape(info.shape.begin(), info.shape.end());
    out.emplace_back(name, Tensor<float>::from_vector(file.to_float32(name), shape, device));
  }
  return out;
}

inline nn::NamedTensors load_float_tensors(const std::filesystem::path& path, Device device = Device::cpu()) {
  return load_float_tensors(SafetensorsFile(path), device);
}

inline Tensor<std::int64_t> load_int64_tensor(const SafetensorsFile& file, std::string_view name,
                                              Device device = Device::cpu()) {
  TINYXF_CHECK_AS(IndexError, file.contains(name), file.source(), ": no tensor named '", name, "'");
  const auto& info = file.info(name);
  Shape shape(info.shape.begin(), info.shape.end());
  return Tensor<std::int64_t>::from_vector(file.to_int64(name), shape, device);
}

inline Tensor<float> load_float_tensor(const SafetensorsFile& file, std::string_view name,
                                       Device device = Device::cpu()) {
  TINYXF_CHECK_AS(IndexError, file.contains(name), file.source(), ": no tensor named '", name, "'");
  const auto& info = file.info(name);
  Shape shape(info.shape.begin(), info.shape.end());
  return Tensor<float>::from_vector(file.to_float32(name), shape, device);
}

// Writes float32 tensors (from any device) atomically, with optional string metadata.
inline void save_float_tensors(const std::filesystem::path& path, const nn::NamedTensors& tensors,
                               const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  std::vector<std::vector<float>> keep_alive;
  keep_alive.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep_alive.push_back(t.to_vector());
    const auto& values = keep_alive.back();
    writer.add_view(name, StDtype::F32, std::vector<std::int64_t>(t.shape().begin(), t.shape().end()),
                    std::as_bytes(std::span<const float>(values)));
  }
  for (const auto& [k, v] : metadata) writer.set_metadata(k, v);
  writer.write(path);
}

}  // namespace tinyxf::io
