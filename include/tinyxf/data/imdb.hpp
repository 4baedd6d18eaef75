#pragma once
// The IMDB movie-review sentiment data (Maas et al., ACL 2011) as text + label, independent of
// tensors: readers for the `review,sentiment` CSV form (plain or .csv.gz) and for Stanford's
// aclImdb folder tree, the lecture's and the official splits, and a seeded shuffle that gives the
// same result on every platform. See docs/data.md.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <istream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinyxf/core/error.hpp"
#include "tinyxf/data/csv.hpp"
#include "tinyxf/data/shuffle.hpp"
#include "tinyxf/data/paths.hpp"
#include "tinyxf/io/atomic_file.hpp"

namespace tinyxf::data {

struct Review {
  std::string text;
  int label = 0;  // 1 = positive, 0 = negative
};

// ---- the review,sentiment CSV form ----------------------------------------------------------

struct ImdbCsvOptions {
  // false: the first malformed row throws CsvError ("<file>:<line>: <what is wrong>").
  // true: malformed rows are left out and listed in ImdbReadStats::skipped.
  bool skip_malformed = false;
};

struct SkippedRow {
  std::size_t line = 0;  // 1-based line where the row starts
  std::string reason;
};

struct ImdbReadStats {
  std::size_t reviews = 0;          // rows returned
  std::vector<SkippedRow> skipped;  // malformed rows left out (skip_malformed only)
};

namespace detail {

inline std::string lowercase_ascii(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A value quoted in an error message, shortened so a misplaced review does not flood it.
inline std::string quote_for_message(std::string_view value) {
  constexpr std::size_t kMax = 40;
  if (value.size() <= kMax) return "'" + std::string(value) + "'";
  return "'" + std::string(value.substr(0, kMax)) + "...' (" + std::to_string(value.size()) + " bytes)";
}

inline std::string join_fields(const std::vector<std::string>& fields) {
  std::string joined;
  for (std::size_t i = 0; i < fields.size(); ++i) joined += (i ? "," : "") + fields[i];
  return joined;
}

// A gzip file (one or more members, as `gzip -dc` reads them) as an std::istream, decompressed
// by zlib as it is read. Data that is not gzip, a corrupt member (bad CRC or length) and a file
// cut short are errors that name the file and zlib's reason.
class GzipInput {
 public:
  explicit GzipInput(const std::filesystem::path& path) : path_(path), stream_(&buffer_) {
    buffer_.file = ::gzopen(path.c_str(), "rb");
    TINYXF_CHECK_IO(buffer_.file != nullptr, path.string(), "cannot open ", path.string(),
                    " for decompression");
    ::gzbuffer(buffer_.file, 1 << 17);
  }
  GzipInput(const GzipInput&) = delete;
  GzipInput& operator=(const GzipInput&) = delete;
  ~GzipInput() {
    if (buffer_.file != nullptr) ::gzclose_r(buffer_.file);
  }

  std::istream& stream() { return stream_; }

  // Reads and discards the rest of the data, so that its trailer (CRC, length) is checked even
  // when the reader stopped early.
  void drain() {
    while (!buffer_.failed && ::gzread(buffer_.file, buffer_.data, sizeof buffer_.data) > 0) {
    }
  }

  // Throws if the data was not gzip, was corrupt or ended early.
  void finish() {
    int code = Z_OK;
    const char* text = ::gzerror(buffer_.file, &code);
    const std::string message = text != nullptr && *text != '\0' ? text : "zlib error";  // gzclose frees it
    const bool direct = buffer_.read_any && ::gzdirect(buffer_.file) == 1;
    const int close_status = ::gzclose_r(buffer_.file);
    buffer_.file = nullptr;
    TINYXF_CHECK_IO(!direct, path_.string(), "decompressing ", path_.string(),
                    " failed: not in gzip format (decompress it yourself or drop the .gz suffix)");
    TINYXF_CHECK_IO(code == Z_OK && close_status == Z_OK, path_.string(), "decompressing ",
                    path_.string(), " failed: ", code == Z_BUF_ERROR ? std::string("unexpected end of file") : message);
  }

 private:
  struct GzBuffer : std::streambuf {
    gzFile file = nullptr;
    bool failed = false, read_any = false;
    char data[1 << 16];
    int_type underflow() override {
      if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
      if (failed) return traits_type::eof();
      const int got = ::gzread(file, data, sizeof data);
      if (got > 0) read_any = true;
      // Raw data passed through (not gzip): stop at once; finish() reports it.
      if (got <= 0 || ::gzdirect(file) == 1) {
        failed = got < 0 || ::gzdirect(file) == 1;
        return traits_type::eof();
      }
      setg(data, data, data + got);
      return traits_type::to_int_type(*gptr());
    }
  };

  std::filesystem::path path_;
  GzBuffer buffer_;
  std::istream stream_;
};

inline void require_readable_file(const std::filesystem::path& path, const char* operation) {
  std::error_code ec;
  TINYXF_CHECK_IO(std::filesystem::exists(path, ec), path.string(), operation, ": no such file: ", path.string());
  TINYXF_CHECK_IO(std::filesystem::is_regular_file(path, ec), path.string(), operation,
                  ": not a regular file: ", path.string());
}

// read(stream) on the file at `path`, decompressed by zlib as it is read when its name ends in
// .gz; errors name the file and `operation`. Damaged compressed data usually surfaces first as a
// reader's error (a parse error, a cut-off record): the gzip error, the cause, is reported instead.
template <class Read>
auto read_maybe_gzip(const std::filesystem::path& path, const char* operation, Read&& read) {
  require_readable_file(path, operation);
  if (path.extension() == ".gz") {
    GzipInput gzip(path);
    std::optional<std::invoke_result_t<Read&, std::istream&>> result;
    try {
      result.emplace(read(gzip.stream()));
    } catch (const Error&) {
      gzip.drain();
      gzip.finish();
      throw;
    }
    gzip.finish();  // corrupt or cut-short data is an error naming the file
    return std::move(*result);
  }
  std::ifstream file(path, std::ios::binary);
  TINYXF_CHECK_IO(file, path.string(), operation, ": cannot open ", path.string());
  auto result = read(static_cast<std::istream&>(file));
  TINYXF_CHECK_IO(!file.bad(), path.string(), operation, ": reading ", path.string(), " failed");
  return result;
}

}  // namespace detail

// 1 for "positive"/"pos"/"1", 0 for "negative"/"neg"/"0" (letters in any case), else nothing.
inline std::optional<int> parse_sentiment_label(std::string_view value) {
  const std::string lower = detail::lowercase_ascii(std::string(value));
  if (lower == "positive" || lower == "pos" || lower == "1") return 1;
  if (lower == "negative" || lower == "neg" || lower == "0") return 0;
  return std::nullopt;
}

// Reads reviews from CSV text with a header naming the columns `review` and `sentiment` (in any
// order and letter case; other columns are ignored). `source_name` is used in error messages.
// A row is malformed when it breaks the CSV rules (see csv.hpp), has the wrong number of fields,
// an unknown label (see parse_sentiment_label) or an empty review.
inline std::vector<Review> read_imdb_csv(std::istream& in, const std::string& source_name,
                                         const ImdbCsvOptions& options = {}, ImdbReadStats* stats = nullptr) {
  CsvOptions csv_options;
  csv_options.source_name = source_name;
  CsvReader reader(in, csv_options);
  const std::vector<std::string>& header = reader.header();
  TINYXF_CHECK_IO(!header.empty(), source_name, source_name,
                  ": empty file (expected a 'review,sentiment' header line)");
  std::size_t text_column = header.size();
  std::size_t label_column = header.size();
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::string name = detail::lowercase_ascii(header[i]);
    if (name == "review") text_column = i;
    if (name == "sentiment") label_column = i;
  }
  TINYXF_CHECK_IO(text_column < header.size() && label_column < header.size(), source_name, source_name,
                  ":1: expected a header with the columns 'review' and 'sentiment', found ",
                  detail::quote_for_message(detail::join_fields(header)));

