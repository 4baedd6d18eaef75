#pragma once
// The reference backend against direct float64 formulas, written here independently of kmath
// (PyTorch's definitions), so that the oracle of the conformance suite is itself checked rather
// than compared with itself. One table per op family; an op of the op table without an entry
// fails the test, like a missing catalogue case.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tinyxf/tensor.hpp"

namespace tinyxf::testing {

struct UnaryOracle {
  std::function<double(double x, double a)> value, derivative;
  double alpha = 0.0;
  bool positive_only = false;  // domain x > 0
};

inline const std::map<std::string, UnaryOracle>& unary_oracles() {
  static const std::map<std::string, UnaryOracle> table = [] {
    const double kSqrt2 = std::sqrt(2.0), kPi = std::acos(-1.0);
    auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
    auto phi = [kPi](double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * kPi); };
    const double k = std::sqrt(2.0 / kPi), c = 0.044715;
    std::map<std::string, UnaryOracle> t;
    t["neg"] = {[](double x, double) { return -x; }, [](double, double) { return -1.0; }};
    t["exp"] = {[](double x, double) { return std::exp(x); }, [](double x, double) { return std::exp(x); }};
    t["log"] = {[](double x, double) { return std::log(x); }, [](double x, double) { return 1.0 / x; }, 0.0, true};
    t["log1p"] = {[](double x, double) { return std::log1p(x); }, [](double x, double) { return 1.0 / (1.0 + x); },
                  0.0, true};
    t["sqrt"] = {[](double x, double) { return std::sqrt(x); },
                 [](double x, double) { return 0.5 / std::sqrt(x); }, 0.0, true};
    t["rsqrt"] = {[](double x, double) { return 1.0 / std::sqrt(x); },
                  [](double x, double) { return -0.5 * std::pow(x, -1.5); }, 0.0, true};
    t["tanh"] = {[](double x, double) { return std::tanh(x); },
                 [](double x, double) { return 1.0 - std::tanh(x) * std::tanh(x); }};
    t["sigmoid"] = {[sigmoid](double x, double) { return sigmoid(x); },
                    [sigmoid](double x, double) { return sigmoid(x) * (1.0 - sigmoid(x)); }};
    t["relu"] = {[](double x, double) { return x > 0 ? x : 0.0; }, [](double x, double) { return x > 0 ? 1.0 : 0.0; }};
    t["gelu"] = {[kSqrt2](double x, double) { return 0.5 * x * (1.0 + std::erf(x / kSqrt2)); },
                 [kSqrt2, phi](double x, double) { return 0.5 * (1.0 + std::erf(x / kSqrt2)) + x * phi(x); }};
    t["gelu_tanh"] = {[k, c](double x, double) { return 0.5 * x * (1.0 + std::tanh(k * (x + c * x * x * x))); },
                      [k, c](double x, double) {
                        const double th = std::tanh(k * (x + c * x * x * x));
                        return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * k * (1.0 + 3.0 * c * x * x);
                      }};
    t["silu"] = {[sigmoid](double x, double) { return x * sigmoid(x); },
                 [sigmoid](double x, double) { return sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x))); }};
    t["abs"] = {[](double x, double) { return std::fabs(x); }, [](double x, double) { return x > 0 ? 1.0 : -1.0; }};
    t["add_scalar"] = {[](double x, double a) { return x + a; }, [](double, double) { return 1.0; }, 1.7};
    t["sub_scalar"] = {[](double x, double a) { return x - a; }, [](double, double) { return 1.0; }, 1.7};
    t["rsub_scalar"] = {[](double x, double a) { return a - x; }, [](double, double) { return -1.0; }, 1.7};
    t["mul_scalar"] = {[](double x, double a) { return x * a; }, [](double, double a) { return a; }, 1.7};
    t["div_scalar"] = {[](double x, double a) { return x / a; }, [](double, double a) { return 1.0 / a; }, 1.7};
    t["rdiv_scalar"] = {[](double x, double a) { return a / x; }, [](double x, double a) { return -a / (x * x); }, 1.7};
    t["pow"] = {[](double x, double a) { return std::pow(x, a); },
                [](double x, double a) { return a * std::pow(x, a - 1.0); }, 2.5, true};
    t["sin"] = {[](double x, double) { return std::sin(x); }, [](double x, double) { return std::cos(x); }};
    t["cos"] = {[](double x, double) { return std::cos(x); }, [](double x, double) { return -std::sin(x); }};
    const auto zero_slope = [](double, double) { return 0.0; };
    t["floor"] = {[](double x, double) { return std::floor(x); }, zero_slope};
    t["ceil"] = {[](double x, double) { return std::ceil(x); }, zero_slope};
    t["round"] = {[](double x, double) {  // half-way cases (-2.5) to the even neighbour
                    const double r = std::floor(x + 0.5);
                    return r - x == 0.5 && std::fmod(r, 2.0) != 0.0 ? r - 1.0 : r;
                  }, zero_slope};
    t["trunc"] = {[](double x, double) { return std::trunc(x); }, zero_slope};
    t["expm1"] = {[](double x, double) { return std::expm1(x); }, [](double x, double) { return std::exp(x); }};
    t["log2"] = {[](double x, double) { return std::log(x) / std::log(2.0); },
                 [](double x, double) { return 1.0 / (x * std::log(2.0)); }, 0.0, true};
    t["log10"] = {[](double x, double) { return std::log(x) / std::log(10.0); },
                  [](double x, double) { return 1.0 / (x * std::log(10.0)); }, 0.0, true};
    t["reciprocal"] = {[](double x, double) { return 1.0 / x; }, [](double x, double) { return -1.0 / (x * x); }};
    t["erf"] = {[](double x, double) { return std::erf(x); },
                [kPi](double x, double) { return 2.0 / std::sqrt(kPi) * std::exp(-x * x); }};
    return t;
  }();
  return table;
}

