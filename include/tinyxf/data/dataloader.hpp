#pragma once
// DataLoader for text classification: seeded shuffling (a new order each epoch, derived from
// seed and epoch so a resumed run sees the same order), batching with drop_last, and a collate
// step that tokenizes and pads to the longest sequence of the batch (dynamic padding) or to
// max_length. A background thread prepares the next batches while the model computes.
// Length-aware orders (docs/data.md, "Batching by length"): group_by_length (Hugging Face's
// LengthGroupedSampler, for training) and sort_by_length (evaluation, results put back in the
// dataset's order by the caller through TextBatch::indices).
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
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
  std::vector<std::size_t> indices;     // the dataset index of each row (set by DataLoader)
};

struct DataLoaderOptions {
  std::size_t batch_size = 16;
  bool shuffle = true;
  std::uint64_t seed = 42;
  bool drop_last = false;
  std::size_t max_length = 512;
  text::Truncation truncation = text::Truncation::head;  // which pieces of a long review are kept
  std::size_t head_tokens = 0;                           // with Truncation::head_tail
  text::Padding padding = text::Padding::longest;  // longest (dynamic) or max_length
  // Dynamic padding rounds each batch's length up to a multiple of this (at most max_length);
  // 0 or 1: no rounding (Hugging Face's DataCollatorWithPadding pad_to_multiple_of).
  std::size_t pad_to_multiple_of = 0;
  // Training order by length (needs shuffle): Hugging Face's group_by_length. The shuffled
  // indices are cut into mega-batches of mega_batch_mult x batch_size, each sorted by length
  // (longest first) and cut into batches; the batches are then shuffled, and with longest_first
  // the full batch holding the longest review goes first.
  bool group_by_length = false;
  std::size_t mega_batch_mult = 0;  // 0: Hugging Face's default min(n / (4 x batch), 50), at least 1
  bool longest_first = true;
  // Evaluation order (needs shuffle off): longest reviews first, ties in dataset order.
  bool sort_by_length = false;
  std::size_t prefetch_batches = 2;                // 0: collate on the caller's thread
  unsigned tokenizer_threads = 1;                  // threads per batch's tokenization
  Device device = Device::cpu();
};

inline text::EncodeOptions encode_options(const DataLoaderOptions& opt) {
  text::EncodeOptions enc;
  enc.max_length = opt.max_length;
  enc.truncation = true;
  enc.truncation_side = opt.truncation;
  enc.head_tokens = opt.head_tokens;
  enc.padding = opt.padding == text::Padding::max_length ? text::Padding::max_length : text::Padding::longest;
  enc.invalid_utf8 = text::InvalidUtf8::replace;  // a stray byte in a review must not stop training
  return enc;
}

// The padded length of a batch whose longest sequence has `longest` tokens.
inline std::size_t padded_length(std::size_t longest, const DataLoaderOptions& opt) {
  if (opt.padding == text::Padding::max_length) return std::max(longest, opt.max_length);
  const std::size_t m = opt.pad_to_multiple_of;
  if (m <= 1 || longest % m == 0) return longest;
  return std::max(longest, std::min((longest / m + 1) * m, opt.max_length));
}

