// libFuzzer target: config.json loading (DistilBERT and BERT field names, pretrained.hpp's
// config_from_json). An accepted config must be valid, survive a to_json/from_json round trip
// unchanged, and, when small, build a model whose parameter count is the one validate() bounded
// (the path where a config once turned into a wrapped allocation).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tinyxf/models/distilbert/pretrained.hpp"
#include "tinyxf/tensor.hpp"  // registers the cpu backend the small models are built on

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinyxf;
  models::DistilBertConfig config;
  try {
    config = models::config_from_json(json::parse(std::string_view(reinterpret_cast<const char*>(data), size)));
  } catch (const Error&) {
    return 0;  // invalid JSON or config, reported naming the field
  }
  config.validate();  // must not throw: config_from_json validated it
  if (config.num_labels <= 1000) {  // to_json lists every label: keep each run fast
    const std::string saved = json::dump(config.to_json(models::DistilBertForSequenceClassification::architecture));
    const auto reloaded = models::DistilBertConfig::from_json(json::parse(saved));
    if (json::dump(reloaded.to_json(models::DistilBertForSequenceClassification::architecture)) != saved) std::abort();
  }

  const std::int64_t parameters = config.classification_parameter_count();
  if (parameters <= 0 || parameters > models::DistilBertConfig::Limits::parameters) std::abort();
  if (parameters <= 20'000) {
    Generator generator(0);
    models::DistilBertForSequenceClassification model(config, generator);
    if (model.num_parameters() != parameters) std::abort();
  }
  return 0;
}
