#pragma once
// Command-line options of the flagship example. Every flag has a default; running with no
// arguments is `train` with all defaults (the embedded default).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace imdb_example {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string command = "train";
  bool help = false;
  // data
  std::string data;                 // CSV (.csv/.csv.gz) or aclImdb folder; empty: the shipped sample
  std::size_t limit_train = 0;      // 0: all
  std::size_t limit_eval = 0;       // caps val and test (0: all)
  // model
  std::string model_dir;            // Hugging Face folder (model.safetensors + config.json [+ vocab.txt])
  std::string config_path;          // config.json for a from-scratch model
  bool from_scratch = false;
  // training
  int epochs = 2;
  std::size_t batch_size = 16;
  std::size_t eval_batch_size = 64;
  double lr = 1e-3;
  std::size_t max_length = 256;
  std::string optimizer = "adamw";  // adam | adamw
  std::string schedule = "linear";  // linear | cosine | none
  std::int64_t warmup_steps = -1;   // -1: use warmup_ratio
  double warmup_ratio = 0.1;
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;
  bool use_trainer = false;
  std::string resume;               // Trainer: checkpoint path or "last"
  std::uint64_t seed = 42;
  int threads = 0;
  std::string device = "cpu";       // cpu | cuda | cuda:N (a build with the CUDA backend)
  int log_every = 50;
  std::string output_dir = "imdb_distilbert_out";
  // predict
  std::vector<std::string> texts;
  // which of lr/epochs/limit_train the user set (defaults differ for pretrained models)
  bool lr_set = false, epochs_set = false, limit_train_set = false;
};

inline std::string usage() {
  return R"(usage: imdb_distilbert [train|evaluate|predict] [options] [text...]

  train (default)        fine-tune on IMDB and report validation/test accuracy
  evaluate --model DIR   test accuracy of a model written by train (DIR/model)
  predict --model DIR "review text"   print the label and its probability

data:
  --data PATH            IMDB CSV (review,sentiment; .csv or .csv.gz) or an aclImdb folder
                         (default: the shipped sample share/data/imdb_sample.csv)
  --limit-train N        use only the first N training reviews (0: all; default all from
                         scratch, 3600 when fine-tuning a pretrained encoder)
  --limit-eval N         use at most N validation and N test reviews
model:
  --model DIR            Hugging Face folder (config.json + model.safetensors [+ vocab.txt]):
                         distilbert-base-uncased, a BERT-family encoder, or a train output
  --config FILE          config.json for a model trained from scratch
  --from-scratch         ignore pretrained encoders; train the small default configuration
training:
  --epochs N             (default 2 from scratch, 1 pretrained)    --batch-size N (default 16)
  --lr X                 (default 1e-3 from scratch, 1e-4 pretrained)
  --max-length N         tokens incl. [CLS]/[SEP] (default 256)
                         (the pretrained defaults keep the embedded default near 10 minutes on
                         2 CPU cores; on a GPU use e.g. --epochs 3 --max-length 512 --limit-train 0)
  --optimizer adam|adamw (default adamw)     --schedule linear|cosine|none (default linear)
  --warmup-steps N | --warmup-ratio X (default ratio 0.1)
  --weight-decay X       (default 0.01)      --max-grad-norm X (default 1.0; 0 disables)
  --trainer              train through tinyxf::train::Trainer instead of the hand-written loop
  --resume PATH|last     (with --trainer) continue from a checkpoint
  --seed N               (default 42)        --threads N (default: all cores)
  --device cpu|cuda[:N]  where to train and evaluate (default cpu; cuda needs a CUDA build)
  --log-every N          (default 50 steps)  --output-dir DIR (default imdb_distilbert_out)
)";
}

inline Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  if (i < argc && argv[i][0] != '-') o.command = argv[i++];
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    return argv[++i];
  };
  auto number = [&](const std::string& flag) -> double {
    const std::string v = value(flag);
    try {
      std::size_t used = 0;
      const double d = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      return d;
    } catch (const std::exception&) {
      throw UsageError(flag + ": '" + v + "' is not a number");
    }
  };
  auto count = [&](const std::string& flag) -> std::int64_t {
    const double d = number(flag);
    if (d < 0 || d != static_cast<double>(static_cast<std::int64_t>(d)))
      throw UsageError(flag + " needs a non-negative whole number");
    return static_cast<std::int64_t>(d);
  };
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") o.help = true;
    else if (a == "--data") o.data = value(a);
    else if (a == "--limit-train") { o.limit_train = static_cast<std::size_t>(count(a)); o.limit_train_set = true; }
    else if (a == "--limit-eval") o.limit_eval = static_cast<std::size_t>(count(a));
    else if (a == "--model" || a == "--model-dir") o.model_dir = value(a);
    else if (a == "--config") o.config_path = value(a);
    else if (a == "--from-scratch") o.from_scratch = true;
    else if (a == "--epochs") { o.epochs = static_cast<int>(count(a)); o.epochs_set = true; }
    else if (a == "--batch-size") o.batch_size = static_cast<std::size_t>(count(a));
    else if (a == "--eval-batch-size") o.eval_batch_size = static_cast<std::size_t>(count(a));
    else if (a == "--lr") { o.lr = number(a); o.lr_set = true; }
    else if (a == "--max-length") o.max_length = static_cast<std::size_t>(count(a));
    else if (a == "--optimizer") o.optimizer = value(a);
    else if (a == "--schedule") o.schedule = value(a);
    else if (a == "--warmup-steps") o.warmup_steps = count(a);
    else if (a == "--warmup-ratio") o.warmup_ratio = number(a);
    else if (a == "--weight-decay") o.weight_decay = number(a);
    else if (a == "--max-grad-norm") o.max_grad_norm = number(a);
    else if (a == "--trainer") o.use_trainer = true;
    else if (a == "--resume") o.resume = value(a);
    else if (a == "--seed") o.seed = static_cast<std::uint64_t>(count(a));
    else if (a == "--threads") o.threads = static_cast<int>(count(a));
    else if (a == "--device") o.device = value(a);
    else if (a == "--log-every") o.log_every = static_cast<int>(count(a));
    else if (a == "--output-dir") o.output_dir = value(a);
    else if (!a.empty() && a[0] == '-') throw UsageError("unknown option " + a);
    else if (o.command == "predict") o.texts.push_back(a);
    else throw UsageError("unexpected argument '" + a + "'");
  }
  if (o.command != "train" && o.command != "evaluate" && o.command != "predict")
    throw UsageError("unknown command '" + o.command + "'");
  if (o.optimizer != "adam" && o.optimizer != "adamw") throw UsageError("--optimizer must be adam or adamw");
  if (o.schedule != "linear" && o.schedule != "cosine" && o.schedule != "none")
    throw UsageError("--schedule must be linear, cosine or none");
  if (o.command == "train" && !o.model_dir.empty() && !o.config_path.empty())
    throw UsageError("--model (fine-tune a checkpoint) and --config (train from scratch) exclude each other");
  if (o.batch_size == 0 || o.eval_batch_size == 0) throw UsageError("batch sizes must be positive");
  if (o.epochs <= 0) throw UsageError("--epochs must be positive");
  if (o.max_length < 2) throw UsageError("--max-length must be at least 2 ([CLS] and [SEP])");
  if (o.warmup_ratio < 0 || o.warmup_ratio >= 1) throw UsageError("--warmup-ratio must be in [0, 1)");
  return o;
}

}  // namespace imdb_example
