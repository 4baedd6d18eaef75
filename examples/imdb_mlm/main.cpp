// imdb_mlm: masked language modeling on unlabelled text (transformers' run_mlm.py in C++; the
// Hugging Face course's domain adaptation of DistilBERT to IMDB): texts grouped into blocks, 15 %
// of their tokens masked afresh each epoch, the encoder trained to restore them through the
// Trainer, scored by perplexity = exp(eval_loss). The adapted model then fine-tunes as usual:
// `imdb_distilbert train --model DIR/model` (its classifier is initialized, the MLM head dropped).
//
// Usage: kUsage below (`imdb_mlm --help` prints it).
//
// predict prints the top-k tokens for each [MASK] of each text (transformers' fill-mask pipeline:
// models::fill_mask), e.g. before and after adaptation: "this movie was [MASK]."
// train writes DIR/model (save_pretrained: the encoder with its MLM head, config.json, the tokenizer)
// and DIR/metrics.json (eval_loss, perplexity and eval_accuracy, the share of masked tokens
// predicted right, as run_mlm's, before and after training); evaluate writes
// DIR/metrics.json for --model on --eval.
#include <tinyxf/tinyxf.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "../common/fine_tune.hpp"
#include "tinyxf/data/language_modeling.hpp"
#include "tinyxf/io/cli_numbers.hpp"
#include "tinyxf/models/fill_mask.hpp"

