// libFuzzer target: vocabulary loading and the BERT tokenizer.
// Input: one options byte, then either "vocab lines \0 text" (a vocabulary built from the lines,
// as Vocab::from_file splits them) or, without a NUL byte, a text for the real bert-base-uncased
// vocabulary. Every encoding must respect the options: ids inside the vocabulary, lengths
// within max_length, masks and offsets of matching sizes; encode_batch must agree with encode.
// The text split in two is also encoded as a pair (type ids 0 then 1, word ids counted per text),
// both as overlapping windows, and, split at spaces, as pre-split words (word ids within the word
// count, never decreasing).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/text/bert_tokenizer.hpp"

namespace {

const tinyxf::text::BertTokenizer& bert_tokenizer() {
  static const auto tokenizer = tinyxf::text::BertTokenizer::from_file(
      std::filesystem::path(TINYXF_SOURCE_DIR) / "share" / "vocab" / "bert-base-uncased-vocab.txt");
  return tokenizer;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

void check_encoding(const tinyxf::text::BertTokenizer& tokenizer, const tinyxf::text::Encoding& encoding,
                    const tinyxf::text::EncodeOptions& options) {
  for (const auto id : encoding.ids)
    if (id < 0 || static_cast<std::size_t>(id) >= tokenizer.vocab().size()) std::abort();
  if (encoding.attention_mask.size() != encoding.ids.size()) std::abort();
  if (options.return_offsets && encoding.offsets.size() != encoding.ids.size()) std::abort();
  if (options.truncation && encoding.ids.size() > options.max_length) std::abort();
  if (options.padding == tinyxf::text::Padding::max_length && encoding.ids.size() < options.max_length) std::abort();
  if (options.return_type_ids && encoding.type_ids.size() != encoding.ids.size()) std::abort();
  if (options.return_word_ids && encoding.word_ids.size() != encoding.ids.size()) std::abort();
  // Padding sits on its side only: the mask is 0s then 1s on the left, 1s then 0s on the right.
  const bool left = options.padding_side == tinyxf::text::PaddingSide::left;
  for (std::size_t t = 1; t < encoding.attention_mask.size(); ++t)
    if (left ? encoding.attention_mask[t] < encoding.attention_mask[t - 1]
             : encoding.attention_mask[t] > encoding.attention_mask[t - 1])
      std::abort();
}

// Word ids of one segment never decrease and stay below `words` (when known); -1 marks specials.
void check_word_ids(std::span<const std::int32_t> ids, std::size_t words) {
  std::int32_t last = -1;
  for (const std::int32_t w : ids) {
    if (w == tinyxf::text::Encoding::kNoWord) continue;
    if (w < last || w < 0 || (words != 0 && static_cast<std::size_t>(w) >= words)) std::abort();
    last = w;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinyxf;
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  text::EncodeOptions options;
  options.add_special_tokens = flags & 1;
  options.truncation = flags & 2;
  options.padding = (flags & 4) ? text::Padding::max_length : text::Padding::none;
  options.return_offsets = flags & 8;
  options.invalid_utf8 = (flags & 16) ? text::InvalidUtf8::replace : text::InvalidUtf8::error;
  options.max_length = (flags >> 5) * 9;  // 0 (refused) .. 63
  options.padding_side = (size / 3) % 2 ? text::PaddingSide::left : text::PaddingSide::right;
  options.pad_to_multiple_of = (size / 6) % 2 ? 9 : 0;  // divides every max_length above

  const std::size_t nul = rest.find('\0');
  std::string_view text = rest;
  std::optional<text::BertTokenizer> own;
  if (nul != std::string_view::npos) {
    try {
      own.emplace(text::Vocab::from_tokens(split_lines(rest.substr(0, nul)), "fuzz vocab"));
    } catch (const Error&) {
      return 0;  // an invalid vocabulary, reported with its line
    }
    text = rest.substr(nul + 1);
  }
  const text::BertTokenizer& tokenizer = own ? *own : bert_tokenizer();
  text::Encoding single;
  try {
    single = tokenizer.encode(text, options);
  } catch (const Error&) {
    return 0;  // invalid UTF-8 or options the vocabulary cannot meet
  }
  check_encoding(tokenizer, single, options);
  // The batch path (two copies, one thread) must give the same ids as encode.
  const std::vector<std::string_view> batch = {text, text};
  const auto encodings = tokenizer.encode_batch(std::span<const std::string_view>(batch), options, 1);
  if (encodings.size() != 2 || encodings[0].ids != single.ids || encodings[1].ids != single.ids) std::abort();
  if (!single.ids.empty()) (void)tokenizer.decode(single.ids);

  // The two halves as a pair (split on a UTF-8 boundary), under a strategy picked by the size.
  std::size_t half = text.size() / 2;
  while (half < text.size() && (static_cast<unsigned char>(text[half]) & 0xC0) == 0x80) ++half;
  text::EncodeOptions pair_options = options;
  pair_options.return_type_ids = pair_options.return_word_ids = true;
  pair_options.pair_truncation = static_cast<text::PairTruncation>(size % 3);
  try {
    const text::Encoding pair = tokenizer.encode_pair(text.substr(0, half), text.substr(half), pair_options);
    check_encoding(tokenizer, pair, pair_options);
    std::size_t second = 0;  // where type id 1 starts
    while (second < pair.type_ids.size() && pair.type_ids[second] == 0) ++second;
    for (std::size_t i = second; i < pair.type_ids.size(); ++i)
      if (pair.type_ids[i] != (pair.attention_mask[i] ? 1 : 0)) std::abort();
    check_word_ids(std::span(pair.word_ids).first(second), 0);
    check_word_ids(std::span(pair.word_ids).subspan(second), 0);
  } catch (const Error&) {
    // options a pair cannot meet (max_length below 4, only_first / only_second that cannot fit)
  }

  // Overlapping windows of the text and of the pair (only_second), stride from the size.
  try {
    const std::size_t stride = size % 5;
    for (const text::Encoding& w : tokenizer.encode_windows(text, pair_options, stride)) check_encoding(tokenizer, w, pair_options);
    text::EncodeOptions window_options = pair_options;
    window_options.pair_truncation = text::PairTruncation::only_second;
    for (const text::Encoding& w : tokenizer.encode_pair_windows(text.substr(0, half), text.substr(half), window_options, stride))
      check_encoding(tokenizer, w, window_options);
  } catch (const Error&) {
    // no truncation, a stride not below the window, a pair that cannot be cut
  }

  // Split at spaces: pre-split words.
  std::vector<std::string_view> words;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t space = std::min(text.find(' ', start), text.size());
    words.push_back(text.substr(start, space - start));
    start = space + 1;
  }
  text::EncodeOptions word_options = options;
  word_options.return_word_ids = true;
  try {
    const text::Encoding split = tokenizer.encode_words(std::span<const std::string_view>(words), word_options);
    check_encoding(tokenizer, split, word_options);
    check_word_ids(split.word_ids, words.size());
  } catch (const Error&) {
    // invalid UTF-8 in a word
  }
  return 0;
}
