// The Trainer data-parallel under mpirun -np 2: two ranks with per_device_train_batch_size 4
// train what one process trains with batches of 8 (the same global batches: DistributedSampler
// interleaves the epoch order), their sharded evaluation gives the single process's metrics,
// rank 0 alone writes metrics.jsonl and checkpoints (with rank 1's generator state), and a run
// resumed from a checkpoint ends bit-exact where the uninterrupted run did, dropout on; sharded
// evaluation of token classification, question answering and (loss only) masked language modeling.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tinyxf/tinyxf.hpp"
#include "tinyxf/data/language_modeling.hpp"

#include "mpi_test_support.hpp"

using namespace tinyxf;
namespace dist = tinyxf::distributed;
namespace fs = std::filesystem;
using Model = models::DistilBertForSequenceClassification;

namespace {

using test::world;

struct Data {
  text::BertTokenizer tokenizer;
  std::vector<data::Review> train, eval;
};
const Data& data_set() {
  static const Data d = [] {
    Data x{text::BertTokenizer::from_file(data::default_data_dir() / "vocab" / "bert-base-uncased-vocab.txt"), {}, {}};
    const std::vector<data::Review> reviews = data::read_imdb_csv(data::imdb_sample_path());
    x.train.assign(reviews.begin(), reviews.begin() + 32);
    x.eval.assign(reviews.begin() + 32, reviews.begin() + 43);  // 11: uneven shards
    return x;
  }();
  return d;
}

models::DistilBertConfig tiny_config(bool dropout) { return test::tiny_distilbert(dropout ? 0.1 : 0.0, 1, 30522, 64); }

// A fresh output folder of this name, the same path on every rank.
fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(TINYXF_BINARY_DIR) / "distributed_trainer" / name;
  if (world()->rank() == 0) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  world()->barrier();
  return dir;
}

train::TrainingArguments args_for(const fs::path& dir, std::int64_t batch, std::int64_t steps) {
  train::TrainingArguments a;
  a.output_dir = dir.string();
  a.max_steps = steps;
  a.per_device_train_batch_size = batch;
  a.per_device_eval_batch_size = 4;
  a.optim = "sgd";
  a.learning_rate = 0.5;
  a.warmup_steps = 0;
  a.logging_steps = 1;
  a.eval_strategy = "steps";
  a.eval_steps = steps;
  a.save_steps = 2;
  a.max_length = 64;
  a.progress = "off";
  return a;
}

std::vector<float> flat_parameters(const Model& m) {
  std::vector<float> out;
  for (const auto& p : m.parameters()) {
    const auto v = p.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  return worst;
}

// The reference of the equivalence tests: 1 process x batch 8 for `steps` steps, every rank for
// itself (an explicit group of 1: no sharding, all files its own); returns its evaluation.
struct Reference {
  Generator init{7};
  Model model{tiny_config(false), init};
  train::Metrics eval;
  double training_loss = 0;
  Reference(const std::string& name, std::int64_t steps) {
    const fs::path dir = fs::path(TINYXF_BINARY_DIR) / "distributed_trainer" / (name + "_" + std::to_string(world()->rank()));
    fs::remove_all(dir);
    train::Trainer<Model> single(model, args_for(dir, 8, steps), data_set().train, data_set().eval, data_set().tokenizer);
    single.set_process_group(std::make_shared<dist::SingleProcessGroup>());
    training_loss = single.train().training_loss;
    eval = single.evaluate();
  }
};

}  // namespace

TEST_CASE("trainer: 2 ranks x batch 4 train and evaluate as 1 process x batch 8", "[distributed][trainer]") {
  REQUIRE(world()->size() == 2);
  const Data& d = data_set();
  const std::int64_t steps = 3;
  const Reference reference("reference", steps);
  const train::Metrics& ref_eval = reference.eval;

  Generator init(7 + static_cast<std::uint64_t>(world()->rank()));  // DDP broadcasts rank 0's weights
  Model model(tiny_config(false), init);
  const fs::path dir = fresh_dir("equivalence");
  train::Trainer<Model> trainer(model, args_for(dir, 4, steps), d.train, d.eval, d.tokenizer);
  trainer.set_process_group(world());
  CHECK(trainer.world_size() == 2);
  const train::TrainOutput out = trainer.train();
  CHECK(out.global_step == steps);
  CHECK(trainer.state().steps_per_epoch == 4);  // 16 samples per rank in batches of 4
  const double worst = max_difference(flat_parameters(model), flat_parameters(reference.model));
  INFO("max |2 ranks - 1 process| = " << worst);
  CHECK(worst <= 1e-5);
  CHECK(out.training_loss == Approx(reference.training_loss).epsilon(1e-5));

  const train::Metrics m = trainer.evaluate();
  CHECK(m.at("eval_loss") == Approx(ref_eval.at("eval_loss")).epsilon(1e-5));
  CHECK(m.at("eval_accuracy") == ref_eval.at("eval_accuracy"));

  world()->barrier();
  if (world()->rank() == 0) {
    // One writer: one line per log entry, not one per rank.
    std::ifstream metrics(dir / train::kMetricsFile);
    std::size_t lines = 0;
    for (std::string line; std::getline(metrics, line);) ++lines;
    CHECK(lines == trainer.state().log_history.size());
    CHECK(fs::is_directory(dir / train::checkpoint_name(2)));
    CHECK(fs::is_regular_file(dir / train::checkpoint_name(2) / "rng_state_1.json"));
  }
}

