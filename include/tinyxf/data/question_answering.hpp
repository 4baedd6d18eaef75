#pragma once
// Extractive question answering data (SQuAD), as transformers' run_qa.py prepares it: each
// example (a question, a context and its answers) becomes one feature per window of the
// context — [CLS] question [SEP] context window [SEP], truncation only_second with a doc stride
// (prepare_train_features / prepare_validation_features) — with the answer's first and last token
// in that window as start/end positions ([CLS], position 0, when the window lacks the answer or
// the example has none), the window's example and its context tokens' character spans (what
// train/question_answering.hpp needs to turn start/end logits back into answer text).
//
//   std::vector<data::QuestionAnsweringExample> examples = ...;
//   auto features = data::prepare_question_answering_features(examples, tokenizer, {.max_length = 384, .doc_stride = 128});
//   // features are a dataset: TokenizingCollator pads them into batches with start/end positions
//
// read_squad / parse_squad read SQuAD's files: the official JSON (v1.1, v2.0) or the JSON lines of
// Hugging Face datasets' squad / squad_v2 (Dataset.to_json).
#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"
#include "tinyxf/text/unicode.hpp"

namespace tinyxf::data {

// One answer of an example: its text and where it starts in the context, in characters (Unicode
// scalar values, like Python str indices and SQuAD's answer_start).
struct Answer {
  std::string text;
  std::size_t answer_start = 0;
};

// A SQuAD example. Training uses the first answer; evaluation scores against all of them. No
// answers: the question has none in the context (SQuAD 2.0), its positions are [CLS]'s.
struct QuestionAnsweringExample {
  std::string id, question, context;
  std::vector<Answer> answers;
};

// One window of an example, tokenized (no padding: the collator pads each batch).
struct QuestionAnsweringFeature {
  std::vector<text::TokenId> input_ids;
  std::vector<std::int32_t> token_type_ids;  // 0 question, 1 context
  // The character span of each token in the context; only where is_context[t] (the context's
  // tokens: run_qa sets every other offset to None).
  std::vector<text::CharSpan> offsets;
  std::vector<std::uint8_t> is_context;
  std::size_t example_index = 0;  // the example this window comes from
  // The answer's first and last token in this window; 0 ([CLS]) when the window does not hold the
  // whole answer or the example has none.
  std::int64_t start_position = 0, end_position = 0;
};

struct QuestionAnsweringOptions {
  std::size_t max_length = 384;  // run_qa's max_seq_length
  std::size_t doc_stride = 128;  // tokens repeated between consecutive windows of a context
  unsigned threads = 1;          // examples tokenized in parallel
};

// The number of characters (Unicode scalar values) of UTF-8 text; invalid bytes count one each
// (as the tokenizer's InvalidUtf8::replace makes each one U+FFFD).
inline std::size_t character_count(std::string_view text) {
  std::size_t n = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    p += text::unicode::decode_utf8(p, end).bytes;
    ++n;
  }
  return n;
}

// The bytes of characters [begin, end) of UTF-8 text (Python's context[begin:end]; indices past
// the end are clipped).
inline std::string_view character_slice(std::string_view text, std::size_t begin, std::size_t end) {
  const auto* base = reinterpret_cast<const unsigned char*>(text.data());
  const auto* p = base;
  const auto* stop = base + text.size();
  std::size_t index = 0, begin_byte = text.size(), end_byte = text.size();
  while (p < stop && index < end) {
    if (index == begin) begin_byte = static_cast<std::size_t>(p - base);
    p += text::unicode::decode_utf8(p, stop).bytes;
    ++index;
  }
  if (index == end) end_byte = static_cast<std::size_t>(p - base);
  if (begin >= end || begin_byte >= end_byte) return {};
  return text.substr(begin_byte, end_byte - begin_byte);
}

