// The flagship: fine-tune a BERT-family encoder (natively, as BertForSequenceClassification) or
// DistilBERT on IMDB movie-review sentiment, as in the lecture:
//   1. a plain loop with Adam and the model's own loss,
//   2. AdamW with a linear warmup/decay schedule stepped every update,
//   3. the Trainer with TrainingArguments (--trainer).
// Subcommands: train (default), evaluate, predict. Run without arguments it trains on the
// shipped IMDB sample, fine-tuning the pretrained all-MiniLM-L6-v2 encoder when
// scripts/fetch-pretrained.sh has fetched it, else a small DistilBERT from scratch. The model class
// follows the checkpoint's model_type (bert -> BertForSequenceClassification, distilbert ->
// DistilBertForSequenceClassification); --config and --from-scratch build a DistilBERT.
#include <tinyxf/tinyxf.hpp>  // --device cuda loads the CUDA backend plugin (libtinyxf_cuda.so)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/imdb.hpp"
#include "options.hpp"
#include "tinyxf/train/time_budget.hpp"
#ifdef TINYXF_HAVE_MPI
#include "tinyxf/distributed/distributed.hpp"  // --distributed (a build with MPI: tinyxf::mpi)
#endif

using namespace tinyxf;
namespace fs = std::filesystem;

namespace {
// --distributed: this process's group (null in a single-process run).
std::shared_ptr<distributed::ProcessGroup>& process_group() {
  static std::shared_ptr<distributed::ProcessGroup> group;
  return group;
}
bool is_main_rank() { return !process_group() || process_group()->rank() == 0; }

// --distributed: joins the job mpirun started ("mpi" on the cpu, "nccl" with --device cuda, one
// GPU per local rank); ranks other than 0 print nothing to stdout.
void init_distributed(imdb_example::Options& opt) {
#ifdef TINYXF_HAVE_MPI
  const bool gpu = Device::parse(opt.device).type == DeviceType::cuda;
  if (gpu && opt.device == "cuda") opt.device = "cuda:" + std::to_string(distributed::launch_env().local_rank);
  process_group() = distributed::init_process_group(gpu ? "nccl" : "mpi");
  if (gpu) opt.device = process_group()->device().str();
  if (process_group()->rank() != 0) std::cout.rdbuf(nullptr);
  std::cerr << "imdb_distilbert: rank " << process_group()->rank() << " of " << process_group()->size() << " ("
            << process_group()->backend_name() << ", " << opt.device << ", " << num_threads() << " threads)\n";
#else
  (void)opt;
  throw Error("--distributed: this build has no MPI (install libopenmpi-dev openmpi-bin and reconfigure)");
#endif
}
}  // namespace
using Clock = std::chrono::steady_clock;
using DistilBert = models::DistilBertForSequenceClassification;
using Bert = models::BertForSequenceClassification;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- data -------------------------------------------------------------------------------------
using imdb_example::Splits;

Splits load_splits(const imdb_example::Options& opt) {
  return imdb_example::load_imdb_splits(opt.data, opt.seed, opt.limit_train, opt.limit_eval, opt.eval_limit);
}

// ---- model ------------------------------------------------------------------------------------
fs::path find_default_pretrained() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("TINYXF_MODELS_DIR")) candidates.push_back(fs::path(env) / "all-MiniLM-L6-v2");
#ifdef TINYXF_SOURCE_DIR
  candidates.push_back(fs::path(TINYXF_SOURCE_DIR) / "models" / "all-MiniLM-L6-v2");
#endif
  candidates.push_back(fs::path("models") / "all-MiniLM-L6-v2");
  for (const auto& c : candidates)
    if (fs::exists(c / "model.safetensors") && fs::exists(c / "config.json")) return c;
  return {};
}

// The small from-scratch configuration of the embedded default (fits 2 CPU cores).
models::DistilBertConfig small_config(const imdb_example::Options& opt) {
  models::DistilBertConfig c;
  c.dim = 128;
  c.n_layers = 2;
  c.n_heads = 4;
  c.hidden_dim = 512;
  c.max_position_embeddings = static_cast<std::int64_t>(std::max<std::size_t>(opt.max_length, 512));
  c.num_labels = 2;
  return c;
}

template <class Model>
struct LoadedModel {
  std::shared_ptr<Model> model;
  bool pretrained = false;
  std::string description;
  fs::path dir;  // the pretrained folder (its tokenizer: tokenizer_for), empty from scratch
};

// A model folder's tokenizer (vocab.txt, else tokenizer.json), else bert-base-uncased's shipped
// vocabulary (a folder written by an older tinyxf, or a from-scratch model).
text::BertTokenizer tokenizer_for(const fs::path& dir) {
  if (!dir.empty() && (fs::exists(dir / "vocab.txt") || fs::exists(dir / "tokenizer.json")))
    return models::load_pretrained_tokenizer(dir);
  return text::BertTokenizer::from_file(text::default_vocab_path());
}

// The pretrained folder to fine-tune (--model, else the fetched MiniLM), or empty: from scratch.
fs::path pretrained_dir(const imdb_example::Options& opt) {
  if (opt.from_scratch || !opt.config_path.empty()) return {};  // --config means from scratch
  if (!opt.model_dir.empty()) return opt.model_dir;
  fs::path dir = find_default_pretrained();
  if (dir.empty())
    std::cout << "note: no pretrained encoder found (run scripts/fetch-pretrained.sh to fetch "
                 "all-MiniLM-L6-v2); training a small DistilBERT from scratch\n";
  return dir;
}

