// tinyxf_nccl_check: the NCCL process group and DDP over it, on GPUs. Exits 77 (skipped) without
// one. Alone it runs a 1-rank group (its own ncclUniqueId); under mpirun -np N (N <= GPUs of the
// host) init_process_group("nccl") sends rank 0's id over MPI. Checks all_reduce sum/avg
// (f32, bf16), broadcast, all_gather, barrier, then one DDP step of a small MLP on cuda with 4 KiB
// buckets against the same step without DDP (every rank gets the same data, so the averaged
// gradients equal the local ones).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

#include "tinyxf/backends/cuda.hpp"
#include "tinyxf/distributed/distributed.hpp"
#include "tinyxf/nn/layers.hpp"
#include "tinyxf/tensor.hpp"

using namespace tinyxf;
namespace dist = tinyxf::distributed;

namespace {
int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}
std::shared_ptr<nn::Sequential> mlp(std::uint64_t seed) {
  Generator gen(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Linear>(32, 256, true, gen), std::make_shared<nn::GELU>(),
      std::make_shared<nn::Linear>(256, 256, true, gen), std::make_shared<nn::GELU>(),
      std::make_shared<nn::Linear>(256, 1, true, gen)});
}
}  // namespace

int main() {
  try {
    if (backends::cuda_device_count() == 0) {
      std::cout << "tinyxf_nccl_check: no CUDA device, skipped\n";
      return 77;
    }
    const dist::LaunchEnv env = dist::launch_env();
    std::shared_ptr<dist::ProcessGroup> pg =
        env.distributed() ? dist::init_process_group("nccl")
                          : dist::make_nccl_process_group(0, 1, 0, dist::nccl_unique_id());
    const int r = pg->rank(), n = pg->size();
    const Device dev = pg->device();
    std::printf("rank %d of %d on %s, NCCL %d\n", r, n, dev.str().c_str(), dist::nccl_version());

    auto t = Tensor::full({1000}, 1.0 + r, TensorOptions(dev));
    pg->all_reduce(t);
    expect(t.to(Device::cpu()).to_vector<float>()[999] == static_cast<float>(n + n * (n - 1) / 2), "all_reduce sum f32");
    auto a = Tensor::full({1000}, 2.0 * (r + 1), TensorOptions(dev));
    auto work = pg->all_reduce_async(a, dist::ReduceOp::avg);
    work->wait();
    expect(std::abs(a.to(Device::cpu()).to_vector<float>()[0] - (n + 1.0f)) < 1e-5f, "all_reduce_async avg f32");
    auto b = Tensor::full({64}, 0.5, TensorOptions(dev).dtype(kBFloat16));
    pg->all_reduce(b);
    expect(b.to(kFloat32).to(Device::cpu()).to_vector<float>()[3] == 0.5f * n, "all_reduce sum bf16");
    auto c = Tensor::full({5}, 10.0 + r, TensorOptions(dev));
    pg->broadcast(c, n - 1);
    expect(c.to(Device::cpu()).to_vector<float>()[4] == 10.0f + (n - 1), "broadcast");
    const auto gathered = pg->all_gather(Tensor::full({3}, static_cast<double>(r), TensorOptions(dev)));
    bool gather_ok = static_cast<int>(gathered.size()) == n;
    for (int k = 0; gather_ok && k < n; ++k)
      gather_ok = gathered[static_cast<std::size_t>(k)].to(Device::cpu()).to_vector<float>()[1] == static_cast<float>(k);
    expect(gather_ok, "all_gather");
    pg->barrier();
    expect(true, "barrier");

    // One DDP step vs the same step without DDP.
    auto model = mlp(r == 0 ? 7 : 99);  // DDP broadcasts rank 0's weights
    auto reference = mlp(7);
    model->to(dev);
    reference->to(dev);
    dist::DDPOptions options;
    options.bucket_cap_mb = 4096.0 / (1024 * 1024);
    int launched = 0;
    options.on_bucket_launch = [&](std::size_t) { ++launched; };
    dist::DistributedDataParallel ddp(*model, pg, options);
    Generator data(5);
    const Tensor x = Tensor::randn({64, 32}, TensorOptions(dev), data);
    mean(model->forward(x)).backward();
    mean(reference->forward(x)).backward();
    double worst = 0;
    const auto pm = model->parameters(), pr = reference->parameters();
    for (std::size_t i = 0; i < pm.size(); ++i) {
      const auto gm = pm[i].grad().to(Device::cpu()).to_vector<float>();
      const auto gr = pr[i].grad().to(Device::cpu()).to_vector<float>();
      for (std::size_t k = 0; k < gm.size(); ++k) worst = std::max(worst, std::abs(double(gm[k]) - double(gr[k])));
    }
    std::printf("DDP: %zu buckets, %d launched, max |grad - reference| = %g\n", ddp.num_buckets(), launched, worst);
    expect(launched == static_cast<int>(ddp.num_buckets()) && ddp.num_buckets() > 1, "DDP launched every bucket");
    expect(worst <= 1e-6, "DDP gradients equal the single-process step");
    pg->barrier();
  } catch (const std::exception& e) {
    std::cerr << "tinyxf_nccl_check: " << e.what() << "\n";
    return 1;
  }
  std::printf("%s\n", failures == 0 ? "tinyxf_nccl_check: all passed" : "tinyxf_nccl_check: FAILED");
  return failures == 0 ? 0 : 1;
}
