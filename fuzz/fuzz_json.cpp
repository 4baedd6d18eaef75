// libFuzzer target: the JSON parser on arbitrary bytes. An accepted document must dump to text
// that parses back to the same dump (writer and parser agree on every value they accept).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tinyxf/io/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinyxf;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool duplicates : {false, true}) {
    json::ParseOptions options;
    options.allow_duplicate_keys = duplicates;
    json::Value value;
    try {
      value = json::parse(text, options);
    } catch (const Error&) {
      continue;  // invalid JSON, reported with its byte offset
    }
    std::string compact, pretty;
    try {
      compact = json::dump(value);
      pretty = json::dump(value, 2);
    } catch (const Error&) {
      continue;  // values JSON cannot hold (none come from parse, but dump may refuse some)
    }
    json::ParseOptions again = options;
    again.allow_duplicate_keys = true;  // a dump of a duplicate-key object keeps them
    if (json::dump(json::parse(compact, again)) != compact) std::abort();
    if (json::dump(json::parse(pretty, again)) != compact) std::abort();
  }
  return 0;
}
