// Masked language modeling data: group_texts against transformers' run_mlm grouping and whole-word
// starts (golden, tests/reference/make_mlm_golden.py), and the collator's rules: what may be
// masked, the 80/10/10 split, whole words, padding, and draws that depend on (seed, epoch, sample)
// alone.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tinyxf/data/language_modeling.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/tensor.hpp"  // registers the cpu backend

using namespace tinyxf;
using namespace tinyxf::data;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "mlm";

const text::BertTokenizer& tokenizer() {
  static const text::BertTokenizer tok = text::BertTokenizer::from_file(text::default_vocab_path());
  return tok;
}

std::vector<json::Value> read_jsonl(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::vector<json::Value> out;
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  REQUIRE(!out.empty());
  return out;
}

std::vector<std::int64_t> ints(const json::Value& v) {
  std::vector<std::int64_t> out;
  for (const json::Value& x : v.as_array()) out.push_back(x.as_int());
  return out;
}

// Texts of reviews long enough for many tokens.
std::vector<std::string> review_texts(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back("Review " + std::to_string(i) + ": an unforgettable, heart-warming film; the actors' performances "
                  "were extraordinary and the cinematography breathtaking. Don't miss it!");
  return out;
}

}  // namespace

TEST_CASE("group_texts makes run_mlm's blocks and transformers' whole-word starts", "[data][mlm][golden]") {
  std::vector<std::string> texts;
  for (const json::Value& t : read_jsonl(kGolden / "texts.jsonl")) texts.push_back(t.at("text").as_string());
  for (const json::Value& c : read_jsonl(kGolden / "cases.jsonl")) {
    LanguageModelingOptions opt;
    opt.block_size = static_cast<std::size_t>(c.at("block_size").as_int());
    opt.texts_per_group = static_cast<std::size_t>(c.at("texts_per_group").as_int());
    opt.line_by_line = c.at("line_by_line").as_bool();
    opt.threads = 2;
    INFO("block_size " << opt.block_size << ", texts_per_group " << opt.texts_per_group << ", line_by_line "
                       << opt.line_by_line);
    const LanguageModelingDataset data = group_texts(texts, tokenizer(), opt);
    const json::Array& blocks = c.at("blocks").as_array();
    const json::Array& starts = c.at("word_starts").as_array();
    REQUIRE(data.size() == blocks.size());
    CHECK(data.dropped_tokens() == static_cast<std::size_t>(c.at("dropped").as_int()));
    std::size_t tokens = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
      INFO("sample " << i);
      const LanguageModelingSample s = data.get(i);
      CHECK(s.index == i);
      REQUIRE(std::vector<std::int64_t>(s.input_ids.begin(), s.input_ids.end()) == ints(blocks[i]));
      REQUIRE(std::vector<std::int64_t>(s.word_starts.begin(), s.word_starts.end()) == ints(starts[i]));
      if (!opt.line_by_line) CHECK(s.input_ids.size() == opt.block_size);
      tokens += s.input_ids.size();
    }
    CHECK(data.num_tokens() == tokens);
  }
  CHECK_THROWS_WITH(group_texts(texts, tokenizer(), {.block_size = 1}), Contains("block_size must be at least 2"));
  CHECK_THROWS_AS(group_texts(texts, tokenizer()).get(1'000'000), IndexError);
}

