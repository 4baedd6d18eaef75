#pragma once
// What the IMDB examples share (include as "../common/imdb.hpp"). The splits: the shipped
// sample or a CSV split 70/10/20 as in the lecture, or an aclImdb folder's official 25k/25k with a
// seeded 10% validation slice of train; --limit-train / --limit-eval keep the first reviews of a
// split, --eval-limit a seeded subset of validation for the evaluations during training. And the
// evaluation pass: accuracy and mean loss of a classifier over a loader.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tinyxf/autograd/engine.hpp"
#include "tinyxf/data/dataloader.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/io/cli_numbers.hpp"
#include "tinyxf/ops/reduce.hpp"

namespace imdb_example {

// --truncation / --head-tokens against --max-length, as both examples take them: a usage error
// names a bad combination; returns the head size (-1, unset, becomes max_length / 4).
inline std::int64_t checked_head_tokens(const std::string& truncation, std::int64_t head_tokens,
                                        std::size_t max_length) {
  using tinyxf::cli::UsageError;
  if (truncation != "head" && truncation != "tail" && truncation != "head_tail")
    throw UsageError("--truncation must be head, tail or head_tail, got '" + truncation + "'");
  if (head_tokens >= 0 && truncation != "head_tail")
    throw UsageError("--head-tokens needs --truncation head_tail (got --truncation " + truncation + ")");
  if (head_tokens < 0) head_tokens = static_cast<std::int64_t>(max_length / 4);
  if (static_cast<std::size_t>(head_tokens) + 2 > max_length)
    throw UsageError("--head-tokens " + std::to_string(head_tokens) + " leaves no room: --max-length " +
                     std::to_string(max_length) + " holds at most " + std::to_string(max_length - 2) +
                     " word pieces besides [CLS] and [SEP]");
  return head_tokens;
}

struct Splits {
  std::vector<tinyxf::data::Review> train, val, test;
  std::vector<tinyxf::data::Review> val_during;  // validation during training (--eval-limit subset or all of val)
  std::string description;
};

// A fixed subset of n reviews (the first n of shuffled_indices(size, seed + 1), kept in their
// original order); all of them when n is 0 or too large.
inline std::vector<tinyxf::data::Review> seeded_subset(const std::vector<tinyxf::data::Review>& reviews,
                                                       std::size_t n, std::uint64_t seed) {
  if (n == 0 || n >= reviews.size()) return reviews;
  std::vector<std::size_t> pick = tinyxf::data::shuffled_indices(reviews.size(), seed + 1);
  pick.resize(n);
  std::sort(pick.begin(), pick.end());
  std::vector<tinyxf::data::Review> out;
  out.reserve(n);
  for (const std::size_t i : pick) out.push_back(reviews[i]);
  return out;
}

inline std::vector<tinyxf::data::Review> take_first(std::vector<tinyxf::data::Review> v, std::size_t limit) {
  if (limit > 0 && v.size() > limit) v.resize(limit);
  return v;
}

// data_path: a CSV (.csv/.csv.gz) or an aclImdb folder; empty: the shipped sample.
inline Splits load_imdb_splits(const std::string& data_path, std::uint64_t seed, std::size_t limit_train,
                               std::size_t limit_eval, std::size_t eval_limit) {
  namespace data = tinyxf::data;
  Splits s;
  const std::filesystem::path path = data_path.empty() ? data::imdb_sample_path() : std::filesystem::path(data_path);
  if (std::filesystem::is_directory(path)) {
    // aclImdb tree: the official 25k/25k, with a seeded validation slice of train.
    auto official = data::split_official(path);
    auto tv = data::train_val_split(std::move(official.train), 0.1, seed);
    s.train = std::move(tv.train);
    s.val = std::move(tv.val);
    s.test = std::move(official.test);
    s.description = "aclImdb official split from " + path.string();
  } else {
    auto splits = data::split_lecture(data::read_imdb_csv(path), seed);
    s.train = std::move(splits.train);
    s.val = std::move(splits.val);
    s.test = std::move(splits.test);
    s.description = "lecture split (70/10/20) of " + path.string();
  }
  s.train = take_first(std::move(s.train), limit_train);
  s.val = take_first(std::move(s.val), limit_eval);
  s.test = take_first(std::move(s.test), limit_eval);
  s.val_during = seeded_subset(s.val, eval_limit, seed);
  return s;
}

struct Accuracy {
  double accuracy = 0, loss = 0;  // over the reviews; loss: the mean of the batches' mean losses by size
};

// One pass over `loader` (epoch 0) without gradients: logits_and_loss(batch) returns the batch's
// {logits [B, 2], mean loss}; n is the number of reviews.
template <class Fn>
Accuracy accuracy_over(tinyxf::data::DataLoader& loader, std::size_t n, Fn&& logits_and_loss) {
  using namespace tinyxf;
  Accuracy r;
  if (n == 0) return r;
  NoGradGuard no_grad;
  loader.start_epoch(0);
  double loss_sum = 0;
  std::int64_t correct = 0;
  while (auto batch = loader.next()) {
    const auto [logits, loss] = logits_and_loss(*batch);
    loss_sum += static_cast<double>(loss.item()) * static_cast<double>(batch->size());
    correct += sum(eq(argmax(logits, 1), batch->labels).to(kInt64)).template item<std::int64_t>();
  }
  r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  r.loss = loss_sum / static_cast<double>(n);
  return r;
}

}  // namespace imdb_example
