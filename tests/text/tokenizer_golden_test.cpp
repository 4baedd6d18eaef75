// Parity with Hugging Face's fast tokenizer on the golden files of tests/data/tokenizer/, made by
// tests/reference/make_tokenizer_golden.py (see the README.md there). Every id, token, offset and
// decoded string must be identical.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "imdb_csv.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace fs = std::filesystem;
namespace json = tinyxf::json;
using namespace tinyxf::text;

namespace {

const fs::path kSourceDir = TINYXF_SOURCE_DIR;
const fs::path kGoldenDir = kSourceDir / "tests" / "data" / "tokenizer";

const BertTokenizer& bert() {
  static const BertTokenizer tokenizer = BertTokenizer::from_file(default_vocab_path());
  return tokenizer;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<json::Value> read_jsonl(const std::string& name) {
  std::vector<json::Value> records;
  for (const std::string& line : read_lines(kGoldenDir / name)) records.push_back(json::parse(line));
  REQUIRE(!records.empty());
  return records;
}

template <class T>
std::vector<T> int_array(const json::Value& array) {
  std::vector<T> out;
  for (const json::Value& v : array.as_array()) out.push_back(v.as<T>());
  return out;
}

std::vector<std::string_view> string_array(const json::Value& array) {
  std::vector<std::string_view> out;
  for (const json::Value& v : array.as_array()) out.emplace_back(v.as_string());
  return out;
}

std::vector<CharSpan> span_array(const json::Value& array) {
  std::vector<CharSpan> out;
  for (const json::Value& v : array.as_array())
    out.push_back({v[0].as<std::size_t>(), v[1].as<std::size_t>()});
  return out;
}

// tokenizers' word_ids: null (None) is Encoding::kNoWord.
std::vector<std::int32_t> word_id_array(const json::Value& array) {
  std::vector<std::int32_t> out;
  for (const json::Value& v : array.as_array()) out.push_back(v.is_null() ? Encoding::kNoWord : v.as<std::int32_t>());
  return out;
}

// An encoding with everything it carries against tokenizers' input_ids, token_type_ids,
// attention_mask, offsets and word_ids.
void check_encoding(const Encoding& e, const json::Value& expected) {
  CHECK(e.ids == int_array<TokenId>(expected["input_ids"]));
  CHECK(e.type_ids == int_array<std::int32_t>(expected["token_type_ids"]));
  CHECK(e.attention_mask == int_array<std::int32_t>(expected["attention_mask"]));
  CHECK(e.offsets == span_array(expected["offsets"]));
  CHECK(e.word_ids == word_id_array(expected["word_ids"]));
}

// The text as a JSON string, so that invisible characters show in failure messages.
std::string shown(std::string_view text) {
  std::string out = "\"";
  json::append_escaped(out, text);
  return out + "\"";
}

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

std::string utf8(char32_t cp) {
  char buffer[4];
  return std::string(buffer, tinyxf::text::unicode::encode_utf8(cp, buffer));
}

}  // namespace

TEST_CASE("the shipped vocabulary is the one default_vocab_path finds", "[text][golden]") {
  CHECK(default_vocab_path() == kSourceDir / "share" / "vocab" / "bert-base-uncased-vocab.txt");
}

TEST_CASE("hard strings: ids, tokens, offsets and decodes as Hugging Face", "[text][golden]") {
  EncodeOptions options;
  options.return_offsets = true;
  options.truncation = false;
  DecodeOptions skip_special;
  skip_special.skip_special_tokens = true;
  DecodeOptions transformers_decode;
  transformers_decode.clean_up_tokenization_spaces = true;
  std::size_t count = 0;
  for (const json::Value& record : read_jsonl("hard_strings.jsonl")) {
    const std::string& text = record["text"].as_string();
    INFO(record["group"].as_string() << ": " << shown(text));
    const Encoding e = bert().encode(text, options);
    CHECK(e.ids == int_array<TokenId>(record["ids"]));
    CHECK(bert().tokens(e.ids) == string_array(record["tokens"]));
    CHECK(e.offsets == span_array(record["offsets"]));
    CHECK(bert().decode(e.ids) == record["decoded"].as_string());
    CHECK(bert().decode(e.ids, skip_special) == record["decoded_skip_special"].as_string());
    CHECK(bert().decode(e.ids, transformers_decode) == record["decoded_transformers"].as_string());
    ++count;
  }
  CHECK(count >= 400);
}

TEST_CASE("invalid UTF-8: the error offset, and replacement as Python's errors=\"replace\"", "[text][golden]") {
  EncodeOptions replace;
  replace.invalid_utf8 = InvalidUtf8::replace;
  replace.return_offsets = true;
  for (const json::Value& record : read_jsonl("invalid_utf8.jsonl")) {
    const std::string bytes = from_hex(record["hex"].as_string());
    INFO("bytes " << record["hex"].as_string());
    const std::string expected_offset = "byte offset " + std::to_string(record["error_offset"].as_int()) + " ";
    CHECK_THROWS_WITH(bert().encode(bytes), Catch::Contains(expected_offset));
    const Encoding e = bert().encode(bytes, replace);
    CHECK(e.ids == int_array<TokenId>(record["ids"]));
    CHECK(e.offsets == span_array(record["offsets"]));
    CHECK(e.ids == bert().encode(record["replaced"].as_string()).ids);
  }
}

TEST_CASE("truncation and padding of batches as BertTokenizerFast.__call__", "[text][golden]") {
  for (const json::Value& record : read_jsonl("truncation_padding.jsonl")) {
    std::vector<std::string> texts;
    for (const json::Value& t : record["texts"].as_array()) texts.push_back(t.as_string());
    EncodeOptions options;
    options.max_length = record["max_length"].as<std::size_t>();
    options.add_special_tokens = record["add_special_tokens"].as_bool();
    const std::string& padding = record["padding"].as_string();
    options.padding = padding == "none" ? Padding::none : padding == "longest" ? Padding::longest : Padding::max_length;
    options.return_offsets = record.contains("offsets");
    INFO(record["batch"].as_string() << ", max_length " << options.max_length << ", padding " << padding
                                     << ", special tokens " << options.add_special_tokens);
    const std::vector<Encoding> batch = bert().encode_batch(texts, options, 2);
    REQUIRE(batch.size() == texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      INFO("text " << i);
      CHECK(batch[i].ids == int_array<TokenId>(record["input_ids"][i]));
      CHECK(batch[i].attention_mask == int_array<std::int32_t>(record["attention_mask"][i]));
      if (options.return_offsets) CHECK(batch[i].offsets == span_array(record["offsets"][i]));
    }
  }
}

TEST_CASE("text pairs as tokenizers' encode(first, second): truncation strategies, sides, type ids, padding",
          "[text][golden][pairs]") {
  const std::vector<json::Value> records = read_jsonl("pairs.jsonl");
  std::vector<TextPair> pairs;
  for (const json::Value& p : records.front()["pairs"].as_array())
    pairs.emplace_back(p.as_array()[0].as_string(), p.as_array()[1].as_string());
  REQUIRE(pairs.size() >= 10);
  std::size_t checked = 0, refused = 0;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const json::Value& record = records[r];
    EncodeOptions options;
    options.truncation = !record["max_length"].is_null();
    if (options.truncation) options.max_length = record["max_length"].as<std::size_t>();
    options.pair_truncation = parse_pair_truncation(record["strategy"].as_string());
    options.truncation_side = record["direction"].as_string() == "left" ? Truncation::tail : Truncation::head;
    options.add_special_tokens = record["add_special_tokens"].as_bool();
    options.return_offsets = true;
    options.return_type_ids = true;
    const json::Value* padding = record.find("padding");
    INFO("max_length " << json::dump(record["max_length"]) << ", " << record["strategy"].as_string() << ", "
                       << record["direction"].as_string() << ", special tokens " << options.add_special_tokens
                       << ", padding " << (padding ? padding->as_string() : "none"));
    const auto check = [&](const Encoding& e, const json::Value& expected) {
      CHECK(e.ids == int_array<TokenId>(expected["input_ids"]));
      CHECK(e.type_ids == int_array<std::int32_t>(expected["token_type_ids"]));
      CHECK(e.attention_mask == int_array<std::int32_t>(expected["attention_mask"]));
      CHECK(e.offsets == span_array(expected["offsets"]));
      ++checked;
    };
    const json::Array& results = record["results"].as_array();
    if (padding != nullptr) {  // a padded batch of the first `count` pairs
      options.padding = padding->as_string() == "longest" ? Padding::longest : Padding::max_length;
      const std::size_t count = record["count"].as<std::size_t>();
      const std::vector<Encoding> batch =
          bert().encode_pair_batch(std::span<const TextPair>(pairs.data(), count), options, 2);
      REQUIRE(batch.size() == count);
      for (std::size_t i = 0; i < count; ++i) check(batch[i], results[i]);
      continue;
    }
    REQUIRE(results.size() == pairs.size());
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      INFO("pair " << i << ": '" << pairs[i].first << "' / '" << pairs[i].second << "'");
      if (results[i].contains("error")) {
        CHECK_THROWS_WITH(bert().encode_pair(pairs[i].first, pairs[i].second, options),
                          Catch::Contains("cannot fit the pair") && Catch::Contains("must go"));
        ++refused;
        continue;
      }
      check(bert().encode_pair(pairs[i].first, pairs[i].second, options), results[i]);
    }
  }
  CHECK(checked > 500);
  CHECK(refused > 20);
}

