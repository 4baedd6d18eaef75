#pragma once
// Reads the staged IMDB CSV (header `review,sentiment`, RFC-4180 quoting, LF rows; see
// ../shared/data/imdb/SOURCE.md). A path ending in .gz is read through `zcat`, so there is no
// zlib dependency. Used by bench/tokenizer and by the tokenizer parity tests.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "tinyxf/core/error.hpp"

namespace tinyxf::bench {

struct ImdbReview {
  std::string text;
  int sentiment = 0;  // 1 positive, 0 negative
};

// The default location of the staged data: <source tree>/../shared/data/imdb/imdb_50k.csv.gz,
// overridden by the environment variable TINYXF_IMDB_CSV (a .csv or .csv.gz file).
inline std::filesystem::path default_imdb_csv_path(const std::filesystem::path& source_dir) {
  if (const char* env = std::getenv("TINYXF_IMDB_CSV"); env && *env) return env;
  return source_dir / ".." / "shared" / "data" / "imdb" / "imdb_50k.csv.gz";
}

inline std::string read_file_or_zcat(const std::filesystem::path& path) {
  const std::string name = path.string();
  TINYXF_CHECK(std::filesystem::is_regular_file(path), "imdb_csv: no file '", name, "'");
  std::string content;
  if (name.size() > 3 && name.ends_with(".gz")) {
    std::string quoted = "'";  // single-quote the path for the shell
    for (const char c : name) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    quoted += "'";
    FILE* pipe = popen(("zcat -- " + quoted).c_str(), "r");
    TINYXF_CHECK(pipe != nullptr, "imdb_csv: cannot run zcat on '", name, "'");
    char buffer[1 << 16];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) content.append(buffer, n);
    const int status = pclose(pipe);
    TINYXF_CHECK(status == 0, "imdb_csv: zcat failed on '", name, "' (status ", status, ")");
  } else {
    std::ifstream in(path, std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    TINYXF_CHECK(!in.bad(), "imdb_csv: error reading '", name, "'");
  }
  return content;
}

// Parses `review,sentiment` rows; `limit` stops after that many reviews (0: all).
inline std::vector<ImdbReview> parse_imdb_csv(std::string_view csv, std::size_t limit = 0) {
  std::vector<ImdbReview> reviews;
  std::size_t pos = 0, line = 1;
  // One field: quoted (with "" for a quote) or plain, ending before ',' or the row end.
  auto field = [&](std::string& out) {
    out.clear();
    if (pos < csv.size() && csv[pos] == '"') {
      ++pos;
      while (true) {
        const std::size_t quote = csv.find('"', pos);
        TINYXF_CHECK(quote != std::string_view::npos, "imdb_csv: unterminated quote on line ", line);
        for (std::size_t i = pos; i < quote; ++i) line += csv[i] == '\n';
        out.append(csv.substr(pos, quote - pos));
        pos = quote + 1;
        if (pos < csv.size() && csv[pos] == '"') {
          out += '"';
          ++pos;
        } else {
          break;
        }
      }
    } else {
      const std::size_t stop = csv.find_first_of(",\r\n", pos);
      const std::size_t end = stop == std::string_view::npos ? csv.size() : stop;
      out.append(csv.substr(pos, end - pos));
      pos = end;
    }
  };
  auto end_of_row = [&] {
    if (pos < csv.size() && csv[pos] == '\r') ++pos;
    TINYXF_CHECK(pos >= csv.size() || csv[pos] == '\n', "imdb_csv: line ", line, " has more than 2 fields");
    if (pos < csv.size()) ++pos, ++line;
  };
  std::string review, sentiment;
  field(review);
  TINYXF_CHECK(pos < csv.size() && csv[pos] == ',', "imdb_csv: the header must be 'review,sentiment'");
  ++pos;
  field(sentiment);
  TINYXF_CHECK(review == "review" && sentiment == "sentiment", "imdb_csv: the header must be 'review,sentiment'");
  end_of_row();
  while (pos < csv.size() && (limit == 0 || reviews.size() < limit)) {
    const std::size_t row_line = line;
    field(review);
    TINYXF_CHECK(pos < csv.size() && csv[pos] == ',', "imdb_csv: line ", row_line, " has no sentiment field");
    ++pos;
    field(sentiment);
    TINYXF_CHECK(sentiment == "0" || sentiment == "1", "imdb_csv: line ", row_line, ": sentiment '", sentiment,
                 "' is not 0 or 1");
    reviews.push_back({review, sentiment == "1" ? 1 : 0});
    end_of_row();
  }
  return reviews;
}

inline std::vector<ImdbReview> read_imdb_csv(const std::filesystem::path& path, std::size_t limit = 0) {
  return parse_imdb_csv(read_file_or_zcat(path), limit);
}

}  // namespace tinyxf::bench
