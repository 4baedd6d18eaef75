// Question answering evaluation (train/question_answering.hpp) against transformers' run_qa.py /
// utils_qa.py and the official SQuAD scripts, on the goldens of tests/data/golden/squad/
// (tests/reference/make_squad_golden.py): the features data::prepare_question_answering_features
// makes, the predictions and n-best lists postprocess_qa_predictions makes from two sets of logits
// under several options, SQuAD v1.1 / v2.0 metrics, and normalize_answer / EM / F1 of single pairs.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tinyxf/io/json.hpp"
#include "tinyxf/tensor.hpp"
#include "tinyxf/train/question_answering.hpp"

using namespace tinyxf;
using namespace tinyxf::train;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kGoldenDir = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "squad";

std::vector<json::Value> read_jsonl(const std::string& name) {
  std::ifstream in(kGoldenDir / name, std::ios::binary);
  REQUIRE(in.good());
  std::vector<json::Value> records;
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  REQUIRE(!records.empty());
  return records;
}

const json::Value& golden_header() {
  static const json::Value header = json::parse_file(kGoldenDir / "examples.json");
  return header;
}

const std::vector<data::QuestionAnsweringExample>& golden_examples() {
  static const std::vector<data::QuestionAnsweringExample> examples = [] {
    std::vector<data::QuestionAnsweringExample> out;
    for (const json::Value& e : golden_header()["examples"].as_array()) {
      data::QuestionAnsweringExample example{e["id"].as_string(), e["question"].as_string(), e["context"].as_string(), {}};
      for (const json::Value& a : e["answers"].as_array())
        example.answers.push_back({a["text"].as_string(), a["answer_start"].as<std::size_t>()});
      out.push_back(std::move(example));
    }
    return out;
  }();
  return examples;
}

// The features as run_qa made them (offsets None outside the context: is_context false there).
const std::vector<data::QuestionAnsweringFeature>& golden_features() {
  static const std::vector<data::QuestionAnsweringFeature> features = [] {
    std::vector<data::QuestionAnsweringFeature> out;
    for (const json::Value& f : read_jsonl("features.jsonl")) {
      data::QuestionAnsweringFeature feature;
      for (const json::Value& id : f["input_ids"].as_array()) feature.input_ids.push_back(id.as<text::TokenId>());
      for (const json::Value& type : f["token_type_ids"].as_array()) feature.token_type_ids.push_back(type.as<std::int32_t>());
      for (const json::Value& offset : f["offset_mapping"].as_array()) {
        feature.is_context.push_back(offset.is_null() ? 0 : 1);
        feature.offsets.push_back(offset.is_null() ? text::CharSpan{} : text::CharSpan{offset[0].as<std::size_t>(), offset[1].as<std::size_t>()});
      }
      feature.example_index = f["example_index"].as<std::size_t>();
      feature.start_position = f["start_position"].as<std::int64_t>();
      feature.end_position = f["end_position"].as<std::int64_t>();
      out.push_back(std::move(feature));
    }
    return out;
  }();
  return features;
}

Tensor golden_logits(const std::string& name) {
  static const json::Value logits = json::parse_file(kGoldenDir / "logits.json");
  const json::Value& shape = logits["shape"];
  std::vector<float> values;
  for (const json::Value& feature : logits[name].as_array())
    for (const json::Value& position : feature.as_array())
      for (const json::Value& v : position.as_array()) values.push_back(static_cast<float>(v.as_double()));
  return Tensor::from_vector(values, {shape[0].as<std::int64_t>(), shape[1].as<std::int64_t>(), shape[2].as<std::int64_t>()});
}

const text::BertTokenizer& tokenizer() {
  static const text::BertTokenizer tok =
      text::BertTokenizer::from_file(fs::path(TINYXF_SOURCE_DIR) / golden_header()["vocab"].as_string());
  return tok;
}

// Python float32 values written as the shortest decimal: compare as float32.
bool same_float32(double cpp, const json::Value& golden) {
  return static_cast<float>(cpp) == static_cast<float>(golden.as_double());
}

template <class Keep>
std::vector<std::size_t> indices_where(std::size_t n, Keep keep) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < n; ++i)
    if (keep(i)) out.push_back(i);
  return out;
}

// One tiny feature: [CLS] q [SEP] c c [SEP], context tokens 3 and 4 spanning "ab" and "cd" of "ab cd".
data::QuestionAnsweringFeature tiny_feature(std::size_t example_index = 0) {
  data::QuestionAnsweringFeature f;
  f.input_ids = {101, 1000, 102, 2000, 2001, 102};
  f.token_type_ids = {0, 0, 0, 1, 1, 1};
  f.is_context = {0, 0, 0, 1, 1, 0};
  f.offsets = {{}, {}, {}, {0, 2}, {3, 5}, {}};
  f.example_index = example_index;
  return f;
}