TEST_CASE("word ids and pre-split words as tokenizers' word_ids and is_pretokenized", "[text][golden][words]") {
  const std::vector<json::Value> hard = read_jsonl("hard_strings.jsonl");
  const auto word_ids = word_id_array;
  std::size_t texts = 0, word_lists = 0, pairs = 0;
  for (const json::Value& record : read_jsonl("words.jsonl")) {
    EncodeOptions options;
    options.return_word_ids = true;
    if (const json::Value* index = record.find("hard_string")) {
      const std::string& text = hard.at(index->as<std::size_t>())["text"].as_string();
      INFO("hard string " << index->as<std::size_t>() << ": '" << text << "'");
      options.truncation = false;
      const Encoding e = bert().encode(text, options);
      CHECK(e.ids == int_array<TokenId>(record["ids"]));
      CHECK(e.word_ids == word_ids(record["word_ids"]));
      ++texts;
    } else if (const json::Value* words = record.find("words")) {
      std::vector<std::string> list;
      for (const json::Value& w : words->as_array()) list.push_back(w.as_string());
      options.truncation = !record["max_length"].is_null();
      if (options.truncation) options.max_length = record["max_length"].as<std::size_t>();
      options.truncation_side = record["direction"].as_string() == "left" ? Truncation::tail : Truncation::head;
      options.add_special_tokens = record["add_special_tokens"].as_bool();
      options.return_offsets = true;
      INFO(json::dump(*words) << ", max_length " << json::dump(record["max_length"]) << ", "
                              << record["direction"].as_string() << ", special tokens " << options.add_special_tokens);
      const Encoding e = bert().encode_words(list, options);
      CHECK(e.ids == int_array<TokenId>(record["ids"]));
      CHECK(e.word_ids == word_ids(record["word_ids"]));
      CHECK(e.offsets == span_array(record["offsets"]));
      const std::vector<std::vector<std::string>> documents{list, list};
      const auto batch = bert().encode_words_batch(documents, options, 2);
      CHECK(batch.at(1).word_ids == e.word_ids);
      ++word_lists;
    } else {
      const json::Array& pair = record["pair"].as_array();
      options.truncation = !record["max_length"].is_null();
      if (options.truncation) options.max_length = record["max_length"].as<std::size_t>();
      INFO("pair '" << pair[0].as_string() << "' / '" << pair[1].as_string() << "'");
      const Encoding e = bert().encode_pair(pair[0].as_string(), pair[1].as_string(), options);
      CHECK(e.ids == int_array<TokenId>(record["ids"]));
      CHECK(e.word_ids == word_ids(record["word_ids"]));
      ++pairs;
    }
  }
  CHECK(texts == hard.size());
  CHECK(word_lists >= 30);
  CHECK(pairs >= 20);
}

