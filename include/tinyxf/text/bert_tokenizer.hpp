#pragma once
// tinyxf::text::BertTokenizer: the bert-base-uncased / distilbert-base-uncased tokenizer, token for
// token identical to Hugging Face's fast (Rust) tokenizer:
//   special-token literals in the raw text -> BertNormalizer (clean text, pad CJK ideographs, NFD
//   and drop Mn, lowercase) -> BertPreTokenizer (split on whitespace, isolate punctuation) ->
//   WordPiece (greedy longest match, "##" continuations, > 100 chars or unmatched -> [UNK]) ->
//   [CLS] ... [SEP] (a pair: [CLS] first [SEP] second [SEP], type ids 0/1), truncation, padding.
// One pass over the bytes, an ASCII fast path, no allocation per character or per word.
// See docs/tokenizer.md.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/text/unicode.hpp"
#include "tinyxf/text/vocab.hpp"

namespace tinyxf::text {

enum class Padding {
  none,        // sequences keep their own length
  longest,     // pad to the longest sequence of the batch
  max_length,  // pad to EncodeOptions::max_length
};

// Which end of a sequence padding goes to (Hugging Face's padding_side).
enum class PaddingSide {
  right,  // [PAD] after the tokens (the default)
  left,   // [PAD] before them
};

// "right" or "left" (Hugging Face's padding_side values).
inline PaddingSide parse_padding_side(std::string_view name) {
  if (name == "right") return PaddingSide::right;
  if (name == "left") return PaddingSide::left;
  throw ValueError(::tinyxf::detail::concat("padding_side must be right or left, got '", name, "'"));
}

enum class InvalidUtf8 {
  error,    // throw tinyxf::Error naming the byte offset
  replace,  // read each malformed sequence as U+FFFD (as Python's errors="replace"); BERT drops it
};

// Which word pieces survive truncation (the text's room is max_length minus [CLS] and [SEP]).
enum class Truncation {
  head,       // the first pieces (Hugging Face's truncation_side "right", the default)
  tail,       // the last pieces (truncation_side "left")
  head_tail,  // the first head_tokens pieces and the last room - head_tokens (Sun et al. 2019)
};

// "head", "tail" or "head_tail" (the names of the command-line flags and TrainingArguments).
inline Truncation parse_truncation(std::string_view name) {
  if (name == "head") return Truncation::head;
  if (name == "tail") return Truncation::tail;
  if (name == "head_tail") return Truncation::head_tail;
  throw ValueError(::tinyxf::detail::concat("truncation must be head, tail or head_tail, got '", name, "'"));
}

// Which text of a pair loses pieces when the pair is longer than max_length (tokenizers'
// TruncationStrategy; EncodeOptions::truncation_side says from which end).
enum class PairTruncation {
  longest_first,  // the longer text first; both down to half the room if need be (the default)
  only_first,     // the first text only (an error if that cannot make the pair fit)
  only_second,    // the second text only (likewise)
};

// "longest_first", "only_first" or "only_second" (Hugging Face's names).
inline PairTruncation parse_pair_truncation(std::string_view name) {
  if (name == "longest_first") return PairTruncation::longest_first;
  if (name == "only_first") return PairTruncation::only_first;
  if (name == "only_second") return PairTruncation::only_second;
  throw ValueError(::tinyxf::detail::concat("pair truncation must be longest_first, only_first or only_second, got '",
                                            name, "'"));
}

struct EncodeOptions {
  // The largest max_length accepted: padding allocates max_length ids per text up front, so an
  // absurd value (a mistyped flag, SIZE_MAX) must be an error rather than a huge allocation.
  static constexpr std::size_t kMaxLengthLimit = std::size_t{1} << 20;