Tensor tiny_logits(std::vector<float> start, std::vector<float> end) {
  std::vector<float> values;
  for (std::size_t t = 0; t < start.size(); ++t) values.insert(values.end(), {start[t], end[t]});
  return Tensor::from_vector(values, {1, static_cast<std::int64_t>(start.size()), 2});
}

}  // namespace

TEST_CASE("prepare_question_answering_features reproduces run_qa's features", "[qa][golden]") {
  const json::Value& header = golden_header();
  data::QuestionAnsweringOptions options;
  options.max_length = header["max_length"].as<std::size_t>();
  options.doc_stride = header["doc_stride"].as<std::size_t>();
  const auto features = data::prepare_question_answering_features(golden_examples(), tokenizer(), options);
  const auto& golden = golden_features();
  REQUIRE(features.size() == golden.size());
  for (std::size_t i = 0; i < golden.size(); ++i) {
    INFO("feature " << i << " of example \"" << golden_examples()[golden[i].example_index].id << "\"");
    CHECK(features[i].example_index == golden[i].example_index);
    CHECK(features[i].input_ids == golden[i].input_ids);
    CHECK(features[i].token_type_ids == golden[i].token_type_ids);
    REQUIRE(features[i].is_context == golden[i].is_context);
    for (std::size_t t = 0; t < golden[i].offsets.size(); ++t)
      if (golden[i].is_context[t]) CHECK(features[i].offsets[t] == golden[i].offsets[t]);
    const bool run_qa_walked_past_the_context =
        golden[i].start_position > 0 && !golden[i].is_context[static_cast<std::size_t>(golden[i].start_position)];
    if (!run_qa_walked_past_the_context) {
      CHECK(features[i].start_position == golden[i].start_position);
      CHECK(features[i].end_position == golden[i].end_position);
    } else {
      // Known difference: when the answer starts in the window's last context token, run_qa's
      // prepare_train_features walks onto [SEP] (its comment: "we could go after the last offset
      // if the answer is the last word (edge case)") and labels start = [SEP], after the end.
      // tinyxf labels the answer's own token.
      std::size_t last_context = 0;
      for (std::size_t t = 0; t < golden[i].is_context.size(); ++t)
        if (golden[i].is_context[t]) last_context = t;
      CHECK(golden[i].start_position == static_cast<std::int64_t>(last_context + 1));
      CHECK(features[i].start_position == static_cast<std::int64_t>(last_context));
      CHECK(features[i].end_position == golden[i].end_position);
    }
  }
}

