#pragma once
// Entity-level scores of sequence labelling (named entity recognition), as transformers'
// run_ner.py reports them through HF evaluate's "seqeval" metric, in seqeval's default mode (the
// lenient, conlleval-compatible chunking; not mode="strict" with a scheme).
//
//   get_entities               seqeval.metrics.sequence_labeling.get_entities: the chunks of one
//                              tag sequence (get_entities_of_sequences: of a list of sequences)
//   seqeval_metrics            evaluate.load("seqeval").compute(predictions, references), flattened
//                              as run_ner.py does with return_entity_level_metrics: per entity type
//                              T "T_precision", "T_recall", "T_f1", "T_number", and
//                              "overall_precision" / "_recall" / "_f1" / "_accuracy"
//   seqeval_compute_metrics    a compute_metrics for the Trainer's token-classification
//                              evaluation: argmax, label names, one sequence per sample
//
//   train::Metrics m = train::seqeval_metrics({{"B-PER", "I-PER", "O"}}, {{"B-PER", "I-PER", "O"}});
//   // m["PER_f1"] == 1, m["overall_accuracy"] == 1
//   Trainer<...> trainer(model, args, train, eval, tokenizer,
//                        train::seqeval_compute_metrics({"O", "B-PER", "I-PER", "B-LOC", "I-LOC"}));
//
// Golden files from the Python originals (seqeval 1.2.2): tests/reference/make_seqeval_golden.py.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/core/tensor.hpp"
#include "tinyxf/train/metrics.hpp"

namespace tinyxf::train {

// One chunk: its type and its first and last token (end inclusive, as seqeval's
// (type, start, end) tuples).
struct Entity {
  std::string type;
  std::size_t begin = 0, end = 0;

