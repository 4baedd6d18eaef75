// Entity-level token classification scores (train/seqeval.hpp) against the real seqeval package
// and HF evaluate's "seqeval" metric as run_ner.py flattens it, on the goldens of
// tests/data/golden/seqeval/cases.jsonl (tests/reference/make_seqeval_golden.py): get_entities of
// tag lists and of lists of sequences, the metrics of prediction / reference pairs, Python's
// errors; then seqeval_compute_metrics on a hand-built EvalPrediction.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tinyxf/io/json.hpp"
#include "tinyxf/tensor.hpp"
#include "tinyxf/train/seqeval.hpp"

using namespace tinyxf;
using namespace tinyxf::train;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const std::vector<json::Value>& golden_cases() {
  static const std::vector<json::Value> cases = [] {
    std::ifstream in(fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "seqeval" / "cases.jsonl", std::ios::binary);
    REQUIRE(in.good());
    std::vector<json::Value> records;
    for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
    REQUIRE(records.size() > 1);
    REQUIRE(records.front()["kind"].as_string() == "versions");
    return records;
  }();
  return cases;
}

std::vector<std::string> strings(const json::Value& array) {
  std::vector<std::string> out;
  for (const json::Value& v : array.as_array()) out.push_back(v.as_string());
  return out;
}

std::vector<std::vector<std::string>> sequences(const json::Value& array) {
  std::vector<std::vector<std::string>> out;
  for (const json::Value& v : array.as_array()) out.push_back(strings(v));
  return out;
}

std::vector<Entity> entities(const json::Value& array) {
  std::vector<Entity> out;
  for (const json::Value& e : array.as_array())
    out.push_back({e[0].as_string(), e[1].as<std::size_t>(), e[2].as<std::size_t>()});
  return out;
}

std::string describe(const std::vector<Entity>& es) {
  std::string s;
  for (const Entity& e : es) s += "(" + e.type + ", " + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") ";
  return s;
}

std::size_t count_kind(const std::string& kind) {
  std::size_t n = 0;
  for (const json::Value& c : golden_cases()) n += c["kind"].as_string() == kind;
  return n;
}

}  // namespace

TEST_CASE("get_entities matches seqeval's get_entities", "[seqeval][golden]") {
  REQUIRE(count_kind("entities") >= 20);
  for (const json::Value& c : golden_cases()) {
    if (c["kind"].as_string() != "entities") continue;
    INFO("case " << c["name"].as_string());
    const std::vector<Entity> got = get_entities(strings(c["tags"]), c["suffix"].as_bool());
    const std::vector<Entity> want = entities(c["entities"]);
    INFO("got " << describe(got) << "\nwant " << describe(want));
    CHECK(got == want);
  }
}

TEST_CASE("get_entities_of_sequences matches seqeval's list-of-lists input", "[seqeval][golden]") {
  REQUIRE(count_kind("entities_of_sequences") >= 3);
  for (const json::Value& c : golden_cases()) {
    if (c["kind"].as_string() != "entities_of_sequences") continue;
    INFO("case " << c["name"].as_string());
    const std::vector<Entity> got = get_entities_of_sequences(sequences(c["sequences"]), c["suffix"].as_bool());
    const std::vector<Entity> want = entities(c["entities"]);
    INFO("got " << describe(got) << "\nwant " << describe(want));
    CHECK(got == want);
  }
}

TEST_CASE("seqeval_metrics matches HF evaluate's seqeval as run_ner flattens it", "[seqeval][golden]") {
  REQUIRE(count_kind("metrics") >= 25);
  std::size_t compared = 0, errors = 0;
  for (const json::Value& c : golden_cases()) {
    if (c["kind"].as_string() != "metrics") continue;
    INFO("case " << c["name"].as_string());
    const auto predictions = sequences(c["predictions"]);
    const auto references = sequences(c["references"]);
    const bool suffix = c["suffix"].as_bool();
    if (c.contains("error")) {
      ++errors;
      if (c["error"].as_string() == "ValueError") {
        CHECK_THROWS_AS(seqeval_metrics(predictions, references, suffix), ValueError);
      } else {
        // seqeval refuses zero sequences (TypeError); here every score is 0.
        REQUIRE(predictions.empty());
        const Metrics m = seqeval_metrics(predictions, references, suffix);
        CHECK(m == Metrics{{"overall_precision", 0.0}, {"overall_recall", 0.0}, {"overall_f1", 0.0}, {"overall_accuracy", 0.0}});
      }
      continue;
    }
    const Metrics m = seqeval_metrics(predictions, references, suffix);
    const json::Object& want = c["metrics"].as_object();
    CHECK(m.size() == want.size());
    for (const auto& [name, value] : want) {
      INFO("metric " << name);
      const auto it = m.find(name);
      REQUIRE(it != m.end());
      // No tags at all: accuracy_score divides by zero in Python; 0 here.
      const double expected = value.is_null() ? 0.0 : value.as_double();
      CHECK(std::fabs(it->second - expected) <= 1e-12);
      ++compared;
    }
  }
  CHECK(errors == 3);
  CHECK(compared > 200);
}

