// tinyxf::train: TrainingArguments, metrics, progress output, the SVG curve, checkpoint folders,
// and the Trainer itself on a tiny DistilBERT (the real vocabulary, dim 16) over reviews from the
// shipped IMDB sample. The cross-process bit-exact resume check is tinyxf_resume_check
// (resume_main.cpp, run by resume_check.cmake).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <tuple>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tinyxf/tinyxf.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/data/language_modeling.hpp"
#include "tinyxf/models/distilbert/modeling.hpp"
#include "tinyxf/train/trainer.hpp"

using namespace tinyxf;
using namespace tinyxf::train;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

// ---- fixtures ---------------------------------------------------------------------------------

const text::BertTokenizer& tokenizer() {
  static const text::BertTokenizer tok =
      text::BertTokenizer::from_file(fs::path(TINYXF_SOURCE_DIR) / "share" / "vocab" / "bert-base-uncased-vocab.txt");
  return tok;
}

const std::vector<data::Review>& sample_reviews() {
  static const std::vector<data::Review> reviews = [] {
    auto all = data::read_imdb_csv(fs::path(TINYXF_SOURCE_DIR) / "share" / "data" / "imdb_sample.csv");
    all.resize(80);
    return all;
  }();
  return reviews;
}
std::vector<data::Review> train_reviews() { return {sample_reviews().begin(), sample_reviews().begin() + 64}; }
std::vector<data::Review> eval_reviews() { return {sample_reviews().begin() + 64, sample_reviews().end()}; }

// An empty scratch folder under the build tree.
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::path(TINYXF_BINARY_DIR) / "tests" / "train" / "scratch" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

models::DistilBertConfig tiny_config(double dropout = 0.1) {
  models::DistilBertConfig c;
  c.dim = 16;
  c.n_heads = 2;
  c.n_layers = 2;
  c.hidden_dim = 32;
  c.max_position_embeddings = 64;
  c.dropout = c.attention_dropout = dropout;
  c.seq_classif_dropout = dropout;
  return c;
}

// A one-layer BERT of width 16 with the real vocabulary, without dropout.
models::BertConfig tiny_bert_config() {
  models::BertConfig c;
  c.hidden_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 32;
  c.max_position_embeddings = 64;
  c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0.0;
  return c;
}

TrainingArguments tiny_args(const fs::path& output_dir) {
  TrainingArguments a;
  a.output_dir = output_dir.string();
  a.per_device_train_batch_size = 8;
  a.per_device_eval_batch_size = 8;
  a.learning_rate = 1e-3;
  a.max_length = 64;
  a.progress = "silent";
  return a;
}

using Model = models::DistilBertForSequenceClassification;

std::vector<json::Value> read_jsonl(const fs::path& path) {
  std::vector<json::Value> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

std::set<std::string> keys_of(const json::Value& v) {
  std::set<std::string> keys;
  for (const auto& [k, value] : v.as_object()) keys.insert(k);
  return keys;
}

// A minimal XML well-formedness check: one root, balanced and properly nested tags, quoted and
// unique attributes, only the predefined or numeric entities. Returns "" or what is wrong.
std::string xml_problem(const std::string& s) {
  auto valid_entity = [&](std::size_t amp) {
    const std::size_t semi = s.find(';', amp);
    if (semi == std::string::npos || semi - amp > 8) return false;
    const std::string name = s.substr(amp + 1, semi - amp - 1);
    return name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos" ||
           (name.size() > 1 && name[0] == '#');
  };
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.'; };
  std::vector<std::string> open;
  int roots = 0;
  std::size_t i = 0;
  if (s.starts_with("<?xml")) i = s.find("?>") + 2;
  while (i < s.size()) {
    const std::size_t lt = s.find('<', i);
    for (std::size_t j = i; j < std::min(lt, s.size()); ++j)
      if (s[j] == '&' && !valid_entity(j)) return "bad entity in text at " + std::to_string(j);
    if (lt == std::string::npos) break;
    if (open.empty() && s.substr(i, lt - i).find_first_not_of(" \n\r\t") != std::string::npos)
      return "text outside the root element";
    i = lt + 1;
    if (s.compare(i, 3, "!--") == 0) {
      i = s.find("-->", i);
      if (i == std::string::npos) return "unterminated comment";
      i += 3;
      continue;
    }
    const bool closing = s[i] == '/';
    if (closing) ++i;
    const std::size_t name_start = i;
    while (i < s.size() && name_char(s[i])) ++i;
    const std::string name = s.substr(name_start, i - name_start);
    if (name.empty()) return "empty tag name at " + std::to_string(name_start);
    if (closing) {
      if (open.empty() || open.back() != name) return "mismatched </" + name + ">";
      open.pop_back();
      if (s[i] != '>') return "junk in </" + name + ">";
      ++i;
      continue;
    }
    std::set<std::string> attributes;
    while (true) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (i >= s.size()) return "unterminated <" + name;
      if (s[i] == '>' || s.compare(i, 2, "/>") == 0) break;
      const std::size_t attr_start = i;
      while (i < s.size() && name_char(s[i])) ++i;
      const std::string attr = s.substr(attr_start, i - attr_start);
      if (attr.empty() || s[i] != '=' || s[i + 1] != '"') return "bad attribute in <" + name + ">";
      if (!attributes.insert(attr).second) return "duplicate attribute " + attr + " in <" + name + ">";
      const std::size_t value_end = s.find('"', i + 2);
      if (value_end == std::string::npos) return "unterminated attribute value";
      for (std::size_t j = i + 2; j < value_end; ++j) {
        if (s[j] == '<') return "'<' in an attribute value";
        if (s[j] == '&' && !valid_entity(j)) return "bad entity in an attribute value";
      }
      i = value_end + 1;
    }
    if (open.empty()) ++roots;
    if (s[i] == '>') {
      open.push_back(name);
      ++i;
    } else {
      i += 2;
    }
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  if (roots != 1) return std::to_string(roots) + " root elements";
  return "";
}

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

// ---- TrainingArguments ------------------------------------------------------------------------

TEST_CASE("TrainingArguments defaults follow Hugging Face", "[train][args]") {
  const TrainingArguments a;
  CHECK(a.learning_rate == 5e-5);
  CHECK(a.weight_decay == 0.0);
  CHECK(a.adam_beta1 == 0.9);
  CHECK(a.adam_beta2 == 0.999);
  CHECK(a.adam_epsilon == 1e-8);
  CHECK(a.max_grad_norm == 1.0);
  CHECK(a.label_smoothing_factor == 0.0);
  CHECK(a.num_train_epochs == 3.0);
  CHECK(a.max_steps == -1);
  CHECK(a.per_device_train_batch_size == 8);
  CHECK(a.logging_steps == 500);
  CHECK(a.save_steps == 500);
  CHECK(a.eval_strategy == "no");
  CHECK(a.save_strategy == "steps");
  CHECK(a.lr_scheduler_type == "linear");
  CHECK(a.optim == "adamw");
  CHECK(a.seed == 42);
}

TEST_CASE("TrainingArguments JSON round trip keeps every field", "[train][args]") {
  TrainingArguments a;
  a.output_dir = "runs/\"quoted\" dir";
  a.num_train_epochs = 2.5;
  a.max_steps = 123;
  a.time_budget_seconds = 90;
  a.per_device_train_batch_size = 16;
  a.per_device_eval_batch_size = 64;
  a.learning_rate = 3e-5;
  a.weight_decay = 0.01;
  a.adam_beta1 = 0.8;
  a.adam_beta2 = 0.98;
  a.adam_epsilon = 1e-6;
  a.max_grad_norm = 0.5;
  a.label_smoothing_factor = 0.1;
  a.warmup_steps = 7;
  a.warmup_ratio = 0.1;
  a.lr_scheduler_type = "constant_with_warmup";
  a.optim = "sgd";
  a.logging_steps = 10;
  a.eval_strategy = "epoch";
  a.eval_steps = 20;
  a.save_strategy = "no";
  a.save_steps = 30;
  a.save_total_limit = 2;
  a.metric_for_best_model = "eval_loss";
  a.prediction_loss_only = true;
  a.logging_nan_inf_filter = false;
  a.seed = 7;
  a.max_length = 128;
  a.truncation = "head_tail";
  a.head_tokens = 32;
  a.group_by_length = true;
  a.pad_to_multiple_of = 8;
  a.dataloader_drop_last = true;
  a.dataloader_prefetch_batches = 0;
  a.progress = "off";
  a.device = "reference";
  a.bf16 = true;
  a.report_to = {"tensorboard"};
  a.logging_dir = "tb logs";
  REQUIRE_NOTHROW(a.validate());
  const TrainingArguments b = TrainingArguments::from_json(json::parse(json::dump(a.to_json(), 2)));
  CHECK(b == a);
  CHECK_FALSE(b == TrainingArguments{});
  // Every field has its own key: a missing key keeps the default.
  CHECK(a.to_json().size() == 42);
  // lr_scheduler_kwargs: HF's dict, kept as given (null = the schedule's default).
  TrainingArguments polynomial;
  polynomial.output_dir = "out";
  polynomial.lr_scheduler_type = "polynomial";
  polynomial.lr_scheduler_kwargs = json::parse(R"({"lr_end": 1e-6, "power": 2, "lr_end_unused": null})");
  CHECK_THROWS_WITH(polynomial.validate(),
                    Contains("TrainingArguments: lr_scheduler_kwargs: get_polynomial_decay_schedule_with_warmup() got "
                             "an unexpected keyword argument 'lr_end_unused'"));  // a null key is still a key
  polynomial.lr_scheduler_kwargs = json::parse(R"({"lr_end": 1e-6, "power": 2, "min_lr": null})");
  CHECK_THROWS_WITH(polynomial.validate(), Contains("'min_lr' (lr scheduler \"polynomial\" takes only lr_end, power)"));
  polynomial.lr_scheduler_kwargs = json::parse(R"({"lr_end": 1e-6, "power": null})");
  REQUIRE_NOTHROW(polynomial.validate());
  CHECK(polynomial.schedule_kwargs() == optim::ScheduleKwargs{{"lr_end", 1e-6}});
  const TrainingArguments polynomial_back = TrainingArguments::from_json(json::parse(json::dump(polynomial.to_json(), 2)));
  CHECK(polynomial_back == polynomial);
  CHECK(polynomial_back.lr_scheduler_kwargs.at("lr_end").as_double() == 1e-6);
  CHECK(polynomial_back.lr_scheduler_kwargs.at("power").is_null());
  // HF also takes the kwargs as a JSON string.
  const TrainingArguments from_string = TrainingArguments::from_json(
      json::parse(R"({"lr_scheduler_type": "warmup_stable_decay", "lr_scheduler_kwargs": "{\"num_decay_steps\": 3, \"decay_type\": \"1-sqrt\"}"})"));
  CHECK(from_string.schedule_kwargs() == optim::ScheduleKwargs{{"num_decay_steps", 3.0}, {"decay_type", std::string("1-sqrt")}});
  CHECK_THROWS_WITH(TrainingArguments::from_json(json::parse(R"({"lr_scheduler_kwargs": [1]})")),
                    Contains("\"lr_scheduler_kwargs\": expected a JSON object, got array"));
  // (a time budget excludes accumulation, and load_best_model_at_end needs saves: those keys on their own)
  TrainingArguments accumulating;
  accumulating.output_dir = "out";
  accumulating.gradient_accumulation_steps = 4;
  accumulating.eval_strategy = accumulating.save_strategy = "epoch";
  accumulating.load_best_model_at_end = true;
  REQUIRE_NOTHROW(accumulating.validate());
  CHECK(TrainingArguments::from_json(json::parse(json::dump(accumulating.to_json()))) == accumulating);
  CHECK(TrainingArguments::from_json(json::parse("{}")) == TrainingArguments{});
}

TEST_CASE("TrainingArguments reports invalid settings clearly", "[train][args]") {
  auto with = [](auto change) {
    TrainingArguments a;
    a.output_dir = "out";
    change(a);
    return a;
  };
  CHECK_NOTHROW(with([](TrainingArguments&) {}).validate());
  CHECK_THROWS_WITH(TrainingArguments{}.validate(), Contains("output_dir must be set"));
  CHECK_THROWS_WITH(with([](auto& a) { a.num_train_epochs = 0; }).validate(), Contains("num_train_epochs must be > 0"));
  CHECK_NOTHROW(with([](auto& a) { a.num_train_epochs = 0, a.max_steps = 10; }).validate());
  CHECK_THROWS_WITH(with([](auto& a) { a.max_steps = 0; }).validate(), Contains("max_steps must be -1"));
  CHECK_THROWS_WITH(with([](auto& a) { a.per_device_train_batch_size = 0; }).validate(),
                    Contains("per_device_train_batch_size must be > 0"));
  CHECK_THROWS_WITH(with([](auto& a) { a.learning_rate = -1; }).validate(), Contains("learning_rate"));
  CHECK_THROWS_WITH(with([](auto& a) { a.adam_beta2 = 1.0; }).validate(), Contains("adam_beta2 must be in [0, 1)"));
  CHECK_THROWS_WITH(with([](auto& a) { a.warmup_ratio = 1.5; }).validate(), Contains("warmup_ratio must be in [0, 1]"));
  CHECK_THROWS_WITH(with([](auto& a) { a.label_smoothing_factor = 1.0; }).validate(),
                    Contains("label_smoothing_factor must be in [0, 1) (0: no smoothing), got 1"));
  CHECK_THROWS_WITH(with([](auto& a) { a.label_smoothing_factor = -0.1; }).validate(),
                    Contains("label_smoothing_factor must be in [0, 1) (0: no smoothing), got -0.1"));
  CHECK_THROWS_WITH(with([](auto& a) { a.label_smoothing_factor = std::nan(""); }).validate(),
                    Contains("label_smoothing_factor must be in [0, 1)"));
  CHECK_NOTHROW(with([](auto& a) { a.label_smoothing_factor = 0.999; }).validate());
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "step"; }).validate(),
                    Contains("lr_scheduler_type must be one of linear, cosine, cosine_with_restarts, polynomial, "
                             "constant, constant_with_warmup, inverse_sqrt, reduce_lr_on_plateau, cosine_with_min_lr, "
                             "warmup_stable_decay; got \"step\""));
  // HF's rule and message: the plateau schedule steps on the evaluation's metric.
  CHECK_THROWS_AS(with([](auto& a) { a.lr_scheduler_type = "reduce_lr_on_plateau"; }).validate(), ValueError);
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "reduce_lr_on_plateau"; }).validate(),
                    Contains("lr_scheduler_type reduce_lr_on_plateau requires an eval strategy"));
  CHECK_NOTHROW(with([](auto& a) { a.lr_scheduler_type = "reduce_lr_on_plateau"; a.eval_strategy = "epoch";
                                   a.lr_scheduler_kwargs = json::parse(R"({"mode": "max", "min_lr": [0, 1e-6]})"); }).validate());
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "reduce_lr_on_plateau"; a.eval_strategy = "epoch";
                                       a.lr_scheduler_kwargs = json::parse(R"({"power": 2})"); }).validate(),
                    Contains("lr_scheduler_kwargs: get_reduce_on_plateau_schedule() got an unexpected keyword argument 'power'"));
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "reduce_lr_on_plateau"; a.eval_strategy = "epoch";
                                       a.lr_scheduler_kwargs = json::parse(R"({"threshold_mode": "pct"})"); }).validate(),
                    Contains("lr_scheduler_kwargs: threshold mode pct is unknown!"));
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "reduce_lr_on_plateau"; a.eval_strategy = "epoch";
                                       a.lr_scheduler_kwargs = json::parse(R"({"min_lr": [0, "x"]})"); }).validate(),
                    Contains("lr_scheduler_kwargs \"min_lr\" must be a number, a string or a list of numbers"));
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "cosine_with_min_lr";
                                       a.lr_scheduler_kwargs = json::parse(R"({"min_lr_rate": "0.1"})"); }).validate(),
                    Contains("lr_scheduler_kwargs: get_cosine_with_min_lr_schedule_with_warmup: min_lr_rate must be a number"));
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_kwargs = json::parse(R"({"num_cycles": 2})"); }).validate(),
                    Contains("get_linear_schedule_with_warmup() got an unexpected keyword argument 'num_cycles' "
                             "(lr scheduler \"linear\" takes no keyword arguments)"));
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "cosine"; a.lr_scheduler_kwargs = json::parse(R"({"num_cycles": [2]})"); }).validate(),
                    Contains("lr_scheduler_kwargs: get_cosine_schedule_with_warmup: num_cycles must be a number"));
  for (const char* type : {"cosine_with_restarts", "polynomial", "inverse_sqrt"})
    CHECK_NOTHROW(with([&](auto& a) { a.lr_scheduler_type = type; }).validate());
  // Their required arguments are checked before training, with HF's messages.
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "warmup_stable_decay"; }).validate(),
                    Contains("get_wsd_schedule() missing 1 required positional argument: 'num_decay_steps'"));
  CHECK_THROWS_WITH(with([](auto& a) { a.lr_scheduler_type = "cosine_with_min_lr"; }).validate(),
                    Contains("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"));
  CHECK_THROWS_WITH(with([](auto& a) { a.optim = "adafactor"; }).validate(), Contains("optim must be one of adamw, adam, sgd"));
  CHECK_THROWS_WITH(with([](auto& a) { a.eval_strategy = "always"; }).validate(), Contains("eval_strategy must be one of"));
  CHECK_THROWS_WITH(with([](auto& a) { a.save_steps = 0; }).validate(), Contains("save_steps must be > 0"));
  CHECK_NOTHROW(with([](auto& a) { a.save_steps = 0, a.save_strategy = "no"; }).validate());
  CHECK_THROWS_WITH(with([](auto& a) { a.save_total_limit = 0; }).validate(), Contains("save_total_limit must be -1"));
  CHECK_THROWS_WITH(with([](auto& a) { a.logging_steps = 0; }).validate(), Contains("logging_steps must be > 0"));
  // HF adds the eval_ prefix a metric name lacks.
  CHECK_NOTHROW(with([](auto& a) { a.metric_for_best_model = "accuracy"; }).validate());
  CHECK(with([](auto& a) { a.metric_for_best_model = "accuracy"; }).best_metric_key() == "eval_accuracy");
  CHECK(with([](auto& a) { a.metric_for_best_model = "eval_f1"; }).best_metric_key() == "eval_f1");
  CHECK_FALSE(with([](auto& a) { a.metric_for_best_model = "loss"; }).greater_is_better());
  CHECK_THROWS_WITH(with([](auto& a) { a.max_length = 1; }).validate(), Contains("max_length must be >= 2"));
  CHECK_THROWS_WITH(with([](auto& a) { a.truncation = "middle"; }).validate(),
                    Contains("truncation must be one of head, tail, head_tail; got \"middle\""));
  CHECK_THROWS_WITH(with([](auto& a) { a.max_length = 64, a.head_tokens = 63; }).validate(),
                    Contains("head_tokens must be -1 (a quarter of max_length) or in [0, max_length - 2 = 62], got 63"));
  CHECK(with([](auto& a) { a.max_length = 256; }).effective_head_tokens() == 64);
  CHECK(with([](auto& a) { a.max_length = 512, a.head_tokens = 128; }).effective_head_tokens() == 128);
  CHECK_THROWS_WITH(with([](auto& a) { a.pad_to_multiple_of = -8; }).validate(), Contains("pad_to_multiple_of must be in"));
  CHECK_THROWS_WITH(with([](auto& a) { a.progress = "fancy"; }).validate(), Contains("progress must be one of auto, on, off, silent"));
  CHECK_THROWS_WITH(with([](auto& a) { a.device = "tpu"; }).validate(), Contains("device: Device::parse: unknown device 'tpu'"));
  CHECK_THROWS_WITH(with([](auto& a) { a.report_to = {"wandb"}; }).validate(),
                    Contains("report_to must be one of none, all, tensorboard; got \"wandb\""));
  CHECK_THROWS_WITH(with([](auto& a) { a.report_to = {"none", "tensorboard"}; }).validate(),
                    Contains("\"none\" cannot be combined"));
  CHECK(with([](auto& a) { a.report_to = {"all"}; }).reports_to("tensorboard"));
  CHECK_FALSE(with([](auto&) {}).reports_to("tensorboard"));  // HF 5's default: "none"
  // report_to takes HF's two JSON forms: one string or a list.
  CHECK(TrainingArguments::from_json(json::parse(R"({"report_to": "tensorboard"})")).report_to ==
        std::vector<std::string>{"tensorboard"});
  CHECK(TrainingArguments::from_json(json::parse(R"({"report_to": ["all"]})")).report_to == std::vector<std::string>{"all"});
  // Upper bounds (issue 11): values a config file or a typo can carry must not reach the step
  // arithmetic or the data loader's allocations.
  CHECK_THROWS_WITH(with([](auto& a) { a.per_device_train_batch_size = std::int64_t{1} << 40; }).validate(),
                    Contains("per_device_train_batch_size must be at most 1048576, got 1099511627776"));
  CHECK_THROWS_WITH(with([](auto& a) { a.max_length = std::int64_t{1} << 62; }).validate(),
                    Contains("max_length must be at most 1048576"));
  CHECK_THROWS_WITH(with([](auto& a) { a.max_steps = std::int64_t{1} << 62; }).validate(),
                    Contains("max_steps must be at most 1099511627776"));
  CHECK_THROWS_WITH(with([](auto& a) { a.num_train_epochs = 1e300; }).validate(),
                    Contains("num_train_epochs must be at most 1e+06"));
  CHECK_NOTHROW(with([](auto& a) { a.num_train_epochs = 1e300, a.max_steps = 10; }).validate());  // ignored then
  CHECK_THROWS_WITH(with([](auto& a) { a.save_steps = std::int64_t{1} << 62; }).validate(),
                    Contains("save_steps must be at most"));
  CHECK_THROWS_WITH(with([](auto& a) { a.dataloader_prefetch_batches = 1 << 20; }).validate(),
                    Contains("dataloader_prefetch_batches must be at most 1024"));

  CHECK_THROWS_WITH(TrainingArguments::from_json(json::parse(R"({"leaning_rate": 1e-4})")),
                    Contains("unknown setting \"leaning_rate\""));
  CHECK_THROWS_WITH(TrainingArguments::from_json(json::parse(R"({"max_steps": "ten"})")),
                    Contains("\"max_steps\": json: expected integer, got string"));
  CHECK_THROWS_WITH(TrainingArguments::from_json(json::parse("[1]")), Contains("expected a JSON object"));
}

