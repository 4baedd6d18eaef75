// tinyxf-tokenize: tokenizes documents from stdin with the BERT uncased WordPiece tokenizer.
//
//   tinyxf-tokenize --vocab PATH [--max-length N] [--padding none|max_length] [--padding-side right|left]
//                   [--pad-to-multiple-of N] [--no-special-tokens] [--pairs [--pair-truncation longest_first|only_first|only_second] | --words]
//                   [--threads N] [--input jsonl|text] [--output jsonl|ids|none]
//
// Input jsonl: one JSON object per line with a string field "text" (and "text_pair" with
// --pairs; with --words instead an array of strings "words", pre-split words as transformers'
// is_split_into_words). Input text: one document per line, split on '\n' only. Output, one line
// per document in input order: jsonl {"ids":[...],"tokens":[...],"attention_mask":[...]} (with
// --pairs also "token_type_ids", with --words "word_ids", null for special tokens and padding);
// ids: space-separated ids; none: nothing,
// and a one-line summary on stderr. Bad input stops with a message naming the line; exit status 1
// for bad input or vocabulary, 2 for bad arguments. See docs/tokenizer.md.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/core/parallel.hpp"
#include "tinyxf/io/cli_numbers.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace {

namespace text = tinyxf::text;

constexpr std::string_view kUsage =
    "usage: tinyxf-tokenize --vocab PATH [--max-length N] [--padding none|max_length]\n"
    "                       [--padding-side right|left] [--pad-to-multiple-of N] [--no-special-tokens]\n"
    "                       [--pairs [--pair-truncation STRATEGY] | --words]\n"
    "                       [--threads N] [--input jsonl|text] [--output jsonl|ids|none]\n"
    "Reads documents from stdin (jsonl: one object with a \"text\" field per line; text: one document\n"
    "per line) and writes one line per document: jsonl {\"ids\",\"tokens\",\"attention_mask\"}, ids\n"
    "(space-separated), or none (a summary on stderr).\n"
    "  --vocab PATH         vocab.txt, one token a line (required)\n"
    "  --max-length N       truncate to N tokens, special tokens included (default: no truncation)\n"
    "  --padding MODE       none (default) or max_length (pad with [PAD] to --max-length)\n"
    "  --padding-side SIDE  right (default) or left: where the [PAD]s go\n"
    "  --pad-to-multiple-of N  round the padded length up to a multiple of N (0: off, the default; no\n"
    "                       effect without padding); with --padding max_length, --max-length must be a\n"
    "                       multiple of N (transformers' pad_to_multiple_of)\n"
    "  --no-special-tokens  leave out [CLS] and [SEP]\n"
    "  --pairs              jsonl lines hold \"text\" and \"text_pair\": [CLS] text [SEP] text_pair [SEP],\n"
    "                       with \"token_type_ids\" in jsonl output\n"
    "  --pair-truncation S  longest_first (default), only_first or only_second: which text of a\n"
    "                       pair longer than --max-length is cut\n"
    "  --words              jsonl lines hold \"words\", an array of pre-split words (is_split_into_words),\n"
    "                       with \"word_ids\" (the word of each token, null for [CLS]/[SEP]/padding)\n"
    "  --threads N          encoding threads (default: all cores)\n";

enum class InputFormat { jsonl, text };
enum class OutputFormat { jsonl, ids, none };

struct Arguments {
  std::string vocab;
  std::optional<std::size_t> max_length;
  bool pad_to_max_length = false;
  text::PaddingSide padding_side = text::PaddingSide::right;
  std::size_t pad_to_multiple_of = 0;
  bool special_tokens = true;
  bool pairs = false;
  bool words = false;
  text::PairTruncation pair_truncation = text::PairTruncation::longest_first;
  bool pair_truncation_given = false;
  unsigned threads = 0;
  InputFormat input = InputFormat::jsonl;
  OutputFormat output = OutputFormat::jsonl;
};

using UsageError = tinyxf::cli::UsageError;