TEST_CASE("trainer: 2 ranks x 2 accumulated batches of 2 train as 1 process x batch 8", "[distributed][trainer]") {
  REQUIRE(world()->size() == 2);
  const Data& d = data_set();
  const std::int64_t steps = 3;
  const Reference reference("accumulate_reference", steps);

  Generator init(7 + static_cast<std::uint64_t>(world()->rank()));
  Model model(tiny_config(false), init);
  train::TrainingArguments a = args_for(fresh_dir("accumulate"), 2, steps);
  a.eval_strategy = "no";
  a.gradient_accumulation_steps = 2;  // the first backward of each step stays local (no_sync)
  train::Trainer<Model> trainer(model, a, d.train, d.eval, d.tokenizer);
  trainer.set_process_group(world());
  const train::TrainOutput out = trainer.train();
  CHECK(out.global_step == steps);
  CHECK(trainer.state().batches_per_epoch == 8);  // 16 samples per rank in batches of 2
  CHECK(trainer.state().steps_per_epoch == 4);
  const double worst = max_difference(flat_parameters(model), flat_parameters(reference.model));
  INFO("max |2 ranks x 2 accumulated - 1 process| = " << worst);
  CHECK(worst <= 1e-5);
  CHECK(out.training_loss == Approx(reference.training_loss).epsilon(1e-5));
}

// Reviews of 1 to 24 words: the ranks' batches differ in length, so do their dropout draws.
static std::vector<data::Review> short_reviews(std::size_t n) {
  const char* words[] = {"good", "bad", "movie", "plot", "great", "boring", "actors", "fine"};
  std::vector<data::Review> out;
  for (std::size_t i = 0; i < n; ++i) {
    data::Review r;
    for (std::size_t w = 0; w <= (i * 7) % 24; ++w) r.text += std::string(w ? " " : "") + words[(i + w * 3) % 8];
    r.label = static_cast<int>(i % 2);
    out.push_back(r);
  }
  return out;
}

TEST_CASE("trainer: a data-parallel run resumed from its checkpoint ends bit-exact", "[distributed][trainer]") {
  const text::BertTokenizer& tokenizer = data_set().tokenizer;
  const std::vector<data::Review> train_reviews = short_reviews(32), eval_reviews = short_reviews(11);
  const std::int64_t steps = 6;  // 4 steps per epoch: the resumed half crosses an epoch boundary
  const auto run = [&](const fs::path& dir, const std::string& resume, bool stop_after_checkpoint) {
    Generator init(11);
    Model model(tiny_config(true), init);  // dropout on: each rank's generator state matters
    train::Trainer<Model> trainer(model, args_for(dir, 4, steps), train_reviews, eval_reviews, tokenizer);
    trainer.set_process_group(world());
    if (stop_after_checkpoint)
      trainer.callbacks().on_step_end = [](const train::TrainerState& s) { return s.global_step == 3; };
    trainer.train(resume);
    return flat_parameters(model);
  };
  const fs::path straight = fresh_dir("straight"), halves = fresh_dir("halves");
  const auto expected = run(straight, "", false);
  run(halves, "", true);  // stops at step 3; checkpoint-2 is the newest
  const auto resumed = run(halves, "last", false);
  CHECK(resumed == expected);
  if (world()->rank() == 0) {  // rank 1's generator went its own way, and was saved as its own
    const fs::path checkpoint = straight / train::checkpoint_name(2);
    CHECK(json::parse_file(checkpoint / "rng_state.json") != json::parse_file(checkpoint / "rng_state_1.json"));
  }
}

