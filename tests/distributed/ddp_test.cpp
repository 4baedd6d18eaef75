// DistributedDataParallel under mpirun -np 2 (any size works):
//   (a) a tiny DistilBERT trained 3 SGD steps data-parallel, each rank on its share of the global
//       batch, ends with the parameters of one process trained on the global batch (every rank
//       trains that reference itself; <= 1e-6), the ranks starting from different weights
//       (the constructor broadcasts rank 0's);
//   (b) bucketing and overlap: with small buckets, the first bucket's all-reduce is launched
//       while backward still accumulates gradients (hook order), buckets launch in order, and
//       the result is the same;
//   no_sync: gradient accumulation over two micro-batches reduces once and matches too.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tinyxf/data/shuffle.hpp"
#include "tinyxf/distributed/ddp.hpp"
#include "tinyxf/models/distilbert/modeling.hpp"
#include "tinyxf/optim/sgd.hpp"
#include "tinyxf/tensor.hpp"

#include "mpi_test_support.hpp"

using namespace tinyxf;
namespace dist = tinyxf::distributed;
using Model = models::DistilBertForSequenceClassification;

namespace {

using test::world;

constexpr std::int64_t kLocalBatch = 3, kSeq = 8, kSteps = 3;

// No dropout: ranks and the reference draw nothing.
models::DistilBertConfig tiny_config() { return test::tiny_distilbert(0.0, 2, 64, 16); }

struct Batch {
  Tensor ids, mask, labels;
  Batch rows(std::int64_t begin, std::int64_t count) const {
    return {ids.narrow(0, begin, count), mask.narrow(0, begin, count), labels.narrow(0, begin, count)};
  }
};

// The global batch of a step (the same on every rank): rows of random tokens, some padded.
Batch global_batch(std::int64_t step, std::int64_t rows) {
  data::SplitMix64 rng(1000 + static_cast<std::uint64_t>(step));
  std::vector<std::int64_t> ids, mask, labels;
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto len = static_cast<std::int64_t>(3 + rng.below(kSeq - 2));
    for (std::int64_t j = 0; j < kSeq; ++j) {
      ids.push_back(j < len ? static_cast<std::int64_t>(1 + rng.below(63)) : 0);
      mask.push_back(j < len ? 1 : 0);
    }
    labels.push_back(static_cast<std::int64_t>(rng.below(2)));
  }
  return {Tensor::from_vector(ids).view({rows, kSeq}), Tensor::from_vector(mask).view({rows, kSeq}),
          Tensor::from_vector(labels)};
}

double max_abs_diff(const Model& a, const Model& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  REQUIRE(pa.size() == pb.size());
  double worst = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const auto va = pa[i].second.to_vector<float>(), vb = pb[i].second.to_vector<float>();
    for (std::size_t k = 0; k < va.size(); ++k) worst = std::max(worst, std::abs(double(va[k]) - double(vb[k])));
  }
  return worst;
}

// One process on the global batches: the reference every rank computes for itself.
void train_reference(Model& model, int world_size, int micro_batches = 1) {
  optim::SGD opt(model.parameters(), {.lr = 0.5, .momentum = 0.9});
  for (std::int64_t step = 0; step < kSteps; ++step) {
    const Batch all = global_batch(step, kLocalBatch * world_size * micro_batches);
    model.forward(all.ids, all.mask, all.labels).loss.backward();
    opt.step();
    opt.zero_grad();
  }
}

// The same training data-parallel: rank r takes rows [r·B, (r+1)·B) of each micro-batch.
void train_ddp(Model& model, dist::DistributedDataParallel& ddp, int micro_batches = 1) {
  const int rank = world()->rank(), size = world()->size();
  optim::SGD opt(model.parameters(), {.lr = 0.5, .momentum = 0.9});
  for (std::int64_t step = 0; step < kSteps; ++step) {
    const Batch all = global_batch(step, kLocalBatch * size * micro_batches);
    for (int m = 0; m < micro_batches; ++m) {
      const Batch mine = all.rows((m * size + rank) * kLocalBatch, kLocalBatch);
      const auto loss = mul(model.forward(mine.ids, mine.mask, mine.labels).loss, 1.0 / micro_batches);
      if (m + 1 < micro_batches) {
        auto guard = ddp.no_sync();
        loss.backward();
      } else {
        loss.backward();
      }
    }
    opt.step();
    opt.zero_grad();
  }
}

// Rank 0's copy of every parameter equals this rank's (bit for bit).
bool ranks_agree(const Model& model) {
  bool same = true;
  for (auto& [name, p] : model.named_parameters()) {
    Tensor mine = p.contiguous();
    const auto all = world()->all_gather(mine);
    const auto v0 = all[0].to_vector<float>(), v = mine.to_vector<float>();
    same = same && v0 == v;
  }
  return same;
}

}  // namespace

