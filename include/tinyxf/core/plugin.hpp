#pragma once
// Backends built as shared libraries (ggml's backend loading is the model). A plugin is
// `libtinyxf_<name>.so` exporting the three C functions that TINYXF_BACKEND_PLUGIN defines (the
// ABI number, the device count, a factory of one instance per device index); the registry
// (runtime.hpp) opens it the first time a device of a built-in type without a registered backend
// is asked for (Device::cuda(i)), or when a program calls load_backend_plugin(name). A program
// that never touches the GPU then never loads the CUDA runtime or cuBLAS: linked in,
// libcublasLt's static initialisation alone maps ~200 MB at start-up, GPU or not.
//
// Where plugins are looked for, in order: the folders of $TINYXF_BACKEND_PATH (':'-separated),
// the running executable's folder, the folders compiled in as TINYXF_PLUGIN_DIRS (CMake sets the
// build tree's and the install's lib/tinyxf), then the dynamic loader's own search
// (LD_LIBRARY_PATH, rpath, ld.so.cache).
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tinyxf {

class Backend;

// Bumped whenever the Backend class changes layout; a plugin built against another version is
// refused instead of crashing on a virtual call.
// 2: memory_stats, empty_cache, describe (the Runtime); 3: one instance per device index
// (Backend::device_index, a factory entry point taking the index, the device count); 4:
// supports_gemm (GemmArgs::b_dtype/cast_to) and computes_16bit_attention; 5:
// supports_adam_grad_coef (AdamArgs::grad_coef); 6: supports_16bit_sum; 7: GemmArgs::bias; 8:
// UnaryOp::log1p (the UnaryOp values after it shift); 9: Backend::gather and Backend::scatter
// (KernelOp::gather, KernelOp::scatter); 10: Backend::sort (KernelOp::sort, SortArgs); 11: the
// math ops (UnaryOp::sin ... erf after pow_scalar; BinaryOp::atan2 ... div_floor before the
// comparisons, whose values shift).
inline constexpr int kBackendPluginAbi = 11;

struct BackendPluginOpen {
  int (*device_count)() = nullptr;                   // the devices of its type on this machine
  Backend* (*create)(int device_index) = nullptr;    // a new instance, owned by the caller (the registry)
  std::string path;                                  // the library that provided them
  std::string error;                                 // why none did: every place tried
};

namespace plugin_detail {

inline void split_dirs(std::string_view list, std::vector<std::filesystem::path>& out) {
  while (!list.empty()) {
    const auto colon = list.find(':');
    const std::string_view dir = list.substr(0, colon);
    if (!dir.empty()) out.emplace_back(std::string(dir));
    if (colon == std::string_view::npos) break;
    list.remove_prefix(colon + 1);
  }
}

inline std::vector<std::filesystem::path> search_dirs() {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("TINYXF_BACKEND_PATH")) split_dirs(env, dirs);
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path());
#ifdef TINYXF_PLUGIN_DIRS
  split_dirs(TINYXF_PLUGIN_DIRS, dirs);
#endif
  return dirs;
}

// dlopen + the two entry points; "" on success, else what went wrong.
inline std::string try_open(const std::string& file, BackendPluginOpen& out) {
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return why ? why : "dlopen failed";
  }
  // Never dlclose'd: the backend's code must outlive every tensor it allocated.
  // The ABI number first: a plugin of another version may lack (or mean otherwise) the others.
  using AbiFn = int (*)();
  auto abi = reinterpret_cast<AbiFn>(::dlsym(handle, "tinyxf_backend_plugin_abi"));
  if (!abi) return file + ": not a tinyxf backend plugin (no tinyxf_backend_plugin_abi)";
  if (abi() != kBackendPluginAbi)
    return file + ": built for backend ABI " + std::to_string(abi()) + ", this program has " +
           std::to_string(kBackendPluginAbi) + " (rebuild the plugin with the same tinyxf)";
  auto device_count =
      reinterpret_cast<decltype(out.device_count)>(::dlsym(handle, "tinyxf_backend_plugin_device_count"));
  auto create = reinterpret_cast<decltype(out.create)>(::dlsym(handle, "tinyxf_backend_plugin_create"));
  if (!device_count || !create)
    return file + ": not a tinyxf backend plugin (no tinyxf_backend_plugin_device_count/_create)";
  out.device_count = device_count;
  out.create = create;
  out.path = file;
  return "";
}

}  // namespace plugin_detail

// Opens libtinyxf_<name>.so from the first place that has one (see above).
inline BackendPluginOpen open_backend_plugin(std::string_view name) {
  BackendPluginOpen out;
  const std::string file = "libtinyxf_" + std::string(name) + ".so";
  std::string tried;
  for (const auto& dir : plugin_detail::search_dirs()) {
    const auto path = dir / file;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      tried += "\n  " + path.string() + ": no such file";
      continue;
    }
    const std::string error = plugin_detail::try_open(path.string(), out);
    if (error.empty()) return out;
    tried += "\n  " + error;
  }
  const std::string error = plugin_detail::try_open(file, out);  // the loader's own search path
  if (error.empty()) return out;
  out.error = "no loadable " + file + "; tried:" + tried + "\n  " + error;
  return out;
}

}  // namespace tinyxf

// In a plugin's source (one translation unit), the devices of its type on this machine and a
// factory of the instance serving one of them:
//   TINYXF_BACKEND_PLUGIN(my_device_count(), [](int index) { return new MyBackend(index); })
#define TINYXF_BACKEND_PLUGIN(device_count_expr, make_backend_for_index)                       \
  extern "C" __attribute__((visibility("default"))) int tinyxf_backend_plugin_abi() {           \
    return ::tinyxf::kBackendPluginAbi;                                                        \
  }                                                                                            \
  extern "C" __attribute__((visibility("default"))) int tinyxf_backend_plugin_device_count() {  \
    return (device_count_expr);                                                                \
  }                                                                                            \
  extern "C" __attribute__((visibility("default"))) ::tinyxf::Backend* tinyxf_backend_plugin_create( \
      int device_index) {                                                                      \
    return (make_backend_for_index)(device_index);                                             \
  }
