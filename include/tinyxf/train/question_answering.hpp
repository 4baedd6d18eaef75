#pragma once
// Extractive question answering at evaluation time: start/end logits back to answer text, and the
// SQuAD metrics, as Hugging Face computes them.
//
//   postprocess_qa_predictions   transformers' examples/pytorch/question-answering/utils_qa.py,
//                                postprocess_qa_predictions: per example, the n best spans over all
//                                of its features (windows), their softmax probabilities and, with
//                                SQuAD 2.0, the null answer and its threshold
//   normalize_answer, squad_exact_match, squad_f1
//                                the official SQuAD scripts (v1.1; v2.0 differs only in F1 of
//                                empty answers)
//   squad_metrics                HF evaluate's "squad" (v1.1) or transformers 4.x squad_evaluate
//                                (v2.0) over a set of predictions
//   squad_compute_metrics        both in one closure for the Trainer's compute_metrics
//
//   auto features = data::prepare_question_answering_features(examples, tokenizer, {.max_length = 384, .doc_stride = 128});
//   auto out = trainer.predict(features_dataset);  // out.predictions: [N, S, 2] start/end logits
//   auto predictions = train::postprocess_qa_predictions(examples, features, out.predictions);
//   train::Metrics m = train::squad_metrics(predictions, examples);  // {"exact_match", "f1"}
//
// Golden files from the Python originals: tests/reference/make_squad_golden.py.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <utf8proc.h>

#include "tinyxf/core/error.hpp"
#include "tinyxf/core/tensor.hpp"
#include "tinyxf/data/question_answering.hpp"
#include "tinyxf/text/unicode.hpp"
#include "tinyxf/train/metrics.hpp"

namespace tinyxf::train {

// run_qa.py's post-processing arguments, with its defaults.
struct QuestionAnsweringPostprocessOptions {
  std::size_t n_best_size = 20;        // best start and best end logits tried per feature, answers kept per example
  std::size_t max_answer_length = 30;  // in tokens
  bool version_2_with_negative = false;  // SQuAD 2.0: the null answer ([CLS]) may win
  double null_score_diff_threshold = 0.0;  // predict "" when null score - best span score exceeds it
};

struct AnswerCandidate {
  std::string text;  // "" for the null answer; "empty" for utils_qa's stand-in when nothing else is left
  double start_logit = 0, end_logit = 0;
  double score = 0;        // start_logit + end_logit (added in float32, as numpy does)
  double probability = 0;  // softmax of the scores over the n-best list
};

struct QuestionAnsweringPrediction {
  std::string id;
  std::string prediction_text;        // "" when SQuAD 2.0 predicts no answer
  std::vector<AnswerCandidate> n_best;  // best first (with SQuAD 2.0, the null answer may be appended last)
  double null_score_diff = 0;         // SQuAD 2.0: null score minus the best non-null span's logits; else 0
};

namespace detail {

// The k largest values of a row, largest first: numpy's argsort(row)[-1:-k-1:-1]. numpy's default
// sort does not define the order of equal values; this takes them as the reverse of a stable
// ascending sort would (higher index first). NaN counts as the largest value, as numpy sorts it.
inline std::vector<std::size_t> top_indices_descending(const float* row, std::size_t size, std::size_t k) {
  std::vector<std::size_t> order(size);
  for (std::size_t i = 0; i < size; ++i) order[i] = i;
  const auto before = [row](std::size_t a, std::size_t b) {
    const bool a_nan = std::isnan(row[a]), b_nan = std::isnan(row[b]);
    if (a_nan != b_nan) return a_nan;
    if (!a_nan && row[a] != row[b]) return row[a] > row[b];
    return a > b;
  };
  k = std::min(k, size);
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), before);
  order.resize(k);
  return order;
}

// A span before it becomes text: character offsets into the context, the score in float32 like
// utils_qa's numpy scalars (so that sorting and ties see the same numbers).
struct SpanCandidate {
  std::size_t begin = 0, end = 0;  // (0, 0) is the null answer, as utils_qa marks it
  float score = 0, start_logit = 0, end_logit = 0;
};