Arguments parse_arguments(int argc, char** argv) {
  Arguments args;
  bool have_vocab = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> inline_value;
    if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw UsageError(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      std::exit(0);
    } else if (flag == "--vocab") {
      args.vocab = value();
      have_vocab = true;
    } else if (flag == "--max-length") {
      args.max_length = tinyxf::cli::parse_integer<std::size_t>(flag, value(), 1, text::EncodeOptions::kMaxLengthLimit);
    } else if (flag == "--padding") {
      const std::string mode = value();
      if (mode != "none" && mode != "max_length")
        throw UsageError("--padding must be none or max_length, got '" + mode + "'");
      args.pad_to_max_length = mode == "max_length";
    } else if (flag == "--padding-side") {
      const std::string side = value();
      if (side != "right" && side != "left")
        throw UsageError("--padding-side must be right or left, got '" + side + "'");
      args.padding_side = text::parse_padding_side(side);
    } else if (flag == "--pad-to-multiple-of") {
      args.pad_to_multiple_of =
          tinyxf::cli::parse_integer<std::size_t>(flag, value(), 0, text::EncodeOptions::kMaxLengthLimit);
    } else if (flag == "--no-special-tokens" && !inline_value) {
      args.special_tokens = false;
    } else if (flag == "--pairs" && !inline_value) {
      args.pairs = true;
    } else if (flag == "--words" && !inline_value) {
      args.words = true;
    } else if (flag == "--pair-truncation") {
      try {
        args.pair_truncation = text::parse_pair_truncation(value());
      } catch (const tinyxf::Error& e) {
        throw UsageError(e.what());
      }
      args.pair_truncation_given = true;
    } else if (flag == "--threads") {
      args.threads = static_cast<unsigned>(tinyxf::cli::parse_integer<int>(flag, value(), 1, tinyxf::kMaxThreads));
    } else if (flag == "--input") {
      const std::string format = value();
      if (format != "jsonl" && format != "text") throw UsageError("--input must be jsonl or text, got '" + format + "'");
      args.input = format == "jsonl" ? InputFormat::jsonl : InputFormat::text;
    } else if (flag == "--output") {
      const std::string format = value();
      if (format == "jsonl")
        args.output = OutputFormat::jsonl;
      else if (format == "ids")
        args.output = OutputFormat::ids;
      else if (format == "none")
        args.output = OutputFormat::none;
      else
        throw UsageError("--output must be jsonl, ids or none, got '" + format + "'");
    } else {
      throw UsageError("unknown argument '" + std::string(argv[i]) + "'");
    }
  }
  if (!have_vocab) throw UsageError("--vocab PATH is required");
  if (args.pad_to_max_length && !args.max_length) throw UsageError("--padding max_length needs --max-length");
  if (args.pair_truncation_given && !args.pairs) throw UsageError("--pair-truncation needs --pairs");
  if (args.pairs && args.input != InputFormat::jsonl) throw UsageError("--pairs needs --input jsonl");
  if (args.words && args.input != InputFormat::jsonl) throw UsageError("--words needs --input jsonl");
  if (args.words && args.pairs) throw UsageError("--words and --pairs cannot be combined");
  return args;
}

// An error that names the 1-based input line.
struct LineError {
  std::size_t line;
  std::string message;
};

// Reads stdin in blocks of whole lines (bounded memory for any corpus size).
class LineReader {
 public:
  // The longest document line accepted: without a bound, a stream without line breaks
  // (/dev/zero) would be buffered until memory runs out.
  static constexpr std::size_t kMaxLineBytes = std::size_t{64} << 20;

  // The next block of complete lines (the last line of the input may lack '\n'); false at the end.
  // `first_line` (1-based) names the first line of the block in errors.
  bool next_block(std::vector<std::string_view>& lines, std::size_t first_line) {
    lines.clear();
    block_.erase(0, consumed_);  // what is left is a partial line, without '\n'
    consumed_ = 0;
    bool has_line = false;
    while (!eof_ && (!has_line || block_.size() < kBlockBytes)) {
      const std::size_t old = block_.size();
      if (!has_line && old > kMaxLineBytes)
        throw LineError{first_line, "line is longer than " + std::to_string(kMaxLineBytes) + " bytes"};
      read_more();
      has_line = has_line || block_.find('\n', old) != std::string::npos;
    }
    std::size_t start = 0;
    while (true) {
      const std::size_t newline = block_.find('\n', start);
      if (newline == std::string::npos) break;
      lines.emplace_back(block_.data() + start, newline - start);
      start = newline + 1;
    }
    if (eof_ && start < block_.size()) {  // last line without '\n'
      lines.emplace_back(block_.data() + start, block_.size() - start);
      start = block_.size();
    }
    consumed_ = start;
    return !lines.empty();
  }

