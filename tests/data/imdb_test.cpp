// Tests for the IMDB data layer: the CSV reader, the IMDB readers, the splits and their PRNG,
// the shipped sample and default_data_dir().
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "tinyxf/data/csv.hpp"
#include "tinyxf/data/imdb.hpp"
#include "tinyxf/data/paths.hpp"

namespace fs = std::filesystem;
using namespace tinyxf::data;
using Catch::Matchers::Contains;

namespace {

const fs::path kFixtures = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "imdb";

// A fresh scratch folder under the build tree for files a test writes.
fs::path scratch_dir(const std::string& name) {
  const fs::path dir = fs::path(TINYXF_BINARY_DIR) / "tests" / "data" / "scratch" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::vector<std::vector<std::string>> all_fields(const CsvTable& table) {
  std::vector<std::vector<std::string>> rows;
  for (const CsvRecord& record : table.records) rows.push_back(record.fields);
  return rows;
}

std::vector<std::size_t> all_lines(const CsvTable& table) {
  std::vector<std::size_t> lines;
  for (const CsvRecord& record : table.records) lines.push_back(record.line);
  return lines;
}

// The CsvError message and line for parsing `text` to the end.
CsvError parse_error(const std::string& text, CsvOptions options = {}) {
  options.source_name = "t.csv";
  try {
    parse_csv(text, options);
  } catch (const CsvError& error) {
    return error;
  }
  FAIL("expected a CsvError for: " << text);
  throw;  // unreachable: FAIL throws
}

// Synthetic reviews whose text is their index, so a split can be traced back.
std::vector<Review> numbered_reviews(std::size_t n) {
  std::vector<Review> reviews;
  for (std::size_t i = 0; i < n; ++i) reviews.push_back({std::to_string(i), static_cast<int>(i % 2)});
  return reviews;
}

std::vector<std::string> texts(const std::vector<Review>& reviews) {
  std::vector<std::string> out;
  for (const Review& review : reviews) out.push_back(review.text);
  return out;
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

// ---- CSV ------------------------------------------------------------------------------------

TEST_CASE("csv: header, plain fields and record line numbers", "[csv]") {
  const CsvTable table = parse_csv("name,score\nalpha,1\nbeta,2\n");
  CHECK(table.header == std::vector<std::string>{"name", "score"});
  CHECK(all_fields(table) == std::vector<std::vector<std::string>>{{"alpha", "1"}, {"beta", "2"}});
  CHECK(all_lines(table) == std::vector<std::size_t>{2, 3});
}

TEST_CASE("csv: quoted fields hold delimiters, doubled quotes and line breaks", "[csv]") {
  const CsvTable table = parse_csv(
      "text,label\n"
      "\"one, two\",a\n"
      "\"she said \"\"hi\"\"\",b\n"
      "\"line one\nline two\n\nline four\",c\n"
      "\"\",d\n"
      "after,e\n");
  CHECK(all_fields(table) == std::vector<std::vector<std::string>>{{"one, two", "a"},
                                                                   {"she said \"hi\"", "b"},
                                                                   {"line one\nline two\n\nline four", "c"},
                                                                   {"", "d"},
                                                                   {"after", "e"}});
  // The multi-line record starts on line 4 and takes lines 4-7.
  CHECK(all_lines(table) == std::vector<std::size_t>{2, 3, 4, 8, 9});
}

TEST_CASE("csv: CRLF and LF line ends, with or without a final line end", "[csv]") {
  const std::vector<std::vector<std::string>> expected{{"x", "y"}, {"multi\r\nline", "z"}};
  for (const std::string text : {"a,b\r\nx,y\r\n\"multi\r\nline\",z\r\n", "a,b\r\nx,y\r\n\"multi\r\nline\",z",
                                 "a,b\nx,y\n\"multi\r\nline\",z\n", "a,b\nx,y\r\n\"multi\r\nline\",z"}) {
    const CsvTable table = parse_csv(text);
    CHECK(table.header == std::vector<std::string>{"a", "b"});
    CHECK(all_fields(table) == expected);  // a CRLF inside quotes is data, kept as it is
    CHECK(all_lines(table) == std::vector<std::size_t>{2, 3});
  }
}

TEST_CASE("csv: empty fields, trailing delimiters, blank lines, BOM, other delimiters", "[csv]") {
  CHECK(all_fields(parse_csv("a,b,c\n,,\n\"\",x,\n")) ==
        std::vector<std::vector<std::string>>{{"", "", ""}, {"", "x", ""}});

  const CsvTable blank = parse_csv(
      "\xEF\xBB\xBF"
      "a,b\n\n1,2\r\n\r\n\n3,4\n\n");
  CHECK(blank.header == std::vector<std::string>{"a", "b"});  // BOM gone
  CHECK(all_fields(blank) == std::vector<std::vector<std::string>>{{"1", "2"}, {"3", "4"}});
  CHECK(all_lines(blank) == std::vector<std::size_t>{3, 6});

  CsvOptions keep_blank;
  keep_blank.has_header = false;
  keep_blank.skip_blank_lines = false;
  CHECK(all_fields(parse_csv("x\n\ny\n", keep_blank)) ==
        std::vector<std::vector<std::string>>{{"x"}, {""}, {"y"}});

  CsvOptions tabs;
  tabs.delimiter = '\t';
  CHECK(all_fields(parse_csv("a\tb\n\"x\ty\"\tz,w\n", tabs)) ==
        std::vector<std::vector<std::string>>{{"x\ty", "z,w"}});

  CHECK(parse_csv("").header.empty());
  CHECK(parse_csv("a,b\n").records.empty());
}

TEST_CASE("csv: malformed input is an error naming the line and the problem", "[csv]") {
  SECTION("unterminated quote: reported at the line where the field starts") {
    const CsvError error = parse_error("a,b\n1,2\n\"never closed,3\n4,5\n");
    CHECK(error.line() == 3);
    CHECK_THAT(error.what(), Contains("t.csv:3:") && Contains("unterminated quoted field 1"));
  }
  SECTION("stray quote inside an unquoted field") {
    const CsvError error = parse_error("a,b\n1,2\n3,say \"hi\"\n");
    CHECK(error.line() == 3);
    CHECK_THAT(error.what(), Contains("t.csv:3:") && Contains("stray quote in unquoted field 2"));
  }
  SECTION("text after a closing quote") {
    const CsvError error = parse_error("a,b\n\"x\"y,2\n");
    CHECK(error.line() == 2);
    CHECK_THAT(error.what(), Contains("unexpected 'y' after the closing quote of field 1"));
  }
  SECTION("too few and too many fields compared with the header") {
    const CsvError few = parse_error("a,b\n1,2\n\"multi\nline\",2\nonly\n");
    CHECK(few.line() == 5);
    CHECK_THAT(few.what(), Contains("t.csv:5: expected 2 fields (as in the header), found 1"));
    const CsvError many = parse_error("a,b\n1,2,3\n");
    CHECK_THAT(many.what(), Contains("t.csv:2: expected 2 fields (as in the header), found 3"));
  }
  SECTION("without a header the first record sets the field count") {
    CsvOptions options;
    options.has_header = false;
    const CsvError error = parse_error("1,2,3\n4,5\n", options);
    CHECK_THAT(error.what(), Contains("t.csv:2: expected 3 fields (as in the first record), found 2"));
    options.require_uniform_field_count = false;
    CHECK(parse_csv("1,2,3\n4,5\n", options).records.size() == 2);
  }
  SECTION("a carriage return without a line feed") {
    const CsvError error = parse_error("a,b\n1,2\r3,4\n");
    CHECK(error.line() == 2);
    CHECK_THAT(error.what(), Contains("carriage return not followed by a line feed"));
  }
  SECTION("a malformed header") {
    CHECK_THROWS_WITH(parse_csv("a,\"b\n1,2\n", CsvOptions{}),
                      Contains("<csv>:1: unterminated quoted field 2"));
  }
}

TEST_CASE("csv: reading resumes at the line after a malformed record", "[csv]") {
  const std::string text = "a,b\n1,2\nbad\"quote,3\n4,5\n\"open,6\n7,8\n9,10,11\n12,13";
  CsvReader reader{std::string_view(text)};
  std::vector<std::vector<std::string>> good;
  std::vector<std::size_t> bad_lines;
  CsvRecord record;
  for (;;) {
    try {
      if (!reader.next(record)) break;
      good.push_back(record.fields);
    } catch (const CsvError& error) {
      bad_lines.push_back(error.line());
    }
  }
  CHECK(good == std::vector<std::vector<std::string>>{{"1", "2"}, {"4", "5"}, {"7", "8"}, {"12", "13"}});
  CHECK(bad_lines == std::vector<std::size_t>{3, 5, 7});
}

TEST_CASE("csv: streaming gives the same records whatever the chunk size", "[csv]") {
  // Small chunks put a chunk boundary inside every construct: "", CRLF, quoted line breaks, BOM.
  std::string text =
      "\xEF\xBB\xBF"
      "review,sentiment\r\n";
  for (int i = 0; i < 40; ++i) {
    text += "\"say \"\"" + std::to_string(i) + "\"\", then\r\nmore, and \"\"\"\"\",pos\r\n";
    text += "plain " + std::to_string(i * 7) + ",neg\n";
    if (i % 5 == 0) text += "\r\n";
  }
  const CsvTable in_memory = parse_csv(text);
  REQUIRE(in_memory.records.size() == 80);
  CHECK(in_memory.records[0].fields[0] == "say \"0\", then\r\nmore, and \"\"");
  for (const std::size_t chunk : {1, 2, 3, 5, 7, 64, 4096}) {
    CAPTURE(chunk);
    std::istringstream in(text);
    CsvOptions options;
    options.read_chunk_bytes = chunk;
    const CsvTable streamed = read_csv(in, options);
    CHECK(streamed.header == in_memory.header);
    CHECK(all_fields(streamed) == all_fields(in_memory));
    CHECK(all_lines(streamed) == all_lines(in_memory));
  }
}

TEST_CASE("csv: streaming resynchronises after errors across chunk boundaries", "[csv]") {
  const std::string text = "a,b\n1,2\nbad\"quote,3\n4,5\n\"open,6\n7,8\n";
  for (const std::size_t chunk : {1, 3, 1024}) {
    CAPTURE(chunk);
    std::istringstream in(text);
    CsvOptions options;
    options.read_chunk_bytes = chunk;
    CsvReader reader(in, options);
    std::vector<std::string> firsts;
    std::vector<std::size_t> bad_lines;
    CsvRecord record;
    for (;;) {
      try {
        if (!reader.next(record)) break;
        firsts.push_back(record.fields[0]);
      } catch (const CsvError& error) {
        bad_lines.push_back(error.line());
      }
    }
    CHECK(firsts == std::vector<std::string>{"1", "4", "7"});
    CHECK(bad_lines == std::vector<std::size_t>{3, 5});
  }
}

// Issue 11, item 4: a copy of a stream-mode reader pointed into the original's buffer (a
// use-after-free once the original was gone). Copies are now impossible and moves re-point.
static_assert(!std::is_copy_constructible_v<CsvReader> && !std::is_copy_assignable_v<CsvReader>,
              "a CsvReader copy would share one stream position");

TEST_CASE("csv: a moved stream reader continues where the original stood", "[csv]") {
  std::string text = "a,b\n";
  for (int i = 0; i < 40; ++i) text += std::to_string(i) + ",\"quoted " + std::to_string(i) + "\"\n";
  for (const std::size_t chunk : {1, 7, 1 << 20}) {
    CAPTURE(chunk);
    std::istringstream in(text);
    CsvOptions options;
    options.read_chunk_bytes = chunk;
    auto original = std::make_unique<CsvReader>(in, options);
    CsvRecord record;
    REQUIRE(original->next(record));
    CHECK(record.fields[0] == "0");
    CsvReader moved(std::move(*original));
    original.reset();  // its buffer is gone: the moved reader must not point into it
    std::vector<std::string> rest;
    while (moved.next(record)) rest.push_back(record.fields[1]);
    REQUIRE(rest.size() == 39);
    CHECK(rest.front() == "quoted 1");
    CHECK(rest.back() == "quoted 39");
    CHECK(moved.header() == std::vector<std::string>{"a", "b"});

    CsvReader assigned{std::string_view("x\n1\n")};
    std::istringstream again(text);
    CsvReader source(again, options);
    assigned = std::move(source);
    REQUIRE(assigned.next(record));
    CHECK(record.fields == std::vector<std::string>{"0", "quoted 0"});
  }
}

// Issue 11, item 7: a missing closing quote (or a file that is not CSV) buffered the whole stream.
TEST_CASE("csv: a record longer than max_record_bytes ends the read with an error", "[csv]") {
  std::string text = "review,sentiment\n\"never closed";
  text += std::string(5000, 'x');
  std::istringstream in(text);
  CsvOptions options;
  options.read_chunk_bytes = 512;
  options.max_record_bytes = 4096;
  options.source_name = "endless.csv";
  CsvReader reader(in, options);
  CsvRecord record;
  CHECK_THROWS_WITH(reader.next(record), Contains("endless.csv:2: record is longer than 4096 bytes"));
  CHECK_FALSE(reader.next(record));  // the read ended; nothing more is buffered
  // The same record within the limit is only the usual unterminated-quote CsvError.
  std::istringstream small(text);
  options.max_record_bytes = 8192;
  CsvReader fine(small, options);
  CHECK_THROWS_AS(fine.next(record), CsvError);
}

// ---- IMDB CSV -------------------------------------------------------------------------------

TEST_CASE("imdb: sentiment labels in their accepted spellings", "[imdb]") {
  for (const char* positive : {"positive", "Positive", "POS", "pos", "1"})
    CHECK(parse_sentiment_label(positive) == 1);
  for (const char* negative : {"negative", "NEG", "neg", "0"}) CHECK(parse_sentiment_label(negative) == 0);
  for (const char* unknown : {"", "2", "-1", "yes", "positive ", "neutral"})
    CHECK_FALSE(parse_sentiment_label(unknown));
}

TEST_CASE("imdb: read_imdb_csv reads the review,sentiment form", "[imdb]") {
  ImdbReadStats stats;
  const std::vector<Review> reviews = read_imdb_csv(kFixtures / "tiny.csv", {}, &stats);
  REQUIRE(reviews.size() == 8);
  CHECK(stats.reviews == 8);
  CHECK(stats.skipped.empty());
  CHECK(reviews[0].text == "A gem, plain and simple.");
  CHECK(reviews[2].text == "She said \"wow\" and so did I.");
  CHECK(reviews[3].text == "Two lines:\nthe second one.");
  CHECK(reviews[7].text == "Forgettable.");
  std::vector<int> labels;
  for (const Review& review : reviews) labels.push_back(review.label);
  CHECK(labels == std::vector<int>{1, 0, 1, 0, 1, 0, 1, 0});
  CHECK(class_balance(reviews) == std::map<int, std::size_t>{{0, 4}, {1, 4}});
}

TEST_CASE("imdb: a .csv.gz file is decompressed with zlib", "[imdb]") {
  const std::vector<Review> plain = read_imdb_csv(kFixtures / "tiny.csv");
  const std::vector<Review> gzipped = read_imdb_csv(kFixtures / "tiny.csv.gz");
  CHECK(texts(gzipped) == texts(plain));
  CHECK(class_balance(gzipped) == class_balance(plain));

  const fs::path dir = scratch_dir("gzip");
  write_file(dir / "not gzip's.csv.gz", "review,sentiment\nplain text,1\n");
  CHECK_THROWS_WITH(
      read_imdb_csv(dir / "not gzip's.csv.gz"),
      Contains("not gzip's.csv.gz") && Contains("decompressing") && Contains("not in gzip format"));

  // A stream cut short: the data until then parses, but the failure must still be reported.
  std::ifstream whole(kFixtures / "tiny.csv.gz", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(whole)), std::istreambuf_iterator<char>());
  write_file(dir / "truncated.csv.gz", bytes.substr(0, bytes.size() - 10));
  CHECK_THROWS_WITH(
      read_imdb_csv(dir / "truncated.csv.gz"),
      Contains("truncated.csv.gz") && Contains("decompressing") && Contains("unexpected end of file"));

  // A damaged trailer (CRC-32 of the data): every byte decompresses, the check fails.
  std::string corrupt = bytes;
  corrupt[corrupt.size() - 6] = static_cast<char>(corrupt[corrupt.size() - 6] ^ 0x5A);
  write_file(dir / "corrupt.csv.gz", corrupt);
  CHECK_THROWS_WITH(read_imdb_csv(dir / "corrupt.csv.gz"),
                    Contains("corrupt.csv.gz") && Contains("decompressing") && Contains("incorrect data check"));

  CHECK_THROWS_WITH(read_imdb_csv(dir / "missing.csv.gz"),
                    Contains("no such file") && Contains("missing.csv.gz"));
  CHECK_THROWS_WITH(read_imdb_csv(dir / "missing.csv"), Contains("no such file") && Contains("missing.csv"));
}

TEST_CASE("imdb: a malformed row is an error naming the file and the line", "[imdb]") {
  CHECK_THROWS_WITH(read_imdb_csv(kFixtures / "malformed.csv"),
                    Contains("malformed.csv:3: unknown sentiment label 'meh'"));

  auto read_text = [](const std::string& text) {
    std::istringstream in(text);
    return read_imdb_csv(in, "inline.csv");
  };
  CHECK_THROWS_WITH(read_text("review,sentiment\nok,1\nTerrible.,meh\n"),
                    Contains("inline.csv:3: unknown sentiment label 'meh' (expected positive/negative"));
  CHECK_THROWS_WITH(read_text("review,sentiment\nok,1\nno label here\n"),
                    Contains("inline.csv:3: expected 2 fields (as in the header), found 1"));
  CHECK_THROWS_WITH(read_text("review,sentiment\nok,1\n\"two\nlines\",0\nsay \"hi\",1\n"),
                    Contains("inline.csv:5: stray quote in unquoted field 1"));
  CHECK_THROWS_WITH(read_text("review,sentiment\n\"open,1\nok,0\n"),
                    Contains("inline.csv:2: unterminated quoted field 1"));
  CHECK_THROWS_WITH(read_text("review,sentiment\n,1\n"), Contains("inline.csv:2: empty review text"));
  CHECK_THROWS_WITH(
      read_text("review,sentiment\n" + std::string(100, 'x') + "," + std::string(100, 'y') + "\n"),
      Contains("'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy...' (100 bytes)"));
}

TEST_CASE("imdb: skip_malformed leaves bad rows out and lists them", "[imdb]") {
  ImdbReadStats stats;
  ImdbCsvOptions options;
  options.skip_malformed = true;
  const std::vector<Review> reviews = read_imdb_csv(kFixtures / "malformed.csv", options, &stats);
  CHECK(texts(reviews) == std::vector<std::string>{"Fine film.", "Good, honestly.", "Solid."});
  CHECK(stats.reviews == 3);
  REQUIRE(stats.skipped.size() == 5);
  const std::vector<std::pair<std::size_t, std::string>> expected{
      {3, "unknown sentiment label 'meh'"},
      {4, "expected 2 fields (as in the header), found 1"},
      {5, "stray quote in unquoted field 1"},
      {6, "empty review text"},
      {8, "unterminated quoted field 1"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(stats.skipped[i].line == expected[i].first);
    CHECK_THAT(stats.skipped[i].reason, Contains(expected[i].second));
  }
}

TEST_CASE("imdb: the header must name review and sentiment", "[imdb]") {
  std::istringstream other_columns("text,label\nfine,1\n");
  CHECK_THROWS_WITH(
      read_imdb_csv(other_columns, "h.csv"),
      Contains("h.csv:1: expected a header with the columns 'review' and 'sentiment', found 'text,label'"));
  std::istringstream empty("");
  CHECK_THROWS_WITH(read_imdb_csv(empty, "e.csv"), Contains("e.csv: empty file"));
  std::istringstream reordered("Sentiment,id,Review\nneg,7,\"dull, dull\"\n");
  const std::vector<Review> reviews = read_imdb_csv(reordered, "r.csv");
  REQUIRE(reviews.size() == 1);
  CHECK(reviews[0].text == "dull, dull");
  CHECK(reviews[0].label == 0);
}

TEST_CASE("imdb: the shipped sample is 12,000 distinct, balanced reviews", "[imdb][sample]") {
  ScopedEnv unset("TINYXF_DATA_DIR", "");  // the copy in this source tree, whatever the environment says
  const fs::path sample = imdb_sample_path();
  CHECK(sample == fs::path(TINYXF_SOURCE_DIR) / "share" / "data" / "imdb_sample.csv");
  const std::vector<Review> reviews = read_imdb_csv(sample);
  REQUIRE(reviews.size() == 12'000);
  CHECK(class_balance(reviews) == std::map<int, std::size_t>{{0, 6'000}, {1, 6'000}});
  const std::vector<std::string> all_texts = texts(reviews);
  const std::set<std::string> distinct(all_texts.begin(), all_texts.end());
  CHECK(distinct.size() == reviews.size());  // so no review is in two parts of a split

  const ImdbSplits splits = split_lecture(reviews, 1);
  CHECK(splits.train.size() == 8'400);
  CHECK(splits.val.size() == 1'200);
  CHECK(splits.test.size() == 2'400);
}

// ---- aclImdb tree ---------------------------------------------------------------------------

TEST_CASE("imdb: read_aclimdb reads pos then neg, by numeric file id", "[aclimdb]") {
  const fs::path root = kFixtures / "aclImdb_mini";
  const std::vector<Review> train = read_aclimdb(root, "train");
  CHECK(texts(train) == std::vector<std::string>{"A warm, funny film.<br /><br />See it twice.",  // pos/0_9
                                                 "Lovely score and a \"brilliant\" lead.",        // pos/2_7
                                                 "Ten out of ten, no notes.",                     // pos/10_10
                                                 "Two hours I will never get back.",              // neg/0_3
                                                 "Wooden acting,\nworse plot."});                 // neg/1_1
  std::vector<int> labels;
  for (const Review& review : train) labels.push_back(review.label);
  CHECK(labels == std::vector<int>{1, 1, 1, 0, 0});

  const std::vector<Review> test = read_aclimdb(root, "test");
  CHECK(texts(test) == std::vector<std::string>{"Better than the first one.", "Nothing happens, slowly.",
                                                "The ending ruins it.", "The sequel nobody asked for."});
  CHECK(class_balance(test) == std::map<int, std::size_t>{{0, 3}, {1, 1}});

  const ImdbSplits official = split_official(root);
  CHECK(texts(official.train) == texts(train));
  CHECK(texts(official.test) == texts(test));
  CHECK(official.val.empty());
}

// Issue 11, item 7: review files were read whole, whatever their size.
TEST_CASE("imdb: read_aclimdb refuses a review file over the size limit", "[aclimdb]") {
  const fs::path dir = scratch_dir("aclimdb_big");
  fs::copy(kFixtures / "aclImdb_mini", dir, fs::copy_options::recursive);
  const fs::path big = dir / "train" / "pos" / "7_9.txt";
  write_file(big, std::string(tinyxf::io::limits::review_file + 1, 'a'));
  CHECK_THROWS_WITH(read_aclimdb(dir, "train"),
                    Contains("read_aclimdb: read_file: '" + big.string() + "' is 16777217 bytes, more than the limit"));
}

TEST_CASE("imdb: read_aclimdb accepts the folder above aclImdb and reports missing folders", "[aclimdb]") {
  const fs::path dir = scratch_dir("aclimdb");
  fs::copy(kFixtures / "aclImdb_mini", dir / "aclImdb", fs::copy_options::recursive);
  CHECK(texts(read_aclimdb(dir, "train")) == texts(read_aclimdb(kFixtures / "aclImdb_mini", "train")));

  CHECK_THROWS_WITH(read_aclimdb(dir, "val"), Contains("split must be \"train\" or \"test\", got \"val\""));
  CHECK_THROWS_WITH(read_aclimdb(dir / "nowhere", "train"),
                    Contains("missing folder " + (dir / "nowhere" / "train" / "pos").string()) &&
                        Contains("download_imdb.sh"));
  fs::remove_all(dir / "aclImdb" / "test" / "neg");
  CHECK_THROWS_WITH(read_aclimdb(dir, "test"),
                    Contains("missing folder " + (dir / "aclImdb" / "test" / "neg").string()));
  fs::remove(dir / "aclImdb" / "train" / "neg" / "0_3.txt");
  fs::remove(dir / "aclImdb" / "train" / "neg" / "1_1.txt");
  CHECK_THROWS_WITH(read_aclimdb(dir, "train"), Contains("no .txt reviews in"));
}

// ---- PRNG and splits ------------------------------------------------------------------------

TEST_CASE("splits: SplitMix64 matches the reference outputs", "[split]") {
  SplitMix64 zero(0);  // Vigna's splitmix64.c seeded with 0
  CHECK(zero.next() == 0xE220A8397B1DCDAFull);
  CHECK(zero.next() == 0x6E789E6AA1B965F4ull);
  SplitMix64 other(1234567);
  CHECK(other.next() == 6457827717110365317ull);
  CHECK(other.next() == 3203168211198807973ull);

  SplitMix64 rng(5);
  for (int i = 0; i < 1000; ++i) CHECK(rng.below(3) < 3);
  CHECK_THROWS_WITH(rng.below(0), Contains("bound must be positive"));
}

TEST_CASE("splits: shuffled_indices is a seeded permutation", "[split]") {
  // Known values (also produced by scripts/make_imdb_sample.py) so a PRNG change is caught.
  CHECK(shuffled_indices(10, 42) == std::vector<std::size_t>{0, 9, 5, 8, 6, 4, 7, 2, 1, 3});
  CHECK(shuffled_indices(10, 43) == std::vector<std::size_t>{4, 2, 5, 6, 1, 3, 9, 8, 7, 0});
  CHECK(shuffled_indices(1, 42) == std::vector<std::size_t>{0});
  CHECK(shuffled_indices(0, 42).empty());
  std::vector<std::size_t> order = shuffled_indices(1000, 9);
  CHECK(order == shuffled_indices(1000, 9));
  std::sort(order.begin(), order.end());
  for (std::size_t i = 0; i < order.size(); ++i) REQUIRE(order[i] == i);
}

TEST_CASE("splits: lecture sizes are 70/10/20 with train taking the rounding", "[split]") {
  auto sizes = [](std::size_t n) {
    const SplitSizes s = lecture_split_sizes(n);
    return std::vector<std::size_t>{s.train, s.val, s.test};
  };
  CHECK(sizes(50'000) == std::vector<std::size_t>{35'000, 5'000, 10'000});
  CHECK(sizes(12'000) == std::vector<std::size_t>{8'400, 1'200, 2'400});
  CHECK(sizes(12'345) == std::vector<std::size_t>{8'642, 1'234, 2'469});
  CHECK(sizes(9) == std::vector<std::size_t>{8, 0, 1});
  CHECK(sizes(0) == std::vector<std::size_t>{0, 0, 0});
}

TEST_CASE("splits: split_lecture is deterministic, disjoint and complete", "[split]") {
  const ImdbSplits a = split_lecture(numbered_reviews(50'000), 42);
  CHECK(a.train.size() == 35'000);
  CHECK(a.val.size() == 5'000);
  CHECK(a.test.size() == 10'000);
  // Known elements for seed 42 (shuffled_indices(50000, 42)[0], [35000], [40000]).
  CHECK(a.train.front().text == "19263");
  CHECK(a.val.front().text == "15293");
  CHECK(a.test.front().text == "28218");
  CHECK(a.train.front().label == 1);  // labels travel with their texts

  std::set<std::string> seen;
  for (const auto* part : {&a.train, &a.val, &a.test}) {
    for (const Review& review : *part) CHECK(seen.insert(review.text).second);
  }
  CHECK(seen.size() == 50'000);

  const ImdbSplits same = split_lecture(numbered_reviews(50'000), 42);
  CHECK(texts(same.train) == texts(a.train));
  CHECK(texts(same.val) == texts(a.val));
  CHECK(texts(same.test) == texts(a.test));
  const ImdbSplits other = split_lecture(numbered_reviews(50'000), 43);
  CHECK(texts(other.train) != texts(a.train));
  CHECK(texts(other.test) != texts(a.test));
}

TEST_CASE("splits: split_official takes the 50k CSV in aclImdb order", "[split]") {
  std::vector<Review> ordered;
  for (std::size_t i = 0; i < 50'000; ++i)
    ordered.push_back({std::to_string(i), (i / 12'500) % 2 == 0 ? 1 : 0});
  const ImdbSplits splits = split_official(ordered);
  CHECK(splits.train.size() == 25'000);
  CHECK(splits.test.size() == 25'000);
  CHECK(splits.val.empty());
  CHECK(splits.train.front().text == "0");
  CHECK(splits.test.front().text == "25000");
  CHECK(class_balance(splits.train) == std::map<int, std::size_t>{{0, 12'500}, {1, 12'500}});

  CHECK_THROWS_WITH(split_official(numbered_reviews(12'000)), Contains("needs all 50,000 reviews"));
  std::swap(ordered[10], ordered[20'000]);
  CHECK_THROWS_WITH(split_official(ordered), Contains("review 11 has label 0") && Contains("shuffled"));
}

TEST_CASE("splits: train_val_split rounds the validation share", "[split]") {
  const TrainValSplit split = train_val_split(numbered_reviews(25'000), 0.2, 7);
  CHECK(split.train.size() == 20'000);
  CHECK(split.val.size() == 5'000);
  CHECK(split.train.front().text == "229");  // shuffled_indices(25000, 7)[0]
  std::set<std::string> seen;
  for (const auto* part : {&split.train, &split.val}) {
    for (const Review& review : *part) CHECK(seen.insert(review.text).second);
  }
  CHECK(seen.size() == 25'000);
  CHECK(texts(train_val_split(numbered_reviews(25'000), 0.2, 7).val) == texts(split.val));
  CHECK(texts(train_val_split(numbered_reviews(25'000), 0.2, 8).val) != texts(split.val));

  CHECK(train_val_split(numbered_reviews(5), 0.5, 1).val.size() == 3);  // 2.5 rounds up
  CHECK(train_val_split(numbered_reviews(5), 0.0, 1).val.empty());
  CHECK_THROWS_WITH(train_val_split(numbered_reviews(5), 1.0, 1), Contains("val_fraction must be in [0, 1)"));
  CHECK_THROWS_WITH(train_val_split(numbered_reviews(5), -0.1, 1),
                    Contains("val_fraction must be in [0, 1)"));
}

// ---- default_data_dir -----------------------------------------------------------------------

TEST_CASE("paths: default_data_dir finds the source tree's share folder, or TINYXF_DATA_DIR", "[paths]") {
  {
    ScopedEnv unset("TINYXF_DATA_DIR", "");  // empty counts as not set
    CHECK(default_data_dir() == fs::path(TINYXF_SOURCE_DIR) / "share");
  }
  {
    const fs::path dir = scratch_dir("data_dir");
    ScopedEnv env("TINYXF_DATA_DIR", dir.string());
    CHECK(default_data_dir() == dir);
  }
  {
    ScopedEnv env("TINYXF_DATA_DIR", "/nonexistent/tinyxf-data");
    CHECK_THROWS_WITH(default_data_dir(), Contains("TINYXF_DATA_DIR is set to '/nonexistent/tinyxf-data'"));
  }
}
