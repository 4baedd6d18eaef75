// Token classification and extractive question answering heads of both families
// (Bert/DistilBert ForTokenClassification / ForQuestionAnswering) against transformers goldens
// (tests/data/golden/task_heads, tests/reference/make_task_heads_golden.py): logits, the loss
// (-100 labels ignored; answer positions clamped to [0, S] with S ignored), and the loss's
// gradients at the head and the word embeddings; loading, saving and the errors of wrong shapes.
//
// Tolerance |err| <= 1e-5 (float32 against float32; a wrong ignore rule or clamp moves the loss
// by > 1e-2).
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <type_traits>

#include "golden_close.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "task_heads";
constexpr double kTol = 1e-5;

struct Batch {
  Tensor input_ids, attention_mask, token_type_ids, labels, start_positions, end_positions;
};
Batch load_batch() {
  const io::SafetensorsFile st(kGolden / "batch.safetensors");
  return {io::load_int64_tensor(st, "input_ids"),      io::load_int64_tensor(st, "attention_mask"),
          io::load_int64_tensor(st, "token_type_ids"), io::load_int64_tensor(st, "labels"),
          io::load_int64_tensor(st, "start_positions"), io::load_int64_tensor(st, "end_positions")};
}

void check_close(const std::string& what, const Tensor& ours, const io::SafetensorsFile& expected,
                 const std::string& name) {
  testing::check_golden_close(what, ours, expected, name, kTol);
}

using testing::models_scratch_dir;
Tensor param(const nn::Module& model, const std::string& suffix) { return testing::parameter_ending(model, suffix); }

// Runs the model's loss forward and backward on the golden batch, checks it, and returns it.
template <class Model>
void check_token_head(const std::string& name, Model& model, const Batch& b) {
  const io::SafetensorsFile expected(kGolden / name / "expected.safetensors");
  model.zero_grad();
  auto out = [&] {
    if constexpr (std::same_as<Model, models::BertForTokenClassification>)
      return model.forward(b.input_ids, b.attention_mask, b.labels, false, b.token_type_ids);
    else
      return model.forward(b.input_ids, b.attention_mask, b.labels);
  }();
  check_close(name, out.logits, expected, "logits");
  check_close(name, out.loss.reshape({1}), expected, "loss");
  out.loss.backward();
  check_close(name, param(model, "classifier.weight").grad(), expected, "grad.head");
  check_close(name, param(model, "word_embeddings.weight").grad(), expected, "grad.word_embeddings");
}

template <class Model>
void check_qa_head(const std::string& name, Model& model, const Batch& b) {
  const io::SafetensorsFile expected(kGolden / name / "expected.safetensors");
  model.zero_grad();
  auto out = [&] {
    if constexpr (std::same_as<Model, models::BertForQuestionAnswering>)
      return model.forward(b.input_ids, b.attention_mask, b.start_positions, b.end_positions, false, b.token_type_ids);
    else
      return model.forward(b.input_ids, b.attention_mask, b.start_positions, b.end_positions);
  }();
  check_close(name, out.start_logits, expected, "start_logits");
  check_close(name, out.end_logits, expected, "end_logits");
  check_close(name, out.loss.reshape({1}), expected, "loss");
  out.loss.backward();
  check_close(name, param(model, "qa_outputs.weight").grad(), expected, "grad.head");
  check_close(name, param(model, "word_embeddings.weight").grad(), expected, "grad.word_embeddings");
}

}  // namespace

TEST_CASE("Token classification heads match transformers: logits, -100 labels, gradients", "[models][task-heads]") {
  const Batch b = load_batch();
  {
    auto [model, report] = models::from_pretrained<models::BertForTokenClassification>(kGolden / "bert_token");
    CHECK(report.newly_initialized.empty());
    CHECK(report.ignored.empty());
    CHECK(model->config.num_labels == 5);
    CHECK(model->config.id2label.at(1) == "B-PER");
    check_token_head("bert_token", *model, b);
  }
  {
    auto [model, report] = models::from_pretrained<models::DistilBertForTokenClassification>(kGolden / "distilbert_token");
    CHECK(report.newly_initialized.empty());
    CHECK(report.ignored.empty());
    check_token_head("distilbert_token", *model, b);
  }
}

TEST_CASE("Question answering heads match transformers: start/end logits, clamped positions, gradients",
          "[models][task-heads]") {
  const Batch b = load_batch();
  {
    auto [model, report] = models::from_pretrained<models::BertForQuestionAnswering>(kGolden / "bert_qa");
    CHECK(report.newly_initialized.empty());
    CHECK(report.ignored.empty());
    check_qa_head("bert_qa", *model, b);
  }
  {
    auto [model, report] = models::from_pretrained<models::DistilBertForQuestionAnswering>(kGolden / "distilbert_qa");
    CHECK(report.newly_initialized.empty());
    CHECK(report.ignored.empty());
    check_qa_head("distilbert_qa", *model, b);
    // [B, 1] positions (as transformers squeezes them) give the same loss.
    NoGradGuard no_grad;
    const auto flat = model->forward(b.input_ids, b.attention_mask, b.start_positions, b.end_positions).loss;
    const auto column = model->forward(b.input_ids, b.attention_mask, b.start_positions.reshape({3, 1}),
                                       b.end_positions.reshape({3, 1})).loss;
    CHECK(flat.item<float>() == column.item<float>());
  }
}

