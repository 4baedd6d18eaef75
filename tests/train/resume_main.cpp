// tinyxf_resume_check: does resume_from_checkpoint continue to the same result as a run that never
// stopped? Driven by resume_check.cmake, one mode per process:
//   tinyxf_resume_check straight   DIR        kTotalSteps steps, checkpoints every kSaveSteps
//   tinyxf_resume_check first-half DIR        the same run, killed with _Exit one step after the
//                                             checkpoint at kSaveSteps, with a half-written
//                                             checkpoint folder and a file temporary left behind
//   tinyxf_resume_check resume     DIR        a fresh process: train("last") to the end
//   tinyxf_resume_check compare    DIR_A DIR_B
// A tiny DistilBERT (the real 30,522-token vocabulary, dim 16) with dropout on, trained on 64
// reviews of the shipped IMDB sample and evaluated on 16 during training, so the comparison
// covers the model, AdamW's moments, the schedule, the dropout generator, the data order across
// an epoch boundary, the logging window and the evaluation log.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "tinyxf/tinyxf.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/models/distilbert/modeling.hpp"
#include "tinyxf/train/trainer.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tinyxf;

constexpr std::int64_t kTotalSteps = 12;  // 8 batches per epoch: the resumed half crosses an epoch boundary
constexpr std::int64_t kSaveSteps = kTotalSteps / 2;

struct Setup {
  text::BertTokenizer tokenizer;
  std::vector<data::Review> train, eval;
};

Setup load_data() {
  const fs::path share = data::default_data_dir();
  Setup s{text::BertTokenizer::from_file(share / "vocab" / "bert-base-uncased-vocab.txt"), {}, {}};
  std::vector<data::Review> reviews = data::read_imdb_csv(data::imdb_sample_path());
  s.train.assign(reviews.begin(), reviews.begin() + 64);
  s.eval.assign(reviews.begin() + 64, reviews.begin() + 80);
  return s;
}

models::DistilBertConfig tiny_config() {
  models::DistilBertConfig c;
  c.dim = 16;
  c.n_heads = 2;
  c.n_layers = 2;
  c.hidden_dim = 32;
  c.max_position_embeddings = 64;
  return c;  // dropouts keep their defaults (0.1, 0.2): the generator state matters
}

train::TrainingArguments tiny_args(const fs::path& output_dir) {
  train::TrainingArguments a;
  a.output_dir = output_dir.string();
  a.max_steps = kTotalSteps;
  a.per_device_train_batch_size = 8;
  a.per_device_eval_batch_size = 8;
  a.learning_rate = 1e-3;
  a.weight_decay = 0.01;
  a.warmup_steps = 2;
  a.logging_steps = 4;  // the checkpoint at step 6 falls inside a logging window
  a.eval_strategy = "steps";
  a.eval_steps = 3;
  a.save_steps = kSaveSteps;
  a.max_length = 64;
  a.progress = "off";
  // resume_check.cmake runs every mode a second time with the flagship's data path: batches
  // grouped by length, head+tail windows, lengths rounded up to a multiple of 8.
  if (const char* grouped = std::getenv("TINYXF_RESUME_GROUPED"); grouped && std::string(grouped) == "1") {
    a.group_by_length = true;
    a.truncation = "head_tail";
    a.pad_to_multiple_of = 8;
  }
  return a;
}

// Runs the standard configuration; `on_step_end` may end the process.
int run(const fs::path& output_dir, const std::string& resume, std::function<bool(const train::TrainerState&)> on_step_end = {}) {
  Setup data = load_data();
  Generator init(1234);  // the initial weights do not depend on the default generator's state
  models::DistilBertForSequenceClassification model(tiny_config(), init);
  train::Trainer<models::DistilBertForSequenceClassification> trainer(model, tiny_args(output_dir), data.train,
                                                                       data.eval, data.tokenizer);
  trainer.callbacks().on_step_end = std::move(on_step_end);
  const train::TrainOutput out = trainer.train(resume);
  std::cout << "global_step " << out.global_step << ", training_loss " << out.training_loss << "\n";
  return out.global_step == kTotalSteps ? 0 : 1;
}

// The run of `straight`, killed as abruptly as a signal would (no destructors, no flushing),
// one step after its first checkpoint, while "writing" the next checkpoint.
int first_half(const fs::path& output_dir) {
  run(output_dir, "", [&](const train::TrainerState& state) {
    if (state.global_step == kSaveSteps + 1) {
      const fs::path partial = output_dir / (train::checkpoint_name(state.global_step) + ".tmp");
      fs::create_directories(partial);
      std::FILE* f = std::fopen((partial / "model.safetensors").c_str(), "wb");
      if (f) {
        const unsigned char truncated_header[] = {0x10, 0x00, 0x00};
        std::fwrite(truncated_header, 1, sizeof truncated_header, f);
        std::fclose(f);
      }
      // A file writer caught mid-write: its "<file>.tmp.<pid>" survives the kill (issue 11,
      // item 6); the next run's train() must sweep it.
      io::AtomicFileWriter curve(output_dir / train::kCurveFile);
      curve.write("<svg");
      std::_Exit(0);
    }
    return false;
  });
  std::cerr << "first-half: the run ended without reaching the simulated kill\n";
  return 1;
}