// Calls fn.template operator()<Model>() with the classifier class of a checkpoint folder: BERT
// checkpoints (model_type "bert") run natively as BertForSequenceClassification, everything else
// (DistilBERT checkpoints, from-scratch models: empty dir) as DistilBertForSequenceClassification.
template <class Fn>
int with_classifier_for(const fs::path& dir, Fn&& fn) {
  if (!dir.empty() && models::pretrained_model_type(dir) == "bert") return fn.template operator()<Bert>();
  return fn.template operator()<DistilBert>();
}

template <class Model>
LoadedModel<Model> build_model(const imdb_example::Options& opt, const fs::path& dir) {
  LoadedModel<Model> m;
  Generator init_gen(opt.seed);
  if (!dir.empty()) {
    models::PretrainedOptions po;
    po.num_labels = 2;
    po.generator = &init_gen;
    auto loaded = models::from_pretrained<Model>(dir, po);
    m.model = loaded.model;
    m.pretrained = true;
    m.description = "pretrained " + dir.string() + " (" + loaded.report.layout + " layout, " +
                    std::to_string(loaded.report.loaded.size()) + " tensors loaded, " +
                    std::to_string(loaded.report.newly_initialized.size()) + " newly initialized)";
    m.dir = dir;
  } else if constexpr (std::same_as<Model, DistilBert>) {
    models::DistilBertConfig c = opt.config_path.empty() ? small_config(opt)
                                                         : models::DistilBertConfig::load(opt.config_path);
    m.model = std::make_shared<Model>(c, init_gen);
    m.description = "from scratch: dim " + std::to_string(c.dim) + ", " + std::to_string(c.n_layers) +
                    " layers, " + std::to_string(c.n_heads) + " heads, FFN " + std::to_string(c.hidden_dim);
  } else {
    throw Error("imdb_distilbert: a from-scratch model is a DistilBERT");
  }
  // IMDB's labels (data::Review: 1 = positive), written to config.json for HF pipelines.
  if (m.model->config.num_labels == 2) m.model->config.id2label = {{0, "negative"}, {1, "positive"}};
  return m;
}

// ---- data loading -----------------------------------------------------------------------------
// Training batches: shuffled (grouped by length unless --no-group-by-length). Evaluation batches:
// in dataset order sorted by length (results do not depend on the order).
data::DataLoaderOptions loader_options(const imdb_example::Options& opt, bool training) {
  data::DataLoaderOptions lo;
  lo.batch_size = training ? opt.batch_size : opt.eval_batch_size;
  lo.shuffle = training;
  lo.group_by_length = training && opt.group_by_length;
  lo.sort_by_length = !training;
  lo.seed = opt.seed;
  lo.max_length = opt.max_length;
  lo.truncation = text::parse_truncation(opt.truncation);
  lo.head_tokens = static_cast<std::size_t>(opt.head_tokens);
  lo.pad_to_multiple_of = opt.pad_to_multiple_of;
  lo.device = Device::parse(opt.device);
  return lo;
}

// Padding of a dataset's batches in two orders: a training epoch shuffled plainly and grouped by
// length, or evaluation in dataset order and sorted by length. Printed and written to metrics.json.
json::Value padding_report(const std::string& name, const std::vector<data::Review>& reviews,
                           const text::BertTokenizer& tok, const imdb_example::Options& opt, bool training) {
  data::DataLoaderOptions lo = loader_options(opt, training);
  data::DataLoader loader(reviews, tok, lo);
  const std::vector<std::size_t>& lengths = loader.lengths();
  std::vector<std::size_t> before_order, after_order;
  if (training) {  // epoch 1's orders
    before_order = data::shuffled_indices(reviews.size(), opt.seed);
    after_order = data::length_grouped_indices(lengths, lo.batch_size, opt.seed, lo.mega_batch_mult, lo.longest_first);
  } else {
    for (std::size_t i = 0; i < reviews.size(); ++i) before_order.push_back(i);
    after_order = data::sorted_by_length_indices(lengths);
  }
  const data::PaddingStats before = data::padding_stats(before_order, lengths, lo);
  const data::PaddingStats after = data::padding_stats(after_order, lengths, lo);
  std::size_t truncated = 0;
  for (const std::size_t l : lengths) truncated += l >= opt.max_length;
  std::cout << "padding, " << name << " (" << reviews.size() << " reviews, batch " << lo.batch_size << ", "
            << truncated << " reviews truncated at " << opt.max_length << " tokens): " << std::fixed
            << std::setprecision(1) << 100 * before.padding_fraction() << "% of the batch tokens "
            << (training ? "with plainly shuffled batches, " : "in dataset order, ") << 100 * after.padding_fraction()
            << (training ? "% grouped by length" : "% sorted by length") << std::defaultfloat
            << std::setprecision(6) << "\n";
  json::Object o;
  o.push_back("reviews", static_cast<std::int64_t>(reviews.size()));
  o.push_back("real_tokens", before.real_tokens);
  o.push_back(training ? "padding_fraction_shuffled" : "padding_fraction_dataset_order", before.padding_fraction());
  o.push_back(training ? "padding_fraction_grouped" : "padding_fraction_sorted", after.padding_fraction());
  o.push_back("batch_tokens_shuffled_or_dataset_order", before.batch_tokens);
  o.push_back("batch_tokens_grouped_or_sorted", after.batch_tokens);
  return json::Value(std::move(o));
}

// Padded tokens (B x S summed) of an evaluation pass over reviews.
std::int64_t eval_batch_tokens(const std::vector<data::Review>& reviews, const text::BertTokenizer& tok,
                               const imdb_example::Options& opt) {
  data::DataLoader loader(reviews, tok, loader_options(opt, false));
  std::int64_t total = 0;
  for (const std::int64_t t : loader.batch_token_counts(0)) total += t;
  return total;
}