  bool add_special_tokens = true;  // [CLS] text [SEP]; a pair: [CLS] first [SEP] second [SEP]
  bool truncation = true;          // keep at most max_length tokens, special tokens included
  std::size_t max_length = 512;     // at most kMaxLengthLimit
  // Which pieces a truncated text keeps; unset: the tokenizer's truncation_side() (head unless
  // its folder says otherwise), as Hugging Face's tokenizer.truncation_side.
  std::optional<Truncation> truncation_side = std::nullopt;
  PairTruncation pair_truncation = PairTruncation::longest_first;  // which text of a pair is cut
  std::size_t head_tokens = 0;      // head_tail: pieces kept from the start (at most the room)
  Padding padding = Padding::none;
  // Where [PAD] goes; unset: the tokenizer's padding_side() (right unless its folder says left),
  // as transformers' padding_side=None.
  std::optional<PaddingSide> padding_side = std::nullopt;
  // Rounds the padded length up to a multiple of this (0: off; no effect without padding), as
  // transformers' pad_to_multiple_of. With truncation, max_length must be a multiple of it.
  std::size_t pad_to_multiple_of = 0;
  bool return_offsets = false;
  bool return_type_ids = false;  // Encoding::type_ids (BERT's token_type_ids)
  bool return_word_ids = false;  // Encoding::word_ids
  InvalidUtf8 invalid_utf8 = InvalidUtf8::error;
};

// Half-open span of characters (Unicode scalar values, like Python str indices) in the input text.
// Added [CLS]/[SEP] and padding get {0, 0}, as in Hugging Face.
struct CharSpan {
  std::size_t begin = 0, end = 0;
  bool operator==(const CharSpan&) const = default;
};

struct Encoding {
  std::vector<TokenId> ids;
  std::vector<std::int32_t> attention_mask;  // 1 for tokens, 0 for padding
  std::vector<CharSpan> offsets;             // empty unless EncodeOptions::return_offsets; a pair's
                                             // second text has spans into that text
  // Empty unless EncodeOptions::return_type_ids: 0 for the first text, [CLS] and its [SEP], 1 for
  // a pair's second text and the last [SEP], 0 for padding (BERT's token_type_ids).
  std::vector<std::int32_t> type_ids;
  // Empty unless EncodeOptions::return_word_ids: the index of the word each token comes from
  // (tokenizers' word_ids: a word of the BERT pre-tokenizer — punctuation is a word of its own —
  // or the input word of encode_words), kNoWord for [CLS], [SEP] and padding; a pair's second
  // text counts its words from 0 again.
  std::vector<std::int32_t> word_ids;
  static constexpr std::int32_t kNoWord = -1;
};

// Two texts encoded as one sequence (a question and a passage, a premise and a hypothesis).
using TextPair = std::pair<std::string_view, std::string_view>;

// The lengths two texts of n1 and n2 pieces keep when at most `room` fit (tokenizers'
// truncate_encodings). longest_first: when the shorter text leaves the longer enough room, only
// the longer one is cut; otherwise both get half the room, the longer one (the second when they
// are equal) the odd piece. Throws ValueError when only_first / only_second cannot fit the pair.
inline std::pair<std::size_t, std::size_t> pair_truncated_lengths(std::size_t n1, std::size_t n2, std::size_t room,
                                                                  PairTruncation strategy) {
  if (n1 + n2 <= room) return {n1, n2};
  const std::size_t excess = n1 + n2 - room;
  if (strategy != PairTruncation::longest_first) {
    const bool first = strategy == PairTruncation::only_first;
    const std::size_t target = first ? n1 : n2;
    TINYXF_CHECK_AS(ValueError, target > excess, "BertTokenizer: ", first ? "only_first" : "only_second",
                    " truncation cannot fit the pair into ", room, " pieces: the ", first ? "first" : "second",
                    " text has ", target, " pieces and ", excess, " must go (tokenizers: \"Sequence to truncate too "
                    "short to respect the provided max_length\")");
    return first ? std::pair{n1 - excess, n2} : std::pair{n1, n2 - excess};
  }
  const std::size_t shorter = std::min(n1, n2), longer = std::max(n1, n2);
  std::size_t keep_shorter = shorter, keep_longer = shorter > room ? shorter : std::max(shorter, room - shorter);
  if (keep_shorter + keep_longer > room) {
    keep_shorter = room / 2;
    keep_longer = keep_shorter + room % 2;
  }
  keep_shorter = std::min(keep_shorter, shorter);
  keep_longer = std::min(keep_longer, longer);
  return n1 > n2 ? std::pair{keep_longer, keep_shorter} : std::pair{keep_shorter, keep_longer};
}

// The [start, stop) ranges of overlapping windows of at most `keep` of n pieces, each repeating
// the last `stride` pieces of the one before (tokenizers' Encoding::truncate with a stride): from
// the start, or with from_end from the end backwards. n <= keep is one window. Throws ValueError
// unless stride < keep.
inline std::vector<std::pair<std::size_t, std::size_t>> window_ranges(std::size_t n, std::size_t keep, std::size_t stride,
                                                                      bool from_end) {
  if (n <= keep) return {{0, n}};
  TINYXF_CHECK_AS(ValueError, stride < keep, "BertTokenizer: stride ", stride, " must be below the ", keep,
                  " pieces a window holds (max_length minus the special tokens and any other text)");
  const std::size_t step = keep - stride;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  if (!from_end) {
    for (std::size_t start = 0;; start += step) {
      const std::size_t stop = std::min(start + keep, n);
      ranges.emplace_back(start, stop);
      if (stop == n) break;
    }
  } else {
    for (std::size_t stop = n;; stop -= step) {
      const std::size_t start = stop < keep ? 0 : stop - keep;
      ranges.emplace_back(start, stop);
      if (start == 0 || stop <= step) break;
    }
  }
  return ranges;
}

struct DecodeOptions {
  bool skip_special_tokens = false;
  // false: exactly tokenizers' Tokenizer.decode. true: also transformers' clean_up_tokenization
  // (" 's" -> "'s", " n't" -> "n't", ...), what BertTokenizerFast.decode did by default in v4; in
  // v5 its default is the tokenizer's clean_up_tokenization_spaces (BertTokenizer's, below).
  bool clean_up_tokenization_spaces = false;
};

// The token positions [start, end] (inclusive) of an answer given as characters [begin, end) of
// the context in one window of encode_pair_windows (SQuAD training features, transformers'
// prepare_train_features): the first and last context tokens covering it, or {0, 0} — the [CLS]
// position, "no answer here" — when the window's context does not contain the whole answer. The
// context is the text whose tokens have type id `context_type_id` (1: the second text); the
// window needs offsets, type ids and word ids (EncodeOptions::return_offsets, return_type_ids,
// return_word_ids). Unlike the script, the search never runs past the context into [SEP].
inline std::pair<std::int64_t, std::int64_t> answer_token_positions(const Encoding& window, std::size_t begin,
                                                                    std::size_t end, std::int32_t context_type_id = 1) {
  TINYXF_CHECK_AS(ValueError, window.offsets.size() == window.ids.size() && window.type_ids.size() == window.ids.size() &&
                                  window.word_ids.size() == window.ids.size(),
                  "answer_token_positions: the window needs offsets, type ids and word ids (EncodeOptions::"
                  "return_offsets, return_type_ids, return_word_ids)");
  TINYXF_CHECK_AS(ValueError, begin < end, "answer_token_positions: the answer [", begin, ", ", end, ") is empty");
  const auto in_context = [&](std::size_t t) {
    return window.type_ids[t] == context_type_id && window.word_ids[t] != Encoding::kNoWord;
  };
  std::size_t first = 0;
  while (first < window.ids.size() && !in_context(first)) ++first;
  if (first == window.ids.size()) return {0, 0};
  std::size_t last = first;
  while (last + 1 < window.ids.size() && in_context(last + 1)) ++last;
  if (window.offsets[first].begin > begin || window.offsets[last].end < end) return {0, 0};
  std::size_t start = first, stop = last;
  while (start < last && window.offsets[start + 1].begin <= begin) ++start;
  while (stop > start && window.offsets[stop - 1].end >= end) --stop;
  return {static_cast<std::int64_t>(start), static_cast<std::int64_t>(stop)};
}

// Thrown by encode_batch: which document failed, and why.
class BatchEncodeError : public Error {
 public:
  BatchEncodeError(std::size_t document, const std::string& reason)
      : Error(::tinyxf::detail::concat("document ", document, ": ", reason)), document_(document), reason_(reason) {}
  std::size_t document() const { return document_; }  // 0-based index in the batch
  const std::string& reason() const { return reason_; }

 private:
  std::size_t document_;
  std::string reason_;
};

namespace detail {

inline constexpr std::size_t kMaxInputCharsPerWord = 100;     // longer words become [UNK]
inline constexpr std::size_t kWordBufferBytes = kMaxInputCharsPerWord * 4;

enum AsciiClass : std::uint8_t { kAsciiDrop, kAsciiSpace, kAsciiPunct, kAsciiUpper, kAsciiWord };

inline constexpr std::array<std::uint8_t, 128> kAsciiClass = [] {
  std::array<std::uint8_t, 128> table{};
  for (int c = 0; c < 128; ++c) {
    const auto cp = static_cast<char32_t>(c);
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ')
      table[c] = kAsciiSpace;
    else if (c < 0x20 || c == 0x7F)  // Cc: removed (\v and \f too: control wins over whitespace)
      table[c] = kAsciiDrop;
    else if ((cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
             (cp >= 0x7B && cp <= 0x7E))
      table[c] = kAsciiPunct;
    else if (c >= 'A' && c <= 'Z')
      table[c] = kAsciiUpper;
    else
      table[c] = kAsciiWord;
  }
  return table;
}();

// Replaces every occurrence of `from`, left to right (Python's str.replace).
inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::size_t at = s.find(from);
  if (at == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  std::size_t done = 0;
  for (; at != std::string::npos; at = s.find(from, done)) {
    out.append(s, done, at - done);
    out += to;
    done = at + from.size();
  }
  out.append(s, done);
  s = std::move(out);
}

}  // namespace detail

class BertTokenizer {
 public:
  explicit BertTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
    const SpecialTokenIds& ids = vocab_.special_ids();
    for (const TokenId id : {ids.pad, ids.unk, ids.cls, ids.sep, ids.mask}) {
      if (id < 0) continue;
      const std::string_view literal = vocab_.token(id);
      specials_.push_back(SpecialLiteral{std::string(literal), id, count_chars(literal)});
      special_first_byte_[static_cast<unsigned char>(literal[0])] = true;
    }
    // Longest first, so that the first literal that matches is the leftmost-longest match.
    std::stable_sort(specials_.begin(), specials_.end(),
                     [](const SpecialLiteral& a, const SpecialLiteral& b) { return a.text.size() > b.text.size(); });
  }

