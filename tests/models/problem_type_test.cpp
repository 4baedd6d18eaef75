// Sequence classification losses of both families (Bert/DistilBert ForSequenceClassification)
// against transformers goldens (tests/data/golden/problem_type,
// tests/reference/make_problem_type_golden.py): the logits, the loss and its gradients at the
// classifier and the word embeddings, under each problem_type of config.json (regression with
// labels [B] and [B, 1], which HF squeezes; single-label; multi-label) and with a null one inferred
// from num_labels and the labels' dtype; config.json's problem_type read, validated and written
// back; binary_cross_entropy_with_logits's values and gradients.
//
// Tolerance |err| <= 1e-5 (float32 against float32; labels [B, 1] broadcast to [B, B] moved the
// loss by ~1e-3 and the gradients by > 0.1, the wrong loss of a problem type by > 0.3).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "golden_close.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/ops/gradcheck.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "problem_type";
constexpr double kTol = 1e-5;

// A case of make_problem_type_golden.py: its folder's num_labels, the problem_type written into
// config.json before loading (nullopt: the folder's own; "" = null), and the labels' name.
struct Case {
  std::string name;
  std::int64_t num_labels;
  std::optional<std::string> problem_type;
  std::string labels;
};
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"regression_b", 1, "", "float_b"},
      {"regression_b1", 1, "", "float_b1"},
      {"regression_b1_named", 1, "regression", "float_b1"},
      {"single_int64", 3, "", "int64"},
      {"regression_3", 3, "regression", "float_b3"},
      {"multi_inferred", 4, "", "float_b4"},
      {"multi_saved", 4, std::nullopt, "float_b4"},
      {"single_named_4", 4, "single_label_classification", "int64"},
  };
  return all;
}

using testing::models_scratch_dir;
Tensor param(const nn::Module& model, const std::string& suffix) { return testing::parameter_ending(model, suffix); }

// The golden folder `family`_`num_labels`, with config.json's problem_type replaced when asked.
fs::path folder_for(const std::string& family, const Case& c) {
  const fs::path source = kGolden / (family + "_" + std::to_string(c.num_labels));
  if (!c.problem_type) return source;
  const fs::path dir = models_scratch_dir("problem_type_" + family + "_" + c.name);
  fs::copy_file(source / "model.safetensors", dir / "model.safetensors");
  json::Value j = json::parse_file(source / "config.json");
  j.as_object().erase("problem_type");
  j.as_object().push_back("problem_type", c.problem_type->empty() ? json::Value() : json::Value(*c.problem_type));
  train::write_json_file(dir / "config.json", j);
  return dir;
}

template <class Model>
void check_case(const std::string& family, const Case& c) {
  INFO(family << " case " << c.name);
  const io::SafetensorsFile batch(kGolden / "batch.safetensors"), expected(kGolden / "expected.safetensors");
  auto [model, report] = models::from_pretrained<Model>(folder_for(family, c));
  model->zero_grad();
  auto out = model->forward(io::load_int64_tensor(batch, "input_ids"), io::load_int64_tensor(batch, "attention_mask"),
                            io::load_tensor(batch, "labels." + c.labels));
  const std::string key = family + "." + c.name + ".";
  const auto close = [&](const Tensor& ours, const std::string& name) {
    testing::check_golden_close(family + " " + c.name, ours, expected, key + name, kTol);
  };
  close(out.logits, "logits");
  close(out.loss.reshape({1}), "loss");
  out.loss.backward();
  close(param(*model, "classifier.weight").grad(), "grad.head");
  close(param(*model, "word_embeddings.weight").grad(), "grad.word_embeddings");
}

}  // namespace

TEST_CASE("Sequence classification losses match transformers under every problem_type, and inferred",
          "[models][problem-type]") {
  for (const Case& c : cases()) {
    check_case<models::BertForSequenceClassification>("bert", c);
    check_case<models::DistilBertForSequenceClassification>("distilbert", c);
  }
}

TEST_CASE("Regression labels that fit neither [B] nor [B, 1] are refused, naming the shapes", "[models][problem-type]") {
  auto [model, report] = models::from_pretrained<models::DistilBertForSequenceClassification>(kGolden / "distilbert_1");
  const io::SafetensorsFile batch(kGolden / "batch.safetensors");
  const Tensor ids = io::load_int64_tensor(batch, "input_ids"), mask = io::load_int64_tensor(batch, "attention_mask");
  CHECK_THROWS_WITH(model->forward(ids, mask, io::load_tensor(batch, "labels.float_b3")),
                    Contains("regression): labels of shape [3, 3] do not fit logits of shape [3, 1] (expected "
                             "[batch] or [batch, 1])"));
}

