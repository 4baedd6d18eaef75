// DataLoader: batches prepared on the prefetch thread equal those made on the caller's thread,
// epochs can be abandoned and restarted mid-way, worker errors reach the caller, and the sizes
// are bounded. Also run under ThreadSanitizer (scripts/ci-extra.sh).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tinyxf/data/conll.hpp"
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
      // The first batch holds the longest review, wherever the shuffle put it.
      if (n > 0) CHECK(lengths[order[0]] == *std::max_element(lengths.begin(), lengths.end()));
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

TEST_CASE("length_grouped_indices: the longest sample in the short last batch still goes first", "[data][sampler]") {
  // Mega-batches of one batch (n / (4 x 16) = 0 -> 1): the shuffle's last index is alone in the
  // last mega-batch, i.e. the short last batch, and it is the longest sample. HF swaps the longest
  // element to position 0; so does tinyxf, and the last batch gets the first batch's first sample.
  for (const std::size_t n : {std::size_t{17}, std::size_t{33}}) {
    INFO("n = " << n);
    const std::size_t batch = 16;
    const auto shuffled = shuffled_indices(n, 7);
    std::vector<std::size_t> lengths(n, 10);
    lengths[shuffled[n - 1]] = 500;
    lengths[shuffled[0]] = 20;  // some variety among the full batches
    const auto order = length_grouped_indices(lengths, batch, 7);
    CHECK(order[0] == shuffled[n - 1]);
    CHECK(lengths[order[n - 1]] < 500);
    std::vector<std::size_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < n; ++i) REQUIRE(sorted[i] == i);
    // Without longest_first the longest sample stays in the last batch.
    CHECK(length_grouped_indices(lengths, batch, 7, 0, false)[n - 1] == shuffled[n - 1]);
  }
  // A short last batch of several samples stays sorted after the swap.
  const std::size_t n = 37, batch = 8;  // mega-batches of 8 (37 / 32 = 1): the last one holds 5
  const auto shuffled = shuffled_indices(n, 3);
  std::vector<std::size_t> lengths(n);
  for (std::size_t i = 0; i < n; ++i) lengths[shuffled[i]] = i < 32 ? 50 + i : 100 + i;  // the last five longest
  const auto order = length_grouped_indices(lengths, batch, 3);
  CHECK(lengths[order[0]] == 136);
  for (std::size_t i = 32; i + 1 < n; ++i) CHECK(lengths[order[i]] >= lengths[order[i + 1]]);
}

TEST_CASE("length_grouped_indices: huge batch sizes and mega-batch multipliers do not overflow", "[data][sampler]") {
  const std::vector<std::size_t> lengths{5, 3, 4, 1, 2, 7, 8, 9};
  const std::vector<std::size_t> by_length{7, 6, 5, 0, 2, 1, 4, 3};  // one batch: all, longest first
  // 4 x batch_size wraps to 0 (HF's default multiplier divides by it).
  CHECK(length_grouped_indices(lengths, std::size_t{1} << 62, 1) == by_length);
  // mega_batch_mult x batch_size wraps to 0 (a mega-batch loop that never advances).
  CHECK(length_grouped_indices(lengths, std::size_t{1} << 20, 1, std::size_t{1} << 44) == by_length);
  CHECK(length_grouped_indices(lengths, 2, 1, SIZE_MAX).size() == lengths.size());
}