  static BertTokenizer from_file(const std::filesystem::path& vocab_path) {
    return BertTokenizer(Vocab::from_file(vocab_path));
  }

  const Vocab& vocab() const { return vocab_; }

  // The sides EncodeOptions fall back on when they leave padding_side / truncation_side unset:
  // Hugging Face's tokenizer.padding_side and truncation_side (models::load_pretrained_tokenizer
  // sets them from the folder). Set them before sharing the tokenizer between threads.
  PaddingSide padding_side() const { return padding_side_; }
  void set_padding_side(PaddingSide side) { padding_side_ = side; }
  Truncation truncation_side() const { return truncation_side_; }
  void set_truncation_side(Truncation side) { truncation_side_ = side; }

  // Hugging Face's tokenizer.model_max_length: what transformers' tokenizer(..., truncation=True)
  // cuts to when no max_length is given (bert-base-uncased: 512). tinyxf truncates to
  // EncodeOptions::max_length; this is kept so that a folder read by load_pretrained_tokenizer and
  // written by save_pretrained_tokenizer keeps it. Unset: transformers' "no limit".
  std::optional<std::size_t> model_max_length() const { return model_max_length_; }
  void set_model_max_length(std::optional<std::size_t> length) { model_max_length_ = length; }

  // Hugging Face's tokenizer.clean_up_tokenization_spaces, what its decode() and the fill-mask
  // pipeline apply unless told otherwise: false in transformers 5 (true in 4.x), or the folder's
  // tokenizer_config.json. models::fill_mask follows it; DecodeOptions says it per call.
  bool clean_up_tokenization_spaces() const { return clean_up_tokenization_spaces_; }
  void set_clean_up_tokenization_spaces(bool clean_up) { clean_up_tokenization_spaces_ = clean_up; }

  // `options` with this tokenizer's sides where it leaves them unset.
  EncodeOptions with_defaults(EncodeOptions options) const {
    if (!options.padding_side) options.padding_side = padding_side_;
    if (!options.truncation_side) options.truncation_side = truncation_side_;
    return options;
  }