TEST_CASE("overlapping windows of texts and pairs as tokenizers' overflowing encodings", "[text][golden][windows]") {
  std::size_t windows_checked = 0, refused = 0;
  for (const json::Value& record : read_jsonl("windows.jsonl")) {
    EncodeOptions options;
    options.max_length = record["max_length"].as<std::size_t>();
    options.truncation_side = record["direction"].as_string() == "left" ? Truncation::tail : Truncation::head;
    options.add_special_tokens = record["add_special_tokens"].as_bool();
    options.return_offsets = options.return_type_ids = options.return_word_ids = true;
    const auto stride = record["stride"].as<std::size_t>();
    const json::Value* pair = record.find("pair");
    if (pair) options.pair_truncation = parse_pair_truncation(record["strategy"].as_string());
    INFO((pair ? json::dump(*pair) : record["text"].as_string()) << ", max_length " << options.max_length << ", stride "
         << stride << ", " << record["direction"].as_string() << ", special tokens " << options.add_special_tokens);
    const auto encode = [&] {
      return pair ? bert().encode_pair_windows(pair->as_array()[0].as_string(), pair->as_array()[1].as_string(), options,
                                               stride)
                  : bert().encode_windows(record["text"].as_string(), options, stride);
    };
    if (record.contains("error")) {
      CHECK_THROWS_WITH(encode(), Catch::Contains("stride " + std::to_string(stride) + " must be below the"));
      ++refused;
      continue;
    }
    const std::vector<Encoding> windows = encode();
    const json::Array& expected = record["windows"].as_array();
    REQUIRE(windows.size() == expected.size());
    for (std::size_t w = 0; w < windows.size(); ++w) {
      INFO("window " << w);
      check_encoding(windows[w], expected[w]);
      ++windows_checked;
    }
  }
  CHECK(windows_checked > 150);
  CHECK(refused == 2);
}