TEST_CASE("postprocess_qa_predictions matches utils_qa on the goldens", "[qa][golden]") {
  const auto& examples = golden_examples();
  const auto& features = golden_features();
  std::set<std::string> scenarios;
  for (const json::Value& scenario : read_jsonl("postprocess.jsonl")) {
    const std::string name = scenario["name"].as_string();
    scenarios.insert(name);
    INFO("scenario " << name);
    const json::Value& opt = scenario["options"];
    QuestionAnsweringPostprocessOptions options;
    options.n_best_size = opt["n_best_size"].as<std::size_t>();
    options.max_answer_length = opt["max_answer_length"].as<std::size_t>();
    options.version_2_with_negative = opt["version_2_with_negative"].as_bool();
    options.null_score_diff_threshold = opt["null_score_diff_threshold"].as_double();
    const Tensor logits = golden_logits(scenario["logits"].as_string());
    const auto predictions = postprocess_qa_predictions(examples, features, logits, options);
    const json::Array& expected = scenario["predictions"].as_array();
    REQUIRE(predictions.size() == expected.size());
    for (std::size_t e = 0; e < expected.size(); ++e) {
      INFO("example " << expected[e]["id"].as_string());
      CHECK(predictions[e].id == expected[e]["id"].as_string());
      CHECK(predictions[e].prediction_text == expected[e]["prediction_text"].as_string());
      CHECK(same_float32(predictions[e].null_score_diff, expected[e]["null_score_diff"]));
      const json::Array& n_best = expected[e]["n_best"].as_array();
      REQUIRE(predictions[e].n_best.size() == n_best.size());
      for (std::size_t k = 0; k < n_best.size(); ++k) {
        INFO("n-best " << k);
        const AnswerCandidate& c = predictions[e].n_best[k];
        CHECK(c.text == n_best[k]["text"].as_string());
        CHECK(same_float32(c.start_logit, n_best[k]["start_logit"]));
        CHECK(same_float32(c.end_logit, n_best[k]["end_logit"]));
        CHECK(static_cast<float>(c.score) == static_cast<float>(c.start_logit) + static_cast<float>(c.end_logit));
        CHECK(c.probability == Approx(n_best[k]["probability"].as_double()).margin(1e-6));
      }
    }
    // The C++ features give the same predictions (they match run_qa's where it matters: offsets).
    data::QuestionAnsweringOptions feature_options;
    feature_options.max_length = golden_header()["max_length"].as<std::size_t>();
    feature_options.doc_stride = golden_header()["doc_stride"].as<std::size_t>();
    const auto own = postprocess_qa_predictions(
        examples, data::prepare_question_answering_features(examples, tokenizer(), feature_options), logits, options);
    for (std::size_t e = 0; e < own.size(); ++e) CHECK(own[e].prediction_text == predictions[e].prediction_text);

    // v2 metrics over every example; squad_evaluate's best_* keys are left out on purpose.
    const Metrics v2 = squad_metrics(predictions, examples, true);
    std::set<std::string> expected_v2_keys;
    for (const auto& [key, value] : scenario["metrics_v2"].as_object()) {
      if (key.rfind("best_", 0) == 0) continue;
      expected_v2_keys.insert(key);
      INFO("v2 metric " << key);
      REQUIRE(v2.count(key) == 1);
      CHECK(v2.at(key) == Approx(value.as_double()).margin(1e-9));
    }
    CHECK(v2.size() == expected_v2_keys.size());
    // v1.1 over the examples with answers (the v1.1 script cannot score the others).
    const auto answered = indices_where(examples.size(), [&](std::size_t i) { return !examples[i].answers.empty(); });
    std::vector<QuestionAnsweringPrediction> answered_predictions;
    std::vector<data::QuestionAnsweringExample> answered_examples;
    for (const std::size_t i : answered) {
      answered_predictions.push_back(predictions[i]);
      answered_examples.push_back(examples[i]);
    }
    const Metrics v1 = squad_metrics(answered_predictions, answered_examples);
    REQUIRE(v1.size() == 2);
    CHECK(v1.at("exact_match") == Approx(scenario["metrics_v1_answered"]["exact_match"].as_double()).margin(1e-9));
    CHECK(v1.at("f1") == Approx(scenario["metrics_v1_answered"]["f1"].as_double()).margin(1e-9));
  }
  CHECK(scenarios.size() >= 9);
}

TEST_CASE("normalize_answer, exact match and F1 match the SQuAD scripts", "[qa][golden]") {
  for (const json::Value& c : read_jsonl("metric_cases.jsonl")) {
    const std::string prediction = c["prediction"].as_string(), truth = c["truth"].as_string();
    INFO("prediction \"" << prediction << "\", truth \"" << truth << "\"");
    CHECK(normalize_answer(prediction) == c["normalized_prediction"].as_string());
    CHECK(normalize_answer(truth) == c["normalized_truth"].as_string());
    CHECK(squad_exact_match(prediction, truth) == (c["exact_match"].as<int>() == 1));
    CHECK(squad_exact_match(prediction, truth) == (c["exact_v2"].as<int>() == 1));
    CHECK(squad_f1(prediction, truth) == Approx(c["f1_v1"].as_double()).margin(1e-12));
    CHECK(squad_f1(prediction, truth, true) == Approx(c["f1_v2"].as_double()).margin(1e-12));
  }
}