// ---- evaluation -------------------------------------------------------------------------------
struct EvalResult {
  double accuracy = 0, loss = 0, seconds = 0;
  std::size_t samples = 0;
};

template <class Model>
EvalResult evaluate(Model& model, const std::vector<data::Review>& reviews, const text::BertTokenizer& tok,
                    const imdb_example::Options& opt) {
  EvalResult r;
  if (reviews.empty()) return r;
  const auto t0 = Clock::now();
  model.eval();
  data::DataLoader loader(reviews, tok, loader_options(opt, false));
  const imdb_example::Accuracy a = imdb_example::accuracy_over(loader, reviews.size(), [&](const data::TextBatch& b) {
    auto out = model.forward(b.input_ids, b.attention_mask, b.labels);
    return std::pair{out.logits, out.loss};
  });
  r.samples = reviews.size();
  r.accuracy = a.accuracy;
  r.loss = a.loss;
  r.seconds = seconds_since(t0);
  return r;
}

// ---- training: the lecture's hand-written loops -------------------------------------------------
struct TrainResult {
  double seconds = 0;             // training steps only
  double eval_seconds = 0;        // validation during training, the last one included
  double last_val_seconds = 0;
  std::int64_t samples = 0, tokens = 0, steps = 0;
  EvalResult val;
  std::vector<json::Value> epochs;
  json::Value budget;             // --time-budget: the plan and how it went (null otherwise)
};

// Validation reviews during a --time-budget run without --eval-limit.
constexpr std::size_t kBudgetEvalLimit = 1000;

// --freeze-embeddings: the encoder's embeddings (word, position and token-type tables, their
// LayerNorm) stop requiring grad, as HF's base_model.embeddings.requires_grad_(False): backward
// then ends at the first layer, and the optimizer and clipping skip them (no gradient). Returns
// how many values were frozen.
std::int64_t freeze_embeddings(nn::Module& model) {
  for (const auto& [name, child] : model.named_children())  // "distilbert" or "bert"
    for (const auto& [inner, grandchild] : child->named_children())
      if (inner == "embeddings") {
        grandchild->requires_grad_(false);
        return grandchild->num_parameters();
      }
  TINYXF_CHECK(false, "--freeze-embeddings: the model has no <encoder>.embeddings module");
  return 0;
}

// metrics.json's time_budget: the plan and the rates it was made from.
json::Value budget_json(const imdb_example::Options& opt, const train::TimeBudgetPlanner& planner,
                        std::int64_t planned_steps, std::int64_t actual_steps, std::int64_t warmup_steps) {
  json::Object b;
  b.push_back("budget_minutes", opt.time_budget_minutes);
  b.push_back("planned_steps", planner.planned() ? planned_steps : -1);
  b.push_back("actual_steps", actual_steps);
  b.push_back("plan_at_step", planner.plan_step());
  b.push_back("train_ms_per_1k_padded_tokens", 1e6 * planner.train_seconds_per_token());
  b.push_back("forward_ms_per_1k_padded_tokens", 1e6 * planner.forward_seconds_per_token());
  b.push_back("estimated_final_eval_seconds", planner.planned_final_eval_seconds());
  b.push_back("warmup_steps", warmup_steps);
  return json::Value(std::move(b));
}

