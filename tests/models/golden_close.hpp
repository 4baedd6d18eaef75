#pragma once
// One golden comparison for the model tests: a tensor against a float32 tensor of a golden
// safetensors file, max |err| within a tolerance (reported with what and name on failure); and
// what the golden tests share around it: a parameter by name suffix, a fresh scratch folder.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "scratch_dir.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/tinyxf.hpp"

namespace tinyxf::testing {

inline void check_golden_close(const std::string& what, const Tensor& ours, const io::SafetensorsFile& expected,
                               const std::string& name, double tolerance) {
  const auto golden = expected.to_float32(name);
  const auto got = ours.to(Device::cpu()).contiguous().to_vector<float>();
  REQUIRE(got.size() == golden.size());
  double max_abs = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    max_abs = std::max(max_abs, std::abs(static_cast<double>(got[i]) - golden[i]));
  INFO(what << " " << name << ": max|err| " << max_abs);
  CHECK(max_abs <= tolerance);
}

// The parameter whose dotted name ends with the whole pieces `suffix` ("classifier.weight" is not
// "pre_classifier.weight"; a test failure when none does).
inline Tensor parameter_ending(const nn::Module& model, const std::string& suffix) {
  for (const auto& [name, t] : model.named_parameters())
    if (name == suffix || name.ends_with("." + suffix)) return t;
  FAIL("no parameter " << suffix);
  return {};
}

}  // namespace tinyxf::testing
