// Host side of the CUDA backend: device discovery, per-device contexts (stream, cuBLAS handle),
// the caching allocator, host<->device copies, GEMM through cuBLAS, registration.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda_common.cuh"
#include "tinyxf/core/runtime.hpp"

namespace tinyxf::backends {

namespace cuda_detail {

// ---- errors ------------------------------------------------------------------------------------
void throw_cuda_error(const char* op, const char* what, cudaError_t err) {
  throw Error(detail::concat("cuda ", op, ": ", what, " failed: ", cudaGetErrorString(err), " (",
                             cudaGetErrorName(err), ")"));
}

void throw_cublas_error(const char* op, cublasStatus_t status) {
  throw Error(detail::concat("cuda ", op, ": cuBLAS failed: ", cublasGetStatusString(status), " (",
                             cublasGetStatusName(status), ")"));
}

// ---- device discovery (once; never throws) ----------------------------------------------------
struct Availability {
  int device_count = 0;
  std::string reason;  // why there is no usable device
};

const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      cudaGetLastError();  // clear it so later calls do not report it again
      r.reason = detail::concat("no CUDA device found (cudaGetDeviceCount: ", cudaGetErrorString(err), ")");
    } else if (n == 0) {
      r.reason = "no CUDA device found (cudaGetDeviceCount reports 0 devices)";
    } else {
      r.device_count = n;
    }
    return r;
  }();
  return a;
}

// ---- switches read from the environment once ------------------------------------------------------
std::atomic<bool>& sync_checks_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("TINYXF_CUDA_SYNC_CHECKS");
    return env != nullptr && std::strcmp(env, "1") == 0;
  }();
  return flag;
}

std::atomic<bool>& flash_attention_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("TINYXF_CUDA_FLASH_ATTENTION");
    return env != nullptr && std::strcmp(env, "1") == 0;
  }();
  return flag;
}

// ---- TF32 switch ---------------------------------------------------------------------------------
std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("TINYXF_CUDA_TF32");
    return env != nullptr && std::strcmp(env, "1") == 0;
  }();
  return flag;
}

// ---- contexts ------------------------------------------------------------------------------------
constexpr int kMaxDevices = 64;

void check_device_exists(int device_index, const char* op) {
  const Availability& a = availability();
  TINYXF_CHECK_AS(DeviceError, a.device_count > 0, "cuda ", op, ": device cuda:", device_index,
                  " is not available: ", a.reason);
  TINYXF_CHECK_AS(DeviceError, device_index >= 0 && device_index < a.device_count && device_index < kMaxDevices,
                  "cuda ", op, ": device index ", device_index, " is out of range: this machine has ",
                  a.device_count, " CUDA device(s) (cuda:0 .. cuda:", a.device_count - 1, ")");
}

std::string synchronize_and_take_index_error(DeviceContext& ctx, const char* at);

DeviceContext* make_context(int device_index, const char* op) {
  check_device_exists(device_index, op);
  auto ctx = std::make_unique<DeviceContext>();
  ctx->device = device_index;
  int previous = 0;
  check_cuda(cudaGetDevice(&previous), op, "cudaGetDevice");
  check_cuda(cudaSetDevice(device_index), op, "cudaSetDevice");
  check_cuda(cudaDeviceGetAttribute(&ctx->sm_count, cudaDevAttrMultiProcessorCount, device_index), op,
             "cudaDeviceGetAttribute");
  check_cuda(cudaDeviceGetAttribute(&ctx->max_shared_per_block, cudaDevAttrMaxSharedMemoryPerBlockOptin, device_index),
             op, "cudaDeviceGetAttribute");
  check_cuda(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking), op, "cudaStreamCreate");
  check_cublas(cublasCreate(&ctx->cublas), op);
  check_cublas(cublasSetStream(ctx->cublas, ctx->stream), op);
  check_cublas(cublasSetMathMode(ctx->cublas, CUBLAS_DEFAULT_MATH), op);
  void* record_memory = nullptr;
  check_cuda(cudaMalloc(&record_memory, sizeof(IndexErrorRecord)), op, "cudaMalloc (index error record)");
  ctx->error_record = static_cast<IndexErrorRecord*>(record_memory);
  check_cuda(cudaMemsetAsync(ctx->error_record, 0xFF, sizeof(IndexErrorRecord), ctx->stream), op,
             "cudaMemsetAsync (index error record)");
  check_cuda(cudaSetDevice(previous), op, "cudaSetDevice");
  return ctx.release();
}