template <class Model>
TrainResult train_loop(Model& model, const Splits& splits, const text::BertTokenizer& tok,
                       const imdb_example::Options& opt, Clock::time_point run_start) {
  data::DataLoader loader(splits.train, tok, loader_options(opt, true));
  const auto steps_per_epoch = static_cast<std::int64_t>(loader.size());
  const bool budgeted = opt.time_budget_minutes > 0;
  // With a time budget the epochs only cap the run when given; the plan decides the steps.
  const std::int64_t max_epochs = budgeted && !opt.epochs_set ? std::numeric_limits<std::int64_t>::max() / steps_per_epoch
                                                              : opt.epochs;
  std::int64_t total_steps = steps_per_epoch * max_epochs;  // budgeted: replaced by the plan

  // Adam over all parameters (lecture, part 1) or AdamW with the linear schedule (part 2).
  std::unique_ptr<optim::Optimizer> optimizer;
  if (opt.optimizer == "adam") {
    optim::AdamOptions ao;
    ao.lr = opt.lr;
    ao.weight_decay = opt.weight_decay;
    optimizer = std::make_unique<optim::Adam>(model.parameters(), ao);
  } else {
    optim::AdamWOptions ao;
    ao.lr = opt.lr;
    ao.weight_decay = opt.weight_decay;
    optimizer = std::make_unique<optim::AdamW>(model.parameters(), ao);
  }
  const auto warmup_for = [&](std::int64_t steps) {
    return opt.warmup_steps >= 0 ? opt.warmup_steps
                                 : static_cast<std::int64_t>(std::ceil(static_cast<double>(steps) * opt.warmup_ratio));
  };
  // A budgeted run ramps up as if it were --epochs long (1 epoch unless given) until the plan.
  train::BudgetSchedule budget_schedule;
  budget_schedule.provisional_warmup = warmup_for(steps_per_epoch * (opt.epochs_set ? opt.epochs : 1));
  std::optional<train::TimeBudgetPlanner> planner;
  if (budgeted) {
    train::TimeBudgetOptions bo;
    bo.budget_seconds = opt.time_budget_minutes * 60.0;
    bo.max_steps = opt.epochs_set ? total_steps : 0;
    planner.emplace(bo, 0.0);
  }
  const std::int64_t warmup = budgeted ? budget_schedule.provisional_warmup : warmup_for(total_steps);
  // Stepped per update, except reduce_lr_on_plateau: on each epoch's validation loss (HF's Trainer
  // steps it after each evaluation, on eval_loss by default).
  std::optional<optim::LRScheduler> scheduler;
  if (budgeted && opt.schedule == "linear")
    scheduler.emplace(optim::LambdaLR(*optimizer, std::ref(budget_schedule)));
  else if (opt.schedule == "linear")
    scheduler.emplace(optim::get_linear_schedule_with_warmup(*optimizer, warmup, total_steps));
  else if (opt.schedule != "none")
    scheduler.emplace(optim::get_scheduler(opt.schedule, *optimizer, warmup, total_steps));
  const bool on_plateau = scheduler && scheduler->steps_on_metric();
  TINYXF_CHECK(!on_plateau || !splits.val_during.empty(),
               "--schedule reduce_lr_on_plateau steps on the validation loss, but the validation set is empty");

  std::cout << "training: " << splits.train.size() << " reviews, " << steps_per_epoch << " steps/epoch x "
            << (budgeted ? (opt.epochs_set ? "at most " + std::to_string(opt.epochs) + " epochs"
                                           : std::string("as many epochs as fit"))
                         : std::to_string(opt.epochs) + " epochs")
            << ", batch " << opt.batch_size << (opt.group_by_length ? " (grouped by length)" : "")
            << ", max_length " << opt.max_length << " (truncation " << opt.truncation
            << (opt.truncation == "head_tail" ? ", head " + std::to_string(opt.head_tokens) : std::string()) << "), "
            << opt.optimizer << " lr " << opt.lr
            << (on_plateau  ? std::string(", reduce_lr_on_plateau on the validation loss after each epoch")
                : scheduler ? ", " + opt.schedule + " schedule, warmup " + std::to_string(warmup) +
                                  (budgeted ? " (provisional until the plan)" : "")
                            : std::string(", constant lr"))
            << "\n";
  if (budgeted)
    std::cout << "time budget: " << opt.time_budget_minutes << " min for the whole run; "
              << std::setprecision(3) << seconds_since(run_start) << " s spent before training; the steps are planned after "
              << planner->options().measure_steps << " measured steps" << std::setprecision(6) << std::endl;

  // Evaluations the plan must leave time for: validation at every epoch end, and at the end the
  // last validation and the test set.
  std::int64_t val_tokens = 0, final_eval_tokens = 0;
  if (budgeted) {
    val_tokens = eval_batch_tokens(splits.val_during, tok, opt);
    final_eval_tokens = val_tokens + eval_batch_tokens(splits.test, tok, opt);
  }
  // Padded tokens of each training batch, for the time-budget plan.
  train::EpochStepCosts batch_tokens(static_cast<std::int64_t>(loader.size()), [&loader](std::int64_t epoch) {
    return loader.batch_token_counts(static_cast<std::uint64_t>(epoch));
  });

  TrainResult result;
  double train_only_seconds = 0;
  std::int64_t step = 0;
  bool done = false;
  for (std::int64_t epoch = 0; epoch < max_epochs && !done; ++epoch) {
    const auto t_epoch = Clock::now();
    model.train();
    loader.start_epoch(static_cast<std::uint64_t>(epoch));
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0;
    while (step < total_steps) {
      const auto t_step = Clock::now();
      auto batch = loader.next();
      if (!batch) break;
      auto out = model.forward(batch->input_ids, batch->attention_mask, batch->labels);
      const double forward_seconds = seconds_since(t_step);
      optimizer->zero_grad();
      out.loss.backward();
      if (opt.max_grad_norm > 0)  // clip_grad_norm_ + step, the scaling folded into AdamW's pass
        optim::clip_grad_norm_and_step(model.parameters(), opt.max_grad_norm, *optimizer);
      else
        optimizer->step();
      if (scheduler && !on_plateau) scheduler->step();
      ++step;
      const double loss = out.loss.item();
      loss_sum += loss * static_cast<double>(batch->size());
      {
        NoGradGuard ng;
        correct += sum(eq(argmax(out.logits, 1), batch->labels).to(kInt64)).template item<std::int64_t>();
      }
      seen += batch->size();
      result.tokens += batch->real_tokens;
      if (planner) {
        planner->record_step(seconds_since(t_step), forward_seconds, batch->input_ids.numel());
        if (planner->ready_to_plan()) {
          const auto eval_after = [&](std::int64_t s) { return (s + 1) % steps_per_epoch == 0 ? val_tokens : 0; };
          total_steps = planner->plan(seconds_since(run_start), step, std::ref(batch_tokens), eval_after,
                                      final_eval_tokens);
          budget_schedule.plan(step, warmup_for(total_steps), total_steps);
          std::cout << "time budget plan at step " << step << ": " << total_steps << " steps ("
                    << std::setprecision(3) << static_cast<double>(total_steps) / static_cast<double>(steps_per_epoch)
                    << " epochs; " << 1e6 * planner->train_seconds_per_token() << " ms per 1k padded tokens of a "
                    << "training step, " << 1e6 * planner->forward_seconds_per_token()
                    << " of a forward pass; final evaluation estimated at " << planner->planned_final_eval_seconds()
                    << " s), linear schedule with warmup " << budget_schedule.warmup << " to 0 at step "
                    << total_steps << std::setprecision(6) << std::endl;
        }
      }
      if (opt.log_every > 0 && step % opt.log_every == 0) {
        const double elapsed = seconds_since(t_epoch);
        std::cout << "  epoch " << epoch + 1 << " step " << step << "/" << total_steps << "  loss "
                  << std::fixed << std::setprecision(4) << loss_sum / static_cast<double>(seen)
                  << "  train acc " << static_cast<double>(correct) / static_cast<double>(seen)
                  << "  lr " << std::scientific << std::setprecision(2) << optimizer->param_groups()[0].lr.value_or(0.0)
                  << std::defaultfloat << "  " << std::setprecision(3) << static_cast<double>(seen) / elapsed
                  << " samples/s";
        if (planner && planner->planned()) {
          const double mean_tokens = static_cast<double>(batch->input_ids.numel());
          const double end = planner->projected_end(seconds_since(run_start), step, mean_tokens);
          std::cout << "  run ends at ~" << std::setprecision(4) << end << " s of " << planner->deadline() << " s";
        }
        std::cout << std::setprecision(6) << std::endl;
      }
    }
    if (budgeted && planner->planned() && step >= total_steps) done = true;
    result.samples += seen;
    const double epoch_train_seconds = seconds_since(t_epoch);
    train_only_seconds += epoch_train_seconds;
    EvalResult val = evaluate(model, splits.val_during, tok, opt);
    if (on_plateau) scheduler->step(val.loss);
    result.val = val;
    result.eval_seconds += val.seconds;
    result.last_val_seconds = val.seconds;
    std::cout << "epoch " << epoch + 1 << (budgeted ? "" : "/" + std::to_string(opt.epochs)) << ": train loss "
              << std::fixed << std::setprecision(4)
              << loss_sum / static_cast<double>(std::max<std::int64_t>(seen, 1)) << ", train accuracy "
              << static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(seen, 1))
              << " (running, train mode), val accuracy " << val.accuracy << ", val loss " << val.loss
              << std::defaultfloat << std::setprecision(4) << ", epoch time " << epoch_train_seconds << " s + eval "
              << val.seconds << " s" << std::setprecision(6) << std::endl;
    json::Object e;
    e.push_back("epoch", epoch + 1);
    e.push_back("steps", step);
    e.push_back("train_loss", train::json_number(loss_sum / static_cast<double>(std::max<std::int64_t>(seen, 1))));
    e.push_back("train_accuracy", static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(seen, 1)));
    e.push_back("val_accuracy", train::json_number(val.accuracy));
    e.push_back("val_loss", train::json_number(val.loss));
    e.push_back("val_reviews", static_cast<std::int64_t>(splits.val_during.size()));
    e.push_back("epoch_seconds", epoch_train_seconds);
    e.push_back("val_seconds", val.seconds);
    result.epochs.push_back(json::Value(std::move(e)));
  }
  result.seconds = train_only_seconds;
  result.steps = step;
  if (planner) result.budget = budget_json(opt, *planner, total_steps, step, budget_schedule.warmup);
  return result;
}

