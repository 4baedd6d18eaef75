#pragma once
// The generic data path, PyTorch's torch.utils.data in C++: a map-style dataset (anything with
// size() and get(i) or operator[](i), std::vector included), a collate function that turns a
// list of samples into a batch, and BasicDataLoader, which orders, batches and prefetches:
//
//   struct Pair { std::vector<float> x; std::int64_t y; };
//   std::vector<Pair> data = ...;
//   auto collate = [](std::vector<Pair> samples) { ...; return MyBatch{...}; };
//   data::BasicDataLoader loader(data, collate, {.batch_size = 32, .shuffle = true});
//   loader.start_epoch(epoch);
//   while (auto batch = loader.next()) ...
//
// Orders: seeded shuffling (a new order each epoch from seed + epoch, so a resumed run sees the
// same order), Hugging Face's group_by_length and sorting by length (both need the samples'
// lengths: from the collate function's lengths(dataset) member, or set_lengths()). A worker
// thread collates the next batches while the model computes. A batch type with an `indices`
// member gets the dataset index of each row. Text classification is one instance
// (data/dataloader.hpp: TokenizingCollator, DataLoader).
#include <algorithm>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/data/distributed_sampler.hpp"
#include "tinyxf/data/shuffle.hpp"

namespace tinyxf::data {

// A map-style dataset: a size and random access by index.
template <class D>
concept MapDataset = requires(const D& d, std::size_t i) {
  { d.size() } -> std::convertible_to<std::size_t>;
} && (requires(const D& d, std::size_t i) { d.get(i); } || requires(const D& d, std::size_t i) { d[i]; });

template <MapDataset D>
decltype(auto) dataset_get(const D& d, std::size_t i) {
  if constexpr (requires { d.get(i); }) return d.get(i);
  else return d[i];
}

template <MapDataset D>
using sample_of = std::remove_cvref_t<decltype(dataset_get(std::declval<const D&>(), std::size_t{0}))>;

// Hugging Face's get_length_grouped_indices (trainer_pt_utils.py) with the batch order shuffled:
// shuffled_indices(n, seed), cut into mega-batches of mega_batch_mult x batch_size (0: HF's
// min(n / (4 x batch_size), 50), at least 1), each stably sorted by length, longest first, and
// cut into batches of batch_size (only the very last batch can be short: it stays last). The full
// batches are put in the order shuffled_indices(full batches, a seed derived from seed); with
// longest_first the full batch holding the longest sample (the first such) is swapped to the
// front, and when the longest sample is in the short last batch instead, it trades places with
// the first batch's first sample (HF's swap of the longest element into position 0), so the first
// batch always holds the longest sample (an out-of-memory shows at once).
inline std::vector<std::size_t> length_grouped_indices(std::span<const std::size_t> lengths, std::size_t batch_size,
                                                       std::uint64_t seed, std::size_t mega_batch_mult = 0,
                                                       bool longest_first = true) {
  TINYXF_CHECK_AS(ValueError, batch_size > 0, "length_grouped_indices: batch_size must be > 0");
  const std::size_t n = lengths.size();
  // n / 4 / batch_size is n / (4 x batch_size) without the product, which can overflow.
  if (mega_batch_mult == 0) mega_batch_mult = std::clamp<std::size_t>(n / 4 / batch_size, 1, 50);
  // A mega-batch larger than the data is the whole data; bounding it first keeps the product from
  // overflowing (a wrapped size of 0 would never advance).
  const std::size_t mega = mega_batch_mult > n / batch_size ? std::max<std::size_t>(n, 1) : mega_batch_mult * batch_size;
  std::vector<std::size_t> indices = shuffled_indices(n, seed);
  const auto longer = [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; };
  for (std::size_t begin = 0; begin < n; begin += mega)
    std::stable_sort(indices.begin() + static_cast<std::ptrdiff_t>(begin),
                     indices.begin() + static_cast<std::ptrdiff_t>(std::min(n, begin + mega)), longer);
  const std::size_t full = n / batch_size;
  if (full < 1) return indices;  // a single (short) batch
  std::vector<std::size_t> batch_order = shuffled_indices(full, SplitMix64(seed ^ 0x6c656e677468ULL).next());
  if (longest_first && full >= 2) {
    // The first element of a batch is its longest.
    const auto top = std::max_element(batch_order.begin(), batch_order.end(), [&](std::size_t a, std::size_t b) {
      return lengths[indices[a * batch_size]] < lengths[indices[b * batch_size]] ||
             (lengths[indices[a * batch_size]] == lengths[indices[b * batch_size]] && a > b);
    });
    std::iter_swap(batch_order.begin(), top);
  }
  std::vector<std::size_t> out;
  out.reserve(n);
  for (const std::size_t b : batch_order)
    out.insert(out.end(), indices.begin() + static_cast<std::ptrdiff_t>(b * batch_size),
               indices.begin() + static_cast<std::ptrdiff_t>((b + 1) * batch_size));
  const auto tail = out.insert(out.end(), indices.begin() + static_cast<std::ptrdiff_t>(full * batch_size), indices.end());
  if (longest_first && tail != out.end() && lengths[*tail] > lengths[out.front()]) {
    // The short last batch (its first sample is its longest) holds the longest sample: HF's swap.
    std::iter_swap(out.begin(), tail);
    std::stable_sort(tail, out.end(), longer);  // the last batch stays sorted, longest first
  }
  return out;
}

// 0, 1, ..., n-1 stably sorted by length, longest first (the evaluation order).
inline std::vector<std::size_t> sorted_by_length_indices(std::span<const std::size_t> lengths) {
  std::vector<std::size_t> order(lengths.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });
  return order;
}