TEST_CASE("config.json's problem_type is read, validated and written back as transformers does",
          "[models][problem-type]") {
  auto [multi, multi_report] = models::from_pretrained<models::BertForSequenceClassification>(kGolden / "bert_4");
  CHECK(multi->config.problem_type == "multi_label_classification");
  auto [null_type, null_report] = models::from_pretrained<models::DistilBertForSequenceClassification>(kGolden / "distilbert_3");
  CHECK(null_type->config.problem_type.empty());
  auto [distil, distil_report] = models::from_pretrained<models::DistilBertForSequenceClassification>(kGolden / "distilbert_4");
  CHECK(distil->config.problem_type == "multi_label_classification");
  // save_pretrained keeps it (transformers' key); a null one is omitted, as transformers' diff dict.
  const fs::path saved = models_scratch_dir("problem_type_saved"), saved_null = models_scratch_dir("problem_type_saved_null"),
                 saved_bert = models_scratch_dir("problem_type_saved_bert");
  models::save_pretrained(*distil, saved);
  models::save_pretrained(*null_type, saved_null);
  models::save_pretrained(*multi, saved_bert);
  CHECK(json::parse_file(saved / "config.json").at("problem_type").as_string() == "multi_label_classification");
  CHECK(json::parse_file(saved_bert / "config.json").at("problem_type").as_string() == "multi_label_classification");
  CHECK(json::parse_file(saved_null / "config.json").find("problem_type") == nullptr);
  auto [again, again_report] = models::from_pretrained<models::DistilBertForSequenceClassification>(saved);
  CHECK(again->config.problem_type == "multi_label_classification");
  // Values transformers refuses, named.
  CHECK_THROWS_WITH(models::DistilBertConfig::from_json(json::parse(R"({"problem_type": "multi_label"})")),
                    Contains("DistilBertConfig: config.json's problem_type 'multi_label' is not one of regression, "
                             "single_label_classification, multi_label_classification (or null)"));
  CHECK_THROWS_WITH(models::BertConfig::from_json(json::parse(R"({"problem_type": "Regression"})")),
                    Contains("BertConfig: config.json's problem_type 'Regression' is not one of"));
  CHECK_THROWS_WITH(models::BertConfig::from_json(json::parse(R"({"problem_type": 1})")), Contains("problem_type"));
  CHECK(models::BertConfig::from_json(json::parse(R"({"problem_type": null})")).problem_type.empty());
}

// transformers 5.25, by hand: XForSequenceClassification.from_pretrained(<family>_3)(input_ids,
// attention_mask, labels=labels.int64) then save_pretrained writes "problem_type":
// "single_label_classification" (<family>_1 with labels.float_b: "regression"); without labels
// config.problem_type stays None and config.json has none.
template <class Model>
void check_inferred_type_saved(const std::string& family) {
  INFO(family);
  const io::SafetensorsFile batch(kGolden / "batch.safetensors");
  const Tensor ids = io::load_int64_tensor(batch, "input_ids"), mask = io::load_int64_tensor(batch, "attention_mask");
  NoGradGuard no_grad;
  for (const auto& [num_labels, labels, inferred] : {std::tuple{3, "labels.int64", "single_label_classification"},
                                                     std::tuple{1, "labels.float_b", "regression"}}) {
    auto [model, report] = models::from_pretrained<Model>(kGolden / (family + "_" + std::to_string(num_labels)));
    REQUIRE(model->config.problem_type.empty());
    (void)model->forward(ids, mask);
    CHECK(model->config.problem_type.empty());
    const fs::path unlabelled = models_scratch_dir("problem_type_unlabelled_" + family);
    models::save_pretrained(*model, unlabelled);
    CHECK(json::parse_file(unlabelled / "config.json").find("problem_type") == nullptr);
    (void)model->forward(ids, mask, io::load_tensor(batch, labels));
    CHECK(model->config.problem_type == inferred);
    const fs::path saved = models_scratch_dir("problem_type_inferred_" + family);
    models::save_pretrained(*model, saved);
    CHECK(json::parse_file(saved / "config.json").at("problem_type").as_string() == inferred);
    CHECK(models::from_pretrained<Model>(saved).model->config.problem_type == inferred);
    // The tokenizer overload writes the tokenizer under the class transformers' family writes.
    text::BertTokenizer tokenizer = text::BertTokenizer::from_file(text::default_vocab_path());
    tokenizer.set_padding_side(text::PaddingSide::left);
    models::save_pretrained(*model, saved, tokenizer);
    const json::Value tokenizer_config = json::parse_file(saved / "tokenizer_config.json");
    CHECK(tokenizer_config.at("tokenizer_class").as_string() ==
          (family == "bert" ? "BertTokenizer" : "DistilBertTokenizer"));
    CHECK(models::load_pretrained_tokenizer(saved).padding_side() == text::PaddingSide::left);
    CHECK(json::parse_file(saved / "config.json").at("problem_type").as_string() == inferred);
  }
}

