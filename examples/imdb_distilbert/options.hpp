#pragma once
// Command-line options of the flagship example. Every flag has a default; running with no
// arguments is `train` with all defaults (the embedded default).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/core/parallel.hpp"
#include "tinyxf/io/cli_numbers.hpp"

namespace imdb_example {

using UsageError = tinyxf::cli::UsageError;

// Accepted ranges of the numeric flags (a wider value is a typo, not a wish).
namespace flag_limits {
inline constexpr std::int64_t reviews = 1'000'000'000;  // --limit-train, --limit-eval
inline constexpr std::int64_t epochs = 10'000;
inline constexpr std::int64_t batch_size = 65'536;
inline constexpr std::int64_t max_length = 65'536;
inline constexpr std::int64_t steps = 1'000'000'000;    // --warmup-steps, --log-every, --save-steps
inline constexpr double lr = 100.0;
inline constexpr double weight_decay = 100.0;
inline constexpr double max_grad_norm = 1e9;
inline constexpr double time_budget_minutes = 7 * 24 * 60;  // a week
}  // namespace flag_limits

// --schedule's names: transformers' get_scheduler names that need no arguments beyond warmup and
// total steps (cosine_with_min_lr and warmup_stable_decay do; the Trainer's lr_scheduler_kwargs
// take them), reduce_lr_on_plateau (torch's defaults, stepped on each validation loss), and none.
inline constexpr std::array<std::string_view, 9> kSchedules = {
    "linear",       "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "reduce_lr_on_plateau", "none"};

struct Options {
  std::string command = "train";
  bool help = false;
  // data
  std::string data;                 // CSV (.csv/.csv.gz) or aclImdb folder; empty: the shipped sample
  std::size_t limit_train = 0;      // 0: all
  std::size_t limit_eval = 0;       // caps val and test (0: all)
  std::size_t eval_limit = 0;       // validation during training on a seeded subset of this size (0: all)
  // model
  std::string model_dir;            // Hugging Face folder (model.safetensors or pytorch_model.bin + config.json [+ vocab.txt or tokenizer.json])
  std::string config_path;          // config.json for a from-scratch model
  bool from_scratch = false;
  // training
  int epochs = 2;
  std::size_t batch_size = 16;
  std::size_t eval_batch_size = 64;
  double lr = 1e-3;
  std::size_t max_length = 256;
  std::string truncation = "head_tail";  // head | tail | head_tail
  std::int64_t head_tokens = -1;    // head_tail: pieces from the start (-1: max_length / 4)
  bool group_by_length = true;      // training batches of similar length (HF's group_by_length)
  std::size_t pad_to_multiple_of = 0;  // round each batch's padded length up (0: off)
  double time_budget_minutes = 0;   // > 0: train as many steps as fit (the whole run's wall time)
  std::string optimizer = "adamw";  // adam | adamw
  // linear (default) | none | reduce_lr_on_plateau | a Hugging Face schedule name without required
  // arguments (kSchedules)
  std::string schedule = "linear";
  std::int64_t warmup_steps = -1;   // -1: use warmup_ratio
  double warmup_ratio = 0.1;
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;
  bool use_trainer = false;
  bool freeze_embeddings = false;   // the encoder's embedding tables and their LayerNorm stay as loaded
  bool distributed = false;         // data-parallel through the Trainer (mpirun -np N ...)
  std::string resume;               // Trainer: checkpoint path or "last"
  std::string report_to;            // Trainer: "tensorboard" (event files under <output>/trainer/runs)
  std::int64_t save_steps = 0;      // Trainer: checkpoint every N steps (0: once per epoch)
  std::uint64_t seed = 42;
  int threads = 0;
  std::string device = "cpu";       // cpu | cuda | cuda:N (a build with the CUDA backend)
  std::string precision = "auto";   // auto | fp32 | medium | bf16 (main resolves auto)
  int log_every = 50;
  std::string output_dir = "imdb_distilbert_out";
  // predict
  std::vector<std::string> texts;
  // which of lr/epochs/limit_train the user set (defaults differ for pretrained models)
  bool lr_set = false, epochs_set = false, limit_train_set = false, eval_limit_set = false;
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
  --limit-eval N         use at most N validation and N test reviews (the first N of each)
  --eval-limit N         validate during training on a fixed seeded subset of N validation
                         reviews (default: all; 1000 with --time-budget); the test set is
                         always evaluated in full, once
  --truncation head|tail|head_tail   which word pieces of a longer review are kept (default
                         head_tail: the first --head-tokens and the last max_length-2-N)
  --head-tokens N        (head_tail) pieces kept from the start (default: max_length / 4)
  --group-by-length      train on batches of similar length (default; Hugging Face's
                         group_by_length: shuffled mega-batches of 50 batches sorted by length,
                         batches in random order)    --no-group-by-length: plain shuffled batches
  --pad-to-multiple-of N round each batch's padded length up to a multiple of N (default off)
model:
  --model DIR            Hugging Face folder (config.json + model.safetensors or
                         pytorch_model.bin [+ vocab.txt or tokenizer.json]):
                         distilbert-base-uncased, a BERT-family encoder, or a train output
  --config FILE          config.json for a model trained from scratch
  --from-scratch         ignore pretrained encoders; train the small default configuration
training:
  --epochs N             (default 2 from scratch, 1 pretrained)    --batch-size N (default 16)
  --lr X                 (default 1e-3 from scratch, 1e-4 pretrained)
  --max-length N         tokens incl. [CLS]/[SEP] (default 256)
                         (the pretrained defaults keep the embedded default near 10 minutes on
                         2 CPU cores; on a GPU use e.g. --epochs 3 --max-length 512 --limit-train 0)
  --optimizer adam|adamw (default adamw)
  --schedule NAME        linear (default), cosine, cosine_with_restarts, polynomial, constant,
                         constant_with_warmup, inverse_sqrt (transformers' get_scheduler with its
                         defaults), reduce_lr_on_plateau (torch's ReduceLROnPlateau with its
                         defaults, stepped on the validation loss after each epoch's evaluation,
                         as HF's Trainer; no warmup) or none
  --warmup-steps N | --warmup-ratio X (default ratio 0.1)
  --weight-decay X       (default 0.01)      --max-grad-norm X (default 1.0; 0 disables)
  --freeze-embeddings    do not train the encoder's embeddings (word/position/type tables and
                         their LayerNorm; HF: model.base_model.embeddings.requires_grad_(False))
  --time-budget MIN      train for as many steps as fit into MIN minutes of wall time for the
                         whole run (planned after 20 steps; the schedule is computed for the
                         planned steps, time is left for the final evaluation); --epochs, if
                         given, caps it, and all training reviews are used unless --limit-train
  --trainer              train through tinyxf::train::Trainer instead of the hand-written loop
  --save-steps N         (with --trainer) checkpoint every N steps, so a killed run loses at
                         most N steps (default: a checkpoint per epoch)
  --resume PATH|last     (with --trainer) continue from a checkpoint
  --report-to tensorboard  (with --trainer) TensorBoard event files in OUTPUT/trainer/runs/
  --distributed          data-parallel training through the Trainer (implies --trainer), one
                         process per rank: mpirun -np N imdb_distilbert train --distributed
                         (each rank uses its --threads; --batch-size is per rank; rank 0 writes
                         the output; docs/distributed.md). --device cuda: NCCL, one GPU per rank
                         (the imdb_distilbert_nccl build)
  --seed N               (default 42)        --threads N (default: all cores)
  --device cpu|cuda[:N]  where to train and evaluate (default cpu; cuda needs a CUDA build)
  --precision auto|fp32|medium|bf16
                         medium: float32 tensors, GEMMs with bf16 products and float32 sums
                         (set_float32_matmul_precision("medium"): AVX512-BF16 on the cpu, TF32 on
                         CUDA); bf16: mixed precision, autocast(bfloat16) as torch.autocast: GEMMs
                         and attention in bf16, softmax/LayerNorm/loss in float32, float32
                         weights; auto (default): medium where bf16 products pay (AMX, or
                         AVX512-BF16 on AMD: the fastest there), else fp32
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
  using tinyxf::cli::Bound;
  auto real = [&](const std::string& flag, double min, double max, Bound min_bound = Bound::closed,
                  Bound max_bound = Bound::closed) {
    return tinyxf::cli::parse_real(flag, value(flag), min, max, min_bound, max_bound);
  };
  auto integer = [&](const std::string& flag, std::int64_t min, std::int64_t max) {
    return tinyxf::cli::parse_integer<std::int64_t>(flag, value(flag), min, max);
  };
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") o.help = true;
    else if (a == "--data") o.data = value(a);
    else if (a == "--limit-train") {
      o.limit_train = static_cast<std::size_t>(integer(a, 0, flag_limits::reviews));
      o.limit_train_set = true;
    }
    else if (a == "--limit-eval") o.limit_eval = static_cast<std::size_t>(integer(a, 0, flag_limits::reviews));
    else if (a == "--eval-limit") {
      o.eval_limit = static_cast<std::size_t>(integer(a, 0, flag_limits::reviews));
      o.eval_limit_set = true;
    }
    else if (a == "--truncation") o.truncation = value(a);
    else if (a == "--head-tokens") o.head_tokens = integer(a, 0, flag_limits::max_length);
    else if (a == "--group-by-length") o.group_by_length = true;
    else if (a == "--no-group-by-length") o.group_by_length = false;
    else if (a == "--pad-to-multiple-of")
      o.pad_to_multiple_of = static_cast<std::size_t>(integer(a, 0, flag_limits::max_length));
    else if (a == "--time-budget")
      o.time_budget_minutes = real(a, 0, flag_limits::time_budget_minutes, Bound::open);  // (0, max]
    else if (a == "--model" || a == "--model-dir") o.model_dir = value(a);
    else if (a == "--config") o.config_path = value(a);
    else if (a == "--from-scratch") o.from_scratch = true;
    else if (a == "--epochs") { o.epochs = static_cast<int>(integer(a, 1, flag_limits::epochs)); o.epochs_set = true; }
    else if (a == "--batch-size") o.batch_size = static_cast<std::size_t>(integer(a, 1, flag_limits::batch_size));
    else if (a == "--eval-batch-size") o.eval_batch_size = static_cast<std::size_t>(integer(a, 1, flag_limits::batch_size));
    else if (a == "--lr") { o.lr = real(a, 0, flag_limits::lr); o.lr_set = true; }
    else if (a == "--max-length") o.max_length = static_cast<std::size_t>(integer(a, 3, flag_limits::max_length));  // [CLS], a piece, [SEP]
    else if (a == "--optimizer") o.optimizer = value(a);
    else if (a == "--schedule") o.schedule = value(a);
    else if (a == "--warmup-steps") o.warmup_steps = integer(a, 0, flag_limits::steps);
    else if (a == "--warmup-ratio") o.warmup_ratio = real(a, 0, 1, Bound::closed, Bound::open);  // [0, 1)
    else if (a == "--weight-decay") o.weight_decay = real(a, 0, flag_limits::weight_decay);
    else if (a == "--max-grad-norm") o.max_grad_norm = real(a, 0, flag_limits::max_grad_norm);
    else if (a == "--trainer") o.use_trainer = true;
    else if (a == "--freeze-embeddings") o.freeze_embeddings = true;
    else if (a == "--distributed") o.distributed = o.use_trainer = true;
    else if (a == "--save-steps") o.save_steps = integer(a, 0, flag_limits::steps);  // 0: once per epoch
    else if (a == "--resume") o.resume = value(a);
    else if (a == "--report-to") {
      o.report_to = value(a);
      if (o.report_to != "tensorboard" && o.report_to != "none")
        throw UsageError("--report-to: expected tensorboard or none, got '" + o.report_to + "'");
    }
    else if (a == "--seed")
      o.seed = tinyxf::cli::parse_integer<std::uint64_t>(a, value(a), 0, std::numeric_limits<std::uint64_t>::max());
    else if (a == "--threads") o.threads = static_cast<int>(integer(a, 0, tinyxf::kMaxThreads));
    else if (a == "--device") o.device = value(a);
    else if (a == "--precision") o.precision = value(a);
    else if (a == "--log-every") o.log_every = static_cast<int>(integer(a, 0, flag_limits::steps));
    else if (a == "--output-dir") o.output_dir = value(a);
    else if (!a.empty() && a[0] == '-') throw UsageError("unknown option " + a);
    else if (o.command == "predict") o.texts.push_back(a);
    else throw UsageError("unexpected argument '" + a + "'");
  }
  if (o.command != "train" && o.command != "evaluate" && o.command != "predict")
    throw UsageError("unknown command '" + o.command + "'");
  if (o.optimizer != "adam" && o.optimizer != "adamw") throw UsageError("--optimizer must be adam or adamw");
  if (std::find(kSchedules.begin(), kSchedules.end(), o.schedule) == kSchedules.end())
    throw UsageError("--schedule must be linear, cosine, cosine_with_restarts, polynomial, constant, "
                     "constant_with_warmup, inverse_sqrt, reduce_lr_on_plateau or none, got '" + o.schedule + "'");
  if (o.command == "train" && !o.model_dir.empty() && !o.config_path.empty())
    throw UsageError("--model (fine-tune a checkpoint) and --config (train from scratch) exclude each other");
  if (o.precision != "auto" && o.precision != "fp32" && o.precision != "medium" && o.precision != "bf16")
    throw UsageError("--precision must be auto, fp32, medium or bf16, got '" + o.precision + "'");
  o.head_tokens = imdb_example::checked_head_tokens(o.truncation, o.head_tokens, o.max_length);
  if (o.time_budget_minutes > 0 && !o.resume.empty())
    throw UsageError("--time-budget plans a whole run from its start; it cannot --resume a checkpoint");
  if (o.time_budget_minutes > 0 && o.schedule != "linear" && o.schedule != "none")
    throw UsageError("--time-budget plans a linear schedule (or none); --schedule " + o.schedule +
                     " is not supported with it");
  if ((o.save_steps > 0 || !o.resume.empty()) && !o.use_trainer)
    throw UsageError("--save-steps and --resume need --trainer (the hand-written loops keep no checkpoints)");
  if (!o.report_to.empty() && !o.use_trainer) throw UsageError("--report-to needs --trainer");
  return o;
}

}  // namespace imdb_example