TEST_CASE("LanguageModelingCollator masks as DataCollatorForLanguageModeling", "[data][mlm]") {
  const LanguageModelingDataset data = group_texts(review_texts(400), tokenizer(), {.block_size = 64});
  REQUIRE(data.size() > 100);
  const text::SpecialTokenIds special = tokenizer().vocab().special_ids();
  LanguageModelingCollator collate(tokenizer());
  std::vector<LanguageModelingSample> samples;
  for (std::size_t i = 0; i < data.size(); ++i) samples.push_back(data.get(i));
  const TextBatch batch = collate(samples);
  REQUIRE(batch.input_ids.shape() == Shape{static_cast<std::int64_t>(data.size()), 64});
  const auto ids = batch.input_ids.to_vector<std::int64_t>();
  const auto labels = batch.labels.to_vector<std::int64_t>();
  const auto mask = batch.attention_mask.to_vector<std::int64_t>();
  std::size_t candidates = 0, selected = 0, masked = 0, kept = 0, randomized = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const LanguageModelingSample s = data.get(i);
    for (std::size_t t = 0; t < 64; ++t) {
      const std::size_t k = i * 64 + t;
      const std::int64_t original = s.input_ids[t];
      CHECK(mask[k] == 1);
      const bool is_special = original == special.cls || original == special.sep || original == special.unk;
      if (is_special) {  // never selected, never changed
        REQUIRE(labels[k] == -100);
        REQUIRE(ids[k] == original);
        continue;
      }
      ++candidates;
      if (labels[k] == -100) {
        REQUIRE(ids[k] == original);
        continue;
      }
      REQUIRE(labels[k] == original);
      ++selected;
      if (ids[k] == special.mask) ++masked;
      else if (ids[k] == original) ++kept;  // (a random draw may hit the original: rare, counted as kept)
      else ++randomized;
    }
  }
  // Binomial proportions: 4-5 standard deviations of slack, never flaky for this fixed seed.
  const double p = static_cast<double>(selected) / static_cast<double>(candidates);
  CHECK(std::abs(p - 0.15) < 5 * std::sqrt(0.15 * 0.85 / static_cast<double>(candidates)));
  const auto share = [&](std::size_t n) { return static_cast<double>(n) / static_cast<double>(selected); };
  const double sd = std::sqrt(0.8 * 0.2 / static_cast<double>(selected));
  CHECK(std::abs(share(masked) - 0.8) < 5 * sd);
  CHECK(std::abs(share(randomized) - 0.1) < 5 * std::sqrt(0.1 * 0.9 / static_cast<double>(selected)));
  CHECK(std::abs(share(kept) - 0.1) < 5 * std::sqrt(0.1 * 0.9 / static_cast<double>(selected)));
  CHECK(batch.real_tokens == static_cast<std::int64_t>(data.size() * 64));

  SECTION("the draws depend on seed, epoch and sample index alone") {
    // The same samples in another batch order and batch size: the same rows.
    std::vector<LanguageModelingSample> reversed(samples.rbegin(), samples.rbegin() + 3);
    const auto again = collate(reversed).labels.to_vector<std::int64_t>();
    for (std::size_t r = 0; r < 3; ++r) {
      const std::size_t i = samples.size() - 1 - r;
      CHECK(std::vector<std::int64_t>(again.begin() + static_cast<std::ptrdiff_t>(r * 64), again.begin() + static_cast<std::ptrdiff_t>(r * 64 + 64)) ==
            std::vector<std::int64_t>(labels.begin() + static_cast<std::ptrdiff_t>(i * 64), labels.begin() + static_cast<std::ptrdiff_t>(i * 64 + 64)));
    }
    LanguageModelingCollator next_epoch = collate;
    next_epoch.set_epoch(1);
    CHECK(next_epoch(samples).labels.to_vector<std::int64_t>() != labels);
    next_epoch.set_epoch(0);
    CHECK(next_epoch(samples).labels.to_vector<std::int64_t>() == labels);
    LanguageModelingCollator other_seed(tokenizer(), {.seed = 7});
    CHECK(other_seed(samples).labels.to_vector<std::int64_t>() != labels);
  }

  SECTION("the loader gives each epoch its masks, also when prefetching on its worker") {
    const auto epoch_labels = [&](std::size_t prefetch, std::uint64_t epoch) {
      BasicDataLoader loader(data, collate, {.batch_size = 16, .shuffle = true, .prefetch_batches = prefetch});
      loader.start_epoch(epoch);
      std::map<std::size_t, std::vector<std::int64_t>> rows;
      while (auto b = loader.next()) {
        const auto l = b->labels.to_vector<std::int64_t>();
        for (std::size_t r = 0; r < b->indices.size(); ++r)
          rows[b->indices[r]].assign(l.begin() + static_cast<std::ptrdiff_t>(r * 64), l.begin() + static_cast<std::ptrdiff_t>(r * 64 + 64));
      }
      return rows;
    };
    const auto e0 = epoch_labels(0, 0), e0_prefetched = epoch_labels(2, 0), e1 = epoch_labels(2, 1);
    CHECK(e0 == e0_prefetched);
    CHECK(e0 != e1);
    for (std::size_t i = 0; i < data.size(); ++i)
      CHECK(e0.at(i) == std::vector<std::int64_t>(labels.begin() + static_cast<std::ptrdiff_t>(i * 64), labels.begin() + static_cast<std::ptrdiff_t>(i * 64 + 64)));
  }
}

