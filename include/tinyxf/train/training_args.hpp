#pragma once
// tinyxf::train::TrainingArguments: the Trainer's settings, after Hugging Face's
// transformers.TrainingArguments (same names and defaults where the concept exists here), with
// the step arithmetic the Trainer uses:
//   batches_per_epoch(N)    = drop_last ? N / batch : ceil(N / batch)           (at least 1)
//   steps_per_epoch(N)      = ceil(batches_per_epoch(N) / gradient_accumulation_steps)  (optimizer steps)
//   total_training_steps(E) = max_steps > 0 ? max_steps : ceil(num_train_epochs · E)
//   num_warmup_steps(T)     = warmup_steps > 0 ? warmup_steps : ceil(T · warmup_ratio)   (v4 rule)
// Saved as training_args.json in every checkpoint (to_json / from_json).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/core/device.hpp"
#include "tinyxf/core/error.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/optim/lr_scheduler.hpp"

namespace tinyxf::train {

struct TrainingArguments {
  std::string output_dir;                 // checkpoints, metrics.jsonl, training_curve.svg
  double num_train_epochs = 3.0;          // may be fractional; ignored when max_steps > 0
  std::int64_t max_steps = -1;            // > 0: total optimizer steps, overrides the epochs
  // > 0 (tinyxf): train as many steps as fit into this many seconds of wall time, counted from
  // train()'s start (or Trainer::set_time_budget_start), leaving time for the evaluations during
  // training and those reserved with Trainer::reserve_final_evaluation; the epochs (or max_steps)
  // only cap the plan. Linear (to 0 at the planned step), constant and constant_with_warmup
  // schedules only. train/time_budget.hpp has the cost model.
  double time_budget_seconds = 0;
  std::int64_t per_device_train_batch_size = 8;
  std::int64_t per_device_eval_batch_size = 8;
  // Batches whose gradients add up before each optimizer step (HF's): the step's gradient and
  // loss are those of one batch of all their samples — each batch's mean loss is weighted by its
  // share of the window's labelled items (labels != -100: rows, or tokens of a masked LM), as HF
  // does with num_items_in_batch; the last window of an epoch may hold fewer batches.
  std::int64_t gradient_accumulation_steps = 1;
  double learning_rate = 5e-5;
  double weight_decay = 0.0;              // applied to the decay group only (no biases / norms)
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;             // 0 disables clipping (grad_norm is then not logged)
  // HF's: in [0, 1); > 0 trains and evaluates on cross_entropy(logits, labels, label_smoothing=ε)
  // (HF's LabelSmoother) for class-index labels; question answering keeps its span loss, and a
  // model configured multi_label_classification its own loss, as in HF (trainer.hpp).
  double label_smoothing_factor = 0.0;
  std::int64_t warmup_steps = 0;          // > 0 wins over warmup_ratio
  double warmup_ratio = 0.0;              // fraction of the total steps, rounded up
  // HF's names (optim::get_scheduler): linear | cosine | cosine_with_restarts | polynomial |
  // constant | constant_with_warmup | inverse_sqrt | reduce_lr_on_plateau | cosine_with_min_lr |
  // warmup_stable_decay. reduce_lr_on_plateau (torch's ReduceLROnPlateau) is stepped after each
  // evaluation with metric_for_best_model (HF's default then: "loss"), so it needs an eval_strategy.
  std::string lr_scheduler_type = "linear";
  // HF's: the schedule's own arguments, a JSON object (or a string holding one, as HF accepts),
  // e.g. {"lr_end": 1e-6, "power": 2} for polynomial or {"patience": 2, "min_lr": [0, 1e-6]} for
  // reduce_lr_on_plateau; only keys the schedule takes, null = not given.
  json::Value lr_scheduler_kwargs = json::Object{};
  std::string optim = "adamw";            // adamw | adam | sgd
  std::int64_t logging_steps = 500;       // log the mean loss of every window of this many steps
  std::string eval_strategy = "no";       // no | steps | epoch
  std::int64_t eval_steps = 0;            // with eval_strategy steps; 0 = logging_steps
  std::string save_strategy = "steps";    // no | steps | epoch
  std::int64_t save_steps = 500;
  std::int64_t save_total_limit = -1;     // -1 keeps every checkpoint
  std::string metric_for_best_model;      // e.g. "eval_accuracy"; empty = no best tracking
  // After training, load the weights of the best checkpoint (HF's): needs evaluations and saves
  // at the same points (eval_strategy == save_strategy; with "steps", save_steps a multiple of
  // the eval steps); metric_for_best_model defaults to "eval_loss" then.
  bool load_best_model_at_end = false;
  // Evaluation and prediction compute the loss alone, no logits gathered (HF's; evaluate() also
  // does so when the Trainer has no compute_metrics, as HF's: a masked LM's logits would be
  // 4 bytes x vocabulary per token).
  bool prediction_loss_only = false;
  // A NaN or infinite step loss is logged (and summed into train_loss) as window_loss / (1 +
  // window_steps) of the current logging window instead (HF's formula; the step itself is taken
  // as computed), and the evaluation loss averages the finite batches while any is finite.
  bool logging_nan_inf_filter = true;
  std::uint64_t seed = 42;                // data order and the dropout generator
  std::int64_t max_length = 512;          // tokens per review, [CLS] and [SEP] included
  std::string truncation = "head";        // head | tail | head_tail: which pieces of a long review stay
  std::int64_t head_tokens = -1;          // head_tail: pieces from the start; -1 = a quarter of max_length
  bool group_by_length = false;           // training batches of similar length (HF's LengthGroupedSampler)
  std::int64_t pad_to_multiple_of = 0;    // round each batch's padded length up to a multiple (0: off)
  bool dataloader_drop_last = false;
  std::int64_t dataloader_prefetch_batches = 2;  // batches tokenized ahead on a worker thread
  std::string progress = "auto";          // auto | on | off | silent (see progress.hpp)
  std::string device = "cpu";             // cpu | reference | cuda | cuda:N
  // HF's bf16: forward and loss run under autocast(bfloat16) (torch.autocast: GEMMs and
  // attention in bf16, softmax/layer_norm/losses in float32, float32 parameters); on CUDA, which
  // has no bf16 GEMM here yet, the float32 GEMMs use TF32 (set_float32_matmul_precision("medium")).
  bool bf16 = false;
  // Where logs go besides metrics.jsonl: "tensorboard" (event files in logging_dir), "all" (every
  // integration tinyxf has: TensorBoard) or "none". In JSON a list or one string, as in HF.
  std::vector<std::string> report_to = {"none"};
  std::string logging_dir;                // TensorBoard's; empty = output_dir/runs/<Mon DD_HH-MM-SS>_<host>