 private:
  static constexpr std::size_t kBlockBytes = std::size_t{8} << 20;

  void read_more() {
    const std::size_t old = block_.size();
    block_.resize(old + (std::size_t{1} << 20));
    const std::size_t n = std::fread(block_.data() + old, 1, block_.size() - old, stdin);
    block_.resize(old + n);
    if (n == 0) {
      TINYXF_CHECK(!std::ferror(stdin), "error reading stdin");
      eof_ = true;
    }
  }

  std::string block_;
  std::size_t consumed_ = 0;  // bytes of block_ handed out as lines
  bool eof_ = false;
};

// The string fields "text" (and "text_pair" with `pair`) of one jsonl line.
std::pair<std::string, std::string> texts_of_json_line(std::string_view line, std::size_t line_number, bool pair) {
  try {
    const tinyxf::json::Value value = tinyxf::json::parse(line);
    const auto field = [&](const char* name) {
      const tinyxf::json::Value* f = value.find(name);
      if (f == nullptr || !f->is_string())
        throw LineError{line_number, std::string("expected a JSON object with a string field \"") + name + "\""};
      return f->as_string();
    };
    return {field("text"), pair ? field("text_pair") : std::string()};
  } catch (const tinyxf::Error& e) {
    throw LineError{line_number, e.what()};
  }
}

// The string array "words" of one jsonl line.
std::vector<std::string> words_of_json_line(std::string_view line, std::size_t line_number) {
  try {
    const tinyxf::json::Value value = tinyxf::json::parse(line);
    const tinyxf::json::Value* words = value.find("words");
    if (words == nullptr || !words->is_array())
      throw LineError{line_number, "expected a JSON object with an array of strings \"words\""};
    std::vector<std::string> out;
    for (std::size_t i = 0; i < words->size(); ++i) {
      if (!words->at(i).is_string())
        throw LineError{line_number, "word " + std::to_string(i) + " of \"words\" is not a string"};
      out.push_back(words->at(i).as_string());
    }
    return out;
  } catch (const tinyxf::Error& e) {
    throw LineError{line_number, e.what()};
  }
}

void append_output(std::string& out, const text::BertTokenizer& tokenizer, const text::Encoding& encoding,
                   OutputFormat format) {
  char number[16];
  auto append_int = [&](long value) {
    const int n = std::snprintf(number, sizeof number, "%ld", value);
    out.append(number, static_cast<std::size_t>(n));
  };
  if (format == OutputFormat::ids) {
    for (std::size_t i = 0; i < encoding.ids.size(); ++i) {
      if (i) out += ' ';
      append_int(encoding.ids[i]);
    }
    out += '\n';
    return;
  }
  out += "{\"ids\":[";
  for (std::size_t i = 0; i < encoding.ids.size(); ++i) {
    if (i) out += ',';
    append_int(encoding.ids[i]);
  }
  out += "],\"tokens\":[";
  for (std::size_t i = 0; i < encoding.ids.size(); ++i) {
    if (i) out += ',';
    out += '"';
    tinyxf::json::append_escaped(out, tokenizer.vocab().token(encoding.ids[i]));
    out += '"';
  }
  out += "],\"attention_mask\":[";
  for (std::size_t i = 0; i < encoding.attention_mask.size(); ++i) {
    if (i) out += ',';
    out += encoding.attention_mask[i] ? '1' : '0';
  }
  if (!encoding.type_ids.empty()) {
    out += "],\"token_type_ids\":[";
    for (std::size_t i = 0; i < encoding.type_ids.size(); ++i) {
      if (i) out += ',';
      out += encoding.type_ids[i] ? '1' : '0';
    }
  }
  if (!encoding.word_ids.empty()) {
    out += "],\"word_ids\":[";
    for (std::size_t i = 0; i < encoding.word_ids.size(); ++i) {
      if (i) out += ',';
      if (encoding.word_ids[i] == text::Encoding::kNoWord) out += "null";
      else append_int(encoding.word_ids[i]);
    }
  }
  out += "]}\n";
}

