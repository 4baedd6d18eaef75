#pragma once
// Reading the torch goldens of tests/data/nn/*.json ({"shape", "values"} tensors, written in
// float64 by tests/reference/make_*_golden.py) and comparing tinyxf's tensors with them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tinyxf/io/json.hpp"
#include "tinyxf/tensor.hpp"

namespace tinyxf::testing {

// tests/data/nn/<file>, parsed once.
inline const json::Value& golden(const std::string& file) {
  static std::map<std::string, json::Value> parsed;
  auto it = parsed.find(file);
  if (it == parsed.end())
    it = parsed.emplace(file, json::parse_file(std::string(TINYXF_SOURCE_DIR) + "/tests/data/nn/" + file)).first;
  return it->second;
}

inline Tensor from_json(const json::Value& t, DType dtype, Device device) {
  std::vector<double> values;
  for (const auto& v : t["values"].as_array()) values.push_back(v.as_double());
  Shape shape;
  for (const auto& v : t["shape"].as_array()) shape.push_back(v.as_int());
  return Tensor::from_vector(values, shape).to(dtype).to(device);
}

// |actual - expected| <= rel * max |expected| + floor over the tensor (NaN only where expected),
// with the worst element in the message.
inline void check_close(const Tensor& actual, const json::Value& expected_json, double rel, const std::string& what,
                        double floor = 0.0) {
  const Tensor expected = from_json(expected_json, kFloat64, Device::cpu());
  INFO(what);
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == expected.shape());
  const auto a = actual.to(Device::cpu()).to(kFloat64).contiguous().to_vector<double>();
  const auto e = expected.to_vector<double>();
  double scale = 0, worst = 0;
  std::size_t at = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - e[i]) > worst || std::isnan(a[i]) != std::isnan(e[i])) worst = std::abs(a[i] - e[i]), at = i;
  INFO("worst element " << at << ": " << (a.empty() ? 0 : a[at]) << " vs " << (e.empty() ? 0 : e[at])
                        << " (scale " << scale << ")");
  CHECK(worst <= rel * std::max(scale, 1e-30) + floor);
}

}  // namespace tinyxf::testing
