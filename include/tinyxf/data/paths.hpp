#pragma once
// tinyxf::data::default_data_dir(): where the data shipped with tinyxf (the repository's share/
// folder, installed as <prefix>/share/tinyxf) lives, found from any working directory.
//
// Looked up in this order; the first that exists wins:
//   1. $TINYXF_DATA_DIR, when set and not empty (an error if it is not a directory, since the
//      user asked for it explicitly);
//   2. <TINYXF_SOURCE_DIR>/share, when the macro TINYXF_SOURCE_DIR (the source tree, as a string)
//      is defined at compile time: tinyxf's tests and examples define it;
//   3. <directory of the running executable>/../share/tinyxf (an installed program, via
//      /proc/self/exe);
//   4. TINYXF_INSTALL_DATADIR, a compile-time macro that an installed package's tinyxf::tinyxf
//      target defines as <its install prefix>/share/tinyxf (so a find_package(tinyxf) consumer
//      finds the prefix it was installed to); without it <TINYXF_INSTALL_PREFIX>/share/tinyxf,
//      TINYXF_INSTALL_PREFIX defaulting to CMake's default install prefix /usr/local.
// Candidates 2-4 count only if they contain a data/ folder, so an unrelated share/ is skipped.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "tinyxf/core/error.hpp"

#ifndef TINYXF_INSTALL_PREFIX
#define TINYXF_INSTALL_PREFIX "/usr/local"
#endif

namespace tinyxf::data {

namespace detail {
inline bool has_data_folder(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir / "data", ec);
}
}  // namespace detail

inline std::filesystem::path default_data_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("TINYXF_DATA_DIR"); env != nullptr && *env != '\0') {
    TINYXF_CHECK_IO(fs::is_directory(env, ec), env, "tinyxf: TINYXF_DATA_DIR is set to '", env,
                    "', which is not a directory (unset it to use the data shipped with tinyxf)");
    return fs::path(env);
  }
  std::vector<std::string> looked;
  looked.push_back("$TINYXF_DATA_DIR (not set)");
#ifdef TINYXF_SOURCE_DIR
  {
    const fs::path candidate = fs::path(TINYXF_SOURCE_DIR) / "share";
    if (detail::has_data_folder(candidate)) return candidate;
    looked.push_back(candidate.string() + " (the source tree this program was built from)");
  }
#endif
  {
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      const fs::path candidate = exe.parent_path().parent_path() / "share" / "tinyxf";
      if (detail::has_data_folder(candidate)) return candidate;
      looked.push_back(candidate.string() + " (next to the executable " + exe.string() + ")");
    } else {
      looked.push_back("next to the executable (/proc/self/exe is not readable)");
    }
  }
  {
#ifdef TINYXF_INSTALL_DATADIR
    const fs::path candidate = fs::path(TINYXF_INSTALL_DATADIR);
#else
    const fs::path candidate = fs::path(TINYXF_INSTALL_PREFIX) / "share" / "tinyxf";
#endif
    if (detail::has_data_folder(candidate)) return candidate;
    looked.push_back(candidate.string() + " (the install prefix)");
  }
  std::string message =
      "tinyxf: cannot find tinyxf's data folder (the one holding data/imdb_sample.csv); looked in:";
  for (const std::string& place : looked) message += "\n  - " + place;
  message += "\nSet TINYXF_DATA_DIR to the share/ folder of a tinyxf checkout or installation.";
  throw IoError(message, "");
}

}  // namespace tinyxf::data
