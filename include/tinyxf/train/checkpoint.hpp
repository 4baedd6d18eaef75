#pragma once
// Trainer checkpoints: Hugging Face's layout, with JSON and safetensors in place of pickles.
//
//   <output_dir>/checkpoint-<step>/
//     model.safetensors       model.state_dict(), float32            (+ config.json when the
//     config.json             model has a config with save(path), as DistilBERT does)
//     optimizer.safetensors   the optimizer's state tensors ("state.<group>.<index>.<buffer>")
//     optimizer.json          {"optimizer": kind, "scalars": {...}}  (lrs, betas, step counts)
//     scheduler.json          {"lr_scheduler_type": ..., "state": {"last_step", "base_lr.<g>"}}
//     rng_state.json          the default generator and every Dropout's own generator
//     trainer_state.json      TrainerState: global_step, epoch position, log_history, best metric
//     training_args.json      TrainingArguments::to_json()
//     tokenizer.json, tokenizer_config.json, vocab.txt   the Trainer's processing class, when it has one
//
// Atomicity: a checkpoint is written into checkpoint-<step>.tmp (each file fsynced), then the
// folder is renamed to checkpoint-<step> and the parent folder fsynced. Only names of the exact
// form checkpoint-<digits> count as checkpoints, so a process killed mid-write leaves a .tmp
// folder that nothing mistakes for a checkpoint, and the previous checkpoint untouched. Deleting
// (rotation, replacement) renames to checkpoint-<step>.deleting first, for the same reason.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "tinyxf/core/generator.hpp"
#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/nn/layers.hpp"
#include "tinyxf/optim/lr_scheduler.hpp"
#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::train {

namespace fs = std::filesystem;

namespace checkpoint_files {
inline constexpr const char* model = "model.safetensors";
inline constexpr const char* config = "config.json";
inline constexpr const char* optimizer = "optimizer.safetensors";
inline constexpr const char* optimizer_scalars = "optimizer.json";
inline constexpr const char* scheduler = "scheduler.json";
inline constexpr const char* rng_state = "rng_state.json";
inline constexpr const char* trainer_state = "trainer_state.json";
inline constexpr const char* training_args = "training_args.json";
}  // namespace checkpoint_files

// ---- JSON helpers ---------------------------------------------------------------------------

// JSON has no NaN or infinity: they are stored as null (and read back as NaN).
inline json::Value json_number(double value) {
  return std::isfinite(value) ? json::Value(value) : json::Value(nullptr);
}
inline double number_or_nan(const json::Value& v) {
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.as_double();
}
// 64-bit generator words do not all fit JSON's int64, so they are stored as decimal strings.
inline json::Value json_u64(std::uint64_t value) { return json::Value(std::to_string(value)); }
inline std::uint64_t parse_u64(const json::Value& v, std::string_view what) {
  const std::string& text = v.as_string();
  std::uint64_t out = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  TINYXF_CHECK_AS(ValueError, error == std::errc() && end == text.data() + text.size() && !text.empty(), what,
                  ": expected an unsigned 64-bit integer as a decimal string, got \"", text, "\"");
  return out;
}

// An IoError (ParseError for bad JSON) naming the path.
inline json::Value read_json_file(const fs::path& path) { return json::parse_file(path); }
inline void write_json_file(const fs::path& path, const json::Value& value) {
  io::write_file_atomic(path, json::dump(value, 2) + "\n");
}

// ---- names and discovery --------------------------------------------------------------------

inline std::string checkpoint_name(std::int64_t step) { return "checkpoint-" + std::to_string(step); }

// The step of a folder named exactly "checkpoint-<digits>"; nullopt for anything else
// ("checkpoint-12.tmp", "checkpoint-x").
inline std::optional<std::int64_t> checkpoint_step(std::string_view folder_name) {
  constexpr std::string_view prefix = "checkpoint-";
  if (!folder_name.starts_with(prefix)) return std::nullopt;
  const std::string_view digits = folder_name.substr(prefix.size());
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::int64_t step = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return step;
}

struct CheckpointEntry {
  std::int64_t step = 0;
  fs::path path;
};

