#pragma once
// Classification label names in config.json (transformers' id2label / label2id), shared by the
// model families' configs.
#include <charconv>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "tinyxf/io/json.hpp"

namespace tinyxf::models::labels {

// id2label keys are canonical decimal integers ("0", "17"): no sign, no leading zeros (which
// would let "00" and "0" name one label), nothing after the digits. `who` prefixes errors.
inline std::int64_t parse_label_id(std::string_view key, std::string_view who) {
  std::int64_t id = 0;
  const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), id);
  const bool canonical = !key.empty() && (key == "0" || key[0] != '0');
  TINYXF_CHECK(error == std::errc() && end == key.data() + key.size() && canonical && id >= 0, who,
               ": id2label key \"", key, "\" is not a label index (a decimal integer like \"0\")");
  return id;
}

// Reads config.json's id2label (if present) into `id2label`; returns how many labels it names.
inline std::int64_t read_id2label(const json::Value& j, std::map<std::int64_t, std::string>& id2label,
                                  std::string_view who) {
  const auto* v = j.find("id2label");
  if (!v || !v->is_object()) return 0;
  for (const auto& [key, name] : v->as_object()) {
    const std::int64_t id = parse_label_id(key, who);
    TINYXF_CHECK(name.is_string(), who, ": id2label[\"", key, "\"] is a JSON ", name.type_name(), ", not a string");
    TINYXF_CHECK(id2label.emplace(id, name.as_string()).second, who, ": id2label key \"", key, "\" appears twice");
  }
  return static_cast<std::int64_t>(id2label.size());
}

// id2label and label2id for num_labels labels; unnamed ones are LABEL_<i>, as transformers names them.
inline std::pair<json::Value, json::Value> to_json(const std::map<std::int64_t, std::string>& id2label,
                                                   std::int64_t num_labels) {
  json::Object id2, label2;
  for (std::int64_t i = 0; i < num_labels; ++i) {
    const auto it = id2label.find(i);
    const std::string name = it != id2label.end() ? it->second : "LABEL_" + std::to_string(i);
    id2.push_back(std::to_string(i), name);
    label2.push_back(name, i);
  }
  return {json::Value(std::move(id2)), json::Value(std::move(label2))};
}

}  // namespace tinyxf::models::labels