// ---- training through the Trainer -------------------------------------------------------------
template <class Model>
TrainResult train_with_trainer(std::shared_ptr<Model> model, const Splits& splits, const text::BertTokenizer& tok,
                               const imdb_example::Options& opt, Clock::time_point run_start) {
  train::TrainingArguments args;
  args.output_dir = (fs::path(opt.output_dir) / "trainer").string();
  args.num_train_epochs = opt.epochs;
  // --time-budget: the whole run's wall time from the program's start (below); the epochs cap
  // the plan only when given.
  const bool budgeted = opt.time_budget_minutes > 0;
  if (budgeted) {
    args.time_budget_seconds = opt.time_budget_minutes * 60.0;
    if (!opt.epochs_set) args.num_train_epochs = train::TrainingArguments::Limits::epochs;
  }
  args.per_device_train_batch_size = static_cast<std::int64_t>(opt.batch_size);
  args.per_device_eval_batch_size = static_cast<std::int64_t>(opt.eval_batch_size);
  args.learning_rate = opt.lr;
  args.weight_decay = opt.weight_decay;
  args.max_grad_norm = opt.max_grad_norm;
  if (opt.warmup_steps >= 0) args.warmup_steps = opt.warmup_steps;
  else args.warmup_ratio = opt.warmup_ratio;
  args.lr_scheduler_type = opt.schedule == "none" ? "constant" : opt.schedule;
  args.per_device_eval_batch_size = static_cast<std::int64_t>(opt.eval_batch_size);
  args.optim = opt.optimizer;
  args.logging_steps = opt.log_every > 0 ? opt.log_every : 50;
  args.eval_strategy = "epoch";
  // A checkpoint every --save-steps steps bounds what a kill loses (--resume last continues).
  args.save_strategy = opt.save_steps > 0 ? "steps" : "epoch";
  if (opt.save_steps > 0) args.save_steps = opt.save_steps;
  args.save_total_limit = 1;
  args.seed = opt.seed;
  args.max_length = static_cast<std::int64_t>(opt.max_length);
  args.truncation = opt.truncation;
  args.head_tokens = opt.head_tokens;
  args.group_by_length = opt.group_by_length;
  args.pad_to_multiple_of = static_cast<std::int64_t>(opt.pad_to_multiple_of);
  args.device = opt.device;
  args.bf16 = opt.precision == "bf16";
  if (!opt.report_to.empty()) args.report_to = {opt.report_to};
  train::Trainer<Model> trainer(model, args, splits.train, splits.val_during, tok);
  if (process_group()) trainer.set_process_group(process_group());
  if (budgeted) {
    trainer.set_time_budget_start(run_start);
    trainer.reserve_final_evaluation(splits.test);  // the Trainer's last validation is its own
  }
  // metrics.json's per-epoch list, as the hand-written loops write it (no running train accuracy
  // here): the epoch's mean loss at its end, then the validation the Trainer runs right after.
  TrainResult r;
  double loss_at_epoch_start = 0;
  std::int64_t steps_at_epoch_start = 0;
  trainer.callbacks().on_epoch_end = [&](const train::TrainerState& state, double epoch_seconds) {
    json::Object e;
    e.push_back("epoch", static_cast<std::int64_t>(r.epochs.size()) + 1);
    e.push_back("steps", state.global_step);
    const std::int64_t steps = state.global_step - steps_at_epoch_start;
    e.push_back("train_loss", train::json_number(steps > 0 ? (state.total_loss - loss_at_epoch_start) / static_cast<double>(steps)
                                                            : 0.0));
    e.push_back("epoch_seconds", epoch_seconds);
    r.epochs.push_back(json::Value(std::move(e)));
    loss_at_epoch_start = state.total_loss;
    steps_at_epoch_start = state.global_step;
  };
  trainer.callbacks().on_log = [&](const json::Value& entry) {
    if (!entry.contains("eval_accuracy")) return;
    r.val.accuracy = entry.at("eval_accuracy").is_number() ? entry.at("eval_accuracy").as_double() : NAN;
    r.val.loss = entry.at("eval_loss").is_number() ? entry.at("eval_loss").as_double() : NAN;
    r.val.seconds = entry.at("eval_runtime").as_double();
    r.eval_seconds += r.val.seconds;
    if (r.epochs.empty()) return;
    json::Object& e = r.epochs.back().as_object();
    e.push_back("val_accuracy", train::json_number(r.val.accuracy));
    e.push_back("val_loss", train::json_number(r.val.loss));
    e.push_back("val_reviews", static_cast<std::int64_t>(splits.val_during.size()));
    e.push_back("val_seconds", r.val.seconds);
  };
  const auto t0 = Clock::now();
  auto out = trainer.train(opt.resume);
  r.seconds = seconds_since(t0) - r.eval_seconds;  // training steps only, as the hand-written loops count
  r.samples = std::llround(out.metrics.at("train_samples_per_second") * out.metrics.at("train_runtime"));  // this run's
  r.steps = out.global_step;
  r.val.samples = splits.val_during.size();
  r.last_val_seconds = r.val.seconds;
  if (const train::TimeBudgetPlanner* planner = trainer.time_budget())
    r.budget = budget_json(opt, *planner, trainer.state().max_steps, out.global_step,
                           trainer.time_budget_schedule().warmup);
  return r;
}