TEST_CASE("decode as tokenizers' Tokenizer.decode and transformers' BertTokenizerFast.decode", "[text][golden]") {
  for (const json::Value& record : read_jsonl("decode.jsonl")) {
    const auto ids = int_array<TokenId>(record["ids"]);
    DecodeOptions options;
    options.skip_special_tokens = record["skip_special_tokens"].as_bool();
    INFO("ids " << json::dump(record["ids"]) << ", skip_special_tokens " << options.skip_special_tokens);
    CHECK(bert().decode(ids, options) == record["tokenizers"].as_string());
    options.clean_up_tokenization_spaces = true;
    CHECK(bert().decode(ids, options) == record["transformers"].as_string());
  }
}

TEST_CASE("canonical ordering of kept combining marks, with a vocabulary that shows it", "[text][golden]") {
  const BertTokenizer small = BertTokenizer::from_file(kGoldenDir / "small_vocab.txt");
  EncodeOptions options;
  options.return_offsets = true;
  options.add_special_tokens = false;  // the HF tokenizer behind this golden has no post-processor
  for (const json::Value& record : read_jsonl("small_vocab.jsonl")) {
    const std::string& text = record["text"].as_string();
    INFO(shown(text));
    const Encoding e = small.encode(text, options);
    CHECK(e.ids == int_array<TokenId>(record["ids"]));
    CHECK(small.tokens(e.ids) == string_array(record["tokens"]));
    CHECK(e.offsets == span_array(record["offsets"]));
  }
}