TEST_CASE("BasicDataLoader: next() without start_epoch iterates epoch 0", "[data][dataloader]") {
  // PyTorch's DataLoader iterates without set_epoch; with prefetching this used to wait for a
  // worker that was never started, without it to collate past the (empty) order.
  const std::vector<int> data{1, 2, 3, 4, 5};
  const auto collate = [](std::vector<int> xs) { return xs; };
  for (const bool shuffle : {false, true}) {
    for (const std::size_t prefetch : {std::size_t{0}, std::size_t{2}}) {
      INFO("shuffle " << shuffle << ", prefetch " << prefetch);
      const LoaderOptions options{.batch_size = 2, .shuffle = shuffle, .prefetch_batches = prefetch};
      BasicDataLoader loader(data, collate, options);
      std::vector<int> seen;
      std::size_t batches = 0;
      while (auto batch = loader.next()) {
        seen.insert(seen.end(), batch->begin(), batch->end());
        ++batches;
      }
      CHECK(batches == 3);
      BasicDataLoader started(data, collate, options);
      started.start_epoch(0);
      std::vector<int> expected;
      while (auto batch = started.next()) expected.insert(expected.end(), batch->begin(), batch->end());
      CHECK(seen == expected);
      CHECK_FALSE(loader.next().has_value());  // the epoch is over; start_epoch begins the next
    }
  }
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

TEST_CASE("Question answering: characters, windows with answer positions, batches", "[data][dataloader][qa]") {
  SECTION("characters are Unicode scalar values, as Python str indices") {
    const std::string text = "caf\xc3\xa9 \xe2\x82\xac" "5 ok";  // "café €5 ok"
    CHECK(data::character_count(text) == 10);
    CHECK(data::character_slice(text, 3, 4) == "\xc3\xa9");
    CHECK(data::character_slice(text, 5, 7) == "\xe2\x82\xac" "5");
    CHECK(data::character_slice(text, 8, 100) == "ok");  // clipped like Python
    CHECK(data::character_slice(text, 4, 4).empty());
    CHECK(data::character_slice(text, 12, 14).empty());
  }
  // A context of 30 words (each one piece) and the answer near the end: several windows.
  std::string context;
  for (int w = 0; w < 30; ++w) context += (w ? " " : "") + std::string(w == 20 ? "zurich" : w % 2 ? "the" : "city");
  data::QuestionAnsweringExample example{"e1", " where", context, {{"zurich", context.find("zurich")}}};
  data::QuestionAnsweringExample no_answer{"e2", "why", "short context", {}};
  const data::QuestionAnsweringOptions options{.max_length = 16, .doc_stride = 6};
  const auto features = data::prepare_question_answering_features({example, no_answer}, tokenizer(), options);
  SECTION("each window of a context is a feature; the answer's tokens where the window holds it, else [CLS]") {
    // 16 = [CLS] where [SEP] + 12 context pieces + [SEP]; 30 pieces in windows of 12 repeating 6.
    REQUIRE(features.size() == 5);
    std::size_t with_answer = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      const auto& f = features[i];
      CHECK(f.example_index == 0);
      CHECK(f.input_ids.size() <= 16);
      CHECK(tokenizer().vocab().token(f.input_ids[1]) == "where");  // the leading space stripped
      for (std::size_t t = 0; t < f.input_ids.size(); ++t) {
        CHECK(static_cast<bool>(f.is_context[t]) == (t >= 3 && t + 1 < f.input_ids.size()));
        if (f.is_context[t]) CHECK(data::character_slice(context, f.offsets[t].begin, f.offsets[t].end) ==
                                   tokenizer().vocab().token(f.input_ids[t]));
      }
      if (f.start_position == 0) {
        CHECK(f.end_position == 0);
        continue;
      }
      ++with_answer;
      CHECK(f.start_position == f.end_position);
      CHECK(tokenizer().vocab().token(f.input_ids[static_cast<std::size_t>(f.start_position)]) == "zurich");
    }
    CHECK(with_answer == 2);  // piece 20 is in windows [12, 24) and [18, 30)
    CHECK(features[4].example_index == 1);
    CHECK(features[4].start_position == 0);
    CHECK(features[4].end_position == 0);
  }
  SECTION("the same features on several threads") {
    const std::vector<data::QuestionAnsweringExample> many(9, example);
    const auto one = data::prepare_question_answering_features(many, tokenizer(), options);
    data::QuestionAnsweringOptions threaded = options;
    threaded.threads = 4;
    const auto four = data::prepare_question_answering_features(many, tokenizer(), threaded);
    REQUIRE(one.size() == four.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
      CHECK(one[i].input_ids == four[i].input_ids);
      CHECK(one[i].example_index == four[i].example_index);
      CHECK(one[i].start_position == four[i].start_position);
    }
  }
  SECTION("a batch pads the windows and carries start/end positions, no labels") {
    data::DataLoaderOptions opt;
    opt.batch_size = 5;
    const data::TokenizingCollator collate(tokenizer(), opt);
    const data::TextBatch batch = collate(features);
    CHECK(batch.size() == 5);
    CHECK_FALSE(batch.labels.defined());
    REQUIRE(batch.input_ids.shape() == Shape{5, 16});
    REQUIRE(batch.token_type_ids.shape() == Shape{5, 16});
    std::vector<std::int64_t> starts;
    for (const auto& f : features) starts.push_back(f.start_position);
    CHECK(batch.start_positions.to_vector<std::int64_t>() == starts);
    const std::vector<std::int64_t> mask = batch.attention_mask.to_vector<std::int64_t>();
    const std::vector<std::int64_t> ids = batch.input_ids.to_vector<std::int64_t>();
    for (std::size_t t = 0; t < 16; ++t) {  // the short example is padded
      CHECK(mask[4 * 16 + t] == (t < features[4].input_ids.size()));
      if (t >= features[4].input_ids.size()) CHECK(ids[4 * 16 + t] == tokenizer().vocab().special_ids().pad);
    }
    CHECK(collate.lengths(features) == std::vector<std::size_t>{16, 16, 16, 16, features[4].input_ids.size()});
  }
  SECTION("answers outside the context and questions that leave no room are refused, naming the example") {
    data::QuestionAnsweringExample bad = example;
    bad.answers[0].answer_start = context.size() - 2;
    CHECK_THROWS_WITH(data::prepare_question_answering_features({no_answer, bad}, tokenizer(), options),
                      Catch::Contains("example 1 (id \"e1\")") && Catch::Contains("does not fit in the context"));
    data::QuestionAnsweringExample long_question = no_answer;
    long_question.question = context;
    CHECK_THROWS_WITH(data::prepare_question_answering_features({long_question}, tokenizer(), options),
                      Catch::Contains("example 0 (id \"e2\")") && Catch::Contains("only_second"));
  }
}

