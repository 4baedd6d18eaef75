// conll_ner: named entity recognition on CoNLL-format files (transformers' run_ner.py in C++):
// sentences of words, each word's tag on its first word piece (-100 on the others), fine-tuned
// with the Trainer as Bert/DistilBertForTokenClassification and scored per entity with seqeval
// (precision, recall, F1 per type and overall, token accuracy).
//
// Usage: kUsage below (`conll_ner --help` prints it).
//
// The label names are the training file's distinct tags, sorted (run_ner's get_label_list); they
// are saved as the model's id2label, and evaluate reads the file with them. train writes DIR/model
// (save_pretrained) and, with --eval, DIR/metrics.json and DIR/predictions.txt (each word with its
// gold and predicted tag, CoNLL style; words without a piece within --max-length get "O").
#include <tinyxf/tinyxf.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "../common/fine_tune.hpp"
#include "tinyxf/data/conll.hpp"
#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/cli_numbers.hpp"
#include "tinyxf/train/seqeval.hpp"

constexpr const char* kUsage = R"(usage:
  conll_ner [train|evaluate] [options]
    --train FILE          CoNLL training file (word ... tag per line, blank lines between sentences)
    --eval FILE           CoNLL evaluation file (train: scored after training; evaluate: required)
    --tag-column N        the tag's column, 0 = the word (default: the last; CoNLL-2003: 3 NER, 1 POS)
    --model DIR           a BERT or DistilBERT folder (the classifier is initialized for the
                          training file's tags); without it train builds a small DistilBERT
    --vocab PATH          vocab.txt (default: the model folder's, else the shipped bert-base-uncased)
    --max-length N (128)  --epochs X (3)  --batch-size N (16)  --lr X (5e-5)  --warmup-ratio X (0)
    --weight-decay X (0)  --seed N (42)   --bf16   --threads N   --gradient-accumulation-steps N (1)
    --limit-train N       --limit-eval N  (first N sentences)
    --dim N (64)          --layers N (2)  --heads N (2)   (a model from scratch)
    --output-dir DIR (conll_ner_out)
)";

using namespace tinyxf;
namespace fs = std::filesystem;

namespace {

struct Options : fine_tune::Options {
  int tag_column = -1;
};

Options parse(int argc, char** argv) {
  Options o;
  o.output_dir = "conll_ner_out";
  o.max_length = 128;
  o.epochs = 3;
  fine_tune::parse_arguments(argc, argv, o, "conll_ner", [&](const std::string& a, auto&& value) {
    if (a != "--tag-column") return false;
    o.tag_column = cli::parse_integer<int>(a, value(), 1, 1'000);
    return true;
  });
  return o;
}

data::ConllData read_sentences(const std::string& path, std::vector<std::string> label_names, const Options& o,
                               std::size_t limit) {
  data::ConllData d = data::read_conll(path, std::move(label_names), {.tag_column = o.tag_column});
  if (limit > 0 && d.examples.size() > limit) d.examples.resize(limit);
  TINYXF_CHECK_AS(ValueError, !d.examples.empty(), "conll_ner: ", path, " holds no sentences");
  return d;
}

// The label names a model was trained with: its config's id2label, by id.
template <class Model>
std::vector<std::string> label_names_of(const Model& model) {
  std::vector<std::string> names;
  for (std::int64_t id = 0; id < model.config.num_labels; ++id) {
    const auto it = model.config.id2label.find(id);
    TINYXF_CHECK_AS(ValueError, it != model.config.id2label.end(), "conll_ner: the model's config.json names no label ",
                    id, " (id2label): evaluate needs a model trained by conll_ner train or with named labels");
    names.push_back(it->second);
  }
  return names;
}

// predictions.txt: "word gold predicted" per line, a blank line after each sentence. The rows of
// the predictions are the words that kept a first piece, sentence by sentence (the collator's
// alignment); a word without one — cut off by max_length, or nothing left after normalization —
// gets "O".
void write_predictions(const fs::path& path, const std::vector<data::TokenClassificationExample>& sentences,
                       const std::vector<std::string>& names, const train::PredictionOutput& out,
                       const text::BertTokenizer& tokenizer, const Options& o) {
  const std::vector<std::int64_t> predicted = train::argmax_rows(out.predictions);
  data::DataLoaderOptions loader;
  loader.max_length = o.max_length;
  text::EncodeOptions encode = data::encode_options(loader);
  encode.return_word_ids = true;
  std::string text;
  std::size_t row = 0;
  for (std::size_t s = 0; s < sentences.size(); ++s) {
    const text::Encoding encoding = tokenizer.encode_words(sentences[s].words, encode);
    std::vector<std::string> tags(sentences[s].words.size(), "O");
    for (std::size_t t = 0; t < encoding.word_ids.size(); ++t) {
      const std::int32_t word = encoding.word_ids[t];
      if (word == text::Encoding::kNoWord || (t > 0 && encoding.word_ids[t - 1] == word)) continue;
      tags.at(static_cast<std::size_t>(word)) = names.at(static_cast<std::size_t>(predicted.at(row++)));
    }
    for (std::size_t w = 0; w < sentences[s].words.size(); ++w)
      text += sentences[s].words[w] + " " + names.at(static_cast<std::size_t>(sentences[s].tags[w])) + " " + tags[w] + "\n";
    text += "\n";
  }
  TINYXF_CHECK(row == predicted.size(), "conll_ner: ", predicted.size(), " predictions for ", row, " first pieces");
  io::write_file_atomic(path, text);
}

template <class Model>
int run(const Options& o, std::shared_ptr<Model> model, const text::BertTokenizer& tokenizer,
        const std::vector<std::string>& label_names, std::vector<data::TokenClassificationExample> train_sentences) {
  std::vector<std::string> names = label_names;
  if (o.command == "train") {
    for (std::size_t id = 0; id < names.size(); ++id) model->config.id2label[static_cast<std::int64_t>(id)] = names[id];
  } else {
    names = label_names_of(*model);
  }
  data::ConllData eval;
  if (!o.eval_file.empty()) {
    eval = read_sentences(o.eval_file, names, o, o.limit_eval);
    std::cout << "eval: " << eval.examples.size() << " sentences\n";
  }
  if (o.command != "train") train_sentences = eval.examples;  // the Trainer needs a training set; evaluate trains nothing
  std::optional<std::vector<data::TokenClassificationExample>> eval_set;
  if (!eval.examples.empty()) eval_set = eval.examples;
  train::Trainer<Model, std::vector<data::TokenClassificationExample>> trainer(
      model, fine_tune::training_arguments(o), std::move(train_sentences), eval_set, tokenizer,
      train::seqeval_compute_metrics(names));
  if (o.command == "train") fine_tune::train_and_save(trainer, *model, o, tokenizer);
  if (eval.examples.empty()) return 0;
  const train::PredictionOutput out = trainer.predict(eval.examples, "eval");
  fine_tune::write_metrics(o, out.metrics);
  write_predictions(fs::path(o.output_dir) / "predictions.txt", eval.examples, names, out, tokenizer, o);
  std::cout << "evaluation of " << eval.examples.size() << " sentences:\n";
  for (const auto& [name, value] : out.metrics)
    if (name.starts_with("eval_overall") || name == "eval_loss") std::cout << "  " << name << " = " << value << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::asks_for_help(argc, argv)) {
    std::cout << kUsage;
    return 0;
  }
  return fine_tune::guarded_main("conll_ner", [&] {
    const Options o = parse(argc, argv);
    const text::BertTokenizer tokenizer = fine_tune::tokenizer_for(o);
    // train: the training file's tags; evaluate: the model's (read from its config by run).
    data::ConllData train_data;
    std::int64_t num_labels = 0;  // evaluate: as the checkpoint says
    if (o.command == "train") {
      train_data = read_sentences(o.train_file, {}, o, o.limit_train);
      num_labels = static_cast<std::int64_t>(train_data.label_names.size());
      std::cout << "train: " << train_data.examples.size() << " sentences, " << num_labels << " tags\n";
    }
    return fine_tune::with_model<models::BertForTokenClassification, models::DistilBertForTokenClassification>(
        o, num_labels, static_cast<std::int64_t>(tokenizer.vocab().size()), [&](auto model) {
          return run(o, model, tokenizer, train_data.label_names, std::move(train_data.examples));
        });
  });
}