// How a loader orders and batches; nothing here depends on what the samples are.
struct LoaderOptions {
  std::size_t batch_size = 16;
  bool shuffle = true;
  std::uint64_t seed = 42;
  bool drop_last = false;
  // Training order by length (needs shuffle): Hugging Face's group_by_length. The shuffled
  // indices are cut into mega-batches of mega_batch_mult x batch_size, each sorted by length
  // (longest first) and cut into batches; the batches are then shuffled, and with longest_first
  // the first batch holds the longest sample (length_grouped_indices).
  bool group_by_length = false;
  std::size_t mega_batch_mult = 0;  // 0: Hugging Face's default min(n / (4 x batch), 50), at least 1
  bool longest_first = true;
  // Evaluation order (needs shuffle off): longest samples first, ties in dataset order.
  bool sort_by_length = false;
  std::size_t prefetch_batches = 2;  // 0: collate on the caller's thread
  // Data-parallel sharding (DistributedSampler): with num_replicas > 1 the loader yields only
  // rank's share of each epoch's order (every num_replicas-th index from rank; padded by
  // repetition to equal shares, or cut with drop_uneven; with even_shards off, neither: the
  // shares differ by at most one sample, as evaluation wants).
  std::size_t num_replicas = 1;
  std::size_t rank = 0;
  bool drop_uneven = false;
  bool even_shards = true;
};

// Batches of `dataset` (held by reference: it must outlive the loader) made by
// collate(std::vector<Sample>) in the order of LoaderOptions, `prefetch_batches` ahead on a
// worker thread.
template <MapDataset Dataset, class Collate>
class BasicDataLoader {
 public:
  using Sample = sample_of<Dataset>;
  using Batch = std::invoke_result_t<const Collate&, std::vector<Sample>>;
  static constexpr std::size_t kMaxBatchSize = std::size_t{1} << 20;
  static constexpr std::size_t kMaxPrefetchBatches = 1024;

