#pragma once
// Masked language modeling data (transformers' run_mlm.py and the course's domain adaptation of
// DistilBERT on IMDB): texts tokenized and grouped into blocks, and the collator that masks them.
//
//   auto blocks = data::group_texts(texts, tokenizer, {.block_size = 128});   // run_mlm's group_texts
//   data::LanguageModelingCollator collate(tokenizer, {.mlm_probability = 0.15});
//   Trainer<DistilBertForMaskedLM, data::LanguageModelingDataset, data::LanguageModelingCollator>
//       trainer(model, args, blocks, eval_blocks, collate, /*compute_metrics=*/nullptr);
//
// group_texts concatenates the texts' encodings ([CLS] text [SEP], no truncation) and cuts them into
// blocks of block_size tokens; as run_mlm's datasets.map(batched=True), texts are concatenated in
// groups of texts_per_group (1000) and each group's remainder shorter than a block is dropped.
// line_by_line keeps one text per sample, truncated to block_size (run_mlm --line_by_line; blank
// texts skipped).
// The collator is DataCollatorForLanguageModeling: each position that is not a special token
// ([CLS], [SEP], [PAD], [UNK], [MASK]: the tokenizer's all_special_ids) is selected with
// probability mlm_probability; of the selected, mask_replace_prob become [MASK], random_replace_prob
// a uniformly random id of the vocabulary and the rest stay; labels are the original ids at
// selected positions and -100 elsewhere. whole_word_mask selects words (transformers 5's rule: a
// word starts at a token that is not adjacent to the previous one in the text or follows a special
// token; "film." is one word) and masks all their tokens with [MASK] (transformers then sets
// mask_replace_prob to 1; so does this collator).
// Randomness: the draws of a sample come from a counter-based generator keyed by (seed, epoch,
// the sample's index in its dataset), not from a stream, so a batch's masks do not depend on the
// loader's prefetching or threads, a resumed run masks exactly as the uninterrupted one, every
// epoch masks anew (BasicDataLoader::start_epoch calls set_epoch), and an evaluation (epoch 0)
// sees the same masks every time, which makes its perplexities comparable (the course masks its
// evaluation set once for that reason). The draws are not torch's: masks differ from HF's.
// See docs/data.md, "Masked language modeling".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/backend/kernel_math.hpp"
#include "tinyxf/core/tensor.hpp"
#include "tinyxf/data/dataloader.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace tinyxf::data {

struct LanguageModelingOptions {
  std::size_t block_size = 128;        // tokens per sample (run_mlm: min(1024, the model's limit); the course: 128)
  bool line_by_line = false;           // one text per sample, truncated to block_size
  std::size_t texts_per_group = 1000;  // texts concatenated together (datasets.map's batch_size); 0: all
  unsigned threads = 0;                // tokenizer threads (0: hardware concurrency)
};

// One sample: views into its dataset, which must outlive the batches' making.
struct LanguageModelingSample {
  std::span<const text::TokenId> input_ids;
  std::span<const std::uint8_t> word_starts;  // 1 where a word starts (whole-word masking), 0 elsewhere
  std::size_t index = 0;                      // the sample's index in its dataset: keys its masks
};

