#pragma once
// tinyxf::train::Trainer: Hugging Face's Trainer loop, for any model and data.
//
//   Trainer<Model> trainer(model, args, train_reviews, eval_reviews, tokenizer);   // text classification
//   Trainer<Model, MyDataset, MyCollate> trainer(model, args, train, eval, collate); // any data
//   TrainOutput out = trainer.train();            // or train("last") to resume
//   Metrics m = trainer.evaluate();               // eval_loss, eval_accuracy, eval_f1, ...
//
// Data: a map-style Dataset (data/loader.hpp; std::vector<data::Review> by default) and a collate
// function making batches (data::TokenizingCollator by default, built from the tokenizer and
// args.max_length/truncation/head_tokens/pad_to_multiple_of). A batch has `labels` (an int64
// tensor [B], for the metrics; [B, S] for token classification; question answering batches have
// start_positions / end_positions instead) and, optionally, `indices` (evaluation then runs longest first when
// the collate function knows lengths, with results in dataset order); its tensors are where the
// collate function put them (the tokenizing one: args.device).
// Model: any nn::Module. compute_loss(model, batch) -> {loss, logits} calls
// model.forward(batch.input_ids, batch.attention_mask, batch.labels) (DistilBERT/BERT classifiers;
// with the batch's token_type_ids for text pairs where the model takes them: BERT)
// or else model.forward(batch); question answering models (Bert/DistilBertForQuestionAnswering)
// get the batch's start_positions and end_positions (data/question_answering.hpp's features);
// derive from Trainer and override it for anything else, as in HF.
// One optimizer step per batch:
//   model.train(); loss = compute_loss(model, batch).loss; loss.backward();
//   grad_norm = clip_grad_norm_(params, max_grad_norm); optimizer.step(); scheduler.step();
//   (the clip and the step as clip_grad_norm_and_step: the scaling folded into AdamW's pass)
//   optimizer.zero_grad();
// then, as Hugging Face orders them: log (every logging_steps), evaluate (eval_strategy), save
// (save_strategy; always at the last step with "steps"). Outputs in args.output_dir:
// metrics.jsonl (one JSON object per log/eval event), training_curve.svg, checkpoint-<step>/;
// with report_to "tensorboard", TensorBoard event files in logging_dir.
// Data-parallel (docs/distributed.md): set_process_group(init_process_group("mpi")) before
// train(), every rank running the same program (mpirun -np N): each rank trains on its shard
// of every epoch (DistributedSampler's, per_device_train_batch_size rows per step), gradients
// are averaged by DistributedDataParallel, the logged loss is the mean over ranks, evaluation
// shards the data and reduces its logits, and only rank 0 writes progress, metrics, curves and
// checkpoints (with every rank's generator state: all ranks resume from them).
// See docs/training.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tinyxf/data/dataloader.hpp"
#include "tinyxf/data/loader.hpp"
#include "tinyxf/distributed/ddp.hpp"
#include "tinyxf/distributed/env.hpp"
#include "tinyxf/distributed/process_group.hpp"
#include "tinyxf/models/hf_folder.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/train/checkpoint.hpp"
#include "tinyxf/train/label_smoother.hpp"
#include "tinyxf/train/metrics.hpp"
#include "tinyxf/train/progress.hpp"
#include "tinyxf/train/svg_plot.hpp"
#include "tinyxf/train/tensorboard.hpp"
#include "tinyxf/train/time_budget.hpp"
#include "tinyxf/train/training_args.hpp"

namespace tinyxf::train {

struct TrainOutput {
  std::int64_t global_step = 0;
  double training_loss = 0;  // mean loss over every step of the run (resumed steps included)
  Metrics metrics;           // train_runtime, train_samples_per_second, train_steps_per_second, train_loss, epoch
};

struct PredictionOutput {
  Tensor predictions;  // logits [N, num_labels], on the CPU, in dataset order (token classification:
                       // one row per labelled token, sample by sample; question answering: start
                       // and end logits [N, S, 2], S the longest feature, -100 past each one's end)
  Tensor label_ids;    // [N] (question answering: start and end positions [N, 2])
  // Token classification: each sample's count of rows, in dataset order; else empty.
  std::vector<std::int64_t> sequence_lengths{};
  Metrics metrics;                 // test_loss, test_accuracy, ... (prefix "test")
};

// What compute_loss returns: the batch's mean loss (a scalar with a graph in training) and the
// logits [B, num_labels] for the metrics.
struct LossOutput {
  Tensor loss;
  Tensor logits;
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
  // After each evaluation during training (its metrics, prefixed "eval_"), before the best metric
  // takes it in; return true to stop training once this step's (or epoch's) save is done.
  std::function<bool(const TrainerState& state, const Metrics& metrics)> on_evaluate;
};

// HF's EarlyStoppingCallback, as an on_evaluate callback: stops training when
// args.metric_for_best_model has not improved on the best value so far (by more than `threshold`)
// for `patience` evaluations in a row. As HF it needs load_best_model_at_end (the run then ends
// on the best weights) and a metric (the Trainer's args(): load_best_model_at_end makes it
// eval_loss by default). The count is the callback's own: a resumed run starts it afresh (HF's
// default, restore_callback_states_from_checkpoint = false).
//
//   trainer.callbacks().on_evaluate = train::early_stopping(trainer.args(), /*patience=*/3);
inline std::function<bool(const TrainerState&, const Metrics&)> early_stopping(const TrainingArguments& args,
                                                                                 std::int64_t patience,
                                                                                 double threshold = 0.0) {
  TINYXF_CHECK(args.load_best_model_at_end, "early_stopping needs load_best_model_at_end (as HF's EarlyStoppingCallback)");
  TINYXF_CHECK(!args.metric_for_best_model.empty(), "early_stopping needs metric_for_best_model");
  TINYXF_CHECK(patience >= 1 && threshold >= 0, "early_stopping: patience must be >= 1 and threshold >= 0, got ",
               patience, " and ", threshold);
  const std::string key = args.best_metric_key();
  const bool greater = args.greater_is_better();
  return [key, greater, patience, threshold, without_improvement = std::int64_t{0}](
             const TrainerState& state, const Metrics& metrics) mutable {
    const auto it = metrics.find(key);
    if (it == metrics.end()) return false;  // the Trainer reports a missing metric
    const double value = it->second;
    const bool improved = !state.best_metric || ((greater ? value > *state.best_metric : value < *state.best_metric) &&
                                                 std::abs(value - *state.best_metric) > threshold);
    without_improvement = improved ? 0 : without_improvement + 1;
    return without_improvement >= patience;
  };
}

inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kCurveFile = "training_curve.svg";

template <class Model, data::MapDataset Dataset = std::vector<data::Review>, class Collate = data::TokenizingCollator>
class Trainer {
 public:
  using Batch = typename data::BasicDataLoader<Dataset, Collate>::Batch;

  // The model (unless passed as a shared_ptr) must outlive the Trainer; the datasets are kept by
  // value. The model is moved to args.device, and the default generator (dropout) is seeded
  // with args.seed, as Hugging Face's set_seed at Trainer construction.
  Trainer(Model& model, TrainingArguments args, Dataset train_dataset, std::optional<Dataset> eval_dataset,
          Collate data_collator, ComputeMetrics compute_metrics = default_compute_metrics,
          PreprocessLogits preprocess_logits_for_metrics = nullptr)
      : model_(&model),
        args_(std::move(args)),
        train_(std::move(train_dataset)),
        eval_(std::move(eval_dataset)),
        collate_(std::move(data_collator)),
        compute_metrics_(std::move(compute_metrics)),
        preprocess_logits_(std::move(preprocess_logits_for_metrics)) {
    // HF's default: the best model is the one of the lowest evaluation loss.
    if (args_.load_best_model_at_end && args_.metric_for_best_model.empty()) args_.metric_for_best_model = "eval_loss";
    // HF's TrainingArguments.__post_init__: reduce_lr_on_plateau watches the evaluation loss by default.
    if (args_.lr_scheduler_type == "reduce_lr_on_plateau" && args_.metric_for_best_model.empty())
      args_.metric_for_best_model = "loss";
    args_.validate();
    TINYXF_CHECK(train_.size() > 0, "Trainer: the training dataset is empty");
    TINYXF_CHECK(args_.eval_strategy == "no" || (eval_ && eval_->size() > 0), "Trainer: eval_strategy \"",
                 args_.eval_strategy, "\" needs a non-empty eval_dataset");
    TINYXF_CHECK(args_.metric_for_best_model.empty() || (eval_ && args_.eval_strategy != "no"),
                 "Trainer: metric_for_best_model \"", args_.metric_for_best_model,
                 "\" needs an eval_dataset and an eval_strategy other than \"no\"");
    device_ = Device::parse(args_.device);
    model_->to(device_);
    manual_seed(args_.seed);
    smooth_labels_ = args_.label_smoothing_factor != 0;
    if constexpr (requires { model_->config.problem_type == "multi_label_classification"; }) {
      if (smooth_labels_ && model_->config.problem_type == "multi_label_classification") {
        smooth_labels_ = false;  // HF's Trainer: a warning, and the model's own loss
        runtime().log(LogLevel::warning,
                      detail::concat("Trainer: label smoothing is not compatible with multi-label classification; "
                                     "disabling label smoothing (label_smoothing_factor ",
                                     args_.label_smoothing_factor, ") for this training run"));
      }
    }
  }