namespace {
// Evaluates `model` on `dataset` once in this process alone and once sharded over the 2 ranks:
// both must give the same rows, in dataset order, and, where the loss is a mean over samples,
// the same loss (a token classification batch's loss is its tokens' mean: it depends on which
// samples share a batch, as in HF).
template <class M, class Dataset>
void check_sharded_prediction(M& model, const Dataset& dataset, const std::string& name, bool loss_per_sample) {
  const Data& d = data_set();
  train::TrainingArguments a = args_for(fresh_dir(name), 4, 1);
  a.per_device_eval_batch_size = 3;
  const fs::path own = fs::path(TINYXF_BINARY_DIR) / "distributed_trainer" / (name + "_alone_" + std::to_string(world()->rank()));
  fs::remove_all(own);
  train::TrainingArguments alone_args = a;
  alone_args.output_dir = own.string();
  train::Trainer<M, Dataset> alone(model, alone_args, dataset, dataset, d.tokenizer);
  alone.set_process_group(std::make_shared<dist::SingleProcessGroup>());
  const train::PredictionOutput ref = alone.predict(dataset);
  train::Trainer<M, Dataset> sharded(model, a, dataset, dataset, d.tokenizer);
  sharded.set_process_group(world());
  const train::PredictionOutput out = sharded.predict(dataset);
  REQUIRE(out.predictions.shape() == ref.predictions.shape());
  const std::vector<float> mine = out.predictions.to_vector<float>(), theirs = ref.predictions.to_vector<float>();
  double worst = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) worst = std::max(worst, std::abs(double(mine[i]) - double(theirs[i])));
  INFO(name << ": max |sharded - one process| = " << worst);
  CHECK(worst <= 1e-5);
  CHECK(out.label_ids.template to_vector<std::int64_t>() == ref.label_ids.template to_vector<std::int64_t>());
  CHECK(out.sequence_lengths == ref.sequence_lengths);
  if (loss_per_sample) CHECK(out.metrics.at("test_loss") == Approx(ref.metrics.at("test_loss")).epsilon(1e-5));
}
}  // namespace

TEST_CASE("trainer: sharded evaluation of token classification and question answering", "[distributed][trainer]") {
  REQUIRE(world()->size() == 2);
  // 7 samples in batches of 3 over 2 ranks: rank 1 gets one batch, the shards differ in size.
  std::vector<data::TokenClassificationExample> words;
  const char* vocabulary[] = {"paris", "we", "flew", "to", "unaffable", "london", "then"};
  for (std::size_t i = 0; i < 7; ++i) {
    data::TokenClassificationExample e;
    for (std::size_t w = 0; w < 2 + i % 5; ++w) {
      e.words.push_back(vocabulary[(i * 3 + w) % 7]);
      e.tags.push_back(static_cast<std::int64_t>((i + w) % 3 == 0));
    }
    words.push_back(std::move(e));
  }
  Generator init(11);  // the same weights on both ranks: nothing is trained
  models::DistilBertForTokenClassification tagger(tiny_config(false), init);
  check_sharded_prediction(tagger, words, "token_classification", false);

  std::vector<data::QuestionAnsweringExample> questions;
  for (std::size_t i = 0; i < 5; ++i) {
    data::QuestionAnsweringExample q{"q" + std::to_string(i), "where did we fly", "", {}};
    for (std::size_t w = 0; w < 3 + 4 * i; ++w) q.context += std::string(w ? " " : "") + vocabulary[(i + w) % 7];
    q.answers.push_back({vocabulary[i % 7], q.context.find(vocabulary[i % 7])});
    questions.push_back(std::move(q));
  }
  const auto features = data::prepare_question_answering_features(questions, data_set().tokenizer, {.max_length = 16, .doc_stride = 4});
  REQUIRE(features.size() > questions.size());
  models::DistilBertForQuestionAnswering reader(tiny_config(false), init);
  check_sharded_prediction(reader, features, "question_answering", true);
  // One sample: rank 1 evaluates nothing and learns the kind of rows from rank 0.
  check_sharded_prediction(tagger, std::vector<data::TokenClassificationExample>(words.begin(), words.begin() + 1),
                           "token_classification_one", true);
  check_sharded_prediction(reader, std::vector<data::QuestionAnsweringFeature>(features.begin(), features.begin() + 1),
                           "question_answering_one", true);
  Model classifier(tiny_config(false), init);
  check_sharded_prediction(classifier, std::vector<data::Review>(data_set().eval.begin(), data_set().eval.begin() + 1),
                           "classification_one", true);
}