// Blocks of token ids (or lines) for masked language modeling: a map-style dataset of
// LanguageModelingSample.
class LanguageModelingDataset {
 public:
  std::size_t size() const { return begins_.empty() ? 0 : begins_.size() - 1; }
  LanguageModelingSample get(std::size_t i) const {
    TINYXF_CHECK_AS(IndexError, i < size(), "LanguageModelingDataset: sample ", i, " of ", size());
    const std::size_t b = begins_[i], n = begins_[i + 1] - b;
    return {std::span<const text::TokenId>(ids_).subspan(b, n), std::span<const std::uint8_t>(word_starts_).subspan(b, n), i};
  }
  std::size_t num_tokens() const { return ids_.size(); }
  // Tokens of the texts that no block holds: each group's remainder (0 with line_by_line, whose
  // lines are cut at block_size as run_mlm truncates them).
  std::size_t dropped_tokens() const { return dropped_; }
  // Each sample's token count (the loader's length orders).
  std::vector<std::size_t> lengths() const {
    std::vector<std::size_t> out(size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = begins_[i + 1] - begins_[i];
    return out;
  }

 private:
  friend LanguageModelingDataset group_texts(std::span<const std::string_view>, const text::BertTokenizer&,
                                             const LanguageModelingOptions&);
  std::vector<text::TokenId> ids_;
  std::vector<std::uint8_t> word_starts_;
  std::vector<std::size_t> begins_;
  std::size_t dropped_ = 0;
};

namespace detail {

// Python's str.isspace() on a UTF-8 text (run_mlm's blank-line test): Unicode White_Space and
// the information separators U+001C..U+001F; the empty text is not blank (run_mlm tests len > 0).
inline bool is_blank(std::string_view t) {
  const auto* p = reinterpret_cast<const unsigned char*>(t.data());
  const auto* end = p + t.size();
  while (p < end) {
    const text::unicode::DecodedChar c = text::unicode::decode_utf8(p, end);
    if (!c.valid || !(text::unicode::is_whitespace(c.cp) || (c.cp >= 0x1C && c.cp <= 0x1F))) return false;
    p += c.bytes;
  }
  return true;
}

// Word starts of one encoding (transformers 5's DataCollatorForLanguageModeling rule on offsets):
// a token that is not special and either does not touch the previous token in the text or follows
// a special token.
inline void append_word_starts(const text::Encoding& e, const text::SpecialTokenIds& special,
                               std::vector<std::uint8_t>& out) {
  for (std::size_t t = 0; t < e.ids.size(); ++t) {
    const bool special_here = special.contains(e.ids[t]);
    const bool after_special = t == 0 || special.contains(e.ids[t - 1]);
    const bool gap = t == 0 || e.offsets[t].begin != e.offsets[t - 1].end;
    out.push_back(!special_here && (gap || after_special) ? 1 : 0);
  }
}

}  // namespace detail

// Tokenizes `texts` and makes the samples of masked language modeling (see the file comment).
inline LanguageModelingDataset group_texts(std::span<const std::string_view> texts, const text::BertTokenizer& tokenizer,
                                           const LanguageModelingOptions& options = {}) {
  TINYXF_CHECK_AS(ValueError, options.block_size >= 2, "group_texts: block_size must be at least 2, got ",
                  options.block_size);
  const text::SpecialTokenIds special = tokenizer.vocab().special_ids();
  text::EncodeOptions enc;
  enc.return_offsets = true;
  enc.invalid_utf8 = text::InvalidUtf8::replace;  // a stray byte in a review must not stop training
  std::vector<std::string_view> kept;
  kept.reserve(texts.size());
  for (std::string_view t : texts) {
    // run_mlm --line_by_line drops empty and blank lines; grouping keeps every text (an empty one
    // adds [CLS] [SEP]), as run_mlm's group_texts.
    if (options.line_by_line && (t.empty() || detail::is_blank(t))) continue;
    kept.push_back(t);
  }
  // Grouping encodes whole texts (run_mlm tokenizes without truncation: a long text fills
  // several blocks); only line_by_line cuts each text at block_size.
  enc.truncation = options.line_by_line;
  if (options.line_by_line) enc.max_length = options.block_size;
  LanguageModelingDataset out;
  out.begins_.push_back(0);
  // Texts are encoded a chunk at a time (a group, or 1000 texts), so that the offsets of the
  // whole corpus are never held at once.
  constexpr std::size_t kChunk = 1000;
  const bool grouped = !options.line_by_line;
  const std::size_t per_group = grouped && options.texts_per_group > 0 ? options.texts_per_group : kept.size();
  const std::size_t chunk = grouped && options.texts_per_group > 0 ? options.texts_per_group : kChunk;
  std::vector<text::TokenId> group_ids;
  std::vector<std::uint8_t> group_starts;
  // Cuts the group's tokens into blocks; the remainder shorter than a block is dropped.
  const auto flush_group = [&] {
    const std::size_t whole = group_ids.size() / options.block_size * options.block_size;
    for (std::size_t b = 0; b < whole; b += options.block_size) {
      out.ids_.insert(out.ids_.end(), group_ids.begin() + static_cast<std::ptrdiff_t>(b),
                      group_ids.begin() + static_cast<std::ptrdiff_t>(b + options.block_size));
      out.word_starts_.insert(out.word_starts_.end(), group_starts.begin() + static_cast<std::ptrdiff_t>(b),
                              group_starts.begin() + static_cast<std::ptrdiff_t>(b + options.block_size));
      // A block that begins inside a word begins a word of its own (nothing before it to join).
      const std::size_t first = out.ids_.size() - options.block_size;
      if (!special.contains(out.ids_[first])) out.word_starts_[first] = 1;
      out.begins_.push_back(out.ids_.size());
    }
    out.dropped_ += group_ids.size() - whole;
    group_ids.clear();
    group_starts.clear();
  };
  for (std::size_t begin = 0; begin < kept.size(); begin += chunk) {
    const std::span<const std::string_view> part =
        std::span<const std::string_view>(kept).subspan(begin, std::min(chunk, kept.size() - begin));
    for (const text::Encoding& e : tokenizer.encode_batch(part, enc, options.threads)) {
      if (grouped) {
        group_ids.insert(group_ids.end(), e.ids.begin(), e.ids.end());
        detail::append_word_starts(e, special, group_starts);
      } else {
        out.ids_.insert(out.ids_.end(), e.ids.begin(), e.ids.end());
        detail::append_word_starts(e, special, out.word_starts_);
        out.begins_.push_back(out.ids_.size());
      }
    }
    if (grouped && ((begin + part.size()) % per_group == 0 || begin + part.size() == kept.size())) flush_group();
  }
  return out;
}

inline LanguageModelingDataset group_texts(const std::vector<std::string>& texts, const text::BertTokenizer& tokenizer,
                                           const LanguageModelingOptions& options = {}) {
  const std::vector<std::string_view> views(texts.begin(), texts.end());
  return group_texts(std::span<const std::string_view>(views), tokenizer, options);
}

struct LanguageModelingCollatorOptions {
  double mlm_probability = 0.15;     // chance that a position (a word, with whole_word_mask) is selected
  double mask_replace_prob = 0.8;    // selected -> [MASK]
  double random_replace_prob = 0.1;  // selected -> a random id; the rest of the selected stay
  bool whole_word_mask = false;      // select words, all their tokens -> [MASK]
  std::uint64_t seed = 42;
  std::size_t pad_to_multiple_of = 0;  // line_by_line samples: round each batch's length up
  Device device = Device::cpu();
};

// DataCollatorForLanguageModeling (see the file comment): pads samples into a TextBatch with
// input_ids (masked), attention_mask and labels [B, S] (-100 where nothing is predicted).
class LanguageModelingCollator {
 public:
  LanguageModelingCollator(const text::BertTokenizer& tokenizer, LanguageModelingCollatorOptions options = {})
      : special_(tokenizer.vocab().special_ids()),
        vocab_size_(static_cast<std::int64_t>(tokenizer.vocab().size())),
        pad_left_(tokenizer.padding_side() == text::PaddingSide::left),
        opt_(options) {
    const auto probability = [](double p, const char* name) {
      TINYXF_CHECK_AS(ValueError, p >= 0 && p <= 1, "LanguageModelingCollator: ", name, " must be in [0, 1], got ", p);
    };
    probability(opt_.mlm_probability, "mlm_probability");
    probability(opt_.mask_replace_prob, "mask_replace_prob");
    probability(opt_.random_replace_prob, "random_replace_prob");
    TINYXF_CHECK_AS(ValueError, opt_.mask_replace_prob + opt_.random_replace_prob <= 1,
                    "LanguageModelingCollator: mask_replace_prob + random_replace_prob must not exceed 1, got ",
                    opt_.mask_replace_prob, " + ", opt_.random_replace_prob);
    // Bounded as max_length is: a batch allocates B x pad_to_multiple_of ids at least.
    TINYXF_CHECK_AS(ValueError, opt_.pad_to_multiple_of <= text::EncodeOptions::kMaxLengthLimit,
                    "LanguageModelingCollator: pad_to_multiple_of ", opt_.pad_to_multiple_of, " exceeds the limit of ",
                    text::EncodeOptions::kMaxLengthLimit, " tokens");
    TINYXF_CHECK_AS(ValueError, special_.mask >= 0 && special_.pad >= 0,
                    "LanguageModelingCollator: the vocabulary has no [MASK] or [PAD] token");
    if (opt_.whole_word_mask) {  // as transformers: words are replaced by [MASK] alone
      opt_.mask_replace_prob = 1;
      opt_.random_replace_prob = 0;
    }
  }

