#pragma once
// Text classification on the generic data path (data/loader.hpp): TokenizingCollator tokenizes
// and pads a list of samples with `text` and `label` (data::Review, or any such struct; with a
// `text_pair` too, data::TextPairExample, each sample is a pair with token_type_ids) to the
// longest sequence of the batch (dynamic padding, Hugging Face's DataCollatorWithPadding) or to
// max_length, and knows each sample's token count for the length orders; DataLoader is
// BasicDataLoader over a std::vector<Review> with that collator, plus the padding accounting.
// Length-aware orders (docs/data.md, "Batching by length"): group_by_length (Hugging Face's
// LengthGroupedSampler, for training) and sort_by_length (evaluation, results put back in the
// dataset's order by the caller through TextBatch::indices).
#include <algorithm>
#include <optional>
#include <span>

#include "tinyxf/core/tensor.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/data/loader.hpp"
#include "tinyxf/data/question_answering.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace tinyxf::data {

// A sentence-pair example (GLUE's MRPC, RTE, MNLI; a question and a passage): encoded as
// [CLS] text [SEP] text_pair [SEP] with token type ids 0 and 1.
struct TextPairExample {
  std::string text, text_pair;
  int label = 0;
};

// Samples (or pointers to them) with a second text: collate encodes them as pairs.
template <class Sample>
concept PairSample = requires(const std::remove_pointer_t<Sample>& s) {
  std::string_view(s.text);
  std::string_view(s.text_pair);
};

// A token classification example (CoNLL-2003 NER, part of speech): pre-split words and one tag
// per word. The batch's labels are [B, S]: each word's first piece carries its tag, its later
// pieces, [CLS], [SEP] and padding -100 (transformers' run_ner alignment through word_ids).
struct TokenClassificationExample {
  std::vector<std::string> words;
  std::vector<std::int64_t> tags;
};

// Samples (or pointers to them) of words and per-word tags: collate aligns the tags to pieces.
template <class Sample>
concept WordsSample = requires(const std::remove_pointer_t<Sample>& s) {
  s.words.size();
  std::string_view(s.words[0]);
  static_cast<std::int64_t>(s.tags[0]);
};

// Samples (or pointers to them) already tokenized as question answering windows
// (data::QuestionAnsweringFeature): collate pads them and gives start/end positions.
template <class Sample>
concept QuestionAnsweringSample = requires(const std::remove_pointer_t<Sample>& s) {
  s.input_ids.size();
  s.token_type_ids.size();
  static_cast<std::int64_t>(s.start_position);
  static_cast<std::int64_t>(s.end_position);
};

struct TextBatch {
  Tensor input_ids;       // [B, S]
  Tensor attention_mask;  // [B, S], 1 = token, 0 = padding
  Tensor token_type_ids;  // [B, S] for text pairs (0 first text, 1 second, 0 padding); else undefined
  Tensor labels;          // [B]; [B, S] for token classification (-100: no label); undefined for QA
  // Question answering: the answer's first and last token of each row [B] (0: [CLS], no answer).
  Tensor start_positions, end_positions;
  std::int64_t size() const { return input_ids.defined() ? input_ids.shape()[0] : 0; }
  std::int64_t real_tokens = 0;         // non-padding tokens in the batch
  std::vector<std::size_t> indices;     // the dataset index of each row (set by DataLoader)
};

// The loader's order and batching (LoaderOptions) and how texts become token ids.
struct DataLoaderOptions : LoaderOptions {
  std::size_t max_length = 512;
  text::Truncation truncation = text::Truncation::head;  // which pieces of a long review are kept
  std::size_t head_tokens = 0;                           // with Truncation::head_tail
  // Which text of a pair is cut (text pairs; truncation head or tail applies to each text).
  text::PairTruncation pair_truncation = text::PairTruncation::longest_first;
  text::Padding padding = text::Padding::longest;  // longest (dynamic) or max_length
  // Dynamic padding rounds each batch's length up to a multiple of this (at most max_length);
  // 0 or 1: no rounding (Hugging Face's DataCollatorWithPadding pad_to_multiple_of).
  std::size_t pad_to_multiple_of = 0;
  unsigned tokenizer_threads = 1;  // threads per batch's tokenization
  Device device = Device::cpu();
};