void destroy_context(DeviceContext* ctx) noexcept {
  if (!ctx) return;
  int previous = 0;
  if (cudaGetDevice(&previous) == cudaSuccess && cudaSetDevice(ctx->device) == cudaSuccess) {
    // Its queued work may still use the error record. A failed index check that no
    // synchronization reported: say so rather than lose it.
    try {
      if (const std::string message = synchronize_and_take_index_error(*ctx, "the backend's destruction");
          !message.empty())
        std::fprintf(stderr, "tinyxf: cuda:%d: %s\n", ctx->device, message.c_str());
    } catch (const std::exception&) {  // the device may be gone; nothing more to say
    }
    if (ctx->error_record) cudaFree(ctx->error_record);
    if (ctx->cublas) cublasDestroy(ctx->cublas);
    if (ctx->stream) cudaStreamDestroy(ctx->stream);
    cudaSetDevice(previous);
  }
  cudaGetLastError();
  delete ctx;
}

// Which GPUs have their CudaBackend (in this copy of the library): one instance, one stream each.
std::array<std::atomic<bool>, kMaxDevices>& claimed_devices() {
  static std::array<std::atomic<bool>, kMaxDevices> claimed{};
  return claimed;
}

// ---- the caching allocator -------------------------------------------------------------------------
// cudaMalloc is slow and synchronizes the device, so freed blocks go to per-(device, size) free
// lists and are handed out again for requests of the same rounded size. All work of a device runs
// on its one stream, so a block freed while queued kernels still use it is only reused by later
// work on that stream: no event tracking is needed.
class CachingAllocator : public std::enable_shared_from_this<CachingAllocator> {
 public:
  static CachingAllocator& instance() {
    // Tensors hold a reference through their deleters, so the allocator outlives the last one.
    static std::shared_ptr<CachingAllocator> allocator(new CachingAllocator);
    return *allocator;
  }

  std::shared_ptr<void> allocate(std::size_t bytes, int device) {
    const std::size_t size = round_block_size(bytes);
    void* p = take_cached(size, device);
    if (!p) p = allocate_new(size, device, bytes);
    return std::shared_ptr<void>(p, [self = shared_from_this(), size, device](void* q) {
      self->release(q, size, device);
    });
  }

  void empty_cache() {
    std::map<std::pair<int, std::size_t>, std::vector<void*>> blocks;
    {
      std::lock_guard lock(mutex_);
      blocks.swap(free_);
      for (auto& s : stats_) s.bytes_cached = 0;
    }
    free_blocks(blocks, /*throw_on_error=*/true);
  }

  CudaMemoryStats stats(int device) {
    std::lock_guard lock(mutex_);
    return device >= 0 && static_cast<std::size_t>(device) < stats_.size()
               ? stats_[static_cast<std::size_t>(device)]
               : CudaMemoryStats{};
  }

  ~CachingAllocator() {
    // Runs at exit once the last tensor is gone. CUDA may already be shutting down: ignore errors.
    free_blocks(free_, /*throw_on_error=*/false);
  }

 private:
  CachingAllocator() = default;

  CudaMemoryStats& stats_locked(int device) {
    if (stats_.size() <= static_cast<std::size_t>(device)) stats_.resize(static_cast<std::size_t>(device) + 1);
    return stats_[static_cast<std::size_t>(device)];
  }