TEST_CASE("Step counting follows Hugging Face", "[train][args]") {
  TrainingArguments a;
  // IMDB train split, N = 25,000 (semantics.md 4.6).
  CHECK(a.steps_per_epoch(25000) == 3125);
  CHECK(a.total_training_steps(3125) == 9375);
  a.per_device_train_batch_size = 16;
  CHECK(a.steps_per_epoch(25000) == 1563);
  CHECK(a.total_training_steps(1563) == 4689);
  a.dataloader_drop_last = true;
  CHECK(a.steps_per_epoch(25000) == 1562);
  CHECK_THROWS_WITH(a.steps_per_epoch(15), Contains("leaves no complete batch"));
  CHECK_THROWS_WITH(a.steps_per_epoch(0), Contains("training dataset is empty"));
  a.dataloader_drop_last = false;
  a.num_train_epochs = 2.5;
  CHECK(a.total_training_steps(3) == 8);  // ceil(7.5)
  a.max_steps = 10;
  CHECK(a.total_training_steps(1563) == 10);  // max_steps wins over the epochs

  // Warmup: warmup_steps when > 0, else ceil(T · warmup_ratio).
  a.warmup_ratio = 0.1;
  CHECK(a.num_warmup_steps(9375) == 938);
  CHECK(a.num_warmup_steps(10) == 1);
  a.warmup_steps = 5;
  CHECK(a.num_warmup_steps(9375) == 5);
  a.warmup_steps = 0;
  a.warmup_ratio = 0;
  CHECK(a.num_warmup_steps(9375) == 0);

  CHECK(a.effective_eval_steps() == a.logging_steps);
  a.eval_steps = 7;
  CHECK(a.effective_eval_steps() == 7);
}

// ---- metrics ----------------------------------------------------------------------------------

TEST_CASE("Binary metrics on known predictions", "[train][metrics]") {
  //            TP FP TN FN TP TN FP TN
  const std::vector<std::int64_t> predictions{1, 1, 0, 0, 1, 0, 1, 0};
  const std::vector<std::int64_t> labels{1, 0, 0, 1, 1, 0, 0, 0};
  const ConfusionCounts c = confusion_counts(predictions, labels);
  CHECK(c == ConfusionCounts{2, 2, 3, 1});
  CHECK(c.total() == 8);
  CHECK(accuracy(predictions, labels) == 5.0 / 8.0);
  const BinaryScores s = binary_scores(c);
  CHECK(s.precision == 2.0 / 4.0);
  CHECK(s.recall == 2.0 / 3.0);
  CHECK(s.f1 == Approx(2 * 0.5 * (2.0 / 3.0) / (0.5 + 2.0 / 3.0)));  // harmonic mean = 4/7
  CHECK(s.f1 == 4.0 / 7.0);

  // No positive prediction: precision (and F1) are 0, not NaN (scikit-learn's zero_division=0).
  const BinaryScores none = binary_scores(confusion_counts({0, 0, 0}, {1, 0, 1}));
  CHECK(none.precision == 0.0);
  CHECK(none.recall == 0.0);
  CHECK(none.f1 == 0.0);
  CHECK_THROWS_WITH(accuracy({1}, {1, 0}), Contains("1 predictions but 2 labels"));
}

TEST_CASE("default_compute_metrics takes the argmax of the logits", "[train][metrics]") {
  // Rows predict 1, 0, 1, 0 (the last row is a tie: the first maximum wins, as numpy's argmax).
  const Tensor logits = Tensor::from_vector(std::vector<float>{-1.f, 2.f, 3.f, 0.5f, 0.f, 0.1f, 0.7f, 0.7f}, {4, 2});
  const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{1, 1, 1, 0}, {4});
  CHECK(argmax_rows(logits) == std::vector<std::int64_t>{1, 0, 1, 0});
  const Metrics m = default_compute_metrics(EvalPrediction{logits, labels});
  CHECK(m.at("accuracy") == 0.75);
  CHECK(m.at("precision") == 1.0);
  CHECK(m.at("recall") == 2.0 / 3.0);
  CHECK(m.at("f1") == 0.8);
  CHECK(m.size() == 4);
  // Three classes: accuracy only.
  const Tensor three = Tensor::from_vector(std::vector<float>{0.f, 0.f, 1.f, 1.f, 0.f, 0.f}, {2, 3});
  const Metrics m3 = default_compute_metrics(EvalPrediction{three, Tensor::from_vector(std::vector<std::int64_t>{2, 1}, {2})});
  CHECK(m3.size() == 1);
  CHECK(m3.at("accuracy") == 0.5);
}

// ---- progress ---------------------------------------------------------------------------------

TEST_CASE("Progress output: styles, durations, lines and the live bar", "[train][progress]") {
  CHECK(resolve_progress_style("auto", true) == ProgressStyle::bar);
  CHECK(resolve_progress_style("auto", false) == ProgressStyle::lines);
  CHECK(resolve_progress_style("on", false) == ProgressStyle::bar);
  CHECK(resolve_progress_style("off", true) == ProgressStyle::lines);
  CHECK(resolve_progress_style("silent", true) == ProgressStyle::silent);
  CHECK(format_duration(0) == "00:00");
  CHECK(format_duration(83) == "01:23");
  CHECK(format_duration(3 * 3600 + 12 * 60 + 5) == "3:12:05");
  CHECK(format_duration(-1) == "--:--");
  CHECK(format_metric("learning_rate", 5e-5) == "5.000e-05");
  CHECK(format_metric("loss", 0.693147) == "0.6931");

  const json::Value entry = json::parse(R"({"step": 4, "epoch": 0.5, "loss": 0.69314718, "learning_rate": 2.5e-05})");
  {
    std::ostringstream out;
    ProgressReporter lines(ProgressStyle::lines, 8, 0, out);
    lines.on_step(4, 0.7, 2.5e-5, 32);
    CHECK(out.str().empty());  // lines mode prints only log events
    lines.on_log(entry);
    CHECK_THAT(out.str(), Contains("[step 4/8] epoch 0.50 loss 0.6931 learning_rate 2.500e-05 | "));
    CHECK_THAT(out.str(), Contains("samples/s | elapsed "));
    CHECK(out.str().find('\r') == std::string::npos);
  }
  {
    std::ostringstream out;
    ProgressReporter bar(ProgressStyle::bar, 8, 0, out);
    bar.on_step(4, 0.7, 2.5e-5, 32);
    CHECK_THAT(out.str(), Contains("\r4/8 ["));
    CHECK_THAT(out.str(), Contains(" 50% | loss 0.7000 | lr 2.500e-05 | "));
    bar.on_log(entry);  // printed above the bar, which is redrawn after it
    CHECK_THAT(out.str(), Contains("\r\x1b[K[step 4/8] epoch 0.50 loss 0.6931"));
    bar.finish();
    CHECK(out.str().back() == '\n');
    CHECK(bar.bar_text(40).size() <= 40);
  }
  {
    std::ostringstream out;
    ProgressReporter silent(ProgressStyle::silent, 8, 0, out);
    silent.on_step(1, 0.7, 1e-5, 8);
    silent.on_log(entry);
    silent.finish();
    CHECK(out.str().empty());
  }
}

// ---- SVG --------------------------------------------------------------------------------------

TEST_CASE("The training curve SVG is well-formed XML with a loss and an accuracy series", "[train][svg]") {
  json::Array history;
  for (int step = 10; step <= 100; step += 10)
    history.push_back(json::parse(R"({"step": )" + std::to_string(step) + R"(, "loss": )" + std::to_string(1.0 / step) + "}"));
  history.push_back(json::parse(R"({"step": 50, "eval_accuracy": 0.81})"));
  history.push_back(json::parse(R"({"step": 100, "eval_accuracy": 0.87})"));
  history.push_back(json::parse(R"({"step": 100, "loss": null})"));  // a NaN loss is left out, not drawn
  CurvePlot plot = training_curve_plot(history, 120.0);
  plot.title = "tiny <run> & \"friends\"";  // escaped in the output
  const std::string svg = render_svg(plot);
  INFO(svg);
  CHECK(xml_problem(svg).empty());
  CHECK(count(svg, "<g class=\"series\"") == 2);
  CHECK_THAT(svg, Contains("data-label=\"training loss\" data-axis=\"left\""));
  CHECK_THAT(svg, Contains("data-label=\"validation accuracy\" data-axis=\"right\""));
  CHECK_THAT(svg, Contains("tiny &lt;run&gt; &amp; &quot;friends&quot;"));
  CHECK(count(svg, "<circle") == 2);  // one marker per evaluation
  CHECK_THAT(svg, Contains(">120<"));  // the x axis reaches the planned total

  // The checker itself rejects broken documents.
  CHECK_FALSE(xml_problem("<svg><g></svg>").empty());
  CHECK_FALSE(xml_problem("<svg a=\"1\" a=\"2\"/>").empty());
  CHECK_FALSE(xml_problem("<svg>a & b</svg>").empty());

  // No data at all still renders a valid (empty) chart.
  CHECK(xml_problem(render_svg(training_curve_plot({}))).empty());

  const Ticks t = nice_ticks(0, 0.93, 5);
  CHECK(t.step == Approx(0.2));
  CHECK(t.values.front() == 0.0);
  CHECK(t.values.back() == Approx(1.0));
  CHECK(nice_ticks(0, 9375, 8).step == 1000);
}

// ---- checkpoint folders -----------------------------------------------------------------------

