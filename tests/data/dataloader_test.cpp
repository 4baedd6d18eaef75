// DataLoader: batches prepared on the prefetch thread equal those made on the caller's thread,
// epochs can be abandoned and restarted mid-way, worker errors reach the caller, and the sizes
// are bounded. Also run under ThreadSanitizer (scripts/ci-extra.sh).
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "tinyxf/data/dataloader.hpp"
#include "tinyxf/tensor.hpp"  // registers the cpu backend

using namespace tinyxf;
using namespace tinyxf::data;
using Catch::Matchers::Contains;

namespace {

const text::BertTokenizer& tokenizer() {
  static const text::BertTokenizer tok = text::BertTokenizer::from_file(text::default_vocab_path());
  return tok;
}

std::vector<Review> reviews(std::size_t n) {
  std::vector<Review> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({"review number " + std::to_string(i) + std::string(i % 7, '!') + " was " +
                       (i % 2 ? "wonderful" : "dreadful"),
                   static_cast<int>(i % 2)});
  return out;
}

// Every batch of epochs 0 and 1 as (ids, mask, labels) vectors.
std::vector<std::vector<std::int64_t>> all_batches(DataLoader& loader) {
  std::vector<std::vector<std::int64_t>> out;
  for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      out.push_back(batch->input_ids.to_vector<std::int64_t>());
      out.push_back(batch->attention_mask.to_vector<std::int64_t>());
      out.push_back(batch->labels.to_vector<std::int64_t>());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("DataLoader: prefetched batches equal batches made on the caller's thread", "[data][dataloader]") {
  const auto data = reviews(53);
  DataLoaderOptions options;
  options.batch_size = 8;
  options.max_length = 16;
  options.prefetch_batches = 0;
  DataLoader inline_loader(data, tokenizer(), options);
  const auto expected = all_batches(inline_loader);
  REQUIRE(expected.size() == 2 * 7 * 3);
  for (const std::size_t prefetch : {1, 2, 5}) {
    options.prefetch_batches = prefetch;
    DataLoader loader(data, tokenizer(), options);
    CHECK(all_batches(loader) == expected);
  }
}

TEST_CASE("DataLoader: an epoch can be abandoned, restarted and skipped into", "[data][dataloader]") {
  const auto data = reviews(40);
  DataLoaderOptions options;
  options.batch_size = 4;
  options.max_length = 16;
  options.prefetch_batches = 3;
  DataLoader loader(data, tokenizer(), options);
  for (int round = 0; round < 20; ++round) {
    loader.start_epoch(static_cast<std::uint64_t>(round));  // the worker may be mid-batch: stop() joins it
    for (int taken = 0; taken < round % 4; ++taken) REQUIRE(loader.next().has_value());
  }
  loader.start_epoch(1);
  std::vector<std::int64_t> third;
  for (int i = 0; i < 3; ++i) third = loader.next()->input_ids.to_vector<std::int64_t>();
  loader.start_epoch(1, 2);  // resuming after two batches gives the third batch first
  CHECK(loader.next()->input_ids.to_vector<std::int64_t>() == third);
  {
    DataLoader abandoned(data, tokenizer(), options);
    abandoned.start_epoch(0);
    (void)abandoned.next();
  }  // destroyed while its worker is still filling the queue
}

TEST_CASE("DataLoader: an error on the worker reaches next()", "[data][dataloader]") {
  const text::BertTokenizer no_pad(text::Vocab::from_tokens({"[UNK]", "[CLS]", "[SEP]", "review"}));
  const auto data = reviews(10);
  DataLoaderOptions options;
  options.batch_size = 4;
  options.prefetch_batches = 2;
  DataLoader loader(data, no_pad, options);
  loader.start_epoch(0);
  CHECK_THROWS_WITH(loader.next(), Contains("padding needs [PAD]"));
}

TEST_CASE("DataLoader: batch size, max_length and prefetch depth are bounded", "[data][dataloader]") {
  const auto data = reviews(4);
  DataLoaderOptions options;
  options.batch_size = 0;
  CHECK_THROWS_WITH(DataLoader(data, tokenizer(), options), Contains("batch_size 0 must be in [1, 1048576]"));
  options.batch_size = std::size_t{1} << 40;
  CHECK_THROWS_WITH(DataLoader(data, tokenizer(), options), Contains("batch_size 1099511627776"));
  options.batch_size = 2;
  options.max_length = std::size_t{1} << 40;
  CHECK_THROWS_WITH(DataLoader(data, tokenizer(), options), Contains("max_length 1099511627776 exceeds the limit"));
  options.max_length = 16;
  options.prefetch_batches = 1 << 20;
  CHECK_THROWS_WITH(DataLoader(data, tokenizer(), options), Contains("prefetch_batches 1048576 exceeds the limit of 1024"));
}

// ---- length-aware orders (issue 14) -------------------------------------------------------------

namespace {

std::vector<std::size_t> pseudo_random_lengths(std::size_t n, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<std::size_t> lengths(n);
  for (auto& l : lengths) l = 3 + static_cast<std::size_t>(rng.below(250));
  return lengths;
}

// Reviews of very different lengths: review i has 1 + (i * 7) % 23 words.
std::vector<Review> ragged_reviews(std::size_t n) {
  std::vector<Review> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::string text = "review";
    for (std::size_t w = 0; w < (i * 7) % 23; ++w) text += " good";
    out.push_back({text, static_cast<int>(i % 2)});
  }
  return out;
}

}  // namespace

TEST_CASE("length_grouped_indices: every index once, sorted batches, seeded, longest first", "[data][sampler]") {
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{1001}}) {
    for (const std::size_t batch : {std::size_t{1}, std::size_t{4}, std::size_t{16}}) {
      const auto lengths = pseudo_random_lengths(n, n * 31 + batch);
      const auto order = length_grouped_indices(lengths, batch, 7);
      std::vector<std::size_t> sorted = order;
      std::sort(sorted.begin(), sorted.end());
      std::vector<std::size_t> all(n);
      for (std::size_t i = 0; i < n; ++i) all[i] = i;
      REQUIRE(sorted == all);  // a permutation: every index exactly once
      CHECK(length_grouped_indices(lengths, batch, 7) == order);  // deterministic
      // Within each batch the lengths do not increase (slices of a sorted mega-batch).
      for (std::size_t i = 0; i + 1 < n; ++i)
        if ((i + 1) % batch != 0) CHECK(lengths[order[i]] >= lengths[order[i + 1]]);
      // The first batch holds the longest review when there are at least two full batches.
      if (n / batch >= 2)
        CHECK(lengths[order[0]] == *std::max_element(lengths.begin(), lengths.end()));
    }
  }
  const auto lengths = pseudo_random_lengths(1000, 1);
  CHECK(length_grouped_indices(lengths, 8, 1) != length_grouped_indices(lengths, 8, 2));
  // Pinned: a change to the algorithm (and to the order of a seeded run) cannot go unnoticed.
  const std::vector<std::size_t> small{5, 9, 2, 7, 7, 1, 8, 3, 6, 4};
  // Mega-batches of one batch (n / (4 x 2) = 1): the pairs of shuffled_indices(10, 42) =
  // 0 9 5 8 6 4 7 2 1 3, each sorted by length, in a shuffled order; the pair holding the longest
  // (index 1, length 9) first.
  CHECK(length_grouped_indices(small, 2, 42) == std::vector<std::size_t>{1, 3, 0, 9, 6, 4, 7, 2, 8, 5});
  CHECK(length_grouped_indices(small, 2, 42, 0, false) == std::vector<std::size_t>{0, 9, 1, 3, 6, 4, 7, 2, 8, 5});
  // One mega-batch of everything: the batches are the sorted order cut in pairs, shuffled.
  const auto whole = length_grouped_indices(small, 2, 42, 5);
  std::multiset<std::pair<std::size_t, std::size_t>> pairs, expected{{1, 6}, {3, 4}, {0, 8}, {7, 9}, {2, 5}};
  for (std::size_t i = 0; i < whole.size(); i += 2)
    pairs.insert({std::min(whole[i], whole[i + 1]), std::max(whole[i], whole[i + 1])});
  CHECK(pairs == expected);
}