// Every checkpoint folder in output_dir, oldest (lowest step) first. A missing output_dir has none.
inline std::vector<CheckpointEntry> list_checkpoints(const fs::path& output_dir) {
  std::vector<CheckpointEntry> out;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return out;
  for (const auto& item : fs::directory_iterator(output_dir)) {
    if (!item.is_directory()) continue;
    if (auto step = checkpoint_step(item.path().filename().string())) out.push_back({*step, item.path()});
  }
  std::sort(out.begin(), out.end(), [](const CheckpointEntry& a, const CheckpointEntry& b) { return a.step < b.step; });
  return out;
}

// The newest checkpoint in output_dir (Hugging Face's get_last_checkpoint), if any.
inline std::optional<fs::path> latest_checkpoint(const fs::path& output_dir) {
  const auto all = list_checkpoints(output_dir);
  if (all.empty()) return std::nullopt;
  return all.back().path;
}

// resume_from_checkpoint: "last" (the newest checkpoint in output_dir) or a checkpoint folder.
inline fs::path resolve_checkpoint(const fs::path& output_dir, const std::string& spec) {
  fs::path dir;
  if (spec == "last") {
    auto last = latest_checkpoint(output_dir);
    TINYXF_CHECK_IO(last.has_value(), output_dir.string(),
                    "resume_from_checkpoint \"last\": no checkpoint-<step> folder in '", output_dir.string(), "'");
    dir = *last;
  } else {
    dir = spec;
  }
  std::error_code ec;
  TINYXF_CHECK_IO(fs::is_directory(dir, ec), dir.string(), "resume_from_checkpoint: '", dir.string(),
                  "' is not a directory");
  for (const char* file : {checkpoint_files::model, checkpoint_files::optimizer, checkpoint_files::optimizer_scalars,
                           checkpoint_files::scheduler, checkpoint_files::rng_state, checkpoint_files::trainer_state})
    TINYXF_CHECK_IO(fs::is_regular_file(dir / file, ec), (dir / file).string(), "resume_from_checkpoint: '",
                    dir.string(), "' has no ", file, " (not a complete Trainer checkpoint)");
  return dir;
}

// ---- atomic folder writes -------------------------------------------------------------------

namespace checkpoint_detail {
// Renames `dir` out of the checkpoint namespace first, so a kill during the (slow, non-atomic)
// recursive delete never leaves a partial folder that still looks like a checkpoint.
inline void remove_checkpoint_dir(const fs::path& dir) {
  fs::path doomed = dir;
  doomed += ".deleting";
  fs::remove_all(doomed);
  fs::rename(dir, doomed);
  io::detail::fsync_directory(dir.parent_path());
  fs::remove_all(doomed);
}
}  // namespace checkpoint_detail

// Removes what killed writers or deleters left: checkpoint-<step>.tmp and .deleting folders.
inline void remove_stale_checkpoint_temporaries(const fs::path& output_dir) {
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return;
  std::vector<fs::path> stale;
  for (const auto& item : fs::directory_iterator(output_dir)) {
    const std::string name = item.path().filename().string();
    for (std::string_view suffix : {".tmp", ".deleting"}) {
      if (name.ends_with(suffix) && checkpoint_step(std::string_view(name).substr(0, name.size() - suffix.size())))
        stale.push_back(item.path());
    }
  }
  for (const auto& path : stale) fs::remove_all(path);
}

// Writes one checkpoint folder atomically: put the files into dir(), then commit(). Without a
// commit (an exception on the way) the destructor removes the temporary folder.
class CheckpointWriter {
 public:
  CheckpointWriter(const fs::path& output_dir, std::int64_t step)
      : final_(output_dir / checkpoint_name(step)), temp_(output_dir / (checkpoint_name(step) + ".tmp")) {
    fs::create_directories(output_dir);
    fs::remove_all(temp_);
    fs::create_directory(temp_);
  }
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;
  ~CheckpointWriter() {
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(temp_, ec);
    }
  }

  const fs::path& dir() const { return temp_; }
  const fs::path& final_path() const { return final_; }

  // Publishes the folder as checkpoint-<step>, replacing an older folder of the same step.
  fs::path commit() {
    TINYXF_CHECK_AS(ValueError, !committed_, "CheckpointWriter: commit() called twice");
    io::detail::fsync_directory(temp_);
    std::error_code ec;
    if (fs::exists(final_, ec)) checkpoint_detail::remove_checkpoint_dir(final_);
    fs::rename(temp_, final_);
    io::detail::fsync_directory(final_.parent_path());
    committed_ = true;
    return final_;
  }

 private:
  fs::path final_, temp_;
  bool committed_ = false;
};