std::string lines_text_with_error() {
  return "{\"id\": \"a\", \"question\": \"q\", \"context\": \"c\", \"answers\": {\"text\": [], \"answer_start\": []}}\n"
         "{\"id\": \"b\", \"question\": \"q\", \"context\": \"c\", \"answers\": {\"text\": [\n";
}

TEST_CASE("read_squad: the official JSON and Hugging Face's JSON lines give the same examples", "[data][qa][squad]") {
  const std::filesystem::path dir = std::filesystem::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "squad";
  const auto nested = data::read_squad(dir / "squad_v2_sample.json");
  const auto lines = data::read_squad(dir / "squad_sample.jsonl");
  REQUIRE(nested.size() == 3);
  REQUIRE(lines.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(nested[i].id == lines[i].id);
    CHECK(nested[i].question == lines[i].question);
    CHECK(nested[i].context == lines[i].context);
    REQUIRE(nested[i].answers.size() == lines[i].answers.size());
    for (std::size_t a = 0; a < nested[i].answers.size(); ++a) {
      CHECK(nested[i].answers[a].text == lines[i].answers[a].text);
      CHECK(nested[i].answers[a].answer_start == lines[i].answers[a].answer_start);
    }
  }
  CHECK(nested[1].answers.empty());  // is_impossible: no answers (plausible_answers are not answers)
  CHECK(nested[2].answers.size() == 2);
  // answer_start counts characters: "Zürich" at the end of the context.
  CHECK(data::character_slice(nested[0].context, 0, 6) == "Z\xc3\xbcrich");
  const auto features = data::prepare_question_answering_features(nested, tokenizer());
  REQUIRE(features.size() == 3);
  CHECK(tokenizer().vocab().token(features[0].input_ids[static_cast<std::size_t>(features[0].start_position)]) == "zurich");
  CHECK(features[1].start_position == 0);
  const auto& rhine = features[2];
  std::vector<text::TokenId> span(rhine.input_ids.begin() + rhine.start_position, rhine.input_ids.begin() + rhine.end_position + 1);
  CHECK(tokenizer().decode(span) == "1, 230 km");

  const std::filesystem::path scratch = std::filesystem::temp_directory_path() / "tinyxf_read_squad_test";
  std::filesystem::create_directories(scratch);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(scratch / name) << text;
    return scratch / name;
  };
  CHECK_THROWS_WITH(data::read_squad(write("missing_id.json", R"({"data": [{"paragraphs": [{"context": "c", "qas": [{"question": "q", "answers": []}, {"question": "q"}]}]}]})")),
                    Catch::Contains("missing_id.json") && Catch::Contains("data[0].paragraphs[0].qas[0]") && Catch::Contains("id"));
  CHECK_THROWS_WITH(data::read_squad(write("bad_line.jsonl", lines_text_with_error())),
                    Catch::Contains("bad_line.jsonl") && Catch::Contains("line 2"));
  CHECK_THROWS_WITH(data::read_squad(write("counts.jsonl", R"({"id": "a", "question": "q", "context": "c", "answers": {"text": ["c"], "answer_start": []}})")),
                    Catch::Contains("line 1") && Catch::Contains("1 texts but 0 answer_start"));
  CHECK_THROWS_AS(data::read_squad(scratch / "absent.json"), IoError);
  // A broken official (pretty-printed) file is reported where the whole text breaks, not as line 1.
  CHECK_THROWS_WITH(data::read_squad(write("broken.json", "{\n  \"version\": \"v2.0\",\n  \"data\": [\n    {\"title\": }\n  ]\n}\n")),
                    Catch::Contains("broken.json") && !Catch::Contains("line 1:"));
  std::filesystem::remove_all(scratch);
}

