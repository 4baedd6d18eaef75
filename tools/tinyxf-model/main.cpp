// tinyxf-model (alias: tinyxf-distilbert, its former name): runs a sequence-classification
// checkpoint in Hugging Face layout on one batch, in eval mode, and writes the results as
// safetensors (all F32 unless noted). The class follows config.json's model_type (else its
// architectures): "bert" -> BertForSequenceClassification, "distilbert" ->
// DistilBertForSequenceClassification.
//
//   tinyxf-model run --model DIR --batch BATCH.safetensors --out OUT.safetensors [--grads]
//       logits [B, num_labels]; loss [1] when BATCH has labels; with --grads, grad.<name> for every
//       trainable parameter (HF names).
//   tinyxf-model run ... --train-steps N [--optimizer adam|adamw] [--lr X] [--weight-decay W]
//                            [--warmup-steps K] [--total-steps T]
//       N optimizer steps on the batch (forward, backward, step, schedule step; still eval mode, so
//       no dropout), weight decay on every parameter as torch.optim.Adam(W)(model.parameters());
//       writes param.<name> for every parameter, loss.<k> (the loss of step k, before its update)
//       and lr.<k> (F64, the lr step k used). The lr is constant unless --warmup-steps or
//       --total-steps is given: then get_linear_schedule_with_warmup(K (default 0), T (default N)).
//
// BATCH holds input_ids (integer, [B, S]), attention_mask (integer, [B, S], 1 = token, 0 = padding;
// all ones when absent), optionally token_type_ids (integer, [B, S], BERT only; all 0 when absent)
// and labels (integer, [B]). Exit status: 0 ok, 1 bad checkpoint,
// batch or runtime failure (the message names the file and tensor), 2 bad command line.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "tinyxf/io/cli_numbers.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/models/bert/bert.hpp"
#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/tinyxf.hpp"

namespace fs = std::filesystem;
using namespace tinyxf;

namespace {

constexpr const char* kUsage =
    "usage: tinyxf-model run --model DIR --batch BATCH.safetensors --out OUT.safetensors [--grads]\n"
    "                        [--train-steps N [--optimizer adam|adamw] [--lr X] [--weight-decay W]\n"
    "                         [--warmup-steps K] [--total-steps T]]\n"
    "  (tinyxf-distilbert is the same program under its former name)\n"
    "  DIR: config.json + model.safetensors of a BertForSequenceClassification or a\n"
    "       DistilBertForSequenceClassification (HF names; model_type bert or distilbert)\n"
    "  BATCH: input_ids [B, S], attention_mask [B, S], optional token_type_ids [B, S] (BERT) and\n"
    "         labels [B] (integer tensors)\n"
    "  OUT: logits, loss (with labels), grad.<name> (--grads); or, with --train-steps,\n"
    "       param.<name>, loss.<k>, lr.<k> after N optimizer steps on the batch\n";

using UsageError = cli::UsageError;

// Accepted ranges of the numeric flags.
constexpr std::int64_t kMaxSteps = 1'000'000'000;
constexpr double kMaxRate = 100.0;  // --lr and --weight-decay

struct TrainOptions {
  std::int64_t steps = 0;  // 0: no training, evaluate only
  std::string optimizer = "adamw";
  double lr = 1e-3;                    // torch's default for Adam and AdamW
  std::optional<double> weight_decay;  // torch's default: Adam 0, AdamW 0.01
  std::optional<std::int64_t> warmup_steps, total_steps;
};

struct Options {
  fs::path model, batch, out;
  bool grads = false;
  TrainOptions train;
};

Options parse_args(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "run")
    throw UsageError(argc < 2 ? "missing command" : "unknown command '" + std::string(argv[1]) + "'");
  Options o;
  bool trains = false, optimizer_flags = false;  // --optimizer / --lr given
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(flag + " needs a value");
      return argv[++i];
    };
    auto steps = [&](std::int64_t min) { return cli::parse_integer<std::int64_t>(flag, value(), min, kMaxSteps); };
    if (flag == "--model") o.model = value();
    else if (flag == "--batch") o.batch = value();
    else if (flag == "--out") o.out = value();
    else if (flag == "--grads") o.grads = true;
    else if (flag == "--train-steps") trains = true, o.train.steps = steps(1);
    else if (flag == "--optimizer") optimizer_flags = true, o.train.optimizer = value();
    else if (flag == "--lr") optimizer_flags = true, o.train.lr = cli::parse_real(flag, value(), 0, kMaxRate);
    else if (flag == "--weight-decay") o.train.weight_decay = cli::parse_real(flag, value(), 0, kMaxRate);
    else if (flag == "--warmup-steps") o.train.warmup_steps = steps(0);
    else if (flag == "--total-steps") o.train.total_steps = steps(1);
    else throw UsageError("unknown option '" + flag + "'");
  }
  for (const auto& [path, flag] : {std::pair{&o.model, "--model"}, {&o.batch, "--batch"}, {&o.out, "--out"}})
    if (path->empty()) throw UsageError(std::string(flag) + " is required");
  if (o.train.optimizer != "adam" && o.train.optimizer != "adamw")
    throw UsageError("--optimizer must be adam or adamw, got '" + o.train.optimizer + "'");
  if (trains && o.grads) throw UsageError("--grads and --train-steps do not combine");
  const bool train_flags = optimizer_flags || o.train.weight_decay || o.train.warmup_steps || o.train.total_steps;
  if (!trains && train_flags)
    throw UsageError("--optimizer, --lr, --weight-decay, --warmup-steps and --total-steps need --train-steps");
  return o;
}