// Deletes the oldest checkpoints until at most `limit` remain (limit < 1: keep all). The newest
// one and `keep` (the best model's checkpoint, as Hugging Face does) are never deleted.
inline std::vector<fs::path> rotate_checkpoints(const fs::path& output_dir, std::int64_t limit,
                                                const fs::path& keep = {}) {
  std::vector<fs::path> removed;
  if (limit < 1) return removed;
  auto all = list_checkpoints(output_dir);
  std::size_t remaining = all.size();
  for (std::size_t i = 0; i + 1 < all.size() && remaining > static_cast<std::size_t>(limit); ++i) {
    if (!keep.empty() && all[i].path.filename() == keep.filename()) continue;
    checkpoint_detail::remove_checkpoint_dir(all[i].path);
    removed.push_back(all[i].path);
    --remaining;
  }
  return removed;
}

// ---- Trainer state --------------------------------------------------------------------------

struct TrainerState {
  std::int64_t global_step = 0;
  std::int64_t max_steps = 0;            // T of the run
  std::int64_t steps_per_epoch = 0;      // optimizer steps per epoch
  std::int64_t batches_per_epoch = 0;    // batches per epoch (gradient_accumulation_steps per step)
  std::int64_t gradient_accumulation_steps = 1;
  std::int64_t epochs_completed = 0;     // full passes over the training data
  std::int64_t batches_done_in_epoch = 0;  // batches of the current epoch already trained on
  std::int64_t train_batch_size = 0;
  std::int64_t num_train_samples = 0;
  std::int64_t logging_steps = 0, eval_steps = 0, save_steps = 0;
  double total_loss = 0;                 // sum of every step's loss (training_loss = total / steps)
  double window_loss = 0;                // sum over the logging window in progress
  std::int64_t window_steps = 0;
  std::optional<double> best_metric;
  std::int64_t best_global_step = -1;
  std::string best_model_checkpoint;
  json::Array log_history;

  // Fractional epochs trained, as Hugging Face logs it.
  double epoch() const {
    return static_cast<double>(epochs_completed) +
           (batches_per_epoch > 0 ? static_cast<double>(batches_done_in_epoch) / static_cast<double>(batches_per_epoch) : 0.0);
  }

  json::Value to_json() const {
    json::Object o;
    o.push_back("global_step", global_step);
    o.push_back("epoch", epoch());
    o.push_back("max_steps", max_steps);
    o.push_back("steps_per_epoch", steps_per_epoch);
    o.push_back("batches_per_epoch", batches_per_epoch);
    o.push_back("gradient_accumulation_steps", gradient_accumulation_steps);
    o.push_back("epochs_completed", epochs_completed);
    o.push_back("batches_done_in_epoch", batches_done_in_epoch);
    o.push_back("train_batch_size", train_batch_size);
    o.push_back("num_train_samples", num_train_samples);
    o.push_back("logging_steps", logging_steps);
    o.push_back("eval_steps", eval_steps);
    o.push_back("save_steps", save_steps);
    o.push_back("total_loss", json_number(total_loss));
    o.push_back("window_loss", json_number(window_loss));
    o.push_back("window_steps", window_steps);
    o.push_back("best_metric", best_metric ? json_number(*best_metric) : json::Value(nullptr));
    o.push_back("best_global_step", best_global_step);
    o.push_back("best_model_checkpoint", best_model_checkpoint.empty() ? json::Value(nullptr) : json::Value(best_model_checkpoint));
    o.push_back("log_history", log_history);
    return json::Value(std::move(o));
  }

