#pragma once
// A device names where a tensor's memory lives and therefore which backend runs its ops: a device
// type (the id of a registered backend) and an index. `reference` is host memory served by the
// reference backend (the oracle of the conformance suite); `cpu` is host memory served by the
// fast CPU backend. cpu, reference and cuda have fixed ids (so Device::cpu() stays constexpr);
// any other backend gets its id from register_device_type("name") at run time, without editing
// this header.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "tinyxf/core/error.hpp"

namespace tinyxf {

// The id of a device type. The named values are the built-in backends'; ids from
// kNumBuiltinDeviceTypes up to kMaxDeviceTypes - 1 are handed out by register_device_type.
enum class DeviceType : std::uint8_t { cpu = 0, reference = 1, cuda = 2 };
inline constexpr int kNumBuiltinDeviceTypes = 3;
inline constexpr int kMaxDeviceTypes = 16;

namespace detail {
// Names by id. Registration (rare) takes the mutex; lookups read the atomics, and a name once
// published is never changed or freed.
struct DeviceTypeNames {
  std::mutex mutex;
  std::array<std::atomic<const std::string*>, kMaxDeviceTypes> names{};
  DeviceTypeNames() {
    names[0] = new std::string("cpu");
    names[1] = new std::string("reference");
    names[2] = new std::string("cuda");
  }
};
inline DeviceTypeNames& device_type_names() {
  static DeviceTypeNames table;
  return table;
}
}  // namespace detail

// The id registered under `name`, if any ("ref" is the reference's short name).
inline std::optional<DeviceType> find_device_type(std::string_view name) {
  if (name == "ref") name = "reference";
  auto& table = detail::device_type_names();
  for (int i = 0; i < kMaxDeviceTypes; ++i) {
    const std::string* n = table.names[static_cast<std::size_t>(i)].load(std::memory_order_acquire);
    if (n && *n == name) return static_cast<DeviceType>(i);
  }
  return std::nullopt;
}

// The id of device type `name`, registering it when new. Names are lower-case letters, digits and
// '_' (so "name:index" parses back).
inline DeviceType register_device_type(std::string_view name) {
  TINYXF_CHECK(!name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") ==
                                    std::string_view::npos,
               "register_device_type: invalid name '", name,
               "' (expected lower-case letters, digits and '_')");
  auto& table = detail::device_type_names();
  std::lock_guard lock(table.mutex);
  if (auto existing = find_device_type(name)) return *existing;
  for (int i = kNumBuiltinDeviceTypes; i < kMaxDeviceTypes; ++i) {
    auto& slot = table.names[static_cast<std::size_t>(i)];
    if (!slot.load(std::memory_order_acquire)) {
      slot.store(new std::string(name), std::memory_order_release);
      return static_cast<DeviceType>(i);
    }
  }
  throw Error(detail::concat("register_device_type: no room for '", name, "' (at most ",
                             kMaxDeviceTypes, " device types)"));
}

inline std::string device_type_name(DeviceType type) {
  const auto i = static_cast<std::size_t>(type);
  const std::string* n =
      i < kMaxDeviceTypes ? detail::device_type_names().names[i].load(std::memory_order_acquire) : nullptr;
  return n ? *n : "device_type_" + std::to_string(i);
}

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device reference() { return {DeviceType::reference, 0}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::cuda, index}; }

  // Parses "cpu", "reference" ("ref"), "cuda", "cuda:1", and "name" or "name:N" for any
  // registered device type.
  static Device parse(const std::string& s) {
    const auto colon = s.find(':');
    const std::string name = s.substr(0, colon);
    int index = 0;
    bool index_ok = true;
    if (colon != std::string::npos) {
      const std::string digits = s.substr(colon + 1);
      index_ok = !digits.empty() && digits.size() <= 9 &&
                 digits.find_first_not_of("0123456789") == std::string::npos;
      if (index_ok) index = std::stoi(digits);
    }
    const auto type = find_device_type(name);
    if (!type || !index_ok) {
      std::string known;
      for (int i = 0; i < kMaxDeviceTypes; ++i)
        if (detail::device_type_names().names[static_cast<std::size_t>(i)].load())
          known += (known.empty() ? "" : ", ") + device_type_name(static_cast<DeviceType>(i));
      throw DeviceError("Device::parse: unknown device '" + s + "' (expected a device type, optionally "
                  "followed by :N; device types: " + known + ")");
    }
    return {*type, index};
  }

  // "cpu", "reference"; other types, and a cpu or reference index other than 0 (which no backend
  // serves), with their index ("cuda:0", "cpu:1").
  std::string str() const {
    if ((type == DeviceType::cpu || type == DeviceType::reference) && index == 0) return device_type_name(type);
    return device_type_name(type) + ":" + std::to_string(index);
  }
  friend bool operator==(const Device&, const Device&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }
};

}  // namespace tinyxf
