// libFuzzer target: the CSV reader and the IMDB CSV reader.
// Input: one options byte, then the CSV text. The in-memory parse and streaming parses with a
// tiny and a large chunk size must agree record for record, error for error (the streaming
// buffer management is where a dangling view or an off-by-one would show).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/data/csv.hpp"
#include "tinyxf/data/imdb.hpp"

namespace {

// Every record and every error message, in order, as one transcript (a malformed header
// record already throws from the constructor).
template <class MakeReader>
std::vector<std::string> transcript(MakeReader make_reader) {
  std::vector<std::string> out;
  std::optional<tinyxf::data::CsvReader> reader;
  try {
    reader.emplace(make_reader());
  } catch (const tinyxf::data::CsvError& error) {
    out.push_back(std::string("C:") + error.what());
    return out;
  }
  for (const auto& field : reader->header()) out.push_back("H:" + field);
  tinyxf::data::CsvRecord record;
  for (int errors = 0; errors < 1000;) {
    try {
      if (!reader->next(record)) break;
      out.push_back("L:" + std::to_string(record.line));
      for (const auto& field : record.fields) out.push_back("F:" + field);
    } catch (const tinyxf::data::CsvError& error) {
      out.push_back(std::string("E:") + error.what());
      ++errors;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tinyxf::data;
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  CsvOptions options;
  options.delimiter = (flags & 1) ? ';' : ',';
  options.has_header = flags & 2;
  options.require_uniform_field_count = flags & 4;
  options.skip_blank_lines = flags & 8;
  options.source_name = "fuzz.csv";

  const std::vector<std::string> expected = transcript([&] { return CsvReader(std::string_view(text), options); });
  for (const std::size_t chunk : {std::size_t{1} + (flags >> 4), std::size_t{1} << 16}) {
    std::istringstream stream(text);
    CsvOptions streaming = options;
    streaming.read_chunk_bytes = chunk;
    if (transcript([&] { return CsvReader(stream, streaming); }) != expected) std::abort();
  }

  // The IMDB reader on the same bytes: reviews or an Error, nothing else.
  for (const bool skip : {false, true}) {
    std::istringstream stream(text);
    ImdbCsvOptions imdb;
    imdb.skip_malformed = skip;
    try {
      for (const Review& review : read_imdb_csv(stream, "fuzz.csv", imdb))
        if (review.text.empty() || (review.label != 0 && review.label != 1)) std::abort();
    } catch (const tinyxf::Error&) {
    }
  }
  return 0;
}