TEST_CASE("The problem type inferred on the first labelled forward is kept and saved, as transformers does",
          "[models][problem-type]") {
  check_inferred_type_saved<models::BertForSequenceClassification>("bert");
  check_inferred_type_saved<models::DistilBertForSequenceClassification>("distilbert");
}

TEST_CASE("Sequence classification: labels that do not fit the problem type are refused, naming it",
          "[models][problem-type]") {
  const io::SafetensorsFile batch(kGolden / "batch.safetensors");
  const Tensor ids = io::load_int64_tensor(batch, "input_ids"), mask = io::load_int64_tensor(batch, "attention_mask");
  auto [multi, report] = models::from_pretrained<models::DistilBertForSequenceClassification>(kGolden / "distilbert_4");
  // Integer 0/1 labels under multi-label (torch's BCEWithLogitsLoss refuses them too).
  CHECK_THROWS_WITH(multi->forward(ids, mask, io::load_tensor(batch, "labels.float_b4").to(kInt64)),
                    Contains("(multi_label_classification): labels must be floating point") && Contains("int64"));
  CHECK_THROWS_WITH(multi->forward(ids, mask, io::load_tensor(batch, "labels.float_b")),
                    Contains("(multi_label_classification): labels of shape [3] do not fit logits of shape [3, 4]"));
  multi->config.problem_type = "single_label_classification";
  CHECK_THROWS_WITH(multi->forward(ids, mask, io::load_tensor(batch, "labels.float_b")),
                    Contains("(single_label_classification): labels must be integer class ids, got float32"));
  // int32 class ids are single-label too (transformers infers it; tinyxf's cross-entropy takes them).
  multi->config.problem_type.clear();
  const Tensor int64_labels = io::load_int64_tensor(batch, "labels.int64");
  NoGradGuard no_grad;
  CHECK(multi->forward(ids, mask, int64_labels.to(kInt32)).loss.item<float>() ==
        multi->forward(ids, mask, int64_labels).loss.item<float>());
  CHECK(models::encoder_ops::classification_problem_type("", 4, int64_labels.to(kInt32)) ==
        "single_label_classification");
  CHECK(models::encoder_ops::classification_problem_type("", 4, int64_labels.to(kUInt8)) ==
        "multi_label_classification");
  CHECK(models::encoder_ops::classification_problem_type("", 1, int64_labels) == "regression");
}

TEST_CASE("binary_cross_entropy_with_logits: torch's values, stable at large |x|, gradients", "[models][problem-type]") {
  const Tensor x = Tensor::from_vector(std::vector<double>{0.0, 2.0, -3.0, 200.0, -200.0, 0.5}, {2, 3});
  const Tensor y = Tensor::from_vector(std::vector<double>{1.0, 0.0, 1.0, 0.0, 1.0, 0.25}, {2, 3});
  // Per element max(x, 0) - x y + log(1 + exp(-|x|)); 200 would overflow exp in the naive form.
  double want = 0;
  const auto xs = x.to_vector<double>(), ys = y.to_vector<double>();
  for (std::size_t i = 0; i < xs.size(); ++i)
    want += std::max(xs[i], 0.0) - xs[i] * ys[i] + std::log1p(std::exp(-std::abs(xs[i])));
  CHECK(binary_cross_entropy_with_logits(x, y).item<double>() == Approx(want / 6).epsilon(1e-12));
  CHECK(std::isfinite(binary_cross_entropy_with_logits(x.to(kFloat32), y.to(kFloat32)).item<float>()));
  // Gradients d/dx = (sigmoid(x) - y) / n and d/dy = -x / n, at x = 0 (maximum's tie) too.
  const Tensor small = Tensor::from_vector(std::vector<double>{0.0, 2.0, -3.0, 1.5, -0.7, 0.5}, {2, 3});
  const auto result = gradcheck([](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], in[1]); },
                                {small, y});
  INFO(result.message);
  CHECK(result.ok);
  CHECK_THROWS_WITH(binary_cross_entropy_with_logits(x, y.reshape({6})),
                    Contains("target of shape [6] does not match input of shape [2, 3]"));
  CHECK_THROWS_WITH(binary_cross_entropy_with_logits(x, y.to(kInt64)), Contains("target must be floating point"));
}