TEST_CASE("Checkpoint folder names, listing, atomic commit and rotation", "[train][checkpoint]") {
  CHECK(checkpoint_step("checkpoint-500") == 500);
  CHECK_FALSE(checkpoint_step("checkpoint-500.tmp").has_value());
  CHECK_FALSE(checkpoint_step("checkpoint-").has_value());
  CHECK_FALSE(checkpoint_step("checkpoint-5x").has_value());
  CHECK_FALSE(checkpoint_step("ckpt-5").has_value());

  const fs::path dir = scratch("folders");
  for (int step : {10, 2, 30}) {
    CheckpointWriter w(dir, step);
    write_json_file(w.dir() / "marker.json", json::Value(step));
    CHECK(fs::is_directory(dir / (checkpoint_name(step) + ".tmp")));
    CHECK(w.commit() == dir / checkpoint_name(step));
    CHECK_FALSE(fs::exists(dir / (checkpoint_name(step) + ".tmp")));
  }
  {  // a writer that never commits (an exception on the way) leaves nothing behind
    CheckpointWriter abandoned(dir, 40);
    write_json_file(abandoned.dir() / "marker.json", json::Value(40));
  }
  CHECK_FALSE(fs::exists(dir / "checkpoint-40.tmp"));
  CHECK_FALSE(fs::exists(dir / "checkpoint-40"));
  // A process killed mid-write leaves a .tmp folder: it is not a checkpoint.
  fs::create_directories(dir / "checkpoint-99.tmp");
  fs::create_directories(dir / "not-a-checkpoint");
  const auto all = list_checkpoints(dir);
  REQUIRE(all.size() == 3);
  CHECK(all[0].step == 2);
  CHECK(all[2].step == 30);
  CHECK(latest_checkpoint(dir) == dir / "checkpoint-30");

  // Replacing a checkpoint of the same step swaps it whole.
  {
    CheckpointWriter again(dir, 10);
    write_json_file(again.dir() / "marker.json", json::Value(1010));
    again.commit();
  }
  CHECK(read_json_file(dir / "checkpoint-10" / "marker.json").as_int() == 1010);

  // Rotation: oldest first, never the newest, never the one to keep.
  CHECK(rotate_checkpoints(dir, -1).empty());
  const auto removed = rotate_checkpoints(dir, 1, dir / "checkpoint-2");
  CHECK(removed == std::vector<fs::path>{dir / "checkpoint-10"});
  CHECK(fs::exists(dir / "checkpoint-2"));
  CHECK(fs::exists(dir / "checkpoint-30"));
  rotate_checkpoints(dir, 1);
  CHECK(list_checkpoints(dir).size() == 1);
  CHECK(fs::exists(dir / "checkpoint-30"));

  remove_stale_checkpoint_temporaries(dir);
  CHECK_FALSE(fs::exists(dir / "checkpoint-99.tmp"));
  CHECK(fs::exists(dir / "not-a-checkpoint"));
}

TEST_CASE("TrainerState JSON round trip", "[train][checkpoint]") {
  TrainerState s;
  s.global_step = 1234;
  s.max_steps = 9375;
  s.steps_per_epoch = 1563;  // gradient accumulation over 2 batches
  s.batches_per_epoch = 3125;
  s.gradient_accumulation_steps = 2;
  s.epochs_completed = 0;
  s.batches_done_in_epoch = 1234;
  s.train_batch_size = 8;
  s.num_train_samples = 25000;
  s.total_loss = 0.1 + 0.2;  // not a short decimal: must come back exactly
  s.window_loss = std::numeric_limits<double>::quiet_NaN();
  s.window_steps = 34;
  s.best_metric = 0.875;
  s.best_global_step = 1000;
  s.best_model_checkpoint = "out/checkpoint-1000";
  s.log_history.push_back(json::parse(R"({"step": 500, "loss": 0.5})"));
  CHECK(s.epoch() == 1234.0 / 3125.0);
  const TrainerState r = TrainerState::from_json(json::parse(json::dump(s.to_json())));
  CHECK(r.global_step == 1234);
  CHECK(r.batches_done_in_epoch == 1234);
  CHECK(r.total_loss == s.total_loss);
  CHECK(std::isnan(r.window_loss));
  CHECK(r.window_steps == 34);
  CHECK(r.best_metric == 0.875);
  CHECK(r.best_model_checkpoint == s.best_model_checkpoint);
  CHECK(r.log_history.size() == 1);
  CHECK(r.steps_per_epoch == 1563);
  CHECK(r.batches_per_epoch == 3125);
  CHECK(r.gradient_accumulation_steps == 2);
  CHECK(r.epoch() == s.epoch());  // the fraction of the epoch's batches
  // A checkpoint written before gradient accumulation: one batch per step.
  json::Value old_format = s.to_json();
  old_format.as_object().erase("batches_per_epoch");
  old_format.as_object().erase("gradient_accumulation_steps");
  old_format["steps_per_epoch"] = 3125;
  const TrainerState from_old = TrainerState::from_json(old_format);
  CHECK(from_old.batches_per_epoch == 3125);
  CHECK(from_old.gradient_accumulation_steps == 1);
  json::Value broken = s.to_json();
  broken["batches_done_in_epoch"] = 4000;
  CHECK_THROWS_WITH(TrainerState::from_json(broken), Contains("inconsistent position"));
}

// ---- the Trainer ------------------------------------------------------------------------------

TEST_CASE("Trainer with lr_scheduler_type polynomial logs transformers' learning rates", "[train][trainer][lr_scheduler]") {
  // tests/data/optim/schedule_golden.json "trainer": get_scheduler("polynomial", AdamW(lr=1e-3),
  // num_warmup_steps=2, num_training_steps=8, {"lr_end": 1e-4, "power": 2}).get_last_lr() after
  // 0..8 steps (tests/reference/make_schedule_golden.py, transformers 5.25).
  const json::Value golden =
      json::parse_file(std::string(TINYXF_SOURCE_DIR) + "/tests/data/optim/schedule_golden.json").at("trainer");

  const fs::path out = scratch("polynomial");
  Generator init(7);
  Model model(tiny_config(), init);
  TrainingArguments args = tiny_args(out);
  args.learning_rate = golden.at("learning_rate").as_double();
  args.max_steps = golden.at("num_training_steps").as_int();
  args.warmup_steps = golden.at("num_warmup_steps").as_int();
  args.lr_scheduler_type = "polynomial";
  args.lr_scheduler_kwargs = golden.at("kwargs");
  args.logging_steps = 1;
  args.save_strategy = "no";
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  trainer.train();
  const auto& lrs = golden.at("lrs").as_array();
  std::int64_t logged = 0;
  for (const json::Value& line : read_jsonl(trainer.metrics_path())) {
    if (!line.contains("learning_rate")) continue;
    const std::int64_t step = line.at("step").as_int();
    INFO("step " << step);
    // Logged after the step: get_last_lr(), the lr of the next update (HF's).
    CHECK(line.at("learning_rate").as_double() == Approx(lrs.at(static_cast<std::size_t>(step)).as_double()).epsilon(1e-12));
    ++logged;
  }
  CHECK(logged == args.max_steps);

  // HF's polynomial decay divides by zero at the last step when warmup == total: refused up front.
  args.warmup_steps = args.max_steps;
  Trainer<Model> all_warmup(model, args, train_reviews(), eval_reviews(), tokenizer());
  CHECK_THROWS_WITH(all_warmup.train(), Contains("lr_scheduler_type \"polynomial\" needs fewer warmup steps (8) than "
                                                 "training steps (8)"));
}

