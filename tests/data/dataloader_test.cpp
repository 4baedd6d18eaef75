// DataLoader: batches prepared on the prefetch thread equal those made on the caller's thread,
// epochs can be abandoned and restarted mid-way, worker errors reach the caller, and the sizes
// are bounded. Also run under ThreadSanitizer (scripts/ci-extra.sh).
#include <catch2/catch.hpp>

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
      out.push_back(batch->input_ids.to_vector());
      out.push_back(batch->attention_mask.to_vector());
      out.push_back(batch->labels.to_vector());
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
  for (int i = 0; i < 3; ++i) third = loader.next()->input_ids.to_vector();
  loader.start_epoch(1, 2);  // resuming after two batches gives the third batch first
  CHECK(loader.next()->input_ids.to_vector() == third);
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
