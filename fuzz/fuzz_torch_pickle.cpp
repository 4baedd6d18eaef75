// libFuzzer target: the restricted unpickler of torch.save files (io/torch_checkpoint.hpp) on
// arbitrary bytes. It must end in a result or a tinyxf::Error, never run past its input, and every
// tensor it accepts must lie inside its storage, whose size the archive would give: here storage
// key "<k>" holds 8·k bytes (k < 4096), other keys do not exist.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>

#include "tinyxf/io/torch_checkpoint.hpp"

namespace {
std::optional<std::uint64_t> storage_size(const void*, const std::string& key) {
  unsigned k = 0;
  const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), k);
  if (error != std::errc{} || end != key.data() + key.size() || k >= 4096) return std::nullopt;
  return std::uint64_t{8} * k;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinyxf;
  try {
    io::torch_pickle::Unpickler unpickler(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz",
                                          &storage_size, nullptr);
    const auto& top = unpickler.value(unpickler.run());
    for (std::size_t item : top.items) {
      const auto& v = unpickler.value(item);
      if (v.kind != io::torch_pickle::Value::Kind::tensor) continue;
      const io::TorchTensorInfo& t = unpickler.tensor(v);
      const auto bytes = storage_size(nullptr, t.storage_key);
      if (!bytes || static_cast<std::uint64_t>(t.storage_numel) * io::element_size(t.dtype) != *bytes) std::abort();
      if (t.numel() == 0) continue;
      std::int64_t last = t.storage_offset;
      for (std::size_t d = 0; d < t.shape.size(); ++d) last += (t.shape[d] - 1) * t.strides[d];
      if (last >= t.storage_numel) std::abort();  // a view reaching past its storage
    }
  } catch (const Error&) {
    // Invalid input, reported with a message: the expected outcome for most inputs.
  }
  return 0;
}