  void* take_cached(std::size_t size, int device) {
    std::lock_guard lock(mutex_);
    auto it = free_.find({device, size});
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    CudaMemoryStats& s = stats_locked(device);
    s.bytes_cached -= size;
    s.cache_hits += 1;
    s.bytes_in_use += size;
    s.peak_bytes_in_use = std::max(s.peak_bytes_in_use, s.bytes_in_use);
    return p;
  }

  void* allocate_new(std::size_t size, int device, std::size_t requested) {
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      // Out of memory: give the cached blocks of this device back to the driver and retry once.
      cudaGetLastError();
      std::map<std::pair<int, std::size_t>, std::vector<void*>> mine;
      {
        std::lock_guard lock(mutex_);
        for (auto it = free_.begin(); it != free_.end();) {
          if (it->first.first == device) {
            stats_locked(device).bytes_cached -= it->first.second * it->second.size();
            mine.insert(free_.extract(it++));
          } else {
            ++it;
          }
        }
      }
      free_blocks(mine, /*throw_on_error=*/true);
      err = cudaMalloc(&p, size);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      const CudaMemoryStats s = stats(device);
      throw Error(detail::concat("cuda allocate: cannot allocate ", requested, " bytes on cuda:", device,
                                 " (", s.bytes_in_use, " bytes in use by tensors): cudaMalloc: ",
                                 cudaGetErrorString(err)));
    }
    std::lock_guard lock(mutex_);
    CudaMemoryStats& s = stats_locked(device);
    s.device_allocations += 1;
    s.bytes_in_use += size;
    s.peak_bytes_in_use = std::max(s.peak_bytes_in_use, s.bytes_in_use);
    return p;
  }

  void release(void* p, std::size_t size, int device) {
    std::lock_guard lock(mutex_);
    free_[{device, size}].push_back(p);
    CudaMemoryStats& s = stats_locked(device);
    s.bytes_in_use -= size;
    s.bytes_cached += size;
  }

  static void free_blocks(const std::map<std::pair<int, std::size_t>, std::vector<void*>>& blocks,
                          bool throw_on_error) {
    int previous = 0;
    if (cudaGetDevice(&previous) != cudaSuccess) return;
    for (const auto& [key, list] : blocks) {
      if (list.empty()) continue;
      // Queued kernels may still use a cached block until the device is idle.
      cudaError_t err = cudaSetDevice(key.first);
      if (err == cudaSuccess) err = cudaDeviceSynchronize();
      for (void* p : list)
        if (err == cudaSuccess) err = cudaFree(p);
      if (err != cudaSuccess) {
        cudaGetLastError();
        if (throw_on_error) throw_cuda_error("empty_cache", "cudaFree", err);
        return;
      }
    }
    cudaSetDevice(previous);
  }

  std::mutex mutex_;
  std::map<std::pair<int, std::size_t>, std::vector<void*>> free_;
  std::vector<CudaMemoryStats> stats_;
};

// ---- op scope ------------------------------------------------------------------------------------
OpScope::OpScope(CudaBackend& backend, const char* op) : ctx(backend.context(op)) {
  check_cuda(cudaGetDevice(&previous_), op, "cudaGetDevice");
  if (previous_ != ctx.device) check_cuda(cudaSetDevice(ctx.device), op, "cudaSetDevice");
}

OpScope::~OpScope() {
  if (previous_ >= 0 && previous_ != ctx.device) cudaSetDevice(previous_);
}

std::shared_ptr<void> scratch(std::size_t bytes, int device_index) {
  return CachingAllocator::instance().allocate(bytes, device_index);
}

// ---- device-side index checks ----------------------------------------------------------------------
bool sync_index_checks() { return sync_checks_flag().load(std::memory_order_relaxed); }