inline text::EncodeOptions encode_options(const DataLoaderOptions& opt) {
  text::EncodeOptions enc;
  enc.max_length = opt.max_length;
  enc.truncation = true;
  enc.truncation_side = opt.truncation;
  enc.head_tokens = opt.head_tokens;
  enc.pair_truncation = opt.pair_truncation;
  enc.padding = opt.padding == text::Padding::max_length ? text::Padding::max_length : text::Padding::longest;
  enc.invalid_utf8 = text::InvalidUtf8::replace;  // a stray byte in a review must not stop training
  return enc;
}

// The padded length of a batch whose longest sequence has `longest` tokens.
inline std::size_t padded_length(std::size_t longest, const DataLoaderOptions& opt) {
  if (opt.padding == text::Padding::max_length) return std::max(longest, opt.max_length);
  const std::size_t m = opt.pad_to_multiple_of;
  if (m <= 1 || longest % m == 0) return longest;
  return std::max(longest, std::min((longest / m + 1) * m, opt.max_length));
}

namespace detail {

// The batch of encodings (padded to the longest on `side`) with labels[i], padded to
// padded_length on the same side; token_type_ids when the encodings carry type ids.
inline TextBatch batch_of(const std::vector<text::Encoding>& encodings, std::span<const std::int64_t> labels,
                          const text::BertTokenizer& tokenizer, const DataLoaderOptions& opt, text::PaddingSide side) {
  const std::size_t B = encodings.size();
  const std::size_t longest = B ? encodings.front().ids.size() : 0;
  const std::size_t S = B ? padded_length(longest, opt) : 0;
  const std::size_t shift = side == text::PaddingSide::left ? S - longest : 0;  // the padding added here
  const bool with_types = B && !encodings.front().type_ids.empty();
  std::vector<std::int64_t> ids(B * S, tokenizer.vocab().special_ids().pad), mask(B * S, 0);
  std::vector<std::int64_t> types(with_types ? B * S : 0, 0);
  TextBatch batch;
  for (std::size_t b = 0; b < B; ++b) {
    for (std::size_t s = 0; s < longest; ++s) {
      ids[b * S + shift + s] = encodings[b].ids[s];
      mask[b * S + shift + s] = encodings[b].attention_mask[s];
      if (with_types) types[b * S + shift + s] = encodings[b].type_ids[s];
      batch.real_tokens += encodings[b].attention_mask[s];
    }
  }
  const auto Bi = static_cast<std::int64_t>(B), Si = static_cast<std::int64_t>(S);
  batch.input_ids = Tensor::from_vector(ids, {Bi, Si}, opt.device);
  batch.attention_mask = Tensor::from_vector(mask, {Bi, Si}, opt.device);
  if (with_types) batch.token_type_ids = Tensor::from_vector(types, {Bi, Si}, opt.device);
  batch.labels = Tensor::from_vector(std::vector<std::int64_t>(labels.begin(), labels.end()), {Bi}, opt.device);
  return batch;
}

}  // namespace detail

// The collators below pad on the tokenizer's padding_side(), as DataCollatorWithPadding and
// DataCollatorForTokenClassification pad on tokenizer.padding_side.

// Tokenizes and pads one batch: texts[i] with labels[i].
inline TextBatch collate_texts(std::span<const std::string_view> texts, std::span<const std::int64_t> labels,
                               const text::BertTokenizer& tokenizer, const DataLoaderOptions& opt) {
  TINYXF_CHECK_AS(ValueError, texts.size() == labels.size(), "collate: ", texts.size(), " texts but ", labels.size(), " labels");
  return detail::batch_of(tokenizer.encode_batch(texts, encode_options(opt), opt.tokenizer_threads), labels,
                          tokenizer, opt, tokenizer.padding_side());
}

// Tokenizes and pads one batch of text pairs: pairs[i] with labels[i], token_type_ids included.
inline TextBatch collate_text_pairs(std::span<const text::TextPair> pairs, std::span<const std::int64_t> labels,
                                    const text::BertTokenizer& tokenizer, const DataLoaderOptions& opt) {
  TINYXF_CHECK_AS(ValueError, pairs.size() == labels.size(), "collate: ", pairs.size(), " text pairs but ",
                  labels.size(), " labels");
  text::EncodeOptions enc = encode_options(opt);
  enc.return_type_ids = true;
  return detail::batch_of(tokenizer.encode_pair_batch(pairs, enc, opt.tokenizer_threads), labels, tokenizer, opt,
                          tokenizer.padding_side());
}

namespace detail {
template <class Sample>
const std::remove_pointer_t<Sample>& sample_ref(const Sample& sample) {
  if constexpr (std::is_pointer_v<Sample>) return *sample;
  else return sample;
}
}  // namespace detail