struct Batch {
  Tensor input_ids, attention_mask, token_type_ids, labels;
};

Tensor integer_tensor(const io::SafetensorsFile& file, const std::string& name) {
  const auto& info = file.info(name);
  TINYXF_CHECK(!io::is_floating_point(info.dtype), file.source(), ": '", name, "' must be an integer tensor, it is ",
               io::dtype_name(info.dtype));
  return io::load_int64_tensor(file, name);
}

// Reads and checks the batch against the model's config, naming the file and tensor on errors.
template <class Config>
Batch read_batch(const fs::path& path, const Config& config) {
  const io::SafetensorsFile file(path);
  const std::string& src = file.source();
  TINYXF_CHECK(file.contains("input_ids"), src, ": no tensor 'input_ids' (expected integers [batch, seq])");
  Batch b;
  b.input_ids = integer_tensor(file, "input_ids");
  TINYXF_CHECK(b.input_ids.dim() == 2 && b.input_ids.numel() > 0, src, ": 'input_ids' must be [batch, seq], got ",
               shape_str(b.input_ids.shape()));
  const std::int64_t batch = b.input_ids.shape()[0], seq = b.input_ids.shape()[1];
  TINYXF_CHECK(seq <= config.max_position_embeddings, src, ": sequence length ", seq,
               " exceeds the model's max_position_embeddings ", config.max_position_embeddings);
  for (std::int64_t id : b.input_ids.to_vector<std::int64_t>())
    TINYXF_CHECK(id >= 0 && id < config.vocab_size, src, ": 'input_ids' holds id ", id, ", outside the vocabulary [0, ",
                 config.vocab_size, ")");

  if (file.contains("attention_mask")) {
    b.attention_mask = integer_tensor(file, "attention_mask");
    TINYXF_CHECK(b.attention_mask.shape() == b.input_ids.shape(), src, ": 'attention_mask' has shape ",
                 shape_str(b.attention_mask.shape()), ", 'input_ids' ", shape_str(b.input_ids.shape()));
    for (std::int64_t m : b.attention_mask.to_vector<std::int64_t>())
      TINYXF_CHECK(m == 0 || m == 1, src, ": 'attention_mask' holds ", m, "; only 0 (padding) and 1 (token) are allowed");
  } else {
    b.attention_mask = Tensor::ones({batch, seq}, kInt64);
  }

  if (file.contains("token_type_ids")) {
    if constexpr (requires { config.type_vocab_size; }) {
      b.token_type_ids = integer_tensor(file, "token_type_ids");
      TINYXF_CHECK(b.token_type_ids.shape() == b.input_ids.shape(), src, ": 'token_type_ids' has shape ",
                   shape_str(b.token_type_ids.shape()), ", 'input_ids' ", shape_str(b.input_ids.shape()));
      for (std::int64_t t : b.token_type_ids.to_vector<std::int64_t>())
        TINYXF_CHECK(t >= 0 && t < config.type_vocab_size, src, ": 'token_type_ids' holds ", t, ", outside [0, ",
                     config.type_vocab_size, ")");
    } else {
      throw Error(src + ": 'token_type_ids' given, but the model (DistilBERT) has no token types");
    }
  }

  if (file.contains("labels")) {
    b.labels = integer_tensor(file, "labels");
    TINYXF_CHECK(b.labels.shape() == Shape{batch}, src, ": 'labels' must be [", batch, "], got ",
                 shape_str(b.labels.shape()));
    if (config.num_labels > 1)
      for (std::int64_t label : b.labels.to_vector<std::int64_t>())
        TINYXF_CHECK(label >= 0 && label < config.num_labels, src, ": label ", label, " outside [0, ",
                     config.num_labels, ")");
  }
  return b;
}