// Python's float32 comparison with a Python float under numpy 2 (NEP 50): the float becomes a float32.
inline float as_float32(double value) {
  if (std::isfinite(value) && std::fabs(value) > static_cast<double>(std::numeric_limits<float>::max()))
    return value > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  return static_cast<float>(value);
}

}  // namespace detail

// utils_qa.postprocess_qa_predictions for start/end logits `predictions` [N, S, 2] (float32; N =
// features.size(), S at least every feature's length; positions past a feature's end are never
// chosen, whatever they hold: the Trainer pads them with -100). A token is an answer boundary iff it
// is inside the feature and is_context (run_qa's offsets that are not None). One prediction per
// example, in example order. Differences from Python, all on degenerate input: equal logits are
// ranked by index (numpy leaves their order unspecified), NaN scores sort last, a SQuAD 2.0 example
// whose candidates all have empty text predicts "" with null_score_diff +inf (utils_qa raises
// IndexError), and an example with no features predicts "empty" in v1 and throws in v2 (utils_qa
// fails there too).
// Probabilities are computed in double (numpy: float32 unless the "empty" stand-in is present;
// they agree to ~1e-7).
inline std::vector<QuestionAnsweringPrediction> postprocess_qa_predictions(
    const std::vector<data::QuestionAnsweringExample>& examples,
    const std::vector<data::QuestionAnsweringFeature>& features, const Tensor& predictions,
    const QuestionAnsweringPostprocessOptions& options = {}) {
  TINYXF_CHECK_AS(ValueError, predictions.defined(), "postprocess_qa_predictions: the predictions tensor is undefined");
  TINYXF_CHECK_AS(ShapeError, predictions.dim() == 3 && predictions.shape()[2] == 2,
                  "postprocess_qa_predictions: expected start/end logits of shape [features, sequence, 2], got ",
                  shape_str(predictions.shape()));
  TINYXF_CHECK_AS(ShapeError, predictions.shape()[0] == static_cast<std::int64_t>(features.size()),
                  "postprocess_qa_predictions: ", predictions.shape()[0], " rows of logits but ", features.size(),
                  " features");
  TINYXF_CHECK_AS(DTypeError, predictions.dtype() == kFloat32, "postprocess_qa_predictions: expected float32 logits, got ",
                  dtype_name(predictions.dtype()), " (convert with .to(kFloat32))");
  const auto sequence = static_cast<std::size_t>(predictions.shape()[1]);
  TINYXF_CHECK_AS(ShapeError, sequence > 0 || features.empty(),
                  "postprocess_qa_predictions: logits of shape ", shape_str(predictions.shape()),
                  " have no positions (every feature has at least [CLS])");
  std::vector<std::vector<std::size_t>> features_of_example(examples.size());
  for (std::size_t f = 0; f < features.size(); ++f) {
    const data::QuestionAnsweringFeature& feature = features[f];
    TINYXF_CHECK_AS(ValueError, feature.example_index < examples.size(), "postprocess_qa_predictions: feature ", f,
                    " belongs to example ", feature.example_index, " but there are ", examples.size(), " examples");
    TINYXF_CHECK_AS(ShapeError, feature.input_ids.size() <= sequence, "postprocess_qa_predictions: feature ", f, " has ",
                    feature.input_ids.size(), " tokens but the logits only ", sequence, " positions");
    TINYXF_CHECK_AS(ValueError,
                    feature.is_context.size() == feature.input_ids.size() &&
                        feature.offsets.size() == feature.input_ids.size(),
                    "postprocess_qa_predictions: feature ", f, " has ", feature.input_ids.size(), " tokens but ",
                    feature.is_context.size(), " is_context flags and ", feature.offsets.size(), " offsets");
    features_of_example[feature.example_index].push_back(f);
  }
  const std::vector<float> logits = predictions.to_vector<float>();  // [N][S][2]
  const float threshold = detail::as_float32(options.null_score_diff_threshold);

  std::vector<QuestionAnsweringPrediction> out;
  out.reserve(examples.size());
  std::vector<float> start_logits(sequence), end_logits(sequence);
  for (std::size_t e = 0; e < examples.size(); ++e) {
    const data::QuestionAnsweringExample& example = examples[e];
    TINYXF_CHECK_AS(ValueError, !options.version_2_with_negative || !features_of_example[e].empty(),
                    "postprocess_qa_predictions: example ", e, " (id \"", example.id,
                    "\") has no features, so no null answer to score");
    std::vector<detail::SpanCandidate> candidates;
    detail::SpanCandidate min_null;
    bool have_null = false;
    for (const std::size_t f : features_of_example[e]) {
      const data::QuestionAnsweringFeature& feature = features[f];
      const float* row = logits.data() + f * sequence * 2;
      for (std::size_t t = 0; t < sequence; ++t) {
        start_logits[t] = row[2 * t];
        end_logits[t] = row[2 * t + 1];
      }
      // The example's null score is its features' lowest: all windows must agree there is no answer.
      const float null_score = start_logits[0] + end_logits[0];
      if (!have_null || min_null.score > null_score) {
        min_null = {0, 0, null_score, start_logits[0], end_logits[0]};
        have_null = true;
      }
      const std::size_t length = feature.input_ids.size();
      const auto is_boundary = [&](std::size_t t) { return t < length && feature.is_context[t]; };
      const std::vector<std::size_t> starts = detail::top_indices_descending(start_logits.data(), sequence, options.n_best_size);
      const std::vector<std::size_t> ends = detail::top_indices_descending(end_logits.data(), sequence, options.n_best_size);
      for (const std::size_t s : starts)
        for (const std::size_t t : ends) {
          if (!is_boundary(s) || !is_boundary(t)) continue;
          if (t < s || t - s + 1 > options.max_answer_length) continue;
          candidates.push_back({feature.offsets[s].begin, feature.offsets[t].end, start_logits[s] + end_logits[t],
                                start_logits[s], end_logits[t]});
        }
    }
    if (options.version_2_with_negative) candidates.push_back(min_null);

    // Python's sorted(..., reverse=True) is stable: equal scores keep the order they were found in.
    std::stable_sort(candidates.begin(), candidates.end(), [](const detail::SpanCandidate& a, const detail::SpanCandidate& b) {
      if (std::isnan(a.score)) return false;
      if (std::isnan(b.score)) return true;
      return a.score > b.score;
    });
    if (candidates.size() > options.n_best_size) candidates.resize(options.n_best_size);
    const auto is_null = [](const detail::SpanCandidate& c) { return c.begin == 0 && c.end == 0; };
    if (options.version_2_with_negative && std::none_of(candidates.begin(), candidates.end(), is_null))
      candidates.push_back(min_null);

    QuestionAnsweringPrediction prediction;
    prediction.id = example.id;
    prediction.n_best.reserve(candidates.size() + 1);
    for (const detail::SpanCandidate& c : candidates)
      prediction.n_best.push_back({std::string(data::character_slice(example.context, c.begin, c.end)),
                                   c.start_logit, c.end_logit, c.score, 0.0});
    // utils_qa's stand-in when no real span is left.
    if (prediction.n_best.empty() || (prediction.n_best.size() == 1 && prediction.n_best.front().text.empty()))
      prediction.n_best.insert(prediction.n_best.begin(), AnswerCandidate{"empty", 0.0, 0.0, 0.0, 0.0});

    double max_score = -std::numeric_limits<double>::infinity();
    for (const AnswerCandidate& c : prediction.n_best) max_score = std::max(max_score, c.score);
    double sum = 0;
    for (AnswerCandidate& c : prediction.n_best) {
      c.probability = std::exp(c.score - max_score);
      sum += c.probability;
    }
    for (AnswerCandidate& c : prediction.n_best) c.probability /= sum;

    if (!options.version_2_with_negative) {
      prediction.prediction_text = prediction.n_best.front().text;
    } else {
      const auto best = std::find_if(prediction.n_best.begin(), prediction.n_best.end(),
                                     [](const AnswerCandidate& c) { return !c.text.empty(); });
      if (best == prediction.n_best.end()) {
        prediction.null_score_diff = std::numeric_limits<double>::infinity();
      } else {
        // float32 arithmetic and comparison, as utils_qa's numpy scalars.
        const float score_diff =
            min_null.score - static_cast<float>(best->start_logit) - static_cast<float>(best->end_logit);
        prediction.null_score_diff = score_diff;
        if (!(score_diff > threshold)) prediction.prediction_text = best->text;
      }
    }
    out.push_back(std::move(prediction));
  }
  return out;
}

