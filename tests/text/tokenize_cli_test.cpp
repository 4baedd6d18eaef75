// The tinyxf-tokenize command line (hidden tag [cli], run as the CTest test text_tokenize_cli): runs
// the built binary on files and checks its output, messages and exit status.
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "tinyxf/io/json.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace fs = std::filesystem;
namespace json = tinyxf::json;

#ifdef TINYXF_TOKENIZE_BINARY

namespace {

const fs::path kSourceDir = TINYXF_SOURCE_DIR;
const fs::path kVocab = kSourceDir / "share" / "vocab" / "bert-base-uncased-vocab.txt";

std::string quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Run {
  int status = -1;  // exit status
  std::string out, err;
};

// Runs tinyxf-tokenize with `arguments` (already shell-quoted where needed) on `input` as stdin.
Run tokenize(const std::string& input, const std::string& arguments) {
  static int counter = 0;
  const fs::path dir = fs::temp_directory_path() / ("tinyxf_cli_test_" + std::to_string(::getpid()) + "_" +
                                                    std::to_string(counter++));
  fs::create_directories(dir);
  std::ofstream(dir / "in", std::ios::binary) << input;
  const std::string command = quote(TINYXF_TOKENIZE_BINARY) + " " + arguments + " < " + quote(dir / "in") +
                              " > " + quote(dir / "out") + " 2> " + quote(dir / "err");
  const int raw = std::system(command.c_str());
  Run run;
  run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  run.out = read_file(dir / "out");
  run.err = read_file(dir / "err");
  fs::remove_all(dir);
  return run;
}

const std::string kVocabArg = "--vocab " + quote(kVocab);

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("tinyxf-tokenize: JSON Lines in, JSON Lines out", "[.][cli]") {
  const Run run = tokenize("{\"text\": \"Hello, world!\"}\n{\"id\": 7, \"text\": \"\\u00e9t\\u00e9 [MASK]\"}\n", kVocabArg);
  REQUIRE(run.status == 0);
  CHECK(run.err.empty());
  CHECK(run.out ==
        "{\"ids\":[101,7592,1010,2088,999,102],\"tokens\":[\"[CLS]\",\"hello\",\",\",\"world\",\"!\",\"[SEP]\"],"
        "\"attention_mask\":[1,1,1,1,1,1]}\n"
        "{\"ids\":[101,3802,2063,103,102],\"tokens\":[\"[CLS]\",\"et\",\"##e\",\"[MASK]\",\"[SEP]\"],"
        "\"attention_mask\":[1,1,1,1,1]}\n");
}

TEST_CASE("tinyxf-tokenize: the hard strings give Hugging Face's ids, on 1 and 2 threads", "[.][cli]") {
  std::string input;
  std::vector<std::string> expected;
  std::ifstream golden(kSourceDir / "tests" / "data" / "tokenizer" / "hard_strings.jsonl");
  for (std::string line; std::getline(golden, line);) {
    const json::Value record = json::parse(line);
    input += "{\"text\":\"";
    json::append_escaped(input, record["text"].as_string());
    input += "\"}\n";
    std::string ids;
    for (const json::Value& id : record["ids"].as_array()) {
      if (!ids.empty()) ids += ' ';
      ids += std::to_string(id.as_int());
    }
    expected.push_back(ids);
  }
  REQUIRE(expected.size() >= 400);
  const Run one = tokenize(input, kVocabArg + " --output ids --threads 1");
  const Run two = tokenize(input, kVocabArg + " --output ids --threads 2");
  REQUIRE(one.status == 0);
  REQUIRE(two.status == 0);
  CHECK(lines_of(one.out) == expected);
  CHECK(two.out == one.out);
  const Run none = tokenize(input, kVocabArg + " --output none");
  CHECK(none.status == 0);
  CHECK(none.out.empty());
  CHECK_THAT(none.err, Catch::StartsWith("tinyxf-tokenize: " + std::to_string(expected.size()) + " documents, "));
}

TEST_CASE("tinyxf-tokenize: text input is split on \\n only", "[.][cli]") {
  // U+0085 (NEL) and U+2028 are not line breaks; a CR stays in its line (whitespace to BERT); the
  // last line needs no '\n'; an empty line is an empty document.
  const Run run = tokenize("a\xc2\x85" "b\nc\xe2\x80\xa8" "d\r\n\nlast", kVocabArg + " --input text --output ids");
  REQUIRE(run.status == 0);
  CHECK(run.out == "101 11113 102\n101 1039 1040 102\n101 102\n101 2197 102\n");
}

TEST_CASE("tinyxf-tokenize: --max-length, --padding, --no-special-tokens", "[.][cli]") {
  const std::string input = "{\"text\":\"one two three four five six\"}\n{\"text\":\"hi\"}\n";
  const Run truncated = tokenize(input, kVocabArg + " --max-length 5 --output ids");
  CHECK(truncated.out == "101 2028 2048 2093 102\n101 7632 102\n");
  const Run padded = tokenize(input, kVocabArg + " --max-length=5 --padding max_length");
  REQUIRE(lines_of(padded.out).size() == 2);
  CHECK(lines_of(padded.out)[1] ==
        "{\"ids\":[101,7632,102,0,0],\"tokens\":[\"[CLS]\",\"hi\",\"[SEP]\",\"[PAD]\",\"[PAD]\"],"
        "\"attention_mask\":[1,1,1,0,0]}");
  // tokenizer("hi", truncation=True, max_length=5, padding="max_length", padding_side="left")
  const Run left = tokenize(input, kVocabArg + " --max-length=5 --padding max_length --padding-side left --output ids");
  CHECK(lines_of(left.out)[1] == "0 0 101 7632 102");
  const Run bad_side = tokenize(input, kVocabArg + " --padding-side Left");
  CHECK(bad_side.status == 2);
  CHECK(bad_side.err.find("--padding-side must be right or left, got 'Left'") != std::string::npos);
  const Run bare = tokenize(input, kVocabArg + " --no-special-tokens --max-length 3 --output ids");
  CHECK(bare.out == "2028 2048 2093\n7632\n");
  const Run whole = tokenize(input, kVocabArg + " --output ids --padding none");
  CHECK(lines_of(whole.out)[0] == "101 2028 2048 2093 2176 2274 2416 102");
}

TEST_CASE("tinyxf-tokenize: --pad-to-multiple-of, with the library's rules", "[.][cli]") {
  const std::string input = "{\"text\":\"hi\"}\n";
  // tokenizer("hi", truncation=True, max_length=8, padding="max_length", pad_to_multiple_of=4)
  const Run padded = tokenize(input, kVocabArg + " --max-length 8 --padding max_length --pad-to-multiple-of 4 --output ids");
  CHECK(padded.status == 0);
  CHECK(padded.out == "101 7632 102 0 0 0 0 0\n");
  // Without padding it changes nothing (tokenizer("hi", pad_to_multiple_of=4) is [101, 7632, 102]).
  CHECK(tokenize(input, kVocabArg + " --pad-to-multiple-of 4 --output ids").out == "101 7632 102\n");
  // tokenizer("hi", truncation=True, max_length=10, padding="max_length", pad_to_multiple_of=8) raises
  // "Truncation and padding are both activated but truncation length (10) is not a multiple of pad_to_multiple_of (8)".
  const Run not_multiple = tokenize(input, kVocabArg + " --max-length 10 --padding max_length --pad-to-multiple-of 8");
  CHECK(not_multiple.status == 2);
  CHECK_THAT(not_multiple.err, Catch::Contains("max_length 10 is not a multiple of pad_to_multiple_of 8"));
  CHECK_THAT(not_multiple.err, Catch::Contains("usage: tinyxf-tokenize"));
  for (const auto& [value, message] :
       {std::pair{std::string("-1"), std::string("--pad-to-multiple-of: -1 is outside the accepted range [0, 1048576]")},
        std::pair{std::string("1048577"), std::string("--pad-to-multiple-of: 1048577 is outside the accepted range [0, 1048576]")},
        std::pair{std::string("eight"), std::string("--pad-to-multiple-of: 'eight' is not a whole number")}}) {
    const Run bad = tokenize(input, kVocabArg + " --pad-to-multiple-of=" + value);
    CHECK(bad.status == 2);
    CHECK_THAT(bad.err, Catch::Contains(message));
  }
}

TEST_CASE("tinyxf-tokenize: --pairs and --pair-truncation", "[.][cli]") {
  const std::string input = "{\"text\":\"is it?\",\"text_pair\":\"one two three four five six\"}\n";
  const Run pair = tokenize(input, kVocabArg);
  CHECK(pair.out.find("text_pair") == std::string::npos);  // without --pairs: the first text only
  const Run whole = tokenize(input, kVocabArg + " --pairs");
  REQUIRE(whole.status == 0);
  CHECK(whole.out ==
        "{\"ids\":[101,2003,2009,1029,102,2028,2048,2093,2176,2274,2416,102],\"tokens\":[\"[CLS]\",\"is\",\"it\",\"?\","
        "\"[SEP]\",\"one\",\"two\",\"three\",\"four\",\"five\",\"six\",\"[SEP]\"],"
        "\"attention_mask\":[1,1,1,1,1,1,1,1,1,1,1,1],\"token_type_ids\":[0,0,0,0,0,1,1,1,1,1,1,1]}\n");
  // longest_first: 3 + 6 pieces into 5, both texts to half the room, the longer one the odd piece
  // (tokenizers gives the same ids); only_first cannot fit this pair into 8.
  CHECK(tokenize(input, kVocabArg + " --pairs --max-length 8 --output ids").out == "101 2003 2009 102 2028 2048 2093 102\n");
  const Run refused = tokenize(input, kVocabArg + " --pairs --max-length 8 --pair-truncation only_first");
  CHECK(refused.status == 1);
  CHECK_THAT(refused.err, Catch::Contains("line 1: ") && Catch::Contains("only_first truncation cannot fit the pair"));
  const Run missing = tokenize("{\"text\":\"ok\"}\n", kVocabArg + " --pairs");
  CHECK(missing.status == 1);
  CHECK_THAT(missing.err, Catch::Contains("line 1: expected a JSON object with a string field \"text_pair\""));
  for (const std::string& arguments : {std::string(" --pair-truncation only_first"), std::string(" --pairs --input text"),
                                       std::string(" --pairs --pair-truncation shortest")}) {
    INFO(arguments);
    CHECK(tokenize(input, kVocabArg + arguments).status == 2);
  }
}

TEST_CASE("tinyxf-tokenize: --words (pre-split words) gives word ids", "[.][cli]") {
  // tokenizers 0.23.3, encode(["Unaffable", "Paris,", "ok"], is_pretokenized=True).
  const Run run = tokenize("{\"words\":[\"Unaffable\",\"Paris,\",\"ok\"]}\n", kVocabArg + " --words --max-length 8 --padding max_length");
  REQUIRE(run.status == 0);
  CHECK(run.out ==
        "{\"ids\":[101,14477,20961,3468,3000,1010,7929,102],\"tokens\":[\"[CLS]\",\"una\",\"##ffa\",\"##ble\",\"paris\","
        "\",\",\"ok\",\"[SEP]\"],\"attention_mask\":[1,1,1,1,1,1,1,1],\"word_ids\":[null,0,0,0,1,1,2,null]}\n");
  const Run bad = tokenize("{\"words\":[\"ok\"]}\n{\"words\":[\"ok\",3]}\n", kVocabArg + " --words");
  CHECK(bad.status == 1);
  CHECK_THAT(bad.err, Catch::Contains("line 2: word 1 of \"words\" is not a string"));
  const Run text = tokenize("{\"text\":\"ok\"}\n", kVocabArg + " --words");
  CHECK(text.status == 1);
  CHECK_THAT(text.err, Catch::Contains("line 1: expected a JSON object with an array of strings \"words\""));
  for (const std::string& arguments : {std::string(" --words --pairs"), std::string(" --words --input text")}) {
    INFO(arguments);
    CHECK(tokenize("{\"words\":[]}\n", kVocabArg + arguments).status == 2);
  }
}

TEST_CASE("tinyxf-tokenize: bad input stops with the line number", "[.][cli]") {
  const Run bad_json = tokenize("{\"text\":\"ok\"}\n{\"text\":\"ok\"}\n{\"text\": oops}\n", kVocabArg);
  CHECK(bad_json.status == 1);
  CHECK_THAT(bad_json.err, Catch::StartsWith("tinyxf-tokenize: line 3: "));
  const Run no_text = tokenize("{\"text\":\"ok\"}\n{\"txt\":\"ok\"}\n", kVocabArg);
  CHECK(no_text.status == 1);
  CHECK_THAT(no_text.err, Catch::Contains("line 2: expected a JSON object with a string field \"text\""));
  const Run not_string = tokenize("{\"text\":3}\n", kVocabArg);
  CHECK_THAT(not_string.err, Catch::Contains("line 1: expected a JSON object"));
  const Run blank = tokenize("{\"text\":\"ok\"}\n\n", kVocabArg);
  CHECK(blank.status == 1);
  CHECK_THAT(blank.err, Catch::Contains("line 2: "));
  const Run bad_utf8_text = tokenize("fine\nbad \xff here\n", kVocabArg + " --input text");
  CHECK(bad_utf8_text.status == 1);
  CHECK_THAT(bad_utf8_text.err, Catch::Contains("line 2: ") && Catch::Contains("invalid UTF-8 at byte offset 4"));
  const Run bad_utf8_json = tokenize("{\"text\":\"fine\"}\n{\"text\":\"bad \xff\"}\n", kVocabArg);
  CHECK(bad_utf8_json.status == 1);
  CHECK_THAT(bad_utf8_json.err, Catch::Contains("line 2: "));
  const Run no_vocab = tokenize("{\"text\":\"ok\"}\n", "--vocab /nonexistent/vocab.txt");
  CHECK(no_vocab.status == 1);
  CHECK_THAT(no_vocab.err, Catch::Contains("cannot open vocabulary file '/nonexistent/vocab.txt'"));
}

TEST_CASE("tinyxf-tokenize: bad arguments exit with status 2 and the usage", "[.][cli]") {
  for (const std::string& arguments :
       {std::string(""), kVocabArg + " --padding max_length", kVocabArg + " --max-length 0",
        kVocabArg + " --threads two", kVocabArg + " --output xml", kVocabArg + " --input csv", kVocabArg + " --bogus",
        kVocabArg + " --padding longest", std::string("--vocab")}) {
    INFO("arguments: " << arguments);
    const Run run = tokenize("", arguments);
    CHECK(run.status == 2);
    CHECK_THAT(run.err, Catch::Contains("usage: tinyxf-tokenize"));
  }
  const Run help = tokenize("", "--help");
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Catch::StartsWith("usage: tinyxf-tokenize"));
  const Run too_short = tokenize("", kVocabArg + " --max-length 2");
  CHECK(too_short.status == 2);
  CHECK_THAT(too_short.err, Catch::Contains("max_length 2 leaves no room"));
}