// Tokenizes and pads one batch of reviews.
inline TextBatch collate(const std::vector<const Review*>& reviews, const text::BertTokenizer& tokenizer,
                         const DataLoaderOptions& opt) {
  std::vector<std::string_view> texts;
  texts.reserve(reviews.size());
  for (const Review* r : reviews) texts.push_back(r->text);
  auto encodings =
      tokenizer.encode_batch(std::span<const std::string_view>(texts), encode_options(opt), opt.tokenizer_threads);
  const std::size_t B = encodings.size();
  const std::size_t longest = B ? encodings.front().ids.size() : 0;
  const std::size_t S = B ? padded_length(longest, opt) : 0;
  std::vector<std::int64_t> ids(B * S, tokenizer.vocab().special_ids().pad), mask(B * S, 0), labels(B);
  TextBatch batch;
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t s = 0; s < longest; ++s) {
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

// Token count of every review after truncation to max_length, [CLS] and [SEP] included (what
// collate gives before padding; the truncation side does not change it). Reads each review only
// up to the window.
inline std::vector<std::size_t> token_lengths(const std::vector<Review>& dataset, const text::BertTokenizer& tokenizer,
                                              std::size_t max_length, unsigned threads = 1) {
  text::EncodeOptions enc;
  enc.max_length = max_length;
  enc.invalid_utf8 = text::InvalidUtf8::replace;
  std::vector<std::size_t> lengths;
  lengths.reserve(dataset.size());
  constexpr std::size_t kChunk = 1024;  // bounds the memory of the encodings
  std::vector<std::string_view> texts;
  for (std::size_t begin = 0; begin < dataset.size(); begin += kChunk) {
    texts.clear();
    for (std::size_t i = begin; i < std::min(dataset.size(), begin + kChunk); ++i) texts.push_back(dataset[i].text);
    for (const text::Encoding& e : tokenizer.encode_batch(std::span<const std::string_view>(texts), enc, threads))
      lengths.push_back(e.ids.size());
  }
  return lengths;
}

// Hugging Face's get_length_grouped_indices (trainer_pt_utils.py) with the batch order shuffled:
// shuffled_indices(n, seed), cut into mega-batches of mega_batch_mult x batch_size (0: HF's
// min(n / (4 x batch_size), 50), at least 1), each stably sorted by length, longest first, and
// cut into batches of batch_size (only the very last batch can be short: it stays last). The full
// batches are put in the order shuffled_indices(full batches, a seed derived from seed); with
// longest_first the full batch holding the longest review (the first such) is swapped to the
// front, as HF puts the longest element first (an out-of-memory shows at once).
inline std::vector<std::size_t> length_grouped_indices(std::span<const std::size_t> lengths, std::size_t batch_size,
                                                       std::uint64_t seed, std::size_t mega_batch_mult = 0,
                                                       bool longest_first = true) {
  TINYXF_CHECK_AS(ValueError, batch_size > 0, "length_grouped_indices: batch_size must be > 0");
  const std::size_t n = lengths.size();
  if (mega_batch_mult == 0) mega_batch_mult = std::clamp<std::size_t>(n / (4 * batch_size), 1, 50);
  const std::size_t mega = mega_batch_mult * batch_size;
  std::vector<std::size_t> indices = shuffled_indices(n, seed);
  const auto longer = [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; };
  for (std::size_t begin = 0; begin < n; begin += mega)
    std::stable_sort(indices.begin() + static_cast<std::ptrdiff_t>(begin),
                     indices.begin() + static_cast<std::ptrdiff_t>(std::min(n, begin + mega)), longer);
  const std::size_t full = n / batch_size;
  if (full < 2) return indices;
  std::vector<std::size_t> batch_order = shuffled_indices(full, SplitMix64(seed ^ 0x6c656e677468ULL).next());
  if (longest_first) {
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
  out.insert(out.end(), indices.begin() + static_cast<std::ptrdiff_t>(full * batch_size), indices.end());
  return out;
}

// 0, 1, ..., n-1 stably sorted by length, longest first (the evaluation order).
inline std::vector<std::size_t> sorted_by_length_indices(std::span<const std::size_t> lengths) {
  std::vector<std::size_t> order(lengths.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });
  return order;
}

// Tokens in the padded batches of an order: real ones and all (B x S summed).
struct PaddingStats {
  std::int64_t real_tokens = 0, batch_tokens = 0;
  double padding_fraction() const {
    return batch_tokens > 0 ? 1.0 - static_cast<double>(real_tokens) / static_cast<double>(batch_tokens) : 0.0;
  }
};

// The padded size B x S of every batch when `order` is cut into batches (drop_last as given).
inline std::vector<std::int64_t> batch_token_counts(std::span<const std::size_t> order,
                                                    std::span<const std::size_t> lengths,
                                                    const DataLoaderOptions& opt) {
  std::vector<std::int64_t> out;
  const std::size_t b = opt.batch_size;
  for (std::size_t begin = 0; begin < order.size(); begin += b) {
    const std::size_t end = std::min(order.size(), begin + b);
    if (end - begin < b && opt.drop_last) break;
    std::size_t longest = 0;
    for (std::size_t i = begin; i < end; ++i) longest = std::max(longest, lengths[order[i]]);
    out.push_back(static_cast<std::int64_t>((end - begin) * padded_length(longest, opt)));
  }
  return out;
}

inline PaddingStats padding_stats(std::span<const std::size_t> order, std::span<const std::size_t> lengths,
                                  const DataLoaderOptions& opt) {
  PaddingStats stats;
  for (const std::int64_t t : batch_token_counts(order, lengths, opt)) stats.batch_tokens += t;
  const std::size_t used = opt.drop_last ? order.size() / opt.batch_size * opt.batch_size : order.size();
  for (std::size_t i = 0; i < used; ++i) stats.real_tokens += static_cast<std::int64_t>(lengths[order[i]]);
  return stats;
}

class DataLoader {
 public:
  static constexpr std::size_t kMaxBatchSize = std::size_t{1} << 20;
  static constexpr std::size_t kMaxPrefetchBatches = 1024;

  DataLoader(const std::vector<Review>& dataset, const text::BertTokenizer& tokenizer, DataLoaderOptions options)
      : data_(&dataset), tokenizer_(&tokenizer), opt_(options) {
    // Bounded so that batch x max_length (the id buffers of one batch) cannot overflow.
    TINYXF_CHECK_AS(ValueError, opt_.batch_size > 0 && opt_.batch_size <= kMaxBatchSize, "DataLoader: batch_size ",
                    opt_.batch_size, " must be in [1, ", kMaxBatchSize, "]");
    TINYXF_CHECK_AS(ValueError, opt_.max_length <= text::EncodeOptions::kMaxLengthLimit, "DataLoader: max_length ",
                    opt_.max_length, " exceeds the limit of ", text::EncodeOptions::kMaxLengthLimit, " tokens");
    TINYXF_CHECK_AS(ValueError, opt_.prefetch_batches <= kMaxPrefetchBatches, "DataLoader: prefetch_batches ",
                    opt_.prefetch_batches, " exceeds the limit of ", kMaxPrefetchBatches);
    TINYXF_CHECK_AS(ValueError, !opt_.group_by_length || opt_.shuffle,
                    "DataLoader: group_by_length orders shuffled training batches; it needs shuffle (for a fixed "
                    "order by length use sort_by_length)");
    TINYXF_CHECK_AS(ValueError, !opt_.sort_by_length || !opt_.shuffle,
                    "DataLoader: sort_by_length and shuffle exclude each other");
    TINYXF_CHECK_AS(ValueError, opt_.mega_batch_mult <= kMaxBatchSize, "DataLoader: mega_batch_mult ",
                    opt_.mega_batch_mult, " exceeds the limit of ", kMaxBatchSize);
    TINYXF_CHECK_AS(ValueError,
                    opt_.truncation != text::Truncation::head_tail ||
                        (opt_.max_length >= 2 && opt_.head_tokens <= opt_.max_length - 2),
                    "DataLoader: head_tokens ", opt_.head_tokens, " exceeds max_length ", opt_.max_length,
                    " minus [CLS] and [SEP]");
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

  // The order of an epoch (dataset indices; batch i is elements [i·batch, (i+1)·batch)):
  // shuffled_indices(n, seed + epoch) when shuffling, length_grouped_indices(lengths, batch,
  // seed + epoch, ...) with group_by_length, sorted_by_length_indices with sort_by_length, else
  // 0..n-1.
  std::vector<std::size_t> epoch_order(std::uint64_t epoch) {
    if (opt_.group_by_length)
      return length_grouped_indices(lengths(), opt_.batch_size, opt_.seed + epoch, opt_.mega_batch_mult,
                                    opt_.longest_first);
    if (opt_.sort_by_length) return sorted_by_length_indices(lengths());
    return opt_.shuffle ? shuffled_indices(data_->size(), opt_.seed + epoch) : identity(data_->size());
  }

  // Token count of each review after truncation (token_lengths), computed on first use.
  const std::vector<std::size_t>& lengths() {
    if (lengths_.size() != data_->size())
      lengths_ = token_lengths(*data_, *tokenizer_, opt_.max_length, std::max(1u, opt_.tokenizer_threads));
    return lengths_;
  }

  // Padded batch sizes B x S of an epoch, and its padding, without tokenizing it again.
  std::vector<std::int64_t> batch_token_counts(std::uint64_t epoch) {
    const std::vector<std::size_t> order = epoch_order(epoch);
    return data::batch_token_counts(order, lengths(), opt_);
  }
  PaddingStats padding_stats(std::uint64_t epoch) {
    const std::vector<std::size_t> order = epoch_order(epoch);
    return data::padding_stats(order, lengths(), opt_);
  }

  // Starts an epoch in the order epoch_order(epoch). Batches before `skip_batches` are not
  // produced (resuming mid-epoch).
  void start_epoch(std::uint64_t epoch, std::size_t skip_batches = 0) {
    stop();
    order_ = epoch_order(epoch);
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
    TextBatch batch = collate(items, *tokenizer_, opt_);
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
  std::vector<std::size_t> lengths_;
  std::size_t next_to_make_ = 0, next_to_take_ = 0;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable ready_cv_, space_cv_;
  std::deque<TextBatch> queue_;
  std::exception_ptr error_;
  bool stopping_ = false;
};

}  // namespace tinyxf::data