// ---- SQuAD metrics -------------------------------------------------------------------------------

namespace detail {

// Python's str.isspace(): Unicode White_Space plus the separators U+001C..U+001F.
inline bool is_python_space(char32_t cp) { return text::unicode::is_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }

// A character \w matches in a Python str pattern: str.isalnum() (letters L*, numbers N*) or '_'.
inline bool is_python_word(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO) ||
         (category >= UTF8PROC_CATEGORY_ND && category <= UTF8PROC_CATEGORY_NO);
}

// Python's string.punctuation: the ASCII ones only.
inline bool is_ascii_punctuation(char32_t cp) {
  return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
         (cp >= 0x7B && cp <= 0x7E);
}

// Unicode's Case_Ignorable and Cased, which Python's str.lower() consults for the final sigma:
// from utf8proc's categories and case mappings plus the few listed code points (Word_Break
// MidLetter / MidNumLet / Single_Quote; Other_Lowercase / Other_Uppercase without a mapping).
inline bool is_case_ignorable(char32_t cp) {
  switch (cp) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018: case 0x2019:
    case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
      return true;
    default:
      break;
  }
  const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_ME || category == UTF8PROC_CATEGORY_CF ||
         category == UTF8PROC_CATEGORY_LM || category == UTF8PROC_CATEGORY_SK;
}