TEST_CASE("ddp (a): 2 ranks x 3 steps equal one process on the global batch", "[distributed][ddp]") {
  const int rank = world()->rank(), size = world()->size();
  Generator init_ref(1234);
  Model reference(tiny_config(), init_ref);
  train_reference(reference, size);

  Generator init(1234 + static_cast<std::uint64_t>(rank));  // ranks > 0 start elsewhere: DDP broadcasts
  Model model(tiny_config(), init);
  dist::DistributedDataParallel ddp(model, world());
  CHECK(ddp.num_buckets() == 1);  // the tiny model fits one 25 MiB bucket
  {
    Generator again(1234);
    Model fresh(tiny_config(), again);
    CHECK(max_abs_diff(model, fresh) == 0.0);  // rank 0's initial weights everywhere
  }
  train_ddp(model, ddp);
  const double diff = max_abs_diff(model, reference);
  INFO("rank " << rank << " of " << size << ": max |ddp - single process| = " << diff);
  CHECK(diff <= 1e-6);
  CHECK(ranks_agree(model));
}

TEST_CASE("ddp (b): small buckets are all-reduced while backward still runs", "[distributed][ddp]") {
  const int size = world()->size();
  Generator init(1234);
  Model model(tiny_config(), init);
  std::vector<std::string> events;
  dist::DDPOptions options;
  options.bucket_cap_mb = 4096.0 / (1024 * 1024);  // 4 KiB: a few parameters per bucket
  options.on_bucket_launch = [&](std::size_t b) { events.push_back("launch " + std::to_string(b)); };
  options.on_sync_done = [&] { events.push_back("synced"); };
  dist::DistributedDataParallel ddp(model, world(), options);
  REQUIRE(ddp.num_buckets() > 3);
  // Reverse registration order: the first bucket starts with the last parameter.
  const auto params = model.parameters();
  CHECK(ddp.bucket_parameters(0).front() == params.size() - 1);
  CHECK(ddp.bucket_parameters(ddp.num_buckets() - 1).back() == 0);
  std::vector<autograd::HookHandle> hooks;  // registered after DDP's: they run after them
  for (const auto& p : params)
    hooks.push_back(autograd::register_post_accumulate_grad_hook(p, [&](const Tensor&) { events.push_back("grad"); }));

  const Batch mine = global_batch(0, kLocalBatch * size).rows(world()->rank() * kLocalBatch, kLocalBatch);
  model.forward(mine.ids, mine.mask, mine.labels).loss.backward();

  const auto first_launch = std::find(events.begin(), events.end(), "launch 0");
  const auto last_grad = std::find(events.rbegin(), events.rend(), "grad").base() - 1;
  REQUIRE(first_launch != events.end());
  CHECK(first_launch < last_grad);  // overlap: launched before backward produced the last gradient
  CHECK(events.back() == "synced");  // waited for at the end of backward
  CHECK(std::count(events.begin(), events.end(), "grad") == static_cast<long>(params.size()));
  std::vector<std::string> launches;
  for (const auto& e : events)
    if (e.starts_with("launch")) launches.push_back(e);
  REQUIRE(launches.size() == ddp.num_buckets());
  for (std::size_t b = 0; b < launches.size(); ++b) CHECK(launches[b] == "launch " + std::to_string(b));
  for (const auto& p : params) CHECK(p.grad().defined());
  model.zero_grad();
  hooks.clear();

  // Training with these buckets still matches the single process.
  Generator init_ref(1234);
  Model reference(tiny_config(), init_ref);
  train_reference(reference, size);
  Generator init2(1234);
  Model model2(tiny_config(), init2);
  dist::DDPOptions small;
  small.bucket_cap_mb = options.bucket_cap_mb;
  dist::DistributedDataParallel ddp2(model2, world(), small);
  train_ddp(model2, ddp2);
  CHECK(max_abs_diff(model2, reference) <= 1e-6);
}

TEST_CASE("ddp: no_sync accumulates locally, the next backward reduces the sum", "[distributed][ddp]") {
  const int size = world()->size();
  Generator init_ref(1234);
  Model reference(tiny_config(), init_ref);
  train_reference(reference, size, /*micro_batches=*/2);
  Generator init(1234);
  Model model(tiny_config(), init);
  int launches = 0;
  dist::DDPOptions options;
  options.on_bucket_launch = [&](std::size_t) { ++launches; };
  dist::DistributedDataParallel ddp(model, world(), options);
  train_ddp(model, ddp, /*micro_batches=*/2);
  CHECK(launches == kSteps);  // one reduction per step, none inside no_sync
  CHECK(ddp.sync_enabled());
  CHECK(max_abs_diff(model, reference) <= 1e-6);
  CHECK(ranks_agree(model));
}