  std::vector<Review> reviews;
  ImdbReadStats local_stats;
  ImdbReadStats& counts = stats != nullptr ? *stats : local_stats;
  counts = ImdbReadStats{};
  auto malformed = [&](const CsvError& error) {
    if (!options.skip_malformed) throw error;
    counts.skipped.push_back({error.line(), error.reason()});
  };
  CsvRecord record;
  for (;;) {
    try {
      if (!reader.next(record)) break;
    } catch (const CsvError& error) {
      malformed(error);
      continue;
    }
    const std::string& label_text = record.fields[label_column];
    const std::optional<int> label = parse_sentiment_label(label_text);
    if (!label) {
      malformed(CsvError(source_name, record.line,
                         "unknown sentiment label " + detail::quote_for_message(label_text) +
                             " (expected positive/negative, pos/neg or 1/0)"));
      continue;
    }
    if (record.fields[text_column].empty()) {
      malformed(CsvError(source_name, record.line, "empty review text"));
      continue;
    }
    reviews.push_back({std::move(record.fields[text_column]), *label});
  }
  counts.reviews = reviews.size();
  return reviews;
}

// Reads a `review,sentiment` CSV file; a name ending in .gz is decompressed (zlib) as it is read.
inline std::vector<Review> read_imdb_csv(const std::filesystem::path& path,
                                         const ImdbCsvOptions& options = {}, ImdbReadStats* stats = nullptr) {
  return detail::read_maybe_gzip(path, "read_imdb_csv", [&](std::istream& in) {
    return read_imdb_csv(in, path.string(), options, stats);
  });
}

// The shipped sample (12,000 reviews, see share/data/SOURCE.md).
inline std::filesystem::path imdb_sample_path() { return default_data_dir() / "data" / "imdb_sample.csv"; }

// ---- the aclImdb folder tree ------------------------------------------------------------------

namespace detail {

// aclImdb names files <id>_<rating>.txt; ordering by the numeric id (then by name) gives the
// order of the combined 50k CSV and of most published tools, the same on every file system.
inline bool aclimdb_name_less(const std::string& a, const std::string& b) {
  auto key = [](const std::string& name) {
    const auto digits_end = std::find_if(name.begin(), name.end(),
                                         [](char c) { return !std::isdigit(static_cast<unsigned char>(c)); });
    const std::string digits(name.begin(), digits_end);
    return std::make_tuple(digits.empty(), digits.size(), digits, name);
  };
  return key(a) < key(b);
}

// One review file: regular files only, at most io::limits::review_file bytes.
inline std::string read_whole_file(const std::filesystem::path& path) {
  try {
    return io::read_file(path, io::limits::review_file);
  } catch (const Error&) {
    rethrow_with_context("read_aclimdb: ");
  }
}

}  // namespace detail

// Reads <root>/<split>/pos/*.txt (label 1) then <root>/<split>/neg/*.txt (label 0), each folder
// in the order of the files' numeric ids. `root` is the aclImdb folder, or a folder holding it
// (as scripts/download_imdb.sh leaves it). split is "train" or "test"; train/unsup is not read.
inline std::vector<Review> read_aclimdb(const std::filesystem::path& root, std::string_view split) {
  namespace fs = std::filesystem;
  TINYXF_CHECK_AS(ValueError, split == "train" || split == "test",
                  "read_aclimdb: split must be \"train\" or \"test\", got \"", split, "\"");
  std::error_code ec;
  fs::path base = root;
  if (!fs::is_directory(root / split, ec) && fs::is_directory(root / "aclImdb" / split, ec))
    base = root / "aclImdb";
  std::vector<Review> reviews;
  for (const auto& [folder, label] : {std::pair{"pos", 1}, std::pair{"neg", 0}}) {
    const fs::path dir = base / split / folder;
    TINYXF_CHECK_IO(fs::is_directory(dir, ec), dir.string(), "read_aclimdb: missing folder ", dir.string(),
                    " (expected the aclImdb layout <root>/{train,test}/{pos,neg}/<id>_<rating>.txt; "
                    "scripts/download_imdb.sh downloads it)");
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".txt")
        names.push_back(entry.path().filename().string());
    }
    TINYXF_CHECK_IO(!names.empty(), dir.string(), "read_aclimdb: no .txt reviews in ", dir.string());
    std::sort(names.begin(), names.end(), detail::aclimdb_name_less);
    for (const std::string& name : names) reviews.push_back({detail::read_whole_file(dir / name), label});
  }
  return reviews;
}

