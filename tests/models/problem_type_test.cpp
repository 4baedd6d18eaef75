// Sequence classification losses of both families (Bert/DistilBert ForSequenceClassification)
// against transformers goldens (tests/data/golden/problem_type,
// tests/reference/make_problem_type_golden.py): the logits, the loss and its gradients at the
// classifier and the word embeddings, for regression labels [B] and [B, 1] (HF squeezes both sides).
//
// Tolerance |err| <= 1e-5 (float32 against float32; labels [B, 1] broadcast to [B, B] moved the
// loss by ~1e-3 and the gradients by > 0.1).
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "golden_close.hpp"
#include "tinyxf/io/tensor_io.hpp"
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

TEST_CASE("Sequence classification losses match transformers: regression labels [B] and [B, 1]",
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