  const LanguageModelingCollatorOptions& options() const { return opt_; }
  // New masks each epoch (BasicDataLoader::start_epoch calls it before the epoch's first batch).
  void set_epoch(std::uint64_t epoch) { epoch_ = epoch; }
  std::uint64_t epoch() const { return epoch_; }
  std::vector<std::size_t> lengths(const LanguageModelingDataset& dataset) const { return dataset.lengths(); }

  template <class Sample>
  TextBatch operator()(const std::vector<Sample>& samples) const {
    std::size_t longest = 0;
    for (const Sample& s : samples) longest = std::max(longest, detail::sample_ref(s).input_ids.size());
    std::size_t S = longest;
    if (const std::size_t m = opt_.pad_to_multiple_of; m > 1 && S % m != 0) S = (S / m + 1) * m;
    const std::size_t B = samples.size();
    std::vector<std::int64_t> ids(B * S, special_.pad), mask(B * S, 0), labels(B * S, -100);
    TextBatch batch;
    for (std::size_t b = 0; b < B; ++b) {
      const LanguageModelingSample& s = detail::sample_ref(samples[b]);
      TINYXF_CHECK_AS(ValueError, s.word_starts.size() == s.input_ids.size(), "LanguageModelingCollator: sample ",
                      s.index, " has ", s.input_ids.size(), " ids but ", s.word_starts.size(), " word starts");
      // Padding on the tokenizer's side, as tokenizer.pad in DataCollatorForLanguageModeling.
      const std::size_t at = b * S + (pad_left_ ? S - s.input_ids.size() : 0);
      mask_sample(s, std::span<std::int64_t>(ids).subspan(at, s.input_ids.size()),
                  std::span<std::int64_t>(labels).subspan(at, s.input_ids.size()));
      std::fill_n(mask.begin() + static_cast<std::ptrdiff_t>(at), s.input_ids.size(), 1);
      batch.real_tokens += static_cast<std::int64_t>(s.input_ids.size());
    }
    const auto Bi = static_cast<std::int64_t>(B), Si = static_cast<std::int64_t>(S);
    batch.input_ids = Tensor::from_vector(ids, {Bi, Si}, opt_.device);
    batch.attention_mask = Tensor::from_vector(mask, {Bi, Si}, opt_.device);
    batch.labels = Tensor::from_vector(labels, {Bi, Si}, opt_.device);
    return batch;
  }