constexpr const char* kUsage = R"(usage:
  imdb_mlm predict --model DIR [--top-k N (5)] [--threads N] "text with a [MASK]" ...
  imdb_mlm [train|evaluate] [options]
    --train FILE          texts: one per line (.txt, .txt.gz; e.g. ../shared/data/imdb/imdb_unsup.txt.gz)
                          or a review CSV (.csv, .csv.gz: its review column); default: the shipped
                          IMDB sample's reviews
    --eval FILE           held-out texts (default for train: the last --eval-size texts of --train)
    --eval-size N (200)   texts held out of --train without --eval (0: no evaluation)
    --model DIR           a BERT or DistilBERT folder (a masked-LM head is initialized when it
                          has none); without it train builds a small DistilBERT
    --max-length N (128)  tokens per block (run_mlm's max_seq_length)
    --line-by-line        one text per sample, cut at --max-length (else texts are concatenated)
    --mlm-probability X (0.15)   --whole-word-mask   --dense-head (every position's logits, as HF)
    --time-budget MIN     train as many steps as fit into MIN minutes (--epochs then caps the plan)
    --vocab PATH  --epochs X (1)  --batch-size N (32)  --lr X (5e-5)  --warmup-ratio X (0)
    --weight-decay X (0.01)  --seed N (42)  --bf16  --threads N  --gradient-accumulation-steps N (1)
    --limit-train N  --limit-eval N  (first N texts)
    --dim N (64)  --layers N (2)  --heads N (2)   (a model from scratch)
    --output-dir DIR (imdb_mlm_out)
)";

using namespace tinyxf;
namespace fs = std::filesystem;

namespace {

struct Options : fine_tune::Options {
  std::size_t eval_size = 200, top_k = 5;
  std::vector<std::string> texts;  // predict's
  double mlm_probability = 0.15, time_budget_minutes = 0;
  bool whole_word_mask = false, line_by_line = false, dense_head = false;
};

Options parse(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "predict") {
    // predict reads the model folder and the texts alone: other flags would be silently ignored.
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--model" || a == "--top-k" || a == "--threads") ++i;
      else if (a.starts_with("--")) throw cli::UsageError(a + " is not an option of predict (--model, --top-k, --threads)");
    }
  }
  Options o;
  o.output_dir = "imdb_mlm_out";
  o.max_length = 128;
  o.epochs = 1;
  o.batch_size = 32;
  o.weight_decay = 0.01;
  // Without --train: the reviews the flagship trains on by default.
  try {
    o.train_file = data::imdb_sample_path().string();
  } catch (const IoError&) {  // no shipped data folder: --train is then required
  }
  fine_tune::parse_arguments(argc, argv, o, "imdb_mlm", [&](const std::string& a, auto&& value) {
    if (a == "--eval-size") o.eval_size = cli::parse_integer<std::size_t>(a, value(), 0, 1'000'000'000);
    else if (a == "--mlm-probability") o.mlm_probability = cli::parse_real(a, value(), 0.0, 1.0);
    else if (a == "--time-budget") o.time_budget_minutes = cli::parse_real(a, value(), 0.0, 1e6);
    else if (a == "--whole-word-mask") o.whole_word_mask = true;
    else if (a == "--line-by-line") o.line_by_line = true;
    else if (a == "--dense-head") o.dense_head = true;
    else if (o.command == "predict" && a == "--top-k") o.top_k = cli::parse_integer<std::size_t>(a, value(), 1, 1'000'000);
    else if (o.command == "predict" && !a.starts_with("--")) o.texts.push_back(a);
    else return false;
    return true;
  }, {"train", "evaluate", "predict"});
  if (o.command == "predict" && (o.model_dir.empty() || o.texts.empty()))
    throw cli::UsageError("predict needs --model DIR and at least one text");
  return o;
}

// One text per line, or the review column of an IMDB-style CSV.
std::vector<std::string> read_texts(const std::string& path, std::size_t limit) {
  std::vector<std::string> texts;
  const std::string name = fs::path(path).filename().string();
  if (name.ends_with(".csv") || name.ends_with(".csv.gz")) {
    for (data::Review& r : data::read_imdb_csv(path)) texts.push_back(std::move(r.text));
  } else {
    texts = data::read_text_lines(path);
  }
  if (limit > 0 && texts.size() > limit) texts.resize(limit);
  TINYXF_CHECK_AS(ValueError, !texts.empty(), "imdb_mlm: ", path, " holds no texts");
  return texts;
}

data::LanguageModelingDataset blocks_of(const std::vector<std::string>& texts, const text::BertTokenizer& tokenizer,
                                        const Options& o, const char* what) {
  data::LanguageModelingDataset d = data::group_texts(
      texts, tokenizer, {.block_size = o.max_length, .line_by_line = o.line_by_line, .threads = static_cast<unsigned>(o.threads)});
  std::cout << what << ": " << texts.size() << " texts -> " << d.size() << " samples of " << d.num_tokens() << " tokens";
  if (!o.line_by_line) std::cout << " (" << d.dropped_tokens() << " dropped: each group's remainder)";
  std::cout << "\n";
  if (o.line_by_line)
    TINYXF_CHECK_AS(ValueError, d.size() > 0, "imdb_mlm: every ", what, " text is blank");
  else
    TINYXF_CHECK_AS(ValueError, d.size() > 0, "imdb_mlm: the ", what, " texts make no block of ", o.max_length,
                    " tokens (fewer tokens than that; try --line-by-line or a smaller --max-length)");
  return d;
}

template <class Model>
int run(const Options& o, std::shared_ptr<Model> model, const text::BertTokenizer& tokenizer,
        data::LanguageModelingDataset train_blocks, const std::optional<data::LanguageModelingDataset>& eval_blocks) {
  const std::int64_t positions = [&] {
    if constexpr (requires { model->config.max_position_embeddings; }) return model->config.max_position_embeddings;
    else return std::int64_t{0};
  }();
  TINYXF_CHECK_AS(ValueError, static_cast<std::int64_t>(o.max_length) <= positions, "imdb_mlm: --max-length ",
                  o.max_length, " exceeds the model's ", positions, " positions");
  model->sparse_prediction = !o.dense_head;
  train::TrainingArguments args = fine_tune::training_arguments(o);
  args.max_length = static_cast<std::int64_t>(o.max_length);
  args.time_budget_seconds = o.time_budget_minutes * 60;  // the Trainer plans the steps that fit
  if (eval_blocks && o.command == "train") args.eval_strategy = "epoch";
  const data::LanguageModelingCollator collate(tokenizer, {.mlm_probability = o.mlm_probability,
                                                           .whole_word_mask = o.whole_word_mask,
                                                           .seed = o.seed});
  // As run_mlm: each evaluation batch's logits become argmax ids on the spot (not a vocabulary's
  // logits per masked token gathered), and eval_accuracy is the share of masked tokens restored;
  // perplexity = exp(eval_loss).
  const auto argmax_ids = [](const Tensor& logits, const Tensor&) { return argmax(logits, -1); };
  const auto masked_token_accuracy = [](const train::EvalPrediction& p) {
    return train::Metrics{{"accuracy", train::accuracy(p.logits.to_vector<std::int64_t>(), p.labels.to_vector<std::int64_t>())}};
  };
  train::Trainer<Model, data::LanguageModelingDataset, data::LanguageModelingCollator> trainer(
      model, args, std::move(train_blocks), eval_blocks, collate, masked_token_accuracy, argmax_ids);
  train::Metrics summary;
  const auto evaluate = [&](const std::string& prefix) {
    if (!eval_blocks) return;
    const train::Metrics m = trainer.evaluate();
    const double loss = m.at("eval_loss");
    summary[prefix + "eval_loss"] = loss;
    summary[prefix + "eval_accuracy"] = m.at("eval_accuracy");
    summary[prefix + "perplexity"] = data::perplexity(loss);
    std::cout << prefix << "perplexity: " << data::perplexity(loss) << " (eval_loss " << loss << ", accuracy of the masked tokens "
              << m.at("eval_accuracy") << ")\n";
  };
  if (o.command == "train") {
    evaluate("init_");
    fine_tune::train_and_save(trainer, *model, o, tokenizer);
  }
  evaluate("");
  if (!summary.empty()) fine_tune::write_metrics(o, summary);
  return 0;
}

// imdb_mlm predict --model DIR [--top-k N] [--threads N] TEXT...
int predict(const Options& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const std::string& model_dir = o.model_dir;
  const models::FillMaskOptions options{.top_k = o.top_k};
  const text::BertTokenizer tokenizer = models::load_pretrained_tokenizer(model_dir);
  const auto show = [&](auto& model) {
    for (const std::string& text : o.texts) {
      std::cout << text << "\n";
      for (const auto& per_mask : models::fill_mask(model, tokenizer, text, options))
        for (const models::FillMaskPrediction& p : per_mask)
          std::cout << "  " << std::fixed << std::setprecision(4) << p.score << "  " << p.token_str << "  | " << p.sequence << "\n";
    }
  };
  if (models::pretrained_model_type(model_dir) == "bert") show(*models::from_pretrained<models::BertForMaskedLM>(model_dir).model);
  else show(*models::from_pretrained<models::DistilBertForMaskedLM>(model_dir).model);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::asks_for_help(argc, argv)) {
    std::cout << kUsage;
    return 0;
  }
  return fine_tune::guarded_main("imdb_mlm", [&] {
    const Options o = parse(argc, argv);
    if (o.command == "predict") return predict(o);
    if (o.train_file.empty() && o.command == "train")
      throw cli::UsageError("no --train FILE given and the shipped IMDB sample was not found");
    const text::BertTokenizer tokenizer = fine_tune::tokenizer_for(o);
    std::vector<std::string> train_texts, eval_texts;
    if (o.command == "train") {
      train_texts = read_texts(o.train_file, o.limit_train);
      if (o.eval_file.empty() && o.eval_size > 0) {
        TINYXF_CHECK_AS(ValueError, o.eval_size < train_texts.size(), "imdb_mlm: --eval-size ", o.eval_size,
                        " leaves no training texts of ", train_texts.size());
        eval_texts.assign(train_texts.end() - static_cast<std::ptrdiff_t>(o.eval_size), train_texts.end());
        train_texts.resize(train_texts.size() - o.eval_size);
      }
    }
    if (!o.eval_file.empty()) eval_texts = read_texts(o.eval_file, o.limit_eval);
    std::optional<data::LanguageModelingDataset> eval_blocks;
    if (!eval_texts.empty()) eval_blocks = blocks_of(eval_texts, tokenizer, o, "eval");
    // evaluate trains nothing, but the Trainer wants a training set: the evaluation texts.
    data::LanguageModelingDataset train_blocks =
        o.command == "train" ? blocks_of(train_texts, tokenizer, o, "train") : *eval_blocks;
    train_texts.clear();
    train_texts.shrink_to_fit();
    return fine_tune::with_model<models::BertForMaskedLM, models::DistilBertForMaskedLM>(
        o, 0, static_cast<std::int64_t>(tokenizer.vocab().size()),
        [&](auto model) { return run(o, model, tokenizer, std::move(train_blocks), eval_blocks); });
  });
}