int resume(const fs::path& output_dir) {
  const auto last = train::latest_checkpoint(output_dir);
  if (!last || last->filename() != train::checkpoint_name(kSaveSteps)) {
    std::cerr << "resume: expected " << train::checkpoint_name(kSaveSteps) << " to be the newest checkpoint in "
              << output_dir << ", found " << (last ? last->string() : std::string("none")) << "\n";
    return 1;
  }
  const fs::path partial = output_dir / (train::checkpoint_name(kSaveSteps + 1) + ".tmp");
  if (!fs::is_directory(partial)) {
    std::cerr << "resume: the first half left no " << partial << " behind\n";
    return 1;
  }
  const auto curve_temporaries = [&] {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(output_dir))
      if (entry.path().filename().string().starts_with(std::string(train::kCurveFile) + ".tmp.")) found.push_back(entry);
    return found;
  };
  if (curve_temporaries().size() != 1) {
    std::cerr << "resume: the first half left no " << train::kCurveFile << ".tmp.<pid> behind\n";
    return 1;
  }
  const int status = run(output_dir, "last");
  if (!curve_temporaries().empty()) {
    std::cerr << "resume: the killed run's " << curve_temporaries().front() << " was not swept on start\n";
    return 1;
  }
  if (fs::exists(partial)) {
    std::cerr << "resume: the stale " << partial << " was not cleaned up by the next save\n";
    return 1;
  }
  return status;
}

bool same_bytes(const fs::path& a, const fs::path& b) {
  const bool equal = io::read_file(a) == io::read_file(b);
  std::cout << (equal ? "identical  " : "DIFFERENT  ") << a.filename().string() << "  (" << a.parent_path().filename().string()
            << ")\n";
  return equal;
}

// Timings differ between runs; every other logged number must not.
json::Value without_timings(const json::Value& v) {
  if (v.is_array()) {
    json::Array out;
    for (const auto& item : v.as_array()) out.push_back(without_timings(item));
    return json::Value(std::move(out));
  }
  if (!v.is_object()) return v;
  json::Object out;
  for (const auto& [key, value] : v.as_object())
    if (!key.ends_with("_runtime") && !key.ends_with("_per_second")) out.push_back(key, without_timings(value));
  return json::Value(std::move(out));
}

std::vector<std::string> metric_lines(const fs::path& file) {
  std::vector<std::string> lines;
  const std::string text = io::read_file(file);
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(json::dump(without_timings(json::parse(text.substr(start, end - start)))));
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return lines;
}

int compare(const fs::path& a, const fs::path& b) {
  const fs::path final_a = a / train::checkpoint_name(kTotalSteps), final_b = b / train::checkpoint_name(kTotalSteps);
  bool ok = true;
  for (const char* file : {train::checkpoint_files::model, train::checkpoint_files::optimizer,
                           train::checkpoint_files::optimizer_scalars, train::checkpoint_files::scheduler,
                           train::checkpoint_files::rng_state})
    ok = same_bytes(final_a / file, final_b / file) && ok;
  const json::Value state_a = without_timings(train::read_json_file(final_a / train::checkpoint_files::trainer_state));
  const json::Value state_b = without_timings(train::read_json_file(final_b / train::checkpoint_files::trainer_state));
  const bool same_state = json::dump(state_a) == json::dump(state_b);
  std::cout << (same_state ? "identical  " : "DIFFERENT  ") << "trainer_state.json without timings\n";
  ok = ok && same_state;
  const auto lines_a = metric_lines(a / train::kMetricsFile), lines_b = metric_lines(b / train::kMetricsFile);
  const bool same_metrics = lines_a == lines_b;
  std::cout << (same_metrics ? "identical  " : "DIFFERENT  ") << "metrics.jsonl without timings (" << lines_a.size()
            << " and " << lines_b.size() << " lines)\n";
  if (!same_metrics)
    for (std::size_t i = 0; i < std::max(lines_a.size(), lines_b.size()); ++i)
      std::cout << "  " << (i < lines_a.size() ? lines_a[i] : "-") << "\n  " << (i < lines_b.size() ? lines_b[i] : "-")
                << "\n";
  ok = ok && same_metrics;
  // Guard against a vacuous pass: training must have moved the weights after the checkpoint.
  const bool moved = io::read_file(a / train::checkpoint_name(kSaveSteps) / train::checkpoint_files::model) !=
                     io::read_file(final_a / train::checkpoint_files::model);
  std::cout << (moved ? "changed    " : "UNCHANGED  ") << "model.safetensors between steps " << kSaveSteps << " and "
            << kTotalSteps << "\n";
  return ok && moved ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = "usage: tinyxf_resume_check straight|first-half|resume DIR | compare DIR_A DIR_B";
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "compare" && argc == 4) return compare(argv[2], argv[3]);
    if (argc != 3) {
      std::cerr << usage << "\n";
      return 2;
    }
    if (mode == "straight") return run(argv[2], "");
    if (mode == "first-half") return first_half(argv[2]);
    if (mode == "resume") return resume(argv[2]);
    std::cerr << usage << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tinyxf_resume_check: " << e.what() << "\n";
    return 1;
  }
}