  static TrainerState from_json(const json::Value& j) {
    TINYXF_CHECK_AS(ValueError, j.is_object(), "trainer_state.json: expected a JSON object");
    TrainerState s;
    s.global_step = j.get<std::int64_t>("global_step");
    s.max_steps = j.get<std::int64_t>("max_steps");
    s.steps_per_epoch = j.get<std::int64_t>("steps_per_epoch");
    // Checkpoints from before gradient accumulation: one batch per step.
    s.batches_per_epoch = j.get_or<std::int64_t>("batches_per_epoch", s.steps_per_epoch);
    s.gradient_accumulation_steps = j.get_or<std::int64_t>("gradient_accumulation_steps", 1);
    s.epochs_completed = j.get<std::int64_t>("epochs_completed");
    s.batches_done_in_epoch = j.get<std::int64_t>("batches_done_in_epoch");
    s.train_batch_size = j.get<std::int64_t>("train_batch_size");
    s.num_train_samples = j.get<std::int64_t>("num_train_samples");
    s.logging_steps = j.get_or<std::int64_t>("logging_steps", 0);
    s.eval_steps = j.get_or<std::int64_t>("eval_steps", 0);
    s.save_steps = j.get_or<std::int64_t>("save_steps", 0);
    s.total_loss = number_or_nan(j.at("total_loss"));
    s.window_loss = number_or_nan(j.at("window_loss"));
    s.window_steps = j.get<std::int64_t>("window_steps");
    if (const json::Value* b = j.find("best_metric"); b && !b->is_null()) s.best_metric = b->as_double();
    s.best_global_step = j.get_or<std::int64_t>("best_global_step", -1);
    s.best_model_checkpoint = j.get_or<std::string>("best_model_checkpoint", "");
    s.log_history = j.at("log_history").as_array();
    TINYXF_CHECK_AS(ValueError,
                    s.global_step >= 0 && s.steps_per_epoch > 0 && s.gradient_accumulation_steps > 0 &&
                        s.steps_per_epoch == (s.batches_per_epoch + s.gradient_accumulation_steps - 1) / s.gradient_accumulation_steps &&
                        s.batches_done_in_epoch >= 0 &&
                        s.batches_done_in_epoch <= s.batches_per_epoch && s.epochs_completed >= 0,
                    "trainer_state.json: inconsistent position (global_step ", s.global_step, ", epochs_completed ",
                    s.epochs_completed, ", batches_done_in_epoch ", s.batches_done_in_epoch, ", batches_per_epoch ",
                    s.batches_per_epoch, ", steps_per_epoch ", s.steps_per_epoch, ")");
    return s;
  }
};

// ---- model, optimizer, scheduler, RNG -------------------------------------------------------

// model.safetensors (every state_dict tensor) and, when the model has a config with
// save(path, architecture) and names its class (Model::architecture, as save_pretrained writes
// it), or a config with save(path), config.json: the layout from_pretrained-style loaders read.
template <class Model>
void save_model_files(const fs::path& dir, const Model& model) {
  fs::create_directories(dir);
  io::save_float_tensors(dir / checkpoint_files::model, model.state_dict(), {{"format", "pt"}});
  const fs::path config = dir / checkpoint_files::config;
  if constexpr (requires { model.config.save(config, Model::architecture); })
    model.config.save(config, Model::architecture);
  else if constexpr (requires { model.config.save(config); })
    model.config.save(config);
}

// Loads model.safetensors strictly (every tensor present, same shapes) onto `device`.
template <class Model>
void load_model_files(const fs::path& dir, Model& model, Device device) {
  const fs::path path = dir / checkpoint_files::model;
  try {
    model.load_state_dict(io::load_float_tensors(path, device), true);
  } catch (const Error&) {
    rethrow_with_context(detail::concat("loading ", path.string(), ": "));
  }
}

inline void save_optimizer(const fs::path& dir, const optim::Optimizer& optimizer) {
  const optim::OptimizerState state = optimizer.state_dict();
  io::save_float_tensors(dir / checkpoint_files::optimizer, state.tensors);
  json::Object scalars;
  for (const auto& [key, value] : state.scalars) scalars.push_back(key, json_number(value));
  json::Object o;
  o.push_back("optimizer", state.optimizer);
  o.push_back("scalars", std::move(scalars));
  write_json_file(dir / checkpoint_files::optimizer_scalars, json::Value(std::move(o)));
}

