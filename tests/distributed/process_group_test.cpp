// MpiProcessGroup under mpirun -np 2 (any size works): all_reduce sum/avg over the dtypes it
// carries (bf16 through its user-defined op), non-blocking all_reduce, broadcast, all_gather,
// barrier, and the checks on a collective's tensor; SingleProcessGroup and the launcher
// environment.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <memory>
#include <vector>

#include "tinyxf/distributed/env.hpp"
#include "tinyxf/distributed/mpi.hpp"
#include "tinyxf/tensor.hpp"

#include "mpi_test_support.hpp"

using namespace tinyxf;
namespace dist = tinyxf::distributed;

namespace {
using test::world;
// 0 + 1 + ... + (n - 1)
double rank_sum(int n) { return n * (n - 1) / 2.0; }
}  // namespace

TEST_CASE("mpi: rank and size match the launcher's environment", "[distributed][mpi]") {
  const dist::LaunchEnv env = dist::launch_env();
  if (env.launcher == "openmpi") {
    CHECK(world()->rank() == env.rank);
    CHECK(world()->size() == env.world_size);
  }
  CHECK(world()->rank() >= 0);
  CHECK(world()->rank() < world()->size());
  CHECK(world()->backend_name() == "mpi");
}

TEST_CASE("mpi: all_reduce sums and averages f32, f64, bf16, int64", "[distributed][mpi]") {
  const int r = world()->rank(), n = world()->size();
  auto f32 = Tensor::from_vector(std::vector<float>{1.0f + r, 10.0f * r, -0.5f});
  world()->all_reduce(f32);
  CHECK(f32.to_vector<float>() == std::vector<float>{static_cast<float>(n + rank_sum(n)),
                                                     static_cast<float>(10 * rank_sum(n)), -0.5f * n});
  auto f64 = Tensor::from_vector(std::vector<double>{1.0 + r, 2.0});
  world()->all_reduce(f64, dist::ReduceOp::avg);
  CHECK(f64.to_vector<double>() == std::vector<double>{1.0 + rank_sum(n) / n, 2.0});
  auto bf16 = Tensor::from_vector(std::vector<float>{1.5f, 0.25f * r}).to(kBFloat16);
  world()->all_reduce(bf16);
  CHECK(bf16.to(kFloat32).to_vector<float>() == std::vector<float>{1.5f * n, static_cast<float>(0.25 * rank_sum(n))});
  auto i64 = Tensor::from_vector(std::vector<std::int64_t>{r, 7});
  world()->all_reduce(i64);
  CHECK(i64.to_vector<std::int64_t>() == std::vector<std::int64_t>{static_cast<std::int64_t>(rank_sum(n)), 7 * n});
  CHECK_THROWS_AS(world()->all_reduce(i64, dist::ReduceOp::avg), DTypeError);
}

TEST_CASE("mpi: all_reduce_async completes on wait, while the caller computes", "[distributed][mpi]") {
  const int r = world()->rank(), n = world()->size();
  auto big = Tensor::full({1 << 16}, 1.0 + r);
  const auto version = big.version();
  auto work = world()->all_reduce_async(big, dist::ReduceOp::avg);
  CHECK(big.version() > version);  // the tensor counts as written
  double busy = 0;
  for (int i = 0; i < 1000; ++i) busy += i * 0.5;
  work->test();
  work->wait();
  CHECK(work->test());
  const auto v = big.to_vector<float>();
  CHECK(v.front() == Approx(1.0 + rank_sum(n) / n));
  CHECK(v.back() == Approx(1.0 + rank_sum(n) / n));
  CHECK(busy > 0);
}

TEST_CASE("mpi: broadcast from every root, all_gather in rank order, barrier", "[distributed][mpi]") {
  const int r = world()->rank(), n = world()->size();
  for (int root = 0; root < n; ++root) {
    auto t = Tensor::full({2, 3}, static_cast<double>(r * 100 + 1));
    world()->broadcast(t, root);
    CHECK(t.to_vector<float>() == std::vector<float>(6, static_cast<float>(root * 100 + 1)));
  }
  auto mine = Tensor::from_vector(std::vector<std::int64_t>{r, r * r});
  const std::vector<Tensor> all = world()->all_gather(mine);
  REQUIRE(static_cast<int>(all.size()) == n);
  for (int k = 0; k < n; ++k) {
    CHECK(all[static_cast<std::size_t>(k)].shape() == Shape{2});
    CHECK(all[static_cast<std::size_t>(k)].to_vector<std::int64_t>() == std::vector<std::int64_t>{k, k * k});
  }
  world()->barrier();
  CHECK_THROWS_AS(world()->broadcast(mine, n), ValueError);
  auto strided = Tensor::zeros({4, 4}).t();
  CHECK_THROWS_WITH(world()->all_reduce(strided), Catch::Matchers::Contains("contiguous"));
}

TEST_CASE("single process group: collectives are the identity", "[distributed]") {
  dist::SingleProcessGroup single;
  auto t = Tensor::from_vector(std::vector<float>{1, 2});
  single.all_reduce(t, dist::ReduceOp::avg);
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2});
  CHECK(single.all_gather(t).size() == 1);
  single.barrier();
}