  // Text classification: the collate function tokenizes with `tokenizer` (which must outlive the
  // Trainer) as args.max_length, truncation, head_tokens and pad_to_multiple_of say. The tokenizer
  // is also the processing class (HF's Trainer(processing_class=tokenizer), whose default collator
  // pads with it): saved into every checkpoint and by save_model.
  Trainer(Model& model, TrainingArguments args, Dataset train_dataset, std::optional<Dataset> eval_dataset,
          const text::BertTokenizer& tokenizer, ComputeMetrics compute_metrics = default_compute_metrics,
          PreprocessLogits preprocess_logits_for_metrics = nullptr)
    requires std::same_as<Collate, data::TokenizingCollator>
      : Trainer(model, args, std::move(train_dataset), std::move(eval_dataset), tokenizing_collator(tokenizer, args),
                std::move(compute_metrics), std::move(preprocess_logits_for_metrics)) {
    set_processing_class(tokenizer);
  }

  // The same, sharing ownership of the model (the Trainer keeps it alive).
  template <class Data>
  Trainer(std::shared_ptr<Model> model, TrainingArguments args, Dataset train_dataset,
          std::optional<Dataset> eval_dataset, const Data& collate_or_tokenizer,
          ComputeMetrics compute_metrics = default_compute_metrics, PreprocessLogits preprocess_logits_for_metrics = nullptr)
      : Trainer(non_null(model), std::move(args), std::move(train_dataset), std::move(eval_dataset),
                collate_or_tokenizer, std::move(compute_metrics), std::move(preprocess_logits_for_metrics)) {
    shared_model_ = std::move(model);
  }

  virtual ~Trainer() = default;
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // The loss and logits of one batch (HF's Trainer.compute_loss); override for other models or
  // losses. The default calls the model's forward with the batch's input_ids, attention_mask and
  // labels, or with the batch itself, and takes `loss` and `logits` of its output; with
  // args.label_smoothing_factor > 0 the loss is label_smoothed_loss(logits, labels) instead (HF's
  // LabelSmoother), in training and evaluation.
  virtual LossOutput compute_loss(Model& model, const Batch& batch) {
    // Question answering models (start/end logits) take the batch's start/end positions; their
    // logits for the evaluation are [B, S, 2] (start, end). Their span loss is never smoothed: HF
    // smooths only batches with "labels".
    if constexpr (requires { model.forward(batch.input_ids, batch.attention_mask, Tensor(), Tensor()).start_logits; }) {
      if constexpr (requires { batch.start_positions.defined(); }) {
        TINYXF_CHECK(batch.start_positions.defined() && batch.end_positions.defined(),
                     "Trainer: a question answering model needs batches with start_positions and end_positions "
                     "(data::prepare_question_answering_features' features)");
        return span_loss_output(model, batch);
      } else {
        throw Error("Trainer: a question answering model needs batches with start_positions and end_positions");
      }
    } else {
      if constexpr (requires { batch.start_positions.defined(); }) {
        TINYXF_CHECK(!batch.start_positions.defined(), "Trainer: a question answering batch (start/end positions) needs a "
                     "model with start and end logits (BertForQuestionAnswering, DistilBertForQuestionAnswering) or a "
                     "compute_loss override");
      }
      const bool smooth = smooth_labels_ && batch.labels.defined();
      // HF runs the model without labels when it smooths them, so a sequence classifier's config
      // keeps a null problem_type (the forward below would otherwise infer and keep one).
      std::string problem_type;
      if constexpr (requires { model.config.problem_type = std::string(); })
        if (smooth) problem_type = model.config.problem_type;
      LossOutput out = labelled_loss_output(model, batch);
      // args.label_smoothing_factor (HF's LabelSmoother): the loss of the model's logits at the
      // batch's labels, smoothed; the model's own loss is not used (HF runs the model without
      // labels; here a masked-LM head keeps its labelled rows alone).
      if (smooth) {
        out.loss = label_smoothed_loss(out.logits, batch.labels, args_.label_smoothing_factor);
        if constexpr (requires { model.config.problem_type = std::string(); }) model.config.problem_type = problem_type;
      }
      return out;
    }
  }

  // The model's loss and logits for a batch with labels: text pairs (TextBatch::token_type_ids) go
  // to models that take token type ids (BERT); others (DistilBERT) see the pair's [SEP] only, as
  // their model_input_names in transformers.
  static LossOutput labelled_loss_output(Model& model, const Batch& batch) {
    if constexpr (requires {
                    model.forward(batch.input_ids, batch.attention_mask, batch.labels, false, batch.token_type_ids);
                  }) {
      if (batch.token_type_ids.defined()) {
        auto out = model.forward(batch.input_ids, batch.attention_mask, batch.labels, false, batch.token_type_ids);
        return {out.loss, out.logits};
      }
    }
    if constexpr (requires { model.forward(batch.input_ids, batch.attention_mask, batch.labels); }) {
      auto out = model.forward(batch.input_ids, batch.attention_mask, batch.labels);
      return {out.loss, out.logits};
    } else {
      auto out = model.forward(batch);
      return {out.loss, out.logits};
    }
  }

  // The QA head's loss (encoder_ops::span_loss) with its start/end logits stacked to [B, S, 2];
  // token type ids go to the models that take them (BERT).
  static LossOutput span_loss_output(Model& model, const Batch& batch) {
    const auto stacked = [](const auto& out) { return LossOutput{out.loss, stack({out.start_logits, out.end_logits}, 2)}; };
    if constexpr (requires {
                    model.forward(batch.input_ids, batch.attention_mask, batch.start_positions, batch.end_positions, false,
                                  batch.token_type_ids).start_logits;
                  }) {
      return stacked(model.forward(batch.input_ids, batch.attention_mask, batch.start_positions, batch.end_positions,
                                   false, batch.token_type_ids));
    } else {
      return stacked(model.forward(batch.input_ids, batch.attention_mask, batch.start_positions, batch.end_positions));
    }
  }

  // ---- training -----------------------------------------------------------------------------