inline void load_optimizer(const fs::path& dir, optim::Optimizer& optimizer) {
  const json::Value j = read_json_file(dir / checkpoint_files::optimizer_scalars);
  optim::OptimizerState state;
  try {
    state.optimizer = j.get<std::string>("optimizer");
    for (const auto& [key, value] : j.at("scalars").as_object()) state.scalars[key] = number_or_nan(value);
    state.tensors = io::load_float_tensors(dir / checkpoint_files::optimizer);
    optimizer.load_state_dict(state);
  } catch (const Error&) {
    rethrow_with_context(detail::concat("loading the optimizer state from ", dir.string(), ": "));
  }
}

// scheduler.json: {"lr_scheduler_type", "state": the scheduler's state_dict()}.
inline void write_scheduler_file(const fs::path& dir, const std::string& type, json::Object state) {
  json::Object o;
  o.push_back("lr_scheduler_type", type);
  o.push_back("state", std::move(state));
  write_json_file(dir / checkpoint_files::scheduler, json::Value(std::move(o)));
}

// The "state" of scheduler.json, once its lr_scheduler_type was checked against this run's: the
// schedule's formula is code (chosen by lr_scheduler_type), so the saved type must match.
inline json::Value read_scheduler_state(const fs::path& dir, const std::string& type) {
  const fs::path path = dir / checkpoint_files::scheduler;
  json::Value j = read_json_file(path);
  const std::string saved = j.get<std::string>("lr_scheduler_type");
  TINYXF_CHECK_AS(ValueError, saved == type, path.string(), ": the checkpoint used lr_scheduler_type \"", saved,
                  "\", this run uses \"", type, "\" (resume with the same schedule, or start a new run)");
  return j.at("state");
}

inline void save_scheduler(const fs::path& dir, const optim::LambdaLR& scheduler, const std::string& type) {
  json::Object state;
  for (const auto& [key, value] : scheduler.state_dict()) state.push_back(key, json_number(value));
  write_scheduler_file(dir, type, std::move(state));
}

inline void load_scheduler(const fs::path& dir, optim::LambdaLR& scheduler, const std::string& type) {
  const json::Value saved = read_scheduler_state(dir, type);
  std::map<std::string, double> state;
  for (const auto& [key, value] : saved.as_object()) state[key] = number_or_nan(value);
  try {
    scheduler.load_state_dict(state);
  } catch (const Error&) {
    rethrow_with_context(detail::concat((dir / checkpoint_files::scheduler).string(), ": "));
  }
}

