#pragma once
// A fresh scratch folder for the model tests, in a header of its own so that light tests (the
// tokenizer loader's) need not compile the whole framework for it.
#include <filesystem>
#include <string>

namespace tinyxf::testing {

// An empty folder build/tests/models/scratch/<name> (emptied when it exists).
inline std::filesystem::path models_scratch_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(TINYXF_BINARY_DIR) / "tests" / "models" / "scratch" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace tinyxf::testing
