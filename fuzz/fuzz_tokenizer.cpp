// libFuzzer target: vocabulary loading and the BERT tokenizer.
// Input: one options byte, then either "vocab lines \0 text" (a vocabulary built from the lines,
// as Vocab::from_file splits them) or, without a NUL byte, a text for the real bert-base-uncased
// vocabulary. Every encoding must respect the options: ids inside the vocabulary, lengths
// within max_length, masks and offsets of matching sizes; encode_batch must agree with encode.
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
  return 0;
}