// Tokenizes and pads one batch of pre-split word lists with per-word tags: labels [B, S], the tag
// of each word on its first piece, -100 elsewhere (later pieces, special tokens, padding).
template <class Sample>
TextBatch collate_words(const std::vector<Sample>& samples, const text::BertTokenizer& tokenizer,
                        const DataLoaderOptions& opt) {
  std::vector<std::vector<std::string>> documents;
  documents.reserve(samples.size());
  for (const Sample& sample : samples) {
    const auto& s = detail::sample_ref(sample);
    TINYXF_CHECK_AS(ValueError, s.words.size() == s.tags.size(), "collate: a token classification example has ",
                    s.words.size(), " words but ", s.tags.size(), " tags");
    documents.emplace_back(s.words.begin(), s.words.end());
  }
  text::EncodeOptions enc = encode_options(opt);
  enc.return_word_ids = true;
  const std::vector<text::Encoding> encodings = tokenizer.encode_words_batch(documents, enc, opt.tokenizer_threads);
  TextBatch batch = detail::batch_of(encodings, std::vector<std::int64_t>(samples.size(), 0), tokenizer, opt,
                                     tokenizer.padding_side());
  const std::int64_t B = static_cast<std::int64_t>(samples.size()), S = B ? batch.input_ids.shape()[1] : 0;
  std::vector<std::int64_t> labels(static_cast<std::size_t>(B * S), -100);
  for (std::size_t b = 0; b < samples.size(); ++b) {
    const auto& tags = detail::sample_ref(samples[b]).tags;
    const std::vector<std::int32_t>& words = encodings[b].word_ids;
    // Where the encoding starts in the row: after the padding batch_of added on the left.
    const std::size_t row = b * static_cast<std::size_t>(S) +
                            (tokenizer.padding_side() == text::PaddingSide::left ? static_cast<std::size_t>(S) - words.size() : 0);
    for (std::size_t t = 0; t < words.size(); ++t) {
      const bool first_piece = words[t] != text::Encoding::kNoWord && (t == 0 || words[t - 1] != words[t]);
      if (first_piece) labels[row + t] = static_cast<std::int64_t>(tags[static_cast<std::size_t>(words[t])]);
    }
  }
  batch.labels = Tensor::from_vector(labels, {B, S}, opt.device);
  return batch;
}

// Pads one batch of question answering windows (already tokenized): input_ids, attention_mask,
// token_type_ids [B, S] and start/end positions [B]; no labels. On the right whatever the
// tokenizer's side: the positions and the Trainer's span evaluation count from the row's start
// (transformers' run_qa.py likewise special-cases padding_side left).
template <class Sample>
TextBatch collate_question_answering(const std::vector<Sample>& samples, const text::BertTokenizer& tokenizer,
                                     const DataLoaderOptions& opt) {
  std::vector<text::Encoding> encodings(samples.size());
  std::size_t longest = 0;
  for (const Sample& sample : samples) longest = std::max(longest, detail::sample_ref(sample).input_ids.size());
  std::vector<std::int64_t> starts, ends;
  for (std::size_t b = 0; b < samples.size(); ++b) {
    const auto& s = detail::sample_ref(samples[b]);
    TINYXF_CHECK_AS(ValueError, s.token_type_ids.size() == s.input_ids.size(), "collate: a question answering feature has ",
                    s.input_ids.size(), " input ids but ", s.token_type_ids.size(), " token type ids");
    text::Encoding& e = encodings[b];
    e.ids.assign(s.input_ids.begin(), s.input_ids.end());
    e.type_ids.assign(s.token_type_ids.begin(), s.token_type_ids.end());
    e.attention_mask.assign(e.ids.size(), 1);
    e.ids.resize(longest, tokenizer.vocab().special_ids().pad);
    e.type_ids.resize(longest, 0);
    e.attention_mask.resize(longest, 0);
    starts.push_back(static_cast<std::int64_t>(s.start_position));
    ends.push_back(static_cast<std::int64_t>(s.end_position));
  }
  TextBatch batch = detail::batch_of(encodings, starts, tokenizer, opt, text::PaddingSide::right);
  batch.labels = Tensor();
  const auto B = static_cast<std::int64_t>(samples.size());
  batch.start_positions = Tensor::from_vector(starts, {B}, opt.device);
  batch.end_positions = Tensor::from_vector(ends, {B}, opt.device);
  return batch;
}