// ReduceLROnPlateau's state_dict() under torch's keys: None as null, and non-finite numbers
// (best and mode_worse start at ±inf), which JSON lacks, as Python's float() spellings "inf",
// "-inf", "nan".
inline json::Value plateau_state_json(const optim::ReduceLROnPlateau::StateValue& value) {
  const auto number = [](double v) {
    if (std::isfinite(v)) return json::Value(v);
    return json::Value(std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
  };
  if (const auto* d = std::get_if<double>(&value)) return number(*d);
  if (const auto* s = std::get_if<std::string>(&value)) return json::Value(*s);
  if (const auto* list = std::get_if<std::vector<double>>(&value)) {
    json::Array out;
    for (double v : *list) out.push_back(number(v));
    return json::Value(std::move(out));
  }
  return json::Value(nullptr);
}

inline optim::ReduceLROnPlateau::StateValue plateau_state_value(const json::Value& j) {
  const auto number = [](const json::Value& v) -> double {
    if (!v.is_string()) return v.as_double();
    const std::string& s = v.as_string();
    TINYXF_CHECK_AS(ValueError, s == "inf" || s == "-inf" || s == "nan", "expected a number, got \"", s, "\"");
    return s == "nan" ? std::numeric_limits<double>::quiet_NaN()
                      : (s == "inf" ? 1.0 : -1.0) * std::numeric_limits<double>::infinity();
  };
  if (j.is_null()) return std::monostate{};
  if (j.is_array()) {
    std::vector<double> out;
    for (const json::Value& v : j.as_array()) out.push_back(number(v));
    return out;
  }
  if (j.is_string() && j.as_string() != "inf" && j.as_string() != "-inf" && j.as_string() != "nan")
    return j.as_string();
  return number(j);
}

// Either kind of scheduler (get_scheduler's result).
inline void save_scheduler(const fs::path& dir, const optim::LRScheduler& scheduler, const std::string& type) {
  if (const optim::LambdaLR* lambda = scheduler.lambda_lr()) return save_scheduler(dir, *lambda, type);
  json::Object state;
  for (const auto& [key, value] : scheduler.plateau()->state_dict()) state.push_back(key, plateau_state_json(value));
  write_scheduler_file(dir, type, std::move(state));
}

inline void load_scheduler(const fs::path& dir, optim::LRScheduler& scheduler, const std::string& type) {
  if (optim::LambdaLR* lambda = scheduler.lambda_lr()) return load_scheduler(dir, *lambda, type);
  const json::Value saved = read_scheduler_state(dir, type);
  try {
    TINYXF_CHECK_AS(ValueError, saved.is_object(), "\"state\" must be a JSON object, got ", saved.type_name());
    optim::ReduceLROnPlateau::State state;
    for (const auto& [key, value] : saved.as_object()) {
      try {
        state[key] = plateau_state_value(value);
      } catch (const Error&) {
        rethrow_with_context(detail::concat("'", key, "': "));
      }
    }
    scheduler.plateau()->load_state_dict(state);
  } catch (const Error&) {
    rethrow_with_context(detail::concat((dir / checkpoint_files::scheduler).string(), ": "));
  }
}

// Every Dropout module with its own generator, by module name (several may share one).
template <class Model>
std::vector<std::pair<std::string, Generator*>> dropout_generators(const Model& model) {
  std::vector<std::pair<std::string, Generator*>> out;
  for (const auto& [name, module] : model.named_modules())
    if (const auto* dropout = dynamic_cast<const nn::Dropout*>(module); dropout && dropout->generator)
      out.emplace_back(name, dropout->generator);
  return out;
}

inline json::Value generator_json(const Generator& g) {
  json::Object o;
  o.push_back("seed", json_u64(g.seed()));
  o.push_back("offset", json_u64(g.offset()));
  return json::Value(std::move(o));
}

// {"default_generator": {"seed", "offset"}, "dropout_generators": {"<module>": {...}}}
template <class Model>
json::Value rng_state_json(const Model& model) {
  json::Object modules;
  for (const auto& [name, generator] : dropout_generators(model)) modules.push_back(name, generator_json(*generator));
  json::Object o;
  o.push_back("default_generator", generator_json(default_generator()));
  o.push_back("dropout_generators", std::move(modules));
  return json::Value(std::move(o));
}

template <class Model>
void save_rng_state(const fs::path& dir, const Model& model) {
  write_json_file(dir / checkpoint_files::rng_state, rng_state_json(model));
}

// The generator file of data-parallel rank `rank` (Hugging Face's rng_state_<process_index>):
// rank 0's is rng_state.json, so a checkpoint of a single process is one of rank 0.
inline std::string rng_state_file(int rank) {
  return rank == 0 ? std::string(checkpoint_files::rng_state) : "rng_state_" + std::to_string(rank) + ".json";
}

template <class Model>
void load_rng_state(const fs::path& dir, Model& model, int rank = 0) {
  const fs::path path = dir / rng_state_file(rank);
  TINYXF_CHECK_IO(rank == 0 || fs::is_regular_file(path), path.string(), "resume_from_checkpoint: '", dir.string(),
                  "' has no ", rng_state_file(rank), " (it was written by fewer processes than this run has)");
  const json::Value j = read_json_file(path);
  auto restore = [&](const json::Value& state, Generator& generator, const std::string& what) {
    generator.set_state(parse_u64(state.at("seed"), path.string() + " " + what + ".seed"),
                        parse_u64(state.at("offset"), path.string() + " " + what + ".offset"));
  };
  const auto modules = dropout_generators(model);
  const json::Value& saved = j.at("dropout_generators");
  for (const auto& [name, generator] : modules) {
    const json::Value* state = saved.find(name);
    TINYXF_CHECK_AS(ValueError, state != nullptr, path.string(), ": no generator state for the dropout module '", name,
                    "' (the model's dropout generators changed since the checkpoint)");
    restore(*state, *generator, name);
  }
  TINYXF_CHECK_AS(ValueError, saved.size() == modules.size(), path.string(), ": the checkpoint has ", saved.size(),
                  " dropout generator states, the model has ", modules.size(),
                  " dropout modules with their own generator");
  restore(j.at("default_generator"), default_generator(), "default_generator");
}

}  // namespace tinyxf::train