TEST_CASE("every code point: normalizer + pre-tokenizer as Hugging Face", "[text][golden]") {
  // unicode_table.txt: what HF makes of "a" c "a" for each code point c (format in its header).
  std::vector<std::pair<std::pair<char32_t, char32_t>, std::string>> runs;
  std::vector<std::pair<char32_t, char32_t>> nonstarters;
  for (const std::string& line : read_lines(kGoldenDir / "unicode_table.txt")) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string first, second, kind;
    in >> first >> second;
    if (first == "nonstarter") {
      in >> kind;
      nonstarters.push_back({static_cast<char32_t>(std::stoul(second, nullptr, 16)),
                             static_cast<char32_t>(std::stoul(kind, nullptr, 16))});
      continue;
    }
    if (second == "=") {
      std::getline(in >> std::ws, kind);
      runs.push_back({{static_cast<char32_t>(std::stoul(first, nullptr, 16)),
                       static_cast<char32_t>(std::stoul(first, nullptr, 16))},
                      "=" + kind});
    } else {
      in >> kind;
      runs.push_back({{static_cast<char32_t>(std::stoul(first, nullptr, 16)),
                       static_cast<char32_t>(std::stoul(second, nullptr, 16))},
                      kind});
    }
  }
  std::size_t checked = 0, mismatches = 0;
  char32_t expected_next = 0;
  for (const auto& [range, kind] : runs) {
    REQUIRE(range.first == expected_next);  // the table covers every code point once
    expected_next = range.second + 1;
    if (expected_next == 0xD800) expected_next = 0xE000;
    for (char32_t cp = range.first; cp <= range.second; ++cp) {
      const std::string c = utf8(cp);
      std::vector<std::string> expected;
      if (kind == "keep") {
        expected = {"a" + c + "a"};
      } else if (kind == "drop") {
        expected = {"aa"};
      } else if (kind == "split") {
        expected = {"a", "a"};
      } else if (kind == "isolate") {
        expected = {"a", c, "a"};
      } else if (kind == "hangul") {
        const char32_t s = cp - 0xAC00;
        std::string jamo = utf8(0x1100 + s / 588) + utf8(0x1161 + (s % 588) / 28);
        if (s % 28) jamo += utf8(0x11A7 + s % 28);
        expected = {"a" + jamo + "a"};
      } else {
        REQUIRE(kind[0] == '=');
        std::istringstream words(kind.substr(1));
        for (std::string word; std::getline(words, word, '|');) {
          std::string decoded;
          std::istringstream cps(word);
          for (std::string hex; std::getline(cps, hex, '.');)
            decoded += utf8(static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
          expected.push_back(decoded);
        }
      }
      const std::vector<std::string> got = bert().pre_tokenize("a" + c + "a");
      if (got != expected && ++mismatches <= 20) {
        std::string shown_got, shown_expected;
        for (const auto& w : got) shown_got += shown(w) + " ";
        for (const auto& w : expected) shown_expected += shown(w) + " ";
        UNSCOPED_INFO("U+" << std::hex << static_cast<unsigned>(cp) << std::dec << ": got " << shown_got
                           << "expected " << shown_expected);
      }
      ++checked;
    }
  }
  CHECK(checked == 0x110000 - 0x800);
  CHECK(mismatches == 0);

  // Canonical ordering: "x" U+302E c U+1B44 swaps the two kept marks iff c does not end the run.
  std::size_t swapped = 0, order_mismatches = 0;
  std::size_t next_run = 0;
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp == 0xD800) cp = 0xE000;
    while (next_run < nonstarters.size() && nonstarters[next_run].second < cp) ++next_run;
    const bool expected = next_run < nonstarters.size() && nonstarters[next_run].first <= cp;
    std::string joined;
    for (const std::string& word : bert().pre_tokenize("x\xe3\x80\xae" + utf8(cp) + "\xe1\xad\x84")) joined += word;
    const bool got = joined.find("\xe1\xad\x84") < joined.find("\xe3\x80\xae");
    swapped += got;
    if (got != expected && ++order_mismatches <= 20)
      UNSCOPED_INFO("U+" << std::hex << static_cast<unsigned>(cp) << std::dec << ": marks swapped " << got
                         << ", Hugging Face " << expected);
  }
  CHECK(swapped > 1000);
  CHECK(order_mismatches == 0);
}

TEST_CASE("the first 3,000 IMDB reviews: ids as Hugging Face", "[.][imdb]") {
  const fs::path csv = tinyxf::bench::default_imdb_csv_path(kSourceDir);
  if (!fs::exists(csv)) {
    WARN("IMDB data not found at " << csv << " (set TINYXF_IMDB_CSV); skipped");
    return;
  }
  std::vector<std::vector<TokenId>> expected;
  for (const std::string& line : read_lines(kGoldenDir / "imdb_first3000.ids")) {
    if (line.empty() || line[0] == '#') continue;
    REQUIRE(line.size() % 3 == 0);
    auto digit = [](char c) -> TokenId {
      if (c >= 'A' && c <= 'Z') return c - 'A';
      if (c >= 'a' && c <= 'z') return c - 'a' + 26;
      if (c >= '0' && c <= '9') return c - '0' + 52;
      return c == '-' ? 62 : 63;
    };
    std::vector<TokenId> ids;
    for (std::size_t i = 0; i < line.size(); i += 3)
      ids.push_back(digit(line[i]) * 4096 + digit(line[i + 1]) * 64 + digit(line[i + 2]));
    expected.push_back(std::move(ids));
  }
  REQUIRE(expected.size() == 3000);
  const auto reviews = tinyxf::bench::read_imdb_csv(csv, expected.size());
  REQUIRE(reviews.size() == expected.size());
  std::vector<std::string_view> texts;
  for (const auto& r : reviews) texts.push_back(r.text);
  EncodeOptions options;
  options.truncation = false;
  const auto batch = bert().encode_batch(std::span<const std::string_view>(texts), options, 2);
  std::size_t identical = 0, tokens = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    tokens += batch[i].ids.size();
    if (batch[i].ids == expected[i]) {
      ++identical;
    } else if (i - identical < 5) {  // the first few that differ
      UNSCOPED_INFO("review " << i + 1 << " differs: " << shown(texts[i].substr(0, 200)));
    }
  }
  CHECK(tokens == 944458);
  CHECK(identical == expected.size());
}