TEST_CASE("postprocess_qa_predictions: SQuAD 2.0 null answer and threshold", "[qa]") {
  const std::vector<data::QuestionAnsweringExample> examples{{"q", "?", "ab cd", {{"cd", 3}}}};
  const std::vector<data::QuestionAnsweringFeature> features{tiny_feature()};
  QuestionAnsweringPostprocessOptions options;
  options.version_2_with_negative = true;
  // null score 1 + 1 = 2; best span "ab cd" 0.75 + 0.5: score_diff = 0.75
  const Tensor logits = tiny_logits({1.0f, -5, -5, 0.75f, 0.25f, -5}, {1.0f, -5, -5, 0.0f, 0.5f, -5});
  options.null_score_diff_threshold = 0.75;  // not above: the span
  auto p = postprocess_qa_predictions(examples, features, logits, options);
  CHECK(p[0].prediction_text == "ab cd");
  CHECK(p[0].null_score_diff == 0.75);
  options.null_score_diff_threshold = 0.7;
  p = postprocess_qa_predictions(examples, features, logits, options);
  CHECK(p[0].prediction_text.empty());
  // The null answer (the best here) is in the n-best once, its text "".
  CHECK(p[0].n_best.front().text.empty());
  CHECK(std::count_if(p[0].n_best.begin(), p[0].n_best.end(), [](const AnswerCandidate& c) { return c.text.empty(); }) == 1);

  // Kept out of the n best by its low score, the null answer is appended last.
  options.n_best_size = 1;
  p = postprocess_qa_predictions(examples, features, tiny_logits({-9.0f, -5, -5, 0.75f, 0.25f, -5}, {-9.0f, -5, -5, 0.0f, 0.5f, -5}), options);
  REQUIRE(p[0].n_best.size() == 2);
  CHECK(p[0].n_best[0].text == "ab cd");
  CHECK(p[0].n_best[1].text.empty());
  CHECK(p[0].n_best[1].score == -18.0);
  CHECK(p[0].n_best[0].probability + p[0].n_best[1].probability == Approx(1.0));

  // float32 like numpy: score_diff = float32(0.1) is not above the threshold 0.1 (a float32 there too).
  options.n_best_size = 20;
  options.null_score_diff_threshold = 0.1;
  p = postprocess_qa_predictions(examples, features, tiny_logits({0.1f, -5, -5, 0.0f, -1, -5}, {0.0f, -5, -5, -1, 0.0f, -5}), options);
  CHECK(static_cast<float>(p[0].null_score_diff) == 0.1f);
  CHECK(p[0].prediction_text == "ab cd");

  // Positions past the feature's end are never answers, whatever their logits.
  options.version_2_with_negative = false;
  const Tensor padded = tiny_logits({0, -5, -5, 0.5f, 0.25f, -5, 50, 50}, {0, -5, -5, 0.25f, 0.5f, -5, 50, 50});
  p = postprocess_qa_predictions(examples, features, padded, options);
  CHECK(p[0].prediction_text == "ab cd");
}

TEST_CASE("postprocess_qa_predictions: several features of an example, none of another", "[qa]") {
  const std::vector<data::QuestionAnsweringExample> examples{{"a", "?", "ab cd", {{"ab", 0}}}, {"b", "?", "ab cd", {}}};
  // Both features belong to example 0; the second one's span wins.
  const std::vector<data::QuestionAnsweringFeature> features{tiny_feature(0), tiny_feature(0)};
  std::vector<float> values;
  for (const auto& [s, e] : std::vector<std::pair<float, float>>{{0, 0}, {-5, -5}, {-5, -5}, {1, 0}, {0, 1}, {-5, -5}})
    values.insert(values.end(), {s, e});
  for (const auto& [s, e] : std::vector<std::pair<float, float>>{{-1, -1}, {-5, -5}, {-5, -5}, {3, 0.5f}, {0, 0}, {-5, -5}})
    values.insert(values.end(), {s, e});
  const Tensor logits = Tensor::from_vector(values, {2, 6, 2});
  const auto p = postprocess_qa_predictions(examples, features, logits);
  REQUIRE(p.size() == 2);
  CHECK(p[0].prediction_text == "ab");
  CHECK(p[0].n_best.front().score == 3.5);
  // No features: utils_qa's "empty" stand-in in v1, an error in v2 (no null score to compare).
  CHECK(p[1].prediction_text == "empty");
  REQUIRE(p[1].n_best.size() == 1);
  CHECK(p[1].n_best[0].probability == 1.0);
  QuestionAnsweringPostprocessOptions v2;
  v2.version_2_with_negative = true;
  CHECK_THROWS_MATCHES(postprocess_qa_predictions(examples, features, logits, v2), ValueError,
                       Catch::Matchers::Message(
                           "postprocess_qa_predictions: example 1 (id \"b\") has no features, so no null answer to score"));
}