TEST_CASE("LanguageModelingCollator: whole words, lines with padding, replacement settings, bad options",
          "[data][mlm]") {
  const text::SpecialTokenIds special = tokenizer().vocab().special_ids();

  SECTION("whole_word_mask selects words and replaces every piece with [MASK]") {
    const LanguageModelingDataset data = group_texts(review_texts(300), tokenizer(), {.block_size = 48});
    LanguageModelingCollator collate(tokenizer(), {.whole_word_mask = true});
    CHECK(collate.options().mask_replace_prob == 1);
    CHECK(collate.options().random_replace_prob == 0);
    std::vector<LanguageModelingSample> samples;
    for (std::size_t i = 0; i < data.size(); ++i) samples.push_back(data.get(i));
    const TextBatch batch = collate(samples);
    const auto ids = batch.input_ids.to_vector<std::int64_t>();
    const auto labels = batch.labels.to_vector<std::int64_t>();
    std::size_t words = 0, selected_words = 0, pieces_in_selected = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
      const LanguageModelingSample s = data.get(i);
      for (std::size_t t = 0; t < s.input_ids.size(); ++t) {
        const std::size_t k = i * 48 + t;
        REQUIRE((labels[k] == -100 ? ids[k] == s.input_ids[t] : ids[k] == special.mask && labels[k] == s.input_ids[t]));
        if (!s.word_starts[t]) {
          // A word's later pieces follow its first piece's fate.
          if (t > 0 && s.input_ids[t] != special.cls && s.input_ids[t] != special.sep)
            REQUIRE((labels[k] == -100) == (labels[k - 1] == -100));
          continue;
        }
        ++words;
        if (labels[k] != -100) ++selected_words;
        std::size_t end = t + 1;
        while (end < s.input_ids.size() && !s.word_starts[end] && s.input_ids[end] != special.sep) ++end;
        if (labels[k] != -100) pieces_in_selected += end - t;
      }
    }
    const double p = static_cast<double>(selected_words) / static_cast<double>(words);
    CHECK(std::abs(p - 0.15) < 5 * std::sqrt(0.15 * 0.85 / static_cast<double>(words)));
    CHECK(pieces_in_selected > selected_words);  // some selected words have several pieces
  }

  SECTION("line_by_line samples are padded (to a multiple), padding never selected") {
    const std::vector<std::string> lines{"a short line", "", "a much longer line with many more words than the first one",
                                         "   ", "mid"};
    const LanguageModelingDataset data = group_texts(lines, tokenizer(), {.block_size = 10, .line_by_line = true});
    REQUIRE(data.size() == 3);  // blank lines skipped
    CHECK(data.lengths() == std::vector<std::size_t>{5, 10, 3});
    CHECK(data.dropped_tokens() == 0);
    LanguageModelingCollator collate(tokenizer(), {.mlm_probability = 1.0, .pad_to_multiple_of = 4});
    const TextBatch batch = collate(std::vector<LanguageModelingSample>{data.get(0), data.get(1), data.get(2)});
    REQUIRE(batch.input_ids.shape() == Shape{3, 12});
    const auto ids = batch.input_ids.to_vector<std::int64_t>();
    const auto labels = batch.labels.to_vector<std::int64_t>();
    const auto mask = batch.attention_mask.to_vector<std::int64_t>();
    const std::vector<std::size_t> lengths{5, 10, 3};
    for (std::size_t r = 0; r < 3; ++r)
      for (std::size_t t = 0; t < 12; ++t) {
        const std::size_t k = r * 12 + t;
        const bool inside = t < lengths[r];
        CHECK(mask[k] == (inside ? 1 : 0));
        if (!inside) {
          CHECK(ids[k] == special.pad);
          CHECK(labels[k] == -100);
        } else if (t > 0 && t + 1 < lengths[r]) {
          CHECK(labels[k] != -100);  // probability 1: every ordinary token
        } else {
          CHECK(labels[k] == -100);  // [CLS], [SEP]
        }
      }
    CHECK(batch.real_tokens == 18);
  }

  SECTION("all [MASK], all random, all kept") {
    const LanguageModelingDataset data = group_texts(review_texts(20), tokenizer(), {.block_size = 32});
    std::vector<LanguageModelingSample> samples;
    for (std::size_t i = 0; i < data.size(); ++i) samples.push_back(data.get(i));
    const auto outcome = [&](double mask_p, double random_p) {
      LanguageModelingCollator collate(tokenizer(), {.mlm_probability = 1.0, .mask_replace_prob = mask_p,
                                                     .random_replace_prob = random_p});
      const TextBatch b = collate(samples);
      const auto ids = b.input_ids.to_vector<std::int64_t>(), labels = b.labels.to_vector<std::int64_t>();
      std::set<std::string> seen;
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (labels[k] == -100) continue;
        seen.insert(ids[k] == special.mask ? "mask" : ids[k] == labels[k] ? "kept" : "random");
      }
      return seen;
    };
    CHECK(outcome(1.0, 0.0) == std::set<std::string>{"mask"});
    CHECK(outcome(0.0, 0.0) == std::set<std::string>{"kept"});
    const auto random = outcome(0.0, 1.0);  // a random draw may equal the original id
    CHECK(random.count("random") == 1);
    CHECK(random.count("mask") == 0);
  }

  SECTION("bad probabilities and padding multiples are refused, naming them") {
    CHECK_THROWS_WITH(LanguageModelingCollator(tokenizer(), {.mlm_probability = 1.5}), Contains("mlm_probability must be in [0, 1]"));
    CHECK_THROWS_WITH(LanguageModelingCollator(tokenizer(), {.mask_replace_prob = 0.8, .random_replace_prob = 0.3}),
                      Contains("must not exceed 1"));
    CHECK_THROWS_WITH(LanguageModelingCollator(tokenizer(), {.random_replace_prob = -0.1}), Contains("random_replace_prob"));
    // A huge multiple used to pad every batch to it (bad_alloc, or a wrapped size).
    CHECK_THROWS_WITH(LanguageModelingCollator(tokenizer(), {.pad_to_multiple_of = std::size_t{1} << 40}),
                      Contains("pad_to_multiple_of 1099511627776 exceeds the limit of 1048576 tokens"));
  }
  CHECK(perplexity(0.0) == 1.0);
  CHECK(std::isinf(perplexity(1000.0)));
  CHECK(std::isnan(perplexity(std::nan(""))));
}