// Tokenizes and pads one batch of samples with `text` and `label` (data::Review, or any such
// struct; pointers to them too); samples with a `text_pair` too (PairSample) become pairs, and
// samples of `words` and `tags` (WordsSample) token classification batches, and question
// answering windows (QuestionAnsweringSample) batches with start/end positions.
template <class Sample>
TextBatch collate(const std::vector<Sample>& samples, const text::BertTokenizer& tokenizer, const DataLoaderOptions& opt) {
  if constexpr (WordsSample<Sample>) {
    return collate_words(samples, tokenizer, opt);
  } else if constexpr (QuestionAnsweringSample<Sample>) {
    return collate_question_answering(samples, tokenizer, opt);
  } else {
    std::vector<std::int64_t> labels;
    labels.reserve(samples.size());
    for (const Sample& sample : samples) labels.push_back(static_cast<std::int64_t>(detail::sample_ref(sample).label));
    if constexpr (PairSample<Sample>) {
      std::vector<text::TextPair> pairs;
      pairs.reserve(samples.size());
      for (const Sample& sample : samples) pairs.emplace_back(detail::sample_ref(sample).text, detail::sample_ref(sample).text_pair);
      return collate_text_pairs(pairs, labels, tokenizer, opt);
    } else {
      std::vector<std::string_view> texts;
      texts.reserve(samples.size());
      for (const Sample& sample : samples) texts.emplace_back(detail::sample_ref(sample).text);
      return collate_texts(texts, labels, tokenizer, opt);
    }
  }
}
inline TextBatch collate(const std::vector<const Review*>& reviews, const text::BertTokenizer& tokenizer,
                         const DataLoaderOptions& opt) {
  return collate<const Review*>(reviews, tokenizer, opt);
}

// Token count of every sample after truncation to max_length, special tokens included (what
// collate gives before padding; the truncation side does not change it). Reads each review only
// up to the window; a pair whole. `pair_truncation`: how pairs are cut (it can refuse a pair).
template <MapDataset Dataset>
std::vector<std::size_t> token_lengths(const Dataset& dataset, const text::BertTokenizer& tokenizer,
                                       std::size_t max_length, unsigned threads = 1,
                                       text::PairTruncation pair_truncation = text::PairTruncation::longest_first) {
  if constexpr (QuestionAnsweringSample<sample_of<Dataset>>) {  // already tokenized
    std::vector<std::size_t> lengths;
    lengths.reserve(dataset.size());
    for (std::size_t i = 0; i < dataset.size(); ++i) lengths.push_back(detail::sample_ref(dataset_get(dataset, i)).input_ids.size());
    return lengths;
  } else {
    text::EncodeOptions enc;
    enc.max_length = max_length;
    enc.pair_truncation = pair_truncation;
    enc.invalid_utf8 = text::InvalidUtf8::replace;
    std::vector<std::size_t> lengths;
    lengths.reserve(dataset.size());
    constexpr std::size_t kChunk = 1024;  // bounds the memory of the encodings
    std::vector<std::string_view> texts;
    std::vector<text::TextPair> pairs;
    for (std::size_t begin = 0; begin < dataset.size(); begin += kChunk) {
      texts.clear();
      pairs.clear();
      std::vector<sample_of<Dataset>> chunk;  // keeps samples that get(i) returns by value alive
      for (std::size_t i = begin; i < std::min<std::size_t>(dataset.size(), begin + kChunk); ++i)
        chunk.push_back(dataset_get(dataset, i));
      std::vector<text::Encoding> encodings;
      if constexpr (WordsSample<sample_of<Dataset>>) {
        std::vector<std::vector<std::string>> documents;
        for (const auto& sample : chunk)
          documents.emplace_back(detail::sample_ref(sample).words.begin(), detail::sample_ref(sample).words.end());
        encodings = tokenizer.encode_words_batch(documents, enc, threads);
      } else if constexpr (PairSample<sample_of<Dataset>>) {
        for (const auto& sample : chunk) pairs.emplace_back(detail::sample_ref(sample).text, detail::sample_ref(sample).text_pair);
        encodings = tokenizer.encode_pair_batch(std::span<const text::TextPair>(pairs), enc, threads);
      } else {
        for (const auto& sample : chunk) texts.push_back(detail::sample_ref(sample).text);
        encodings = tokenizer.encode_batch(std::span<const std::string_view>(texts), enc, threads);
      }
      for (const text::Encoding& e : encodings) lengths.push_back(e.ids.size());
    }
    return lengths;
  }
}