int run(const Arguments& args) {
  const auto start = std::chrono::steady_clock::now();
  const text::BertTokenizer tokenizer = text::BertTokenizer::from_file(args.vocab);
  text::EncodeOptions options;
  options.add_special_tokens = args.special_tokens;
  options.truncation = args.max_length.has_value();
  if (args.max_length) options.max_length = *args.max_length;
  options.padding = args.pad_to_max_length ? text::Padding::max_length : text::Padding::none;
  options.padding_side = args.padding_side;
  options.pad_to_multiple_of = args.pad_to_multiple_of;
  options.pair_truncation = args.pair_truncation;
  options.return_type_ids = args.pairs;
  options.return_word_ids = args.words;
  try {
    tokenizer.check_options(options, args.pairs);
  } catch (const tinyxf::Error& e) {
    throw UsageError(e.what());
  }
  const unsigned threads = args.threads ? args.threads : std::max(1u, std::thread::hardware_concurrency());

  LineReader reader;
  std::vector<std::string_view> lines;
  std::vector<std::pair<std::string, std::string>> json_texts;
  std::vector<std::string_view> texts;
  std::vector<text::TextPair> pairs;
  std::vector<std::vector<std::string>> word_lists;  // --words
  std::string out;
  std::size_t first_line = 1, documents = 0, tokens = 0;
  double encode_seconds = 0;
  while (reader.next_block(lines, first_line)) {
    texts.clear();
    pairs.clear();
    word_lists.clear();
    if (args.words) {
      for (std::size_t i = 0; i < lines.size(); ++i) word_lists.push_back(words_of_json_line(lines[i], first_line + i));
    } else if (args.input == InputFormat::jsonl) {
      json_texts.clear();
      for (std::size_t i = 0; i < lines.size(); ++i)
        json_texts.push_back(texts_of_json_line(lines[i], first_line + i, args.pairs));
      for (const auto& [first, second] : json_texts) {
        if (args.pairs) pairs.emplace_back(first, second);
        else texts.emplace_back(first);
      }
    } else {
      texts = lines;
    }
    std::vector<text::Encoding> encodings;
    const auto encode_start = std::chrono::steady_clock::now();
    try {
      encodings = args.words   ? tokenizer.encode_words_batch(word_lists, options, threads)
                  : args.pairs ? tokenizer.encode_pair_batch(std::span<const text::TextPair>(pairs), options, threads)
                               : tokenizer.encode_batch(std::span<const std::string_view>(texts), options, threads);
    } catch (const text::BatchEncodeError& e) {
      throw LineError{first_line + e.document(), e.reason()};
    }
    encode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - encode_start).count();
    documents += encodings.size();
    for (const text::Encoding& e : encodings)
      for (const std::int32_t m : e.attention_mask) tokens += static_cast<std::size_t>(m);
    if (args.output != OutputFormat::none) {
      out.clear();
      for (const text::Encoding& e : encodings) append_output(out, tokenizer, e, args.output);
      TINYXF_CHECK(std::fwrite(out.data(), 1, out.size(), stdout) == out.size(), "error writing stdout");
    }
    first_line += lines.size();
  }
  TINYXF_CHECK(std::fflush(stdout) == 0, "error writing stdout");
  if (args.output == OutputFormat::none) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "tinyxf-tokenize: %zu documents, %zu tokens, %.3f seconds (%.3f encoding, %u threads)\n",
                 documents, tokens, seconds, encode_seconds, threads);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_arguments(argc, argv));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tinyxf-tokenize: %s\n%.*s", e.what(), static_cast<int>(kUsage.size()),
                 kUsage.data());
    return 2;
  } catch (const LineError& e) {
    std::fprintf(stderr, "tinyxf-tokenize: line %zu: %s\n", e.line, e.message.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyxf-tokenize: %s\n", e.what());
    return 1;
  }
}
