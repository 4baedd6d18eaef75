#pragma once
// The Runtime: tinyxf's process-wide state in one object, like PyTorch's global context —
//   - the thread pool and its thread count (TINYXF_NUM_THREADS, else the hardware's),
//   - the backends: per device type a factory and one instance per device index, each owning
//     its device's state and allocator (memory_stats, empty_cache),
//   - the backend plugins tried so far (load_backend_plugin: each name once),
//   - the default random generator (manual_seed),
//   - a log of what was set up at start-up (which cpu kernels run, the BLAS kernel set, ...):
//     warnings go to stderr once, everything does with TINYXF_VERBOSE=1; log_messages() and
//     summary() tell a program what runs.
// tinyxf::runtime() is the one instance; it is made on first use (backends register during
// static initialisation) and never destroyed: pool workers stay parked until the process exits,
// and tensors freed by static destructors still find their backend. The free functions
// (set_num_threads, manual_seed, backend_for, ...) are shorthands for it.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/core/backend.hpp"
#include "tinyxf/core/error.hpp"
#include "tinyxf/core/generator.hpp"
#include "tinyxf/core/plugin.hpp"
#include "tinyxf/core/thread_pool.hpp"

namespace tinyxf {

enum class LogLevel { info, warning };

class Runtime {
 public:
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // ---- threads -------------------------------------------------------------------------------
  int num_threads() const { return threads_.load(std::memory_order_relaxed); }
  void set_num_threads(int n) {
    TINYXF_CHECK(n >= 1 && n <= kMaxThreads, "set_num_threads: expected a thread count in [1, ",
                 kMaxThreads, "], got ", n);
    threads_.store(n, std::memory_order_relaxed);
  }
  detail::ThreadPool& thread_pool() { return pool_; }

  // ---- backends and their allocators -----------------------------------------------------------
  BackendRegistry& backends() { return backends_; }
  // What the allocator of `device` holds; zeros for a backend that does not say.
  MemoryStats memory_stats(const Device& device);
  // Returns the cached (freed, kept for reuse) memory of `device` to the system.
  void empty_cache(const Device& device);
  // Waits until `device` has done its queued work (torch.cuda.synchronize); raises the errors its
  // kernels found on the way (CUDA's device-side index checks).
  void synchronize(const Device& device);
  // Opens the backend plugin libtinyxf_<name>.so once and registers its factory (the free
  // load_backend_plugin below says more).
  Backend* load_backend_plugin(std::string_view name, std::string* why);

  // ---- random numbers --------------------------------------------------------------------------
  Generator& default_generator() { return generator_; }
  void manual_seed(std::uint64_t seed) { generator_.manual_seed(seed); }

  // ---- what was set up -------------------------------------------------------------------------
  // Records a start-up decision. Warnings are printed to stderr ("tinyxf: ..."), info lines only
  // with TINYXF_VERBOSE=1; both stay in log_messages().
  void log(LogLevel level, std::string message) {
    if (level == LogLevel::warning || verbose_) std::fprintf(stderr, "tinyxf: %s\n", message.c_str());
    std::lock_guard lock(log_mutex_);
    log_.push_back(std::move(message));
  }
  std::vector<std::string> log_messages() const {
    std::lock_guard lock(log_mutex_);
    return log_;
  }
  // "2 threads; cpu: avx512 kernels, OpenBLAS SkylakeX; reference" — one entry per registered
  // backend (Backend::describe), built-in ones first.
  std::string summary() const {
    std::string out = std::to_string(num_threads()) + (num_threads() == 1 ? " thread" : " threads");
    for (const Backend* backend : backends_.all()) out += "; " + backend->describe();
    return out;
  }

 private:
  friend Runtime& runtime();
  Runtime() : threads_(detail::default_num_threads()) {
    const char* verbose = std::getenv("TINYXF_VERBOSE");
    verbose_ = verbose != nullptr && *verbose != '\0' && std::string_view(verbose) != "0";
  }