// ---- splits -------------------------------------------------------------------------------------

struct ImdbSplits {
  std::vector<Review> train, val, test;
};

struct SplitSizes {
  std::size_t train = 0, val = 0, test = 0;
};

// The lecture's 70/10/20 proportions: val = floor(n / 10), test = floor(n / 5), train = the rest
// (so train absorbs the rounding). For n = 50,000: 35,000 / 5,000 / 10,000.
inline SplitSizes lecture_split_sizes(std::size_t n) {
  SplitSizes sizes;
  sizes.val = n / 10;
  sizes.test = n / 5;
  sizes.train = n - sizes.val - sizes.test;
  return sizes;
}

namespace detail {
inline std::vector<Review> take(std::vector<Review>& from, const std::vector<std::size_t>& order,
                                std::size_t begin, std::size_t end) {
  std::vector<Review> part;
  part.reserve(end - begin);
  for (std::size_t k = begin; k < end; ++k) part.push_back(std::move(from[order[k]]));
  return part;
}
}  // namespace detail

// The lecture's split: reviews shuffled with shuffled_indices(n, seed), then the first
// lecture_split_sizes(n).train go to train, the next .val to val and the last .test to test.
inline ImdbSplits split_lecture(std::vector<Review> reviews, std::uint64_t seed) {
  const std::size_t n = reviews.size();
  const SplitSizes sizes = lecture_split_sizes(n);
  const std::vector<std::size_t> order = shuffled_indices(n, seed);
  ImdbSplits splits;
  splits.train = detail::take(reviews, order, 0, sizes.train);
  splits.val = detail::take(reviews, order, sizes.train, sizes.train + sizes.val);
  splits.test = detail::take(reviews, order, sizes.train + sizes.val, n);
  return splits;
}

