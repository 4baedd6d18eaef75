// DistilBertConfig validation: every field bounded, errors naming the field (issue 11, items 1
// and 9). Only the config header: this test builds in seconds and runs under the sanitizers.
#include "tinyxf/models/distilbert/config.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace tinyxf;
using models::DistilBertConfig;
using Catch::Matchers::Contains;

namespace {
std::string config_error(const std::string& json_text) {
  try {
    (void)DistilBertConfig::from_json(json::parse(json_text));
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("the config was accepted: " << json_text);
  return {};
}
}  // namespace

TEST_CASE("config.json sizes that overflowed allocations are refused, naming the field", "[models][config]") {
  // The issue's config.json: vocab_size x dim = 2^62 floats wrapped to a 64-byte allocation.
  CHECK_THAT(config_error(R"({"vocab_size":2147483648,"dim":2147483648,"n_heads":16})"),
             Contains("DistilBertConfig: vocab_size = 2147483648 is outside the supported range [1, 16777216]"));
  CHECK_THAT(config_error(R"({"dim":2147483648,"n_heads":16})"),
             Contains("dim = 2147483648 is outside the supported range [1, 65536]"));
  CHECK_THAT(config_error(R"({"num_labels":4611686018427387904})"),
             Contains("num_labels = 4611686018427387904 is outside the supported range [1, 1048576]"));
  CHECK_THAT(config_error(R"({"n_layers":100000})"), Contains("n_layers = 100000"));
  CHECK_THAT(config_error(R"({"hidden_dim":-4})"), Contains("hidden_dim = -4"));
  CHECK_THAT(config_error(R"({"max_position_embeddings":0})"), Contains("max_position_embeddings = 0"));
  CHECK_THAT(config_error(R"({"n_heads":1000})"), Contains("n_heads = 1000 is outside the supported range [1, 768]"));
  CHECK_THAT(config_error(R"({"n_heads":7})"), Contains("dim 768 must be a multiple of n_heads 7"));
  CHECK_THAT(config_error(R"({"pad_token_id":30522})"), Contains("pad_token_id = 30522"));
  // Each field within its range, together still too big: the parameter count is bounded too.
  CHECK_THAT(config_error(R"({"vocab_size":16777216,"dim":65536,"n_heads":1})"),
             Contains("parameters") && Contains("more than the limit of 4294967296"));
}

TEST_CASE("config.json values of the wrong type or out of range name the field", "[models][config]") {
  CHECK_THAT(config_error(R"({"dim":"768"})"), Contains("(key \"dim\")"));
  CHECK_THAT(config_error(R"({"vocab_size":1e30})"), Contains("(key \"vocab_size\")"));
  CHECK_THAT(config_error(R"({"dropout":"high"})"), Contains("(key \"dropout\")"));
  CHECK_THAT(config_error(R"({"dropout":1.5})"), Contains("dropout = 1.5 must be a probability in [0, 1)"));
  CHECK_THAT(config_error(R"({"attention_dropout":-0.1})"), Contains("attention_dropout = -0.1"));
  // Item 9: layer_norm_eps <= 0 was accepted (0 divides by zero on a constant row).
  CHECK_THAT(config_error(R"({"layer_norm_eps":0})"), Contains("layer_norm_eps = 0 must be in (0, 1]"));
  CHECK_THAT(config_error(R"({"layer_norm_eps":-1e-12})"), Contains("layer_norm_eps = -1e-12"));
  CHECK_THAT(config_error(R"({"initializer_range":-1})"), Contains("initializer_range = -1"));
}

TEST_CASE("id2label keys are canonical label indices", "[models][config]") {
  // Item 9: stoll accepted "1x", and "00" collided with "0".
  CHECK_THAT(config_error(R"({"id2label":{"0":"neg","1x":"pos"}})"),
             Contains("id2label key \"1x\" is not a label index"));
  CHECK_THAT(config_error(R"({"id2label":{"0":"neg","00":"pos"}})"), Contains("id2label key \"00\""));
  CHECK_THAT(config_error(R"({"id2label":{"-1":"neg"}})"), Contains("id2label key \"-1\""));
  CHECK_THAT(config_error(R"({"id2label":{"":"neg"}})"), Contains("id2label key \"\""));
  CHECK_THAT(config_error(R"({"id2label":{"0":"neg","5":"pos"}})"),
             Contains("id2label key = 5 is outside the supported range [0, 1]"));
  CHECK_THAT(config_error(R"({"id2label":{"0":7}})"), Contains("id2label[\"0\"] is a JSON integer, not a string"));

  const auto config = DistilBertConfig::from_json(json::parse(R"({"id2label":{"1":"pos","0":"neg","10":"x",
      "2":"a","3":"b","4":"c","5":"d","6":"e","7":"f","8":"g","9":"h"}})"));
  CHECK(config.num_labels == 11);
  CHECK(config.id2label.at(10) == "x");
}

TEST_CASE("the default and the largest published configurations validate", "[models][config]") {
  CHECK_NOTHROW(DistilBertConfig{}.validate());
  // bert-large-sized: 1024 wide, 24 layers, a 250k-token multilingual vocabulary.
  CHECK_NOTHROW(DistilBertConfig::from_json(json::parse(
      R"({"vocab_size":250002,"dim":1024,"n_heads":16,"n_layers":24,"hidden_dim":4096,"max_position_embeddings":8192})")));
  CHECK(DistilBertConfig{}.classification_parameter_count() == 66955010);  // distilbert-base-uncased + 2-label head
}