TEST_CASE("length_grouped_indices: Hugging Face's mega-batch size and a short last batch", "[data][sampler]") {
  // n = 103, batch 4: mega_batch_mult = min(103 / 16, 50) = 6, mega-batches of 24; the last
  // batch has 3 reviews and stays last.
  const auto lengths = pseudo_random_lengths(103, 5);
  const auto order = length_grouped_indices(lengths, 4, 3);
  const auto shuffled = shuffled_indices(103, 3);
  // The mega-batches are the shuffled order cut in 24s: the last (7 reviews) holds the short batch.
  std::vector<std::size_t> last_mega(shuffled.begin() + 96, shuffled.end());
  std::vector<std::size_t> tail(order.end() - 3, order.end());
  for (const std::size_t i : tail) CHECK(std::find(last_mega.begin(), last_mega.end(), i) != last_mega.end());
  // ... and are its three shortest.
  std::vector<std::size_t> last_lengths;
  for (const std::size_t i : last_mega) last_lengths.push_back(lengths[i]);
  std::sort(last_lengths.begin(), last_lengths.end());
  for (const std::size_t i : tail) CHECK(lengths[i] <= last_lengths[2]);
}

TEST_CASE("sorted_by_length_indices: longest first, ties in dataset order", "[data][sampler]") {
  const std::vector<std::size_t> lengths{3, 9, 3, 12, 9, 1};
  CHECK(sorted_by_length_indices(lengths) == std::vector<std::size_t>{3, 1, 4, 0, 2, 5});
}