  BasicDataLoader(const Dataset& dataset, Collate collate, LoaderOptions options)
      : data_(&dataset), collate_(std::move(collate)), opt_(options) {
    // Bounded so that batch x sample size (one batch's buffers) cannot overflow.
    TINYXF_CHECK_AS(ValueError, opt_.batch_size > 0 && opt_.batch_size <= kMaxBatchSize, "DataLoader: batch_size ",
                 opt_.batch_size, " must be in [1, ", kMaxBatchSize, "]");
    TINYXF_CHECK_AS(ValueError, opt_.prefetch_batches <= kMaxPrefetchBatches, "DataLoader: prefetch_batches ", opt_.prefetch_batches,
                 " exceeds the limit of ", kMaxPrefetchBatches);
    TINYXF_CHECK_AS(ValueError, !opt_.group_by_length || opt_.shuffle,
                 "DataLoader: group_by_length orders shuffled training batches; it needs shuffle (for a fixed "
                 "order by length use sort_by_length)");
    TINYXF_CHECK_AS(ValueError, !opt_.sort_by_length || !opt_.shuffle, "DataLoader: sort_by_length and shuffle exclude each other");
    TINYXF_CHECK_AS(ValueError, opt_.num_replicas > 0 && opt_.rank < opt_.num_replicas, "DataLoader: rank ", opt_.rank,
                    " outside 0..", opt_.num_replicas, " replicas");
    TINYXF_CHECK_AS(ValueError, opt_.mega_batch_mult <= kMaxBatchSize, "DataLoader: mega_batch_mult ", opt_.mega_batch_mult,
                 " exceeds the limit of ", kMaxBatchSize);
  }
  ~BasicDataLoader() { stop(); }
  BasicDataLoader(const BasicDataLoader&) = delete;
  BasicDataLoader& operator=(const BasicDataLoader&) = delete;

  // Batches per epoch (of this rank's share when sharded).
  std::size_t size() const {
    const std::size_t n = num_epoch_samples(), b = opt_.batch_size;
    return opt_.drop_last ? n / b : (n + b - 1) / b;
  }
  std::size_t num_samples() const { return data_->size(); }
  // Samples per epoch on this rank (num_samples() unless sharded).
  std::size_t num_epoch_samples() const {
    if (opt_.num_replicas == 1) return data_->size();
    if (!opt_.even_shards)
      return data_->size() / opt_.num_replicas + (opt_.rank < data_->size() % opt_.num_replicas ? 1 : 0);
    return shard_size(data_->size(), opt_.num_replicas, opt_.drop_uneven);
  }
  const Dataset& dataset() const { return *data_; }
  const Collate& collate_fn() const { return collate_; }

