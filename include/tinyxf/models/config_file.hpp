#pragma once
// config.json of any model family: read (bounded, errors prefixed with the file and keeping
// their type) into Config::from_json, and written atomically in Hugging Face's layout.
#include <filesystem>
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

}  // namespace tinyxf::models
