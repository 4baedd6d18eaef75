#pragma once
// A device names where a tensor's memory lives and therefore which backend runs its ops.
// `reference` is host memory served by the reference backend (the oracle of the conformance
// suite); `cpu` is host memory served by the fast CPU backend.
#include <cstdint>
#include <ostream>
#include <string>

#include "tinyxf/core/error.hpp"

namespace tinyxf {

enum class DeviceType : std::uint8_t { cpu = 0, reference = 1, cuda = 2 };
inline constexpr int kNumDeviceTypes = 3;

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device reference() { return {DeviceType::reference, 0}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::cuda, index}; }

  // Parses "cpu", "reference", "cuda", "cuda:1".
  static Device parse(const std::string& s) {
    if (s == "cpu") return cpu();
    if (s == "reference" || s == "ref") return reference();
    if (s == "cuda") return cuda(0);
    if (s.rfind("cuda:", 0) == 0) {
      try {
        return cuda(std::stoi(s.substr(5)));
      } catch (const std::exception&) {
      }
    }
    throw DeviceError("Device::parse: unknown device '" + s + "' (expected cpu, reference, cuda or cuda:N)");
  }

  std::string str() const {
    switch (type) {
      case DeviceType::cpu: return "cpu";
      case DeviceType::reference: return "reference";
      case DeviceType::cuda: return "cuda:" + std::to_string(index);
    }
    return "?";
  }
  friend bool operator==(const Device&, const Device&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }
};

}  // namespace tinyxf
