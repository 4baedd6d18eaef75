#pragma once
// DataLoader for text classification: seeded shuffling (a new order each epoch, derived from
// seed and epoch so a resumed run sees the same order), batching with drop_last, and a collate
// step that tokenizes and pads to the longest sequence of the batch (dynamic padding) or to
// max_length. A background thread prepares the next batches while the model computes.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "tinyxf/core/tensor.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace tinyxf::data {

struct TextBatch {
  Tensor<std::int64_t> input_ids;       // [B, S]
  Tensor<std::int64_t> attention_mask;  // [B, S], 1 = token, 0 = padding
  Tensor<std::int64_t> labels;          // [B]
  std::int64_t size() const { return labels.defined() ? labels.shape()[0] : 0; }
  std::int64_t real_tokens = 0;         // non-padding tokens in the batch
};

struct DataLoaderOptions {
  std::size_t batch_size = 16;
  bool shuffle = true;
  std::uint64_t seed = 42;
  bool drop_last = false;
  std::size_t max_length = 512;
  text::Padding padding = text::Padding::longest;  // longest (dynamic) or max_length
  std::size_t prefetch_batches = 2;                // 0: collate on the caller's thread
  unsigned tokenizer_threads = 1;                  // threads per batch's tokenization
  Device device = Device::cpu();
};

// Tokenizes and pads one batch of reviews.
inline TextBatch collate(const std::vector<const Review*>& reviews, const text::BertTokenizer& tokenizer,
                         const DataLoaderOptions& opt) {
  std::vector<std::string_view> texts;
  texts.reserve(reviews.size());
  for (const Review* r : reviews) texts.push_back(r->text);
  text::EncodeOptions enc;
  enc.max_length = opt.max_length;
  enc.truncation = true;
  enc.padding = opt.padding == text::Padding::max_length ? text::Padding::max_length : text::Padding::longest;
  enc.invalid_utf8 = text::InvalidUtf8::replace;  // a stray byte in a review must not stop training
  auto encodings = tokenizer.encode_batch(std::span<const std::string_view>(texts), enc, opt.tokenizer_threads);
  const std::size_t B = encodings.size();
  const std::size_t S = B ? encodings.front().ids.size() : 0;
  std::vector<std::int64_t> ids(B * S), mask(B * S), labels(B);
  TextBatch batch;
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t s = 0; s < S; ++s) {
      ids[b * S + s] = encodings[b].ids[s];
      mask[b * S + s] = encodings[b].attention_mask[s];
      batch.real_tokens += encodings[b].attention_mask[s];
    }
    labels[b] = reviews[b]->label;
  }
  const auto Bi = static_cast<std::int64_t>(B), Si = static_cast<std::int64_t>(S);
  batch.input_ids = Tensor<std::int64_t>::from_vector(ids, {Bi, Si}, opt.device);
  batch.attention_mask = Tensor<std::int64_t>::from_vector(mask, {Bi, Si}, opt.device);
  batch.labels = Tensor<std::int64_t>::from_vector(labels, {Bi}, opt.device);
  return batch;
}

class DataLoader {
 public:
  static constexpr std::size_t kMaxBatchSize = std::size_t{1} << 20;
  static constexpr std::size_t kMaxPrefetchBatches = 1024;

  DataLoader(const std::vector<Review>& dataset, const text::BertTokenizer& tokenizer, DataLoaderOptions options)
      : data_(&dataset), tokenizer_(&tokenizer), opt_(options) {
    // Bounded so that batch x max_length (the id buffers of one batch) cannot overflow.
    TINYXF_CHECK(opt_.batch_size > 0 && opt_.batch_size <= kMaxBatchSize, "DataLoader: batch_size ",
                 opt_.batch_size, " must be in [1, ", kMaxBatchSize, "]");
    TINYXF_CHECK(opt_.max_length <= text::EncodeOptions::kMaxLengthLimit, "DataLoader: max_length ", opt_.max_length,
                 " exceeds the limit of ", text::EncodeOptions::kMaxLengthLimit, " tokens");
    TINYXF_CHECK(opt_.prefetch_batches <= kMaxPrefetchBatches, "DataLoader: prefetch_batches ", opt_.prefetch_batches,
                 " exceeds the limit of ", kMaxPrefetchBatches);
  }
  ~DataLoader() { stop(); }
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Batches per epoch.
  std::size_t size() const {
    const std::size_t n = data_->size(), b = opt_.batch_size;
    return opt_.drop_last ? n / b : (n + b - 1) / b;
  }
  std::size_t num_samples() const { return data_->size(); }
  const DataLoaderOptions& options() const { return opt_; }

  // Starts an epoch: the order is shuffled_indices(n, seed + epoch) when shuffling. Batches
  // before `skip_batches` are not produced (resuming mid-epoch).
  void start_epoch(std::uint64_t epoch, std::size_t skip_batches = 0) {
    stop();
    order_ = opt_.shuffle ? shuffled_indices(data_->size(), opt_.seed + epoch) : identity(data_->size());
    next_to_make_ = skip_batches;
    next_to_take_ = skip_batches;
    if (opt_.prefetch_batches > 0) {
      stopping_ = false;
      worker_ = std::thread([this] { produce(); });
    }
  }

  // The next batch of the epoch, or nullopt at its end.
  std::optional<TextBatch> next() {
    if (next_to_take_ >= size()) return std::nullopt;
    if (opt_.prefetch_batches == 0) return make(next_to_take_++);
    std::unique_lock lock(mutex_);
    ready_cv_.wait(lock, [&] { return !queue_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
    TextBatch b = std::move(queue_.front());
    queue_.pop_front();
    ++next_to_take_;
    space_cv_.notify_one();
    return b;
  }

 private:
  static std::vector<std::size_t> identity(std::size_t n) {
    std::vector<std::size_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = i;
    return v;
  }
  TextBatch make(std::size_t batch_index) const {
    const std::size_t begin = batch_index * opt_.batch_size;
    const std::size_t end = std::min(begin + opt_.batch_size, order_.size());
    std::vector<const Review*> items;
    for (std::size_t i = begin; i < end; ++i) items.push_back(&(*data_)[order_[i]]);
    return collate(items, *tokenizer_, opt_);
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
        TextBatch b = make(index);
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

  const std::vector<Review>* data_;
  const text::BertTokenizer* tokenizer_;
  DataLoaderOptions opt_;
  std::vector<std::size_t> order_;
  std::size_t next_to_make_ = 0, next_to_take_ = 0;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable ready_cv_, space_cv_;
  std::deque<TextBatch> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace tinyxf::data