inline bool is_cased(char32_t cp) {
  const auto c = static_cast<utf8proc_int32_t>(cp);
  const auto category = utf8proc_category(c);
  if (category == UTF8PROC_CATEGORY_LU || category == UTF8PROC_CATEGORY_LL || category == UTF8PROC_CATEGORY_LT) return true;
  if (utf8proc_tolower(c) != c || utf8proc_toupper(c) != c) return true;
  return cp == 0xAA || cp == 0xBA || (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
         (cp >= 0x1F170 && cp <= 0x1F189);
}

// Python's str.lower(): the simple lowercase mapping, except U+0130 (two characters) and capital
// sigma, which becomes final sigma after a cased letter not followed by one (case-ignorable
// characters skipped both ways).
inline void append_python_lower(const std::vector<char32_t>& text, std::size_t i, std::vector<char32_t>& out) {
  const char32_t cp = text[i];
  if (cp == 0x130) {
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  if (cp == 0x3A3) {
    std::size_t j = i;
    while (j > 0 && is_case_ignorable(text[j - 1])) --j;
    bool final_sigma = j > 0 && is_cased(text[j - 1]);
    if (final_sigma) {
      std::size_t k = i + 1;
      while (k < text.size() && is_case_ignorable(text[k])) ++k;
      final_sigma = k == text.size() || !is_cased(text[k]);
    }
    out.push_back(final_sigma ? char32_t{0x3C2} : char32_t{0x3C3});
    return;
  }
  out.push_back(text::unicode::to_lower(cp));
}

inline std::vector<char32_t> decode(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const text::unicode::DecodedChar decoded = text::unicode::decode_utf8(p, end);
    out.push_back(decoded.cp);
    p += decoded.bytes;
  }
  return out;
}

inline void append_utf8(char32_t cp, std::string& out) {
  char buffer[4];
  out.append(buffer, text::unicode::encode_utf8(cp, buffer));
}

// The normalized answer's words (it is they joined by single spaces).
inline std::vector<std::string> squad_tokens(std::string_view text) {
  const std::vector<char32_t> chars = decode(text);
  // lower, then remove_punc
  std::vector<char32_t> lowered;
  lowered.reserve(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) append_python_lower(chars, i, lowered);
  std::erase_if(lowered, is_ascii_punctuation);
  // remove_articles: re.sub(r"\b(a|an|the)\b", " ", text) replaces exactly the maximal runs of word
  // characters that spell an article; then white_space_fix: split on whitespace.
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  const auto finish_word = [&] {
    if (in_word) words.push_back(std::move(word));
    word.clear();
    in_word = false;
  };
  for (std::size_t i = 0; i < lowered.size();) {
    if (is_python_word(lowered[i])) {
      std::size_t run_end = i;
      while (run_end < lowered.size() && is_python_word(lowered[run_end])) ++run_end;
      const std::u32string_view run(lowered.data() + i, run_end - i);
      if (run == U"a" || run == U"an" || run == U"the") {
        finish_word();  // the article becomes a space
      } else {
        for (const char32_t cp : run) append_utf8(cp, word);
        in_word = true;
      }
      i = run_end;
    } else {
      if (is_python_space(lowered[i])) {
        finish_word();
      } else {
        append_utf8(lowered[i], word);
        in_word = true;
      }
      ++i;
    }
  }
  finish_word();
  return words;
}

}  // namespace detail

