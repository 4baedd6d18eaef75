#pragma once
// config.json of any model family: read (bounded, errors prefixed with the file and keeping
// their type) into Config::from_json, and written atomically in Hugging Face's layout; and what
// the families' configs share in between: optional fields read with their types (ConfigFields),
// range checks that name the config and the field (ConfigChecks).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "tinyxf/core/error.hpp"
#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"

namespace tinyxf::models {

template <class Config>
Config load_config_file(const std::filesystem::path& path) {
  try {
    return Config::from_json(json::parse(io::read_file(path, io::limits::json_file)));
  } catch (const Error&) {
    rethrow_with_context("reading " + path.string() + ": ");
  }
}

inline void save_config_file(const std::filesystem::path& path, const json::Value& config) {
  io::write_file_atomic(path, json::dump(config, 2) + "\n");
}

// Optional fields of a parsed config.json: an absent or null key keeps the field's default; any
// other value must have the field's type (json's error names the key).
class ConfigFields {
 public:
  explicit ConfigFields(const json::Value& j) : j_(j) {}
  template <class T>
  void get(const char* key, T& field) const {
    if (const auto* v = j_.find(key); v && !v->is_null()) field = j_.get<T>(key);
  }

 private:
  const json::Value& j_;
};

// The checks of Config::validate(), each error naming the config class and the field.
class ConfigChecks {
 public:
  explicit ConfigChecks(const char* config) : config_(config) {}
  void in_range(const char* field, std::int64_t value, std::int64_t low, std::int64_t high) const {
    TINYXF_CHECK(value >= low && value <= high, config_, ": ", field, " = ", value, " is outside the supported range [",
                 low, ", ", high, "]");
  }
  // HF's ACT2FN names the encoders support.
  void activation(const char* field, const std::string& value) const {
    TINYXF_CHECK(value == "gelu" || value == "relu" || value == "gelu_new" || value == "gelu_pytorch_tanh", config_,
                 ": unsupported ", field, " '", value, "'");
  }
  void probability(const char* field, double p) const {
    TINYXF_CHECK(p >= 0 && p < 1, config_, ": ", field, " = ", p, " must be a probability in [0, 1)");
  }
  // config.json's problem_type: empty (null: inferred from the labels) or one of transformers' three.
  void problem_type(const std::string& value) const {
    TINYXF_CHECK_AS(ValueError, value.empty() || value == "regression" || value == "single_label_classification" ||
                                    value == "multi_label_classification",
                    config_, ": config.json's problem_type '", value, "' is not one of regression, "
                    "single_label_classification, multi_label_classification (or null)");
  }
  // layer_norm_eps in (0, 1], initializer_range finite and >= 0, id2label keys below num_labels.
  void norms_init_and_labels(double layer_norm_eps, double initializer_range,
                             const std::map<std::int64_t, std::string>& id2label, std::int64_t num_labels) const {
    TINYXF_CHECK(std::isfinite(layer_norm_eps) && layer_norm_eps > 0 && layer_norm_eps <= 1, config_,
                 ": layer_norm_eps = ", layer_norm_eps, " must be in (0, 1]");
    TINYXF_CHECK(std::isfinite(initializer_range) && initializer_range >= 0, config_, ": initializer_range = ",
                 initializer_range, " must be finite and >= 0");
    for (const auto& entry : id2label) in_range("id2label key", entry.first, 0, num_labels - 1);
  }

 private:
  const char* config_;
};

}  // namespace tinyxf::models