unsigned long long begin_index_check(OpScope& scope, const char* op, std::int64_t bound, IndexCheckKind kind) {
  DeviceContext& ctx = scope.ctx;
  if (ctx.pending_checks.size() >= kMaxPendingIndexChecks)  // check numbers stay below 2^24
    synchronize_and_raise(scope, op);
  ctx.pending_checks.push_back({op, bound, kind});
  return index_check_base(ctx.pending_checks.size() - 1);
}

__global__ void capture_index_error_value_kernel(IndexErrorRecord* record, unsigned long long check,
                                                 const std::int64_t* index) {
  if (index_error_is(record, check)) record->value = index[index_error_position(record->key)];
}

void finish_index_check(OpScope& scope, unsigned long long check, const std::int64_t* index) {
  const char* op = scope.ctx.pending_checks.back().op;
  if (index) {
    capture_index_error_value_kernel<<<1, 1, 0, scope.stream()>>>(scope.ctx.error_record, check, index);
    check_launch(op);
  }
  if (sync_index_checks()) synchronize_and_raise(scope, op);
}

// Waits for the stream, reading the record in the same wait when checks are pending; the message
// of the first failure, or "". Forgets the pending checks and clears the record either way.
std::string synchronize_and_take_index_error(DeviceContext& ctx, const char* at) {
  const bool pending = !ctx.pending_checks.empty();
  IndexErrorRecord record{kNoIndexError, 0};
  cudaError_t err = pending ? cudaMemcpyAsync(&record, ctx.error_record, sizeof record, cudaMemcpyDeviceToHost,
                                              ctx.stream)
                            : cudaSuccess;
  if (err == cudaSuccess) err = cudaStreamSynchronize(ctx.stream);
  if (err != cudaSuccess) {
    ctx.pending_checks.clear();
    throw_cuda_error(at, "cudaStreamSynchronize", err);
  }
  std::string message;
  if (record.key != kNoIndexError) {
    const std::size_t number = index_check_number(record.key);
    const std::int64_t position = index_error_position(record.key);
    const PendingIndexCheck check = number < ctx.pending_checks.size() ? ctx.pending_checks[number]
                                                                       : PendingIndexCheck{"index check", -1, {}};
    message = check.kind == IndexCheckKind::target
                  ? detail::concat("cross_entropy: Target ", record.value, " is out of bounds (row ", position,
                                   ", ", check.bound, " classes)")
                  : detail::concat(check.op, ": index ", record.value, " at position ", position,
                                   " is out of range for a dimension of size ", check.bound);
    if (std::strcmp(at, check.op) != 0)
      message += detail::concat(" (found by the device-side check of ", check.op, " on cuda:", ctx.device,
                                ", reported at the next synchronization, ", at,
                                "; TINYXF_CUDA_SYNC_CHECKS=1 reports it in the op itself)");
    err = cudaMemsetAsync(ctx.error_record, 0xFF, sizeof record, ctx.stream);
    if (err != cudaSuccess) {
      ctx.pending_checks.clear();
      throw_cuda_error(at, "cudaMemsetAsync (index error record)", err);
    }
  }
  ctx.pending_checks.clear();
  return message;
}

void synchronize_and_raise(OpScope& scope, const char* at) {
  if (std::string message = synchronize_and_take_index_error(scope.ctx, at); !message.empty())
    throw Error(std::move(message));
}

}  // namespace cuda_detail

using namespace cuda_detail;

// ---- Backend: the instance of one GPU, availability, memory ---------------------------------------
CudaBackend::CudaBackend(int device_index) : Backend(device_index) {
  TINYXF_CHECK_AS(DeviceError, device_index >= 0 && device_index < kMaxDevices, "CudaBackend: device index ",
                  device_index, " is out of range [0, ", kMaxDevices, ")");
  TINYXF_CHECK(!claimed_devices()[static_cast<std::size_t>(device_index)].exchange(true), "CudaBackend: cuda:",
               device_index, " already has its instance (backend_for(Device::cuda(", device_index,
               "))); a second one would run work of that GPU on a second stream");
}