// Output tensors, written at the very end so that a failure leaves no partial file.
class Output {
 public:
  void add(const std::string& name, const Tensor& t) {
    const auto values = t.to_vector<float>();
    writer_.add(name, std::vector<std::int64_t>(t.shape().begin(), t.shape().end()), std::span<const float>(values));
  }
  void add_double(const std::string& name, double value) {
    const double values[] = {value};
    writer_.add(name, {1}, std::span<const double>(values));
  }
  void write(const fs::path& path) const { writer_.write(path); }

 private:
  io::SafetensorsWriter writer_;
};

// The classifier's forward on the batch (BERT also takes the token types).
template <class Model>
auto forward(Model& model, const Batch& batch) {
  if constexpr (std::same_as<Model, models::BertForSequenceClassification>)
    return model.forward(batch.input_ids, batch.attention_mask, batch.labels, false, batch.token_type_ids);
  else
    return model.forward(batch.input_ids, batch.attention_mask, batch.labels);
}

template <class Model>
void evaluate(Model& model, const Batch& batch, bool grads, Output& out) {
  TINYXF_CHECK(!grads || batch.labels.defined(), "--grads needs 'labels' in the batch (the loss to differentiate)");
  std::optional<NoGradGuard> no_grad;
  if (!grads) no_grad.emplace();
  const auto result = forward(model, batch);
  out.add("logits", result.logits);
  if (result.loss.defined()) out.add("loss", result.loss.reshape({1}));
  if (!grads) return;
  result.loss.backward();
  for (const auto& [name, param] : model.named_parameters()) {
    if (!param.requires_grad()) continue;  // a sinusoidal position table is fixed
    out.add("grad." + name, param.grad().defined() ? param.grad() : Tensor::zeros(param.shape()));
  }
}

template <class Model>
void train(Model& model, const Batch& batch, const TrainOptions& options, Output& out) {
  TINYXF_CHECK(batch.labels.defined(), "--train-steps needs 'labels' in the batch");
  std::unique_ptr<optim::Optimizer> optimizer;
  if (options.optimizer == "adam")
    optimizer = std::make_unique<optim::Adam>(
        model.parameters(), optim::AdamOptions{.lr = options.lr, .weight_decay = options.weight_decay.value_or(0.0)});
  else
    optimizer = std::make_unique<optim::AdamW>(
        model.parameters(), optim::AdamWOptions{.lr = options.lr, .weight_decay = options.weight_decay.value_or(1e-2)});
  std::optional<optim::LambdaLR> schedule;
  if (options.warmup_steps || options.total_steps)
    schedule.emplace(optim::get_linear_schedule_with_warmup(*optimizer, options.warmup_steps.value_or(0),
                                                            options.total_steps.value_or(options.steps)));

  for (std::int64_t k = 0; k < options.steps; ++k) {
    optimizer->zero_grad();
    const auto result = forward(model, batch);
    result.loss.backward();
    out.add("loss." + std::to_string(k), result.loss.reshape({1}));
    out.add_double("lr." + std::to_string(k), *optimizer->param_groups().front().lr);
    optimizer->step();
    if (schedule) schedule->step();
  }
  for (const auto& [name, param] : model.named_parameters()) out.add("param." + name, param);
}

std::string program = "tinyxf-model";  // the name it was called by, for messages

template <class Model>
int run(const Options& options) {
  auto [model, report] = models::from_pretrained<Model>(options.model);
  if (!report.newly_initialized.empty())
    std::cerr << program << ": warning: the checkpoint lacks some tensors, they were newly initialized\n"
              << report.str() << '\n';
  const Batch batch = read_batch(options.batch, model->config);
  model->eval();  // no dropout, also while training: the outputs are deterministic
  Output out;
  if (options.train.steps > 0)
    train(*model, batch, options.train, out);
  else
    evaluate(*model, batch, options.grads, out);
  out.write(options.out);
  return 0;
}

int run(const Options& options) {
  if (models::pretrained_model_type(options.model) == "bert")
    return run<models::BertForSequenceClassification>(options);
  return run<models::DistilBertForSequenceClassification>(options);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 0 && argv[0] && *argv[0]) program = fs::path(argv[0]).filename().string();
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << kUsage;
      return 0;
    }
  try {
    return run(parse_args(argc, argv));
  } catch (const UsageError& e) {
    std::cerr << program << ": " << e.what() << '\n' << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << '\n';
    return 1;
  }
}
