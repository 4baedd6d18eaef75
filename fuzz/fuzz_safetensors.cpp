// libFuzzer target: the safetensors reader on arbitrary bytes. Every accepted file must give
// tensors whose bytes lie inside the file and whose shapes the tensor core accepts (the size
// rule of core/shape.hpp), so creating them can never overflow a stride or an allocation.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tinyxf/core/shape.hpp"
#include "tinyxf/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinyxf;
  try {
    const auto file = io::SafetensorsFile::from_memory(std::string_view(reinterpret_cast<const char*>(data), size));
    const auto all = file.file_bytes();
    for (const io::StTensorInfo& tensor : file.tensors()) {
      if (tensor.bytes.data() < all.data() || tensor.bytes.data() + tensor.bytes.size() > all.data() + all.size())
        std::abort();  // a span outside the file
      const Shape shape(tensor.shape.begin(), tensor.shape.end());
      if (shape.size() <= static_cast<std::size_t>(kMaxDims)) {
        check_shape(shape, "fuzz");  // must not throw: the reader applied the same rule
        (void)contiguous_strides(shape);
        if (static_cast<std::uint64_t>(shape_numel(shape)) != tensor.numel()) std::abort();
      }
      if (tensor.byte_size() <= (std::size_t{1} << 16)) {  // conversions of small tensors
        (void)file.to_float32(tensor.name);
        if (!io::is_floating_point(tensor.dtype)) (void)file.to_int64(tensor.name);
      }
    }
  } catch (const Error&) {
    // Invalid input, reported with a message: the expected outcome for most inputs.
  }
  return 0;
}