CudaBackend::~CudaBackend() {
  destroy_context(context_.load());
  claimed_devices()[static_cast<std::size_t>(device_index())].store(false);
}

DeviceContext& CudaBackend::context(const char* op) {
  if (DeviceContext* ctx = context_.load(std::memory_order_acquire)) return *ctx;
  std::lock_guard lock(context_creation_);
  if (DeviceContext* ctx = context_.load(std::memory_order_acquire)) return *ctx;
  DeviceContext* ctx = make_context(device_index(), op);
  context_.store(ctx, std::memory_order_release);
  return *ctx;
}

bool CudaBackend::available() const { return availability().device_count > 0; }

std::string CudaBackend::unavailable_reason() const { return availability().reason; }

std::shared_ptr<void> CudaBackend::allocate(std::size_t bytes, int device_index) {
  check_device_index(device_index, "allocate");
  OpScope scope(*this, "allocate");
  return CachingAllocator::instance().allocate(bytes, device_index);
}

void CudaBackend::copy_from_host(void* dst, const void* src, std::size_t bytes, int device_index) {
  check_device_index(device_index, "copy_from_host");
  if (bytes == 0) return;
  OpScope scope(*this, "copy_from_host");
  // From pageable memory this returns once the source is staged, so `src` may be reused at once;
  // later kernels on the stream see the data.
  check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, scope.stream()), "copy_from_host",
             "cudaMemcpyAsync");
}

void CudaBackend::copy_to_host(void* dst, const void* src, std::size_t bytes, int device_index) {
  check_device_index(device_index, "copy_to_host");
  if (bytes == 0) return;
  OpScope scope(*this, "copy_to_host");
  check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, scope.stream()), "copy_to_host",
             "cudaMemcpyAsync");
  std::lock_guard lock(scope.ctx.mutex);
  synchronize_and_raise(scope, "copy_to_host");
}

void CudaBackend::synchronize(int device_index) {
  check_device_index(device_index, "synchronize");
  OpScope scope(*this, "synchronize");
  std::lock_guard lock(scope.ctx.mutex);
  synchronize_and_raise(scope, "synchronize");
}

// ---- GEMM through cuBLAS ---------------------------------------------------------------------------
namespace cuda_detail {

bool tf32_allowed(DType dtype, MatmulPrecision precision) {
  return dtype == DType::f32 && (tf32_flag().load(std::memory_order_relaxed) || precision != MatmulPrecision::highest);
}

void set_cublas_tf32(DeviceContext& ctx, bool tf32, const char* op) {
  if (tf32 == ctx.cublas_tf32) return;
  check_cublas(cublasSetMathMode(ctx.cublas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), op);
  ctx.cublas_tf32 = tf32;
}

}  // namespace cuda_detail