namespace {
// Real-valued targets over a generic dataset: sample i has features (sin i, cos i) and targets
// (sin i - cos i, 2 sin i) ([B, 2], float32); "lengths" order the evaluation.
struct Targets {
  std::size_t n;
  std::size_t size() const { return n; }
  std::size_t get(std::size_t i) const { return i; }
};
struct TargetBatch {
  Tensor features, labels;
  std::vector<std::size_t> indices;
};
struct TargetCollate {
  TargetBatch operator()(const std::vector<std::size_t>& samples) const {
    std::vector<float> x, y;
    for (const std::size_t i : samples) {
      const auto s = static_cast<float>(std::sin(double(i))), c = static_cast<float>(std::cos(double(i)));
      x.insert(x.end(), {s, c});
      y.insert(y.end(), {s - c, 2 * s});
    }
    const auto B = static_cast<std::int64_t>(samples.size());
    return {Tensor::from_vector(x, {B, 2}), Tensor::from_vector(y, {B, 2}), {}};
  }
  std::vector<std::size_t> lengths(const Targets& d) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < d.size(); ++i) out.push_back((i * 7) % 5);
    return out;
  }
};
class TargetRegressor : public nn::Module {
 public:
  explicit TargetRegressor(Generator& gen) { fc = register_module("fc", std::make_shared<nn::Linear>(2, 2, true, gen)); }
  struct Output {
    Tensor logits, loss;
  };
  Output forward(const TargetBatch& batch) {
    const Tensor logits = fc->forward(batch.features);
    const Tensor diff = logits - batch.labels;
    return {logits, mean(diff * diff)};
  }
  std::shared_ptr<nn::Linear> fc;
};
}  // namespace

TEST_CASE("trainer: sharded evaluation of real-valued labels", "[distributed][trainer]") {
  REQUIRE(world()->size() == 2);
  Generator init(4);  // the same weights on both ranks
  TargetRegressor model(init);
  const Targets dataset{11};
  train::TrainingArguments a = args_for(fresh_dir("real_labels"), 4, 1);
  a.per_device_eval_batch_size = 3;
  const fs::path own = fs::path(TINYXF_BINARY_DIR) / "distributed_trainer" / ("real_labels_alone_" + std::to_string(world()->rank()));
  fs::remove_all(own);
  train::TrainingArguments alone_args = a;
  alone_args.output_dir = own.string();
  train::Trainer<TargetRegressor, Targets, TargetCollate> alone(model, alone_args, dataset, dataset, TargetCollate{});
  alone.set_process_group(std::make_shared<dist::SingleProcessGroup>());
  const train::PredictionOutput ref = alone.predict(dataset);
  train::Trainer<TargetRegressor, Targets, TargetCollate> sharded(model, a, dataset, dataset, TargetCollate{});
  sharded.set_process_group(world());
  const train::PredictionOutput out = sharded.predict(dataset);
  REQUIRE(out.label_ids.dtype() == kFloat32);
  REQUIRE(out.label_ids.shape() == Shape{11, 2});
  const std::vector<float> labels = out.label_ids.to_vector<float>();
  CHECK(labels == ref.label_ids.to_vector<float>());
  for (std::size_t i = 0; i < 11; ++i) CHECK(labels[2 * i + 1] == 2 * static_cast<float>(std::sin(double(i))));
  CHECK(out.predictions.to_vector<float>() == ref.predictions.to_vector<float>());
  CHECK(out.metrics.at("test_loss") == Approx(ref.metrics.at("test_loss")).epsilon(1e-6));
}

