#pragma once
// tinyxf::train::Trainer: Hugging Face's Trainer loop for text classifiers.
//
//   Trainer<Model> trainer(model, args, train_reviews, eval_reviews, tokenizer);
//   TrainOutput out = trainer.train();            // or train("last") to resume
//   Metrics m = trainer.evaluate();               // eval_loss, eval_accuracy, eval_f1, ...
//
// Model is DistilBertForSequenceClassification or any nn::Module with the same
// forward(input_ids, attention_mask, labels) -> {logits, loss}. One optimizer step per batch:
//   model.train(); loss = forward(...).loss; loss.backward();
//   grad_norm = clip_grad_norm_(params, max_grad_norm); optimizer.step(); scheduler.step();
//   optimizer.zero_grad();
// then, as Hugging Face orders them: log (every logging_steps), evaluate (eval_strategy), save
// (save_strategy; always at the last step with "steps"). Outputs in args.output_dir:
// metrics.jsonl (one JSON object per log/eval event), training_curve.svg, checkpoint-<step>/.
// See docs/training.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/data/dataloader.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/train/checkpoint.hpp"
#include "tinyxf/train/metrics.hpp"
#include "tinyxf/train/progress.hpp"
#include "tinyxf/train/svg_plot.hpp"
#include "tinyxf/train/training_args.hpp"

namespace tinyxf::train {

struct TrainOutput {
  std::int64_t global_step = 0;
  double training_loss = 0;  // mean loss over every step of the run (resumed steps included)
  Metrics metrics;           // train_runtime, train_samples_per_second, train_steps_per_second, train_loss, epoch
};

struct PredictionOutput {
  Tensor<float> predictions;       // logits [N, num_labels], on the CPU, in dataset order
  Tensor<std::int64_t> label_ids;  // [N]
  Metrics metrics;                 // test_loss, test_accuracy, ... (prefix "test")
};

// Optional hooks into the loop.
struct TrainerCallbacks {
  // Every log_history entry: training logs, evaluations, the final summary.
  std::function<void(const json::Value& entry)> on_log;
  // After each epoch (also the last, partial one), before its evaluation/save; the wall time
  // of the epoch's steps in this process.
  std::function<void(const TrainerState& state, double epoch_seconds)> on_epoch_end;
  // After a checkpoint folder was committed.
  std::function<void(const fs::path& checkpoint)> on_save;
  // After each step's log/evaluate/save; return true to stop training right there.
  std::function<bool(const TrainerState& state)> on_step_end;
};

inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kCurveFile = "training_curve.svg";

template <class Model>
class Trainer {
 public:
  // The model (unless passed as a shared_ptr) and the tokenizer must outlive the Trainer. The model is moved to args.device, and
  // the default generator (dropout) is seeded with args.seed, as Hugging Face's set_seed at
  // Trainer construction.
  Trainer(Model& model, TrainingArguments args, std::vector<data::Review> train_dataset,
          std::optional<std::vector<data::Review>> eval_dataset, const text::BertTokenizer& tokenizer,
          ComputeMetrics compute_metrics = default_compute_metrics)
      : model_(&model),
        args_(std::move(args)),
        train_(std::move(train_dataset)),
        eval_(std::move(eval_dataset)),
        tokenizer_(&tokenizer),
        compute_metrics_(std::move(compute_metrics)) {
    args_.validate();
    TINYXF_CHECK(!train_.empty(), "Trainer: the training dataset is empty");
    TINYXF_CHECK(args_.eval_strategy == "no" || (eval_ && !eval_->empty()), "Trainer: eval_strategy \"",
                 args_.eval_strategy, "\" needs a non-empty eval_dataset");
    TINYXF_CHECK(args_.metric_for_best_model.empty() || (eval_ && args_.eval_strategy != "no"),
                 "Trainer: metric_for_best_model \"", args_.metric_for_best_model,
                 "\" needs an eval_dataset and an eval_strategy other than \"no\"");
    device_ = Device::parse(args_.device);
    model_->to(device_);
    manual_seed(args_.seed);
  }

  // The same, sharing ownership of the model (the Trainer keeps it alive).
  Trainer(std::shared_ptr<Model> model, TrainingArguments args, std::vector<data::Review> train_dataset,
          std::optional<std::vector<data::Review>> eval_dataset, const text::BertTokenizer& tokenizer,
          ComputeMetrics compute_metrics = default_compute_metrics)
      : Trainer(non_null(model), std::move(args), std::move(train_dataset), std::move(eval_dataset), tokenizer,
                std::move(compute_metrics)) {
    shared_model_ = std::move(model);
  }

  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // ---- training -----------------------------------------------------------------------------