TEST_CASE("padding on either side and pad_to_multiple_of as transformers' tokenizer __call__",
          "[text][golden][padding]") {
  const std::vector<json::Value> records = read_jsonl("padding.jsonl");
  const json::Value& inputs = records.front();
  std::vector<std::string> texts;
  for (const json::Value& t : inputs["texts"].as_array()) texts.push_back(t.as_string());
  std::vector<TextPair> pairs;
  for (const json::Value& p : inputs["pairs"].as_array())
    pairs.emplace_back(p.as_array()[0].as_string(), p.as_array()[1].as_string());
  std::vector<std::vector<std::string>> documents;
  for (const json::Value& words : inputs["words"].as_array()) {
    documents.emplace_back();
    for (const json::Value& w : words.as_array()) documents.back().push_back(w.as_string());
  }
  const json::Array& window_pair = inputs["window_pair"].as_array();
  std::size_t checked = 0, refused = 0, left_padded = 0;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const json::Value& record = records[r];
    const std::string& kind = record["kind"].as_string();
    const std::string& padding = record["padding"].as_string();
    EncodeOptions options;
    options.max_length = record["max_length"].as<std::size_t>();
    options.truncation = record["truncation"].as_bool();
    options.truncation_side = record["truncation_side"].as_string() == "left" ? Truncation::tail : Truncation::head;
    options.padding = padding == "none" ? Padding::none : padding == "longest" ? Padding::longest : Padding::max_length;
    options.padding_side = parse_padding_side(record["padding_side"].as_string());
    options.pad_to_multiple_of = record["pad_to_multiple_of"].as<std::size_t>();
    options.return_offsets = options.return_type_ids = options.return_word_ids = true;
    const auto stride = record["stride"].as<std::size_t>();
    INFO(kind << ", padding " << padding << " on the " << record["padding_side"].as_string() << ", pad_to_multiple_of "
              << options.pad_to_multiple_of << ", max_length " << options.max_length << ", truncation "
              << options.truncation << " " << record["truncation_side"].as_string() << ", stride " << stride);
    const auto encode = [&]() -> std::vector<Encoding> {
      if (kind == "texts") return bert().encode_batch(texts, options, 2);
      if (kind == "one") return {bert().encode(texts.front(), options)};
      if (kind == "pairs") return bert().encode_pair_batch(pairs, options, 2);
      if (kind == "words") return bert().encode_words_batch(documents, options, 2);
      options.pair_truncation = PairTruncation::only_second;
      if (kind == "pair_windows")
        return bert().encode_pair_windows(window_pair[0].as_string(), window_pair[1].as_string(), options, stride);
      REQUIRE(kind == "windows");
      return bert().encode_windows(inputs["window_text"].as_string(), options, stride);
    };
    if (record.contains("error")) {
      CHECK_THROWS_WITH(encode(), Catch::Contains("max_length " + std::to_string(options.max_length) +
                                                  " is not a multiple of pad_to_multiple_of 8"));
      ++refused;
      continue;
    }
    const std::vector<Encoding> encodings = encode();
    const json::Array& expected = record["encodings"].as_array();
    REQUIRE(encodings.size() == expected.size());
    for (std::size_t i = 0; i < encodings.size(); ++i) {
      INFO("encoding " << i);
      check_encoding(encodings[i], expected[i]);
      if (!encodings[i].attention_mask.empty() && encodings[i].attention_mask.front() == 0) ++left_padded;
      ++checked;
    }
  }
  CHECK(checked > 400);
  CHECK(refused == 32);
  CHECK(left_padded > 100);
}