  // ---- derived quantities -----------------------------------------------------------------
  std::int64_t batches_per_epoch(std::int64_t num_samples) const {
    TINYXF_CHECK(num_samples > 0, "TrainingArguments: the training dataset is empty");
    const std::int64_t b = per_device_train_batch_size;
    TINYXF_CHECK(b > 0, "TrainingArguments: per_device_train_batch_size must be > 0, got ", b);
    const std::int64_t steps = dataloader_drop_last ? num_samples / b : (num_samples + b - 1) / b;
    TINYXF_CHECK(steps > 0, "TrainingArguments: dataloader_drop_last with ", num_samples,
                 " training samples and batch size ", b, " leaves no complete batch");
    return steps;
  }
  // Optimizer steps per epoch (HF's num_update_steps_per_epoch).
  std::int64_t steps_per_epoch(std::int64_t num_samples) const {
    const std::int64_t batches = batches_per_epoch(num_samples);
    TINYXF_CHECK(gradient_accumulation_steps > 0, "TrainingArguments: gradient_accumulation_steps must be > 0, got ",
                 gradient_accumulation_steps);
    return (batches + gradient_accumulation_steps - 1) / gradient_accumulation_steps;
  }
  std::int64_t total_training_steps(std::int64_t steps_per_epoch) const {
    if (max_steps > 0) return max_steps;
    return static_cast<std::int64_t>(std::ceil(num_train_epochs * static_cast<double>(steps_per_epoch)));
  }
  std::int64_t num_warmup_steps(std::int64_t total_steps) const {
    if (warmup_steps > 0) return warmup_steps;
    return static_cast<std::int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_ratio));
  }
  // lr_scheduler_kwargs as optim::get_scheduler takes them: numbers, strings and lists of numbers;
  // null keys are left out (HF's None: the schedule's default).
  optim::ScheduleKwargs schedule_kwargs() const {
    TINYXF_CHECK_AS(ValueError, lr_scheduler_kwargs.is_object(),
                    "TrainingArguments: lr_scheduler_kwargs must be a JSON object, got ", lr_scheduler_kwargs.type_name());
    optim::ScheduleKwargs out;
    for (const auto& [key, value] : lr_scheduler_kwargs.as_object()) {
      if (value.is_null()) continue;
      const auto is_numbers = [](const json::Value& v) {
        return v.is_array() && std::all_of(v.as_array().begin(), v.as_array().end(),
                                           [](const json::Value& e) { return e.is_number(); });
      };
      TINYXF_CHECK_AS(ValueError, value.is_number() || value.is_string() || is_numbers(value),
                      "TrainingArguments: lr_scheduler_kwargs \"", key,
                      "\" must be a number, a string or a list of numbers, got ", value.type_name());
      if (value.is_string()) {
        out.emplace(key, value.as_string());
      } else if (value.is_array()) {
        std::vector<double> numbers;
        for (const json::Value& e : value.as_array()) numbers.push_back(e.as_double());
        out.emplace(key, std::move(numbers));
      } else {
        out.emplace(key, value.as_double());
      }
    }
    return out;
  }
  // head_tokens as used: -1 becomes a quarter of max_length (64 of 256, 128 of 512).
  std::int64_t effective_head_tokens() const { return head_tokens >= 0 ? head_tokens : max_length / 4; }
  std::int64_t effective_eval_steps() const { return eval_steps > 0 ? eval_steps : logging_steps; }
  bool reports_to(std::string_view integration) const {
    return std::any_of(report_to.begin(), report_to.end(),
                       [&](const std::string& r) { return r == integration || r == "all"; });
  }
  // The evaluation metric metric_for_best_model names: "accuracy" is "eval_accuracy" (HF adds the
  // prefix when it is missing); empty when there is none.
  std::string best_metric_key() const {
    if (metric_for_best_model.empty() || metric_for_best_model.starts_with("eval_")) return metric_for_best_model;
    return "eval_" + metric_for_best_model;
  }
  // True when a larger value of metric_for_best_model is better (anything but a loss).
  bool greater_is_better() const {
    return !(metric_for_best_model.ends_with("loss"));
  }

  // Upper bounds of validate(): far beyond any real run, low enough that the step arithmetic
  // (epochs x steps per epoch, warmup) cannot overflow.
  struct Limits {
    static constexpr std::int64_t steps = std::int64_t{1} << 40;       // max_steps, warmup/logging/eval/save steps
    static constexpr double epochs = 1e6;
    static constexpr std::int64_t batch_size = std::int64_t{1} << 20;
    static constexpr std::int64_t max_length = std::int64_t{1} << 20;  // text::EncodeOptions::kMaxLengthLimit
    static constexpr std::int64_t prefetch_batches = 1024;
  };

  // Throws tinyxf::Error naming the first invalid setting and the accepted values.
  void validate() const {
    const char* where = "TrainingArguments: ";
    TINYXF_CHECK(!output_dir.empty(), where, "output_dir must be set (checkpoints and metrics go there)");
    TINYXF_CHECK(max_steps > 0 || (std::isfinite(num_train_epochs) && num_train_epochs > 0), where,
                 "num_train_epochs must be > 0 (got ", num_train_epochs, ") unless max_steps > 0 (got ",
                 max_steps, ")");
    TINYXF_CHECK(max_steps == -1 || max_steps > 0, where, "max_steps must be -1 (use the epochs) or > 0, got ",
                 max_steps);
    TINYXF_CHECK(per_device_train_batch_size > 0, where, "per_device_train_batch_size must be > 0, got ",
                 per_device_train_batch_size);
    TINYXF_CHECK(per_device_eval_batch_size > 0, where, "per_device_eval_batch_size must be > 0, got ",
                 per_device_eval_batch_size);
    TINYXF_CHECK(gradient_accumulation_steps > 0, where, "gradient_accumulation_steps must be > 0, got ",
                 gradient_accumulation_steps);
    TINYXF_CHECK(std::isfinite(learning_rate) && learning_rate >= 0, where,
                 "learning_rate must be finite and >= 0, got ", learning_rate);
    TINYXF_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, where,
                 "weight_decay must be finite and >= 0, got ", weight_decay);
    TINYXF_CHECK(adam_beta1 >= 0 && adam_beta1 < 1, where, "adam_beta1 must be in [0, 1), got ", adam_beta1);
    TINYXF_CHECK(adam_beta2 >= 0 && adam_beta2 < 1, where, "adam_beta2 must be in [0, 1), got ", adam_beta2);
    TINYXF_CHECK(std::isfinite(adam_epsilon) && adam_epsilon >= 0, where,
                 "adam_epsilon must be finite and >= 0, got ", adam_epsilon);
    TINYXF_CHECK(std::isfinite(max_grad_norm) && max_grad_norm >= 0, where,
                 "max_grad_norm must be finite and >= 0 (0 disables clipping), got ", max_grad_norm);
    TINYXF_CHECK(label_smoothing_factor >= 0 && label_smoothing_factor < 1, where,
                 "label_smoothing_factor must be in [0, 1) (0: no smoothing), got ", label_smoothing_factor);
    TINYXF_CHECK(warmup_steps >= 0, where, "warmup_steps must be >= 0, got ", warmup_steps);
    TINYXF_CHECK(warmup_ratio >= 0 && warmup_ratio <= 1, where, "warmup_ratio must be in [0, 1], got ",
                 warmup_ratio);
    check_choice("lr_scheduler_type", lr_scheduler_type,
                 {"linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                  "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "warmup_stable_decay"});
    check_choice("optim", optim, {"adamw", "adam", "sgd"});
    TINYXF_CHECK(logging_steps > 0, where, "logging_steps must be > 0, got ", logging_steps);
    check_choice("eval_strategy", eval_strategy, {"no", "steps", "epoch"});
    // HF's check (and message): the schedule steps on the evaluation's metric.
    TINYXF_CHECK_AS(ValueError, lr_scheduler_type != "reduce_lr_on_plateau" || eval_strategy != "no", where,
                    "lr_scheduler_type reduce_lr_on_plateau requires an eval strategy");
    TINYXF_CHECK(eval_steps >= 0, where, "eval_steps must be >= 0 (0 = logging_steps), got ", eval_steps);
    check_choice("save_strategy", save_strategy, {"no", "steps", "epoch"});
    TINYXF_CHECK(save_strategy != "steps" || save_steps > 0, where,
                 "save_steps must be > 0 with save_strategy \"steps\", got ", save_steps);
    TINYXF_CHECK(save_total_limit == -1 || save_total_limit >= 1, where,
                 "save_total_limit must be -1 (keep all) or >= 1, got ", save_total_limit);
    if (load_best_model_at_end) {
      TINYXF_CHECK(eval_strategy != "no" && save_strategy == eval_strategy, where,
                   "load_best_model_at_end needs evaluations and checkpoints at the same points: eval_strategy \"",
                   eval_strategy, "\" and save_strategy \"", save_strategy, "\" must be equal and not \"no\"");
      TINYXF_CHECK(save_strategy != "steps" || save_steps % effective_eval_steps() == 0, where,
                   "load_best_model_at_end needs save_steps (", save_steps,
                   ") to be a multiple of the evaluation steps (", effective_eval_steps(), ")");
    }
    TINYXF_CHECK(max_length >= 2, where, "max_length must be >= 2 (room for [CLS] and [SEP]), got ", max_length);
    check_choice("truncation", truncation, {"head", "tail", "head_tail"});
    TINYXF_CHECK(head_tokens >= -1 && head_tokens <= max_length - 2, where, "head_tokens must be -1 (a quarter of "
                 "max_length) or in [0, max_length - 2 = ", max_length - 2, "], got ", head_tokens);
    TINYXF_CHECK(pad_to_multiple_of >= 0 && pad_to_multiple_of <= Limits::max_length, where,
                 "pad_to_multiple_of must be in [0, ", Limits::max_length, "], got ", pad_to_multiple_of);
    TINYXF_CHECK(dataloader_prefetch_batches >= 0, where, "dataloader_prefetch_batches must be >= 0, got ",
                 dataloader_prefetch_batches);
    check_choice("progress", progress, {"auto", "on", "off", "silent"});
    for (const std::string& r : report_to) check_choice("report_to", r, {"none", "all", "tensorboard"});
    TINYXF_CHECK(report_to.size() <= 1 || std::find(report_to.begin(), report_to.end(), "none") == report_to.end(),
                 where, "report_to: \"none\" cannot be combined with other integrations");
    const auto at_most = [where](const char* name, auto value, auto limit) {
      TINYXF_CHECK(value <= limit, where, name, " must be at most ", limit, ", got ", value);
    };
    TINYXF_CHECK(std::isfinite(time_budget_seconds) && time_budget_seconds >= 0, where,
                 "time_budget_seconds must be finite and >= 0 (0: no budget), got ", time_budget_seconds);
    TINYXF_CHECK(time_budget_seconds == 0 || gradient_accumulation_steps == 1, where,
                 "time_budget_seconds plans steps of one batch; it does not support gradient_accumulation_steps ",
                 gradient_accumulation_steps, " (use a larger per_device_train_batch_size or max_steps)");
    TINYXF_CHECK(time_budget_seconds == 0 || lr_scheduler_type == "linear" || lr_scheduler_type == "constant" ||
                     lr_scheduler_type == "constant_with_warmup",
                 where, "time_budget_seconds plans a linear or constant schedule; lr_scheduler_type \"",
                 lr_scheduler_type, "\" is not supported with it (use linear, constant or constant_with_warmup)");
    try {
      if (lr_scheduler_kwargs.is_object())  // a null value is HF's None, but its key must still be known
        for (const auto& [key, value] : lr_scheduler_kwargs.as_object()) optim::check_schedule_kwarg_key(lr_scheduler_type, key);
      optim::check_schedule_kwargs(lr_scheduler_type, schedule_kwargs());
    } catch (const Error& e) {
      throw ValueError(detail::concat(where, "lr_scheduler_kwargs: ", e.what()));
    }
    at_most("max_steps", max_steps, Limits::steps);
    if (max_steps <= 0) at_most("num_train_epochs", num_train_epochs, Limits::epochs);
    at_most("per_device_train_batch_size", per_device_train_batch_size, Limits::batch_size);
    at_most("per_device_eval_batch_size", per_device_eval_batch_size, Limits::batch_size);
    at_most("gradient_accumulation_steps", gradient_accumulation_steps, Limits::batch_size);
    at_most("warmup_steps", warmup_steps, Limits::steps);
    at_most("logging_steps", logging_steps, Limits::steps);
    at_most("eval_steps", eval_steps, Limits::steps);
    at_most("save_steps", save_steps, Limits::steps);
    at_most("max_length", max_length, Limits::max_length);
    at_most("dataloader_prefetch_batches", dataloader_prefetch_batches, Limits::prefetch_batches);
    try {
      (void)Device::parse(device);
    } catch (const Error& e) {
      throw Error(std::string(where) + "device: " + e.what());
    }
  }

  // ---- JSON -------------------------------------------------------------------------------
  json::Value to_json() const {
    json::Object o;
    o.push_back("output_dir", output_dir);
    o.push_back("num_train_epochs", num_train_epochs);
    o.push_back("max_steps", max_steps);
    o.push_back("time_budget_seconds", time_budget_seconds);
    o.push_back("per_device_train_batch_size", per_device_train_batch_size);
    o.push_back("gradient_accumulation_steps", gradient_accumulation_steps);
    o.push_back("per_device_eval_batch_size", per_device_eval_batch_size);
    o.push_back("learning_rate", learning_rate);
    o.push_back("weight_decay", weight_decay);
    o.push_back("adam_beta1", adam_beta1);
    o.push_back("adam_beta2", adam_beta2);
    o.push_back("adam_epsilon", adam_epsilon);
    o.push_back("max_grad_norm", max_grad_norm);
    o.push_back("label_smoothing_factor", label_smoothing_factor);
    o.push_back("warmup_steps", warmup_steps);
    o.push_back("warmup_ratio", warmup_ratio);
    o.push_back("lr_scheduler_type", lr_scheduler_type);
    o.push_back("lr_scheduler_kwargs", lr_scheduler_kwargs);
    o.push_back("optim", optim);
    o.push_back("logging_steps", logging_steps);
    o.push_back("eval_strategy", eval_strategy);
    o.push_back("eval_steps", eval_steps);
    o.push_back("save_strategy", save_strategy);
    o.push_back("save_steps", save_steps);
    o.push_back("save_total_limit", save_total_limit);
    o.push_back("metric_for_best_model", metric_for_best_model);
    o.push_back("load_best_model_at_end", load_best_model_at_end);
    o.push_back("prediction_loss_only", prediction_loss_only);
    o.push_back("logging_nan_inf_filter", logging_nan_inf_filter);
    o.push_back("seed", seed);
    o.push_back("max_length", max_length);
    o.push_back("truncation", truncation);
    o.push_back("head_tokens", head_tokens);
    o.push_back("group_by_length", group_by_length);
    o.push_back("bf16", bf16);
    o.push_back("pad_to_multiple_of", pad_to_multiple_of);
    o.push_back("dataloader_drop_last", dataloader_drop_last);
    o.push_back("dataloader_prefetch_batches", dataloader_prefetch_batches);
    o.push_back("progress", progress);
    o.push_back("device", device);
    json::Array reports;
    for (const std::string& r : report_to) reports.emplace_back(r);
    o.push_back("report_to", json::Value(std::move(reports)));
    o.push_back("logging_dir", logging_dir);
    return json::Value(std::move(o));
  }

  // Missing keys keep their defaults; an unknown key or a value of the wrong type is an error
  // naming the key (a misspelled setting must not be silently ignored). Not validated: call
  // validate() for the value checks.
  static TrainingArguments from_json(const json::Value& j) {
    TINYXF_CHECK(j.is_object(), "TrainingArguments::from_json: expected a JSON object, got ", j.type_name());
    TrainingArguments a;
    const json::Value defaults = a.to_json();
    for (const auto& [key, value] : j.as_object()) {
      TINYXF_CHECK(defaults.contains(key), "TrainingArguments::from_json: unknown setting \"", key, "\"");
      try {
        a.assign(key, value);
      } catch (const Error& e) {
        throw Error(detail::concat("TrainingArguments::from_json: \"", key, "\": ", e.what()));
      }
    }
    return a;
  }

  bool operator==(const TrainingArguments&) const = default;

 private:
  static void check_choice(const char* name, const std::string& value, std::initializer_list<std::string_view> allowed) {
    std::string list;
    for (std::string_view choice : allowed) {
      if (value == choice) return;
      list += (list.empty() ? "" : ", ") + std::string(choice);
    }
    throw Error(detail::concat("TrainingArguments: ", name, " must be one of ", list, "; got \"", value, "\""));
  }

  void assign(const std::string& key, const json::Value& v) {
    if (key == "output_dir") output_dir = v.as_string();
    else if (key == "num_train_epochs") num_train_epochs = v.as_double();
    else if (key == "max_steps") max_steps = v.as_int();
    else if (key == "time_budget_seconds") time_budget_seconds = v.as_double();
    else if (key == "per_device_train_batch_size") per_device_train_batch_size = v.as_int();
    else if (key == "gradient_accumulation_steps") gradient_accumulation_steps = v.as_int();
    else if (key == "per_device_eval_batch_size") per_device_eval_batch_size = v.as_int();
    else if (key == "learning_rate") learning_rate = v.as_double();
    else if (key == "weight_decay") weight_decay = v.as_double();
    else if (key == "adam_beta1") adam_beta1 = v.as_double();
    else if (key == "adam_beta2") adam_beta2 = v.as_double();
    else if (key == "adam_epsilon") adam_epsilon = v.as_double();
    else if (key == "max_grad_norm") max_grad_norm = v.as_double();
    else if (key == "label_smoothing_factor") label_smoothing_factor = v.as_double();
    else if (key == "warmup_steps") warmup_steps = v.as_int();
    else if (key == "warmup_ratio") warmup_ratio = v.as_double();
    else if (key == "lr_scheduler_type") lr_scheduler_type = v.as_string();
    else if (key == "lr_scheduler_kwargs") {
      lr_scheduler_kwargs = v.is_string() ? json::parse(v.as_string()) : v;  // HF takes a dict or a JSON string
      TINYXF_CHECK_AS(ValueError, lr_scheduler_kwargs.is_object(), "expected a JSON object, got ",
                      lr_scheduler_kwargs.type_name());
    }
    else if (key == "optim") optim = v.as_string();
    else if (key == "logging_steps") logging_steps = v.as_int();
    else if (key == "eval_strategy") eval_strategy = v.as_string();
    else if (key == "eval_steps") eval_steps = v.as_int();
    else if (key == "save_strategy") save_strategy = v.as_string();
    else if (key == "save_steps") save_steps = v.as_int();
    else if (key == "save_total_limit") save_total_limit = v.as_int();
    else if (key == "metric_for_best_model") metric_for_best_model = v.as_string();
    else if (key == "load_best_model_at_end") load_best_model_at_end = v.as_bool();
    else if (key == "seed") seed = v.as<std::uint64_t>();
    else if (key == "max_length") max_length = v.as_int();
    else if (key == "truncation") truncation = v.as_string();
    else if (key == "head_tokens") head_tokens = v.as_int();
    else if (key == "group_by_length") group_by_length = v.as_bool();
    else if (key == "bf16") bf16 = v.as_bool();
    else if (key == "prediction_loss_only") prediction_loss_only = v.as_bool();
    else if (key == "logging_nan_inf_filter") logging_nan_inf_filter = v.as_bool();
    else if (key == "pad_to_multiple_of") pad_to_multiple_of = v.as_int();
    else if (key == "dataloader_drop_last") dataloader_drop_last = v.as_bool();
    else if (key == "dataloader_prefetch_batches") dataloader_prefetch_batches = v.as_int();
    else if (key == "progress") progress = v.as_string();
    else if (key == "device") device = v.as_string();
    else if (key == "report_to") {
      report_to.clear();
      if (v.is_string()) report_to.push_back(v.as_string());
      else
        for (const json::Value& r : v.as_array()) report_to.push_back(r.as_string());
    } else if (key == "logging_dir") logging_dir = v.as_string();
  }
};

}  // namespace tinyxf::train