TEST_CASE("trainer: sharded evaluation of masked language modeling: loss only, argmax ids", "[distributed][trainer][mlm]") {
  REQUIRE(world()->size() == 2);
  std::vector<std::string> texts;
  for (const data::Review& r : data_set().eval) texts.push_back(r.text);
  const data::LanguageModelingDataset blocks = data::group_texts(texts, data_set().tokenizer, {.block_size = 32});
  REQUIRE(blocks.size() > 2);
  // Half the tokens masked: no block of 30 ordinary tokens goes without one (a batch without a
  // masked token has loss NaN, as in HF).
  const data::LanguageModelingCollator collate(data_set().tokenizer, {.mlm_probability = 0.5});
  Generator init(13);
  models::DistilBertForMaskedLM model(tiny_config(false), init);
  model.sparse_prediction = true;
  using MLMTrainer = train::Trainer<models::DistilBertForMaskedLM, data::LanguageModelingDataset, data::LanguageModelingCollator>;
  // Batches of one sample: the loss is the mean of per-sample losses however the samples are sharded.
  train::TrainingArguments a = args_for(fresh_dir("mlm"), 4, 1);
  a.per_device_eval_batch_size = 1;
  const fs::path own = fs::path(TINYXF_BINARY_DIR) / "distributed_trainer" / ("mlm_alone_" + std::to_string(world()->rank()));
  fs::remove_all(own);
  train::TrainingArguments alone_args = a;
  alone_args.output_dir = own.string();
  MLMTrainer alone(model, alone_args, blocks, blocks, collate, nullptr);
  alone.set_process_group(std::make_shared<dist::SingleProcessGroup>());
  const double ref = alone.evaluate().at("eval_loss");
  MLMTrainer sharded(model, a, blocks, blocks, collate, nullptr);
  sharded.set_process_group(world());
  const train::Metrics m = sharded.evaluate();
  CHECK(m.at("eval_loss") == Approx(ref).epsilon(1e-6));
  CHECK(std::isfinite(ref));

  // run_mlm's argmax ids (preprocess_logits_for_metrics): each rank's masked tokens, put together
  // in dataset order, are the single process's, and so is the accuracy.
  const auto argmax_ids = [](const Tensor& logits, const Tensor&) { return argmax(logits, -1); };
  const auto accuracy_of_ids = [](const train::EvalPrediction& p) {
    return train::Metrics{{"accuracy", train::accuracy(p.logits.to_vector<std::int64_t>(), p.labels.to_vector<std::int64_t>())}};
  };
  MLMTrainer alone_ids(model, alone_args, blocks, blocks, collate, accuracy_of_ids, argmax_ids);
  alone_ids.set_process_group(std::make_shared<dist::SingleProcessGroup>());
  const train::PredictionOutput one = alone_ids.predict(blocks);
  MLMTrainer sharded_ids(model, a, blocks, blocks, collate, accuracy_of_ids, argmax_ids);
  sharded_ids.set_process_group(world());
  const train::PredictionOutput both = sharded_ids.predict(blocks);
  REQUIRE(both.predictions.dtype() == kInt64);
  REQUIRE(one.label_ids.numel() > 10);
  CHECK(both.predictions.to_vector<std::int64_t>() == one.predictions.to_vector<std::int64_t>());
  CHECK(both.label_ids.to_vector<std::int64_t>() == one.label_ids.to_vector<std::int64_t>());
  CHECK(both.metrics.at("test_accuracy") == one.metrics.at("test_accuracy"));

  // Training: the ranks' batches hold different numbers of masked tokens; each batch's loss is
  // weighted by its share of every rank's masked tokens, so 2 ranks x batch 2 (with and without
  // accumulation) step as 1 process x batch 4.
  const auto trained = [&](std::int64_t batch, std::int64_t accumulate, bool alone, const std::string& name) {
    Generator g(17);
    models::DistilBertForMaskedLM m(tiny_config(false), g);
    m.sparse_prediction = true;
    const fs::path dir = alone ? fs::path(TINYXF_BINARY_DIR) / "distributed_trainer" / (name + "_" + std::to_string(world()->rank()))
                               : fresh_dir(name);
    if (alone) fs::remove_all(dir);
    train::TrainingArguments t = args_for(dir, batch, 2);
    t.eval_strategy = "no";
    t.save_strategy = "no";
    t.gradient_accumulation_steps = accumulate;
    MLMTrainer trainer(m, t, blocks, std::nullopt, collate, nullptr);
    if (alone) trainer.set_process_group(std::make_shared<dist::SingleProcessGroup>());
    else trainer.set_process_group(world());
    const double loss = trainer.train().training_loss;
    std::vector<float> flat;
    for (const auto& p : m.parameters()) {
      const auto v = p.to_vector<float>();
      flat.insert(flat.end(), v.begin(), v.end());
    }
    return std::make_pair(flat, loss);
  };
  REQUIRE(blocks.size() >= 8);  // 2 steps of 4
  const auto single = trained(4, 1, true, "mlm_train_alone");
  for (const auto& [batch, accumulate] : {std::pair<std::int64_t, std::int64_t>{2, 1}, {1, 2}}) {
    const auto ranks = trained(batch, accumulate, false, "mlm_train_" + std::to_string(batch));
    INFO("batch " << batch << " x " << accumulate << " on 2 ranks");
    CHECK(max_difference(ranks.first, single.first) <= 1e-5);
    CHECK(ranks.second == Approx(single.second).epsilon(1e-5));
  }
}