// Issue 11, items 5 and 7: --max-length 18446744073709551615 with padding failed inside
// vector::_M_fill_insert; /dev/zero as --vocab, or as stdin (no line break ever), read until
// memory ran out.
TEST_CASE("tinyxf-tokenize: huge numbers and endless inputs are refused", "[.][cli]") {
  const Run huge = tokenize("{\"text\":\"ok\"}\n", kVocabArg + " --max-length 18446744073709551615 --padding max_length");
  CHECK(huge.status == 2);
  CHECK_THAT(huge.err, Catch::Contains("--max-length: 18446744073709551615 is outside the accepted range [1, 1048576]"));
  const Run threads = tokenize("", kVocabArg + " --threads 100000");
  CHECK(threads.status == 2);
  CHECK_THAT(threads.err, Catch::Contains("--threads: 100000 is outside the accepted range [1, 1024]"));
  const Run zero_vocab = tokenize("{\"text\":\"ok\"}\n", "--vocab /dev/zero");
  CHECK(zero_vocab.status == 1);
  CHECK_THAT(zero_vocab.err, Catch::Contains("'/dev/zero' is not a regular file"));

  // 65 MiB without a line break on stdin: one line over the 64 MiB limit.
  const fs::path err = fs::temp_directory_path() / ("tinyxf_cli_test_endless_" + std::to_string(::getpid()));
  const std::string command = "head -c 68157440 /dev/zero | " + quote(TINYXF_TOKENIZE_BINARY) + " " + kVocabArg +
                              " --input text --output none 2> " + quote(err);
  const int raw = std::system(command.c_str());
  CHECK(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 1);
  CHECK_THAT(read_file(err), Catch::Contains("line 1: line is longer than 67108864 bytes"));
  fs::remove(err);
}

#endif  // TINYXF_TOKENIZE_BINARY
