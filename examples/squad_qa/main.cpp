// squad_qa: extractive question answering on SQuAD (transformers' run_qa.py in C++): a question
// and each window of its context go through Bert/DistilBertForQuestionAnswering, the Trainer
// fine-tunes on the answers' token positions, and the start/end logits of every window are
// turned back into answer texts (n-best spans) scored by exact match and F1.
//
// Usage: kUsage below (`squad_qa --help` prints it).
//
// train writes DIR/model (save_pretrained: transformers reads it back) and, with --eval,
// DIR/predictions.json ({id: answer text}, as run_qa's predictions.json), DIR/nbest_predictions.json
// and DIR/metrics.json (exact match and F1 in percent, as HF's squad / squad_v2 metrics).
#include <tinyxf/tinyxf.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "../common/fine_tune.hpp"
#include "tinyxf/data/question_answering.hpp"
#include "tinyxf/io/cli_numbers.hpp"
#include "tinyxf/train/question_answering.hpp"

constexpr const char* kUsage = R"(usage:
  squad_qa [train|evaluate] [options]
    --train FILE          SQuAD training file (official JSON v1.1/v2.0, or HF datasets' JSON lines)
    --eval FILE           SQuAD evaluation file (train: scored after training; evaluate: required)
    --model DIR           a BERT or DistilBERT folder (config.json + weights; the QA head is
                          initialized when it has none); without it train builds a small
                          DistilBERT from scratch (--dim, --layers, --heads)
    --vocab PATH          vocab.txt (default: the model folder's, else the shipped bert-base-uncased)
    --max-length N (384)  --doc-stride N (128)  --epochs X (2)  --batch-size N (12)  --lr X (3e-5)
    --warmup-ratio X (0)  --weight-decay X (0)  --seed N (42)   --bf16   --threads N
    --gradient-accumulation-steps N (1)
    --limit-train N       --limit-eval N        (first N examples)
    --n-best N (20)       --max-answer-length N (30)  --version-2 (SQuAD 2.0: questions may have
                          no answer)  --null-threshold X (0)
    --dim N (64)          --layers N (2)  --heads N (2)   (a model from scratch)
    --output-dir DIR (squad_qa_out)
)";

using namespace tinyxf;
namespace fs = std::filesystem;

namespace {

struct Options : fine_tune::Options {
  std::size_t doc_stride = 128, n_best = 20, max_answer_length = 30;
  double null_threshold = 0;
  bool version_2 = false;
};

Options parse(int argc, char** argv) {
  Options o;
  o.output_dir = "squad_qa_out";
  o.batch_size = 12;
  o.lr = 3e-5;
  fine_tune::parse_arguments(argc, argv, o, "squad_qa", [&](const std::string& a, auto&& value) {
    const auto count = [&](std::int64_t min, std::int64_t max) {
      return static_cast<std::size_t>(cli::parse_integer<std::int64_t>(a, value(), min, max));
    };
    if (a == "--doc-stride") o.doc_stride = count(0, text::EncodeOptions::kMaxLengthLimit);
    else if (a == "--n-best") o.n_best = count(1, 1'000);
    else if (a == "--max-answer-length") o.max_answer_length = count(1, 65'536);
    else if (a == "--null-threshold") o.null_threshold = cli::parse_real(a, value(), -1e9, 1e9);
    else if (a == "--version-2") o.version_2 = true;
    else return false;
    return true;
  });
  if (o.doc_stride >= o.max_length) throw cli::UsageError("--doc-stride must be below --max-length");
  return o;
}

std::vector<data::QuestionAnsweringExample> read_examples(const std::string& path, std::size_t limit) {
  std::vector<data::QuestionAnsweringExample> examples = data::read_squad(path);
  if (limit > 0 && examples.size() > limit) examples.resize(limit);
  TINYXF_CHECK_AS(ValueError, !examples.empty(), "squad_qa: ", path, " holds no questions");
  return examples;
}

train::QuestionAnsweringPostprocessOptions postprocess_options(const Options& o) {
  train::QuestionAnsweringPostprocessOptions p;
  p.n_best_size = o.n_best;
  p.max_answer_length = o.max_answer_length;
  p.version_2_with_negative = o.version_2;
  p.null_score_diff_threshold = o.null_threshold;
  return p;
}

// predictions.json, nbest_predictions.json and metrics.json of one evaluation, written atomically.
void write_predictions(const Options& o, const std::vector<data::QuestionAnsweringExample>& examples,
                       const std::vector<train::QuestionAnsweringPrediction>& predictions, train::Metrics metrics) {
  json::Object answers, nbest;
  for (const train::QuestionAnsweringPrediction& p : predictions) {
    answers.push_back(p.id, p.prediction_text);
    json::Array candidates;
    candidates.reserve(p.n_best.size());
    for (const train::AnswerCandidate& c : p.n_best) {
      json::Object candidate;
      candidate.push_back("text", c.text);
      candidate.push_back("probability", train::json_number(c.probability));
      candidate.push_back("start_logit", train::json_number(c.start_logit));
      candidate.push_back("end_logit", train::json_number(c.end_logit));
      candidates.emplace_back(std::move(candidate));
    }
    nbest.push_back(p.id, std::move(candidates));
  }
  for (const auto& [name, value] : train::squad_metrics(predictions, examples, o.version_2)) metrics["eval_" + name] = value;
  fine_tune::write_metrics(o, metrics);
  train::write_json_file(fs::path(o.output_dir) / "predictions.json", std::move(answers));
  train::write_json_file(fs::path(o.output_dir) / "nbest_predictions.json", std::move(nbest));
  for (const auto& [name, value] : metrics) std::cout << "  " << name << " = " << value << "\n";
}

template <class Model>
int run(const Options& o, std::shared_ptr<Model> model, const text::BertTokenizer& tokenizer) {
  const data::QuestionAnsweringOptions feature_options{.max_length = o.max_length, .doc_stride = o.doc_stride,
                                                       .threads = static_cast<unsigned>(std::max(1, num_threads()))};
  std::vector<data::QuestionAnsweringExample> eval_examples;
  std::vector<data::QuestionAnsweringFeature> eval_features;
  if (!o.eval_file.empty()) {
    eval_examples = read_examples(o.eval_file, o.limit_eval);
    for (const data::QuestionAnsweringExample& e : eval_examples)
      TINYXF_CHECK_AS(ValueError, o.version_2 || !e.answers.empty(), "squad_qa: question \"", e.id, "\" of ", o.eval_file,
                      " has no answer: score SQuAD 2.0 data with --version-2");
    eval_features = data::prepare_question_answering_features(eval_examples, tokenizer, feature_options);
    std::cout << "eval: " << eval_examples.size() << " questions, " << eval_features.size() << " windows\n";
  }
  const train::TrainingArguments args = fine_tune::training_arguments(o);
  std::vector<data::QuestionAnsweringFeature> train_features;
  if (o.command == "train") {
    const auto train_examples = read_examples(o.train_file, o.limit_train);
    train_features = data::prepare_question_answering_features(train_examples, tokenizer, feature_options);
    std::cout << "train: " << train_examples.size() << " questions, " << train_features.size() << " windows\n";
  } else {
    train_features = eval_features;  // the Trainer needs a training set; evaluate trains nothing
  }
  std::optional<std::vector<data::QuestionAnsweringFeature>> eval_set;
  if (!eval_features.empty()) eval_set = eval_features;
  train::Trainer<Model, std::vector<data::QuestionAnsweringFeature>> trainer(model, args, std::move(train_features),
                                                                             eval_set, tokenizer);
  if (o.command == "train") fine_tune::train_and_save(trainer, *model, o, tokenizer);
  if (eval_features.empty()) return 0;
  const train::PredictionOutput out = trainer.predict(eval_features, "eval");
  const auto predictions =
      train::postprocess_qa_predictions(eval_examples, eval_features, out.predictions, postprocess_options(o));
  std::cout << "evaluation of " << eval_examples.size() << " questions:\n";
  write_predictions(o, eval_examples, predictions, out.metrics);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::asks_for_help(argc, argv)) {
    std::cout << kUsage;
    return 0;
  }
  return fine_tune::guarded_main("squad_qa", [&] {
    const Options o = parse(argc, argv);
    const text::BertTokenizer tokenizer = fine_tune::tokenizer_for(o);
    return fine_tune::with_model<models::BertForQuestionAnswering, models::DistilBertForQuestionAnswering>(
        o, 2, static_cast<std::int64_t>(tokenizer.vocab().size()), [&](auto model) { return run(o, model, tokenizer); });
  });
}