json::Value options_json(const imdb_example::Options& opt, const std::string& model_desc, const Splits& s) {
  json::Object o;
  o.push_back("data", s.description);
  o.push_back("model", model_desc);
  o.push_back("train_size", static_cast<std::int64_t>(s.train.size()));
  o.push_back("val_size", static_cast<std::int64_t>(s.val.size()));
  o.push_back("test_size", static_cast<std::int64_t>(s.test.size()));
  o.push_back("epochs", opt.epochs);
  o.push_back("batch_size", static_cast<std::int64_t>(opt.batch_size));
  o.push_back("learning_rate", opt.lr);
  o.push_back("max_length", static_cast<std::int64_t>(opt.max_length));
  o.push_back("truncation", opt.truncation);
  o.push_back("head_tokens", opt.head_tokens);
  o.push_back("group_by_length", opt.group_by_length);
  o.push_back("pad_to_multiple_of", static_cast<std::int64_t>(opt.pad_to_multiple_of));
  o.push_back("eval_limit", static_cast<std::int64_t>(opt.eval_limit));
  o.push_back("val_during_training_size", static_cast<std::int64_t>(s.val_during.size()));
  o.push_back("time_budget_minutes", opt.time_budget_minutes);
  o.push_back("optimizer", opt.optimizer);
  o.push_back("schedule", opt.schedule);
  o.push_back("weight_decay", opt.weight_decay);
  o.push_back("warmup_steps", opt.warmup_steps);
  o.push_back("warmup_ratio", opt.warmup_ratio);
  o.push_back("max_grad_norm", opt.max_grad_norm);
  o.push_back("trainer", opt.use_trainer);
  o.push_back("freeze_embeddings", opt.freeze_embeddings);
  o.push_back("save_steps", opt.save_steps);
  o.push_back("seed", static_cast<std::int64_t>(opt.seed));
  o.push_back("threads", static_cast<std::int64_t>(num_threads()));
  o.push_back("device", opt.device);
  o.push_back("precision", opt.precision);
  return json::Value(std::move(o));
}