namespace detail {

// Answer `index` of a question from its JSON text and answer_start (a character index, not negative).
inline Answer squad_answer(const json::Value& text, const json::Value& answer_start, std::size_t index) {
  const std::int64_t start = answer_start.as_int();
  TINYXF_CHECK_AS(ValueError, start >= 0, "answer ", index, " has a negative answer_start ", start);
  return {text.as_string(), static_cast<std::size_t>(start)};
}

// One example of the JSON lines format: {"id", "question", "context", "answers": {"text": [...],
// "answer_start": [...]}} ("title" and other fields ignored).
inline QuestionAnsweringExample squad_line_example(const json::Value& line) {
  QuestionAnsweringExample e;
  e.id = line.at("id").is_string() ? line.at("id").as_string() : std::to_string(line.at("id").as_int());
  e.question = line.at("question").as_string();
  e.context = line.at("context").as_string();
  const json::Value& answers = line.at("answers");
  const json::Value& texts = answers.at("text");
  const json::Value& starts = answers.at("answer_start");
  TINYXF_CHECK_AS(ValueError, texts.size() == starts.size(), "answers has ", texts.size(), " texts but ", starts.size(),
                  " answer_start values");
  for (std::size_t a = 0; a < texts.size(); ++a) {
    e.answers.push_back(squad_answer(texts.at(a), starts.at(a), a));
  }
  return e;
}

// The official nested format: {"data": [{"paragraphs": [{"context", "qas": [{"id", "question",
// "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}.
inline void append_squad_articles(const json::Value& root, std::vector<QuestionAnsweringExample>& out) {
  const json::Value& articles = root.at("data");
  for (std::size_t a = 0; a < articles.size(); ++a) {
    const json::Value& paragraphs = articles.at(a).at("paragraphs");
    for (std::size_t p = 0; p < paragraphs.size(); ++p) {
      const json::Value& paragraph = paragraphs.at(p);
      const std::string& context = paragraph.at("context").as_string();
      const json::Value& qas = paragraph.at("qas");
      for (std::size_t q = 0; q < qas.size(); ++q) {
        try {
          const json::Value& qa = qas.at(q);
          QuestionAnsweringExample e;
          e.id = qa.at("id").as_string();
          e.question = qa.at("question").as_string();
          e.context = context;
          const json::Value& answers = qa.at("answers");
          for (std::size_t i = 0; i < answers.size(); ++i) {
            e.answers.push_back(squad_answer(answers.at(i).at("text"), answers.at(i).at("answer_start"), i));
          }
          out.push_back(std::move(e));
        } catch (const Error& error) {
          throw ValueError("data[" + std::to_string(a) + "].paragraphs[" + std::to_string(p) + "].qas[" +
                           std::to_string(q) + "]: " + error.what());
        }
      }
    }
  }
}

}  // namespace detail

// The examples of a SQuAD file's contents, in file order: the official JSON ({"version", "data":
// [articles of paragraphs of questions]}, v1.1 or v2.0, where unanswerable questions have no
// answers) or JSON lines with one flat example each (Hugging Face datasets' squad / squad_v2
// columns: id, question, context, answers {text, answer_start}). Throws ValueError naming
// `origin` and the question (data[a].paragraphs[p].qas[q], or the line) that is malformed.
inline std::vector<QuestionAnsweringExample> parse_squad(std::string_view bytes, std::string_view origin = "in memory") {
  std::vector<QuestionAnsweringExample> examples;
  try {
    // The official file is one object with "data"; JSON lines do not parse as one value (or,
    // with one line, as an object without "data").
    std::optional<json::Value> whole;
    std::string whole_error;  // why the text is not one JSON value
    try {
      whole = json::parse(bytes);
    } catch (const ParseError& e) {
      whole_error = e.what();
    }
    if (whole && whole->is_object() && whole->contains("data")) {
      detail::append_squad_articles(*whole, examples);
      return examples;
    }
    std::size_t line_number = 0;
    for (std::size_t begin = 0; begin < bytes.size();) {
      const std::size_t end = std::min(bytes.find('\n', begin), bytes.size());
      ++line_number;
      const std::string_view line = bytes.substr(begin, end - begin);
      begin = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      try {
        examples.push_back(detail::squad_line_example(json::parse(line)));
      } catch (const ParseError& error) {
        // Not JSON lines either: a broken official file is reported where the whole text breaks.
        if (examples.empty() && !whole_error.empty()) throw ValueError(whole_error);
        throw ValueError("line " + std::to_string(line_number) + ": " + error.what());
      } catch (const Error& error) {
        throw ValueError("line " + std::to_string(line_number) + ": " + error.what());
      }
    }
  } catch (const Error& error) {
    throw ValueError("SQuAD data (" + std::string(origin) + "): " + error.what());
  }
  return examples;
}

// parse_squad of a file (IoError when it cannot be read).
inline std::vector<QuestionAnsweringExample> read_squad(const std::filesystem::path& path) {
  return parse_squad(io::read_file(path), path.string());
}