inline const std::map<std::string, std::function<double(double, double)>>& binary_oracles() {
  static const std::map<std::string, std::function<double(double, double)>> table = {
      {"add", [](double a, double b) { return a + b; }},
      {"sub", [](double a, double b) { return a - b; }},
      {"mul", [](double a, double b) { return a * b; }},
      {"div", [](double a, double b) { return a / b; }},
      {"maximum", [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](double a, double b) { return std::min(a, b); }},
      {"atan2", [](double a, double b) { return std::atan2(a, b); }},
      {"fmod", [](double a, double b) { return a - b * std::trunc(a / b); }},
      {"remainder", [](double a, double b) { return a - b * std::floor(a / b); }},
      {"div_trunc", [](double a, double b) { return std::trunc(a / b); }},
      {"div_floor", [](double a, double b) { return std::floor(a / b); }},
      {"eq", [](double a, double b) { return a == b ? 1.0 : 0.0; }},
      {"ne", [](double a, double b) { return a != b ? 1.0 : 0.0; }},
      {"lt", [](double a, double b) { return a < b ? 1.0 : 0.0; }},
      {"le", [](double a, double b) { return a <= b ? 1.0 : 0.0; }},
      {"gt", [](double a, double b) { return a > b ? 1.0 : 0.0; }},
      {"ge", [](double a, double b) { return a >= b ? 1.0 : 0.0; }},
  };
  return table;
}

// Reduction over the middle axis of [outer, reduced, inner].
inline double reduce_oracle(const std::string& op, const std::vector<double>& x, std::int64_t o,
                            std::int64_t reduced, std::int64_t inner, std::int64_t i) {
  double sum = 0, best = x[static_cast<std::size_t>(o * reduced * inner + i)];
  std::int64_t best_at = 0;
  for (std::int64_t r = 0; r < reduced; ++r) {
    const double v = x[static_cast<std::size_t>((o * reduced + r) * inner + i)];
    sum += v;
    const bool better = (op == "max" || op == "argmax") ? v > best : v < best;
    if (better) best = v, best_at = r;
  }
  if (op == "sum") return sum;
  if (op == "mean") return sum / static_cast<double>(reduced);
  if (op == "max" || op == "min") return best;
  if (op == "argmax" || op == "argmin") return static_cast<double>(best_at);
  return std::nan("");  // no oracle: the caller reports the op
}

}  // namespace tinyxf::testing