void CudaBackend::gemm(const GemmArgs& g) {
  const bool low_precision = is_reduced_floating_point(g.dtype);
  TINYXF_CHECK_AS(DTypeError, g.c_dtype() == g.dtype || (low_precision && g.c_dtype() == DType::f32), "gemm: ",
                  dtype_name(g.dtype), " operands cannot give a ", dtype_name(g.c_dtype()), " result on backend cuda");
  if (low_precision) {  // tensor cores with float32 sums; the handle's TF32 math mode does not apply
    if (g.batch == 0 || g.m == 0 || g.n == 0) return;
    OpScope scope(*this, "gemm");
    std::lock_guard lock(scope.ctx.mutex);  // one user of the handle at a time
    dispatch_floating_storage(g.dtype, "gemm", [&]<class T>(type_tag<T>) {
      if constexpr (!std::is_same_v<T, compute_t<T>>) {
        const auto run = [&]<class C>(C* c) {
          gemm_row_major<T, C>(scope.ctx, "gemm", g.trans_a, g.trans_b, g.m, g.n, g.k, static_cast<float>(g.alpha),
                               static_cast<const T*>(g.a), g.lda, g.stride_a, static_cast<const T*>(g.b), g.ldb,
                               g.stride_b, static_cast<float>(g.beta), c, g.ldc, g.stride_c, g.batch);
        };
        if (g.c_dtype() == DType::f32)
          run(static_cast<float*>(g.c));
        else
          run(static_cast<T*>(g.c));
      }
    });
    return;
  }
  dispatch_floating(g.dtype, "gemm", [&]<class T>(type_tag<T>) {
    if (g.batch == 0 || g.m == 0 || g.n == 0) return;
    OpScope scope(*this, "gemm");
    std::lock_guard lock(scope.ctx.mutex);  // the math mode is per handle
    set_cublas_tf32(scope.ctx, tf32_allowed(g.dtype, g.precision), "gemm");
    gemm_row_major<T>(scope.ctx, "gemm", g.trans_a, g.trans_b, g.m, g.n, g.k, static_cast<T>(g.alpha),
                      static_cast<const T*>(g.a), g.lda, g.stride_a, static_cast<const T*>(g.b), g.ldb, g.stride_b,
                      static_cast<T>(g.beta), static_cast<T*>(g.c), g.ldc, g.stride_c, g.batch);
  });
}

// ---- public helpers -------------------------------------------------------------------------------
int cuda_device_count() noexcept { return availability().device_count; }

void* cuda_stream(int device_index) {
  Backend& backend = backend_for(Device::cuda(device_index));
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  TINYXF_CHECK_AS(DeviceError, cuda != nullptr, "cuda_stream: cuda:", device_index, " is served by backend '",
                  backend.name(), "', not by this library's CudaBackend");
  return cuda->context("cuda_stream").stream;
}

std::string cuda_device_description(int device_index) {
  check_device_exists(device_index, "cuda_device_description");
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, device_index), "cuda_device_description",
             "cudaGetDeviceProperties");
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1 << 30));
  return detail::concat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount,
                        " SMs, ", memory, ")");
}

void set_cuda_sync_checks(bool enabled) { sync_checks_flag().store(enabled); }
bool cuda_sync_checks_enabled() { return sync_checks_flag().load(); }

void set_cuda_flash_attention(bool enabled) { flash_attention_flag().store(enabled); }
bool cuda_flash_attention_enabled() { return flash_attention_flag().load(std::memory_order_relaxed); }

void set_cuda_tf32(bool enabled) { tf32_flag().store(enabled); }
bool cuda_tf32_enabled() { return tf32_flag().load(); }

CudaMemoryStats cuda_memory_stats(int device_index) {
  return CachingAllocator::instance().stats(device_index);
}

void cuda_empty_cache() {
  if (cuda_device_count() > 0) CachingAllocator::instance().empty_cache();
}

MemoryStats CudaBackend::memory_stats(int device_index) const {
  if (cuda_device_count() == 0) return {};
  const CudaMemoryStats s = cuda_memory_stats(device_index);
  return {.allocated_bytes = s.bytes_in_use, .peak_allocated_bytes = s.peak_bytes_in_use,
          .cached_bytes = s.bytes_cached};
}

// The cache is one pool for every device (like the front end's view of it).
void CudaBackend::empty_cache(int) { cuda_empty_cache(); }

std::string CudaBackend::describe() const {
  if (!available()) return "cuda: not available (" + unavailable_reason() + ")";
  std::string out = "cuda: " + std::to_string(cuda_device_count()) + " device(s), " +
                    cuda_device_description(0);
  if (cuda_tf32_enabled()) out += ", tf32 GEMMs";
  return out;
}

bool register_cuda_backend() {
  static const bool registered = register_backend_type(
      DeviceType::cuda, [] { return cuda_device_count(); },
      [](int device_index) { return std::make_shared<CudaBackend>(device_index); });
  return registered;
}

}  // namespace tinyxf::backends