TEST_CASE("Trainer logs metrics.jsonl, evaluates, draws the curve and saves checkpoints", "[train][trainer]") {
  const fs::path out = scratch("logging");
  Generator init(7);
  Model model(tiny_config(), init);
  TrainingArguments args = tiny_args(out);
  args.max_steps = 6;
  args.logging_steps = 2;
  args.eval_strategy = "steps";
  args.eval_steps = 3;
  args.save_steps = 2;
  args.save_total_limit = 2;
  args.metric_for_best_model = "eval_accuracy";
  args.report_to = {"tensorboard"};
  args.logging_dir = (out / "tb").string();
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  std::vector<std::int64_t> saved_steps, logged_steps;
  trainer.callbacks().on_save = [&](const fs::path& p) { saved_steps.push_back(*checkpoint_step(p.filename().string())); };
  bool curve_at_first_log = true;
  trainer.callbacks().on_log = [&](const json::Value& e) {
    if (logged_steps.empty()) curve_at_first_log = fs::exists(trainer.curve_path());
    logged_steps.push_back(e.at("step").as_int());
  };
  const TrainOutput result = trainer.train();
  CHECK(result.global_step == 6);
  CHECK(std::isfinite(result.training_loss));
  CHECK(result.metrics.at("train_loss") == result.training_loss);
  CHECK(result.metrics.at("epoch") == 6.0 / 8.0);
  CHECK(saved_steps == std::vector<std::int64_t>{2, 4, 6});

  const std::vector<json::Value> lines = read_jsonl(trainer.metrics_path());
  // step 2 log, 3 eval, 4 log, 6 log, 6 eval, final summary
  REQUIRE(lines.size() == 6);
  CHECK(logged_steps == std::vector<std::int64_t>{2, 3, 4, 6, 6, 6});
  const std::set<std::string> log_keys{"step", "epoch", "loss", "grad_norm", "learning_rate"};
  const std::set<std::string> eval_keys{"step", "epoch", "eval_loss", "eval_accuracy", "eval_precision", "eval_recall",
                                        "eval_f1", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"};
  CHECK(keys_of(lines[0]) == log_keys);
  CHECK(keys_of(lines[1]) == eval_keys);
  CHECK(keys_of(lines[2]) == log_keys);
  CHECK(keys_of(lines[3]) == log_keys);
  CHECK(keys_of(lines[4]) == eval_keys);
  CHECK(keys_of(lines[5]) == std::set<std::string>{"step", "epoch", "train_runtime", "train_samples_per_second",
                                                   "train_steps_per_second", "train_loss"});
  // learning_rate is get_last_lr(): the lr of the next update, base·(T − s)/T without warmup.
  CHECK(lines[0].at("learning_rate").as_double() == Approx(1e-3 * 4.0 / 6.0));
  CHECK(lines[2].at("learning_rate").as_double() == Approx(1e-3 * 2.0 / 6.0));
  CHECK(lines[3].at("learning_rate").as_double() == 0.0);
  CHECK(lines[0].at("epoch").as_double() == 2.0 / 8.0);
  // The logged loss is the mean over the window; the run's mean is their mean here.
  const double mean_of_windows =
      (lines[0].at("loss").as_double() + lines[2].at("loss").as_double() + lines[3].at("loss").as_double()) / 3;
  CHECK(result.training_loss == Approx(mean_of_windows).epsilon(1e-12));
  CHECK(lines[1].at("eval_accuracy").as_double() >= 0.0);
  CHECK(lines[1].at("eval_accuracy").as_double() <= 1.0);
  CHECK(lines[0].at("grad_norm").as_double() > 0.0);

  // The curve is drawn at checkpoints, evaluations, epoch ends and the end, not per log line.
  CHECK_FALSE(curve_at_first_log);
  // The curve: two series (loss, accuracy) plus the evaluation loss.
  const std::string svg = io::read_file(trainer.curve_path());
  CHECK(xml_problem(svg).empty());
  CHECK(count(svg, "<g class=\"series\"") == 3);
  CHECK_THAT(svg, Contains("data-label=\"validation accuracy\""));

  // save_total_limit 2 keeps the newest two (the best one, if older, is kept as well).
  const auto kept = list_checkpoints(out);
  const TrainerState& state = trainer.state();
  REQUIRE(state.best_metric.has_value());
  CHECK((state.best_global_step == 3 || state.best_global_step == 6));
  std::vector<std::int64_t> kept_steps;
  for (const auto& c : kept) kept_steps.push_back(c.step);
  CHECK(kept_steps == std::vector<std::int64_t>{4, 6});
  for (const char* file : {"model.safetensors", "config.json", "optimizer.safetensors", "optimizer.json", "scheduler.json",
                           "rng_state.json", "trainer_state.json", "training_args.json"})
    CHECK(fs::is_regular_file(out / "checkpoint-6" / file));
  // The tokenizer is the processing class (HF's Trainer(processing_class=tokenizer)): every
  // checkpoint holds what tokenizer.save_pretrained writes (transformers 5.25: tokenizer.json and
  // tokenizer_config.json; tinyxf adds vocab.txt), and save_model writes it with the model.
  REQUIRE(trainer.processing_class() != nullptr);
  trainer.save_model(out / "final");
  for (const fs::path& folder : {out / "checkpoint-4", out / "checkpoint-6", out / "final"}) {
    for (const char* file : {"tokenizer.json", "tokenizer_config.json", "vocab.txt"})
      CHECK(fs::is_regular_file(folder / file));
    CHECK(read_json_file(folder / "tokenizer_config.json").at("tokenizer_class").as_string() == "DistilBertTokenizer");
    const text::BertTokenizer back = models::load_pretrained_tokenizer(folder);
    CHECK(back.vocab().size() == tokenizer().vocab().size());
    CHECK(back.encode("a wonderful film").ids == tokenizer().encode("a wonderful film").ids);
  }
  const json::Value saved_state = read_json_file(out / "checkpoint-6" / "trainer_state.json");
  CHECK(saved_state.at("global_step").as_int() == 6);
  CHECK(saved_state.at("log_history").size() == 5);  // everything before the final summary
  CHECK(TrainingArguments::from_json(read_json_file(out / "checkpoint-6" / "training_args.json")) == trainer.args());
  CHECK(models::DistilBertConfig::load(out / "checkpoint-6" / "config.json").dim == 16);
  // The checkpoint's weights are the model's.
  const auto saved_weights = io::load_float_tensors(out / "checkpoint-6" / "model.safetensors");
  const auto live = model.state_dict();
  REQUIRE(saved_weights.size() == live.size());
  for (std::size_t i = 0; i < live.size(); ++i) {
    CHECK(saved_weights[i].first == live[i].first);
    CHECK(saved_weights[i].second.to_vector<float>() == live[i].second.to_vector<float>());
  }

  // evaluate() and predict() after training.
  const Metrics m = trainer.evaluate();
  CHECK(m.count("eval_f1") == 1);
  CHECK(read_jsonl(trainer.metrics_path()).size() == 7);
  const PredictionOutput p = trainer.predict(eval_reviews());
  CHECK(p.predictions.shape() == Shape{16, 2});
  std::vector<std::int64_t> expected_labels;
  for (const auto& r : eval_reviews()) expected_labels.push_back(r.label);
  CHECK(p.label_ids.to_vector<std::int64_t>() == expected_labels);
  CHECK(p.metrics.at("test_accuracy") == m.at("eval_accuracy"));
  CHECK(p.metrics.at("test_loss") == m.at("eval_loss"));
  CHECK(model.is_training());  // evaluation restores the mode it found

  // TensorBoard got every log entry's numbers under HF's tags (3 training logs, 3 evaluations,
  // the summary) and the arguments as text; tests/train/tensorboard_test.cpp checks the encoding.
  std::vector<fs::path> event_files;
  for (const auto& e : fs::directory_iterator(out / "tb")) event_files.push_back(e.path());
  REQUIRE(event_files.size() == 1);
  const std::vector<std::string> events = read_tfrecords(event_files[0]);
  const auto events_with = [&](const std::string& tag) {
    return std::count_if(events.begin(), events.end(), [&](const std::string& e) { return e.find(tag) != std::string::npos; });
  };
  CHECK(events_with("brain.Event:2") == 1);
  CHECK(events_with("args/text_summary") == 1);
  CHECK(events_with("train/loss") == 3);
  CHECK(events_with("train/grad_norm") == 3);
  CHECK(events_with("eval/accuracy") == 3);
  CHECK(events_with("train/train_runtime") == 1);
  CHECK(events_with("train/epoch") == 7);
  CHECK(events_with("train/step") == 0);
}

TEST_CASE("Resuming with \"last\" ignores a half-written checkpoint folder", "[train][trainer][checkpoint]") {
  const fs::path out = scratch("kill");
  TrainingArguments args = tiny_args(out);
  args.max_steps = 8;
  args.logging_steps = 2;
  args.save_steps = 3;
  std::vector<double> straight_losses;
  {
    Generator init(3);
    Model model(tiny_config(), init);
    Trainer<Model> trainer(model, args, train_reviews(), std::nullopt, tokenizer());
    // Stop right after the checkpoint at step 3, as if killed while writing the next one.
    trainer.callbacks().on_step_end = [](const TrainerState& s) { return s.global_step == 3; };
    CHECK(trainer.train().global_step == 3);
  }
  fs::create_directories(out / "checkpoint-6.tmp");
  write_json_file(out / "checkpoint-6.tmp" / "trainer_state.json", json::parse("{}"));
  CHECK(resolve_checkpoint(out, "last") == out / "checkpoint-3");

  Generator other_init(99);  // different initial weights: the checkpoint must replace them
  Model model(tiny_config(), other_init);
  Trainer<Model> trainer(model, args, train_reviews(), std::nullopt, tokenizer());
  const TrainOutput result = trainer.train("last");
  CHECK(result.global_step == 8);
  CHECK_FALSE(fs::exists(out / "checkpoint-6.tmp"));  // cleaned up by the next save
  CHECK(fs::is_directory(out / "checkpoint-6"));
  // metrics.jsonl continues from the checkpoint's log: steps 2 (first process), 4, 6, 8, summary.
  std::vector<std::int64_t> steps;
  for (const auto& line : read_jsonl(trainer.metrics_path())) steps.push_back(line.at("step").as_int());
  CHECK(steps == std::vector<std::int64_t>{2, 4, 6, 8, 8});

  // A different batch size changes the meaning of the saved position: refused.
  TrainingArguments other = args;
  other.per_device_train_batch_size = 4;
  Trainer<Model> mismatched(model, other, train_reviews(), std::nullopt, tokenizer());
  CHECK_THROWS_WITH(mismatched.train(out.string() + "/checkpoint-3"), Contains("batch size or dataloader_drop_last changed"));
  fs::create_directories(out / "half");
  write_json_file(out / "half" / "trainer_state.json", json::parse("{}"));
  CHECK_THROWS_WITH(mismatched.train((out / "half").string()), Contains("has no model.safetensors (not a complete Trainer checkpoint)"));
  const fs::path empty = scratch("kill-empty");
  TrainingArguments nowhere = args;
  nowhere.output_dir = empty.string();
  Trainer<Model> fresh(model, nowhere, train_reviews(), std::nullopt, tokenizer());
  CHECK_THROWS_WITH(fresh.train("last"), Contains("no checkpoint-<step> folder"));
}

TEST_CASE("A run that throws still leaves its training curve", "[train][trainer][svg]") {
  const fs::path out = scratch("curve_on_throw");
  Generator init(7);
  Model model(tiny_config(), init);
  TrainingArguments args = tiny_args(out);
  args.max_steps = 4;
  args.logging_steps = 1;
  args.save_strategy = "no";
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  trainer.callbacks().on_step_end = [](const TrainerState& state) -> bool {
    if (state.global_step == 2) throw Error("stop here");
    return false;
  };
  CHECK_THROWS_WITH(trainer.train(), Contains("stop here"));
  const std::string svg = io::read_file(trainer.curve_path());
  CHECK(xml_problem(svg).empty());
  CHECK_THAT(svg, Contains("<g class=\"series\""));
}

TEST_CASE("Epoch strategies evaluate and save at each epoch end, the last partial one included", "[train][trainer]") {
  const fs::path out = scratch("epochs");
  Generator init(5);
  Model model(tiny_config(), init);
  TrainingArguments args = tiny_args(out);
  args.num_train_epochs = 1.5;  // T = ceil(1.5 · 8) = 12: one full epoch and half of the next
  args.logging_steps = 100;
  args.eval_strategy = "epoch";
  args.save_strategy = "epoch";
  args.optim = "sgd";
  args.lr_scheduler_type = "constant";
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  std::vector<std::pair<std::int64_t, std::int64_t>> epoch_ends;  // (global_step, epochs_completed)
  trainer.callbacks().on_epoch_end = [&](const TrainerState& s, double seconds) {
    CHECK(seconds >= 0);
    epoch_ends.emplace_back(s.global_step, s.epochs_completed);
  };
  CHECK(trainer.train().global_step == 12);
  CHECK(epoch_ends == std::vector<std::pair<std::int64_t, std::int64_t>>{{8, 1}, {12, 1}});
  CHECK(trainer.optimizer()->kind() == "SGD");
  CHECK(trainer.lr_scheduler()->get_last_lr().front() == 1e-3);
  std::vector<std::int64_t> eval_steps;
  for (const auto& line : read_jsonl(trainer.metrics_path()))
    if (line.contains("eval_loss")) eval_steps.push_back(line.at("step").as_int());
  CHECK(eval_steps == std::vector<std::int64_t>{8, 12});
  const TrainerState at8 = TrainerState::from_json(read_json_file(out / "checkpoint-8" / "trainer_state.json"));
  CHECK(at8.epochs_completed == 1);
  CHECK(at8.batches_done_in_epoch == 0);
  CHECK(at8.epoch() == 1.0);
  const TrainerState at12 = TrainerState::from_json(read_json_file(out / "checkpoint-12" / "trainer_state.json"));
  CHECK(at12.epochs_completed == 1);
  CHECK(at12.batches_done_in_epoch == 4);
  CHECK(at12.epoch() == 1.5);
  CHECK(read_json_file(out / "checkpoint-12" / "optimizer.json").at("optimizer").as_string() == "SGD");
}

TEST_CASE("The training curve is drawn at epoch ends and when train() returns, not per log event", "[train][svg]") {
  const fs::path out = scratch("curve_at_epoch_end");
  Generator init(3);
  Model model(tiny_config(), init);
  TrainingArguments args = tiny_args(out);
  args.num_train_epochs = 1.5;  // 12 steps: a full epoch of 8, then half of the next
  args.logging_steps = 1;       // a log event at every step
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  std::vector<std::string> curve_at_step;  // the SVG's text after each step, "" while it is missing
  trainer.callbacks().on_step_end = [&](const TrainerState&) {
    std::error_code ec;
    curve_at_step.push_back(fs::exists(trainer.curve_path(), ec) ? io::read_file(trainer.curve_path()) : "");
    return false;
  };
  trainer.train();
  REQUIRE(curve_at_step.size() == 12);
  // Eight log events in the first epoch, no curve until it ends.
  for (std::size_t step = 0; step < 8; ++step) CHECK(curve_at_step[step].empty());
  // Drawn once at the end of epoch 1, then left alone while epoch 2 logs more events, until the
  // checkpoint of the last step (save_strategy "steps" always saves there) draws it again.
  REQUIRE_FALSE(curve_at_step[8].empty());
  for (std::size_t step = 9; step < 11; ++step) CHECK(curve_at_step[step] == curve_at_step[8]);
  CHECK(curve_at_step[11] != curve_at_step[8]);
  // The final drawing (train() returning) holds the points of the second epoch too.
  const std::string final_curve = io::read_file(trainer.curve_path());
  CHECK(xml_problem(final_curve).empty());
  CHECK(final_curve != curve_at_step[8]);
  CHECK(final_curve.size() > curve_at_step[8].size());
}

TEST_CASE("Trainer rejects settings that need an evaluation set", "[train][trainer]") {
  Generator init(1);
  Model model(tiny_config(), init);
  TrainingArguments args = tiny_args(scratch("errors"));
  args.eval_strategy = "epoch";
  CHECK_THROWS_WITH(Trainer<Model>(model, args, train_reviews(), std::nullopt, tokenizer()),
                    Contains("eval_strategy \"epoch\" needs a non-empty eval_dataset"));
  args.eval_strategy = "no";
  CHECK_THROWS_WITH(Trainer<Model>(model, args, {}, std::nullopt, tokenizer()), Contains("training dataset is empty"));
  Trainer<Model> no_eval(model, args, train_reviews(), std::nullopt, tokenizer());
  CHECK_THROWS_WITH(no_eval.evaluate(), Contains("no eval_dataset was given"));
  // A shared model is kept alive by the Trainer.
  std::weak_ptr<Model> watch;
  {
    std::unique_ptr<Trainer<Model>> owner;
    {
      auto shared = std::make_shared<Model>(tiny_config(), init);
      watch = shared;
      owner = std::make_unique<Trainer<Model>>(shared, args, train_reviews(), std::nullopt, tokenizer());
    }
    CHECK_FALSE(watch.expired());
    CHECK(&owner->model() == watch.lock().get());
  }
  CHECK(watch.expired());
  CHECK_THROWS_WITH(Trainer<Model>(std::shared_ptr<Model>(), args, train_reviews(), std::nullopt, tokenizer()),
                    Contains("the model is null"));
}

TEST_CASE("Loss decreases on a tiny learnable task", "[train][trainer]") {
  // Sentiment carried by one word of each review; fillers are shared by both classes.
  const std::vector<std::string> positive{"great", "wonderful", "excellent", "brilliant"};
  const std::vector<std::string> negative{"terrible", "awful", "boring", "dreadful"};
  const std::vector<std::string> fillers{"the movie was", "i thought this film was", "honestly the plot is"};
  std::vector<data::Review> reviews;
  for (int i = 0; i < 64; ++i) {
    const int label = i % 2;
    const auto& words = label ? positive : negative;
    reviews.push_back({fillers[static_cast<std::size_t>(i % 3)] + " " + words[static_cast<std::size_t>(i / 2 % 4)], label});
  }
  // bf16 (forward and loss under autocast(bfloat16): bf16 GEMMs and attention, float32 weights)
  // learns it too, and the Trainer leaves the matmul precision and autocast state as they were.
  const bool bf16 = GENERATE(false, true);
  INFO("bf16 " << bf16);
  const fs::path out = scratch(bf16 ? "learnable-bf16" : "learnable");
  Generator init(11);
  Model model(tiny_config(0.0), init);
  TrainingArguments args = tiny_args(out);
  args.bf16 = bf16;
  args.max_steps = 60;
  args.learning_rate = 1e-2;  // a tiny random transformer sits on the ln 2 plateau for a while
  args.logging_steps = 5;
  args.save_strategy = "no";
  Trainer<Model> trainer(model, args, reviews, reviews, tokenizer());
  const double initial_loss = trainer.evaluate().at("eval_loss");
  trainer.train();
  const Metrics after = trainer.evaluate();
  std::vector<double> window_losses;
  for (const auto& line : read_jsonl(trainer.metrics_path()))
    if (line.contains("loss")) window_losses.push_back(line.at("loss").as_double());
  REQUIRE(window_losses.size() == 12);
  INFO("initial eval loss " << initial_loss << ", final " << after.at("eval_loss") << ", first window "
                            << window_losses.front() << ", last window " << window_losses.back());
  CHECK(window_losses.back() < 0.25 * window_losses.front());
  CHECK(after.at("eval_loss") < 0.25 * initial_loss);
  CHECK(after.at("eval_accuracy") == 1.0);
  CHECK(list_checkpoints(out).empty());  // save_strategy "no"
  CHECK(get_float32_matmul_precision() == "highest");
  CHECK_FALSE(autocast_enabled(DeviceType::cpu));
  for (const auto& p : model.parameters()) CHECK(p.dtype() == kFloat32);
}

TEST_CASE("Trainer on text pairs gives BERT their token_type_ids", "[train][trainer][pairs]") {
  // The label is told by the second text alone; the first is shared by both classes.
  const std::vector<std::string> positive{"yes", "correct", "true", "right"};
  const std::vector<std::string> negative{"no", "wrong", "false", "incorrect"};
  std::vector<data::TextPairExample> pairs;
  for (int i = 0; i < 48; ++i) {
    const int label = i % 2;
    pairs.push_back({i % 3 ? "is the answer in the passage" : "does the second text agree",
                     "the passage says " + (label ? positive : negative)[static_cast<std::size_t>(i / 2 % 4)], label});
  }
  const models::BertConfig c = tiny_bert_config();
  Generator init(3);
  models::BertForSequenceClassification model(c, init);
  const Tensor& types = model.bert->embeddings->token_type_embeddings->weight;
  const std::vector<float> type0 = types.narrow(0, 0, 1).to_vector<float>(), type1 = types.narrow(0, 1, 1).to_vector<float>();
  TrainingArguments args = tiny_args(scratch("pairs"));
  args.max_steps = 120;
  args.learning_rate = 1e-2;
  args.save_strategy = "no";
  Trainer<models::BertForSequenceClassification, std::vector<data::TextPairExample>> trainer(model, args, pairs, pairs,
                                                                                              tokenizer());
  trainer.train();
  const Metrics after = trainer.evaluate();
  INFO("eval loss " << after.at("eval_loss"));
  CHECK(after.at("eval_accuracy") == 1.0);
  // Both type embeddings were trained: the second texts' tokens reached the model as type 1.
  CHECK(types.narrow(0, 0, 1).to_vector<float>() != type0);
  CHECK(types.narrow(0, 1, 1).to_vector<float>() != type1);
}

TEST_CASE("Trainer on token classification: tags aligned to pieces, token-level evaluation", "[train][trainer][words]") {
  // Tag 1 for the city names, 0 for everything else; every example mixes both.
  const std::vector<std::string> cities{"paris", "london", "berlin", "madrid"};
  const std::vector<std::string> fillers{"we", "flew", "to", "and", "then", "unaffable"};
  std::vector<data::TokenClassificationExample> examples;
  for (std::size_t i = 0; i < 40; ++i) {
    data::TokenClassificationExample e;
    for (std::size_t w = 0; w < 3 + i % 4; ++w) {
      const bool city = (i + w) % 3 == 0;
      e.words.push_back(city ? cities[(i + w) % cities.size()] : fillers[(i * 7 + w) % fillers.size()]);
      e.tags.push_back(city ? 1 : 0);
    }
    examples.push_back(std::move(e));
  }
  const models::BertConfig c = tiny_bert_config();
  Generator init(4);
  models::BertForTokenClassification model(c, init);
  TrainingArguments args = tiny_args(scratch("token-classification"));
  args.max_steps = 60;
  args.learning_rate = 1e-2;
  args.save_strategy = "no";
  Trainer<models::BertForTokenClassification, std::vector<data::TokenClassificationExample>> trainer(
      model, args, examples, examples, tokenizer());
  trainer.train();
  const PredictionOutput out = trainer.predict(examples);
  // One prediction per word (each word's first piece), in dataset order.
  std::vector<std::int64_t> tags;
  for (const auto& e : examples) tags.insert(tags.end(), e.tags.begin(), e.tags.end());
  CHECK(out.label_ids.to_vector<std::int64_t>() == tags);
  CHECK(out.predictions.shape() == Shape{static_cast<std::int64_t>(tags.size()), 2});
  std::vector<std::int64_t> words_per_example;  // the sample boundaries of the rows
  for (const auto& e : examples) words_per_example.push_back(static_cast<std::int64_t>(e.words.size()));
  CHECK(out.sequence_lengths == words_per_example);
  // Entity scores over those sample boundaries: every city is one LOC entity, all found.
  const Metrics entities = seqeval_compute_metrics({"O", "B-LOC"})(
      EvalPrediction{out.predictions, out.label_ids, out.sequence_lengths});
  CHECK(entities.at("LOC_number") == static_cast<double>(std::count(tags.begin(), tags.end(), 1)));
  CHECK(entities.at("overall_f1") == 1.0);
  INFO("test loss " << out.metrics.at("test_loss"));
  CHECK(out.metrics.at("test_accuracy") == 1.0);
  // label_smoothing_factor: the evaluation loss is the smoothed cross-entropy over the labelled
  // tokens alone (-100 ignored, HF's LabelSmoother); one batch, so the mean over its tokens.
  TrainingArguments smoothed = args;
  smoothed.label_smoothing_factor = 0.1;
  smoothed.per_device_eval_batch_size = static_cast<std::int64_t>(examples.size());
  Trainer<models::BertForTokenClassification, std::vector<data::TokenClassificationExample>> smoothing(
      model, smoothed, examples, examples, tokenizer());
  const double smoothed_loss = smoothing.predict(examples).metrics.at("test_loss");
  CrossEntropyOptions by_hand;
  by_hand.label_smoothing = 0.1;
  CHECK(smoothed_loss == Approx(cross_entropy(out.predictions, out.label_ids, by_hand).item()).epsilon(1e-5));
  CHECK(smoothed_loss > cross_entropy(out.predictions, out.label_ids).item());  // a confident model pays for it
}

// Synthetic extractive QA: the answer is the city in a context of filler words; some contexts are
// longer than a window, so their examples have several features (and windows without the answer).
std::vector<data::QuestionAnsweringExample> city_questions(std::size_t count) {
  const std::vector<std::string> cities{"paris", "london", "berlin", "madrid"};
  const std::vector<std::string> fillers{"we", "flew", "to", "and", "then", "stayed", "there", "unaffable"};
  std::vector<data::QuestionAnsweringExample> examples;
  for (std::size_t i = 0; i < count; ++i) {
    data::QuestionAnsweringExample e;
    e.id = "q" + std::to_string(i);
    e.question = i % 2 ? "where did we go" : "  which city";  // run_qa strips the leading spaces
    const std::size_t words = 4 + i % 9, city_at = (i * 5) % words;
    const std::string& city = cities[i % cities.size()];
    for (std::size_t w = 0; w < words; ++w) {
      if (w) e.context += ' ';
      if (w == city_at) e.answers.push_back({city, e.context.size()});  // ASCII: bytes are characters
      e.context += w == city_at ? city : fillers[(i * 3 + w) % fillers.size()];
    }
    examples.push_back(std::move(e));
  }
  return examples;
}

TEST_CASE("Trainer on question answering: windows with start/end positions, span logits per feature", "[train][trainer][qa]") {
  const std::vector<data::QuestionAnsweringExample> examples = city_questions(32);
  const std::vector<data::QuestionAnsweringFeature> features =
      data::prepare_question_answering_features(examples, tokenizer(), {.max_length = 16, .doc_stride = 4, .threads = 2});
  REQUIRE(features.size() > examples.size());  // long contexts give several windows
  std::size_t without_answer = 0;
  for (const auto& f : features) {
    if (f.start_position == 0) {
      ++without_answer;
      continue;
    }
    // The positions decode to the answer.
    std::vector<text::TokenId> span(f.input_ids.begin() + f.start_position, f.input_ids.begin() + f.end_position + 1);
    CHECK(tokenizer().decode(span) == examples[f.example_index].answers[0].text);
  }
  CHECK(without_answer > 0);
  models::BertConfig c = tiny_bert_config();
  Generator init(5);
  models::BertForQuestionAnswering model(c, init);
  TrainingArguments args = tiny_args(scratch("question-answering"));
  args.max_steps = 80;
  args.learning_rate = 1e-2;
  args.save_strategy = "no";
  Trainer<models::BertForQuestionAnswering, std::vector<data::QuestionAnsweringFeature>> trainer(model, args, features,
                                                                                                features, tokenizer());
  const Metrics before = trainer.evaluate();
  CHECK_FALSE(before.contains("eval_accuracy"));  // no default metric for spans (HF: the loss only)
  {  // HF smooths only batches with "labels": the span loss stays the model's
    TrainingArguments smoothed = args;
    smoothed.label_smoothing_factor = 0.1;
    Trainer<models::BertForQuestionAnswering, std::vector<data::QuestionAnsweringFeature>> smoothing(
        model, smoothed, features, features, tokenizer());
    CHECK(smoothing.evaluate().at("eval_loss") == before.at("eval_loss"));
  }
  trainer.train();
  const PredictionOutput out = trainer.predict(features);
  INFO("eval loss before " << before.at("eval_loss") << ", after " << out.metrics.at("test_loss"));
  CHECK(out.metrics.at("test_loss") < 0.25 * before.at("eval_loss"));
  std::size_t longest = 0;
  for (const auto& f : features) longest = std::max(longest, f.input_ids.size());
  const auto N = static_cast<std::int64_t>(features.size()), S = static_cast<std::int64_t>(longest);
  REQUIRE(out.predictions.shape() == Shape{N, S, 2});
  REQUIRE(out.label_ids.shape() == Shape{N, 2});
  const std::vector<float> logits = out.predictions.to_vector<float>();
  const std::vector<std::int64_t> positions = out.label_ids.to_vector<std::int64_t>();
  std::size_t start_right = 0, end_right = 0;
  for (std::size_t i = 0; i < features.size(); ++i) {
    const auto& f = features[i];
    CHECK(positions[2 * i] == f.start_position);  // feature order, whatever the evaluation order
    CHECK(positions[2 * i + 1] == f.end_position);
    const float* row = logits.data() + i * longest * 2;
    std::size_t best_start = 0, best_end = 0;
    for (std::size_t t = 0; t < longest; ++t) {
      if (t >= f.input_ids.size()) {  // past the feature: HF's padding index
        CHECK(row[2 * t] == -100.0f);
        CHECK(row[2 * t + 1] == -100.0f);
        continue;
      }
      if (row[2 * t] > row[2 * best_start]) best_start = t;
      if (row[2 * t + 1] > row[2 * best_end + 1]) best_end = t;
    }
    start_right += static_cast<std::int64_t>(best_start) == f.start_position;
    end_right += static_cast<std::int64_t>(best_end) == f.end_position;
  }
  CHECK(start_right == features.size());
  CHECK(end_right == features.size());
  // Back to answer texts over every window of each example: all exact.
  const Metrics squad = squad_compute_metrics(examples, features)(EvalPrediction{out.predictions, out.label_ids});
  CHECK(squad.at("exact_match") == 100.0);
  CHECK(squad.at("f1") == 100.0);
}

TEST_CASE("Trainer: load_best_model_at_end loads the best checkpoint's weights", "[train][trainer]") {
  std::vector<data::Review> reviews = train_reviews();
  reviews.resize(16);
  TrainingArguments args = tiny_args(scratch("best-at-end"));
  args.per_device_train_batch_size = 4;
  args.max_steps = 4;
  args.learning_rate = 1e-2;
  args.eval_strategy = args.save_strategy = "steps";
  args.eval_steps = args.save_steps = 1;
  args.save_total_limit = 1;  // the best one is kept anyway
  args.load_best_model_at_end = true;
  args.metric_for_best_model = "eval_score";
  // Trains with a scripted metric (the i-th evaluation scores scores[i]): the weights after
  // train() and the state.
  const auto scripted = [&](const TrainingArguments& a, const std::vector<double>& scores) {
    std::size_t calls = 0;
    Generator g(31);
    Model m(tiny_config(), g);
    Trainer<Model> t(m, a, reviews, eval_reviews(), tokenizer(),
                     [&](const EvalPrediction&) { return Metrics{{"score", scores.at(calls++)}}; });
    t.train();
    CHECK(calls == scores.size());
    return std::make_pair(m.state_dict(), t.state());
  };
  const auto same_weights = [](const NamedTensors& x, const NamedTensors& y) {
    REQUIRE(x.size() == y.size());
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i].second.to_vector<float>() != y[i].second.to_vector<float>()) return false;
    return true;
  };
  const fs::path out(args.output_dir);
  // The evaluation after step 2 is the best.
  const auto [live, state] = scripted(args, {0.2, 0.9, 0.5, 0.1});
  CHECK(state.best_global_step == 2);
  CHECK(state.best_model_checkpoint == (out / "checkpoint-2").string());
  REQUIRE(fs::is_directory(out / "checkpoint-4"));
  CHECK(same_weights(io::load_float_tensors(out / "checkpoint-2" / "model.safetensors"), live));
  CHECK_FALSE(same_weights(io::load_float_tensors(out / "checkpoint-4" / "model.safetensors"), live));
  // Evaluations every step, saves every 2nd: only the saved evaluations compete (HF's), so the
  // loaded weights are always a checkpoint's — here step 2's, though steps 1 and 3 scored higher.
  TrainingArguments sparse_saves = args;
  sparse_saves.output_dir = scratch("best-at-end-saves").string();
  sparse_saves.save_steps = 2;
  const auto [loaded, sparse_state] = scripted(sparse_saves, {0.9, 0.6, 0.95, 0.5});
  CHECK(sparse_state.best_global_step == 2);
  CHECK(*sparse_state.best_metric == 0.6);
  CHECK(same_weights(io::load_float_tensors(fs::path(sparse_saves.output_dir) / "checkpoint-2" / "model.safetensors"), loaded));
  // Without a metric it is the lowest eval_loss (HF's default); strategies must match.
  TrainingArguments defaulted = args;
  defaulted.metric_for_best_model.clear();
  Generator init(31);
  Model other(tiny_config(), init);
  CHECK(Trainer<Model>(other, defaulted, reviews, eval_reviews(), tokenizer()).args().metric_for_best_model == "eval_loss");
  TrainingArguments mismatched = args;
  mismatched.save_strategy = "epoch";
  CHECK_THROWS_WITH(mismatched.validate(), Contains("load_best_model_at_end") && Contains("save_strategy"));
  mismatched = args;
  mismatched.eval_steps = 2;
  mismatched.save_steps = 3;
  CHECK_THROWS_WITH(mismatched.validate(), Contains("multiple of the evaluation steps"));
}