TEST_CASE("read_text_lines: datasets' text loader lines, plain or gzip", "[data][mlm]") {
  const fs::path dir = fs::temp_directory_path() / "tinyxf_read_text_lines_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // "\n", "\r\n" and a lone "\r" end lines (Python's universal newlines); an empty line stays, the
  // last line needs no end, and a file ending in a newline has no empty last line.
  const std::string content = "first\nsecond\r\nthird\rfourth\r\r\n\nlast";
  const std::vector<std::string> expected = {"first", "second", "third", "fourth", "", "", "last"};
  {
    std::ofstream out(dir / "lines.txt", std::ios::binary);
    out << content;
  }
  CHECK(read_text_lines(dir / "lines.txt") == expected);
  {
    std::ofstream out(dir / "ended.txt", std::ios::binary);
    out << "a\nb\n";
  }
  CHECK(read_text_lines(dir / "ended.txt") == std::vector<std::string>{"a", "b"});
  gzFile gz = ::gzopen((dir / "lines.txt.gz").c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(::gzwrite(gz, content.data(), static_cast<unsigned>(content.size())) == static_cast<int>(content.size()));
  REQUIRE(::gzclose(gz) == Z_OK);
  CHECK(read_text_lines(dir / "lines.txt.gz") == expected);
  // Cut short: the error names the file and zlib's reason, not a short list of lines.
  std::string bytes;
  {
    std::ifstream whole(dir / "lines.txt.gz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(whole), {});
  }
  {
    std::ofstream out(dir / "cut.txt.gz", std::ios::binary);
    out << bytes.substr(0, bytes.size() - 6);
  }
  CHECK_THROWS_WITH(read_text_lines(dir / "cut.txt.gz"),
                    Contains("cut.txt.gz") && Contains("decompressing") && Contains("unexpected end of file"));
  CHECK_THROWS_WITH(read_text_lines(dir / "missing.txt"), Contains("read_text_lines") && Contains("no such file"));
  fs::remove_all(dir);
}

TEST_CASE("LanguageModelingCollator pads on the tokenizer's side", "[data][mlm][padding]") {
  // DataCollatorForLanguageModeling pads with tokenizer.pad, on tokenizer.padding_side.
  text::BertTokenizer left = tokenizer();
  left.set_padding_side(text::PaddingSide::left);
  const LanguageModelingDataset data = group_texts(std::vector<std::string>{"a b c", "a"}, left,
                                                   {.block_size = 10, .line_by_line = true});
  LanguageModelingCollator collate(left, {.mlm_probability = 0.0, .pad_to_multiple_of = 8});
  const TextBatch batch = collate(std::vector<LanguageModelingSample>{data.get(0), data.get(1)});
  // DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.0, pad_to_multiple_of=8) on
  // tokenizer("a b c") and tokenizer("a") with padding_side "left" (transformers 5.25):
  CHECK(batch.input_ids.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 0, 101, 1037, 1038, 1039, 102, 0, 0, 0, 0, 0, 101, 1037, 102});
  CHECK(batch.attention_mask.to_vector<std::int64_t>() ==
        std::vector<std::int64_t>{0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1});
  CHECK(batch.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>(16, -100));
}