TEST_CASE("DataLoader: group_by_length covers the data once per epoch and pads less", "[data][dataloader][sampler]") {
  const auto data = ragged_reviews(203);
  DataLoaderOptions options;
  options.batch_size = 8;
  options.max_length = 24;
  options.prefetch_batches = 2;
  options.seed = 11;
  DataLoader plain(data, tokenizer(), options);
  options.group_by_length = true;
  DataLoader grouped(data, tokenizer(), options);
  for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
    grouped.start_epoch(epoch);
    std::vector<std::size_t> seen;
    std::int64_t real = 0, total = 0;
    while (auto batch = grouped.next()) {
      REQUIRE(batch->indices.size() == static_cast<std::size_t>(batch->size()));
      const auto labels = batch->labels.to_vector<std::int64_t>();
      for (std::size_t r = 0; r < batch->indices.size(); ++r) {
        CHECK(labels[r] == data[batch->indices[r]].label);
        seen.push_back(batch->indices[r]);
      }
      real += batch->real_tokens;
      total += batch->input_ids.numel();
    }
    std::sort(seen.begin(), seen.end());
    for (std::size_t i = 0; i < data.size(); ++i) REQUIRE(seen[i] == i);
    const PaddingStats stats = grouped.padding_stats(epoch);
    CHECK(stats.real_tokens == real);  // the prediction matches the batches made
    CHECK(stats.batch_tokens == total);
    CHECK(stats.padding_fraction() < 0.5 * plain.padding_stats(epoch).padding_fraction());
    CHECK(grouped.batch_token_counts(epoch).size() == grouped.size());
  }
  CHECK(grouped.epoch_order(0) != grouped.epoch_order(1));
  // Resuming inside an epoch gives the same batches.
  grouped.start_epoch(1);
  std::vector<std::int64_t> third;
  for (int i = 0; i < 3; ++i) third = grouped.next()->input_ids.to_vector<std::int64_t>();
  grouped.start_epoch(1, 2);
  CHECK(grouped.next()->input_ids.to_vector<std::int64_t>() == third);
}