TEST_CASE("Trainer with reduce_lr_on_plateau steps torch's ReduceLROnPlateau on each evaluation's loss, and resumes",
          "[train][trainer][lr_scheduler][plateau]") {
  std::vector<data::Review> reviews = train_reviews();
  reviews.resize(16);
  const json::Value kwargs =
      json::parse(R"({"patience": 0, "threshold": 0.1, "cooldown": 1, "factor": 0.5, "min_lr": [1e-4, 2e-4]})");
  const auto make_args = [&](const std::string& name) {
    TrainingArguments args = tiny_args(scratch(name));
    args.per_device_train_batch_size = 4;  // 4 steps per epoch
    args.max_steps = 12;
    args.logging_steps = 1;
    args.eval_strategy = "steps";
    args.eval_steps = 2;
    args.save_steps = 4;
    args.lr_scheduler_type = "reduce_lr_on_plateau";
    args.lr_scheduler_kwargs = kwargs;
    args.warmup_steps = 3;  // ignored by the plateau schedule, as in transformers' get_scheduler
    return args;
  };
  const auto logged = [](const Trainer<Model>& trainer, const char* key) {
    std::vector<std::pair<std::int64_t, double>> out;
    for (const json::Value& line : read_jsonl(trainer.metrics_path()))
      if (line.contains(key)) out.emplace_back(line.at("step").as_int(), line.at(key).as_double());
    return out;
  };

  Generator init(5);
  Model model(tiny_config(), init);
  Trainer<Model> straight(model, make_args("plateau"), reviews, eval_reviews(), tokenizer());
  CHECK(straight.args().metric_for_best_model == "loss");  // HF's default with this schedule
  straight.train();
  const auto eval_losses = logged(straight, "eval_loss");
  const auto lrs = logged(straight, "learning_rate");
  REQUIRE(eval_losses.size() == 6);
  REQUIRE(lrs.size() == 12);

  // The expectation: torch's ReduceLROnPlateau (golden-tested in tinyxf_schedule_tests) fed the
  // logged evaluation losses, over an optimizer of the Trainer's two groups at learning_rate.
  std::vector<optim::ParamGroup> groups;
  for (int g = 0; g < 2; ++g) groups.push_back(optim::ParamGroup{{Tensor::zeros({1})}, {}, 1e-3, {}});
  optim::SGD reference_optimizer(std::move(groups), optim::SgdOptions{.lr = 1e-3});
  optim::LRScheduler reference = optim::get_scheduler("reduce_lr_on_plateau", reference_optimizer, {}, {},
                                                      straight.args().schedule_kwargs());
  std::size_t evaluated = 0;
  for (const auto& [step, lr] : lrs) {
    INFO("step " << step);
    // The step's log comes before its evaluation (HF's _maybe_log_save_evaluate).
    CHECK(lr == reference.get_last_lr()[0]);
    if (evaluated < eval_losses.size() && eval_losses[evaluated].first == step)
      reference.step(eval_losses[evaluated++].second);
  }
  CHECK(straight.optimizer()->param_groups()[1].lr == reference.get_last_lr()[1]);
  // The run reduced more than once (the schedule was exercised, not left at learning_rate).
  std::set<double> distinct;
  for (const auto& [step, lr] : lrs) distinct.insert(lr);
  CHECK(distinct.size() >= 3);
  const optim::ReduceLROnPlateau& final_state = *straight.lr_scheduler()->plateau();
  CHECK(final_state.best() == reference.plateau()->best());
  CHECK(final_state.last_epoch() == 6);

  // Resume: stopped after step 6, restarted from checkpoint-4 (its scheduler.json holds torch's keys).
  const TrainingArguments resume_args = make_args("plateau-resume");  // (an empty folder)
  {
    Generator again(5);
    Model first_model(tiny_config(), again);
    Trainer<Model> first(first_model, resume_args, reviews, eval_reviews(), tokenizer());
    first.callbacks().on_step_end = [](const TrainerState& s) { return s.global_step == 6; };
    first.train();
  }
  const fs::path checkpoint = fs::path(resume_args.output_dir) / "checkpoint-4";
  const json::Value saved = read_json_file(checkpoint / checkpoint_files::scheduler);
  CHECK(saved.at("lr_scheduler_type").as_string() == "reduce_lr_on_plateau");
  CHECK(saved.at("state").at("mode_worse").as_string() == "inf");
  CHECK(saved.at("state").at("last_epoch").as_int() == 2);
  CHECK(saved.at("state").at("default_min_lr").is_null());
  Generator other(99);
  Model resumed_model(tiny_config(), other);
  Trainer<Model> resumed(resumed_model, resume_args, reviews, eval_reviews(), tokenizer());
  resumed.train(checkpoint.string());
  CHECK(logged(resumed, "learning_rate") == lrs);
  CHECK(logged(resumed, "eval_loss") == eval_losses);
  CHECK(resumed.lr_scheduler()->plateau()->state_dict() == final_state.state_dict());

  // A metric the evaluation does not have: HF's KeyError, as an error naming it.
  TrainingArguments missing = make_args("plateau-missing");
  missing.metric_for_best_model = "f2";
  Trainer<Model> missing_metric(model, missing, reviews, eval_reviews(), tokenizer());
  CHECK_THROWS_WITH(missing_metric.train(), Contains("the `metric_for_best_model` training argument is set to "
                                                     "'eval_f2', which is not found in the evaluation metrics"));
}

TEST_CASE("Trainer: early_stopping stops after `patience` evaluations without improvement", "[train][trainer]") {
  std::vector<data::Review> reviews = train_reviews();
  reviews.resize(16);
  const auto run = [&](const std::string& name, std::int64_t patience, double threshold, const std::string& strategy) {
    TrainingArguments args = tiny_args(scratch(name));
    args.per_device_train_batch_size = 4;  // 4 steps per epoch
    args.max_steps = strategy == "epoch" ? 16 : 8;
    args.eval_strategy = args.save_strategy = strategy;
    args.eval_steps = args.save_steps = 1;
    args.load_best_model_at_end = true;
    args.metric_for_best_model = "eval_score";
    // Scripted: best 0.6 at the 2nd evaluation, then 0.55, 0.58 (no better), 0.65 (better by 0.05).
    const std::vector<double> scores = {0.5, 0.6, 0.55, 0.58, 0.65, 0.1, 0.1, 0.1};
    auto evaluations = std::make_shared<std::size_t>(0);
    Generator init(33);
    Model model(tiny_config(), init);
    Trainer<Model> trainer(model, args, reviews, eval_reviews(), tokenizer(),
                           [=](const EvalPrediction&) { return Metrics{{"score", scores.at((*evaluations)++)}}; });
    trainer.callbacks().on_evaluate = early_stopping(trainer.args(), patience, threshold);
    trainer.train();
    return std::make_tuple(trainer.state().global_step, *evaluations, trainer.state().best_global_step,
                           fs::is_directory(fs::path(args.output_dir) / checkpoint_name(trainer.state().global_step)));
  };
  // patience 2: evaluations 3 and 4 do not improve on 0.6: stop after step 4, its checkpoint saved.
  CHECK(run("early-2", 2, 0.0, "steps") == std::make_tuple(std::int64_t{4}, std::size_t{4}, std::int64_t{2}, true));
  // patience 3: the 5th evaluation improves: training goes on to 8, stops there anyway (3 more without).
  CHECK(run("early-3", 3, 0.0, "steps") == std::make_tuple(std::int64_t{8}, std::size_t{8}, std::int64_t{5}, true));
  // threshold 0.06: 0.65 is not better than 0.6 by more than that: stop after the 5th evaluation.
  CHECK(run("early-threshold", 3, 0.06, "steps") == std::make_tuple(std::int64_t{5}, std::size_t{5}, std::int64_t{5}, true));
  // Per epoch (4 steps, 4 epochs): 0.5, 0.6, then 0.55 at the end of the 3rd epoch stops it.
  CHECK(run("early-epoch", 1, 0.0, "epoch") == std::make_tuple(std::int64_t{12}, std::size_t{3}, std::int64_t{8}, true));
  TrainingArguments plain = tiny_args(scratch("early-refused"));
  CHECK_THROWS_WITH(early_stopping(plain, 2), Contains("load_best_model_at_end"));
}

// Largest |a - b| over every parameter of two models' named_parameters().
double max_parameter_difference(const std::vector<std::pair<std::string, Tensor>>& a,
                                const std::vector<std::pair<std::string, Tensor>>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::vector<float> x = a[i].second.to_vector<float>(), y = b[i].second.to_vector<float>();
    REQUIRE(x.size() == y.size());
    for (std::size_t j = 0; j < x.size(); ++j) worst = std::max(worst, static_cast<double>(std::abs(x[j] - y[j])));
  }
  return worst;
}