namespace detail {

inline text::EncodeOptions question_answering_encode_options(const QuestionAnsweringOptions& opt) {
  text::EncodeOptions enc;
  enc.max_length = opt.max_length;
  enc.truncation = true;
  enc.pair_truncation = text::PairTruncation::only_second;
  enc.padding = text::Padding::none;
  enc.return_offsets = true;
  enc.return_type_ids = true;
  enc.return_word_ids = true;
  enc.invalid_utf8 = text::InvalidUtf8::replace;
  return enc;
}

// The windows of one example as features.
inline void append_question_answering_features(const QuestionAnsweringExample& example, std::size_t example_index,
                                               const text::BertTokenizer& tokenizer, const QuestionAnsweringOptions& opt,
                                               std::vector<QuestionAnsweringFeature>& out) {
  // run_qa strips the question's leading whitespace: a long run of it could leave the context no room.
  std::string_view question = example.question;
  while (!question.empty() && (question.front() == ' ' || question.front() == '\t' || question.front() == '\n' ||
                               question.front() == '\r'))
    question.remove_prefix(1);
  std::size_t answer_begin = 0, answer_end = 0;
  if (!example.answers.empty()) {
    const Answer& answer = example.answers.front();
    const std::size_t context_chars = character_count(example.context);
    answer_begin = answer.answer_start;
    answer_end = answer_begin + character_count(answer.text);
    TINYXF_CHECK_AS(ValueError, answer_end > answer_begin && answer_end <= context_chars, "question answering: example ",
                    example_index, " (id \"", example.id, "\"): the answer \"", answer.text, "\" at character ",
                    answer.answer_start, " does not fit in the context of ", context_chars, " characters");
  }
  std::vector<text::Encoding> windows;
  try {
    windows = tokenizer.encode_pair_windows(question, example.context, question_answering_encode_options(opt),
                                            opt.doc_stride);
  } catch (const Error& e) {
    throw ValueError("question answering: example " + std::to_string(example_index) + " (id \"" + example.id +
                     "\"): " + e.what());
  }
  for (text::Encoding& window : windows) {
    QuestionAnsweringFeature f;
    f.example_index = example_index;
    if (!example.answers.empty()) {
      const auto [start, end] = text::answer_token_positions(window, answer_begin, answer_end);
      f.start_position = start;
      f.end_position = end;
    }
    f.is_context.resize(window.ids.size());
    for (std::size_t t = 0; t < window.ids.size(); ++t)
      f.is_context[t] = window.type_ids[t] == 1 && window.word_ids[t] != text::Encoding::kNoWord;
    f.input_ids = std::move(window.ids);
    f.token_type_ids = std::move(window.type_ids);
    f.offsets = std::move(window.offsets);
    out.push_back(std::move(f));
  }
}

}  // namespace detail

// Every example's windows, in example order (prepare_train_features and
// prepare_validation_features of run_qa.py in one: positions where an example has answers, the
// context offsets always). Throws ValueError naming the example when its answer lies outside its
// context or its question leaves the context no room.
inline std::vector<QuestionAnsweringFeature> prepare_question_answering_features(
    const std::vector<QuestionAnsweringExample>& examples, const text::BertTokenizer& tokenizer,
    const QuestionAnsweringOptions& options = {}) {
  TINYXF_CHECK_AS(ValueError, options.max_length <= text::EncodeOptions::kMaxLengthLimit, "question answering: max_length ",
                  options.max_length, " exceeds the limit of ", text::EncodeOptions::kMaxLengthLimit, " tokens");
  const std::size_t parts = std::min<std::size_t>(std::max(1u, options.threads), std::max<std::size_t>(examples.size(), 1));
  // Contiguous ranges of examples per thread, so the features stay in example order and the
  // first part's error is the first failing example's.
  std::vector<std::vector<QuestionAnsweringFeature>> part_features(parts);
  std::vector<std::exception_ptr> errors(parts);
  const auto run_part = [&](std::size_t part) {
    try {
      for (std::size_t i = examples.size() * part / parts; i < examples.size() * (part + 1) / parts; ++i)
        detail::append_question_answering_features(examples[i], i, tokenizer, options, part_features[part]);
    } catch (...) {
      errors[part] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> pool;
    for (std::size_t part = 1; part < parts; ++part) pool.emplace_back(run_part, part);
    run_part(0);
  }
  for (const std::exception_ptr& error : errors)
    if (error) std::rethrow_exception(error);
  std::vector<QuestionAnsweringFeature> features;
  for (auto& part : part_features)
    for (auto& f : part) features.push_back(std::move(f));
  return features;
}

}  // namespace tinyxf::data