TEST_CASE("DataLoader: sort_by_length, pad_to_multiple_of and the truncation side", "[data][dataloader][sampler]") {
  auto data = ragged_reviews(40);
  data.push_back({"first words here and then " + std::string(200, 'x') + " a b c d e f g h i j k", 1});
  DataLoaderOptions options;
  options.batch_size = 6;
  options.max_length = 12;
  options.shuffle = false;
  options.sort_by_length = true;
  options.pad_to_multiple_of = 8;
  options.prefetch_batches = 0;
  DataLoader loader(data, tokenizer(), options);
  loader.start_epoch(0);
  std::int64_t previous = 1 << 30;
  std::size_t rows = 0;
  while (auto batch = loader.next()) {
    const std::int64_t S = batch->input_ids.shape()[1];
    CHECK(S <= previous);  // longest batches first
    CHECK((S % 8 == 0 || S == 12));  // rounded up to 8, never past max_length
    previous = S;
    rows += batch->indices.size();
  }
  CHECK(rows == data.size());

  // Each row is the tokenizer's window of its review.
  options.sort_by_length = false;
  options.truncation = text::Truncation::head_tail;
  options.head_tokens = 3;
  options.pad_to_multiple_of = 0;
  DataLoader windows(data, tokenizer(), options);
  windows.start_epoch(0);
  std::optional<TextBatch> last;
  while (auto batch = windows.next()) last = std::move(batch);
  REQUIRE(last.has_value());
  text::EncodeOptions enc;
  enc.max_length = 12;
  enc.truncation_side = text::Truncation::head_tail;
  enc.head_tokens = 3;
  const auto expected = tokenizer().encode(data.back().text, enc).ids;
  const auto ids = last->input_ids.to_vector<std::int64_t>();
  const auto S = static_cast<std::size_t>(last->input_ids.shape()[1]);
  REQUIRE(S == 12);
  const std::vector<std::int64_t> row(ids.end() - 12, ids.end());
  CHECK(row == std::vector<std::int64_t>(expected.begin(), expected.end()));
  // [CLS] first words here | e f g h i j k [SEP]
  CHECK(tokenizer().tokens(expected)[3] == "here");
  CHECK(tokenizer().tokens(expected)[4] == "e");
  CHECK(tokenizer().tokens(expected)[10] == "k");
}

TEST_CASE("DataLoader: length-order options are checked", "[data][dataloader][sampler]") {
  const auto data = reviews(4);
  DataLoaderOptions options;
  options.shuffle = false;
  options.group_by_length = true;
  CHECK_THROWS_WITH(DataLoader(data, tokenizer(), options), Contains("group_by_length orders shuffled training batches"));
  options.group_by_length = false;
  options.shuffle = true;
  options.sort_by_length = true;
  CHECK_THROWS_WITH(DataLoader(data, tokenizer(), options), Contains("sort_by_length and shuffle exclude each other"));
  options.sort_by_length = false;
  options.max_length = 16;
  options.truncation = text::Truncation::head_tail;
  options.head_tokens = 15;
  CHECK_THROWS_WITH(DataLoader(data, tokenizer(), options), Contains("head_tokens 15 exceeds max_length 16"));
}