TEST_CASE("Trainer: gradient_accumulation_steps steps as one batch of the window's samples, and resumes exactly",
          "[train][trainer]") {
  // 20 reviews: batches of 8 (8, 8, 4) make the same steps as batches of 4 accumulated in twos
  // (4+4, 4+4, 4). SGD (a linear update) and no dropout, so that the two differ by rounding only.
  std::vector<data::Review> reviews = train_reviews();
  reviews.resize(20);
  TrainingArguments args = tiny_args(scratch("accumulate-8"));
  args.optim = "sgd";
  args.learning_rate = 0.5;
  args.num_train_epochs = 2;
  args.logging_steps = 1;
  args.save_strategy = "no";
  const auto train_with = [&](TrainingArguments a, const std::function<void(Trainer<Model>&)>& run) {
    Generator init(21);
    Model model(tiny_config(0.0), init);
    Trainer<Model> trainer(model, a, reviews, std::nullopt, tokenizer());
    run(trainer);
    return std::make_pair(model.named_parameters(), trainer.state());
  };
  const auto [whole, whole_state] = train_with(args, [](Trainer<Model>& t) { t.train(); });
  TrainingArguments accumulated = args;
  accumulated.output_dir = scratch("accumulate-4x2").string();
  accumulated.per_device_train_batch_size = 4;
  accumulated.gradient_accumulation_steps = 2;
  CHECK(accumulated.batches_per_epoch(20) == 5);
  CHECK(accumulated.steps_per_epoch(20) == 3);  // HF's ceil(5 / 2)
  const auto [parts, parts_state] = train_with(accumulated, [](Trainer<Model>& t) { t.train(); });
  CHECK(whole_state.global_step == 6);
  CHECK(parts_state.global_step == 6);
  CHECK(parts_state.batches_per_epoch == 5);
  CHECK(parts_state.epoch() == 2.0);
  const double moved = max_parameter_difference(whole, train_with(args, [](Trainer<Model>&) {}).first);
  INFO("parameters moved by up to " << moved);
  REQUIRE(moved > 1e-3);
  CHECK(max_parameter_difference(whole, parts) < 1e-5);
  // The logged loss of each step is the mean over the window's samples.
  std::vector<double> whole_losses, parts_losses;
  for (const json::Value& e : whole_state.log_history)
    if (e.find("loss")) whole_losses.push_back(e.at("loss").as_double());
  for (const json::Value& e : parts_state.log_history)
    if (e.find("loss")) parts_losses.push_back(e.at("loss").as_double());
  REQUIRE(whole_losses.size() == 6);
  REQUIRE(parts_losses.size() == 6);
  for (std::size_t i = 0; i < 6; ++i) CHECK(parts_losses[i] == Approx(whole_losses[i]).epsilon(1e-5));
  // Stopped after step 2 (4 of 5 batches of the first epoch) and resumed: the same parameters, bit for bit.
  TrainingArguments saving = accumulated;
  saving.output_dir = scratch("accumulate-resume").string();
  saving.save_strategy = "steps";
  saving.save_steps = 2;
  train_with(saving, [](Trainer<Model>& t) {
    t.callbacks().on_step_end = [](const TrainerState& st) { return st.global_step == 2; };
    t.train();
  });
  const auto [resumed, resumed_state] = train_with(saving, [](Trainer<Model>& t) { t.train("last"); });
  CHECK(resumed_state.global_step == 6);
  CHECK(max_parameter_difference(resumed, parts) == 0.0);
  // The checkpoint remembers its accumulation: another one cannot resume from it.
  TrainingArguments other = saving;
  other.gradient_accumulation_steps = 1;
  other.save_strategy = "no";
  const std::string checkpoint = (fs::path(saving.output_dir) / "checkpoint-2").string();
  CHECK_THROWS_WITH(train_with(other, [&](Trainer<Model>& t) { t.train(checkpoint); }),
                    Contains("gradient_accumulation_steps 2"));
  TrainingArguments bad = args;
  bad.gradient_accumulation_steps = 0;
  CHECK_THROWS_WITH(bad.validate(), Contains("gradient_accumulation_steps must be > 0"));
  bad.gradient_accumulation_steps = 2;
  bad.time_budget_seconds = 60;
  CHECK_THROWS_WITH(bad.validate(), Contains("time_budget_seconds") && Contains("gradient_accumulation_steps"));
}

TEST_CASE("Trainer on masked language modeling: blocks, fresh masks per epoch, loss-only evaluation, argmax ids for metrics, exact resume",
          "[train][trainer][mlm]") {
  using MLM = models::DistilBertForMaskedLM;
  using MLMTrainer = Trainer<MLM, data::LanguageModelingDataset, data::LanguageModelingCollator>;
  std::vector<std::string> train_texts, eval_texts;
  for (const auto& r : train_reviews()) train_texts.push_back(r.text);
  // A few evaluation texts: the dense head's check below computes 30,522 logits per token (slow under
  // the sanitizers; the parts below are blocks, not SECTIONs, so that this runs once).
  for (std::size_t i = 0; i < 4; ++i) eval_texts.push_back(eval_reviews()[i].text);
  const data::LanguageModelingDataset train_blocks = data::group_texts(train_texts, tokenizer(), {.block_size = 32});
  const data::LanguageModelingDataset eval_blocks = data::group_texts(eval_texts, tokenizer(), {.block_size = 32});
  REQUIRE(train_blocks.size() > 40);
  REQUIRE(eval_blocks.size() > 8);
  const fs::path out = scratch("mlm");
  TrainingArguments args = tiny_args(out);
  args.max_steps = 40;
  args.learning_rate = 1e-2;
  args.save_strategy = "no";
  const data::LanguageModelingCollator collate(tokenizer(), {.seed = args.seed});
  Generator init(11);
  MLM model(tiny_config(), init);
  model.sparse_prediction = true;
  MLMTrainer trainer(model, args, train_blocks, eval_blocks, collate, /*compute_metrics=*/nullptr);
  const Metrics before = trainer.evaluate();
  // No compute_metrics: the loss alone (HF's evaluate), about ln(vocabulary) untrained.
  CHECK(before.contains("eval_loss"));
  CHECK_FALSE(before.contains("eval_accuracy"));
  CHECK(std::abs(before.at("eval_loss") - std::log(30522.0)) < 1.0);
  // The evaluation's masks are the same every time (epoch 0): the same loss.
  CHECK(trainer.evaluate().at("eval_loss") == before.at("eval_loss"));
  trainer.train();
  const Metrics after = trainer.evaluate();
  INFO("eval loss before " << before.at("eval_loss") << ", after " << after.at("eval_loss"));
  CHECK(after.at("eval_loss") < before.at("eval_loss") - 2.0);
  // The dense head (every position, HF's logits) gives the same loss.
  model.sparse_prediction = false;
  CHECK(trainer.evaluate().at("eval_loss") == Approx(after.at("eval_loss")).epsilon(1e-5));
  model.sparse_prediction = true;

  {  // preprocess_logits_for_metrics (run_mlm's argmax ids) and compute_metrics on the masked tokens
    const auto argmax_ids = [](const Tensor& logits, const Tensor&) { return argmax(logits, -1); };
    const auto accuracy_of_ids = [](const EvalPrediction& p) {
      return Metrics{{"accuracy", accuracy(p.logits.to_vector<std::int64_t>(), p.labels.to_vector<std::int64_t>())}};
    };
    MLMTrainer with_ids(model, args, train_blocks, eval_blocks, collate, accuracy_of_ids, argmax_ids);
    const PredictionOutput ids = with_ids.predict(eval_blocks);
    REQUIRE(ids.predictions.dtype() == kInt64);
    const std::int64_t masked = ids.label_ids.numel();
    REQUIRE(masked > 20);
    REQUIRE(ids.predictions.shape() == Shape{masked, 1});
    CHECK(ids.metrics.at("test_loss") == Approx(after.at("eval_loss")).epsilon(1e-6));
    const std::vector<std::int64_t> predicted = ids.predictions.to_vector<std::int64_t>();
    const std::vector<std::int64_t> labels = ids.label_ids.to_vector<std::int64_t>();
    CHECK(ids.metrics.at("test_accuracy") == Approx(accuracy(predicted, labels)));
    CHECK(ids.metrics.at("test_accuracy") > 0.005);  // trained 40 steps: far above chance (1 / 30,522)
    // Without preprocessing the sparse head's rows (one per masked token) are gathered whole: the
    // same labels, and their argmax are the same ids.
    EvalPrediction rows;
    MLMTrainer with_logits(model, args, train_blocks, eval_blocks, collate, [&](const EvalPrediction& p) {
      rows = p;
      return Metrics{};
    });
    with_logits.predict(eval_blocks);
    REQUIRE(rows.logits.shape() == Shape{masked, 30522});
    CHECK(rows.labels.to_vector<std::int64_t>() == labels);
    CHECK(argmax_rows(rows.logits) == predicted);
    // The dense head's logits [B, S, V], preprocessed the same way: the same tokens in the same
    // order, the same ids (up to near-ties between float32 logits computed in another order).
    model.sparse_prediction = false;
    const PredictionOutput dense = with_ids.predict(eval_blocks);
    model.sparse_prediction = true;
    CHECK(dense.label_ids.to_vector<std::int64_t>() == labels);
    const std::vector<std::int64_t> dense_ids = dense.predictions.to_vector<std::int64_t>();
    REQUIRE(dense_ids.size() == predicted.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) differ += dense_ids[i] != predicted[i];
    CHECK(differ <= 1);
    // A preprocessing that keeps neither a row per token nor one per labelled token is refused.
    MLMTrainer wrong(model, args, train_blocks, eval_blocks, collate, accuracy_of_ids,
                     [](const Tensor& logits, const Tensor&) { return argmax(logits, 0); });
    CHECK_THROWS_WITH(wrong.evaluate(), Contains("preprocess_logits_for_metrics") && Contains("labelled tokens"));
  }

  {  // gradient accumulation weights each batch by its masked tokens: batches of 4 accumulated in
     // twos step as batches of 8 (the masks depend on the sample, not on the batching)
    const data::LanguageModelingDataset some = data::group_texts(
        std::vector<std::string>(train_texts.begin(), train_texts.begin() + 8), tokenizer(), {.block_size = 32});
    REQUIRE(some.size() >= 16);
    const auto run = [&](std::int64_t batch, std::int64_t accumulate, const std::string& name) {
      TrainingArguments a = args;
      a.output_dir = scratch(name).string();
      a.optim = "sgd";
      a.learning_rate = 0.5;
      a.max_steps = 2;
      a.per_device_train_batch_size = batch;
      a.gradient_accumulation_steps = accumulate;
      Generator g(5);
      MLM m(tiny_config(0.0), g);
      m.sparse_prediction = true;
      MLMTrainer t(m, a, some, std::nullopt, collate, nullptr);
      t.train();
      return std::make_pair(m.named_parameters(), t.state().total_loss);
    };
    const auto whole = run(8, 1, "mlm-accumulate-8");
    const auto parts = run(4, 2, "mlm-accumulate-4x2");
    CHECK(max_parameter_difference(whole.first, parts.first) < 1e-5);
    CHECK(parts.second == Approx(whole.second).epsilon(1e-5));
  }

  {  // predict with prediction_loss_only: the loss, no logits
    TrainingArguments loss_only = args;
    loss_only.prediction_loss_only = true;
    MLMTrainer predictor(model, loss_only, train_blocks, eval_blocks, collate, nullptr);
    const PredictionOutput p = predictor.predict(eval_blocks);
    CHECK_FALSE(p.predictions.defined());
    CHECK_FALSE(p.label_ids.defined());
    CHECK(p.metrics.at("test_loss") == Approx(after.at("eval_loss")).epsilon(1e-6));
  }

  {  // a batch without a masked token: loss NaN, zero gradients, logged by HF's nan/inf filter
    // One-word lines, batches of one: most samples draw no mask at probability 0.3.
    const data::LanguageModelingDataset words =
        data::group_texts(std::vector<std::string>(16, "wonderful"), tokenizer(), {.block_size = 8, .line_by_line = true});
    const data::LanguageModelingCollator sparse(tokenizer(), {.mlm_probability = 0.3, .seed = args.seed});
    struct Run {
      std::vector<double> logged;  // NaN where metrics.jsonl holds null
      double training_loss;
    };
    const auto run = [&](bool filter, std::int64_t logging_steps) {
      TrainingArguments a = args;
      a.output_dir = scratch("mlm-nan-" + std::to_string(filter) + std::to_string(logging_steps)).string();
      a.per_device_train_batch_size = 1;
      a.max_steps = 16;
      a.logging_steps = logging_steps;
      a.logging_nan_inf_filter = filter;
      Generator g(3);
      MLM m(tiny_config(), g);
      m.sparse_prediction = true;
      MLMTrainer t(m, a, words, std::nullopt, sparse, nullptr);
      Run r;
      r.training_loss = t.train().training_loss;
      bool finite_parameters = true;
      for (const auto& p : m.parameters())
        for (const float v : p.to_vector<float>()) finite_parameters = finite_parameters && std::isfinite(v);
      REQUIRE(finite_parameters);
      for (const auto& line : read_jsonl(t.metrics_path()))
        if (line.contains("loss"))
          r.logged.push_back(line.at("loss").is_null() ? std::nan("") : line.at("loss").as_double());
      return r;
    };
    // Every step's own loss (the filter changes no step, only what is logged).
    const Run raw = run(false, 1);
    REQUIRE(raw.logged.size() == 16);
    const auto nans = std::count_if(raw.logged.begin(), raw.logged.end(), [](double v) { return std::isnan(v); });
    REQUIRE(nans > 2);
    REQUIRE(nans < 16);
    CHECK(std::isnan(raw.training_loss));
    // HF: a non-finite step adds window / (1 + steps in the window so far); windows of 2.
    std::vector<double> expected;
    double total = 0;
    for (std::size_t w = 0; w < 16; w += 2) {
      double window = 0;
      for (std::size_t i = 0; i < 2; ++i) window += std::isfinite(raw.logged[w + i]) ? raw.logged[w + i] : window / (1.0 + static_cast<double>(i));
      expected.push_back(window / 2);
      total += window;
    }
    const Run filtered = run(true, 2);
    REQUIRE(filtered.logged.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(filtered.logged[i] == Approx(expected[i]).epsilon(1e-5));
    CHECK(filtered.training_loss == Approx(total / 16).epsilon(1e-5));

    // Evaluation in batches of one: the filtered loss is the mean over the samples that drew a mask.
    Generator g(4);
    MLM m(tiny_config(), g);
    m.sparse_prediction = true;
    m.eval();
    double sum = 0;
    std::size_t finite = 0;
    data::LanguageModelingCollator at_epoch0 = sparse;
    at_epoch0.set_epoch(0);
    for (std::size_t i = 0; i < words.size(); ++i) {
      NoGradGuard no_grad;
      const data::TextBatch b = at_epoch0(std::vector<data::LanguageModelingSample>{words.get(i)});
      const double loss = m.forward(b.input_ids, b.attention_mask, b.labels).loss.item();
      if (std::isfinite(loss)) sum += loss, ++finite;
    }
    REQUIRE(finite > 0);
    REQUIRE(finite < words.size());
    TrainingArguments eval_args = args;
    eval_args.per_device_eval_batch_size = 1;
    eval_args.output_dir = scratch("mlm-nan-eval").string();
    MLMTrainer evaluator(m, eval_args, words, words, sparse, nullptr);
    CHECK(evaluator.evaluate().at("eval_loss") == Approx(sum / static_cast<double>(finite)).epsilon(1e-6));
    eval_args.logging_nan_inf_filter = false;
    MLMTrainer unfiltered(m, eval_args, words, words, sparse, nullptr);
    CHECK(std::isnan(unfiltered.evaluate().at("eval_loss")));
  }

  {  // a run resumed from a checkpoint masks and trains exactly as the uninterrupted one
    // Few blocks, so that the run crosses into a second epoch (new masks) and resumes inside it.
    const data::LanguageModelingDataset few = data::group_texts(
        std::vector<std::string>(train_texts.begin(), train_texts.begin() + 3), tokenizer(), {.block_size = 32});
    const auto steps_per_epoch = static_cast<std::int64_t>((few.size() + 7) / 8);
    REQUIRE(steps_per_epoch >= 2);
    TrainingArguments resumable = args;
    resumable.max_steps = 2 * steps_per_epoch + 1;
    resumable.save_strategy = "steps";
    resumable.save_steps = steps_per_epoch + 1;  // a checkpoint inside the second epoch
    const auto run = [&](const fs::path& dir, bool interrupt) {
      TrainingArguments a = resumable;
      a.output_dir = dir.string();
      Generator g(12);
      MLM m(tiny_config(), g);
      m.sparse_prediction = true;
      {
        MLMTrainer first(m, a, few, std::nullopt, collate, nullptr);
        if (interrupt)
          first.callbacks().on_step_end = [&](const TrainerState& s) { return s.global_step == resumable.save_steps; };
        first.train();
      }
      if (interrupt) {
        Generator other(99);
        MLM resumed(tiny_config(), other);
        resumed.sparse_prediction = true;
        MLMTrainer second(resumed, a, few, std::nullopt, collate, nullptr);
        CHECK(second.train("last").global_step == resumable.max_steps);
        return resumed.named_parameters();
      }
      return m.named_parameters();
    };
    const auto straight = run(scratch("mlm-straight"), false);
    const auto resumed = run(scratch("mlm-resumed"), true);
    REQUIRE(straight.size() == resumed.size());
    for (std::size_t i = 0; i < straight.size(); ++i) {
      INFO(straight[i].first);
      CHECK(straight[i].second.to_vector<float>() == resumed[i].second.to_vector<float>());
    }
  }
}

TEST_CASE("Trainer refuses mismatched question answering models and batches", "[train][trainer][qa]") {
  const std::vector<data::QuestionAnsweringExample> examples = city_questions(4);
  const auto features = data::prepare_question_answering_features(examples, tokenizer(), {.max_length = 32});
  Generator init(6);
  models::BertForSequenceClassification classifier(tiny_bert_config(), init);
  TrainingArguments args = tiny_args(scratch("qa-mismatch"));
  args.max_steps = 1;
  args.save_strategy = "no";
  Trainer<models::BertForSequenceClassification, std::vector<data::QuestionAnsweringFeature>> trainer(
      classifier, args, features, features, tokenizer());
  CHECK_THROWS_WITH(trainer.train(), Catch::Contains("question answering batch"));
  // A QA model given batches without positions (reviews): refused, not trained on garbage.
  models::BertForQuestionAnswering reader(tiny_bert_config(), init);
  const std::vector<data::Review> reviews{{"a fine film", 1}, {"a dull film", 0}};
  Trainer<models::BertForQuestionAnswering> wrong(reader, args, reviews, reviews, tokenizer());
  CHECK_THROWS_WITH(wrong.train(), Catch::Contains("needs batches with start_positions and end_positions"));
  CHECK_THROWS_WITH(wrong.evaluate(), Catch::Contains("needs batches with start_positions and end_positions"));
}

TEST_CASE("Evaluation sorted by length returns the predictions of dataset order", "[train][trainer][sampler]") {
  // The Trainer evaluates in batches sorted by length and puts the rows back; the result must be
  // the same as batches in dataset order (the reference here), row for row.
  const fs::path out = scratch("sorted_eval");
  Generator init(5);
  Model model(tiny_config(), init);
  TrainingArguments args = tiny_args(out);
  args.per_device_eval_batch_size = 5;  // batches of mixed lengths in dataset order
  const std::vector<data::Review> reviews = sample_reviews();
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  const PredictionOutput sorted = trainer.predict(reviews);

  std::vector<float> logits;
  std::vector<std::int64_t> labels;
  {
    model.eval();
    NoGradGuard no_grad;
    data::DataLoaderOptions options;
    options.batch_size = 5;
    options.shuffle = false;
    options.max_length = 64;
    data::DataLoader plain(reviews, tokenizer(), options);
    plain.start_epoch(0);
    while (auto batch = plain.next()) {
      const auto values = model.forward(batch->input_ids, batch->attention_mask).logits.contiguous().to_vector<float>();
      logits.insert(logits.end(), values.begin(), values.end());
      const auto l = batch->labels.to_vector<std::int64_t>();
      labels.insert(labels.end(), l.begin(), l.end());
    }
  }
  REQUIRE(sorted.predictions.shape() == std::vector<std::int64_t>{80, 2});
  CHECK(sorted.label_ids.to_vector<std::int64_t>() == labels);
  const auto got = sorted.predictions.to_vector<float>();
  REQUIRE(got.size() == logits.size());
  std::size_t same_argmax = 0, bitwise = 0;
  for (std::size_t i = 0; i < got.size(); ++i) bitwise += got[i] == logits[i];
  INFO(bitwise << " of " << got.size() << " logits bit for bit equal");  // all 160 on the CPU backend today
  for (std::size_t i = 0; i < got.size(); i += 2) {
    CHECK(got[i] == Approx(logits[i]).margin(1e-5));
    CHECK(got[i + 1] == Approx(logits[i + 1]).margin(1e-5));
    same_argmax += (got[i] < got[i + 1]) == (logits[i] < logits[i + 1]);
  }
  CHECK(same_argmax == 80);  // identical predictions
  // Training with group_by_length and head+tail windows runs and logs as usual.
  TrainingArguments grouped = tiny_args(scratch("grouped"));
  grouped.max_steps = 3;
  grouped.group_by_length = true;
  grouped.truncation = "head_tail";
  grouped.pad_to_multiple_of = 8;
  grouped.save_strategy = "no";
  Model second(tiny_config(), init);
  Trainer<Model> grouped_trainer(second, grouped, train_reviews(), eval_reviews(), tokenizer());
  CHECK(grouped_trainer.train().global_step == 3);
}

// ---- the generic path: any dataset, collate function and model ----------------------------------

namespace {

struct Point {
  float x0, x1;
  std::int64_t label;
};
struct PointBatch {
  Tensor features;         // [B, 2]
  Tensor labels;    // [B]
  std::vector<std::size_t> indices;
};
// Computes its samples (get returns by value): label 1 when x0 > x1, a linearly separable task.
struct PointDataset {
  std::size_t n;
  std::uint64_t seed;
  std::size_t size() const { return n; }
  Point get(std::size_t i) const {
    data::SplitMix64 rng(seed * 1000003 + i);
    const float a = static_cast<float>(rng.below(2001)) / 1000.0f - 1.0f, b = static_cast<float>(rng.below(2001)) / 1000.0f - 1.0f;
    return {a, b, a > b ? 1 : 0};
  }
};
struct PointCollate {
  PointBatch operator()(const std::vector<Point>& samples) const {
    std::vector<float> x;
    std::vector<std::int64_t> y;
    for (const Point& p : samples) {
      x.insert(x.end(), {p.x0, p.x1});
      y.push_back(p.label);
    }
    const auto B = static_cast<std::int64_t>(samples.size());
    return {Tensor::from_vector(x, {B, 2}), Tensor::from_vector(y, {B}), {}};
  }
  // |x0 - x1| scaled: lets evaluation run in "length" order, exercising the reordering.
  std::vector<std::size_t> lengths(const PointDataset& d) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < d.size(); ++i) out.push_back(static_cast<std::size_t>(std::abs(d.get(i).x0 - d.get(i).x1) * 100));
    return out;
  }
};
class PointClassifier : public nn::Module {
 public:
  explicit PointClassifier(Generator& gen) { fc = register_module("fc", std::make_shared<nn::Linear>(2, 2, true, gen)); }
  struct Output {
    Tensor logits, loss;
  };
  Output forward(const PointBatch& batch) {
    Output out;
    out.logits = fc->forward(batch.features);
    out.loss = cross_entropy(out.logits, batch.labels);
    return out;
  }
  std::shared_ptr<nn::Linear> fc;
};
// Real-valued targets: x0 - x1 (regression, [B]) or (x0 - x1, x0 + x1) ([B, 2]), and a linear
// head trained with the mean squared error.
struct PointTargets {
  std::int64_t outputs;
  PointBatch operator()(const std::vector<Point>& samples) const {
    std::vector<float> x, y;
    for (const Point& p : samples) {
      x.insert(x.end(), {p.x0, p.x1});
      y.push_back(p.x0 - p.x1);
      if (outputs == 2) y.push_back(p.x0 + p.x1);
    }
    const auto B = static_cast<std::int64_t>(samples.size());
    return {Tensor::from_vector(x, {B, 2}), outputs == 1 ? Tensor::from_vector(y, {B}) : Tensor::from_vector(y, {B, 2}), {}};
  }
  std::vector<std::size_t> lengths(const PointDataset& d) const { return PointCollate{}.lengths(d); }
};
class PointRegressor : public nn::Module {
 public:
  PointRegressor(std::int64_t outputs, Generator& gen) {
    fc = register_module("fc", std::make_shared<nn::Linear>(2, outputs, true, gen));
  }
  struct Output {
    Tensor logits, loss;
  };
  Output forward(const PointBatch& batch) {
    Output out;
    out.logits = fc->forward(batch.features);
    const Tensor diff = out.logits.reshape(batch.labels.shape()) - batch.labels;
    out.loss = mean(diff * diff);
    return out;
  }
  std::shared_ptr<nn::Linear> fc;
};
// HF-style subclass: overrides compute_loss (here: the model's loss doubled, and counted).
class DoubledLossTrainer : public Trainer<PointClassifier, PointDataset, PointCollate> {
 public:
  using Trainer::Trainer;
  LossOutput compute_loss(PointClassifier& model, const PointBatch& batch) override {
    ++calls;
    auto out = model.forward(batch);
    return {out.loss * 2.0f, out.logits};
  }
  int calls = 0;
};

}  // namespace