  std::atomic<int> threads_;
  detail::ThreadPool pool_;
  BackendRegistry backends_;
  // Every plugin name tried: the instance of index 0 it registered (nullptr: none) and why not.
  struct PluginAttempt {
    Backend* first = nullptr;
    std::string error;
  };
  std::mutex plugins_mutex_;
  std::map<std::string, PluginAttempt, std::less<>> plugins_;
  Generator generator_;
  bool verbose_ = false;
  mutable std::mutex log_mutex_;
  std::vector<std::string> log_;
};

// The process's Runtime (leaked on purpose, see above).
inline Runtime& runtime() {
  static Runtime* instance = new Runtime();
  return *instance;
}

// ---- shorthands ---------------------------------------------------------------------------------
inline int num_threads() { return runtime().num_threads(); }
inline void set_num_threads(int n) { runtime().set_num_threads(n); }
inline Generator& default_generator() { return runtime().default_generator(); }
inline void manual_seed(std::uint64_t seed) { runtime().manual_seed(seed); }

// A single-device backend (cpu, reference): `backend` serves index 0 of its device type, and any
// other index is a DeviceError ("no device cpu:1: device index 1 is out of range, backend cpu has
// 1 device (cpu:0) here").
inline bool register_backend(std::shared_ptr<Backend> backend) {
  runtime().backends().add(std::move(backend));
  return true;
}

// A backend with one instance per device index (CUDA: one per GPU): `factory(i)` makes the
// instance serving device i < device_count() on its first use, once; index 0 is made even when
// device_count() is 0, to report why nothing runs (Backend::available). Returns true, for
// registration from an inline variable.
inline bool register_backend_type(DeviceType type, DeviceCountFn device_count, BackendFactory factory) {
  runtime().backends().add_type(type, std::move(device_count), std::move(factory));
  return true;
}

// How many devices of `type` this machine has (0 when no backend serves it or none can run here).
inline int device_count(DeviceType type) { return runtime().backends().device_count(type); }

// A device (index 0) of every registered backend that can run here (CUDA without a GPU cannot).
inline std::vector<Device> available_devices() {
  std::vector<Device> out;
  for (Backend* backend : runtime().backends().all())
    if (backend->available()) out.push_back(Device{backend->device_type(), 0});
  return out;
}

// Opens the backend plugin libtinyxf_<name>.so (core/plugin.hpp) and registers its factory,
// making the instance of index 0 (returned); tried once per name. nullptr when there is none,
// with every place tried in `why`. Plugins serve the built-in device types (a new device type's
// id lives in the program's own table, which a separately linked library cannot see): register
// such a backend from the program instead.
inline Backend* load_backend_plugin(std::string_view name, std::string* why = nullptr) {
  return runtime().load_backend_plugin(name, why);
}

// The backend instance serving `device` (made on first use; later calls are one atomic load); a
// built-in device type without a registered backend loads its plugin on first use. A clear
// DeviceError when there is none, the index does not exist, or the device cannot run here.
inline Backend& backend_for(const Device& device) {
  Backend* b = runtime().backends().instance(device);
  if (!b) {
    std::string why;
    const bool loaded = load_backend_plugin(device_type_name(device.type), &why) != nullptr;
    TINYXF_CHECK_AS(DeviceError, loaded, "no backend for device ", device.str(),
                    (device.type == DeviceType::cuda
                         ? " (this build of tinyxf has no CUDA backend: it is built when CMake finds nvcc, "
                           "or with -DTINYXF_CUDA=ON)"
                         : ""),
                    ": ", why);
    b = runtime().backends().instance(device);
  }
  TINYXF_CHECK_AS(DeviceError, b->available(), "device ", device.str(), " is not available: ",
                  b->unavailable_reason());
  return *b;
}

inline MemoryStats Runtime::memory_stats(const Device& device) {
  return backend_for(device).memory_stats(device.index);
}
inline void Runtime::empty_cache(const Device& device) { backend_for(device).empty_cache(device.index); }
inline void Runtime::synchronize(const Device& device) { backend_for(device).synchronize(device.index); }
inline Backend* Runtime::load_backend_plugin(std::string_view name, std::string* why) {
  std::lock_guard lock(plugins_mutex_);
  auto it = plugins_.find(name);
  if (it == plugins_.end()) {
    BackendPluginOpen opened = open_backend_plugin(name);
    std::shared_ptr<Backend> first(opened.create ? opened.create(0) : nullptr);
    if (opened.create && !first) {
      opened.error = opened.path + ": tinyxf_backend_plugin_create(0) returned no backend";
    } else if (first && static_cast<int>(first->device_type()) >= kNumBuiltinDeviceTypes) {
      opened.error = opened.path + ": its backend '" + std::string(first->name()) +
                     "' has a run-time device type; plugins serve built-in device types only";
      first.reset();
    } else if (first && first->device_index() != 0) {
      opened.error = opened.path + ": tinyxf_backend_plugin_create(0) made an instance serving " +
                     first->device().str();
      first.reset();
    }
    Backend* raw = first.get();
    if (first) {
      const auto create = opened.create;
      backends_.add_type(first->device_type(), opened.device_count, [first, create](int index) {
        return index == 0 ? first : std::shared_ptr<Backend>(create(index));
      });
    }
    it = plugins_.emplace(std::string(name), PluginAttempt{raw, std::move(opened.error)}).first;
  }
  if (why) *why = it->second.error;
  return it->second.first;
}

}  // namespace tinyxf