TEST_CASE("DataLoader: text pairs become [CLS] a [SEP] b [SEP] with token_type_ids", "[data][dataloader][pairs]") {
  std::vector<TextPairExample> data;
  for (int i = 0; i < 10; ++i)
    data.push_back({"is question " + std::to_string(i) + " answered" + std::string(static_cast<std::size_t>(i), '?'),
                    "the passage says " + std::string(static_cast<std::size_t>(2 * i), 'x') + " yes indeed", i % 2});
  DataLoaderOptions options;
  options.batch_size = 4;
  options.max_length = 16;
  options.shuffle = false;
  options.prefetch_batches = 0;
  options.sort_by_length = true;  // the collator's lengths of pairs order the batches
  BasicDataLoader<std::vector<TextPairExample>, TokenizingCollator> loader(data, TokenizingCollator(tokenizer(), options),
                                                                            options);
  loader.start_epoch(0);
  std::size_t rows = 0;
  text::EncodeOptions enc;
  enc.max_length = 16;
  enc.return_type_ids = true;
  while (auto batch = loader.next()) {
    REQUIRE(batch->token_type_ids.defined());
    CHECK(batch->token_type_ids.shape() == batch->input_ids.shape());
    const auto S = static_cast<std::size_t>(batch->input_ids.shape()[1]);
    const auto ids = batch->input_ids.to_vector<std::int64_t>();
    const auto types = batch->token_type_ids.to_vector<std::int64_t>();
    const auto labels = batch->labels.to_vector<std::int64_t>();
    for (std::size_t r = 0; r < batch->indices.size(); ++r) {
      const TextPairExample& example = data[batch->indices[r]];
      const text::Encoding e = tokenizer().encode_pair(example.text, example.text_pair, enc);
      REQUIRE(e.ids.size() <= S);
      for (std::size_t s = 0; s < S; ++s) {
        CHECK(ids[r * S + s] == (s < e.ids.size() ? e.ids[s] : 0));
        CHECK(types[r * S + s] == (s < e.ids.size() ? e.type_ids[s] : 0));
      }
      CHECK(labels[r] == example.label);
      ++rows;
    }
  }
  CHECK(rows == data.size());
  // The pair's lengths (not its first text's) sort the batches: the longest pair is in batch 1.
  const auto lengths = loader.collate_fn().lengths(data);
  CHECK(lengths.back() == 16);
  CHECK(lengths.front() == tokenizer().encode_pair(data[0].text, data[0].text_pair, enc).ids.size());

  // Single-text batches carry no token type ids.
  const auto few = reviews(3);
  DataLoader singles(few, tokenizer(), options);
  singles.start_epoch(0);
  CHECK_FALSE(singles.next()->token_type_ids.defined());

  // A strategy that cannot fit a pair names the document and the reason.
  options.pair_truncation = text::PairTruncation::only_first;
  options.sort_by_length = false;
  BasicDataLoader<std::vector<TextPairExample>, TokenizingCollator> strict(data, TokenizingCollator(tokenizer(), options),
                                                                            options);
  strict.start_epoch(0);
  CHECK_THROWS_WITH(([&] { while (strict.next()) {} }()), Contains("only_first truncation cannot fit the pair"));
}

TEST_CASE("DataLoader: token classification aligns each word's tag to its first piece", "[data][dataloader][words]") {
  const std::vector<TokenClassificationExample> data{{{"Unaffable", "Paris", "."}, {0, 3, 0}},
                                                     {{"EU", "rejects", "it"}, {1, 0, 0}}};
  DataLoaderOptions options;
  options.batch_size = 2;
  options.shuffle = false;
  options.prefetch_batches = 0;
  BasicDataLoader<std::vector<TokenClassificationExample>, TokenizingCollator> loader(
      data, TokenizingCollator(tokenizer(), options), options);
  loader.start_epoch(0);
  const auto batch = loader.next();
  REQUIRE(batch.has_value());
  REQUIRE(batch->labels.shape() == Shape{2, 7});
  // [CLS] una ##ffa ##ble paris . [SEP] / [CLS] eu rejects it [SEP] [PAD] [PAD]
  CHECK(batch->labels.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{-100, 0, -100, -100, 3, 0, -100, -100, 1, 0, 0, -100, -100, -100});
  CHECK_FALSE(batch->token_type_ids.defined());
  CHECK(loader.collate_fn().lengths(data) == std::vector<std::size_t>{7, 5});
  // Words and tags must pair up.
  const std::vector<TokenClassificationExample> bad{{{"a", "b"}, {0}}};
  BasicDataLoader<std::vector<TokenClassificationExample>, TokenizingCollator> bad_loader(
      bad, TokenizingCollator(tokenizer(), options), options);
  bad_loader.start_epoch(0);
  CHECK_THROWS_WITH(bad_loader.next(), Contains("a token classification example has 2 words but 1 tags"));
}