  // Encodes one text. Throws tinyxf::Error on invalid UTF-8 (unless options.invalid_utf8 is
  // replace) and on options that cannot be met (max_length below the special tokens, padding
  // without [PAD]).
  Encoding encode(std::string_view text, const EncodeOptions& given = {}) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options);
    Encoding encoding;
    encode_into(text, options, encoding);
    pad_alone(encoding, options);
    return encoding;
  }

  // Encodes a pair of texts as one sequence, as tokenizers' encode(first, second): [CLS] first
  // [SEP] second [SEP], truncated by options.pair_truncation from the options.truncation_side end
  // of each text (head_tail is for single texts), type ids 0 then 1 when return_type_ids.
  Encoding encode_pair(std::string_view first, std::string_view second, const EncodeOptions& given = {}) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options, true);
    Encoding encoding;
    encode_pair_into(first, second, options, encoding);
    pad_alone(encoding, options);
    return encoding;
  }

  // Encodes many texts on `threads` threads (0: all cores), results in input order and identical
  // to encode() of each text. Padding::longest pads to the longest encoding of the batch. Throws
  // BatchEncodeError for the first failing document ("document 17: ...").
  std::vector<Encoding> encode_batch(std::span<const std::string_view> texts, const EncodeOptions& given = {},
                                     unsigned threads = 0) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options);
    return run_batch(texts.size(), options, threads,
                     [&](std::size_t i, Encoding& encoding) { encode_into(texts[i], options, encoding); });
  }

  // Encodes a text already split into words (transformers' is_split_into_words=True, tokenizers'
  // is_pretokenized), the usual input of token classification: each word is normalized and
  // pre-tokenized on its own (so "don't" still gives don ' t), its tokens get its index as word
  // id, and offsets are spans into their word. An empty word gives no token.
  Encoding encode_words(std::span<const std::string_view> words, const EncodeOptions& given = {}) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options);
    Encoding encoding;
    encode_words_into(words, options, encoding);
    pad_alone(encoding, options);
    return encoding;
  }
  Encoding encode_words(const std::vector<std::string>& words, const EncodeOptions& options = {}) const {
    const std::vector<std::string_view> views(words.begin(), words.end());
    return encode_words(std::span<const std::string_view>(views), options);
  }

  // encode_words of many documents, on `threads` threads, as encode_batch.
  std::vector<Encoding> encode_words_batch(std::span<const std::vector<std::string>> documents,
                                           const EncodeOptions& given = {}, unsigned threads = 0) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options);
    return run_batch(documents.size(), options, threads, [&](std::size_t i, Encoding& encoding) {
      const std::vector<std::string_view> views(documents[i].begin(), documents[i].end());
      encode_words_into(views, options, encoding);
    });
  }

  // A text longer than max_length as overlapping windows (transformers' return_overflowing_tokens
  // with `stride`; tokenizers' Encoding.overflowing, the main encoding first): each window holds
  // max_length tokens with its [CLS]/[SEP] and repeats the last `stride` pieces of the one before
  // (truncation_side head: windows from the start; tail: from the end, the last pieces first). A
  // text that fits is one window. stride must be below the pieces a window holds.
  std::vector<Encoding> encode_windows(std::string_view text, const EncodeOptions& given, std::size_t stride) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options);
    check_windows(options);
    const Pieces pieces = pieces_of(text, options);
    const std::size_t room = options.max_length - (options.add_special_tokens ? 2 : 0);
    std::vector<Encoding> windows;
    for (const auto& [start, stop] : window_ranges(pieces.size(), room, stride, options.truncation_side == Truncation::tail)) {
      const std::array<Slice, 1> slices{Slice{&pieces, start, stop - start}};
      assemble(options, slices, windows.emplace_back());
    }
    return padded(std::move(windows), options);
  }

  // A pair whose only_first / only_second text is cut into overlapping windows, each with the
  // whole other text (SQuAD: the question with every window of its context, truncation
  // "only_second", stride 128): tokenizers' overflowing encodings of encode(first, second), the
  // main one first. longest_first cannot make windows (refused).
  std::vector<Encoding> encode_pair_windows(std::string_view first, std::string_view second, const EncodeOptions& given,
                                            std::size_t stride) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options, true);
    check_windows(options);
    TINYXF_CHECK_AS(ValueError, options.pair_truncation != PairTruncation::longest_first,
                    "BertTokenizer: windows over a pair need pair_truncation only_first or only_second (the text "
                    "cut into windows), not longest_first");
    const Pieces a = pieces_of(first, options), b = pieces_of(second, options);
    const std::size_t room = options.max_length - (options.add_special_tokens ? 3 : 0);
    const auto [keep_a, keep_b] = pair_truncated_lengths(a.size(), b.size(), room, options.pair_truncation);
    const bool windows_of_first = options.pair_truncation == PairTruncation::only_first;
    std::vector<Encoding> windows;
    for (const auto& [start, stop] : window_ranges(windows_of_first ? a.size() : b.size(), windows_of_first ? keep_a : keep_b,
                                                   stride, options.truncation_side == Truncation::tail)) {
      const Slice window{windows_of_first ? &a : &b, start, stop - start};
      const Slice whole{windows_of_first ? &b : &a, 0, windows_of_first ? b.size() : a.size()};
      const std::array<Slice, 2> slices{windows_of_first ? window : whole, windows_of_first ? whole : window};
      assemble(options, slices, windows.emplace_back());
    }
    return padded(std::move(windows), options);
  }

  // encode_pair of many pairs, on `threads` threads, as encode_batch.
  std::vector<Encoding> encode_pair_batch(std::span<const TextPair> pairs, const EncodeOptions& given = {},
                                          unsigned threads = 0) const {
    const EncodeOptions options = with_defaults(given);
    check_options(options, true);
    return run_batch(pairs.size(), options, threads, [&](std::size_t i, Encoding& encoding) {
      encode_pair_into(pairs[i].first, pairs[i].second, options, encoding);
    });
  }

  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, const EncodeOptions& options = {},
                                     unsigned threads = 0) const {
    std::vector<std::string_view> views(texts.begin(), texts.end());
    return encode_batch(std::span<const std::string_view>(views), options, threads);
  }

  // The token strings of ids (views into the vocabulary).
  std::vector<std::string_view> tokens(std::span<const TokenId> ids) const {
    std::vector<std::string_view> out;
    out.reserve(ids.size());
    for (const TokenId id : ids) out.push_back(vocab_.token(id));
    return out;
  }

  // The normalized words that WordPiece sees, special-token literals kept whole: what HF's
  // pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)) gives between the specials.
  std::vector<std::string> pre_tokenize(std::string_view text, InvalidUtf8 invalid_utf8 = InvalidUtf8::error) const {
    std::vector<std::string> words;
    WordConsumer consumer{words};
    scan(text, invalid_utf8, consumer);
    return words;
  }

  // Hugging Face's WordPiece decoder (cleanup on): "##" pieces join the previous token, other
  // tokens get a space before them, then each piece gets tokenizers' cleanup (" ." -> "." etc.).
  // Unlike HF, an id outside the vocabulary is an error rather than silently dropped.
  std::string decode(std::span<const TokenId> ids, const DecodeOptions& options = {}) const {
    std::string out, piece;
    bool first = true;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      TINYXF_CHECK_AS(IndexError, ids[i] >= 0 && static_cast<std::size_t>(ids[i]) < vocab_.size(),
                      "BertTokenizer::decode: id ", ids[i], " at position ", i, " is outside the vocabulary (size ",
                      vocab_.size(), ")");
      if (options.skip_special_tokens && is_special(ids[i])) continue;
      std::string_view token = vocab_.token(ids[i]);
      piece.clear();
      if (!first) {
        if (token.starts_with(Vocab::kContinuationPrefix))
          token.remove_prefix(Vocab::kContinuationPrefix.size());
        else
          piece += ' ';
      }
      first = false;
      piece += token;
      // tokenizers' decoders::wordpiece::cleanup, applied to each piece
      for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{" .", "."}, {" ?", "?"},
                                     {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"}, {" 'm", "'m"},
                                     {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}})
        detail::replace_all(piece, from, to);
      out += piece;
    }
    if (options.clean_up_tokenization_spaces) {
      // transformers' PreTrainedTokenizerBase.clean_up_tokenization, on the whole text
      for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{" .", "."}, {" ?", "?"},
                                     {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"}, {" 'm", "'m"},
                                     {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}})
        detail::replace_all(out, from, to);
    }
    return out;
  }

  // Throws tinyxf::Error when options cannot be met with this vocabulary: special tokens without
  // [CLS]/[SEP], padding without [PAD], max_length that leaves no room for the text.
  void check_options(const EncodeOptions& given, bool pair = false) const {
    const EncodeOptions options = with_defaults(given);
    const SpecialTokenIds& ids = vocab_.special_ids();
    if (options.add_special_tokens)
      TINYXF_CHECK_AS(ValueError, ids.cls >= 0 && ids.sep >= 0,
                      "BertTokenizer: add_special_tokens needs [CLS] and [SEP] in '", vocab_.origin(), "'");
    if (options.padding != Padding::none)
      TINYXF_CHECK_AS(ValueError, ids.pad >= 0, "BertTokenizer: padding needs [PAD] in '", vocab_.origin(), "'");
    if (options.truncation || options.padding == Padding::max_length) {
      TINYXF_CHECK_AS(ValueError, options.max_length <= EncodeOptions::kMaxLengthLimit, "BertTokenizer: max_length ",
                      options.max_length, " exceeds the limit of ", EncodeOptions::kMaxLengthLimit, " tokens");
      const std::size_t specials = options.add_special_tokens ? (pair ? 3 : 2) : 0;
      TINYXF_CHECK_AS(ValueError, options.max_length > specials, "BertTokenizer: max_length ", options.max_length,
                      " leaves no room for tokens besides the ", specials, " special tokens");
    }
    TINYXF_CHECK_AS(ValueError, options.pad_to_multiple_of <= EncodeOptions::kMaxLengthLimit,
                    "BertTokenizer: pad_to_multiple_of ", options.pad_to_multiple_of, " exceeds the limit of ",
                    EncodeOptions::kMaxLengthLimit, " tokens");
    // transformers' check: padding rounded past max_length would undo the truncation.
    if (options.truncation && options.padding != Padding::none && options.pad_to_multiple_of > 0)
      TINYXF_CHECK_AS(ValueError, options.max_length % options.pad_to_multiple_of == 0,
                      "BertTokenizer: truncation and padding are both on but max_length ", options.max_length,
                      " is not a multiple of pad_to_multiple_of ", options.pad_to_multiple_of,
                      " (transformers: \"Truncation and padding are both activated but truncation length (",
                      options.max_length, ") is not a multiple of pad_to_multiple_of (", options.pad_to_multiple_of,
                      ")\")");
    TINYXF_CHECK_AS(ValueError, !(pair && options.truncation && options.truncation_side == Truncation::head_tail),
                    "BertTokenizer: head_tail truncation is for single texts; a pair keeps the head or the tail "
                    "of each text (truncation_side head or tail)");
    if (options.truncation && options.truncation_side == Truncation::head_tail) {
      const std::size_t room = options.max_length - (options.add_special_tokens ? 2 : 0);
      TINYXF_CHECK_AS(ValueError, options.head_tokens <= room, "BertTokenizer: head_tokens ", options.head_tokens,
                      " exceeds the room for text tokens (max_length ", options.max_length,
                      options.add_special_tokens ? " minus [CLS] and [SEP] = " : " = ", room, ")");
    }
  }

  // Windows need truncation to a max_length and one end to start from.
  static void check_windows(const EncodeOptions& options) {
    TINYXF_CHECK_AS(ValueError, options.truncation, "BertTokenizer: windows need truncation (their max_length)");
    TINYXF_CHECK_AS(ValueError, options.truncation_side != Truncation::head_tail,
                    "BertTokenizer: windows start from the head or the tail, not head_tail");
  }

  // Whether id is one of the special tokens ([PAD] [UNK] [CLS] [SEP] [MASK]).
  bool is_special(TokenId id) const { return vocab_.special_ids().contains(id); }

 private:
  struct SpecialLiteral {
    std::string text;  // spelling, matched in the raw text (a copy: the tokenizer may be copied)
    TokenId id;
    std::size_t chars;
  };

  // The word being built by one pass, and the source character of each of its bytes.
  struct Word {
    std::string bytes;                      // normalized UTF-8
    std::vector<std::uint32_t> char_begin;  // per byte, when offsets are wanted
    std::vector<std::uint32_t> char_end;
    std::size_t chars = 0;          // characters seen (bytes may stop being stored past the limit)
    std::uint32_t first_begin = 0;  // source span of the whole word
    std::uint32_t last_end = 0;
  };

  // A non-starter (combining class > 0) of NFD waiting for canonical ordering.
  struct PendingMark {
    char32_t cp;
    int combining_class;
    bool first;          // first character of its source's decomposition (HF: change 0)
    bool kept;           // survives accent stripping (not Mn)
    std::uint32_t source;
  };

  // Receives the words and special tokens of a pass: WordPiece into ids (encode) ...
  template <bool kWithOffsets>
  struct TokenConsumer {
    static constexpr bool kOffsets = kWithOffsets;
    static constexpr bool kKeepLongWords = false;  // a word over the limit is [UNK] whatever it holds
    const BertTokenizer& tokenizer;
    std::vector<TokenId>& ids;
    std::vector<CharSpan>& offsets;
    std::size_t cap;  // stop once this many tokens are out (truncation)
    std::vector<std::int32_t>* word_ids = nullptr;  // when wanted: each token's word
    std::int32_t next_word = 0;   // text input: the index of the next pre-tokenized word
    std::int32_t fixed_word = -1;  // encode_words: the input word every token gets

    void word(const Word& w) {
      tokenizer.wordpiece<kOffsets>(w, ids, offsets);
      tag();
    }
    void special(const SpecialLiteral& s, std::uint32_t begin, std::uint32_t end) {
      ids.push_back(s.id);
      if constexpr (kOffsets) offsets.push_back({begin, end});
      tag();
    }
    // The tokens just added come from one word (a special literal in the text is one too).
    void tag() {
      if (word_ids != nullptr) word_ids->resize(ids.size(), fixed_word >= 0 ? fixed_word : next_word);
      ++next_word;
    }
    bool full() const { return ids.size() >= cap; }
  };

  // ... or the words themselves (pre_tokenize).
  struct WordConsumer {
    static constexpr bool kOffsets = false;
    static constexpr bool kKeepLongWords = true;
    std::vector<std::string>& words;

    void word(const Word& w) { words.push_back(w.bytes); }
    void special(const SpecialLiteral& s, std::uint32_t, std::uint32_t) { words.emplace_back(s.text); }
    bool full() const { return false; }
  };

  static std::size_t count_chars(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
      return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
  }

  void encode_into(std::string_view text, const EncodeOptions& options, Encoding& encoding) const {
    encode_pieces_into(options, encoding, text.size(),
                       [&](auto& consumer) { scan(text, options.invalid_utf8, consumer); });
  }

  // Each word scanned on its own, its tokens tagged with its index; errors name the word.
  void encode_words_into(std::span<const std::string_view> words, const EncodeOptions& options,
                         Encoding& encoding) const {
    std::size_t bytes = 0;
    for (const std::string_view w : words) bytes += w.size() + 1;
    encode_pieces_into(options, encoding, bytes, [&](auto& consumer) {
      for (std::size_t i = 0; i < words.size(); ++i) {
        consumer.fixed_word = static_cast<std::int32_t>(i);
        try {
          scan(words[i], options.invalid_utf8, consumer);
        } catch (const Error& e) {
          throw Error(::tinyxf::detail::concat("word ", i, ": ", e.what()));
        }
      }
    });
  }

  // [CLS] pieces [SEP] with truncation; produce(consumer) hands the pieces to the consumer
  // (which stops storing them once the head window is full). `bytes`: the input's size, a hint.
  template <class Produce>
  void encode_pieces_into(const EncodeOptions& options, Encoding& encoding, std::size_t bytes, Produce&& produce) const {
    std::vector<TokenId>& ids = encoding.ids;
    std::vector<CharSpan>& offsets = encoding.offsets;
    std::vector<std::int32_t>* word_ids = options.return_word_ids ? &encoding.word_ids : nullptr;
    ids.clear();
    offsets.clear();
    encoding.word_ids.clear();
    if (options.add_special_tokens) {
      ids.push_back(vocab_.special_ids().cls);
      if (options.return_offsets) offsets.push_back({0, 0});
      if (word_ids) word_ids->push_back(Encoding::kNoWord);
    }
    // Room for the text's tokens: max_length minus [CLS] and [SEP].
    const std::size_t room = options.truncation ? options.max_length - (options.add_special_tokens ? 2 : 0)
                                                : std::numeric_limits<std::size_t>::max() / 2;
    // Keeping pieces from the end needs the whole text; head truncation stops reading early.
    const bool keep_end = options.truncation && options.truncation_side != Truncation::head;
    const std::size_t first = ids.size();  // 1 with [CLS]
    const std::size_t cap = keep_end ? std::numeric_limits<std::size_t>::max() / 2 : first + room;
    ids.reserve(std::min(cap, bytes / 3 + 4) + 1);
    if (options.return_offsets) {
      offsets.reserve(ids.capacity());
      TokenConsumer<true> consumer{*this, ids, offsets, cap, word_ids};
      produce(consumer);
    } else {
      TokenConsumer<false> consumer{*this, ids, offsets, cap, word_ids};
      produce(consumer);
    }
    if (ids.size() > cap) {  // the last word went past max_length
      ids.resize(cap);
      if (options.return_offsets) offsets.resize(cap);
      if (word_ids) word_ids->resize(cap);
    }
    if (keep_end && ids.size() - first > room) {
      // [first, first + head) and the last room - head pieces stay; the middle goes.
      const std::size_t head = options.truncation_side == Truncation::tail ? 0 : options.head_tokens;
      const std::size_t tail_begin = ids.size() - (room - head);
      const auto cut = [&](auto& v) {
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(first + head), v.begin() + static_cast<std::ptrdiff_t>(tail_begin));
      };
      cut(ids);
      if (options.return_offsets) cut(offsets);
      if (word_ids) cut(*word_ids);
    }
    if (options.add_special_tokens) {
      ids.push_back(vocab_.special_ids().sep);
      if (options.return_offsets) offsets.push_back({0, 0});
      if (word_ids) word_ids->push_back(Encoding::kNoWord);
    }
    encoding.attention_mask.assign(ids.size(), 1);
    encoding.type_ids.clear();
    if (options.return_type_ids) encoding.type_ids.assign(ids.size(), 0);
  }

  // [PAD] up to `length` tokens on the padding side: attention mask 0, offsets {0, 0}, type id 0
  // (tokenizers' pad_type_id), no word.
  void pad(Encoding& encoding, std::size_t length, const EncodeOptions& options) const {
    if (encoding.ids.size() >= length) return;
    const std::size_t count = length - encoding.ids.size();
    const bool left = options.padding_side == PaddingSide::left;
    const auto fill = [&](auto& v, auto value) { v.insert(left ? v.begin() : v.end(), count, value); };
    fill(encoding.ids, vocab_.special_ids().pad);
    fill(encoding.attention_mask, std::int32_t{0});
    if (options.return_offsets) fill(encoding.offsets, CharSpan{0, 0});
    if (options.return_type_ids) fill(encoding.type_ids, std::int32_t{0});
    if (options.return_word_ids) fill(encoding.word_ids, Encoding::kNoWord);
  }

  // encodings[i] = encode_item(i, encodings[i]) for i < count on `threads` threads (0: all cores),
  // then the padding of options. Throws BatchEncodeError for the first failing item.
  template <class EncodeItem>
  std::vector<Encoding> run_batch(std::size_t count, const EncodeOptions& options, unsigned threads,
                                  EncodeItem&& encode_item) const {
    std::vector<Encoding> encodings(count);
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    constexpr std::size_t kChunk = 16;  // documents per work item: small enough to balance the load
    const std::size_t chunks = (count + kChunk - 1) / kChunk;
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(chunks, 1)));

    std::atomic<std::size_t> next_chunk{0};
    std::atomic<std::size_t> first_failure{count};
    std::mutex failure_mutex;
    std::string failure_message;
    auto work = [&] {
      while (true) {
        const std::size_t chunk = next_chunk.fetch_add(1);
        const std::size_t begin = chunk * kChunk;
        // Chunks below a failing document are still encoded, so the error reported is the first.
        if (chunk >= chunks || begin >= first_failure.load()) return;
        const std::size_t end = std::min(count, begin + kChunk);
        for (std::size_t i = begin; i < end; ++i) {
          try {
            encode_item(i, encodings[i]);
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(failure_mutex);
            if (i < first_failure.load()) {
              first_failure.store(i);
              failure_message = e.what();
            }
            return;
          }
        }
      }
    };
    if (threads <= 1) {
      work();
    } else {
      std::vector<std::jthread> pool;
      pool.reserve(threads);
      for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
    }
    if (first_failure.load() != count) throw BatchEncodeError(first_failure.load(), failure_message);
    return padded(std::move(encodings), options);
  }

  // The word pieces of one text, whole (no special tokens, no truncation), with their spans and
  // word ids where the options want them.
  struct Pieces {
    std::vector<TokenId> ids;
    std::vector<CharSpan> spans;
    std::vector<std::int32_t> words;
    std::size_t size() const { return ids.size(); }
  };
  // `count` pieces of `pieces` from `from` on.
  struct Slice {
    const Pieces* pieces;
    std::size_t from, count;
  };

  Pieces pieces_of(std::string_view text, const EncodeOptions& options) const {
    Pieces p;
    const std::size_t unbounded = std::numeric_limits<std::size_t>::max() / 2;
    std::vector<std::int32_t>* words = options.return_word_ids ? &p.words : nullptr;
    if (options.return_offsets) {
      TokenConsumer<true> consumer{*this, p.ids, p.spans, unbounded, words};
      scan(text, options.invalid_utf8, consumer);
    } else {
      TokenConsumer<false> consumer{*this, p.ids, p.spans, unbounded, words};
      scan(text, options.invalid_utf8, consumer);
    }
    return p;
  }

  // [CLS] slice 0 [SEP] slice 1 [SEP] ... (no specials without add_special_tokens); type id i for
  // slice i and the [SEP] after it, offsets and word ids as the options ask.
  void assemble(const EncodeOptions& options, std::span<const Slice> slices, Encoding& e) const {
    const bool specials = options.add_special_tokens;
    std::size_t total = specials ? 1 + slices.size() : 0;
    for (const Slice& slice : slices) total += slice.count;
    e.ids.clear();
    e.offsets.clear();
    e.word_ids.clear();
    e.type_ids.clear();
    e.ids.reserve(total);
    const auto special = [&](TokenId id, std::int32_t type) {
      e.ids.push_back(id);
      if (options.return_offsets) e.offsets.push_back({0, 0});
      if (options.return_word_ids) e.word_ids.push_back(Encoding::kNoWord);
      if (options.return_type_ids) e.type_ids.push_back(type);
    };
    const auto append = [](auto& out, const auto& from, const Slice& slice) {
      out.insert(out.end(), from.begin() + static_cast<std::ptrdiff_t>(slice.from),
                 from.begin() + static_cast<std::ptrdiff_t>(slice.from + slice.count));
    };
    if (specials) special(vocab_.special_ids().cls, 0);
    for (std::size_t i = 0; i < slices.size(); ++i) {
      const Slice& slice = slices[i];
      append(e.ids, slice.pieces->ids, slice);
      if (options.return_offsets) append(e.offsets, slice.pieces->spans, slice);
      if (options.return_word_ids) append(e.word_ids, slice.pieces->words, slice);
      if (options.return_type_ids) e.type_ids.resize(e.ids.size(), static_cast<std::int32_t>(i));
      if (specials) special(vocab_.special_ids().sep, static_cast<std::int32_t>(i));
    }
    e.attention_mask.assign(e.ids.size(), 1);
  }

  // [CLS] first [SEP] second [SEP] (without the specials when !add_special_tokens), each text cut
  // to its pair_truncated_lengths share first. Both texts are read whole: which one is longer
  // decides the cut.
  void encode_pair_into(std::string_view first, std::string_view second, const EncodeOptions& options,
                        Encoding& encoding) const {
    const Pieces a = pieces_of(first, options), b = pieces_of(second, options);
    std::size_t keep_a = a.size(), keep_b = b.size();
    if (options.truncation) {
      const std::size_t room = options.max_length - (options.add_special_tokens ? 3 : 0);
      std::tie(keep_a, keep_b) = pair_truncated_lengths(keep_a, keep_b, room, options.pair_truncation);
    }
    const bool keep_end = options.truncation_side == Truncation::tail;
    const std::array<Slice, 2> slices{Slice{&a, keep_end ? a.size() - keep_a : 0, keep_a},
                                      Slice{&b, keep_end ? b.size() - keep_b : 0, keep_b}};
    assemble(options, slices, encoding);
  }

  // The length a batch whose longest encoding has `longest` tokens is padded to (tokenizers'
  // pad_encodings): max_length or `longest`, rounded up to a multiple of pad_to_multiple_of.
  static std::size_t padded_length(std::size_t longest, const EncodeOptions& options) {
    std::size_t length = options.padding == Padding::max_length ? options.max_length : longest;
    if (const std::size_t m = options.pad_to_multiple_of; m > 1 && length % m != 0) length += m - length % m;
    return length;
  }

  // Pads encodings as one batch; a longer encoding stays as it is.
  std::vector<Encoding> padded(std::vector<Encoding> windows, const EncodeOptions& options) const {
    if (options.padding == Padding::none) return windows;
    std::size_t longest = 0;
    for (const Encoding& w : windows) longest = std::max(longest, w.ids.size());
    for (Encoding& w : windows) pad(w, padded_length(longest, options), options);
    return windows;
  }

  // One encoding is a batch of its own (Padding::longest still rounds to pad_to_multiple_of).
  void pad_alone(Encoding& encoding, const EncodeOptions& options) const {
    if (options.padding != Padding::none) pad(encoding, padded_length(encoding.ids.size(), options), options);
  }

  // The one pass over the text: special-token literals, normalization and pre-tokenization,
  // handing each finished word to the consumer.
  template <class Consumer>
  class Pass {
   public:
    Pass(const BertTokenizer& tokenizer, Consumer& consumer) : tokenizer_(tokenizer), consumer_(consumer) {
      word_.bytes.reserve(detail::kWordBufferBytes);
      if constexpr (Consumer::kOffsets) {
        word_.char_begin.reserve(detail::kWordBufferBytes);
        word_.char_end.reserve(detail::kWordBufferBytes);
      }
    }

    // Stops at a word boundary once the consumer is full (truncation).
    void run(std::string_view text, InvalidUtf8 invalid_utf8) {
      TINYXF_CHECK_AS(ValueError, text.size() < std::numeric_limits<std::uint32_t>::max(), "BertTokenizer: text of ",
                      text.size(), " bytes is too long (4 GiB at most)");
      const auto* const begin = reinterpret_cast<const unsigned char*>(text.data());
      const auto* const end = begin + text.size();
      const auto* p = begin;
      std::uint32_t char_index = 0;  // characters of the input before p
      while (p < end) {
        const unsigned char b = *p;
        if (tokenizer_.special_first_byte_[b]) {
          if (const SpecialLiteral* special = tokenizer_.match_special(p, end)) {
            flush();
            const auto chars = static_cast<std::uint32_t>(special->chars);
            consumer_.special(*special, char_index, char_index + chars);
            p += special->text.size();
            char_index += chars;
            if (consumer_.full()) break;
            continue;
          }
        }
        if (b < 0x80) {
          switch (detail::kAsciiClass[b]) {
            case detail::kAsciiWord:
              if (!marks_.empty()) order_marks();
              append(b, char_index);
              break;
            case detail::kAsciiUpper:
              if (!marks_.empty()) order_marks();
              append(b + 32, char_index);
              break;
            case detail::kAsciiPunct:
              emit_single(b, char_index);
              break;
            case detail::kAsciiSpace:
              flush();
              break;
            default:  // a control character: removed before anything else sees it
              break;
          }
          ++p;
          ++char_index;
          if (consumer_.full()) break;
          continue;
        }
        const unicode::DecodedChar decoded = unicode::decode_utf8(p, end);
        if (!decoded.valid && invalid_utf8 == InvalidUtf8::error) throw_invalid_utf8(begin, end, p);
        p += decoded.bytes;
        normalize_non_ascii(decoded.cp, char_index++);
        if (consumer_.full()) break;
      }
      flush();
      if (p < end && invalid_utf8 == InvalidUtf8::error) validate_rest(begin, end, p);
    }

   private:
    // The BERT normalizer for one non-ASCII character: remove controls and U+FFFD, split on
    // whitespace, isolate CJK ideographs, NFD, drop Mn, lowercase, isolate punctuation.
    void normalize_non_ascii(char32_t cp, std::uint32_t source) {
      if (cp == unicode::kReplacementCharacter || unicode::is_control(cp)) return;
      if (unicode::is_whitespace(cp)) {
        flush();
        return;
      }
      char32_t decomposed[unicode::kMaxDecomposition];
      const std::size_t n = unicode::canonical_decomposition(cp, decomposed);
      if (unicode::is_cjk_ideograph(cp)) {
        emit_single(decomposed[0], source);  // compatibility ideographs decompose to one ideograph
        return;
      }
      for (std::size_t i = 0; i < n; ++i) {
        const char32_t c = decomposed[i];
        const int combining_class = unicode::hf_combining_class(c);
        if (combining_class != 0) {
          marks_.push_back({c, combining_class, i == 0, !unicode::is_nonspacing_mark(c), source});
          continue;
        }
        if (!marks_.empty()) order_marks();  // a starter ends the run of non-starters
        if (!unicode::is_nonspacing_mark(c)) append_normalized(c, source);
      }
    }

    // NFD's canonical ordering of the pending non-starters, then the kept ones go into the word.
    // HF's alignments do not move with the characters: the k-th of them that starts a source
    // character's decomposition gets the k-th such source, the others the source before (this is
    // how NormalizedString::transform walks the old string), and tinyxf reproduces that.
    void order_marks() {
      const bool any_kept =
          std::any_of(marks_.begin(), marks_.end(), [](const PendingMark& m) { return m.kept; });
      if (!any_kept) {  // the common case: accents, all dropped
        marks_.clear();
        return;
      }
      ordering_.swap(marks_);  // appending below may flush, which must see no pending marks
      marks_.clear();
      sources_.clear();
      for (const PendingMark& m : ordering_)
        if (m.first) sources_.push_back(m.source);
      std::stable_sort(ordering_.begin(), ordering_.end(), [](const PendingMark& a, const PendingMark& b) {
        return a.combining_class < b.combining_class;
      });
      std::size_t next_source = 0;
      std::uint32_t source = ordering_.front().source;
      for (const PendingMark& m : ordering_) {
        if (m.first) source = sources_[next_source++];
        if (m.kept) append_normalized(m.cp, source);
      }
    }

    void append_normalized(char32_t c, std::uint32_t source) {
      const char32_t lower = unicode::to_lower(c);
      if (unicode::is_punctuation(lower))
        emit_single(lower, source);
      else
        append(lower, source);
    }

    // Appends one normalized character that came from source character `source`.
    void append(char32_t cp, std::uint32_t source) {
      if (word_.chars == 0) word_.first_begin = source;
      word_.last_end = source + 1;
      if (++word_.chars > detail::kMaxInputCharsPerWord && !Consumer::kKeepLongWords) return;
      if (cp < 0x80) {
        word_.bytes.push_back(static_cast<char>(cp));
        if constexpr (Consumer::kOffsets) {
          word_.char_begin.push_back(source);
          word_.char_end.push_back(source + 1);
        }
        return;
      }
      char utf8[4];
      const std::size_t n = unicode::encode_utf8(cp, utf8);
      word_.bytes.append(utf8, n);
      if constexpr (Consumer::kOffsets) {
        word_.char_begin.insert(word_.char_begin.end(), n, source);
        word_.char_end.insert(word_.char_end.end(), n, source + 1);
      }
    }

    void flush() {
      if (!marks_.empty()) order_marks();
      if (word_.chars == 0) return;
      consumer_.word(word_);
      word_.bytes.clear();
      if constexpr (Consumer::kOffsets) {
        word_.char_begin.clear();
        word_.char_end.clear();
      }
      word_.chars = 0;
    }

    void emit_single(char32_t cp, std::uint32_t source) {  // punctuation, CJK ideographs
      flush();
      append(cp, source);
      flush();
    }

    const BertTokenizer& tokenizer_;
    Consumer& consumer_;
    Word word_;
    std::vector<PendingMark> marks_, ordering_;
    std::vector<std::uint32_t> sources_;
  };

  template <class Consumer>
  void scan(std::string_view text, InvalidUtf8 invalid_utf8, Consumer& consumer) const {
    Pass<Consumer>(*this, consumer).run(text, invalid_utf8);
  }

  // Greedy longest-match-first WordPiece on a finished word; a remainder that matches nothing
  // makes the whole word one [UNK].
  template <bool kOffsets>
  void wordpiece(const Word& word, std::vector<TokenId>& ids, std::vector<CharSpan>& offsets) const {
    const TokenId unk = vocab_.special_ids().unk;
    if (word.chars > detail::kMaxInputCharsPerWord) {
      ids.push_back(unk);
      if constexpr (kOffsets) offsets.push_back({word.first_begin, word.last_end});
      return;
    }
    const std::string_view bytes = word.bytes;
    const std::size_t rollback = ids.size();
    std::size_t start = 0;
    while (start < bytes.size()) {
      const std::size_t longest = start == 0 ? vocab_.max_token_bytes() : vocab_.max_continuation_bytes();
      std::size_t stop = std::min(bytes.size(), start + longest);
      while (stop < bytes.size() && (static_cast<unsigned char>(bytes[stop]) & 0xC0) == 0x80) --stop;
      TokenId found = -1;
      while (stop > start) {
        const std::string_view piece = bytes.substr(start, stop - start);
        found = start == 0 ? vocab_.find(piece) : vocab_.find_continuation(piece);
        if (found >= 0) break;
        do --stop;
        while (stop > start && (static_cast<unsigned char>(bytes[stop]) & 0xC0) == 0x80);
      }
      if (found < 0) {
        ids.resize(rollback);
        ids.push_back(unk);
        if constexpr (kOffsets) {
          offsets.resize(rollback);
          offsets.push_back({word.first_begin, word.last_end});
        }
        return;
      }
      ids.push_back(found);
      if constexpr (kOffsets) offsets.push_back({word.char_begin[start], word.char_end[stop - 1]});
      start = stop;
    }
  }

  const SpecialLiteral* match_special(const unsigned char* p, const unsigned char* end) const {
    const auto available = static_cast<std::size_t>(end - p);
    for (const SpecialLiteral& special : specials_)
      if (special.text.size() <= available && std::memcmp(p, special.text.data(), special.text.size()) == 0)
        return &special;
    return nullptr;
  }

  [[noreturn]] static void throw_invalid_utf8(const unsigned char* begin, const unsigned char* end,
                                              const unsigned char* at) {
    std::string bytes;
    static constexpr char kHex[] = "0123456789abcdef";
    for (const unsigned char* q = at; q < end && q < at + 4; ++q) {
      if (!bytes.empty()) bytes += ' ';
      bytes += "0x";
      bytes += kHex[*q >> 4];
      bytes += kHex[*q & 15];
    }
    throw ValueError(::tinyxf::detail::concat("BertTokenizer: invalid UTF-8 at byte offset ", at - begin, " (bytes ",
                                              bytes, "); use InvalidUtf8::replace to read it as U+FFFD"));
  }

  static void validate_rest(const unsigned char* begin, const unsigned char* end, const unsigned char* p) {
    while (p < end) {
      if (*p < 0x80) {
        ++p;
        continue;
      }
      const unicode::DecodedChar decoded = unicode::decode_utf8(p, end);
      if (!decoded.valid) throw_invalid_utf8(begin, end, p);
      p += decoded.bytes;
    }
  }

  Vocab vocab_;
  PaddingSide padding_side_ = PaddingSide::right;
  Truncation truncation_side_ = Truncation::head;
  std::optional<std::size_t> model_max_length_;
  bool clean_up_tokenization_spaces_ = false;
  std::vector<SpecialLiteral> specials_;
  std::array<bool, 256> special_first_byte_{};
};

}  // namespace tinyxf::text