TEST_CASE("seqeval_metrics and get_entities: clear errors", "[seqeval]") {
  CHECK_THROWS_MATCHES(seqeval_metrics({{"O"}, {"O"}}, {{"O"}}), ValueError,
                       Catch::Matchers::Message("seqeval_metrics: 2 predicted sequences but 1 reference sequences"));
  CHECK_THROWS_MATCHES(seqeval_metrics({{"O", "B-PER"}, {"O"}}, {{"O", "B-PER"}, {"O", "O"}}), ValueError,
                       Catch::Matchers::Message("seqeval_metrics: sequence 1 has 1 predicted tags but 2 reference tags"));
  CHECK_THROWS_MATCHES(get_entities({"B-PER", ""}), ValueError,
                       Catch::Matchers::Message("get_entities: tag 1 is an empty string, not a tag"));
  CHECK_THROWS_MATCHES(seqeval_metrics({{"O"}, {"B-PER", ""}}, {{"O"}, {"B-PER", "O"}}), ValueError,
                       Catch::Matchers::Message("get_entities: tag 1 of sequence 1 is an empty string, not a tag"));
}

TEST_CASE("seqeval_compute_metrics scores the Trainer's token-classification predictions", "[seqeval]") {
  const std::vector<std::string> names{"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
  const ComputeMetrics compute = seqeval_compute_metrics(names);
  // Two samples of 3 and 2 labelled tokens; the logits' argmax is the predicted id.
  //   predicted  [B-PER I-PER O] [I-LOC O]      references [B-PER I-PER O] [B-LOC B-LOC]
  const std::vector<std::int64_t> predicted{1, 2, 0, 4, 0}, labels{1, 2, 0, 3, 3};
  std::vector<float> logits(predicted.size() * names.size(), 0.0f);
  for (std::size_t t = 0; t < predicted.size(); ++t) logits[t * names.size() + static_cast<std::size_t>(predicted[t])] = 2.5f;
  EvalPrediction p{Tensor::from_vector(logits, {5, 5}), Tensor::from_vector(labels), {3, 2}};
  const Metrics m = compute(p);
  const Metrics want = seqeval_metrics({{"B-PER", "I-PER", "O"}, {"I-LOC", "O"}}, {{"B-PER", "I-PER", "O"}, {"B-LOC", "B-LOC"}});
  CHECK(m == want);
  CHECK(m.at("PER_f1") == 1.0);
  CHECK(m.at("LOC_number") == 2.0);
  CHECK(m.at("LOC_precision") == 1.0);  // I-LOC alone is the LOC chunk (1, 1), like B-LOC
  CHECK(m.at("LOC_recall") == 0.5);
  CHECK(m.at("overall_precision") == 1.0);
  CHECK(m.at("overall_recall") == 2.0 / 3.0);
  CHECK(m.at("overall_accuracy") == 3.0 / 5.0);

  // Split differently, the I-LOC would continue nothing: sequences matter.
  EvalPrediction one_sequence{p.logits, p.labels, {5}};
  CHECK(compute(one_sequence) ==
        seqeval_metrics({{"B-PER", "I-PER", "O", "I-LOC", "O"}}, {{"B-PER", "I-PER", "O", "B-LOC", "B-LOC"}}));

  // Samples without labelled tokens.
  EvalPrediction with_empty{p.logits, p.labels, {0, 3, 0, 2, 0}};
  CHECK(compute(with_empty) == want);
}

TEST_CASE("seqeval_compute_metrics: clear errors", "[seqeval]") {
  const ComputeMetrics compute = seqeval_compute_metrics({"O", "B-PER", "I-PER"});
  const Tensor logits = Tensor::from_vector(std::vector<float>{1, 0, 0, 0, 1, 0}, {2, 3});
  const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{0, 1});
  CHECK_THROWS_MATCHES(compute(EvalPrediction{logits, labels, {}}), ValueError,
                       Catch::Matchers::Message("seqeval_compute_metrics: seqeval needs the Trainer's token-classification "
                                                "predictions (0 sequence lengths summing to 0 for 2 tokens)"));
  CHECK_THROWS_WITH(compute(EvalPrediction{logits, labels, {1, 2}}),
                    Contains("seqeval needs the Trainer's token-classification predictions") &&
                        Contains("2 sequence lengths summing to 3 for 2 tokens"));
  CHECK_THROWS_AS(compute(EvalPrediction{logits, labels, {3, -1}}), ValueError);
  CHECK_THROWS_MATCHES(compute(EvalPrediction{logits, Tensor::from_vector(std::vector<std::int64_t>{0, 7}), {2}}),
                       ValueError,
                       Catch::Matchers::Message("seqeval_compute_metrics: label 7 of token 1 is not a label id (3 label names)"));
  CHECK_THROWS_WITH(compute(EvalPrediction{logits, Tensor::from_vector(std::vector<std::int64_t>{-100, 1}), {2}}),
                    Contains("label -100 of token 0 is not a label id"));
  // More logits columns than names: the predicted id is out of range.
  const ComputeMetrics short_names = seqeval_compute_metrics({"O", "B-PER"});
  CHECK_THROWS_MATCHES(short_names(EvalPrediction{Tensor::from_vector(std::vector<float>{0, 0, 1}, {1, 3}),
                                                  Tensor::from_vector(std::vector<std::int64_t>{0}), {1}}),
                       ValueError,
                       Catch::Matchers::Message(
                           "seqeval_compute_metrics: predicted label 2 of token 0 is not a label id (2 label names)"));
  CHECK_THROWS_AS(compute(EvalPrediction{Tensor::from_vector(std::vector<float>{1, 0, 0}, {1, 3}), labels, {2}}),
                  ShapeError);
  CHECK_THROWS_AS(compute(EvalPrediction{}), ValueError);
  CHECK_THROWS_AS(seqeval_compute_metrics({}), ValueError);
}