template <class Model>
int run_train(imdb_example::Options opt, const fs::path& dir) {
  const auto t_total = Clock::now();
  // Temporaries of a killed earlier run ("metrics.json.tmp.<pid>", model files); the Trainer
  // sweeps its own folder.
  io::remove_stale_temporaries(opt.output_dir);
  io::remove_stale_temporaries(fs::path(opt.output_dir) / "model");
  LoadedModel<Model> lm = build_model<Model>(opt, dir);
  if (lm.pretrained) {
    // Fine-tuning wants a smaller step; one epoch over 3,600 reviews of 256 tokens keeps the
    // embedded default near 10 minutes on 2 CPU cores (docs/flagship.md has the trade-offs).
    if (!opt.lr_set) opt.lr = 1e-4;
    if (!opt.epochs_set) opt.epochs = 1;
    // With --time-budget the budget decides how much is trained: all reviews are available.
    if (!opt.limit_train_set && opt.time_budget_minutes <= 0) opt.limit_train = 3600;
    std::cout << "pretrained defaults: lr " << opt.lr << ", "
              << (opt.time_budget_minutes > 0 && !opt.epochs_set ? std::string("epochs from the time budget")
                                                                 : std::to_string(opt.epochs) + " epoch(s)")
              << ", "
              << (opt.limit_train ? std::to_string(opt.limit_train) : std::string("all"))
              << " training reviews, max_length " << opt.max_length
              << " (--lr, --epochs, --limit-train, --max-length override them)\n";
  }
  // A budgeted run spends its time on training: it validates on a seeded subset of 1,000 reviews
  // (the test set is still evaluated in full at the end) unless --eval-limit says otherwise.
  if (opt.time_budget_minutes > 0 && !opt.eval_limit_set) opt.eval_limit = kBudgetEvalLimit;
  Splits splits = load_splits(opt);
  std::cout << "data: " << splits.description << ": train " << splits.train.size() << ", val "
            << splits.val.size() << ", test " << splits.test.size() << "\n";
  Model& model = *lm.model;
  if (const Device device = Device::parse(opt.device); device != Device::cpu()) model.to(device);
  if (opt.freeze_embeddings) {
    const std::int64_t frozen = freeze_embeddings(model);
    std::cout << "frozen: " << frozen << " embedding parameters (--freeze-embeddings); trainable "
              << model.num_parameters(true) << "\n";
  }
  std::cout << "model: " << lm.description << ", " << model.num_parameters() << " parameters; precision "
            << (opt.precision == "bf16"     ? "bf16 (autocast: bf16 GEMMs and attention, float32 weights)"
                : opt.precision == "medium" ? "medium (float32, GEMMs with bf16 products / TF32)"
                                            : "fp32")
            << "; cpu kernels " << backends::cpu_backend_isa();
  if (opt.precision != "fp32" && Device::parse(opt.device) == Device::cpu() && *backends::cpu::bf16_gemm_kernel() != '\0')
    std::cout << ", bf16 GEMMs on " << backends::cpu::bf16_gemm_kernel();
  std::cout << "\n";
  std::cout << "runtime: " << runtime().summary() << "\n";
  auto tokenizer = tokenizer_for(lm.dir);
  if (splits.val_during.size() != splits.val.size())
    std::cout << "validation during training: a seeded subset of " << splits.val_during.size() << " of the "
              << splits.val.size() << " validation reviews (--eval-limit)\n";
  json::Object padding;
  padding.push_back("train", padding_report("train", splits.train, tokenizer, opt, true));
  padding.push_back("test", padding_report("test", splits.test, tokenizer, opt, false));

  const double setup_seconds = seconds_since(t_total);
  TrainResult tr = opt.use_trainer ? train_with_trainer(lm.model, splits, tokenizer, opt, t_total)
                                   : train_loop(model, splits, tokenizer, opt, t_total);
  // Data-parallel: every rank holds the same model now; rank 0 tests it and writes the output.
  if (!is_main_rank()) return 0;
  EvalResult test = evaluate(model, splits.test, tokenizer, opt);
  std::cout << "test accuracy " << std::fixed << std::setprecision(4) << test.accuracy << " (" << test.samples
            << " reviews, loss " << test.loss << ", " << std::setprecision(1) << test.seconds << " s)"
            << std::defaultfloat << std::setprecision(6) << "\n";

  fs::create_directories(opt.output_dir);
  models::save_pretrained(model, fs::path(opt.output_dir) / "model", tokenizer);
  // Losses and accuracies of a diverged run are NaN; JSON has none, so they are written as null
  // (train::json_number) instead of failing after the whole training.
  json::Object metrics;
  metrics.push_back("test_accuracy", train::json_number(test.accuracy));
  metrics.push_back("val_accuracy", train::json_number(tr.val.accuracy));
  metrics.push_back("test_loss", train::json_number(test.loss));
  metrics.push_back("val_loss", train::json_number(tr.val.loss));
  metrics.push_back("train_seconds", tr.seconds);
  metrics.push_back("train_samples_per_second", tr.seconds > 0 ? static_cast<double>(tr.samples) / tr.seconds : 0.0);
  if (tr.tokens > 0 && tr.seconds > 0)  // counted by the hand-written loops; the Trainer logs its own
    metrics.push_back("train_tokens_per_second", static_cast<double>(tr.tokens) / tr.seconds);
  const double total_seconds = seconds_since(t_total);
  metrics.push_back("total_seconds", total_seconds);
  json::Object split;
  split.push_back("setup_seconds", setup_seconds);  // loading, tokenizing for the padding report
  split.push_back("train_seconds", tr.seconds);
  split.push_back("val_seconds", tr.eval_seconds);
  split.push_back("test_seconds", test.seconds);
  split.push_back("other_seconds", total_seconds - setup_seconds - tr.seconds - tr.eval_seconds - test.seconds);
  metrics.push_back("time_split", json::Value(std::move(split)));
  metrics.push_back("steps", tr.steps);
  if (!tr.budget.is_null()) {
    json::Object budget = tr.budget.as_object();
    budget.push_back("actual_final_eval_seconds", tr.last_val_seconds + test.seconds);
    budget.push_back("total_seconds", total_seconds);
    std::cout << "time budget: planned " << budget.at("planned_steps").as_int() << " steps, trained " << tr.steps
              << "; final evaluation estimated " << std::setprecision(3)
              << budget.at("estimated_final_eval_seconds").as_double() << " s, took "
              << tr.last_val_seconds + test.seconds << " s; whole run " << total_seconds << " s of "
              << opt.time_budget_minutes * 60 << std::setprecision(6) << " s\n";
    metrics.push_back("time_budget", json::Value(std::move(budget)));
  }
  metrics.push_back("padding", json::Value(std::move(padding)));
  metrics.push_back("epochs", json::Value(json::Array(tr.epochs.begin(), tr.epochs.end())));
  metrics.push_back("config", options_json(opt, lm.description, splits));
  io::write_file_atomic(fs::path(opt.output_dir) / "metrics.json", json::dump(json::Value(std::move(metrics)), 2) + "\n");
  std::cout << "wrote " << (fs::path(opt.output_dir) / "metrics.json").string() << " and the model to "
            << (fs::path(opt.output_dir) / "model").string() << "\n";
  return 0;
}