// aclImdb's own 25,000 / 25,000 split from the folder tree (val is left empty: carve one out of
// train with train_val_split).
inline ImdbSplits split_official(const std::filesystem::path& aclimdb_root) {
  ImdbSplits splits;
  splits.train = read_aclimdb(aclimdb_root, "train");
  splits.test = read_aclimdb(aclimdb_root, "test");
  return splits;
}

// The same split from the combined 50,000-row CSV, which must be in aclImdb order: train/pos,
// train/neg, test/pos, test/neg, 12,500 each (as written by scripts/download_imdb.sh --csv).
// Shuffled data (such as the shipped sample) is rejected rather than split wrongly.
inline ImdbSplits split_official(std::vector<Review> reviews) {
  constexpr std::size_t kPerFolder = 12'500;
  TINYXF_CHECK_AS(ValueError, reviews.size() == 4 * kPerFolder,
                  "split_official: needs all 50,000 reviews in aclImdb order, got ", reviews.size(),
                  " (use split_lecture for other data)");
  for (std::size_t i = 0; i < reviews.size(); ++i) {
    const int expected = (i / kPerFolder) % 2 == 0 ? 1 : 0;
    TINYXF_CHECK_AS(ValueError, reviews[i].label == expected, "split_official: review ", i + 1, " has label ",
                    reviews[i].label,
                    " but aclImdb order (train/pos, train/neg, test/pos, test/neg, 12,500 each) puts label ", expected,
                    " there; the data is shuffled or not the aclImdb 50k");
  }
  ImdbSplits splits;
  const auto middle = reviews.begin() + static_cast<std::ptrdiff_t>(2 * kPerFolder);
  splits.train.assign(std::make_move_iterator(reviews.begin()), std::make_move_iterator(middle));
  splits.test.assign(std::make_move_iterator(middle), std::make_move_iterator(reviews.end()));
  return splits;
}

struct TrainValSplit {
  std::vector<Review> train, val;
};

// Shuffles with shuffled_indices(n, seed); the last round(n * val_fraction) reviews (halves
// rounded away from zero) become val, the rest train. 0 <= val_fraction < 1.
inline TrainValSplit train_val_split(std::vector<Review> train, double val_fraction, std::uint64_t seed) {
  TINYXF_CHECK_AS(ValueError, val_fraction >= 0.0 && val_fraction < 1.0,
                  "train_val_split: val_fraction must be in [0, 1), got ", val_fraction);
  const std::size_t n = train.size();
  const auto n_val = static_cast<std::size_t>(std::llround(static_cast<double>(n) * val_fraction));
  const std::vector<std::size_t> order = shuffled_indices(n, seed);
  TrainValSplit split;
  split.train = detail::take(train, order, 0, n - n_val);
  split.val = detail::take(train, order, n - n_val, n);
  return split;
}

// How many reviews carry each label.
inline std::map<int, std::size_t> class_balance(const std::vector<Review>& reviews) {
  std::map<int, std::size_t> counts;
  for (const Review& review : reviews) ++counts[review.label];
  return counts;
}

}  // namespace tinyxf::data