TEST_CASE("Task heads: save_pretrained round trip, heads from another class's checkpoint, bad shapes",
          "[models][task-heads]") {
  const Batch b = load_batch();
  auto [qa, report] = models::from_pretrained<models::BertForQuestionAnswering>(kGolden / "bert_qa");
  const fs::path dir = models_scratch_dir("task_heads_bert_qa");
  models::save_pretrained(*qa, dir);
  CHECK(io::read_file(dir / "config.json", 1 << 20).find("\"BertForQuestionAnswering\"") != std::string::npos);
  auto [again, again_report] = models::from_pretrained<models::BertForQuestionAnswering>(dir);
  CHECK(again_report.newly_initialized.empty());
  {
    NoGradGuard no_grad;
    const auto x = qa->forward(b.input_ids, b.attention_mask, {}, {}, false, b.token_type_ids);
    const auto y = again->forward(b.input_ids, b.attention_mask, {}, {}, false, b.token_type_ids);
    CHECK(x.start_logits.to_vector<float>() == y.start_logits.to_vector<float>());
    CHECK(x.end_logits.to_vector<float>() == y.end_logits.to_vector<float>());
    CHECK_FALSE(x.loss.defined());
  }
  // A token-classification checkpoint into a QA model: the encoder loads, qa_outputs is fresh and
  // the classifier is ignored (transformers' loading report says the same).
  models::PretrainedOptions two_labels;
  two_labels.num_labels = 2;
  auto [from_token, token_report] =
      models::from_pretrained<models::BertForQuestionAnswering>(kGolden / "bert_token", two_labels);
  CHECK(token_report.newly_initialized == std::vector<std::string>{"qa_outputs.weight", "qa_outputs.bias"});
  CHECK(token_report.ignored == std::vector<std::string>{"classifier.bias", "classifier.weight"});
  // QA needs two outputs; labels and positions of the wrong shape are named.
  CHECK_THROWS_WITH(models::from_pretrained<models::BertForQuestionAnswering>(kGolden / "bert_token"),
                    Contains("config.num_labels should be 2") && Contains("but it is 5"));
  auto [token, unused] = models::from_pretrained<models::DistilBertForTokenClassification>(kGolden / "distilbert_token");
  CHECK_THROWS_WITH(token->forward(b.input_ids, b.attention_mask, b.start_positions),
                    Contains("labels of shape [3] do not fit logits of shape [3, 10, 5]"));
  CHECK_THROWS_WITH(qa->forward(b.input_ids, b.attention_mask, b.labels, b.end_positions),
                    Contains("start_positions must hold one integer position per sequence (3)"));
}

// A Trainer checkpoint's config.json (train::save_model_files, what checkpoint-N and the final
// model folder get) names the model's own class, as save_pretrained does: it was always
// "…ForSequenceClassification", so transformers' AutoModel built the wrong head from a masked-LM or
// token-classification checkpoint.
TEST_CASE("Trainer checkpoints' config.json names the model's class, as save_pretrained",
          "[models][task-heads][checkpoint]") {
  const fs::path golden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden";
  const auto check = [&]<class Model>(std::type_identity<Model>, const fs::path& folder, const std::string& name) {
    INFO(name);
    auto [model, report] = models::from_pretrained<Model>(folder);
    const fs::path checkpoint = models_scratch_dir("checkpoint_" + name), saved = models_scratch_dir("saved_" + name);
    train::save_model_files(checkpoint, *model);
    models::save_pretrained(*model, saved);
    const json::Value config = json::parse_file(checkpoint / "config.json");
    REQUIRE(config.at("architectures").as_array().size() == 1);
    CHECK(config.at("architectures").as_array()[0].as_string() == name);
    CHECK(io::read_file(checkpoint / "config.json", 1 << 20) == io::read_file(saved / "config.json", 1 << 20));
  };
  check(std::type_identity<models::DistilBertForMaskedLM>{}, golden / "distilbert_tiny_mlm", "DistilBertForMaskedLM");
  check(std::type_identity<models::BertForMaskedLM>{}, golden / "bert_native" / "mlm", "BertForMaskedLM");
  check(std::type_identity<models::DistilBertForTokenClassification>{}, kGolden / "distilbert_token",
        "DistilBertForTokenClassification");
  check(std::type_identity<models::BertForTokenClassification>{}, kGolden / "bert_token", "BertForTokenClassification");
  check(std::type_identity<models::DistilBertForQuestionAnswering>{}, kGolden / "distilbert_qa",
        "DistilBertForQuestionAnswering");
  check(std::type_identity<models::BertForQuestionAnswering>{}, kGolden / "bert_qa", "BertForQuestionAnswering");
  check(std::type_identity<models::DistilBertForSequenceClassification>{}, golden / "distilbert_tiny",
        "DistilBertForSequenceClassification");
}