template <class Model>
int run_evaluate(const imdb_example::Options& opt) {
  Splits splits = load_splits(opt);
  models::PretrainedOptions po;
  po.device = Device::parse(opt.device);
  auto loaded = models::from_pretrained<Model>(opt.model_dir, po);
  auto tokenizer = tokenizer_for(opt.model_dir);
  EvalResult test = evaluate(*loaded.model, splits.test, tokenizer, opt);
  std::cout << "test accuracy " << std::fixed << std::setprecision(4) << test.accuracy << " (" << test.samples
            << " reviews, loss " << test.loss << ", " << test.seconds << " s)\n";
  return 0;
}

// "positive 0.9876" for the two IMDB labels; another label count prints the best label's name
// (id2label, else LABEL_<i>) and probability; a single-output (regression) head its score.
template <class Config>
std::string describe_prediction(const Config& config, const Tensor& logits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(4);
  if (config.num_labels == 1) {
    os << "score " << logits.item();
    return os.str();
  }
  const std::vector<float> probs = softmax(logits, -1).to_vector<float>();
  if (config.num_labels == 2) {
    const bool positive = probs[1] >= probs[0];
    os << (positive ? "positive " : "negative ") << (positive ? probs[1] : probs[0]);
    return os.str();
  }
  const auto best = static_cast<std::int64_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
  const auto name = config.id2label.find(best);
  os << (name != config.id2label.end() ? name->second : "LABEL_" + std::to_string(best)) << ' '
     << probs[static_cast<std::size_t>(best)];
  return os.str();
}

template <class Model>
int run_predict(const imdb_example::Options& opt) {
  auto loaded = models::from_pretrained<Model>(opt.model_dir);
  Model& model = *loaded.model;
  model.eval();
  auto tokenizer = tokenizer_for(opt.model_dir);
  NoGradGuard ng;
  for (const auto& t : opt.texts) {
    data::Review r{t, 0};
    data::DataLoaderOptions lo;
    lo.max_length = opt.max_length;
    auto batch = data::collate({&r}, tokenizer, lo);
    const Tensor logits = model.forward(batch.input_ids, batch.attention_mask).logits;
    std::cout << std::fixed << std::setprecision(4) << describe_prediction(model.config, logits) << "  " << t << "\n";
  }
  return 0;
}

// --precision: auto becomes medium where bf16 products are faster than float32 ones (AMX, or
// AVX512-BF16 on AMD: float32 tensors, GEMMs with bf16 products, no casts — measured faster than
// autocast there, docs/backends.md) and fp32 elsewhere (also on Intel CPUs with AVX512-BF16 but
// no AMX, where VDPBF16PS runs at half the FMA rate: backends::cpu::bf16_products_pay). medium
// is set_float32_matmul_precision("medium") (TF32 on CUDA). bf16 runs the whole program
// (training, evaluation, prediction) under autocast(bfloat16) on the device, as TrainingArguments.bf16 does: GEMMs and attention in bf16,
// softmax/LayerNorm/loss in float32, float32 weights and gradients (core/autocast.hpp).
void resolve_precision(imdb_example::Options& opt) {
  const Device device = Device::parse(opt.device);
  const bool native = device.type == DeviceType::cpu && backends::cpu::bf16_products_pay();
  if (opt.precision == "auto") opt.precision = native ? "medium" : "fp32";
  if (opt.precision == "medium") set_float32_matmul_precision("medium");
  if (opt.precision == "bf16") {
    set_autocast_dtype(device.type, kBFloat16);
    set_autocast_enabled(device.type, true);
  }
  if (opt.precision != "fp32" && device.type == DeviceType::cpu && !native)
    std::cerr << "imdb_distilbert: " << backends::cpu::bf16_products_absent_reason() << "; --precision "
              << opt.precision << " multiplies the bf16 values in float32\n";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    imdb_example::Options opt = imdb_example::parse(argc, argv);
    if (opt.help) {
      std::cout << imdb_example::usage();
      return 0;
    }
    if (opt.threads > 0) set_num_threads(opt.threads);
    if (opt.distributed) init_distributed(opt);
    resolve_precision(opt);
    if (opt.command == "train") {
      const fs::path dir = pretrained_dir(opt);
      return with_classifier_for(dir, [&]<class Model>() { return run_train<Model>(opt, dir); });
    }
    if (opt.command == "evaluate") {
      TINYXF_CHECK(!opt.model_dir.empty(), "evaluate: --model DIR is required (a folder written by train)");
      return with_classifier_for(opt.model_dir, [&]<class Model>() { return run_evaluate<Model>(opt); });
    }
    if (opt.command == "predict") {
      TINYXF_CHECK(!opt.model_dir.empty(), "predict: --model DIR is required (a folder written by train)");
      TINYXF_CHECK(!opt.texts.empty(), "predict: give the review text as an argument");
      return with_classifier_for(opt.model_dir, [&]<class Model>() { return run_predict<Model>(opt); });
    }
    std::cerr << imdb_example::usage();
    return 2;
  } catch (const imdb_example::UsageError& e) {
    std::cerr << "imdb_distilbert: " << e.what() << "\n\n" << imdb_example::usage();
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "imdb_distilbert: error: " << e.what() << "\n";
    return 1;
  }
}
