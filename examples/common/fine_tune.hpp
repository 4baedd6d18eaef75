#pragma once
// What the task examples share (squad_qa, conll_ner; include as "../common/fine_tune.hpp"): the
// flags of a Trainer fine-tuning run, its TrainingArguments, the tokenizer, and the model — a
// BERT or DistilBERT folder with a head of the task (initialized when the folder has none), or a
// small DistilBERT from scratch.
//
//   --model DIR  --vocab PATH  --max-length N  --epochs X  --batch-size N  --lr X  --warmup-ratio X
//   --weight-decay X  --seed N  --bf16  --threads N  --limit-train N  --limit-eval N
//   --gradient-accumulation-steps N
//   --dim N  --layers N  --heads N  --output-dir DIR
#include <tinyxf/tinyxf.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "tinyxf/io/cli_numbers.hpp"

namespace fine_tune {

struct Options {
  std::string command = "train", train_file, eval_file, model_dir, vocab, output_dir;
  std::size_t max_length = 384, batch_size = 16, limit_train = 0, limit_eval = 0, gradient_accumulation_steps = 1;
  double epochs = 2, lr = 5e-5, warmup_ratio = 0, weight_decay = 0;
  std::int64_t dim = 64, layers = 2, heads = 2;  // a model from scratch
  std::uint64_t seed = 42;
  bool bf16 = false;
  int threads = 0;
};

// Takes flag `a` (its value from `value()`) when it is one of the shared ones; false otherwise.
template <class Value>
bool parse_common_flag(Options& o, const std::string& a, Value&& value) {
  using tinyxf::cli::parse_integer;
  using tinyxf::cli::parse_real;
  const auto count = [&](std::int64_t min, std::int64_t max) {
    return static_cast<std::size_t>(parse_integer<std::int64_t>(a, value(), min, max));
  };
  if (a == "--model") o.model_dir = value();
  else if (a == "--vocab") o.vocab = value();
  else if (a == "--output-dir") o.output_dir = value();
  else if (a == "--max-length") o.max_length = count(8, tinyxf::text::EncodeOptions::kMaxLengthLimit);
  else if (a == "--batch-size") o.batch_size = count(1, 65'536);
  else if (a == "--gradient-accumulation-steps") o.gradient_accumulation_steps = count(1, 65'536);
  else if (a == "--limit-train") o.limit_train = count(0, 1'000'000'000);
  else if (a == "--limit-eval") o.limit_eval = count(0, 1'000'000'000);
  else if (a == "--epochs") o.epochs = parse_real(a, value(), 0.0, 1e6);
  else if (a == "--lr") o.lr = parse_real(a, value(), 0.0, 100.0);
  else if (a == "--warmup-ratio") o.warmup_ratio = parse_real(a, value(), 0.0, 1.0);
  else if (a == "--weight-decay") o.weight_decay = parse_real(a, value(), 0.0, 100.0);
  else if (a == "--dim") o.dim = static_cast<std::int64_t>(count(2, 65'536));
  else if (a == "--layers") o.layers = static_cast<std::int64_t>(count(1, 1'024));
  else if (a == "--heads") o.heads = static_cast<std::int64_t>(count(1, 1'024));
  else if (a == "--seed") o.seed = parse_integer<std::uint64_t>(a, value(), 0, ~std::uint64_t{0});
  else if (a == "--threads") o.threads = static_cast<int>(count(1, 4'096));
  else if (a == "--bf16") o.bf16 = true;
  else return false;
  return true;
}

// The command line: [COMMAND] (one of `commands`; default train), the shared flags, --train FILE,
// --eval FILE, and the program's own flags and positional arguments through own_flag(a, value)
// (true when it took `a`); then the shared checks (train needs --train; evaluate needs --eval and
// --model). Usage errors name the flag.
template <class Derived, class OwnFlag>
void parse_arguments(int argc, char** argv, Derived& o, const char* program, OwnFlag&& own_flag,
                     std::initializer_list<std::string_view> commands = {"train", "evaluate"}) {
  using tinyxf::cli::UsageError;
  int i = 1;
  if (i < argc && std::find(commands.begin(), commands.end(), std::string_view(argv[i])) != commands.end())
    o.command = argv[i++];
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      return argv[++i];
    };
    if (parse_common_flag(o, a, value) || own_flag(a, value)) continue;
    if (a == "--train") o.train_file = value();
    else if (a == "--eval") o.eval_file = value();
    else throw UsageError("unknown argument " + a + " (" + program + " --help lists them)");
  }
  if (o.dim % o.heads != 0) throw UsageError("--dim must be a multiple of --heads");
  if (o.command == "train" && o.train_file.empty()) throw UsageError("train needs --train FILE");
  if (o.command == "evaluate" && (o.eval_file.empty() || o.model_dir.empty()))
    throw UsageError("evaluate needs --eval FILE and --model DIR");
}

// --vocab, else the model folder's vocabulary, else the shipped bert-base-uncased one; sets
// --threads first.
inline tinyxf::text::BertTokenizer tokenizer_for(const Options& o) {
  using tinyxf::text::BertTokenizer;
  if (o.threads > 0) tinyxf::set_num_threads(o.threads);
  if (!o.vocab.empty()) return BertTokenizer::from_file(o.vocab);
  if (!o.model_dir.empty()) return tinyxf::models::load_pretrained_tokenizer(o.model_dir);
  return BertTokenizer::from_file(tinyxf::text::default_vocab_path());
}

inline tinyxf::train::TrainingArguments training_arguments(const Options& o) {
  tinyxf::train::TrainingArguments args;
  args.output_dir = o.output_dir;
  args.num_train_epochs = o.epochs;
  args.per_device_train_batch_size = args.per_device_eval_batch_size = static_cast<std::int64_t>(o.batch_size);
  args.gradient_accumulation_steps = static_cast<std::int64_t>(o.gradient_accumulation_steps);
  args.learning_rate = o.lr;
  args.warmup_ratio = o.warmup_ratio;
  args.weight_decay = o.weight_decay;
  args.seed = o.seed;
  args.bf16 = o.bf16;
  args.max_length = static_cast<std::int64_t>(o.max_length);
  args.save_strategy = "no";
  args.logging_steps = 50;
  return args;
}

// Calls run(model) with the task's model class of the folder's family (Bert... for "bert",
// DistilBert... for "distilbert"; num_labels outputs — 0: as the folder's config says —, the head
// initialized when the folder has none), or with a DistilBERT from scratch without --model;
// returns what run returns.
template <class BertTask, class DistilBertTask, class Run>
int with_model(const Options& o, std::int64_t num_labels, std::int64_t vocab_size, Run&& run) {
  using namespace tinyxf;
  Generator init(o.seed);
  if (o.model_dir.empty()) {
    models::DistilBertConfig c;
    c.vocab_size = vocab_size;
    c.max_position_embeddings = std::max<std::int64_t>(512, static_cast<std::int64_t>(o.max_length));
    c.dim = o.dim;
    c.n_layers = o.layers;
    c.n_heads = o.heads;
    c.hidden_dim = 4 * o.dim;
    if (num_labels > 0) c.num_labels = num_labels;
    std::cout << "model: a DistilBERT from scratch (dim " << c.dim << ", " << c.n_layers << " layers)\n";
    return run(std::make_shared<DistilBertTask>(c, init));
  }
  models::PretrainedOptions load;
  if (num_labels > 0) load.num_labels = num_labels;
  load.generator = &init;
  const std::string family = models::pretrained_model_type(o.model_dir);
  std::cout << "model: " << o.model_dir << " (" << family << ")\n";
  if (family == "bert") return run(models::from_pretrained<BertTask>(o.model_dir, load).model);
  if (family == "distilbert") return run(models::from_pretrained<DistilBertTask>(o.model_dir, load).model);
  throw Error(o.model_dir + " holds a \"" + family + "\" model; bert or distilbert expected");
}

// train: the Trainer's run, then the model saved to DIR/model (save_pretrained, with the tokenizer).
template <class Trainer, class Model>
void train_and_save(Trainer& trainer, const Model& model, const Options& o, const tinyxf::text::BertTokenizer& tokenizer) {
  const tinyxf::train::TrainOutput out = trainer.train();
  std::cout << "trained " << out.global_step << " steps, mean loss " << out.training_loss << "\n";
  tinyxf::models::save_pretrained(model, std::filesystem::path(o.output_dir) / "model", tokenizer);
}

// DIR/metrics.json, atomically (non-finite numbers as null).
inline void write_metrics(const Options& o, const tinyxf::train::Metrics& metrics) {
  tinyxf::json::Object summary;
  for (const auto& [name, value] : metrics) summary.push_back(name, tinyxf::train::json_number(value));
  std::filesystem::create_directories(o.output_dir);
  tinyxf::train::write_json_file(std::filesystem::path(o.output_dir) / "metrics.json", std::move(summary));
}

// Runs the program's main body: usage errors exit with 2, other errors with 1, each named.
inline int guarded_main(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const tinyxf::cli::UsageError& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace fine_tune