  // Trains from step 0, or from a checkpoint ("last" = the newest in output_dir, or a folder):
  // model, optimizer, scheduler, generators and the position in the data are restored, so the
  // run continues exactly as if it had never stopped.
  TrainOutput train(const std::string& resume_from_checkpoint = "") {
    const Float32MatmulPrecisionGuard precision(args_.bf16 ? "medium" : get_float32_matmul_precision());
    const fs::path output_dir = args_.output_dir;
    fs::create_directories(output_dir);
    // What killed runs left behind: metrics.jsonl / training_curve.svg temporaries
    // ("<file>.tmp.<pid>") and half-written checkpoint folders.
    io::remove_stale_temporaries(output_dir);
    remove_stale_checkpoint_temporaries(output_dir);
    const auto num_samples = static_cast<std::int64_t>(train_.size());
    const std::int64_t steps_per_epoch = args_.steps_per_epoch(num_samples);
    const std::int64_t total_steps = args_.total_training_steps(steps_per_epoch);
    create_optimizer_and_scheduler(total_steps, args_.num_warmup_steps(total_steps));

    state_ = TrainerState{};
    state_.max_steps = total_steps;
    state_.steps_per_epoch = steps_per_epoch;
    state_.train_batch_size = args_.per_device_train_batch_size;
    state_.num_train_samples = num_samples;
    state_.logging_steps = args_.logging_steps;
    state_.eval_steps = args_.effective_eval_steps();
    state_.save_steps = args_.save_steps;

    progress_ = std::make_unique<ProgressReporter>(resolve_progress_style(args_.progress, stderr_is_terminal()),
                                                   total_steps, 0, *progress_stream_);
    if (!resume_from_checkpoint.empty()) {
      const fs::path checkpoint = resolve_checkpoint(output_dir, resume_from_checkpoint);
      load_checkpoint(checkpoint);
      state_.max_steps = total_steps;
      progress_ = std::make_unique<ProgressReporter>(progress_->style(), total_steps, state_.global_step,
                                                     *progress_stream_);
      progress_->message("Resuming from " + checkpoint.string() + " at step " + std::to_string(state_.global_step) +
                         " (epoch " + std::to_string(state_.epochs_completed) + ", batch " +
                         std::to_string(state_.batches_done_in_epoch) + " of " + std::to_string(steps_per_epoch) + ")");
    }
    rewrite_metrics_file();  // a fresh run starts it empty; a resumed one drops lines after the checkpoint

    data::DataLoaderOptions train_options =
        loader_options(args_.per_device_train_batch_size, true, args_.dataloader_drop_last);
    train_options.group_by_length = args_.group_by_length;
    data::DataLoader loader(train_, *tokenizer_, train_options);
    TINYXF_CHECK(static_cast<std::int64_t>(loader.size()) == steps_per_epoch, "Trainer: the data loader has ",
                 loader.size(), " batches per epoch, expected ", steps_per_epoch);
    const std::vector<Tensor<float>> params = optimizer_->params();
    const auto run_start = std::chrono::steady_clock::now();
    const std::int64_t first_step = state_.global_step;
    std::int64_t samples_this_run = 0;
    bool stopped = false;

    while (state_.global_step < total_steps && !stopped) {
      const auto epoch_start = std::chrono::steady_clock::now();
      loader.start_epoch(static_cast<std::uint64_t>(state_.epochs_completed),
                         static_cast<std::size_t>(state_.batches_done_in_epoch));
      while (state_.global_step < total_steps) {
        std::optional<data::TextBatch> batch = loader.next();
        if (!batch) break;
        const double grad_norm = training_step(*batch, params);
        samples_this_run += batch->size();
        progress_->on_step(state_.global_step, state_.window_loss / static_cast<double>(state_.window_steps),
                           current_learning_rate(), batch->size());
        if (state_.global_step % args_.logging_steps == 0) log_training(grad_norm);
        if (args_.eval_strategy == "steps" && state_.global_step % args_.effective_eval_steps() == 0)
          evaluate_during_training();
        if (args_.save_strategy == "steps" &&
            (state_.global_step % args_.save_steps == 0 || state_.global_step == total_steps))
          save_checkpoint();
        if (callbacks_.on_step_end && callbacks_.on_step_end(state_)) {
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      // The epoch is over: its last batch was trained, or training reached its last step.
      if (state_.batches_done_in_epoch >= steps_per_epoch) {
        ++state_.epochs_completed;
        state_.batches_done_in_epoch = 0;
      }
      if (callbacks_.on_epoch_end)
        callbacks_.on_epoch_end(state_, seconds_since(epoch_start));
      if (args_.eval_strategy == "epoch") evaluate_during_training();
      write_training_curve();
      if (args_.save_strategy == "epoch") save_checkpoint();
    }
    progress_->finish();

    const double runtime = seconds_since(run_start);
    const std::int64_t steps_this_run = state_.global_step - first_step;
    TrainOutput out;
    out.global_step = state_.global_step;
    out.training_loss = state_.global_step > 0 ? state_.total_loss / static_cast<double>(state_.global_step) : 0.0;
    out.metrics["train_runtime"] = runtime;
    out.metrics["train_samples_per_second"] = runtime > 0 ? static_cast<double>(samples_this_run) / runtime : 0.0;
    out.metrics["train_steps_per_second"] = runtime > 0 ? static_cast<double>(steps_this_run) / runtime : 0.0;
    out.metrics["train_loss"] = out.training_loss;
    out.metrics["epoch"] = state_.epoch();
    Metrics summary = out.metrics;
    summary.erase("epoch");  // log() adds it
    log(summary);
    write_training_curve();
    return out;
  }

  // ---- evaluation ---------------------------------------------------------------------------

  // Evaluates on the eval_dataset given at construction.
  Metrics evaluate() {
    TINYXF_CHECK(eval_.has_value(), "Trainer::evaluate: no eval_dataset was given; pass a dataset");
    return evaluate(*eval_);
  }

  // Eval mode, no gradients: <prefix>_loss (mean over samples), the compute_metrics results
  // with the prefix, <prefix>_runtime, <prefix>_samples_per_second, <prefix>_steps_per_second.
  // The result is logged (log_history, metrics.jsonl, progress) at the current global step.
  Metrics evaluate(const std::vector<data::Review>& dataset, const std::string& prefix = "eval") {
    Metrics metrics = run_prediction(dataset, prefix).metrics;
    log(metrics);
    return metrics;
  }

  // Logits and labels of every review (in dataset order) and the metrics, with prefix "test";
  // nothing is logged.
  PredictionOutput predict(const std::vector<data::Review>& dataset, const std::string& prefix = "test") {
    return run_prediction(dataset, prefix);
  }

  // Adds "step" and "epoch" and appends the entry to log_history and metrics.jsonl, shows it and
  // calls the on_log callback. Non-finite values are stored as null (JSON has no NaN).
  void log(const Metrics& metrics) {
    json::Object entry;
    entry.push_back("step", state_.global_step);
    entry.push_back("epoch", state_.epoch());
    for (const auto& [key, value] : metrics) entry.push_back(key, json_number(value));
    append_log(json::Value(std::move(entry)));
  }

  // ---- saving -------------------------------------------------------------------------------

  // The model alone, in the checkpoint layout (model.safetensors, config.json when the model
  // has one, training_args.json), e.g. into output_dir after training.
  void save_model(const fs::path& dir) const {
    save_model_files(dir, *model_);
    write_json_file(dir / checkpoint_files::training_args, args_.to_json());
  }

  // Writes checkpoint-<global_step> atomically and applies save_total_limit. Called by the loop
  // per save_strategy; train() must have started (the optimizer exists).
  fs::path save_checkpoint() {
    TINYXF_CHECK(optimizer_ && scheduler_, "Trainer::save_checkpoint: no optimizer yet (call train())");
    const fs::path output_dir = args_.output_dir;
    remove_stale_checkpoint_temporaries(output_dir);
    CheckpointWriter writer(output_dir, state_.global_step);
    if (state_.best_global_step == state_.global_step) state_.best_model_checkpoint = writer.final_path().string();
    save_model_files(writer.dir(), *model_);
    save_optimizer(writer.dir(), *optimizer_);
    save_scheduler(writer.dir(), *scheduler_, args_.lr_scheduler_type);
    save_rng_state(writer.dir(), *model_);
    write_json_file(writer.dir() / checkpoint_files::training_args, args_.to_json());
    write_json_file(writer.dir() / checkpoint_files::trainer_state, state_.to_json());
    const fs::path saved = writer.commit();
    rotate_checkpoints(output_dir, args_.save_total_limit, state_.best_model_checkpoint);
    if (callbacks_.on_save) callbacks_.on_save(saved);
    return saved;
  }

  // ---- access -------------------------------------------------------------------------------

  const TrainingArguments& args() const { return args_; }
  const TrainerState& state() const { return state_; }
  Model& model() { return *model_; }
  TrainerCallbacks& callbacks() { return callbacks_; }
  // Created by train(); null before.
  optim::Optimizer* optimizer() { return optimizer_.get(); }
  optim::LambdaLR* lr_scheduler() { return scheduler_.get(); }
  // Where progress lines and the bar go (std::cerr by default).
  void set_progress_stream(std::ostream& out) { progress_stream_ = &out; }
  fs::path metrics_path() const { return fs::path(args_.output_dir) / kMetricsFile; }
  fs::path curve_path() const { return fs::path(args_.output_dir) / kCurveFile; }
  // Redraws training_curve.svg (atomically) from log_history. train() calls it at each epoch end
  // (after the epoch's evaluation) and when it returns, early stops included, rather than after
  // every log event: one SVG per logging step costs O(steps^2) writes over a long run. Call it
  // to include entries logged after train() (a final evaluate()).
  void write_training_curve() const {
    write_svg(curve_path(), training_curve_plot(state_.log_history, static_cast<double>(state_.max_steps)));
  }

 private:
  static Model& non_null(const std::shared_ptr<Model>& model) {
    TINYXF_CHECK(model != nullptr, "Trainer: the model is null");
    return *model;
  }

  static text::Truncation truncation_side(const std::string& name) {
    if (name == "tail") return text::Truncation::tail;
    if (name == "head_tail") return text::Truncation::head_tail;
    return text::Truncation::head;
  }

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  data::DataLoaderOptions loader_options(std::int64_t batch_size, bool shuffle, bool drop_last) const {
    data::DataLoaderOptions o;
    o.batch_size = static_cast<std::size_t>(batch_size);
    o.shuffle = shuffle;
    o.seed = args_.seed;
    o.drop_last = drop_last;
    o.max_length = static_cast<std::size_t>(args_.max_length);
    o.truncation = truncation_side(args_.truncation);
    o.head_tokens = static_cast<std::size_t>(args_.effective_head_tokens());
    o.padding = text::Padding::longest;
    o.pad_to_multiple_of = static_cast<std::size_t>(args_.pad_to_multiple_of);
    o.prefetch_batches = static_cast<std::size_t>(args_.dataloader_prefetch_batches);
    o.device = device_;
    return o;
  }

  // Hugging Face's create_optimizer_and_scheduler: weight decay on all but biases and norms.
  void create_optimizer_and_scheduler(std::int64_t total_steps, std::int64_t warmup_steps) {
    scheduler_.reset();  // it points into the optimizer it replaces
    std::vector<optim::ParamGroup> groups = optim::decay_parameter_groups(model_->named_parameters(), args_.weight_decay);
    if (args_.optim == "adamw") {
      optim::AdamWOptions o;
      o.lr = args_.learning_rate;
      o.beta1 = args_.adam_beta1;
      o.beta2 = args_.adam_beta2;
      o.eps = args_.adam_epsilon;
      o.weight_decay = args_.weight_decay;
      optimizer_ = std::make_unique<optim::AdamW>(std::move(groups), o);
    } else if (args_.optim == "adam") {
      optim::AdamOptions o;
      o.lr = args_.learning_rate;
      o.beta1 = args_.adam_beta1;
      o.beta2 = args_.adam_beta2;
      o.eps = args_.adam_epsilon;
      o.weight_decay = args_.weight_decay;
      optimizer_ = std::make_unique<optim::Adam>(std::move(groups), o);
    } else {
      optim::SgdOptions o;
      o.lr = args_.learning_rate;
      o.weight_decay = args_.weight_decay;
      optimizer_ = std::make_unique<optim::SGD>(std::move(groups), o);
    }
    optim::Optimizer& opt = *optimizer_;
    const std::string& type = args_.lr_scheduler_type;
    if (type == "linear")
      scheduler_ = std::make_unique<optim::LambdaLR>(optim::get_linear_schedule_with_warmup(opt, warmup_steps, total_steps));
    else if (type == "cosine")
      scheduler_ = std::make_unique<optim::LambdaLR>(optim::get_cosine_schedule_with_warmup(opt, warmup_steps, total_steps));
    else if (type == "constant_with_warmup")
      scheduler_ = std::make_unique<optim::LambdaLR>(optim::get_constant_schedule_with_warmup(opt, warmup_steps));
    else
      scheduler_ = std::make_unique<optim::LambdaLR>(optim::get_constant_schedule(opt));
  }

  double current_learning_rate() const { return scheduler_->get_last_lr().front(); }

  // One optimizer update; returns the pre-clip gradient norm (NaN when clipping is off).
  double training_step(const data::TextBatch& batch, const std::vector<Tensor<float>>& params) {
    model_->train(true);
    auto output = model_->forward(batch.input_ids, batch.attention_mask, batch.labels);
    TINYXF_CHECK(output.loss.defined(), "Trainer: the model returned no loss for a batch with labels");
    output.loss.backward();
    double grad_norm = std::numeric_limits<double>::quiet_NaN();
    if (args_.max_grad_norm > 0) grad_norm = optim::clip_grad_norm_(params, args_.max_grad_norm);
    optimizer_->step();
    scheduler_->step();
    optimizer_->zero_grad();
    const double loss = output.loss.item();
    ++state_.global_step;
    ++state_.batches_done_in_epoch;
    state_.total_loss += loss;
    state_.window_loss += loss;
    ++state_.window_steps;
    return grad_norm;
  }

  // {"step", "epoch", "loss" (mean over the window), "grad_norm", "learning_rate"}.
  void log_training(double grad_norm) {
    Metrics m;
    m["loss"] = state_.window_steps > 0 ? state_.window_loss / static_cast<double>(state_.window_steps) : 0.0;
    if (args_.max_grad_norm > 0) m["grad_norm"] = grad_norm;
    m["learning_rate"] = current_learning_rate();
    state_.window_loss = 0;
    state_.window_steps = 0;
    json::Object entry;
    entry.push_back("step", state_.global_step);
    entry.push_back("epoch", state_.epoch());
    for (const char* key : {"loss", "grad_norm", "learning_rate"})
      if (auto it = m.find(key); it != m.end()) entry.push_back(key, json_number(it->second));
    append_log(json::Value(std::move(entry)));
  }

  void evaluate_during_training() {
    const Metrics metrics = evaluate(*eval_);
    const std::string& key = args_.metric_for_best_model;
    if (key.empty()) return;
    auto it = metrics.find(key);
    if (it == metrics.end()) {
      std::string available;
      for (const auto& [name, value] : metrics) available += (available.empty() ? "" : ", ") + name;
      throw Error("Trainer: metric_for_best_model \"" + key + "\" is not among the evaluation metrics (" + available + ")");
    }
    const double value = it->second;
    if (std::isnan(value)) return;
    const bool better = !state_.best_metric ||
                        (args_.greater_is_better() ? value > *state_.best_metric : value < *state_.best_metric);
    if (better) {
      state_.best_metric = value;
      state_.best_global_step = state_.global_step;
    }
  }

  PredictionOutput run_prediction(const std::vector<data::Review>& dataset, const std::string& prefix) {
    TINYXF_CHECK(!dataset.empty(), "Trainer: cannot evaluate on an empty dataset");
    const Float32MatmulPrecisionGuard precision(args_.bf16 ? "medium" : get_float32_matmul_precision());
    const auto start = std::chrono::steady_clock::now();
    const bool was_training = model_->is_training();
    model_->eval();
    struct RestoreMode {
      Model* model;
      bool training;
      ~RestoreMode() { model->train(training); }
    } restore{model_, was_training};
    NoGradGuard no_grad;
    // Longest reviews first, so that each batch pads little; the rows go back to dataset order.
    data::DataLoaderOptions options = loader_options(args_.per_device_eval_batch_size, false, false);
    options.sort_by_length = true;
    data::DataLoader loader(dataset, *tokenizer_, options);
    loader.start_epoch(0);
    std::vector<float> logits;
    std::vector<std::int64_t> labels(dataset.size());
    std::int64_t num_labels = 0, batches = 0;
    double loss_sum = 0;
    while (std::optional<data::TextBatch> batch = loader.next()) {
      auto output = model_->forward(batch->input_ids, batch->attention_mask, batch->labels);
      const Tensor<float> batch_logits = output.logits.to(Device::cpu());
      num_labels = batch_logits.shape().back();
      const auto k = static_cast<std::size_t>(num_labels);
      if (logits.empty()) logits.resize(dataset.size() * k);
      const std::vector<float> values = batch_logits.contiguous().to_vector();
      const std::vector<std::int64_t> batch_labels = batch->labels.to(Device::cpu()).to_vector();
      for (std::size_t r = 0; r < batch->indices.size(); ++r) {
        const std::size_t row = batch->indices[r];
        std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(r * k), k,
                    logits.begin() + static_cast<std::ptrdiff_t>(row * k));
        labels[row] = batch_labels[r];
      }
      if (output.loss.defined()) loss_sum += static_cast<double>(output.loss.item()) * static_cast<double>(batch->size());
      ++batches;
    }
    const auto n = static_cast<std::int64_t>(labels.size());
    PredictionOutput out;
    out.predictions = Tensor<float>::from_vector(logits, {n, num_labels});
    out.label_ids = Tensor<std::int64_t>::from_vector(labels, {n});
    out.metrics[prefix + "_loss"] = loss_sum / static_cast<double>(n);
    if (compute_metrics_)
      for (const auto& [name, value] : compute_metrics_(EvalPrediction{out.predictions, out.label_ids}))
        out.metrics[name.starts_with(prefix + "_") ? name : prefix + "_" + name] = value;
    const double runtime = seconds_since(start);
    out.metrics[prefix + "_runtime"] = runtime;
    out.metrics[prefix + "_samples_per_second"] = runtime > 0 ? static_cast<double>(n) / runtime : 0.0;
    out.metrics[prefix + "_steps_per_second"] = runtime > 0 ? static_cast<double>(batches) / runtime : 0.0;
    return out;
  }

  void append_log(json::Value entry) {
    const fs::path output_dir = args_.output_dir;
    fs::create_directories(output_dir);
    {
      std::ofstream out(output_dir / kMetricsFile, std::ios::app | std::ios::binary);
      out << json::dump(entry) << '\n';
      TINYXF_CHECK(out.flush(), "Trainer: cannot append to ", (output_dir / kMetricsFile).string());
    }
    state_.log_history.push_back(entry);
    if (progress_) progress_->on_log(entry);
    if (callbacks_.on_log) callbacks_.on_log(entry);
  }

  // metrics.jsonl = log_history, one line per entry (atomically).
  void rewrite_metrics_file() {
    std::string text;
    for (const auto& entry : state_.log_history) text += json::dump(entry) + "\n";
    io::write_file_atomic(fs::path(args_.output_dir) / kMetricsFile, text);
  }

  void load_checkpoint(const fs::path& dir) {
    const TrainerState saved = TrainerState::from_json(read_json_file(dir / checkpoint_files::trainer_state));
    TINYXF_CHECK(saved.steps_per_epoch == state_.steps_per_epoch && saved.train_batch_size == state_.train_batch_size,
                 "resume_from_checkpoint: ", dir.string(), " was written with ", saved.steps_per_epoch,
                 " batches of ", saved.train_batch_size, " per epoch, this run has ", state_.steps_per_epoch,
                 " batches of ", state_.train_batch_size,
                 " (the training data, batch size or dataloader_drop_last changed; the position in the data "
                 "would be meaningless)");
    load_model_files(dir, *model_, device_);
    load_optimizer(dir, *optimizer_);
    load_scheduler(dir, *scheduler_, args_.lr_scheduler_type);
    load_rng_state(dir, *model_);
    state_ = saved;
  }

  Model* model_;
  std::shared_ptr<Model> shared_model_;  // set when constructed from a shared_ptr
  TrainingArguments args_;
  std::vector<data::Review> train_;
  std::optional<std::vector<data::Review>> eval_;
  const text::BertTokenizer* tokenizer_;
  ComputeMetrics compute_metrics_;
  TrainerCallbacks callbacks_;
  Device device_ = Device::cpu();
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::LambdaLR> scheduler_;
  TrainerState state_;
  std::unique_ptr<ProgressReporter> progress_;
  std::ostream* progress_stream_ = &std::cerr;
};

}  // namespace tinyxf::train