TEST_CASE("read_conll: CoNLL-2003 sentences, sorted label names, errors naming the line", "[data][conll]") {
  const std::filesystem::path file = std::filesystem::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "conll" / "sample.txt";
  const data::ConllData train = data::read_conll(file);
  // run_ner.py's get_label_list: the distinct tags, sorted.
  CHECK(train.label_names == std::vector<std::string>{"B-LOC", "B-MISC", "B-ORG", "B-PER", "I-ORG", "I-PER", "O"});
  REQUIRE(train.examples.size() == 4);  // -DOCSTART- lines are no sentences
  CHECK(train.examples[0].words == std::vector<std::string>{"EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."});
  CHECK(train.examples[0].tags == std::vector<std::int64_t>{2, 6, 1, 6, 6, 6, 1, 6, 6});
  CHECK(train.examples[1].tags == std::vector<std::int64_t>{3, 5});
  CHECK(train.examples[3].words.size() == 30);
  // Another column, fixed names (an eval file read with the training file's ids).
  const data::ConllData chunks = data::read_conll(file, {}, {.tag_column = 2});
  CHECK(chunks.label_names.front() == "B-ADJP");
  const data::ConllData same = data::read_conll(file, train.label_names);
  CHECK(same.examples[2].tags == train.examples[2].tags);
  CHECK_THROWS_WITH(data::parse_conll("EU B-ORG\n\nParis B-LOC\n", {"O", "B-ORG"}, {}, "dev.txt"),
                    Catch::Contains("dev.txt") && Catch::Contains("line 3") && Catch::Contains("'B-LOC' is not among the 2 label names"));
  CHECK_THROWS_WITH(data::parse_conll("EU B-ORG\nlonely\n"), Catch::Contains("line 2") && Catch::Contains("1 column(s)"));
  CHECK_THROWS_WITH(data::parse_conll("EU NNP B-ORG\n", {}, {.tag_column = 5}), Catch::Contains("line 1"));
  // -DOCSTART- ends a sentence also without a blank line after it; tag_column must name a tag column.
  CHECK(data::parse_conll("a O\n-DOCSTART- -X- O\nb O\n").examples.size() == 2);
  CHECK_THROWS_WITH(data::parse_conll("a O\n", {}, {.tag_column = -2}), Catch::Contains("tag_column -2"));
  // CRLF line ends and trailing blank lines.
  const data::ConllData crlf = data::parse_conll("a O\r\nb B-X\r\n\r\n\r\nc O\r\n\r\n");
  REQUIRE(crlf.examples.size() == 2);
  CHECK(crlf.label_names == std::vector<std::string>{"B-X", "O"});
  CHECK(crlf.examples[1].tags == std::vector<std::int64_t>{1});
  // The sentences go through the token classification batches.
  data::DataLoaderOptions opt;
  const data::TokenizingCollator collate(tokenizer(), opt);
  const data::TextBatch batch = collate(std::vector<const data::TokenClassificationExample*>{&train.examples[1]});
  CHECK(batch.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{-100, 3, 5, -100});  // [CLS] peter blackburn [SEP]
}

TEST_CASE("DataLoader: a tokenizer that pads on the left pads the batches on the left", "[data][dataloader][padding]") {
  text::BertTokenizer left = tokenizer();
  left.set_padding_side(text::PaddingSide::left);  // tokenizer.padding_side = "left"
  DataLoaderOptions options;
  options.pad_to_multiple_of = 8;
  // DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8) on tokenizer("Hello world") and
  // tokenizer("a much longer sentence here") (transformers 5.25):
  const std::vector<std::string_view> texts{"Hello world", "a much longer sentence here"};
  const std::vector<std::int64_t> labels{1, 0};
  const TextBatch batch = collate_texts(texts, labels, left, options);
  CHECK(batch.input_ids.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 0, 0, 101, 7592, 2088, 102, 0, 101, 1037, 2172, 2936, 6251, 2182, 102});
  CHECK(batch.attention_mask.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1});
  CHECK(batch.real_tokens == 11);
  // DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=8) on the first-piece labels of
  // tokenizer([["EU", "rejects"], ["a"]], is_split_into_words=True) with tags [3, 0] and [1]:
  const std::vector<TokenClassificationExample> words{{{"EU", "rejects"}, {3, 0}}, {{"a"}, {1}}};
  const TextBatch tagged = collate(words, left, options);
  CHECK(tagged.input_ids.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 0, 0, 101, 7327, 19164, 102, 0, 0, 0, 0, 0, 101, 1037, 102});
  CHECK(tagged.labels.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{-100, -100, -100, -100, -100, 3, 0, -100, -100, -100, -100, -100, -100, -100, 1, -100});
  // Question answering windows stay on the right: their answer positions count from the row's start.
  std::vector<QuestionAnsweringFeature> features(1);
  features[0].input_ids = {101, 1037, 102};
  features[0].token_type_ids = {0, 0, 0};
  CHECK(collate(features, left, options).input_ids.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{101, 1037, 102, 0, 0, 0, 0, 0});
}