TEST_CASE("BasicDataLoader: any map-style dataset and collate function", "[data][dataloader][generic]") {
  const PointDataset dataset{50, 3};
  data::LoaderOptions options;
  options.batch_size = 8;
  options.seed = 5;
  data::BasicDataLoader loader(dataset, PointCollate{}, options);
  CHECK(loader.size() == 7);
  std::vector<std::size_t> seen;
  loader.start_epoch(1);
  while (auto batch = loader.next()) {
    CHECK(batch->features.shape()[0] == static_cast<std::int64_t>(batch->indices.size()));
    const auto labels = batch->labels.to_vector<std::int64_t>();
    for (std::size_t r = 0; r < batch->indices.size(); ++r) CHECK(labels[r] == dataset.get(batch->indices[r]).label);
    seen.insert(seen.end(), batch->indices.begin(), batch->indices.end());
  }
  CHECK(seen == data::shuffled_indices(50, 5 + 1));  // the seeded order of epoch 1
  // Length orders take the collate function's lengths; a plain lambda has none.
  data::LoaderOptions sorted = options;
  sorted.shuffle = false;
  sorted.sort_by_length = true;
  data::BasicDataLoader by_length(dataset, PointCollate{}, sorted);
  CHECK(by_length.epoch_order(0) == data::sorted_by_length_indices(PointCollate{}.lengths(dataset)));
  auto plain = [](const std::vector<Point>& s) { return PointCollate{}(s); };
  data::BasicDataLoader no_lengths(dataset, plain, sorted);
  CHECK_THROWS_WITH(no_lengths.epoch_order(0), Contains("ordering by length needs the samples' lengths"));
  std::vector<std::size_t> given(50);
  for (std::size_t i = 0; i < 50; ++i) given[i] = i % 7;
  no_lengths.set_lengths(given);
  CHECK(no_lengths.epoch_order(0) == data::sorted_by_length_indices(given));
  CHECK_THROWS_WITH(no_lengths.set_lengths({1, 2}), Contains("2 lengths for 50 samples"));
}

TEST_CASE("Trainer over any model, dataset and collate function, with compute_loss overridden", "[train][trainer][generic]") {
  const fs::path out = scratch("generic");
  Generator init(3);
  PointClassifier model(init);
  TrainingArguments args;
  args.output_dir = out.string();
  args.max_steps = 40;
  args.per_device_train_batch_size = 16;
  args.per_device_eval_batch_size = 32;
  args.learning_rate = 0.1;
  args.logging_steps = 20;
  args.save_steps = 20;
  args.eval_strategy = "steps";
  args.eval_steps = 40;
  args.progress = "silent";
  DoubledLossTrainer trainer(model, args, PointDataset{400, 1}, PointDataset{200, 2}, PointCollate{});
  const TrainOutput result = trainer.train();
  CHECK(result.global_step == 40);
  CHECK(trainer.calls > 40);  // every training step and every evaluation batch went through the override
  const std::vector<json::Value> lines = read_jsonl(trainer.metrics_path());
  REQUIRE(lines.size() == 4);  // log 20, log 40, eval 40, summary
  CHECK(lines[0].at("loss").as_double() > lines[1].at("loss").as_double());
  CHECK(lines[2].at("eval_accuracy").as_double() > 0.9);  // separable: learnt
  // Predictions come back in dataset order although evaluation ran in "length" order.
  const PredictionOutput p = trainer.predict(PointDataset{200, 2});
  const auto labels = p.label_ids.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < 200; ++i) CHECK(labels[i] == PointDataset{200, 2}.get(i).label);
  // Its loss is the doubled one: twice the model's own mean cross-entropy.
  const PointBatch all = PointCollate{}([] {
    std::vector<Point> v;
    for (std::size_t i = 0; i < 200; ++i) v.push_back(PointDataset{200, 2}.get(i));
    return v;
  }());
  NoGradGuard no_grad;
  model.eval();
  CHECK(p.metrics.at("test_loss") == Approx(2.0 * model.forward(all).loss.item()).epsilon(1e-5));
  // Checkpoints hold the generic model too; no tokenizer without a processing class.
  CHECK(fs::is_regular_file(out / "checkpoint-40" / "model.safetensors"));
  CHECK(trainer.processing_class() == nullptr);
  CHECK_FALSE(fs::exists(out / "checkpoint-40" / "tokenizer.json"));
  // set_processing_class: saved by save_model (BertTokenizer: the model names no DistilBERT class);
  // one Hugging Face cannot read back is refused when set, not at the first checkpoint.
  trainer.set_processing_class(tokenizer());
  trainer.save_model(out / "final");
  CHECK(read_json_file(out / "final" / "tokenizer_config.json").at("tokenizer_class").as_string() == "BertTokenizer");
  CHECK(models::load_pretrained_tokenizer(out / "final").vocab().size() == tokenizer().vocab().size());
  text::BertTokenizer head_tail = tokenizer();
  head_tail.set_truncation_side(text::Truncation::head_tail);
  CHECK_THROWS_WITH(trainer.set_processing_class(head_tail),
                    Contains("Trainer: the tokenizer (processing_class) cannot be saved into checkpoints: "
                             "save_pretrained_tokenizer: truncation_side head_tail has no Hugging Face equivalent"));
}

TEST_CASE("Trainer evaluates real-valued labels (regression, several outputs) and the last step off the interval",
          "[train][trainer][generic]") {
  for (const std::int64_t outputs : {1, 2}) {
    INFO(outputs << " outputs");
    const fs::path out = scratch("regression-" + std::to_string(outputs));
    Generator init(3);
    PointRegressor model(outputs, init);
    TrainingArguments args;
    args.output_dir = out.string();
    args.max_steps = 30;
    args.per_device_train_batch_size = 16;
    args.per_device_eval_batch_size = 32;
    args.learning_rate = 0.1;
    args.logging_steps = 10;
    args.save_strategy = "no";
    args.eval_strategy = "steps";
    args.eval_steps = 20;
    args.progress = "silent";
    const PointDataset eval_set{200, 2};
    Trainer<PointRegressor, PointDataset, PointTargets> trainer(model, args, PointDataset{400, 1}, eval_set,
                                                                PointTargets{outputs});
    trainer.train();
    // HF evaluates at every eval_steps and at the last step (30) when it is off the interval.
    std::vector<std::int64_t> eval_steps;
    for (const auto& line : read_jsonl(trainer.metrics_path()))
      if (line.contains("eval_loss")) eval_steps.push_back(line.at("step").as_int());
    CHECK(eval_steps == std::vector<std::int64_t>{20, 30});
    // The float labels come back in dataset order (evaluation ran in "length" order), as float32.
    const PredictionOutput p = trainer.predict(eval_set);
    REQUIRE(p.label_ids.dtype() == kFloat32);
    REQUIRE(p.label_ids.shape() == (outputs == 1 ? Shape{200} : Shape{200, 2}));
    REQUIRE(p.predictions.shape() == Shape{200, outputs});
    const std::vector<float> labels = p.label_ids.to_vector<float>();
    const std::vector<float> predicted = p.predictions.to_vector<float>();
    double squared = 0;
    for (std::size_t i = 0; i < 200; ++i) {
      const Point s = eval_set.get(i);
      CHECK(labels[i * outputs] == s.x0 - s.x1);
      if (outputs == 2) CHECK(labels[i * 2 + 1] == s.x0 + s.x1);
      for (std::size_t j = 0; j < static_cast<std::size_t>(outputs); ++j) {
        const double d = predicted[i * outputs + j] - labels[i * outputs + j];
        squared += d * d;
      }
    }
    const double mse = squared / (200.0 * static_cast<double>(outputs));
    // The loss is the same mean squared error; a one-output head also gets run_glue's "mse" metric.
    CHECK(p.metrics.at("test_loss") == Approx(mse).epsilon(1e-5));
    CHECK(p.metrics.count("test_accuracy") == 0);
    if (outputs == 1) {
      CHECK(p.metrics.at("test_mse") == Approx(mse).epsilon(1e-6));
    } else {
      CHECK(p.metrics.count("test_mse") == 0);
    }
    CHECK(mse < 0.05);  // learnt (the targets are linear in the features)
  }
}