// Tokens in the padded batches of an order: real ones and all (B x S summed).
struct PaddingStats {
  std::int64_t real_tokens = 0, batch_tokens = 0;
  double padding_fraction() const {
    return batch_tokens > 0 ? 1.0 - static_cast<double>(real_tokens) / static_cast<double>(batch_tokens) : 0.0;
  }
};

// The padded size B x S of every batch when `order` is cut into batches (drop_last as given).
inline std::vector<std::int64_t> batch_token_counts(std::span<const std::size_t> order,
                                                    std::span<const std::size_t> lengths,
                                                    const DataLoaderOptions& opt) {
  std::vector<std::int64_t> out;
  const std::size_t b = opt.batch_size;
  for (std::size_t begin = 0; begin < order.size(); begin += b) {
    const std::size_t end = std::min(order.size(), begin + b);
    if (end - begin < b && opt.drop_last) break;
    std::size_t longest = 0;
    for (std::size_t i = begin; i < end; ++i) longest = std::max(longest, lengths[order[i]]);
    out.push_back(static_cast<std::int64_t>((end - begin) * padded_length(longest, opt)));
  }
  return out;
}

inline PaddingStats padding_stats(std::span<const std::size_t> order, std::span<const std::size_t> lengths,
                                  const DataLoaderOptions& opt) {
  PaddingStats stats;
  for (const std::int64_t t : batch_token_counts(order, lengths, opt)) stats.batch_tokens += t;
  const std::size_t used = opt.drop_last ? order.size() / opt.batch_size * opt.batch_size : order.size();
  for (std::size_t i = 0; i < used; ++i) stats.real_tokens += static_cast<std::int64_t>(lengths[order[i]]);
  return stats;
}

// collate_fn for text classification: samples with `text` and `label` in, a padded TextBatch out.
class TokenizingCollator {
 public:
  // The tokenizer must outlive the collator.
  TokenizingCollator(const text::BertTokenizer& tokenizer, DataLoaderOptions options)
      : tokenizer_(&tokenizer), opt_(std::move(options)) {
    TINYXF_CHECK_AS(ValueError, opt_.max_length <= text::EncodeOptions::kMaxLengthLimit, "DataLoader: max_length ", opt_.max_length,
                 " exceeds the limit of ", text::EncodeOptions::kMaxLengthLimit, " tokens");
    TINYXF_CHECK_AS(ValueError, opt_.truncation != text::Truncation::head_tail ||
                     (opt_.max_length >= 2 && opt_.head_tokens <= opt_.max_length - 2),
                 "DataLoader: head_tokens ", opt_.head_tokens, " exceeds max_length ", opt_.max_length,
                 " minus [CLS] and [SEP]");
  }

  template <class Sample>
  TextBatch operator()(const std::vector<Sample>& samples) const {
    return collate(samples, *tokenizer_, opt_);
  }

  // Token count of each sample after truncation, for the length orders.
  template <MapDataset Dataset>
  std::vector<std::size_t> lengths(const Dataset& dataset) const {
    return token_lengths(dataset, *tokenizer_, opt_.max_length, std::max(1u, opt_.tokenizer_threads),
                         opt_.pair_truncation);
  }

  const DataLoaderOptions& options() const { return opt_; }
  const text::BertTokenizer& tokenizer() const { return *tokenizer_; }

 private:
  const text::BertTokenizer* tokenizer_;
  DataLoaderOptions opt_;
};

// Text classification batches of a std::vector<Review> (held by reference).
class DataLoader : public BasicDataLoader<std::vector<Review>, TokenizingCollator> {
 public:
  DataLoader(const std::vector<Review>& dataset, const text::BertTokenizer& tokenizer, DataLoaderOptions options)
      : BasicDataLoader(dataset, TokenizingCollator(tokenizer, options), options) {}

  const DataLoaderOptions& options() const { return collate_fn().options(); }

  // Padded batch sizes B x S of an epoch, and its padding, without tokenizing it again.
  std::vector<std::int64_t> batch_token_counts(std::uint64_t epoch) {
    const std::vector<std::size_t> order = epoch_order(epoch);
    return data::batch_token_counts(order, lengths(), options());
  }
  PaddingStats padding_stats(std::uint64_t epoch) {
    const std::vector<std::size_t> order = epoch_order(epoch);
    return data::padding_stats(order, lengths(), options());
  }
};

}  // namespace tinyxf::data