// The official SQuAD normalize_answer, with Python's semantics on Unicode text: lower(), drop
// string.punctuation (ASCII), replace the words a/an/the (\b as Python's re: letters, digits, '_')
// with spaces, collapse whitespace (str.split()). Invalid UTF-8 bytes read as U+FFFD.
inline std::string normalize_answer(std::string_view text) {
  std::string out;
  for (const std::string& word : detail::squad_tokens(text)) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

// SQuAD exact match: the normalized answers are equal (v1.1 and v2.0 alike).
inline bool squad_exact_match(std::string_view prediction, std::string_view truth) {
  return normalize_answer(prediction) == normalize_answer(truth);
}

// SQuAD F1 of the normalized words (a multiset overlap). v1.1 scores 0 whenever nothing overlaps,
// two empty answers included; v2.0 (version_2_with_negative) scores 1 when both are empty, 0 when
// only one is.
inline double squad_f1(std::string_view prediction, std::string_view truth, bool version_2_with_negative = false) {
  std::vector<std::string> predicted = detail::squad_tokens(prediction), gold = detail::squad_tokens(truth);
  if (version_2_with_negative && (predicted.empty() || gold.empty())) return predicted == gold ? 1.0 : 0.0;
  const std::size_t predicted_count = predicted.size(), gold_count = gold.size();
  std::sort(predicted.begin(), predicted.end());
  std::sort(gold.begin(), gold.end());
  std::size_t same = 0;
  for (auto p = predicted.begin(), g = gold.begin(); p != predicted.end() && g != gold.end();) {
    if (*p < *g) ++p;
    else if (*g < *p) ++g;
    else ++same, ++p, ++g;
  }
  if (same == 0) return 0.0;
  const double precision = 1.0 * static_cast<double>(same) / static_cast<double>(predicted_count);
  const double recall = 1.0 * static_cast<double>(same) / static_cast<double>(gold_count);
  return (2 * precision * recall) / (precision + recall);
}

// SQuAD scores of predictions (one per example, same order and ids: postprocess_qa_predictions'
// output), in percent.
//   v1.1 (HF evaluate "squad"): {"exact_match", "f1"}, each example's best over its answers. Every
//     example needs an answer (the v1.1 script fails otherwise): a ValueError names the first
//     without one.
//   v2.0 (transformers 4.x squad_evaluate with no-answer probabilities 0, as run_qa): {"exact",
//     "f1", "total"}, and the same over the examples with answers ("HasAns_" prefix) and without
//     ("NoAns_"), each group only when it has examples. Answers that normalize to nothing are
//     dropped; an example left without any is scored against "". squad_evaluate's best_exact /
//     best_f1 (and thresholds), which only mean something with real no-answer probabilities, are
//     left out.
// No examples: every score is 0 (the Python scripts divide by zero).
inline Metrics squad_metrics(const std::vector<QuestionAnsweringPrediction>& predictions,
                             const std::vector<data::QuestionAnsweringExample>& examples,
                             bool version_2_with_negative = false) {
  TINYXF_CHECK_AS(ValueError, predictions.size() == examples.size(), "squad_metrics: ", predictions.size(),
                  " predictions but ", examples.size(), " examples");
  for (std::size_t i = 0; i < examples.size(); ++i)
    TINYXF_CHECK_AS(ValueError, predictions[i].id == examples[i].id, "squad_metrics: prediction ", i, " has id \"",
                    predictions[i].id, "\" but example ", i, " has id \"", examples[i].id, "\"");
  const auto percent = [](double sum, std::size_t count) { return count == 0 ? 0.0 : 100.0 * sum / static_cast<double>(count); };
  Metrics metrics;
  if (!version_2_with_negative) {
    double exact_sum = 0, f1_sum = 0;
    for (std::size_t i = 0; i < examples.size(); ++i) {
      const data::QuestionAnsweringExample& example = examples[i];
      TINYXF_CHECK_AS(ValueError, !example.answers.empty(), "squad_metrics: example ", i, " (id \"", example.id,
                      "\") has no answers; SQuAD v1.1 scores only answerable questions (set version_2_with_negative)");
      bool exact = false;
      double f1 = 0;
      for (const data::Answer& answer : example.answers) {
        exact = exact || squad_exact_match(predictions[i].prediction_text, answer.text);
        f1 = std::max(f1, squad_f1(predictions[i].prediction_text, answer.text));
      }
      exact_sum += exact ? 1.0 : 0.0;
      f1_sum += f1;
    }
    metrics["exact_match"] = percent(exact_sum, examples.size());
    metrics["f1"] = percent(f1_sum, examples.size());
    return metrics;
  }
  struct Group {
    double exact = 0, f1 = 0;
    std::size_t count = 0;
  } all, has_answer, no_answer;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const data::QuestionAnsweringExample& example = examples[i];
    const std::string normalized_prediction = normalize_answer(predictions[i].prediction_text);
    double exact = 0, f1 = 0;
    bool scored = false;
    for (const data::Answer& answer : example.answers) {
      const std::string normalized_answer = normalize_answer(answer.text);
      if (normalized_answer.empty()) continue;
      scored = true;
      exact = std::max(exact, normalized_answer == normalized_prediction ? 1.0 : 0.0);
      f1 = std::max(f1, squad_f1(predictions[i].prediction_text, answer.text, true));
    }
    if (!scored) {
      exact = normalized_prediction.empty() ? 1.0 : 0.0;
      f1 = squad_f1(predictions[i].prediction_text, "", true);
    }
    for (Group* group : {&all, example.answers.empty() ? &no_answer : &has_answer}) {
      group->exact += exact;
      group->f1 += f1;
      ++group->count;
    }
  }
  const auto put = [&](const std::string& prefix, const Group& group) {
    metrics[prefix + "exact"] = percent(group.exact, group.count);
    metrics[prefix + "f1"] = percent(group.f1, group.count);
    metrics[prefix + "total"] = static_cast<double>(group.count);
  };
  put("", all);
  if (has_answer.count > 0) put("HasAns_", has_answer);
  if (no_answer.count > 0) put("NoAns_", no_answer);
  return metrics;
}

// A compute_metrics for the Trainer over a question answering eval set: its EvalPrediction's logits
// are the [features, S, 2] start/end logits of `features` (in order), which become predictions
// (postprocess_qa_predictions) and SQuAD scores (squad_metrics, v2.0 when
// options.version_2_with_negative). The closure shares one copy of the examples and features.
inline ComputeMetrics squad_compute_metrics(std::vector<data::QuestionAnsweringExample> examples,
                                            std::vector<data::QuestionAnsweringFeature> features,
                                            QuestionAnsweringPostprocessOptions options = {}) {
  auto shared_examples = std::make_shared<const std::vector<data::QuestionAnsweringExample>>(std::move(examples));
  auto shared_features = std::make_shared<const std::vector<data::QuestionAnsweringFeature>>(std::move(features));
  return [shared_examples, shared_features, options](const EvalPrediction& p) {
    TINYXF_CHECK_AS(ValueError, p.logits.defined(), "squad_compute_metrics: the prediction has no logits");
    const std::vector<QuestionAnsweringPrediction> predictions =
        postprocess_qa_predictions(*shared_examples, *shared_features, p.logits, options);
    return squad_metrics(predictions, *shared_examples, options.version_2_with_negative);
  };
}

}  // namespace tinyxf::train