// HF's LabelSmoother, printed by transformers 5.25 (trainer_pt_utils.LabelSmoother(epsilon)({"logits": logits}, labels)),
// equal to torch.nn.functional.cross_entropy(logits.reshape(-1, C), labels.reshape(-1), label_smoothing=epsilon):
//   logits [2, 3, 4] below, labels [[2, -100, 1], [0, 3, -100]], epsilon 0.1  -> 1.9046937227249146
//   logits [4, 3] below, labels [0, 1, 2, 1], epsilon 0.2                     -> 0.7256343960762024
// On float labels (regression, multi-label) HF's fails: "gather(): Expected dtype int32/int64 for index".
TEST_CASE("label_smoothed_loss is Hugging Face's LabelSmoother", "[train][smoothing]") {
  const std::vector<float> token_values = {0.5f, -1.0f, 2.0f,  0.25f, 1.5f,  0.0f,  -0.5f, 0.75f, -2.0f, 1.0f,  0.5f,  0.0f,
                                           0.0f, 0.0f,  0.0f,  0.0f,  3.0f,  -1.0f, 0.5f,  -2.0f, 0.25f, 0.5f, -0.75f, 1.25f};
  const Tensor token_logits = Tensor::from_vector(token_values, {2, 3, 4});
  const Tensor token_labels = Tensor::from_vector(std::vector<std::int64_t>{2, -100, 1, 0, 3, -100}, {2, 3});
  CHECK(label_smoothed_loss(token_logits, token_labels, 0.1).item() == Approx(1.9046937227249146).epsilon(1e-6));
  // A sparse masked-LM head's logits: the labelled rows alone, in row-major order — the same loss.
  const Tensor labelled_rows = index_select(token_logits.reshape({6, 4}), 0,
                                            Tensor::from_vector(std::vector<std::int64_t>{0, 2, 3, 4}, {4}));
  CHECK(label_smoothed_loss(labelled_rows, token_labels, 0.1).item() == Approx(1.9046937227249146).epsilon(1e-6));
  const Tensor logits = Tensor::from_vector(
      std::vector<float>{1.0f, -0.5f, 0.25f, 0.0f, 2.0f, -1.0f, -0.5f, -0.5f, 1.5f, 0.75f, 0.25f, 0.0f}, {4, 3});
  const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 1}, {4});
  CHECK(label_smoothed_loss(logits, labels, 0.2).item() == Approx(0.7256343960762024).epsilon(1e-6));
  CHECK(label_smoothed_loss(logits, labels.to(kInt32), 0.2).item() == Approx(0.7256343960762024).epsilon(1e-6));
  // epsilon 0 is the plain cross-entropy; no labelled position is NaN (0/0), as HF's.
  CHECK(label_smoothed_loss(logits, labels, 0.0).item() == Approx(cross_entropy(logits, labels).item()).epsilon(1e-7));
  CHECK(std::isnan(label_smoothed_loss(logits, Tensor::full({4}, -100.0, TensorOptions().dtype(kInt64)), 0.1).item()));
  // The gradient is the smoothed one: softmax − ((1 − ε)·onehot + ε / C), over the batch.
  const Tensor x = logits.clone().set_requires_grad();
  label_smoothed_loss(x, labels, 0.2).backward();
  const std::vector<float> grad = x.grad().to_vector<float>();
  const std::vector<float> p = softmax(logits, 1).to_vector<float>();
  const std::vector<std::int64_t> ids = labels.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t c = 0; c < 3; ++c) {
      const double target = (ids[i] == static_cast<std::int64_t>(c) ? 0.8 : 0.0) + 0.2 / 3;
      CHECK(grad[i * 3 + c] == Approx((p[i * 3 + c] - target) / 4).margin(1e-7));
    }

  CHECK_THROWS_WITH(label_smoothed_loss(logits, Tensor::zeros({4}), 0.1),
                    Contains("label smoothing needs class-index labels (integers, -100 ignored), got float32 labels of shape [4]"));
  CHECK_THROWS_WITH(label_smoothed_loss(logits, labels.narrow(0, 0, 3), 0.1),
                    Contains("labels of shape [3] do not fit logits of shape [4, 3]"));
  // Sparse rows must be as many as the labelled positions (4 here).
  CHECK_THROWS_WITH(label_smoothed_loss(labelled_rows.narrow(0, 0, 3), token_labels, 0.1),
                    Contains("labels of shape [2, 3] do not fit logits of shape [3, 4]"));
  CHECK_THROWS_WITH(label_smoothed_loss(logits, labels, 1.0), Contains("epsilon (label_smoothing_factor) must be in [0, 1), got 1"));
}

TEST_CASE("Trainer with label_smoothing_factor trains and evaluates on the smoothed loss", "[train][trainer][smoothing]") {
  constexpr double eps = 0.1;
  // The smoothed cross-entropy of the classifier's logits, its gradient for W and b, in double.
  struct ByHand {
    double loss = 0;
    std::vector<double> grad_w = std::vector<double>(4), grad_b = std::vector<double>(2);
  };
  const auto by_hand = [&](const PointClassifier& m, const PointDataset& d) {
    const std::vector<float> w = m.fc->weight.to_vector<float>(), b = m.fc->bias.to_vector<float>();
    ByHand h;
    const auto n = static_cast<double>(d.size());
    for (std::size_t i = 0; i < d.size(); ++i) {
      const Point s = d.get(i);
      const double z[2] = {w[0] * s.x0 + w[1] * s.x1 + b[0], w[2] * s.x0 + w[3] * s.x1 + b[1]};
      const double top = std::max(z[0], z[1]);
      const double log_sum = top + std::log(std::exp(z[0] - top) + std::exp(z[1] - top));
      const double nll = log_sum - z[s.label], uniform = log_sum - (z[0] + z[1]) / 2;
      h.loss += ((1 - eps) * nll + eps * uniform) / n;
      for (std::size_t c = 0; c < 2; ++c) {
        const double d_z = std::exp(z[c] - log_sum) - ((static_cast<std::int64_t>(c) == s.label ? 1 - eps : 0) + eps / 2);
        h.grad_w[c * 2] += d_z * s.x0 / n;
        h.grad_w[c * 2 + 1] += d_z * s.x1 / n;
        h.grad_b[c] += d_z / n;
      }
    }
    return h;
  };
  Generator init(3);
  PointClassifier model(init);
  const PointDataset train_set{64, 1}, eval_set{50, 2};
  TrainingArguments args;
  args.output_dir = scratch("label-smoothing").string();
  args.label_smoothing_factor = eps;
  args.max_steps = 1;
  args.per_device_train_batch_size = 64;  // one step over the whole set
  args.per_device_eval_batch_size = 16;   // batches of 16, 16, 16, 2: the loss is weighted by rows
  args.optim = "sgd";
  args.learning_rate = 0.5;
  args.lr_scheduler_type = "constant";
  args.max_grad_norm = 0;
  args.save_strategy = "no";
  args.progress = "silent";
  Trainer<PointClassifier, PointDataset, PointCollate> trainer(model, args, train_set, eval_set, PointCollate{});
  const ByHand before = by_hand(model, train_set);
  const std::vector<float> w0 = model.fc->weight.to_vector<float>(), b0 = model.fc->bias.to_vector<float>();
  const TrainOutput result = trainer.train();
  CHECK(result.training_loss == Approx(before.loss).epsilon(1e-6));
  // The step followed the smoothed loss's gradient.
  const std::vector<float> w1 = model.fc->weight.to_vector<float>(), b1 = model.fc->bias.to_vector<float>();
  for (std::size_t i = 0; i < 4; ++i) CHECK(w1[i] == Approx(w0[i] - 0.5 * before.grad_w[i]).margin(1e-6));
  for (std::size_t i = 0; i < 2; ++i) CHECK(b1[i] == Approx(b0[i] - 0.5 * before.grad_b[i]).margin(1e-6));
  // The evaluation loss is smoothed too (HF's prediction_step goes through compute_loss).
  CHECK(trainer.evaluate().at("eval_loss") == Approx(by_hand(model, eval_set).loss).epsilon(1e-6));

  // Gradient accumulation keeps its meaning: 2 batches of 16 per step, a learning rate of 0 (the
  // model stays put), 2 epochs of 2 steps: each step's loss is the mean over its 32 rows.
  args.label_smoothing_factor = eps;
  args.max_steps = -1;
  args.num_train_epochs = 2;
  args.per_device_train_batch_size = 16;
  args.gradient_accumulation_steps = 2;
  args.learning_rate = 0;
  Trainer<PointClassifier, PointDataset, PointCollate> accumulating(model, args, train_set, eval_set, PointCollate{});
  const TrainOutput accumulated = accumulating.train();
  CHECK(accumulated.global_step == 4);
  CHECK(accumulated.training_loss == Approx(by_hand(model, train_set).loss).epsilon(1e-6));

  // Real-valued labels have no class to smooth towards (HF's LabelSmoother fails on them).
  Generator regressor_init(3);
  PointRegressor regressor(1, regressor_init);
  args.gradient_accumulation_steps = 1;
  Trainer<PointRegressor, PointDataset, PointTargets> regression(regressor, args, train_set, eval_set, PointTargets{1});
  CHECK_THROWS_WITH(regression.train(), Contains("label smoothing needs class-index labels (integers, -100 ignored), got "
                                                 "float32 labels of shape [16]"));
}

TEST_CASE("Trainer with label_smoothing_factor leaves a multi_label_classification model's loss alone, as HF",
          "[train][trainer][smoothing]") {
  models::DistilBertConfig c = tiny_config(0.0);
  c.problem_type = "multi_label_classification";
  Generator init(1);
  Model model(c, init);
  TrainingArguments args = tiny_args(scratch("label-smoothing-multi-label"));
  args.label_smoothing_factor = 0.1;
  const std::size_t logged = runtime().log_messages().size();
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  const std::vector<std::string> messages = runtime().log_messages();
  REQUIRE(messages.size() == logged + 1);
  CHECK_THAT(messages.back(), Contains("label smoothing is not compatible with multi-label classification; disabling "
                                       "label smoothing (label_smoothing_factor 0.1)"));
}

// transformers 5.25: a labelled forward sets a null config.problem_type (single_label_classification
// for int64 labels), so a Trainer run saves it; with label_smoothing_factor the Trainer pops the
// labels before the forward, and the config keeps None.
TEST_CASE("Trainer: the problem_type inferred in training is kept, unless labels are smoothed, as HF",
          "[train][trainer][smoothing]") {
  for (const double smoothing : {0.0, 0.1}) {
    INFO("label_smoothing_factor " << smoothing);
    Generator init(1);
    Model model(tiny_config(0.0), init);
    REQUIRE(model.config.problem_type.empty());
    TrainingArguments args = tiny_args(scratch("problem-type-inferred"));
    args.label_smoothing_factor = smoothing;
    args.max_steps = 1;
    args.eval_strategy = "no";
    args.save_strategy = "no";
    Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
    trainer.train();
    CHECK(model.config.problem_type == (smoothing == 0 ? "single_label_classification" : ""));
  }
}

TEST_CASE("A time budget plans the run's length after the measured steps", "[train][trainer][budget]") {
  Generator init(5);
  SECTION("no time left after the measured steps: training stops right there, then validates") {
    const fs::path out = scratch("budget_spent");
    Model model(tiny_config(), init);
    TrainingArguments args = tiny_args(out);
    args.num_train_epochs = 10;        // the cap: 80 steps
    args.time_budget_seconds = 1e-9;   // spent before the plan at step 20
    args.eval_strategy = "epoch";
    args.save_strategy = "no";
    args.warmup_ratio = 0.1;
    Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
    trainer.reserve_final_evaluation(eval_reviews());
    const TrainOutput result = trainer.train();
    REQUIRE(trainer.time_budget() != nullptr);
    CHECK(trainer.time_budget()->planned());
    CHECK(trainer.time_budget()->plan_step() == 20);
    CHECK(result.global_step == 20);
    CHECK(trainer.state().max_steps == 20);
    CHECK(result.metrics.at("time_budget_planned_steps") == 20);
    CHECK(result.metrics.at("time_budget_plan_step") == 20);
    CHECK(trainer.time_budget()->train_seconds_per_token() > 0);
    CHECK(trainer.time_budget()->planned_final_eval_seconds() > 0);  // validation + the reserved set
    // The provisional warmup is one epoch's: ceil(0.1 x 8) = 1 step.
    CHECK(trainer.time_budget_schedule().provisional_warmup == 1);
    // Epoch-end validations at 8 and 16, and the final one where the plan stopped (mid-epoch).
    std::vector<std::int64_t> eval_steps;
    for (const auto& line : read_jsonl(trainer.metrics_path()))
      if (line.contains("eval_loss")) eval_steps.push_back(line.at("step").as_int());
    CHECK(eval_steps == std::vector<std::int64_t>{8, 16, 20});
  }
  SECTION("a budget larger than the cap: the cap's steps, linear schedule to 0 at its end") {
    const fs::path out = scratch("budget_capped");
    Model model(tiny_config(), init);
    TrainingArguments args = tiny_args(out);
    args.num_train_epochs = 3;  // 24 steps
    args.time_budget_seconds = 3600;
    args.save_strategy = "no";
    Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
    const TrainOutput result = trainer.train();
    CHECK(result.global_step == 24);
    CHECK(result.metrics.at("time_budget_planned_steps") == 24);
    CHECK(trainer.time_budget_schedule().total == 24);
    CHECK(trainer.lr_scheduler()->get_last_lr().front() == 0.0);
  }
  SECTION("without a budget nothing is planned") {
    const fs::path out = scratch("budget_none");
    Model model(tiny_config(), init);
    TrainingArguments args = tiny_args(out);
    args.max_steps = 4;
    args.save_strategy = "no";
    Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
    const TrainOutput result = trainer.train();
    CHECK(trainer.time_budget() == nullptr);
    CHECK(result.metrics.count("time_budget_planned_steps") == 0);
  }
}

TEST_CASE("A time budget is checked: only linear or constant schedules, no resume, no negative budget", "[train][trainer][budget]") {
  const fs::path out = scratch("budget_invalid");
  TrainingArguments args = tiny_args(out);
  args.time_budget_seconds = -1;
  CHECK_THROWS_WITH(args.validate(), Contains("time_budget_seconds must be finite and >= 0"));
  args.time_budget_seconds = 60;
  args.lr_scheduler_type = "cosine";
  CHECK_THROWS_WITH(args.validate(), Contains("\"cosine\" is not supported"));
  for (const char* type : {"cosine_with_restarts", "polynomial", "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay"}) {
    args.lr_scheduler_type = type;
    CHECK_THROWS_WITH(args.validate(), Contains("time_budget_seconds plans a linear or constant schedule; lr_scheduler_type \"" +
                                                std::string(type) + "\" is not supported with it"));
  }
  args.lr_scheduler_type = "linear";
  Generator init(5);
  Model model(tiny_config(), init);
  Trainer<Model> trainer(model, args, train_reviews(), eval_reviews(), tokenizer());
  CHECK_THROWS_WITH(trainer.train("last"), Contains("cannot resume from a checkpoint"));
  // The JSON round trip keeps it.
  CHECK(TrainingArguments::from_json(args.to_json()).time_budget_seconds == 60);
}

TEST_CASE("A time budget over a generic dataset counts samples", "[train][trainer][budget][generic]") {
  const fs::path out = scratch("budget_generic");
  Generator init(3);
  PointClassifier model(init);
  TrainingArguments args;
  args.output_dir = out.string();
  args.max_steps = 100;
  args.per_device_train_batch_size = 16;
  args.time_budget_seconds = 1e-9;  // spent before the plan at step 20
  args.save_strategy = "no";
  args.progress = "silent";
  Trainer<PointClassifier, PointDataset, PointCollate> trainer(model, args, PointDataset{400, 1}, std::nullopt,
                                                               PointCollate{});
  const TrainOutput result = trainer.train();
  CHECK(result.global_step == 20);
  REQUIRE(trainer.time_budget() != nullptr);
  // 16 samples per step: the rate is per sample, not per token.
  CHECK(trainer.time_budget()->train_seconds_per_token() > 0);
}