  bool operator==(const Entity&) const = default;
};

namespace detail {

// Bytes of the first / before the last code point of UTF-8 text (Python indexes str by code point).
inline std::size_t first_code_point_size(std::string_view s) {
  std::size_t n = 1;
  while (n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) ++n;
  return n;
}

inline std::size_t last_code_point_start(std::string_view s) {
  std::size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// get_entities' split of a tag into its chunk tag and type. Prefix mode: the first character and
// what follows its first '-' (the rest when there is none: "B-MISC-X" is MISC-X, "BPER" is PER);
// suffix mode: the last character and what precedes the last '-' before it. An empty type is "_"
// (so is the type of "O").
struct SplitTag {
  std::string_view tag, type;
};

inline SplitTag split_tag(std::string_view chunk, bool suffix) {
  SplitTag out;
  std::string_view rest;
  if (suffix) {
    const std::size_t last = last_code_point_start(chunk);
    out.tag = chunk.substr(last);
    rest = chunk.substr(0, last);
    const std::size_t dash = rest.rfind('-');
    if (dash != std::string_view::npos) rest = rest.substr(0, dash);
  } else {
    const std::size_t first = first_code_point_size(chunk);
    out.tag = chunk.substr(0, first);
    rest = chunk.substr(first);
    const std::size_t dash = rest.find('-');
    if (dash != std::string_view::npos) rest = rest.substr(dash + 1);
  }
  out.type = rest.empty() ? std::string_view("_") : rest;
  return out;
}

// seqeval's end_of_chunk and start_of_chunk, rule for rule.
inline bool end_of_chunk(std::string_view prev_tag, std::string_view tag, std::string_view prev_type,
                         std::string_view type) {
  if (prev_tag == "E" || prev_tag == "S") return true;
  if ((prev_tag == "B" || prev_tag == "I") && (tag == "B" || tag == "S" || tag == "O")) return true;
  return prev_tag != "O" && prev_tag != "." && prev_type != type;
}

inline bool start_of_chunk(std::string_view prev_tag, std::string_view tag, std::string_view prev_type,
                           std::string_view type) {
  if (tag == "B" || tag == "S") return true;
  if ((prev_tag == "E" || prev_tag == "S" || prev_tag == "O") && (tag == "E" || tag == "I")) return true;
  return tag != "O" && tag != "." && prev_type != type;
}

// get_entities' loop over `tags` followed by one "O". `where(i)` names tag i in errors.
template <typename Where>
std::vector<Entity> chunk_tags(const std::vector<std::string_view>& tags, bool suffix, const Where& where) {
  std::vector<Entity> chunks;
  std::string_view prev_tag = "O", prev_type;  // prev_type "" before the first tag, as seqeval starts
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= tags.size(); ++i) {
    const std::string_view chunk = i < tags.size() ? tags[i] : std::string_view("O");
    TINYXF_CHECK_AS(ValueError, !chunk.empty(), "get_entities: ", where(i), " is an empty string, not a tag");
    const SplitTag split = split_tag(chunk, suffix);
    if (end_of_chunk(prev_tag, split.tag, prev_type, split.type))
      chunks.push_back({std::string(prev_type), begin, i - 1});
    if (start_of_chunk(prev_tag, split.tag, prev_type, split.type)) begin = i;
    prev_tag = split.tag;
    prev_type = split.type;
  }
  return chunks;
}

}  // namespace detail

// seqeval.metrics.sequence_labeling.get_entities(tags, suffix) in its default mode: the chunks of a
// tag sequence in order of their ends. Tags are "B-TYPE", "I-TYPE", "E-TYPE", "S-TYPE" and "O"
// (IOB1, IOB2, IOE, IOBES alike; with `suffix`, "TYPE-B" and so on), split as detail::split_tag
// says. A chunk starts at B or S, at I or E after O, E or S, and wherever the type changes; it ends
// before B, S or O following B or I, after E or S, and wherever the type changes. Tags seqeval
// warns about ("X", "U-PER", a bare "PER") get no warning here but the same chunks: they start a
// chunk only when their type differs from the previous one, and a chunk ending on one begins where
// the last chunk started. Tags are UTF-8 (the tag is the first code point); an empty tag (Python
// raises IndexError) is a ValueError.
inline std::vector<Entity> get_entities(const std::vector<std::string>& tags, bool suffix = false) {
  const std::vector<std::string_view> views(tags.begin(), tags.end());
  return detail::chunk_tags(views, suffix, [](std::size_t i) { return "tag " + std::to_string(i); });
}

// get_entities of seqeval's list-of-lists input: the sequences joined with an "O" after each one,
// so that positions count one separator per sequence before (sequence s, token t is position
// t + sum over earlier sequences of (length + 1)). The separators end every chunk of valid tags; a
// chunk over invalid tags can still begin in an earlier sequence, as it does in seqeval.
inline std::vector<Entity> get_entities_of_sequences(const std::vector<std::vector<std::string>>& sequences,
                                                     bool suffix = false) {
  std::vector<std::string_view> views;
  std::vector<std::pair<std::size_t, std::size_t>> origin;  // (sequence, token) of each position
  for (std::size_t s = 0; s < sequences.size(); ++s) {
    for (std::size_t t = 0; t <= sequences[s].size(); ++t) {
      views.push_back(t < sequences[s].size() ? std::string_view(sequences[s][t]) : std::string_view("O"));
      origin.emplace_back(s, t);
    }
  }
  return detail::chunk_tags(views, suffix, [&origin](std::size_t i) {
    return "tag " + std::to_string(origin[i].second) + " of sequence " + std::to_string(origin[i].first);
  });
}

// HF evaluate's "seqeval" metric (seqeval.metrics.classification_report in default mode, and
// accuracy_score), as run_ner.py flattens it: for each entity type T found in the references or the
// predictions, "T_precision", "T_recall", "T_f1" and "T_number" (the type's entities in the
// references), and over all types "overall_precision", "overall_recall", "overall_f1" (micro
// averages) and "overall_accuracy" (the fraction of tags equal to their reference). An entity is
// correct when the same type spans the same tokens in both. A ratio with an empty denominator is 0
// (seqeval's zero_division="warn", without the warning); F1 is 2·P·R / (P + R), 0 when P + R is 0.
// A type named "overall" gets overwritten by the overall scores, as in run_ner.py. Every sequence
// must have as many predictions as references (a ValueError names the first that does not). No
// tags at all (zero sequences, or only empty ones): every score is 0 (seqeval raises).
inline Metrics seqeval_metrics(const std::vector<std::vector<std::string>>& predictions,
                               const std::vector<std::vector<std::string>>& references, bool suffix = false) {
  TINYXF_CHECK_AS(ValueError, predictions.size() == references.size(), "seqeval_metrics: ", predictions.size(),
                  " predicted sequences but ", references.size(), " reference sequences");
  std::size_t tokens = 0, correct = 0;
  for (std::size_t s = 0; s < references.size(); ++s) {
    TINYXF_CHECK_AS(ValueError, predictions[s].size() == references[s].size(), "seqeval_metrics: sequence ", s,
                    " has ", predictions[s].size(), " predicted tags but ", references[s].size(), " reference tags");
    tokens += references[s].size();
    for (std::size_t t = 0; t < references[s].size(); ++t) correct += predictions[s][t] == references[s][t];
  }
  struct Counts {
    std::set<std::pair<std::size_t, std::size_t>> predicted, reference;
  };
  std::map<std::string, Counts> by_type;  // sorted by name, as seqeval sorts its target names
  for (const Entity& e : get_entities_of_sequences(predictions, suffix)) by_type[e.type].predicted.emplace(e.begin, e.end);
  for (const Entity& e : get_entities_of_sequences(references, suffix)) by_type[e.type].reference.emplace(e.begin, e.end);

  const auto ratio = [](std::size_t num, std::size_t den) {
    return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
  };
  // seqeval: (1 + beta²)·P·R / (beta²·P + R) with beta = 1, the denominator 0 replaced by 1.
  const auto f1 = [](double precision, double recall) {
    const double denominator = precision + recall;
    return 2.0 * precision * recall / (denominator == 0.0 ? 1.0 : denominator);
  };
  Metrics metrics;
  std::size_t true_positive_sum = 0, predicted_sum = 0, reference_sum = 0;
  for (const auto& [type, counts] : by_type) {
    std::size_t true_positive = 0;
    for (const auto& span : counts.predicted) true_positive += counts.reference.count(span);
    const double precision = ratio(true_positive, counts.predicted.size());
    const double recall = ratio(true_positive, counts.reference.size());
    metrics[type + "_precision"] = precision;
    metrics[type + "_recall"] = recall;
    metrics[type + "_f1"] = f1(precision, recall);
    metrics[type + "_number"] = static_cast<double>(counts.reference.size());
    true_positive_sum += true_positive;
    predicted_sum += counts.predicted.size();
    reference_sum += counts.reference.size();
  }
  const double precision = ratio(true_positive_sum, predicted_sum);
  const double recall = ratio(true_positive_sum, reference_sum);
  metrics["overall_precision"] = precision;
  metrics["overall_recall"] = recall;
  metrics["overall_f1"] = f1(precision, recall);
  metrics["overall_accuracy"] = ratio(correct, tokens);
  return metrics;
}

// A compute_metrics for the Trainer's token-classification evaluation, as run_ner.py's: the
// EvalPrediction holds one row of logits [T, num_labels] and one label [T] per labelled token,
// sample by sample, and sequence_lengths the labelled tokens of each sample. Each row's argmax and
// each label become label_names[id] (a ValueError names an id outside them), the tags are split
// into one sequence per sample, and seqeval_metrics scores them.
inline ComputeMetrics seqeval_compute_metrics(std::vector<std::string> label_names) {
  TINYXF_CHECK_AS(ValueError, !label_names.empty(), "seqeval_compute_metrics: no label names");
  auto names = std::make_shared<const std::vector<std::string>>(std::move(label_names));
  return [names](const EvalPrediction& p) {
    TINYXF_CHECK_AS(ValueError, p.logits.defined() && p.labels.defined(),
                    "seqeval_compute_metrics: the prediction has no logits or labels");
    TINYXF_CHECK_AS(ShapeError, p.logits.dim() == 2 && p.labels.dim() == 1 && p.logits.shape()[0] == p.labels.shape()[0],
                    "seqeval_compute_metrics: expected logits [tokens, labels] and labels [tokens], got ",
                    shape_str(p.logits.shape()), " and ", shape_str(p.labels.shape()));
    const std::int64_t tokens = p.labels.shape()[0];
    std::int64_t total = 0;
    bool negative = false;
    for (const std::int64_t length : p.sequence_lengths) {
      negative = negative || length < 0;
      total += length;
    }
    TINYXF_CHECK_AS(ValueError, !p.sequence_lengths.empty() && !negative && total == tokens,
                    "seqeval_compute_metrics: seqeval needs the Trainer's token-classification predictions (",
                    p.sequence_lengths.size(), " sequence lengths summing to ", total, " for ", tokens, " tokens)");
    const std::vector<std::int64_t> predicted_ids = argmax_rows(p.logits);
    const std::vector<std::int64_t> label_ids = p.labels.contiguous().to(kInt64).to_vector<std::int64_t>();
    const auto name_of = [&names](std::int64_t id, const char* what, std::size_t token) -> const std::string& {
      TINYXF_CHECK_AS(ValueError, id >= 0 && static_cast<std::size_t>(id) < names->size(), "seqeval_compute_metrics: ",
                      what, " ", id, " of token ", token, " is not a label id (", names->size(), " label names)");
      return (*names)[static_cast<std::size_t>(id)];
    };
    std::vector<std::vector<std::string>> predictions, references;
    predictions.reserve(p.sequence_lengths.size());
    references.reserve(p.sequence_lengths.size());
    std::size_t token = 0;
    for (const std::int64_t length : p.sequence_lengths) {
      std::vector<std::string>& predicted = predictions.emplace_back();
      std::vector<std::string>& reference = references.emplace_back();
      for (std::int64_t i = 0; i < length; ++i, ++token) {
        predicted.push_back(name_of(predicted_ids[token], "predicted label", token));
        reference.push_back(name_of(label_ids[token], "label", token));
      }
    }
    return seqeval_metrics(predictions, references);
  };
}

}  // namespace tinyxf::train