  // One sample's inputs and labels (each position's draws: counters 4t .. 4t + 3 of the sample's key).
  void mask_sample(const LanguageModelingSample& s, std::span<std::int64_t> ids, std::span<std::int64_t> labels) const {
    const std::uint64_t key = kmath::splitmix64(opt_.seed ^ kmath::splitmix64(epoch_ ^ kmath::splitmix64(s.index)));
    const auto u = [&](std::size_t t, std::uint64_t draw) { return kmath::uniform01(key, 4 * t + draw); };
    const double random_given_kept = opt_.mask_replace_prob < 1 ? opt_.random_replace_prob / (1 - opt_.mask_replace_prob) : 0;
    bool word_selected = false;
    for (std::size_t t = 0; t < s.input_ids.size(); ++t) {
      const text::TokenId id = s.input_ids[t];
      ids[t] = id;
      if (special_.contains(id)) {
        word_selected = false;
        continue;
      }
      bool selected;
      if (opt_.whole_word_mask) {
        if (s.word_starts[t]) word_selected = u(t, 0) < opt_.mlm_probability;
        selected = word_selected;
      } else {
        selected = u(t, 0) < opt_.mlm_probability;
      }
      if (!selected) continue;
      labels[t] = id;
      if (u(t, 1) < opt_.mask_replace_prob) {
        ids[t] = special_.mask;
      } else if (u(t, 2) < random_given_kept) {
        ids[t] = static_cast<std::int64_t>(kmath::random_bits(key, 4 * t + 3) % static_cast<std::uint64_t>(vocab_size_));
      }
    }
  }

 private:
  text::SpecialTokenIds special_;
  std::int64_t vocab_size_;
  bool pad_left_;  // the tokenizer pads on the left
  LanguageModelingCollatorOptions opt_;
  std::uint64_t epoch_ = 0;
};

// The lines of a text file (a .gz name is decompressed as it is read), ended by "\n", "\r\n" or a
// lone "\r", the last one with or without an end: datasets' "text" loader, which run_mlm reads
// --train_file with (Python's universal newlines, then one sample per line).
inline std::vector<std::string> read_text_lines(const std::filesystem::path& path) {
  return detail::read_maybe_gzip(path, "read_text_lines", [](std::istream& in) {
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();  // "\r\n"
      std::size_t begin = 0;
      for (std::size_t cr; (cr = line.find('\r', begin)) != std::string::npos; begin = cr + 1)
        lines.push_back(line.substr(begin, cr - begin));  // old Mac line ends inside
      lines.push_back(begin == 0 ? std::move(line) : line.substr(begin));
    }
    return lines;
  });
}

// exp(loss) as run_mlm reports it ("perplexity"), inf when the loss overflows it, NaN for NaN.
inline double perplexity(double loss) { return std::isnan(loss) ? loss : loss < 709 ? std::exp(loss) : HUGE_VAL; }

}  // namespace tinyxf::data