  // The order of an epoch (dataset indices; batch i is elements [i·batch, (i+1)·batch)):
  // shuffled_indices(n, seed + epoch) when shuffling, length_grouped_indices(lengths, batch,
  // seed + epoch, ...) with group_by_length, sorted_by_length_indices with sort_by_length, else
  // 0..n-1; sharded, this rank's share of it (shard_order).
  std::vector<std::size_t> epoch_order(std::uint64_t epoch) {
    if (opt_.num_replicas == 1) return global_epoch_order(epoch);
    return shard_order(global_epoch_order(epoch), opt_.num_replicas, opt_.rank, opt_.drop_uneven, opt_.even_shards);
  }
  // The order of an epoch over the whole dataset (the same on every rank).
  std::vector<std::size_t> global_epoch_order(std::uint64_t epoch) {
    if (opt_.group_by_length)
      return length_grouped_indices(lengths(), opt_.batch_size, opt_.seed + epoch, opt_.mega_batch_mult,
                                    opt_.longest_first);
    if (opt_.sort_by_length) return sorted_by_length_indices(lengths());
    if (opt_.shuffle) return shuffled_indices(data_->size(), opt_.seed + epoch);
    std::vector<std::size_t> order(data_->size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    return order;
  }

  // Each sample's length for the length orders: set_lengths(), else the collate function's
  // lengths(dataset), asked once.
  const std::vector<std::size_t>& lengths() {
    if (lengths_.size() != data_->size()) {
      if constexpr (requires { collate_.lengths(*data_); }) {
        lengths_ = collate_.lengths(*data_);
        TINYXF_CHECK_AS(ValueError, lengths_.size() == data_->size(), "DataLoader: the collate function gave ", lengths_.size(),
                     " lengths for ", data_->size(), " samples");
      } else {
        throw ValueError("DataLoader: ordering by length needs the samples' lengths: call set_lengths() or give the "
                    "collate function a lengths(dataset) member");
      }
    }
    return lengths_;
  }
  void set_lengths(std::vector<std::size_t> lengths) {
    TINYXF_CHECK_AS(ValueError, lengths.size() == data_->size(), "DataLoader::set_lengths: ", lengths.size(), " lengths for ",
                 data_->size(), " samples");
    lengths_ = std::move(lengths);
  }

  // Starts an epoch in the order epoch_order(epoch). Batches before `skip_batches` are not
  // produced (resuming mid-epoch). next() without it starts epoch 0, as iterating a PyTorch
  // DataLoader needs no set_epoch.
  void start_epoch(std::uint64_t epoch, std::size_t skip_batches = 0) {
    stop();
    epoch_started_ = true;
    order_ = epoch_order(epoch);
    // Collate functions that draw per epoch (masked language modeling) learn which one it is.
    if constexpr (requires { collate_.set_epoch(epoch); }) collate_.set_epoch(epoch);
    next_to_make_ = skip_batches;
    next_to_take_ = skip_batches;
    if (opt_.prefetch_batches > 0) {
      stopping_ = false;
      worker_ = std::thread([this] { produce(); });
    }
  }

  // The next batch of the epoch, or nullopt at its end.
  std::optional<Batch> next() {
    if (!epoch_started_) start_epoch(0);
    if (next_to_take_ >= size()) return std::nullopt;
    if (opt_.prefetch_batches == 0) return make(next_to_take_++);
    std::unique_lock lock(mutex_);
    ready_cv_.wait(lock, [&] { return !queue_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    ++next_to_take_;
    space_cv_.notify_one();
    return b;
  }

 protected:
  const LoaderOptions& loader_options() const { return opt_; }

 private:
  Batch make(std::size_t batch_index) const {
    const std::size_t begin = batch_index * opt_.batch_size;
    const std::size_t end = std::min(begin + opt_.batch_size, order_.size());
    TINYXF_CHECK(begin < end, "DataLoader: batch ", batch_index, " lies outside the epoch's order of ", order_.size(),
                 " samples");
    std::vector<Sample> samples;
    samples.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i) samples.push_back(dataset_get(*data_, order_[i]));
    Batch batch = collate_(std::move(samples));
    if constexpr (requires { batch.indices = std::vector<std::size_t>{}; })
      batch.indices.assign(order_.begin() + static_cast<std::ptrdiff_t>(begin),
                           order_.begin() + static_cast<std::ptrdiff_t>(end));
    return batch;
  }
  void produce() {
    try {
      while (true) {
        std::size_t index;
        {
          std::unique_lock lock(mutex_);
          space_cv_.wait(lock, [&] { return stopping_ || queue_.size() < opt_.prefetch_batches; });
          if (stopping_ || next_to_make_ >= size()) return;
          index = next_to_make_++;
        }
        Batch b = make(index);
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(b));
        ready_cv_.notify_one();
      }
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
      ready_cv_.notify_all();
    }
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    space_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    queue_.clear();
    error_ = nullptr;
  }

  const Dataset* data_;
  Collate collate_;
  LoaderOptions opt_;
  std::vector<std::size_t> order_;
  std::vector<std::size_t> lengths_;
  std::size_t next_to_make_ = 0, next_to_take_ = 0;
  bool epoch_started_ = false;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable ready_cv_, space_cv_;
  std::deque<Batch> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace tinyxf::data