  // Trains from step 0, or from a checkpoint ("last" = the newest in output_dir, or a folder):
  // model, optimizer, scheduler, generators and the position in the data are restored, so the
  // run continues exactly as if it had never stopped.
  TrainOutput train(const std::string& resume_from_checkpoint = "") {
    const Float32MatmulPrecisionGuard precision(args_.bf16 && !bf16_autocast() ? "medium"
                                                                              : get_float32_matmul_precision());
    const fs::path output_dir = args_.output_dir;
    const distributed::LaunchEnv env = distributed::launch_env();
    // N copies of one run writing one output_dir is never what a launcher was asked for.
    TINYXF_CHECK(!env.distributed() || group_, "Trainer: launched as one of ", env.world_size, " processes (",
                 env.launcher, ") without a process group: call "
                 "set_process_group(tinyxf::distributed::init_process_group(\"mpi\")) before train() "
                 "(<tinyxf/distributed/distributed.hpp>), or start one process");
    if (is_main_process()) {
      fs::create_directories(output_dir);
      // What killed runs left behind: metrics.jsonl / training_curve.svg temporaries
      // ("<file>.tmp.<pid>") and half-written checkpoint folders.
      io::remove_stale_temporaries(output_dir);
      remove_stale_checkpoint_temporaries(output_dir);
    }
    barrier();
    const auto num_samples = static_cast<std::int64_t>(train_.size());
    // Each rank's share of an epoch (padded to equal shares, as DistributedSampler).
    const auto samples_per_rank = static_cast<std::int64_t>(
        data::shard_size(train_.size(), static_cast<std::size_t>(world_size()), /*drop_last=*/false));
    const std::int64_t batches_per_epoch = args_.batches_per_epoch(samples_per_rank);
    const std::int64_t steps_per_epoch = args_.steps_per_epoch(samples_per_rank);  // optimizer steps
    // With a time budget this is the cap; the plan after the first steps replaces it.
    std::int64_t total_steps = args_.total_training_steps(steps_per_epoch);
    const bool budgeted = args_.time_budget_seconds > 0;
    TINYXF_CHECK(!budgeted || resume_from_checkpoint.empty(),
                 "Trainer: a run with time_budget_seconds cannot resume from a checkpoint (its plan is "
                 "made from this run's clock); resume without the budget, with max_steps");
    planner_.reset();
    budget_schedule_ = BudgetSchedule{};
    if (budgeted) {
      TimeBudgetOptions bo;
      bo.budget_seconds = args_.time_budget_seconds;
      bo.max_steps = total_steps;
      planner_.emplace(bo, 0.0);
      budget_clock_start_ = budget_start_.value_or(std::chrono::steady_clock::now());
      // Until the plan the lr ramps up as if the run were one epoch (or the cap) long.
      budget_schedule_.provisional_warmup = args_.num_warmup_steps(std::min(total_steps, steps_per_epoch));
    }
    create_optimizer_and_scheduler(total_steps, budgeted ? budget_schedule_.provisional_warmup
                                                         : args_.num_warmup_steps(total_steps));

    state_ = TrainerState{};
    state_.max_steps = total_steps;
    state_.steps_per_epoch = steps_per_epoch;
    state_.batches_per_epoch = batches_per_epoch;
    state_.gradient_accumulation_steps = args_.gradient_accumulation_steps;
    state_.train_batch_size = args_.per_device_train_batch_size;
    state_.num_train_samples = num_samples;
    state_.logging_steps = args_.logging_steps;
    state_.eval_steps = args_.effective_eval_steps();
    state_.save_steps = args_.save_steps;

    // Only rank 0 reports progress.
    progress_ = std::make_unique<ProgressReporter>(
        is_main_process() ? resolve_progress_style(args_.progress, stderr_is_terminal()) : ProgressStyle::silent,
        total_steps, 0, *progress_stream_);
    if (!resume_from_checkpoint.empty()) {
      const fs::path checkpoint = resolve_checkpoint(output_dir, resume_from_checkpoint);
      load_checkpoint(checkpoint);
      state_.max_steps = total_steps;
      progress_ = std::make_unique<ProgressReporter>(progress_->style(), total_steps, state_.global_step,
                                                     *progress_stream_);
      progress_->message("Resuming from " + checkpoint.string() + " at step " + std::to_string(state_.global_step) +
                         " (epoch " + std::to_string(state_.epochs_completed) + ", batch " +
                         std::to_string(state_.batches_done_in_epoch) + " of " + std::to_string(batches_per_epoch) + ")");
    }
    if (is_main_process()) rewrite_metrics_file();  // a fresh run starts it empty; a resumed one drops lines after the checkpoint
    // Data-parallel: DDP broadcasts rank 0's parameters (the same as every rank's after a resume)
    // and averages the gradients of every backward; its hooks go when train() returns.
    struct DdpScope {
      Trainer* trainer;
      ~DdpScope() { trainer->ddp_.reset(); }
    } ddp_scope{this};
    if (world_size() > 1) ddp_ = std::make_unique<distributed::DistributedDataParallel>(*model_, group_);
    struct CurveOnExit {  // also when training throws: the curve shows how far it got
      const Trainer* trainer;
      ~CurveOnExit() {
        try {
          trainer->write_training_curve();
        } catch (...) {  // a failing write must not replace the exception in flight
        }
      }
    } curve_on_exit{this};
    if (TensorBoardWriter* tb = tensorboard()) tb->add_text("args", json::dump(args_.to_json(), 2));

    data::LoaderOptions train_options =
        loader_options(args_.per_device_train_batch_size, true, args_.dataloader_drop_last);
    train_options.group_by_length = args_.group_by_length;
    train_options.num_replicas = static_cast<std::size_t>(world_size());
    train_options.rank = static_cast<std::size_t>(process_index());
    data::BasicDataLoader<Dataset, Collate> loader(train_, collate_, train_options);
    TINYXF_CHECK(static_cast<std::int64_t>(loader.size()) == batches_per_epoch, "Trainer: the data loader has ",
                 loader.size(), " batches per epoch, expected ", batches_per_epoch);
    const std::vector<Tensor> params = optimizer_->params();
    const auto run_start = std::chrono::steady_clock::now();
    const std::int64_t first_step = state_.global_step;
    std::int64_t samples_this_run = 0;
    bool stopped = false;

    while (state_.global_step < total_steps && !stopped) {
      const auto epoch_start = std::chrono::steady_clock::now();
      loader.start_epoch(static_cast<std::uint64_t>(state_.epochs_completed),
                         static_cast<std::size_t>(state_.batches_done_in_epoch));
      std::vector<Batch> window;  // the batches of one optimizer step
      while (state_.global_step < total_steps) {
        const auto step_start = std::chrono::steady_clock::now();
        window.clear();
        while (static_cast<std::int64_t>(window.size()) < args_.gradient_accumulation_steps) {
          std::optional<Batch> batch = loader.next();
          if (!batch) break;
          window.push_back(std::move(*batch));
        }
        if (window.empty()) break;
        const double grad_norm = training_step(window, params);
        if (planner_) {  // (one batch per step: validate() refuses a budget with accumulation)
          planner_->record_step(seconds_since(step_start), last_forward_seconds_, step_cost(window.front()));
          if (planner_->ready_to_plan()) total_steps = plan_time_budget(loader, steps_per_epoch);
        }
        std::int64_t rows = 0;
        for (const Batch& batch : window) rows += batch_size(batch) * world_size();  // every rank's rows
        samples_this_run += rows;
        progress_->on_step(state_.global_step, state_.window_loss / static_cast<double>(state_.window_steps),
                           current_learning_rate(), rows);
        if (state_.global_step % args_.logging_steps == 0) log_training(grad_norm);
        // An on_evaluate callback that asks to stop (early stopping) lets this step's save run first, as HF.
        const bool save_now = args_.save_strategy == "steps" &&
                              (state_.global_step % args_.save_steps == 0 || state_.global_step == total_steps);
        // HF also evaluates the last step when it is not on the interval (DefaultFlowCallback).
        const bool stop_after_evaluation =
            args_.eval_strategy == "steps" &&
            (state_.global_step % args_.effective_eval_steps() == 0 || state_.global_step == total_steps) &&
            evaluate_during_training(save_now);
        if (save_now) save_checkpoint();
        if ((callbacks_.on_step_end && callbacks_.on_step_end(state_)) || stop_after_evaluation) {
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      // The epoch is over: its last batch was trained, or training reached its last step.
      if (state_.batches_done_in_epoch >= batches_per_epoch) {
        ++state_.epochs_completed;
        state_.batches_done_in_epoch = 0;
      }
      if (callbacks_.on_epoch_end)
        callbacks_.on_epoch_end(state_, seconds_since(epoch_start));
      const bool stop_after_evaluation = args_.eval_strategy == "epoch" && evaluate_during_training(args_.save_strategy == "epoch");
      if (args_.save_strategy == "epoch") save_checkpoint();
      write_training_curve();
      if (stop_after_evaluation) break;
    }
    progress_->finish();
    if (args_.load_best_model_at_end && !state_.best_model_checkpoint.empty()) {
      barrier();  // rank 0 wrote it
      // In this run's output_dir (the folder may have moved since the checkpoint was recorded).
      const fs::path best = output_dir / fs::path(state_.best_model_checkpoint).filename();
      progress_->message("Loading best model from " + best.string() + " (score: " +
                         json::dump(json_number(state_.best_metric.value_or(std::nan("")))) + ").");
      load_model_files(best, *model_, device_);
    }

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
    if (planner_) {
      out.metrics["time_budget_planned_steps"] = static_cast<double>(planner_->planned() ? total_steps : -1);
      out.metrics["time_budget_plan_step"] = static_cast<double>(planner_->plan_step());
    }
    Metrics summary = out.metrics;
    summary.erase("epoch");  // log() adds it
    log(summary);
    return out;
  }

  // ---- time budget (args.time_budget_seconds) ----------------------------------------------
  // Where the budget's clock starts (default: when train() starts), e.g. the program's start
  // when the budget is the whole run's.
  void set_time_budget_start(std::chrono::steady_clock::time_point start) { budget_start_ = start; }
  // An evaluation the caller runs after train() (a test set): the plan leaves time for it, as it
  // does for the evaluations of eval_strategy.
  void reserve_final_evaluation(const Dataset& dataset) { reserved_eval_cost_ += evaluation_cost(dataset); }
  // The planner of the last budgeted train() (rates, planned steps); null without a budget.
  const TimeBudgetPlanner* time_budget() const { return planner_ ? &*planner_ : nullptr; }
  const BudgetSchedule& time_budget_schedule() const { return budget_schedule_; }

  // ---- evaluation ---------------------------------------------------------------------------

  // Evaluates on the eval_dataset given at construction.
  Metrics evaluate() {
    TINYXF_CHECK(eval_.has_value(), "Trainer::evaluate: no eval_dataset was given; pass a dataset");
    return evaluate(*eval_);
  }

  // Eval mode, no gradients: <prefix>_loss (mean over samples), the compute_metrics results
  // with the prefix, <prefix>_runtime, <prefix>_samples_per_second, <prefix>_steps_per_second.
  // The result is logged (log_history, metrics.jsonl, progress) at the current global step.
  // Loss only (no logits gathered) with args.prediction_loss_only or without compute_metrics, as HF.
  Metrics evaluate(const Dataset& dataset, const std::string& prefix = "eval") {
    Metrics metrics = run_prediction(dataset, prefix, args_.prediction_loss_only || !compute_metrics_).metrics;
    log(metrics);
    write_training_curve();
    return metrics;
  }

  // Logits and labels of every sample (in dataset order) and the metrics, with prefix "test";
  // nothing is logged. With args.prediction_loss_only: the loss and timings, predictions and
  // label_ids undefined (HF's None).
  PredictionOutput predict(const Dataset& dataset, const std::string& prefix = "test") {
    return run_prediction(dataset, prefix, args_.prediction_loss_only);
  }

  // Adds "step" and "epoch" and appends the entry to log_history and metrics.jsonl, shows it,
  // sends it to TensorBoard when asked and calls the on_log callback. Non-finite values are stored as
  // null (JSON has no NaN).
  void log(const Metrics& metrics) {
    json::Object entry;
    entry.push_back("step", state_.global_step);
    entry.push_back("epoch", state_.epoch());
    for (const auto& [key, value] : metrics) entry.push_back(key, json_number(value));
    append_log(json::Value(std::move(entry)));
  }

  // ---- saving -------------------------------------------------------------------------------

  // The tokenizer saved with the model (HF's processing_class): models::save_pretrained_tokenizer's
  // files (tokenizer.json, tokenizer_config.json, vocab.txt) go into every checkpoint-<step> and
  // into save_model's folder, so AutoTokenizer.from_pretrained reads them back. tokenizer_config's
  // tokenizer_class follows the model (DistilBertTokenizer for DistilBert* models, else
  // BertTokenizer). A tokenizer that cannot be saved (truncation_side head_tail) is refused here,
  // not at the first checkpoint. The tokenizer-taking constructor sets it.
  void set_processing_class(const text::BertTokenizer& tokenizer) {
    std::string_view tokenizer_class = "BertTokenizer";
    if constexpr (requires { std::string_view(Model::architecture); })
      tokenizer_class = models::tokenizer_class_for(Model::architecture);
    try {
      processing_class_files_ = models::pretrained_tokenizer_files(tokenizer, tokenizer_class);
    } catch (const Error&) {
      rethrow_with_context("Trainer: the tokenizer (processing_class) cannot be saved into checkpoints: ");
    }
    processing_class_ = tokenizer;
  }
  // The tokenizer set_processing_class took; null when none.
  const text::BertTokenizer* processing_class() const { return processing_class_ ? &*processing_class_ : nullptr; }

  // The model alone, in the checkpoint layout (model.safetensors, config.json when the model
  // has one, training_args.json, the processing class's tokenizer files), e.g. into output_dir
  // after training, as HF's save_model.
  // Data-parallel: rank 0 writes, the others wait for it.
  void save_model(const fs::path& dir) const {
    if (is_main_process()) {
      save_model_files(dir, *model_);
      if (processing_class_files_) processing_class_files_->write(dir);
      write_json_file(dir / checkpoint_files::training_args, args_.to_json());
    }
    barrier();
  }

  // Writes checkpoint-<global_step> atomically and applies save_total_limit. Called by the loop
  // per save_strategy; train() must have started (the optimizer exists).
  // Data-parallel: every rank calls it; rank 0 writes the folder, with each rank's generator
  // state (rng_state.json for rank 0, rng_state_<rank>.json for the others: their dropout draws
  // differ), and the others wait until it is committed.
  fs::path save_checkpoint() {
    TINYXF_CHECK(optimizer_ && scheduler_, "Trainer::save_checkpoint: no optimizer yet (call train())");
    const fs::path output_dir = args_.output_dir;
    const fs::path final_path = output_dir / checkpoint_name(state_.global_step);
    if (state_.best_global_step == state_.global_step) state_.best_model_checkpoint = final_path.string();
    std::vector<std::string> rng_states;
    if (world_size() > 1) rng_states = distributed::all_gather_string(*group_, json::dump(rng_state_json(*model_)));
    fs::path saved = final_path;
    if (is_main_process()) {
      remove_stale_checkpoint_temporaries(output_dir);
      CheckpointWriter writer(output_dir, state_.global_step);
      save_model_files(writer.dir(), *model_);
      if (processing_class_files_) processing_class_files_->write(writer.dir());
      save_optimizer(writer.dir(), *optimizer_);
      save_scheduler(writer.dir(), *scheduler_, args_.lr_scheduler_type);
      save_rng_state(writer.dir(), *model_);
      for (std::size_t r = 1; r < rng_states.size(); ++r)
        write_json_file(writer.dir() / rng_state_file(static_cast<int>(r)), json::parse(rng_states[r]));
      write_json_file(writer.dir() / checkpoint_files::training_args, args_.to_json());
      write_json_file(writer.dir() / checkpoint_files::trainer_state, state_.to_json());
      saved = writer.commit();
      rotate_checkpoints(output_dir, args_.save_total_limit, state_.best_model_checkpoint);
      write_training_curve();
    }
    barrier();
    if (callbacks_.on_save) callbacks_.on_save(saved);
    return saved;
  }

  // ---- data parallelism ----------------------------------------------------------------------

  // Trains data-parallel over `group` (distributed::init_process_group("mpi") for cpu tensors,
  // "nccl" for args.device's GPU); every rank calls train() with the same arguments and data.
  void set_process_group(std::shared_ptr<distributed::ProcessGroup> group) {
    TINYXF_CHECK_AS(ValueError, group != nullptr, "Trainer::set_process_group: null group");
    TINYXF_CHECK_AS(ValueError, group->size() == 1 || group->device() == device_, "Trainer: the ",
                    group->backend_name(), " process group works on ", group->device().str(), ", args.device is ",
                    device_.str());
    group_ = std::move(group);
  }
  distributed::ProcessGroup* process_group() const { return group_.get(); }
  int world_size() const { return group_ ? group_->size() : 1; }
  int process_index() const { return group_ ? group_->rank() : 0; }
  // The rank among this host's processes (the launcher's; picks the GPU of a NCCL run).
  int local_rank() const { return distributed::launch_env().local_rank; }
  bool is_main_process() const { return process_index() == 0; }
  // Active during train() of a data-parallel run.
  distributed::DistributedDataParallel* ddp() { return ddp_.get(); }

  // ---- access -------------------------------------------------------------------------------

  const TrainingArguments& args() const { return args_; }
  const TrainerState& state() const { return state_; }
  Model& model() { return *model_; }
  TrainerCallbacks& callbacks() { return callbacks_; }
  // Created by train(); null before.
  optim::Optimizer* optimizer() { return optimizer_.get(); }
  // A LambdaLR, or a ReduceLROnPlateau (lr_scheduler_type reduce_lr_on_plateau).
  optim::LRScheduler* lr_scheduler() { return scheduler_.get(); }
  // Where progress lines and the bar go (std::cerr by default).
  void set_progress_stream(std::ostream& out) { progress_stream_ = &out; }
  fs::path metrics_path() const { return fs::path(args_.output_dir) / kMetricsFile; }
  fs::path curve_path() const { return fs::path(args_.output_dir) / kCurveFile; }
  // Redraws training_curve.svg (atomically) from log_history: at each epoch end (after the epoch's
  // evaluation), checkpoint and evaluate(), and when train() returns or throws, early stops
  // included, rather than after every log event (one SVG per logging step costs O(steps^2)
  // writes over a long run).
  void write_training_curve() const {
    if (!is_main_process()) return;
    write_svg(curve_path(), training_curve_plot(state_.log_history, static_cast<double>(state_.max_steps)));
  }

 private:
  void barrier() const {
    if (world_size() > 1) group_->barrier();
  }
  // The mean of `value` over the ranks (the value itself in one process).
  double mean_over_ranks(double value) const {
    if (world_size() == 1) return value;
    Tensor t = Tensor::full({1}, value, TensorOptions(group_->device()).dtype(kFloat64));
    group_->all_reduce(t, distributed::ReduceOp::avg);
    return t.item();
  }
  // Sums `t` (a cpu tensor) over the ranks, through the group's device.
  Tensor sum_over_ranks(const Tensor& t) const {
    if (world_size() == 1) return t;
    Tensor on_group = t.to(group_->device()).contiguous();
    if (on_group.is_same(t)) on_group = t.clone();
    group_->all_reduce(on_group, distributed::ReduceOp::sum);
    return on_group.to(Device::cpu());
  }

  static Model& non_null(const std::shared_ptr<Model>& model) {
    TINYXF_CHECK(model != nullptr, "Trainer: the model is null");
    return *model;
  }

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  data::LoaderOptions loader_options(std::int64_t batch_size, bool shuffle, bool drop_last) const {
    data::LoaderOptions o;
    o.batch_size = static_cast<std::size_t>(batch_size);
    o.shuffle = shuffle;
    o.seed = args_.seed;
    o.drop_last = drop_last;
    o.prefetch_batches = static_cast<std::size_t>(args_.dataloader_prefetch_batches);
    return o;
  }

  static data::TokenizingCollator tokenizing_collator(const text::BertTokenizer& tokenizer, const TrainingArguments& args) {
    data::DataLoaderOptions o;
    o.max_length = static_cast<std::size_t>(args.max_length);
    o.truncation = text::parse_truncation(args.truncation);
    o.head_tokens = static_cast<std::size_t>(args.effective_head_tokens());
    o.padding = text::Padding::longest;
    o.pad_to_multiple_of = static_cast<std::size_t>(args.pad_to_multiple_of);
    o.device = Device::parse(args.device);
    return data::TokenizingCollator(tokenizer, o);
  }

  static std::int64_t batch_size(const Batch& batch) {
    if constexpr (requires { batch.start_positions.defined(); }) {
      if (batch.start_positions.defined()) return batch.start_positions.shape()[0];
    }
    return batch.labels.defined() ? batch.labels.shape()[0] : 0;
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
    if (type == "linear" && planner_) {  // a budgeted run: the length comes from the plan
      scheduler_ = std::make_unique<optim::LRScheduler>(optim::LambdaLR(opt, std::ref(budget_schedule_)));
      return;
    }
    // HF's polynomial schedule divides by num_training_steps − num_warmup_steps at the last step:
    // refused here rather than after the whole run (HF raises ZeroDivisionError there).
    TINYXF_CHECK_AS(ValueError, type != "polynomial" || warmup_steps != total_steps,
                    "Trainer: lr_scheduler_type \"polynomial\" needs fewer warmup steps (", warmup_steps,
                    ") than training steps (", total_steps, "): its decay would divide by zero at the last step");
    scheduler_ = std::make_unique<optim::LRScheduler>(
        optim::get_scheduler(type, opt, warmup_steps, total_steps, args_.schedule_kwargs()));
  }

  // HF's _get_learning_rate: the first group's lr as set for the next update (ReduceLROnPlateau:
  // the group's lr itself, as HF reads it).
  double current_learning_rate() const {
    if (scheduler_->steps_on_metric()) return *optimizer_->param_groups().front().lr;
    return scheduler_->get_last_lr().front();
  }

  // ---- time budget ----
  // Step and evaluation costs are padded tokens (B x S) where the collate function knows the
  // samples' token lengths and its padding options (text), else samples.
  static constexpr bool kTokenCosts = requires(const Collate& c, const Dataset& d) {
    c.lengths(d);
    { c.options() } -> std::convertible_to<const data::DataLoaderOptions&>;
  };
  std::int64_t step_cost(const Batch& batch) const {
    if constexpr (kTokenCosts && requires { batch.input_ids.numel(); }) return batch.input_ids.numel();
    else return batch_size(batch);
  }
  // The cost of every batch of an epoch, from the loader's order (no tokenizing).
  std::vector<std::int64_t> epoch_costs(data::BasicDataLoader<Dataset, Collate>& loader, std::int64_t epoch) {
    const std::vector<std::size_t> order = loader.epoch_order(static_cast<std::uint64_t>(epoch));
    data::DataLoaderOptions o;
    if constexpr (kTokenCosts) o = collate_.options();
    o.batch_size = static_cast<std::size_t>(args_.per_device_train_batch_size);
    o.drop_last = args_.dataloader_drop_last;
    if constexpr (kTokenCosts) {
      return data::batch_token_counts(order, loader.lengths(), o);
    } else {
      std::vector<std::int64_t> out;
      for (std::size_t begin = 0; begin < order.size(); begin += o.batch_size) {
        const std::size_t n = std::min(o.batch_size, order.size() - begin);
        if (n < o.batch_size && o.drop_last) break;
        out.push_back(static_cast<std::int64_t>(n));
      }
      return out;
    }
  }
  // One evaluation of `dataset` (batches sorted by length, as run_prediction does).
  std::int64_t evaluation_cost(const Dataset& dataset) const {
    if constexpr (kTokenCosts) {
      const std::vector<std::size_t> lengths = collate_.lengths(dataset);
      const std::vector<std::size_t> order = data::sorted_by_length_indices(lengths);
      data::DataLoaderOptions o = collate_.options();
      o.batch_size = static_cast<std::size_t>(args_.per_device_eval_batch_size);
      o.drop_last = false;
      std::int64_t total = 0;
      for (const std::int64_t t : data::batch_token_counts(order, lengths, o)) total += t;
      return total;
    } else {
      return static_cast<std::int64_t>(dataset.size());
    }
  }
  // Plans the run's length after the measured steps (every rank agrees on the same count) and
  // re-targets the schedule and the progress bar; returns the planned total step count.
  std::int64_t plan_time_budget(data::BasicDataLoader<Dataset, Collate>& loader, std::int64_t steps_per_epoch) {
    EpochStepCosts cost_at(steps_per_epoch, [&](std::int64_t epoch) { return epoch_costs(loader, epoch); });
    const std::int64_t eval_cost = args_.eval_strategy != "no" && eval_ ? evaluation_cost(*eval_) : 0;
    const auto eval_after = [&](std::int64_t s) -> std::int64_t {
      if (args_.eval_strategy == "epoch") return (s + 1) % steps_per_epoch == 0 ? eval_cost : 0;
      if (args_.eval_strategy == "steps") return (s + 1) % args_.effective_eval_steps() == 0 ? eval_cost : 0;
      return 0;
    };
    // The run ends with the evaluation of eval_strategy (mid-epoch too) and the reserved ones.
    const double now = seconds_since(budget_clock_start_);
    std::int64_t planned = planner_->plan(now, state_.global_step, cost_at, eval_after, eval_cost + reserved_eval_cost_);
    if (world_size() > 1) planned = std::llround(mean_over_ranks(static_cast<double>(planned)));
    budget_schedule_.plan(state_.global_step, args_.num_warmup_steps(planned), planned);
    state_.max_steps = planned;
    progress_->set_total_steps(planned);
    std::ostringstream msg;
    msg << std::setprecision(3) << "time budget plan at step " << state_.global_step << ": " << planned << " steps ("
        << static_cast<double>(planned) / static_cast<double>(steps_per_epoch) << " epochs; "
        << 1e6 * planner_->train_seconds_per_token() << " ms per 1k " << (kTokenCosts ? "padded tokens" : "samples")
        << " of a training step, " << 1e6 * planner_->forward_seconds_per_token() << " of a forward pass; final "
        << "evaluation estimated at " << planner_->planned_final_eval_seconds() << " s of the "
        << args_.time_budget_seconds << " s budget, " << now << " s spent)";
    if (args_.lr_scheduler_type == "linear")
      msg << ", linear schedule with warmup " << budget_schedule_.warmup << " to 0 at step " << planned;
    progress_->message(msg.str());
    return planned;
  }

  // args.bf16: forward and loss run under autocast(bfloat16) (core/autocast.hpp: GEMMs and
  // attention in bf16, softmax/layer_norm/loss in float32, float32 parameters and gradients), as
  // HF's Trainer with bf16=True. The cuda backend has no bf16 GEMM yet: there bf16 keeps
  // set_float32_matmul_precision("medium") (TF32) instead.
  bool bf16_autocast() const { return args_.bf16 && device_.type != DeviceType::cuda; }
  LossOutput autocast_loss(const Batch& batch) {
    const AutocastGuard autocast(device_.type, kBFloat16, bf16_autocast());
    return compute_loss(*model_, batch);
  }

  // One optimizer update; returns the pre-clip gradient norm (NaN when clipping is off).
  // One optimizer step over the window's batches (gradient_accumulation_steps of them, fewer at
  // an epoch's end): their gradients add up, each batch's mean loss weighted by its share of the
  // labelled items of the window — of every rank's window under DDP, whose average over the ranks
  // then makes the step that of one batch of all their samples (HF's num_items_in_batch with
  // average_tokens_across_devices); with DDP only the last backward reduces. Returns the gradient
  // norm (NaN without clipping).
  double training_step(const std::vector<Batch>& window, const std::vector<Tensor>& params) {
    model_->train(true);
    std::vector<double> weights(window.size(), 1.0);
    const bool weighted = window.size() > 1 || world_size() > 1;  // one batch in one process: its mean
    if (weighted) {
      std::vector<std::int64_t> items(window.size());
      std::int64_t total = 0;
      for (std::size_t i = 0; i < window.size(); ++i) total += items[i] = labelled_items(window[i]);
      if (world_size() > 1)
        total = sum_over_ranks(Tensor::from_vector(std::vector<std::int64_t>{total})).template to_vector<std::int64_t>()[0];
      // DDP averages the ranks' gradients: each rank's share is scaled by the number of ranks.
      const auto ranks = static_cast<double>(world_size());
      for (std::size_t i = 0; i < window.size(); ++i)
        weights[i] = total > 0 ? ranks * static_cast<double>(items[i]) / static_cast<double>(total)
                               : 1.0 / static_cast<double>(window.size());
    }
    last_forward_seconds_ = 0;
    std::vector<Tensor> losses;  // read after the optimizer step (on a GPU: no sync before it)
    for (std::size_t i = 0; i < window.size(); ++i) {
      const auto forward_start = std::chrono::steady_clock::now();
      const LossOutput output = autocast_loss(window[i]);
      last_forward_seconds_ += seconds_since(forward_start);
      TINYXF_CHECK(output.loss.defined(), "Trainer: the model returned no loss for a batch with labels");
      std::optional<distributed::DistributedDataParallel::NoSyncGuard> accumulate_locally;
      if (ddp_ && i + 1 < window.size()) accumulate_locally.emplace(ddp_->no_sync());
      if (!weighted) output.loss.backward();
      else (output.loss * weights[i]).backward();
      losses.push_back(output.loss.detach());
    }
    double grad_norm = std::numeric_limits<double>::quiet_NaN();
    if (args_.max_grad_norm > 0)  // the clip's scaling folded into the optimizer's pass where it can be
      grad_norm = optim::clip_grad_norm_and_step(params, args_.max_grad_norm, *optimizer_);
    else
      optimizer_->step();
    if (!scheduler_->steps_on_metric()) scheduler_->step();  // ReduceLROnPlateau waits for the evaluation (HF's)
    optimizer_->zero_grad();
    double loss = 0;
    for (std::size_t i = 0; i < window.size(); ++i) {
      // A batch without a labelled item (weight 0, loss 0/0) adds nothing, as in one big batch.
      if (!weighted) loss = losses[i].item();
      else if (weights[i] > 0) loss += losses[i].item() * weights[i];
    }
    // HF's logging_nan_inf_filter, on each rank's loss: a NaN/inf step loss (a masked-LM batch
    // without a masked token: 0/0, zero gradients) counts as window_loss / (1 + window_steps), so
    // one cannot poison the logs or train_loss.
    if (args_.logging_nan_inf_filter && !std::isfinite(loss))
      loss = state_.window_loss / static_cast<double>(1 + state_.window_steps);
    loss = mean_over_ranks(loss);  // the global batch's mean loss
    ++state_.global_step;
    state_.batches_done_in_epoch += static_cast<std::int64_t>(window.size());
    state_.total_loss += loss;
    state_.window_loss += loss;
    ++state_.window_steps;
    return grad_norm;
  }

  // What a batch's mean loss averages over: its labels other than -100 (rows, or a masked LM's
  // masked tokens), or its rows when it has no labels tensor (question answering's spans).
  static std::int64_t labelled_items(const Batch& batch) {
    // No labels tensor (spans), or real-valued targets (regression): every row counts.
    if (!batch.labels.defined() || is_floating_point(batch.labels.dtype())) return batch_size(batch);
    return count_labelled(batch.labels.to(Device::cpu()).to(kInt64).template to_vector<std::int64_t>());
  }

  // Labels other than -100 (the loss's ignore_index, as HF's num_items_in_batch counts them).
  static std::int64_t count_labelled(std::span<const std::int64_t> labels) {
    return static_cast<std::int64_t>(std::count_if(labels.begin(), labels.end(), [](std::int64_t l) { return l != -100; }));
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

  // Evaluates, calls on_evaluate (before the best metric takes this evaluation in, as HF), steps
  // a ReduceLROnPlateau with metric_for_best_model (HF's _evaluate), then tracks the best metric
  // — with load_best_model_at_end only at evaluations saved right after (HF's), so that the best
  // always has its checkpoint; returns whether on_evaluate asked to stop.
  bool evaluate_during_training(bool saved_after) {
    const Metrics metrics = evaluate(*eval_);
    const bool stop = callbacks_.on_evaluate && callbacks_.on_evaluate(state_, metrics);
    const std::string key = args_.best_metric_key();
    if (scheduler_->steps_on_metric()) {
      auto it = metrics.find(key);
      if (it == metrics.end()) {
        std::string available;
        for (const auto& [name, value] : metrics) available += (available.empty() ? "'" : ", '") + name + "'";
        throw ValueError("Trainer: the `metric_for_best_model` training argument is set to '" + key +
                         "', which is not found in the evaluation metrics. The available evaluation metrics are: [" +
                         available + "]. lr_scheduler_type reduce_lr_on_plateau steps on it: make compute_metrics "
                         "return it, or change metric_for_best_model");
      }
      scheduler_->step(it->second);
    }
    if (key.empty() || (args_.load_best_model_at_end && !saved_after)) return stop;
    auto it = metrics.find(key);
    if (it == metrics.end()) {
      std::string available;
      for (const auto& [name, value] : metrics) available += (available.empty() ? "" : ", ") + name;
      throw Error("Trainer: metric_for_best_model \"" + key + "\" is not among the evaluation metrics (" + available + ")");
    }
    const double value = it->second;
    if (std::isnan(value)) return stop;
    const bool better = !state_.best_metric ||
                        (args_.greater_is_better() ? value > *state_.best_metric : value < *state_.best_metric);
    if (better) {
      state_.best_metric = value;
      state_.best_global_step = state_.global_step;
    }
    return stop;
  }


  PredictionOutput run_prediction(const Dataset& dataset, const std::string& prefix, bool loss_only) {
    TINYXF_CHECK(dataset.size() > 0, "Trainer: cannot evaluate on an empty dataset");
    const Float32MatmulPrecisionGuard precision(args_.bf16 && !bf16_autocast() ? "medium"
                                                                              : get_float32_matmul_precision());
    const auto start = std::chrono::steady_clock::now();
    const bool was_training = model_->is_training();
    model_->eval();
    struct RestoreMode {
      Model* model;
      bool training;
      ~RestoreMode() { model->train(training); }
    } restore{model_, was_training};
    NoGradGuard no_grad;
    // Longest samples first where lengths and row indices are known, so that each batch pads
    // little; the rows go back to dataset order.
    constexpr bool sortable = requires(const Collate& c, const Dataset& d, Batch& b) {
      c.lengths(d);
      b.indices;
    };
    data::LoaderOptions options = loader_options(args_.per_device_eval_batch_size, false, false);
    options.sort_by_length = sortable;
    // Data-parallel: each rank evaluates every world_size-th sample (of the longest-first order)
    // once, and the logits, labels and loss are summed over the ranks; without row indices every
    // rank evaluates everything.
    const bool sharded = sortable && world_size() > 1;
    if (sharded) {
      options.num_replicas = static_cast<std::size_t>(world_size());
      options.rank = static_cast<std::size_t>(process_index());
      options.even_shards = false;
    }
    data::BasicDataLoader<Dataset, Collate> loader(dataset, collate_, options);
    loader.start_epoch(0);
    std::vector<float> logits;
    std::vector<std::int64_t> labels(dataset.size());
    // Token classification (labels [B, S], logits [B, S, L]): each sample's labelled tokens
    // (label != -100), put together in dataset order at the end, as one prediction each.
    std::vector<std::vector<float>> token_logits;
    std::vector<std::vector<std::int64_t>> token_labels;
    // Question answering (start/end positions, logits [B, S, 2]): each row's logits over its tokens
    // (attention mask 1), padded to the longest row of the dataset with -100 (HF's padding
    // index), and its positions.
    std::vector<std::vector<float>> span_logits;
    std::vector<std::int64_t> span_positions;
    std::int64_t num_labels = 0, batches = 0;
    // Real-valued labels: label_width values per sample, in dataset order.
    std::vector<float> real_label_values;
    std::size_t label_width = 0;
    bool integer_predictions = false;  // preprocess_logits_for_metrics returned ids: handed back as int64
    std::size_t next_row = 0;  // without indices: batches come in dataset order
    EvalLoss loss_sum;
    while (std::optional<Batch> batch = loader.next()) {
      const LossOutput output = autocast_loss(*batch);
      // Where row r of the batch goes: its dataset index (without indices, batches come in order).
      const auto dataset_row = [&](std::size_t r) -> std::size_t {
        if constexpr (sortable) return batch->indices[r];
        else return next_row + r;
      };
      // A batch of `rows` samples is placed: the rows after it, its loss, one more batch.
      const auto count_batch = [&](std::size_t rows) {
        next_row += rows;
        if (output.loss.defined()) loss_sum.add(output.loss.item(), static_cast<std::int64_t>(rows));
        ++batches;
      };
      if (loss_only) {
        TINYXF_CHECK(output.loss.defined(), "Trainer: prediction_loss_only needs a loss: the model returned none");
        count_batch(static_cast<std::size_t>(batch_size(*batch)));
        continue;
      }
      // preprocess_logits_for_metrics runs on the batch's device, before anything is gathered.
      Tensor predictions = output.logits;
      if (preprocess_logits_) {
        predictions = preprocess_logits_(output.logits, batch->labels);
        TINYXF_CHECK(predictions.defined(), "Trainer: preprocess_logits_for_metrics returned an undefined tensor");
      }
      integer_predictions = !is_floating_point(predictions.dtype());
      // One value per row or labelled token (argmax ids, ...): a trailing dimension of 1.
      const bool has_labels = batch->labels.defined();
      // Real-valued labels (regression [B], multi-label [B, L]): one row of values per sample.
      const bool real_labels = has_labels && is_floating_point(batch->labels.dtype());
      const bool one_per_row = preprocess_logits_ && has_labels && predictions.shape() == batch->labels.shape() &&
                               !(real_labels && batch->labels.dim() == 2);
      const bool one_per_labelled_token = preprocess_logits_ && has_labels && batch->labels.dim() == 2 && predictions.dim() == 1;
      const Tensor batch_logits =
          one_per_row || one_per_labelled_token ? predictions.unsqueeze(-1).to(Device::cpu()) : predictions.to(Device::cpu());
      num_labels = batch_logits.shape().back();
      const auto k = static_cast<std::size_t>(num_labels);
      const std::vector<float> values = batch_logits.contiguous().to(kFloat32).to_vector<float>();
      if constexpr (requires { batch->start_positions.defined(); }) {
        if (batch->start_positions.defined()) {
          TINYXF_CHECK(batch_logits.dim() == 3 && num_labels == 2 && batch_logits.shape()[0] == batch->input_ids.shape()[0] &&
                           batch_logits.shape()[1] == batch->attention_mask.shape()[1],
                       "Trainer: start/end logits of shape ", shape_str(batch_logits.shape()), " for a batch of shape ",
                       shape_str(batch->attention_mask.shape()), " (expected [B, S, 2])");
          const std::vector<std::int64_t> starts = batch->start_positions.to(Device::cpu()).template to_vector<std::int64_t>();
          const std::vector<std::int64_t> ends = batch->end_positions.to(Device::cpu()).template to_vector<std::int64_t>();
          const std::vector<std::int64_t> mask = batch->attention_mask.to(Device::cpu()).template to_vector<std::int64_t>();
          const std::size_t rows = starts.size(), row_values = rows ? values.size() / rows : 0;
          if (span_logits.empty()) {
            span_logits.resize(dataset.size());
            span_positions.resize(2 * dataset.size());
          }
          for (std::size_t r = 0; r < rows; ++r) {
            const std::size_t row = dataset_row(r);
            // The row's own tokens only: the batch's padding is -100 like the dataset's.
            const auto mask_row = mask.begin() + static_cast<std::ptrdiff_t>(r * row_values / 2);
            const auto tokens = std::accumulate(mask_row, mask_row + static_cast<std::ptrdiff_t>(row_values / 2), std::int64_t{0});
            const auto at = values.begin() + static_cast<std::ptrdiff_t>(r * row_values);
            span_logits[row].assign(at, at + 2 * tokens);
            span_positions[2 * row] = starts[r];
            span_positions[2 * row + 1] = ends[r];
          }
          count_batch(rows);
          continue;
        }
      }
      if (real_labels) {
        const std::size_t rows = static_cast<std::size_t>(batch_size(*batch));
        const std::vector<float> batch_values = batch->labels.to(Device::cpu()).contiguous().to(kFloat32).template to_vector<float>();
        const std::size_t width = rows > 0 ? batch_values.size() / rows : 0;
        TINYXF_CHECK(batch->labels.dim() <= 2 && batch_logits.dim() == 2 && batch_logits.shape()[0] == batch->labels.shape()[0] &&
                         (label_width == 0 || width == label_width),
                     "Trainer: real-valued labels of shape ", shape_str(batch->labels.shape()),
                     preprocess_logits_ ? " with predictions (of preprocess_logits_for_metrics) of shape " : " with logits of shape ",
                     shape_str(batch_logits.shape()), " (expected labels [B] or [B, L] of one width and [B, L] logits)");
        label_width = width;
        if (logits.empty()) logits.resize(dataset.size() * k);
        if (real_label_values.empty()) real_label_values.resize(dataset.size() * width);
        for (std::size_t r = 0; r < rows; ++r) {
          const std::size_t row = dataset_row(r);
          std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(r * k), k, logits.begin() + static_cast<std::ptrdiff_t>(row * k));
          std::copy_n(batch_values.begin() + static_cast<std::ptrdiff_t>(r * width), width,
                      real_label_values.begin() + static_cast<std::ptrdiff_t>(row * width));
        }
        count_batch(rows);
        continue;
      }
      const std::vector<std::int64_t> batch_labels = batch->labels.to(Device::cpu()).template to_vector<std::int64_t>();
      const bool per_token = batch->labels.dim() == 2;
      const std::size_t rows = static_cast<std::size_t>(batch_size(*batch));
      const std::size_t tokens = per_token ? batch_labels.size() / std::max<std::size_t>(rows, 1) : 1;
      // Per token, the logits are [B, S, L], or the labelled tokens' rows alone [n, L] in batch
      // order (a masked-LM head's sparse_prediction).
      const bool labelled_rows_only = per_token && batch_logits.dim() == 2;
      TINYXF_CHECK(per_token ? (batch_logits.dim() == 3 && batch_logits.shape()[0] == batch->labels.shape()[0] &&
                                batch_logits.shape()[1] == batch->labels.shape()[1]) ||
                                   (labelled_rows_only && batch_logits.shape()[0] == count_labelled(batch_labels))
                             : batch_logits.dim() == 2 && batch_logits.shape()[0] == batch->labels.shape()[0],
                   "Trainer: labels of shape ", shape_str(batch->labels.shape()),
                   preprocess_logits_ ? " with predictions (of preprocess_logits_for_metrics) of shape " : " with logits of shape ",
                   shape_str(batch_logits.shape()),
                   per_token ? " (expected [B, S, L], or [n, L] for the n labelled tokens)" : " (expected [B, L])");
      std::size_t next_labelled = 0;  // labelled_rows_only: the next row of the logits
      if (per_token && token_logits.empty()) {
        token_logits.resize(dataset.size());
        token_labels.resize(dataset.size());
      }
      if (!per_token && logits.empty()) logits.resize(dataset.size() * k);
      for (std::size_t r = 0; r < rows; ++r) {
        const std::size_t row = dataset_row(r);
        if (!per_token) {
          std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(r * k), k,
                      logits.begin() + static_cast<std::ptrdiff_t>(row * k));
          labels[row] = batch_labels[r];
          continue;
        }
        for (std::size_t t = 0; t < tokens; ++t) {
          if (batch_labels[r * tokens + t] == -100) continue;
          const std::size_t source = labelled_rows_only ? next_labelled++ : r * tokens + t;
          const auto at = values.begin() + static_cast<std::ptrdiff_t>(source * k);
          token_logits[row].insert(token_logits[row].end(), at, at + static_cast<std::ptrdiff_t>(k));
          token_labels[row].push_back(batch_labels[r * tokens + t]);
        }
      }
      count_batch(rows);
    }
    const auto samples = static_cast<std::int64_t>(dataset.size());
    if (loss_only) {
      if (sharded) loss_sum = sum_over_ranks(loss_sum);
      return finish_prediction(PredictionOutput{}, samples, loss_sum, batches, start, prefix);
    }
    if (sharded) {
      // Every rank takes the same path through the collectives below, also one that had no batch:
      // the kind of rows (0 one per sample, 1 per labelled token, 2 start/end spans) and
      // num_labels are the largest over the ranks.
      std::int64_t kind = !span_logits.empty() ? 2 : !token_labels.empty() ? 1 : 0;
      std::int64_t integer = integer_predictions ? 1 : 0;
      auto width = static_cast<std::int64_t>(label_width);
      for (const Tensor& other : group_->all_gather(
               Tensor::from_vector(std::vector<std::int64_t>{kind, num_labels, integer, width}).to(group_->device()))) {
        const std::vector<std::int64_t> v = other.to_vector<std::int64_t>();
        kind = std::max(kind, v[0]);
        num_labels = std::max(num_labels, v[1]);
        integer = std::max(integer, v[2]);
        width = std::max(width, v[3]);
      }
      integer_predictions = integer != 0;
      label_width = static_cast<std::size_t>(width);
      loss_sum = sum_over_ranks(loss_sum);
      // Each row was evaluated by one rank; the others hold it empty (or zero).
      if (kind == 1) {
        token_logits.resize(dataset.size());
        token_labels.resize(dataset.size());
        complete_rows_over_ranks(token_logits);
        complete_rows_over_ranks(token_labels);
      } else if (kind == 2) {
        span_logits.resize(dataset.size());
        span_positions.resize(2 * dataset.size());
        complete_rows_over_ranks(span_logits);
        span_positions = sum_over_ranks(Tensor::from_vector(span_positions)).template to_vector<std::int64_t>();
      } else {
        logits.resize(dataset.size() * static_cast<std::size_t>(num_labels), 0.0f);
        logits = sum_over_ranks(Tensor::from_vector(logits)).template to_vector<float>();
        if (label_width > 0) {
          real_label_values.resize(dataset.size() * label_width, 0.0f);
          real_label_values = sum_over_ranks(Tensor::from_vector(real_label_values)).template to_vector<float>();
        } else {
          labels = sum_over_ranks(Tensor::from_vector(labels)).template to_vector<std::int64_t>();
        }
      }
    }
    std::vector<std::int64_t> sequence_lengths;
    if (!token_labels.empty()) {
      logits.clear();
      labels.clear();
      for (std::size_t row = 0; row < token_labels.size(); ++row) {
        logits.insert(logits.end(), token_logits[row].begin(), token_logits[row].end());
        labels.insert(labels.end(), token_labels[row].begin(), token_labels[row].end());
        sequence_lengths.push_back(static_cast<std::int64_t>(token_labels[row].size()));
      }
    }
    if (!span_logits.empty()) {
      std::size_t longest = 0;
      for (const std::vector<float>& row : span_logits) longest = std::max(longest, row.size());
      std::vector<float> padded(span_logits.size() * longest, -100.0f);
      for (std::size_t row = 0; row < span_logits.size(); ++row)
        std::copy(span_logits[row].begin(), span_logits[row].end(), padded.begin() + static_cast<std::ptrdiff_t>(row * longest));
      PredictionOutput out;
      out.predictions = Tensor::from_vector(padded, {samples, static_cast<std::int64_t>(longest / 2), 2});
      out.label_ids = Tensor::from_vector(span_positions, {samples, 2});
      return finish_prediction(std::move(out), samples, loss_sum, batches, start, prefix);
    }
    const auto n = static_cast<std::int64_t>(labels.size());
    PredictionOutput out;
    out.predictions = Tensor::from_vector(logits, {n, num_labels});
    if (integer_predictions) out.predictions = out.predictions.to(kInt64);  // exact below 2^24
    if (label_width > 0) {  // regression [N], multi-label [N, L]: float32 as HF's label_ids
      const Shape label_shape = label_width == 1 ? Shape{n} : Shape{n, static_cast<std::int64_t>(label_width)};
      out.label_ids = Tensor::from_vector(real_label_values, label_shape);
    } else {
      out.label_ids = Tensor::from_vector(labels, {n});
    }
    out.sequence_lengths = std::move(sequence_lengths);
    return finish_prediction(std::move(out), samples, loss_sum, batches, start, prefix);
  }

  // An evaluation's loss: each batch's mean loss weighted by its rows (HF repeats it batch_size
  // times), and the same over the finite ones alone. With logging_nan_inf_filter the mean skips
  // non-finite batches (a masked-LM batch without a masked token: NaN) while any is finite, as
  // HF's evaluation_loop.
  struct EvalLoss {
    double sum = 0, finite_sum = 0, finite_rows = 0;
    void add(double loss, std::int64_t rows) {
      sum += loss * static_cast<double>(rows);
      if (std::isfinite(loss)) {
        finite_sum += loss * static_cast<double>(rows);
        finite_rows += static_cast<double>(rows);
      }
    }
    double mean(std::int64_t samples, bool filter) const {
      if (filter && finite_rows > 0) return finite_sum / finite_rows;
      return sum / static_cast<double>(samples);
    }
  };
  EvalLoss sum_over_ranks(const EvalLoss& mine) const {
    const std::vector<double> v =
        sum_over_ranks(Tensor::from_vector(std::vector<double>{mine.sum, mine.finite_sum, mine.finite_rows})).template to_vector<double>();
    return {v[0], v[1], v[2]};
  }

  // Sharded evaluation: rows[i] is filled on the rank that evaluated sample i and empty on the
  // others; afterwards every rank holds every row (lengths, then contents, summed over ranks).
  template <class T>
  void complete_rows_over_ranks(std::vector<std::vector<T>>& rows) const {
    std::vector<std::int64_t> lengths(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) lengths[i] = static_cast<std::int64_t>(rows[i].size());
    lengths = sum_over_ranks(Tensor::from_vector(lengths)).template to_vector<std::int64_t>();
    std::vector<std::size_t> offsets(rows.size() + 1, 0);
    for (std::size_t i = 0; i < rows.size(); ++i) offsets[i + 1] = offsets[i] + static_cast<std::size_t>(lengths[i]);
    std::vector<T> flat(offsets.back(), T{0});
    for (std::size_t i = 0; i < rows.size(); ++i)
      std::copy(rows[i].begin(), rows[i].end(), flat.begin() + static_cast<std::ptrdiff_t>(offsets[i]));
    if (!flat.empty()) flat = sum_over_ranks(Tensor::from_vector(flat)).template to_vector<T>();
    for (std::size_t i = 0; i < rows.size(); ++i)
      rows[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(offsets[i]), flat.begin() + static_cast<std::ptrdiff_t>(offsets[i + 1]));
  }

  // The loss, compute_metrics' numbers and the timings of an evaluation.
  PredictionOutput finish_prediction(PredictionOutput out, std::int64_t samples, const EvalLoss& loss_sum, std::int64_t batches,
                                     std::chrono::steady_clock::time_point start, const std::string& prefix) {
    out.metrics[prefix + "_loss"] = loss_sum.mean(samples, args_.logging_nan_inf_filter);
    if (compute_metrics_ && out.predictions.defined())
      for (const auto& [name, value] : compute_metrics_(EvalPrediction{out.predictions, out.label_ids, out.sequence_lengths}))
        out.metrics[name.starts_with(prefix + "_") ? name : prefix + "_" + name] = value;
    const double runtime = seconds_since(start);
    out.metrics[prefix + "_runtime"] = runtime;
    out.metrics[prefix + "_samples_per_second"] = runtime > 0 ? static_cast<double>(samples) / runtime : 0.0;
    out.metrics[prefix + "_steps_per_second"] = runtime > 0 ? static_cast<double>(batches) / runtime : 0.0;
    return out;
  }

  // Every rank keeps log_history (the best-model logic reads it); rank 0 writes the files.
  void append_log(json::Value entry) {
    const fs::path output_dir = args_.output_dir;
    if (is_main_process()) {
      fs::create_directories(output_dir);
      std::ofstream out(output_dir / kMetricsFile, std::ios::app | std::ios::binary);
      out << json::dump(entry) << '\n';
      TINYXF_CHECK(out.flush(), "Trainer: cannot append to ", (output_dir / kMetricsFile).string());
    }
    state_.log_history.push_back(entry);
    if (TensorBoardWriter* tb = tensorboard())  // HF's TensorBoardCallback.on_log: numbers, at the global step
      for (const auto& [key, value] : entry.as_object())
        if (key != "step" && value.is_number()) tb->add_scalar(tensorboard_tag(key), value.as_double(), state_.global_step);
    if (progress_) progress_->on_log(entry);
    if (callbacks_.on_log) callbacks_.on_log(entry);
  }

  // The event writer when args.report_to asks for TensorBoard, opened on first use (HF's lazy
  // SummaryWriter) in logging_dir, else output_dir/runs/<Mon DD_HH-MM-SS>_<host> as HF names it.
  TensorBoardWriter* tensorboard() {
    if (!args_.reports_to("tensorboard") || !is_main_process()) return nullptr;
    if (!tensorboard_) tensorboard_ = std::make_unique<TensorBoardWriter>(
                           args_.logging_dir.empty() ? default_logging_dir(args_.output_dir) : fs::path(args_.logging_dir));
    return tensorboard_.get();
  }

  // metrics.jsonl = log_history, one line per entry (atomically).
  void rewrite_metrics_file() {
    std::string text;
    for (const auto& entry : state_.log_history) text += json::dump(entry) + "\n";
    io::write_file_atomic(fs::path(args_.output_dir) / kMetricsFile, text);
  }

  void load_checkpoint(const fs::path& dir) {
    const TrainerState saved = TrainerState::from_json(read_json_file(dir / checkpoint_files::trainer_state));
    TINYXF_CHECK(saved.batches_per_epoch == state_.batches_per_epoch && saved.train_batch_size == state_.train_batch_size,
                 "resume_from_checkpoint: ", dir.string(), " was written with ", saved.batches_per_epoch,
                 " batches of ", saved.train_batch_size, " per epoch, this run has ", state_.batches_per_epoch,
                 " batches of ", state_.train_batch_size,
                 " (the training data, batch size or dataloader_drop_last changed, or the number of processes; "
                 "the position in the data would be meaningless)");
    TINYXF_CHECK(saved.gradient_accumulation_steps == state_.gradient_accumulation_steps, "resume_from_checkpoint: ",
                 dir.string(), " was written with gradient_accumulation_steps ", saved.gradient_accumulation_steps,
                 ", this run has ", state_.gradient_accumulation_steps, " (its steps would not be this run's)");
    load_model_files(dir, *model_, device_);
    load_optimizer(dir, *optimizer_);
    load_scheduler(dir, *scheduler_, args_.lr_scheduler_type);
    load_rng_state(dir, *model_, process_index());
    state_ = saved;
  }

  Model* model_;
  std::shared_ptr<Model> shared_model_;  // set when constructed from a shared_ptr
  std::optional<text::BertTokenizer> processing_class_;
  std::optional<models::TokenizerFiles> processing_class_files_;  // its files, made once
  TrainingArguments args_;
  Dataset train_;
  std::optional<Dataset> eval_;
  Collate collate_;
  ComputeMetrics compute_metrics_;
  PreprocessLogits preprocess_logits_;
  TrainerCallbacks callbacks_;
  Device device_ = Device::cpu();
  // args.label_smoothing_factor is in effect (not for a multi_label_classification model, as HF).
  bool smooth_labels_ = false;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<optim::LRScheduler> scheduler_;
  // Time budget: the planner of the current run, its schedule, when its clock started, and the
  // cost of the evaluations reserved after train().
  std::optional<TimeBudgetPlanner> planner_;
  BudgetSchedule budget_schedule_;
  std::optional<std::chrono::steady_clock::time_point> budget_start_;  // set_time_budget_start
  std::chrono::steady_clock::time_point budget_clock_start_;             // this run's
  std::int64_t reserved_eval_cost_ = 0;
  double last_forward_seconds_ = 0;
  TrainerState state_;
  std::unique_ptr<ProgressReporter> progress_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
  std::ostream* progress_stream_ = &std::cerr;
  std::shared_ptr<distributed::ProcessGroup> group_;
  std::unique_ptr<distributed::DistributedDataParallel> ddp_;
};

}  // namespace tinyxf::train