TEST_CASE("postprocess_qa_predictions: clear errors on mismatched inputs", "[qa]") {
  const std::vector<data::QuestionAnsweringExample> examples{{"q", "?", "ab cd", {{"cd", 3}}}};
  const std::vector<data::QuestionAnsweringFeature> features{tiny_feature()};
  const std::vector<float> six(6 * 2, 0.0f);
  // wrong N
  CHECK_THROWS_AS(postprocess_qa_predictions(examples, features, Tensor::from_vector(std::vector<float>(24), {2, 6, 2})), ShapeError);
  CHECK_THROWS_WITH(postprocess_qa_predictions(examples, features, Tensor::from_vector(std::vector<float>(24), {2, 6, 2})),
                    Contains("2 rows of logits but 1 features"));
  // wrong last dimension, wrong rank
  CHECK_THROWS_AS(postprocess_qa_predictions(examples, features, Tensor::from_vector(std::vector<float>(18), {1, 6, 3})), ShapeError);
  CHECK_THROWS_WITH(postprocess_qa_predictions(examples, features, Tensor::from_vector(std::vector<float>(18), {1, 6, 3})),
                    Contains("[features, sequence, 2]") && Contains("[1, 6, 3]"));
  CHECK_THROWS_AS(postprocess_qa_predictions(examples, features, Tensor::from_vector(six, {6, 2})), ShapeError);
  // S shorter than a feature
  CHECK_THROWS_AS(postprocess_qa_predictions(examples, features, Tensor::from_vector(std::vector<float>(10), {1, 5, 2})), ShapeError);
  CHECK_THROWS_WITH(postprocess_qa_predictions(examples, features, Tensor::from_vector(std::vector<float>(10), {1, 5, 2})),
                    Contains("feature 0 has 6 tokens but the logits only 5 positions"));
  // a feature of an example that does not exist
  CHECK_THROWS_AS(postprocess_qa_predictions(examples, {tiny_feature(3)}, Tensor::from_vector(six, {1, 6, 2})), ValueError);
  CHECK_THROWS_WITH(postprocess_qa_predictions(examples, {tiny_feature(3)}, Tensor::from_vector(six, {1, 6, 2})),
                    Contains("feature 0 belongs to example 3 but there are 1 examples"));
  // inconsistent feature
  auto broken = tiny_feature();
  broken.offsets.pop_back();
  CHECK_THROWS_AS(postprocess_qa_predictions(examples, {broken}, Tensor::from_vector(six, {1, 6, 2})), ValueError);
  // dtype
  CHECK_THROWS_AS(postprocess_qa_predictions(examples, features, Tensor::from_vector(six, {1, 6, 2}).to(kFloat64)), DTypeError);
}

TEST_CASE("squad_metrics: errors, empty sets and the v2 groups", "[qa]") {
  const std::vector<data::QuestionAnsweringExample> examples{{"a", "?", "x", {{"x", 0}}}, {"b", "?", "x", {}}};
  std::vector<QuestionAnsweringPrediction> predictions{{"a", "x", {}, 0}, {"b", "", {}, 0}};
  CHECK_THROWS_WITH(squad_metrics(predictions, examples), Contains("example 1 (id \"b\") has no answers"));
  const Metrics v2 = squad_metrics(predictions, examples, true);
  CHECK(v2.at("exact") == 100.0);
  CHECK(v2.at("total") == 2.0);
  CHECK(v2.at("HasAns_total") == 1.0);
  CHECK(v2.at("NoAns_f1") == 100.0);
  // Only the groups that have examples.
  const Metrics answered_only = squad_metrics({predictions[0]}, {examples[0]}, true);
  CHECK(answered_only.count("NoAns_exact") == 0);
  CHECK(answered_only.count("HasAns_exact") == 1);
  CHECK_THROWS_AS(squad_metrics({predictions[0]}, examples), ValueError);
  std::swap(predictions[0], predictions[1]);
  CHECK_THROWS_WITH(squad_metrics(predictions, examples, true),
                    Contains("prediction 0 has id \"b\" but example 0 has id \"a\""));
  const Metrics none = squad_metrics({}, {});
  CHECK(none.at("exact_match") == 0.0);
  CHECK(none.at("f1") == 0.0);
}

TEST_CASE("squad_compute_metrics runs postprocess and the metrics for the Trainer", "[qa][golden]") {
  const auto& examples = golden_examples();
  const auto& features = golden_features();
  QuestionAnsweringPostprocessOptions options;
  options.version_2_with_negative = true;
  options.max_answer_length = 10;  // the "shaped_v2" scenario: every answer right
  const ComputeMetrics compute = squad_compute_metrics(examples, features, options);
  const ComputeMetrics copy = compute;  // shares the examples and features
  const Tensor logits = golden_logits("shaped");
  std::vector<std::int64_t> positions;
  for (const auto& f : features) positions.insert(positions.end(), {f.start_position, f.end_position});
  const EvalPrediction prediction{logits, Tensor::from_vector(positions, {static_cast<std::int64_t>(features.size()), 2})};
  const Metrics expected = squad_metrics(postprocess_qa_predictions(examples, features, logits, options), examples, true);
  CHECK(compute(prediction) == expected);
  CHECK(copy(prediction) == expected);
  CHECK(expected.at("exact") == 100.0);
  CHECK_THROWS_AS(compute(EvalPrediction{}), ValueError);
}
