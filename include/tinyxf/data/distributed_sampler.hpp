#pragma once
// DistributedSampler: the share of one rank of a data-parallel job (PyTorch's
// torch.utils.data.DistributedSampler). Every rank computes the same epoch order (seeded
// shuffled_indices(n, seed + epoch), so set_epoch reshuffles identically everywhere), pads it by
// repeating its beginning to a multiple of num_replicas (or, with drop_last, cuts it to one), and
// takes every num_replicas-th index starting at its rank: the shards are disjoint except for the
// padding, cover the dataset, and have equal lengths, so every rank runs the same number of
// steps (a rank that ran out would leave the others waiting in a collective). Needs no MPI: the
// rank and replica count come from the caller (distributed::launch_env() or a ProcessGroup).
// BasicDataLoader takes the same sharding through LoaderOptions::num_replicas / rank.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/data/shuffle.hpp"

namespace tinyxf::data {

// The samples per rank: ceil(n / replicas), or floor with drop_last.
inline std::size_t shard_size(std::size_t n, std::size_t num_replicas, bool drop_last) {
  TINYXF_CHECK_AS(ValueError, num_replicas > 0, "DistributedSampler: num_replicas must be > 0");
  // ceil without n + num_replicas - 1, which wraps for a huge num_replicas.
  return n / num_replicas + (!drop_last && n % num_replicas != 0 ? 1 : 0);
}

// rank's share of `order` (a whole epoch's order, the same on every rank). Unpadded (even =
// false), the shares differ by at most one index and hold each index once (evaluation, where
// every sample counts once and no collective runs per batch).
inline std::vector<std::size_t> shard_order(const std::vector<std::size_t>& order, std::size_t num_replicas,
                                            std::size_t rank, bool drop_last, bool even = true) {
  TINYXF_CHECK_AS(ValueError, num_replicas > 0 && rank < num_replicas, "DistributedSampler: rank ", rank,
                  " outside 0..", num_replicas, " replicas");
  // Positions are rank + i x num_replicas below the end (counted, not stepped: k += num_replicas
  // could wrap past SIZE_MAX and start over).
  if (!even) {
    const std::size_t count = order.size() / num_replicas + (rank < order.size() % num_replicas ? 1 : 0);
    std::vector<std::size_t> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) out.push_back(order[rank + i * num_replicas]);
    return out;
  }
  const std::size_t per_rank = shard_size(order.size(), num_replicas, drop_last);
  TINYXF_CHECK_AS(ValueError, !order.empty() || per_rank == 0, "DistributedSampler: empty dataset");
  std::vector<std::size_t> out;
  out.reserve(per_rank);
  for (std::size_t i = 0; i < per_rank; ++i) out.push_back(order[(rank + i * num_replicas) % order.size()]);  // padding wraps
  return out;
}

class DistributedSampler {
 public:
  DistributedSampler(std::size_t dataset_size, std::size_t num_replicas, std::size_t rank, bool shuffle = true,
                     std::uint64_t seed = 0, bool drop_last = false)
      : n_(dataset_size), replicas_(num_replicas), rank_(rank), shuffle_(shuffle), seed_(seed), drop_last_(drop_last) {
    TINYXF_CHECK_AS(ValueError, num_replicas > 0 && rank < num_replicas, "DistributedSampler: rank ", rank,
                    " outside 0..", num_replicas, " replicas");
  }
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  std::uint64_t epoch() const { return epoch_; }
  // Indices per rank and epoch (the same on every rank).
  std::size_t size() const { return shard_size(n_, replicas_, drop_last_); }
  // This rank's dataset indices for the current epoch.
  std::vector<std::size_t> indices() const {
    std::vector<std::size_t> order;
    if (shuffle_) {
      order = shuffled_indices(n_, seed_ + epoch_);
    } else {
      order.resize(n_);
      for (std::size_t i = 0; i < n_; ++i) order[i] = i;
    }
    return shard_order(order, replicas_, rank_, drop_last_);
  }

 private:
  std::size_t n_, replicas_, rank_;
  bool shuffle_;
  std::uint64_t seed_;
  bool drop_last_;
  std::uint64_t epoch_ = 0;
};

}  // namespace tinyxf::data
