// (d) DistributedSampler and the DataLoader's sharding: disjoint shards that cover the dataset,
// padding to equal lengths (torch's), drop_last, a new shuffle per epoch that every rank agrees
// on, and BasicDataLoader yielding a rank's share.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "tinyxf/data/distributed_sampler.hpp"
#include "tinyxf/data/loader.hpp"

using namespace tinyxf;

namespace {
std::vector<std::vector<std::size_t>> shards(std::size_t n, std::size_t replicas, std::uint64_t epoch,
                                             bool shuffle = true, bool drop_last = false) {
  std::vector<std::vector<std::size_t>> out;
  for (std::size_t r = 0; r < replicas; ++r) {
    data::DistributedSampler s(n, replicas, r, shuffle, /*seed=*/7, drop_last);
    s.set_epoch(epoch);
    out.push_back(s.indices());
    CHECK(out.back().size() == s.size());
  }
  return out;
}
}  // namespace

TEST_CASE("DistributedSampler: disjoint shards covering the dataset", "[distributed][sampler]") {
  for (std::size_t replicas : {1, 2, 3, 4}) {
    const auto s = shards(12, replicas, 0);
    std::multiset<std::size_t> all;
    for (const auto& shard : s) {
      CHECK(shard.size() == 12 / replicas);
      all.insert(shard.begin(), shard.end());
    }
    CHECK(all.size() == 12);
    CHECK(std::set<std::size_t>(all.begin(), all.end()).size() == 12);  // disjoint, and cover 0..11
    CHECK(*all.rbegin() == 11);
  }
}

TEST_CASE("DistributedSampler: padding repeats the beginning, drop_last cuts", "[distributed][sampler]") {
  // torch: 10 samples, 4 replicas, no shuffle -> [0 4 8], [1 5 9], [2 6 0], [3 7 1]
  const auto s = shards(10, 4, 0, /*shuffle=*/false);
  CHECK(s[0] == std::vector<std::size_t>{0, 4, 8});
  CHECK(s[1] == std::vector<std::size_t>{1, 5, 9});
  CHECK(s[2] == std::vector<std::size_t>{2, 6, 0});
  CHECK(s[3] == std::vector<std::size_t>{3, 7, 1});
  const auto cut = shards(10, 4, 0, false, /*drop_last=*/true);
  CHECK(cut[0] == std::vector<std::size_t>{0, 4});
  CHECK(cut[3] == std::vector<std::size_t>{3, 7});
  // More replicas than samples: the padding wraps around more than once.
  const auto tiny = shards(2, 5, 0, false);
  CHECK(tiny[4] == std::vector<std::size_t>{0});
  CHECK_THROWS_AS(data::DistributedSampler(10, 2, 2), ValueError);
}

TEST_CASE("DistributedSampler: set_epoch reshuffles, identically on every rank", "[distributed][sampler]") {
  const auto e0 = shards(100, 2, 0), e0_again = shards(100, 2, 0), e1 = shards(100, 2, 1);
  CHECK(e0 == e0_again);
  CHECK(e0 != e1);
  std::vector<std::size_t> sorted0 = e0[0];
  std::sort(sorted0.begin(), sorted0.end());
  CHECK(sorted0 != e0[0]);  // shuffled
  // Each epoch's union is still the whole dataset.
  std::set<std::size_t> all(e1[0].begin(), e1[0].end());
  all.insert(e1[1].begin(), e1[1].end());
  CHECK(all.size() == 100);
}

TEST_CASE("BasicDataLoader with num_replicas/rank yields the rank's shard", "[distributed][sampler]") {
  std::vector<int> dataset(11);
  for (int i = 0; i < 11; ++i) dataset[static_cast<std::size_t>(i)] = i;
  const auto collate = [](std::vector<int> xs) { return xs; };
  std::multiset<int> seen;
  for (std::size_t rank = 0; rank < 2; ++rank) {
    data::BasicDataLoader loader(dataset, collate,
                                 {.batch_size = 4, .shuffle = true, .seed = 3, .num_replicas = 2, .rank = rank});
    CHECK(loader.num_epoch_samples() == 6);
    CHECK(loader.size() == 2);  // 6 samples in batches of 4
    data::DistributedSampler sampler(11, 2, rank, true, 3);
    sampler.set_epoch(5);
    CHECK(loader.epoch_order(5) == sampler.indices());
    loader.start_epoch(5);
    while (auto batch = loader.next()) seen.insert(batch->begin(), batch->end());
  }
  CHECK(seen.size() == 12);  // 11 samples + 1 padding
  CHECK(std::set<int>(seen.begin(), seen.end()).size() == 11);
}

TEST_CASE("uneven shards (evaluation): each sample once, shares differ by at most one", "[distributed][sampler]") {
  std::vector<int> dataset(11);
  std::multiset<int> seen;
  for (std::size_t rank = 0; rank < 3; ++rank) {
    data::BasicDataLoader loader(dataset, [](std::vector<int> xs) { return xs; },
                                 {.batch_size = 2, .shuffle = false, .prefetch_batches = 0, .num_replicas = 3,
                                  .rank = rank, .even_shards = false});
    CHECK(loader.num_epoch_samples() == (rank < 2 ? 4u : 3u));
    const auto order = loader.epoch_order(0);
    CHECK(order.size() == loader.num_epoch_samples());
    for (auto i : order) seen.insert(static_cast<int>(i));
  }
  CHECK(seen.size() == 11);
  CHECK(std::set<int>(seen.begin(), seen.end()).size() == 11);
}

TEST_CASE("shard_size and shard_order: a huge replica count does not wrap", "[distributed][sampler]") {
  // ceil(5 / SIZE_MAX) is 1; (n + replicas - 1) / replicas wrapped to 0.
  CHECK(data::shard_size(5, SIZE_MAX, false) == 1);
  CHECK(data::shard_size(5, (std::size_t{1} << 63) + 1, false) == 1);
  CHECK(data::shard_size(5, SIZE_MAX, true) == 0);
  CHECK(data::shard_size(10, 4, false) == 3);
  CHECK(data::shard_size(0, 4, false) == 0);
  const std::vector<std::size_t> order{10, 11, 12, 13, 14};
  CHECK(data::shard_order(order, SIZE_MAX, 3, false) == std::vector<std::size_t>{13});
  CHECK(data::shard_order(order, SIZE_MAX, 7, false) == std::vector<std::size_t>{12});  // padding: 7 % 5
  // Uneven shares: stepping by SIZE_MAX used to wrap around and take 12, 11, 10 after 13.
  CHECK(data::shard_order(order, SIZE_MAX, 3, false, /*even=*/false) == std::vector<std::size_t>{13});
  CHECK(data::shard_order(order, SIZE_MAX, 7, false, /*even=*/false).empty());
  CHECK(data::shard_order(order, 2, 1, false, /*even=*/false) == std::vector<std::size_t>{11, 13});
}
