// Unit tests of tinyxf::text: Vocab loading and its errors, encode options (truncation, padding,
// offsets, special tokens), invalid UTF-8, threads, decode. Parity with Hugging Face on many inputs
// is in tokenizer_golden_test.cpp.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tinyxf/io/json.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"

namespace fs = std::filesystem;
using tinyxf::Error;
using namespace tinyxf::text;

namespace {

const fs::path kSourceDir = TINYXF_SOURCE_DIR;
const fs::path kShippedVocab = kSourceDir / "share" / "vocab" / "bert-base-uncased-vocab.txt";

const BertTokenizer& bert() {
  static const BertTokenizer tokenizer = BertTokenizer::from_file(kShippedVocab);
  return tokenizer;
}

// A scratch folder for files written by a test, removed with the object.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("tinyxf_text_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return path / name;
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

std::string error_of(auto&& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<TokenId> ids_of(std::string_view text, EncodeOptions options = {}) {
  return bert().encode(text, options).ids;
}

}  // namespace

// ---- Vocab ---------------------------------------------------------------------------------------

TEST_CASE("the shipped vocabulary loads with its special tokens", "[text][vocab]") {
  const Vocab& vocab = bert().vocab();
  CHECK(vocab.size() == 30522);
  CHECK(vocab.special_ids().pad == 0);
  CHECK(vocab.special_ids().unk == 100);
  CHECK(vocab.special_ids().cls == 101);
  CHECK(vocab.special_ids().sep == 102);
  CHECK(vocab.special_ids().mask == 103);
  CHECK(vocab.token(999) == "!");
  CHECK(vocab.id("the") == 1996);
  CHECK(vocab.token(30521) == "##～");
  CHECK(vocab.find_continuation("～") == 30521);
  CHECK(vocab.find("not-a-token") == -1);
  CHECK_THAT(error_of([&] { (void)vocab.token(30522); }), Catch::Contains("id 30522 is out of range"));
  CHECK_THAT(error_of([&] { (void)vocab.id("not-a-token"); }), Catch::Contains("'not-a-token' is not in"));
}

TEST_CASE("special token ids come from the file, not from bert-base-uncased", "[text][vocab]") {
  TempDir dir;
  const Vocab vocab = Vocab::from_file(dir.write("v.txt", "hello\n[SEP]\n[UNK]\n[CLS]\nworld\n"));
  CHECK(vocab.size() == 5);
  CHECK(vocab.special_ids().unk == 2);
  CHECK(vocab.special_ids().cls == 3);
  CHECK(vocab.special_ids().sep == 1);
  CHECK(vocab.special_ids().pad == -1);
  CHECK(vocab.special_ids().mask == -1);
  const BertTokenizer tokenizer{Vocab(vocab)};
  CHECK(tokenizer.encode("Hello big world").ids == std::vector<TokenId>{3, 0, 2, 4, 1});
  CHECK_THAT(error_of([&] {
               EncodeOptions options;
               options.padding = Padding::max_length;
               (void)tokenizer.encode("hello", options);
             }),
             Catch::Contains("padding needs [PAD]"));
}

TEST_CASE("copies of a vocabulary and a tokenizer outlive the original", "[text][vocab]") {
  auto original = std::make_unique<BertTokenizer>(Vocab::from_tokens({"[UNK]", "[CLS]", "[SEP]", "un", "##aff"}));
  const BertTokenizer copy = *original;
  Vocab vocab_copy = original->vocab();
  original.reset();  // the copies must not point into its memory
  CHECK(copy.encode("unaff [SEP]").ids == std::vector<TokenId>{1, 3, 4, 2, 2});
  CHECK(vocab_copy.find_continuation("aff") == 4);
  const Vocab moved = std::move(vocab_copy);
  CHECK(moved.id("un") == 3);
}

TEST_CASE("vocabulary errors name the file and the line", "[text][vocab]") {
  TempDir dir;
  // Issue 11, item 7: a device as vocabulary was read until bad_alloc.
  CHECK_THAT(error_of([&] { (void)Vocab::from_file("/dev/zero"); }),
             Catch::Contains("Vocab: cannot read vocabulary file") && Catch::Contains("is not a regular file"));
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.path / "missing.txt"); }),
             Catch::Contains("cannot open vocabulary file") && Catch::Contains("missing.txt"));
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.path); }), Catch::Contains("is a folder"));
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.write("empty.txt", "")); }),
             Catch::Contains("empty.txt' holds no tokens"));
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.write("no_unk.txt", "[PAD]\na\nb\n")); }),
             Catch::Contains("has no [UNK] token"));
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.write("dup.txt", "[UNK]\na\nb\na\n")); }),
             Catch::Contains("dup.txt' line 4: duplicate token 'a' (first on line 2)"));
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.write("blank.txt", "[UNK]\na\n\nb\n")); }),
             Catch::Contains("blank.txt' line 3 is empty"));
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.write("utf8.txt", "[UNK]\nab\xff\n")); }),
             Catch::Contains("utf8.txt' line 2 is not valid UTF-8 (byte 2 of the line)"));
  // Trailing whitespace goes, as in HF (so a CRLF file loads); that can make two lines equal.
  const Vocab crlf = Vocab::from_file(dir.write("crlf.txt", "[UNK]\r\nhello \r\n##lo\t\r\n"));
  CHECK(crlf.size() == 3);
  CHECK(crlf.id("hello") == 1);
  CHECK(crlf.find_continuation("lo") == 2);
  CHECK_THAT(error_of([&] { (void)Vocab::from_file(dir.write("ws.txt", "[UNK]\na\na \n")); }),
             Catch::Contains("line 3: duplicate token 'a'"));
}

TEST_CASE("default_vocab_path: TINYXF_DATA_DIR, then the source tree", "[text][vocab]") {
  const char* saved = std::getenv("TINYXF_DATA_DIR");
  const std::string saved_value = saved ? saved : "";
  TempDir dir;
  fs::create_directories(dir.path / "vocab");
  dir.write("vocab/bert-base-uncased-vocab.txt", "[UNK]\n");
  ::setenv("TINYXF_DATA_DIR", dir.path.c_str(), 1);
  CHECK(default_vocab_path() == dir.path / "vocab" / "bert-base-uncased-vocab.txt");
  // A data folder without the file falls through to the source tree (TINYXF_SOURCE_DIR).
  ::setenv("TINYXF_DATA_DIR", (dir.path / "elsewhere").c_str(), 1);
  CHECK(default_vocab_path() == kShippedVocab);
  ::unsetenv("TINYXF_DATA_DIR");
  CHECK(default_vocab_path() == kShippedVocab);
  if (saved) ::setenv("TINYXF_DATA_DIR", saved_value.c_str(), 1);
}

// ---- encoding --------------------------------------------------------------------------------

TEST_CASE("encode: [CLS] wordpieces [SEP]", "[text][encode]") {
  CHECK(ids_of("Hello, world!") == std::vector<TokenId>{101, 7592, 1010, 2088, 999, 102});
  CHECK(ids_of("") == std::vector<TokenId>{101, 102});
  const Encoding e = bert().encode("unaffable");
  CHECK(bert().tokens(e.ids) == std::vector<std::string_view>{"[CLS]", "una", "##ffa", "##ble", "[SEP]"});
  CHECK(e.attention_mask == std::vector<std::int32_t>(5, 1));
  CHECK(e.offsets.empty());
  EncodeOptions no_specials;
  no_specials.add_special_tokens = false;
  CHECK(ids_of("Hello, world!", no_specials) == std::vector<TokenId>{7592, 1010, 2088, 999});
  CHECK(ids_of("", no_specials).empty());
}

TEST_CASE("special-token literals in the raw text are matched first", "[text][encode]") {
  CHECK(bert().tokens(ids_of("a[MASK]b [cls]")) ==
        std::vector<std::string_view>{"[CLS]", "a", "[MASK]", "b", "[", "cl", "##s", "]", "[SEP]"});
  CHECK(bert().pre_tokenize("x[SEP]Y, [UNK]") == std::vector<std::string>{"x", "[SEP]", "y", ",", "[UNK]"});
}

TEST_CASE("words over 100 characters and unmatched words become one [UNK]", "[text][encode]") {
  CHECK(ids_of(std::string(100, 'a')).size() > 3);
  CHECK(ids_of(std::string(101, 'a')) == std::vector<TokenId>{101, 100, 102});
  CHECK(ids_of("abc\xcd\xb8" "def") == std::vector<TokenId>{101, 100, 102});  // U+0378 is unassigned
  EncodeOptions with_offsets;
  with_offsets.return_offsets = true;
  const Encoding e = bert().encode("x " + std::string(101, 'a') + " y", with_offsets);
  CHECK(e.offsets == std::vector<CharSpan>{{0, 0}, {0, 1}, {2, 103}, {104, 105}, {0, 0}});
}

TEST_CASE("offsets are character spans into the original text", "[text][encode]") {
  EncodeOptions options;
  options.return_offsets = true;
  // é is 2 bytes but one character; the removed U+200B still counts; CJK ideographs stand alone.
  const Encoding e = bert().encode("Café\xe2\x80\x8b! 中文", options);
  CHECK(bert().tokens(e.ids) == std::vector<std::string_view>{"[CLS]", "cafe", "!", "中", "文", "[SEP]"});
  CHECK(e.offsets == std::vector<CharSpan>{{0, 0}, {0, 4}, {5, 6}, {7, 8}, {8, 9}, {0, 0}});
  // Hangul syllables decompose into jamo that all point at their syllable.
  const Encoding hangul = bert().encode("\xed\x95\x9c", options);  // 한
  CHECK(hangul.offsets == std::vector<CharSpan>{{0, 0}, {0, 1}, {0, 1}, {0, 1}, {0, 0}});
  const Encoding special = bert().encode("hi[SEP]", options);
  CHECK(special.offsets == std::vector<CharSpan>{{0, 0}, {0, 2}, {2, 7}, {0, 0}});
}

TEST_CASE("truncation keeps max_length tokens including [CLS] and [SEP]", "[text][encode]") {
  std::string text;
  for (int i = 0; i < 600; ++i) text += "word ";
  CHECK(ids_of(text).size() == 512);  // the default: truncation to 512
  EncodeOptions options;
  options.max_length = 8;
  CHECK(ids_of(text, options) == std::vector<TokenId>{101, 2773, 2773, 2773, 2773, 2773, 2773, 102});
  options.add_special_tokens = false;
  CHECK(ids_of(text, options) == std::vector<TokenId>(8, 2773));
  options.truncation = false;
  CHECK(ids_of(text, options).size() == 600);
  // A word split into pieces is cut in the middle, as HF does.
  EncodeOptions three;
  three.max_length = 3;
  CHECK(ids_of("unaffable", three) == std::vector<TokenId>{101, 14477, 102});
  EncodeOptions too_small;
  too_small.max_length = 2;
  CHECK_THAT(error_of([&] { (void)ids_of("x", too_small); }), Catch::Contains("max_length 2 leaves no room"));
  // Issue 11, item 5: SIZE_MAX as max_length with padding tried to allocate SIZE_MAX ids.
  EncodeOptions huge;
  huge.max_length = std::numeric_limits<std::size_t>::max();
  huge.padding = Padding::max_length;
  CHECK_THAT(error_of([&] { (void)ids_of("x", huge); }),
             Catch::Contains("max_length 18446744073709551615 exceeds the limit of 1048576 tokens"));
  huge.max_length = EncodeOptions::kMaxLengthLimit;
  huge.padding = Padding::none;
  CHECK(ids_of("x", huge).size() == 3);
}

TEST_CASE("truncation sides: head, tail and head+tail windows", "[text][encode][truncation]") {
  // a..h are single pieces 1037..1044; [CLS] = 101, [SEP] = 102.
  const std::string text = "a b c d e f g h";
  EncodeOptions options;
  options.max_length = 6;  // room for 4 text pieces
  CHECK(ids_of(text, options) == std::vector<TokenId>{101, 1037, 1038, 1039, 1040, 102});
  options.truncation_side = Truncation::tail;
  CHECK(ids_of(text, options) == std::vector<TokenId>{101, 1041, 1042, 1043, 1044, 102});
  options.truncation_side = Truncation::head_tail;
  options.head_tokens = 1;
  CHECK(ids_of(text, options) == std::vector<TokenId>{101, 1037, 1042, 1043, 1044, 102});
  options.head_tokens = 3;
  CHECK(ids_of(text, options) == std::vector<TokenId>{101, 1037, 1038, 1039, 1044, 102});
  options.head_tokens = 0;  // = tail
  CHECK(ids_of(text, options) == std::vector<TokenId>{101, 1041, 1042, 1043, 1044, 102});
  options.head_tokens = 4;  // = head
  CHECK(ids_of(text, options) == std::vector<TokenId>{101, 1037, 1038, 1039, 1040, 102});
  // Without special tokens the whole max_length is room.
  options.add_special_tokens = false;
  options.head_tokens = 2;
  CHECK(ids_of(text, options) == std::vector<TokenId>{1037, 1038, 1041, 1042, 1043, 1044});
  options.add_special_tokens = true;
  // Offsets follow the kept pieces.
  options.return_offsets = true;
  options.head_tokens = 1;
  const Encoding e = bert().encode(text, options);
  CHECK(e.offsets == std::vector<CharSpan>{{0, 0}, {0, 1}, {10, 11}, {12, 13}, {14, 15}, {0, 0}});
  CHECK(e.attention_mask == std::vector<std::int32_t>(6, 1));

  // Texts that fit (shorter than the window, or exactly filling it) are never cut.
  for (const Truncation side : {Truncation::head, Truncation::tail, Truncation::head_tail}) {
    EncodeOptions fit;
    fit.max_length = 6;
    fit.truncation_side = side;
    fit.head_tokens = 2;
    CHECK(ids_of("a b", fit) == std::vector<TokenId>{101, 1037, 1038, 102});
    CHECK(ids_of("a b c d", fit) == std::vector<TokenId>{101, 1037, 1038, 1039, 1040, 102});
    CHECK(ids_of("", fit) == std::vector<TokenId>{101, 102});
    fit.padding = Padding::max_length;
    CHECK(ids_of("a", fit) == std::vector<TokenId>{101, 1037, 102, 0, 0, 0});
  }
}

TEST_CASE("head+tail on a long review: first N and last max_length-2-N pieces of the full encoding",
          "[text][encode][truncation]") {
  std::string review;
  for (int i = 0; i < 300; ++i) review += "The film number " + std::to_string(i) + " was unaffable, truly! ";
  EncodeOptions all;
  all.truncation = false;
  const std::vector<TokenId> full = ids_of(review, all);  // [CLS] pieces [SEP]
  const std::vector<TokenId> pieces(full.begin() + 1, full.end() - 1);
  REQUIRE(pieces.size() > 2000);
  for (const std::size_t head : {std::size_t{0}, std::size_t{64}, std::size_t{128}, std::size_t{254}}) {
    EncodeOptions options;
    options.max_length = 256;
    options.truncation_side = Truncation::head_tail;
    options.head_tokens = head;
    std::vector<TokenId> expected{101};
    expected.insert(expected.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(head));
    expected.insert(expected.end(), pieces.end() - static_cast<std::ptrdiff_t>(254 - head), pieces.end());
    expected.push_back(102);
    const std::vector<TokenId> got = ids_of(review, options);
    CHECK(got.size() == 256);
    CHECK(got.front() == 101);
    CHECK(got.back() == 102);
    CHECK(got == expected);
  }
  EncodeOptions tail;
  tail.max_length = 512;
  tail.truncation_side = Truncation::tail;
  std::vector<TokenId> expected{101};
  expected.insert(expected.end(), pieces.end() - 510, pieces.end());
  expected.push_back(102);
  CHECK(ids_of(review, tail) == expected);
  // encode_batch applies the same window (and pads the short text).
  tail.padding = Padding::longest;
  const auto batch = bert().encode_batch(std::vector<std::string>{"a", review}, tail, 2);
  CHECK(batch[1].ids == expected);
  CHECK(batch[0].ids.size() == 512);
  CHECK(batch[0].ids[2] == 102);
}

TEST_CASE("head_tokens beyond the window is an error naming both numbers", "[text][encode][truncation]") {
  EncodeOptions options;
  options.max_length = 256;
  options.truncation_side = Truncation::head_tail;
  options.head_tokens = 255;
  CHECK_THAT(error_of([&] { (void)ids_of("x", options); }),
             Catch::Contains("head_tokens 255 exceeds the room for text tokens (max_length 256 minus [CLS] and [SEP] = 254)"));
  options.truncation = false;  // no window, nothing to check
  CHECK(ids_of("x", options).size() == 3);
}

TEST_CASE("truncation names parse to sides; anything else is an error naming it", "[text][truncation]") {
  CHECK(tinyxf::text::parse_truncation("head") == Truncation::head);
  CHECK(tinyxf::text::parse_truncation("tail") == Truncation::tail);
  CHECK(tinyxf::text::parse_truncation("head_tail") == Truncation::head_tail);
  CHECK_THAT(error_of([] { (void)tinyxf::text::parse_truncation("middle"); }),
             Catch::Contains("truncation must be head, tail or head_tail, got 'middle'"));
  CHECK_THROWS_AS(tinyxf::text::parse_truncation("Head"), tinyxf::ValueError);
}

TEST_CASE("padding to max_length and to the longest of a batch", "[text][encode]") {
  EncodeOptions options;
  options.max_length = 6;
  options.padding = Padding::max_length;
  options.return_offsets = true;
  const Encoding e = bert().encode("Hi!", options);
  CHECK(e.ids == std::vector<TokenId>{101, 7632, 999, 102, 0, 0});
  CHECK(e.attention_mask == std::vector<std::int32_t>{1, 1, 1, 1, 0, 0});
  CHECK(e.offsets.size() == 6);
  CHECK(e.offsets[5] == CharSpan{0, 0});

  const std::vector<std::string> texts{"a b c d", "a", ""};
  EncodeOptions longest;
  longest.padding = Padding::longest;
  const auto batch = bert().encode_batch(texts, longest, 2);
  REQUIRE(batch.size() == 3);
  for (const Encoding& b : batch) CHECK(b.ids.size() == 6);
  CHECK(batch[1].ids == std::vector<TokenId>{101, 1037, 102, 0, 0, 0});
  CHECK(batch[2].attention_mask == std::vector<std::int32_t>{1, 1, 0, 0, 0, 0});
  // max_length padding does not shorten a longer, untruncated sequence
  EncodeOptions untruncated = options;
  untruncated.truncation = false;
  untruncated.max_length = 3;
  CHECK(bert().encode("a b c", untruncated).ids.size() == 5);
}

TEST_CASE("left padding, pad_to_multiple_of, and the tokenizer's default sides", "[text][encode][padding]") {
  // transformers: tokenizer("Hi!", padding="max_length", max_length=6, padding_side="left")
  EncodeOptions options;
  options.max_length = 6;
  options.padding = Padding::max_length;
  options.padding_side = PaddingSide::left;
  options.return_offsets = options.return_type_ids = options.return_word_ids = true;
  const Encoding e = bert().encode("Hi!", options);
  CHECK(e.ids == std::vector<TokenId>{0, 0, 101, 7632, 999, 102});
  CHECK(e.attention_mask == std::vector<std::int32_t>{0, 0, 1, 1, 1, 1});
  CHECK(e.offsets == std::vector<CharSpan>{{0, 0}, {0, 0}, {0, 0}, {0, 2}, {2, 3}, {0, 0}});
  CHECK(e.type_ids == std::vector<std::int32_t>(6, 0));
  CHECK(e.word_ids == std::vector<std::int32_t>{-1, -1, -1, 0, 1, -1});

  // A tokenizer whose default side is left (HF: tokenizer.padding_side = "left"); the call's side wins.
  BertTokenizer left = bert();
  left.set_padding_side(PaddingSide::left);
  EncodeOptions unset;
  unset.padding = Padding::longest;
  unset.pad_to_multiple_of = 8;  // one text is a batch of its own: 4 tokens padded to 8
  CHECK(left.encode("Hi!", unset).ids == std::vector<TokenId>{0, 0, 0, 0, 101, 7632, 999, 102});
  CHECK(bert().encode("Hi!", unset).ids == std::vector<TokenId>{101, 7632, 999, 102, 0, 0, 0, 0});
  unset.padding_side = PaddingSide::right;
  CHECK(left.encode("Hi!", unset).ids == bert().encode("Hi!", unset).ids);
  left.set_truncation_side(Truncation::tail);
  CHECK(left.encode("a b c d", EncodeOptions{.max_length = 4}).ids == ids_of("c d", EncodeOptions{}));

  // No padding: pad_to_multiple_of changes nothing (transformers, padding=False).
  EncodeOptions none;
  none.pad_to_multiple_of = 8;
  CHECK(ids_of("Hi!", none).size() == 4);
  // transformers raises when truncation and padding are on and max_length is not a multiple.
  EncodeOptions both;
  both.padding = Padding::longest;
  both.max_length = 12;
  both.pad_to_multiple_of = 8;
  CHECK_THAT(error_of([&] { (void)ids_of("Hi!", both); }),
             Catch::Contains("max_length 12 is not a multiple of pad_to_multiple_of 8"));
  both.truncation = false;  // then max_length only bounds padding = max_length: 12 rounds up to 16
  both.padding = Padding::max_length;
  CHECK(ids_of("Hi!", both).size() == 16);
  both.pad_to_multiple_of = EncodeOptions::kMaxLengthLimit + 1;
  CHECK_THAT(error_of([&] { (void)ids_of("Hi!", both); }), Catch::Contains("pad_to_multiple_of 1048577 exceeds the limit"));
  CHECK_THAT(error_of([] { (void)parse_padding_side("Left"); }),
             Catch::Contains("padding_side must be right or left, got 'Left'"));

  // decode drops [PAD] wherever it is: tokenizers' decode([0, 0, 0, 101, 7592, 2088, 102]) is
  // "[PAD] [PAD] [PAD] [CLS] hello world [SEP]", with skip_special_tokens "hello world".
  const std::vector<TokenId> padded{0, 0, 0, 101, 7592, 2088, 102};
  CHECK(bert().decode(padded) == "[PAD] [PAD] [PAD] [CLS] hello world [SEP]");
  CHECK(bert().decode(padded, {.skip_special_tokens = true}) == "hello world");

  // A left-padded SQuAD window: answer positions move with the padding.
  EncodeOptions squad;
  squad.max_length = 16;
  squad.pair_truncation = PairTruncation::only_second;
  squad.padding = Padding::max_length;
  squad.return_offsets = squad.return_type_ids = squad.return_word_ids = true;
  const std::string context = "Normandy is a region in France.";
  const auto right = bert().encode_pair_windows("Where?", context, squad, 2);
  squad.padding_side = PaddingSide::left;
  const auto moved = bert().encode_pair_windows("Where?", context, squad, 2);
  REQUIRE(right.size() == 1);
  REQUIRE(moved.size() == 1);
  const auto pads = static_cast<std::int64_t>(std::count(moved[0].attention_mask.begin(), moved[0].attention_mask.end(), 0));
  REQUIRE(pads > 0);
  const auto [start, end] = answer_token_positions(right[0], 24, 30);  // "France"
  CHECK(answer_token_positions(moved[0], 24, 30) == std::pair{start + pads, end + pads});
}

// ---- invalid UTF-8 -----------------------------------------------------------------------------

TEST_CASE("invalid UTF-8 is an error naming the byte offset, or replaced on request", "[text][utf8]") {
  CHECK_THAT(error_of([] { (void)ids_of("abc\xff" "def"); }),
             Catch::Contains("invalid UTF-8 at byte offset 3 (bytes 0xff 0x64 0x65 0x66)"));
  CHECK_THAT(error_of([] { (void)ids_of("ok \xed\xa0\x80"); }), Catch::Contains("byte offset 3"));  // surrogate
  CHECK_THAT(error_of([] { (void)ids_of("\xc0\xaf"); }), Catch::Contains("byte offset 0"));          // overlong
  EncodeOptions replace;
  replace.invalid_utf8 = InvalidUtf8::replace;
  replace.return_offsets = true;
  // U+FFFD is dropped by BERT's clean-up: "abc" U+FFFD "def" is one word; each step counts a char.
  const Encoding e = bert().encode("abc\xff" "def \xe2\x82 x", replace);
  CHECK(e.ids == bert().encode("abcdef  x").ids);
  CHECK(e.offsets[1].begin == 0);
  CHECK(e.offsets[e.offsets.size() - 2] == CharSpan{10, 11});
}

TEST_CASE("a sequence cut by the end of the input is never completed from memory after it", "[text][utf8]") {
  const std::string buffer = "abc\xe2\x82\xac";  // "abc€"
  const std::string_view cut(buffer.data(), 5);   // ends inside the euro sign
  CHECK_THAT(error_of([&] { (void)bert().encode(cut); }), Catch::Contains("byte offset 3 (bytes 0xe2 0x82)"));
  CHECK(bert().tokens(bert().encode(std::string_view(buffer.data(), 6)).ids) ==
        std::vector<std::string_view>{"[CLS]", "abc", "##€", "[SEP]"});
}

TEST_CASE("invalid UTF-8 after the truncation point is still reported", "[text][utf8]") {
  EncodeOptions options;
  options.max_length = 4;
  std::string text = "one two three four five six";
  CHECK(ids_of(text, options).size() == 4);
  text += " \xfe";
  CHECK_THAT(error_of([&] { (void)ids_of(text, options); }), Catch::Contains("byte offset 28"));
}

TEST_CASE("random bytes: an error exactly when the input is not UTF-8, replacement never fails", "[text][utf8]") {
  // Bytes drawn to hit lead/continuation combinations; validity judged by json::is_valid_utf8,
  // an implementation independent of the tokenizer's decoder.
  const std::vector<std::string> pieces{"a", "Z", " ", "!", "[CLS]", "[SE", "\x80", "\xbf", "\xc2", "\xc3\xa9",
                                        "\xe0", "\xe2\x82", "\xed", "\xef\xbf\xbd", "\xf0", "\xf4\x8f",
                                        "\xf5", "\xff", "\xcc\x81", "\xe4\xb8\xad", "\x00", "\t"};
  std::mt19937 random(42);
  EncodeOptions replace;
  replace.invalid_utf8 = InvalidUtf8::replace;
  replace.return_offsets = true;
  std::size_t invalid = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes;
    for (std::size_t n = random() % 12; n > 0; --n) bytes += pieces[random() % pieces.size()];
    INFO("case " << i << ", " << bytes.size() << " bytes");
    const bool valid = tinyxf::json::is_valid_utf8(bytes);
    invalid += !valid;
    bool threw = false;
    try {
      (void)bert().encode(bytes);
    } catch (const Error& e) {
      threw = std::string(e.what()).find("invalid UTF-8 at byte offset") != std::string::npos;
    }
    CHECK(threw == !valid);
    const Encoding e = bert().encode(bytes, replace);
    CHECK(e.ids.size() == e.offsets.size());
    if (valid) CHECK(e.ids == bert().encode(bytes).ids);
  }
  CHECK(invalid > 1000);
}

// ---- threads -----------------------------------------------------------------------------------

TEST_CASE("encode_batch gives encode()'s result on any number of threads", "[text][threads]") {
  std::vector<std::string> texts;
  const std::vector<std::string> parts{"Hello", "wörld", "中文", "[SEP]", "unaffable", "!!", "<br />", "😀",
                                       "Ünïcödé", "\xe2\x80\x8b", "don't", "x\ty", std::string(120, 'z')};
  for (std::size_t i = 0; i < 1500; ++i) {
    std::string text;
    for (std::size_t j = 0; j < (i * 7) % 40; ++j) text += parts[(i + j * j) % parts.size()] + " ";
    texts.push_back(text);
  }
  EncodeOptions options;
  options.return_offsets = true;
  options.max_length = 64;
  std::vector<Encoding> expected;
  for (const std::string& t : texts) expected.push_back(bert().encode(t, options));
  for (const unsigned threads : {1u, 2u, 3u, 8u}) {
    const auto batch = bert().encode_batch(texts, options, threads);
    REQUIRE(batch.size() == texts.size());
    std::size_t different = 0;
    for (std::size_t i = 0; i < texts.size(); ++i)
      different += batch[i].ids != expected[i].ids || batch[i].offsets != expected[i].offsets ||
                   batch[i].attention_mask != expected[i].attention_mask;
    INFO("threads " << threads);
    CHECK(different == 0);
  }
  CHECK(bert().encode_batch(std::vector<std::string>{}, options, 2).empty());
}

TEST_CASE("encode_batch reports the first failing document", "[text][threads]") {
  std::vector<std::string> texts(800, "fine text");
  texts[613] = "bad \xff";
  texts[37] = "also \xc3";
  for (const unsigned threads : {1u, 2u, 4u}) {
    try {
      (void)bert().encode_batch(texts, {}, threads);
      FAIL("no error");
    } catch (const BatchEncodeError& e) {
      CHECK(e.document() == 37);
      CHECK_THAT(std::string(e.what()), Catch::StartsWith("document 37: ") && Catch::Contains("byte offset 5"));
    }
  }
}

// ---- text pairs --------------------------------------------------------------------------------

TEST_CASE("pair_truncated_lengths: tokenizers' longest_first, only_first, only_second", "[text][pairs]") {
  using P = std::pair<std::size_t, std::size_t>;
  CHECK(pair_truncated_lengths(3, 4, 7, PairTruncation::longest_first) == P{3, 4});    // fits: untouched
  CHECK(pair_truncated_lengths(2, 20, 10, PairTruncation::longest_first) == P{2, 8});  // the longer one alone
  CHECK(pair_truncated_lengths(20, 2, 10, PairTruncation::longest_first) == P{8, 2});
  CHECK(pair_truncated_lengths(6, 9, 10, PairTruncation::longest_first) == P{5, 5});   // both to half
  CHECK(pair_truncated_lengths(9, 6, 11, PairTruncation::longest_first) == P{6, 5});   // the longer: the odd one
  CHECK(pair_truncated_lengths(8, 8, 11, PairTruncation::longest_first) == P{5, 6});   // equal: the second
  CHECK(pair_truncated_lengths(30, 40, 0, PairTruncation::longest_first) == P{0, 0});
  CHECK(pair_truncated_lengths(0, 40, 5, PairTruncation::longest_first) == P{0, 5});
  CHECK(pair_truncated_lengths(9, 6, 10, PairTruncation::only_first) == P{4, 6});
  CHECK(pair_truncated_lengths(9, 6, 10, PairTruncation::only_second) == P{9, 1});
  CHECK_THAT(error_of([] { (void)pair_truncated_lengths(4, 6, 5, PairTruncation::only_first); }),
             Catch::Contains("only_first truncation cannot fit the pair into 5 pieces: the first text has 4 pieces and 5 must go"));
  CHECK_THROWS_AS(pair_truncated_lengths(9, 5, 9, PairTruncation::only_second), tinyxf::ValueError);  // 5 must go, 5 there
  CHECK(parse_pair_truncation("only_second") == PairTruncation::only_second);
  CHECK_THAT(error_of([] { (void)parse_pair_truncation("shortest_first"); }),
             Catch::Contains("pair truncation must be longest_first, only_first or only_second, got 'shortest_first'"));
}

TEST_CASE("encode_pair: layout, type ids, options that cannot be met, batches on any thread count", "[text][pairs]") {
  EncodeOptions options;
  options.return_type_ids = true;
  const Encoding e = bert().encode_pair("Hello!", "world", options);
  CHECK(bert().tokens(e.ids) == std::vector<std::string_view>{"[CLS]", "hello", "!", "[SEP]", "world", "[SEP]"});
  CHECK(e.type_ids == std::vector<std::int32_t>{0, 0, 0, 0, 1, 1});
  CHECK(e.attention_mask == std::vector<std::int32_t>(6, 1));
  // A single text's type ids are zeros; without return_type_ids there are none.
  CHECK(bert().encode("Hello!", options).type_ids == std::vector<std::int32_t>(4, 0));
  options.return_type_ids = false;
  CHECK(bert().encode_pair("Hello!", "world", options).type_ids.empty());
  // Padding to max_length pads the type ids with 0.
  options.return_type_ids = true;
  options.max_length = 9;
  options.padding = Padding::max_length;
  const Encoding padded = bert().encode_pair("Hello!", "world", options);
  CHECK(padded.ids.size() == 9);
  CHECK(padded.type_ids == std::vector<std::int32_t>{0, 0, 0, 0, 1, 1, 0, 0, 0});
  options.padding = Padding::none;
  // Three special tokens need max_length >= 4; head_tail is for single texts; invalid UTF-8 in
  // the second text names its offset.
  options.max_length = 3;
  CHECK_THAT(error_of([&] { (void)bert().encode_pair("a", "b", options); }),
             Catch::Contains("max_length 3 leaves no room for tokens besides the 3 special tokens"));
  CHECK(bert().encode("a", options).ids.size() == 3);  // a single text fits
  options.max_length = 16;
  options.truncation_side = Truncation::head_tail;
  CHECK_THAT(error_of([&] { (void)bert().encode_pair("a", "b", options); }),
             Catch::Contains("head_tail truncation is for single texts"));
  options.truncation_side = Truncation::tail;
  CHECK_THAT(error_of([&] { (void)bert().encode_pair("fine", "bad \xff", options); }),
             Catch::Contains("invalid UTF-8 at byte offset 4"));
  // tail keeps each text's last pieces.
  options.max_length = 7;
  CHECK(bert().tokens(bert().encode_pair("one two three", "four five six", options).ids) ==
        std::vector<std::string_view>{"[CLS]", "two", "three", "[SEP]", "five", "six", "[SEP]"});

  std::vector<std::string> firsts, seconds;
  const std::vector<std::string> parts{"Hello", "wörld", "中文", "[SEP]", "unaffable", "!!", "don't", std::string(120, 'z')};
  for (std::size_t i = 0; i < 700; ++i) {
    std::string a, b;
    for (std::size_t j = 0; j < (i * 7) % 23; ++j) a += parts[(i + j * j) % parts.size()] + " ";
    for (std::size_t j = 0; j < (i * 5) % 31; ++j) b += parts[(i * 3 + j) % parts.size()] + " ";
    firsts.push_back(a);
    seconds.push_back(b);
  }
  std::vector<TextPair> pairs;
  for (std::size_t i = 0; i < firsts.size(); ++i) pairs.emplace_back(firsts[i], seconds[i]);
  options = EncodeOptions{};
  options.max_length = 24;
  options.return_offsets = options.return_type_ids = true;
  for (const unsigned threads : {1u, 3u}) {
    const auto batch = bert().encode_pair_batch(pairs, options, threads);
    REQUIRE(batch.size() == pairs.size());
    std::size_t different = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const Encoding one = bert().encode_pair(pairs[i].first, pairs[i].second, options);
      different += batch[i].ids != one.ids || batch[i].offsets != one.offsets || batch[i].type_ids != one.type_ids;
    }
    INFO("threads " << threads);
    CHECK(different == 0);
  }
  // The first failing pair of a batch is reported.
  options.pair_truncation = PairTruncation::only_second;
  pairs.assign(50, TextPair{"short", "a second text"});
  pairs[31] = {std::string_view(firsts[22]), "x"};
  try {
    (void)bert().encode_pair_batch(pairs, options, 2);
    FAIL("no error");
  } catch (const BatchEncodeError& error) {
    CHECK(error.document() == 31);
    CHECK_THAT(error.reason(), Catch::Contains("only_second truncation cannot fit the pair"));
  }
}

TEST_CASE("word ids: pre-tokenized words of a text, pre-split words, padding, errors naming the word",
          "[text][words]") {
  EncodeOptions options;
  options.return_word_ids = true;
  const Encoding text = bert().encode("Unaffable, don't", options);
  CHECK(bert().tokens(text.ids) ==
        std::vector<std::string_view>{"[CLS]", "una", "##ffa", "##ble", ",", "don", "'", "t", "[SEP]"});
  CHECK(text.word_ids == std::vector<std::int32_t>{-1, 0, 0, 0, 1, 2, 3, 4, -1});
  const Encoding words = bert().encode_words(std::vector<std::string>{"Unaffable,", "don't"}, options);
  CHECK(words.ids == text.ids);
  CHECK(words.word_ids == std::vector<std::int32_t>{-1, 0, 0, 0, 0, 1, 1, 1, -1});
  options.return_word_ids = false;
  CHECK(bert().encode_words(std::vector<std::string>{"a"}, options).word_ids.empty());
  options.return_word_ids = true;
  options.max_length = 6;
  options.padding = Padding::max_length;
  CHECK(bert().encode_words(std::vector<std::string>{"a", "", "b"}, options).word_ids ==
        std::vector<std::int32_t>{-1, 0, 2, -1, -1, -1});
  CHECK(bert().encode_words(std::vector<std::string>{}, options).ids == std::vector<TokenId>{101, 102, 0, 0, 0, 0});
  CHECK_THAT(error_of([&] { (void)bert().encode_words(std::vector<std::string>{"fine", "bad \xff"}, options); }),
             Catch::Contains("word 1: BertTokenizer: invalid UTF-8 at byte offset 4"));
}

TEST_CASE("windows: errors, padding, and answer positions inside each window", "[text][windows]") {
  const std::string context =
      "The Normans gave their name to Normandy, a region in France. They were descended from Norse raiders "
      "and pirates from Denmark, Iceland and Norway.";
  EncodeOptions options;
  options.max_length = 20;
  options.pair_truncation = PairTruncation::only_second;
  options.return_offsets = options.return_type_ids = options.return_word_ids = true;
  const auto windows = bert().encode_pair_windows("Where is Normandy?", context, options, 4);
  REQUIRE(windows.size() >= 3);
  for (const std::string answer : {"France", "Norse raiders and pirates", "Denmark, Iceland"}) {
    const std::size_t begin = context.find(answer), end = begin + answer.size();
    std::size_t found = 0;
    for (const Encoding& w : windows) {
      const auto [start, stop] = answer_token_positions(w, begin, end);
      if (start == 0 && stop == 0) continue;
      const std::vector<TokenId> span(w.ids.begin() + start, w.ids.begin() + stop + 1);
      CHECK(bert().decode(span) == bert().decode(bert().encode(answer, EncodeOptions{.add_special_tokens = false}).ids));
      ++found;
    }
    INFO(answer);
    CHECK(found >= 1);
    CHECK(found < windows.size());  // some windows do not hold it: [CLS]
  }
  // Padding to max_length pads every window; longest_first, head_tail, no truncation are refused.
  options.padding = Padding::max_length;
  for (const Encoding& w : bert().encode_pair_windows("Where?", context, options, 4)) {
    CHECK(w.ids.size() == 20);
    CHECK(w.word_ids.size() == 20);
  }
  options.padding = Padding::none;
  options.pair_truncation = PairTruncation::longest_first;
  CHECK_THAT(error_of([&] { (void)bert().encode_pair_windows("a", context, options, 4); }),
             Catch::Contains("need pair_truncation only_first or only_second"));
  options.pair_truncation = PairTruncation::only_second;
  options.truncation = false;
  CHECK_THAT(error_of([&] { (void)bert().encode_windows(context, options, 4); }), Catch::Contains("windows need truncation"));
  options.truncation = true;
  options.truncation_side = Truncation::head_tail;
  CHECK_THAT(error_of([&] { (void)bert().encode_windows(context, options, 4); }), Catch::Contains("not head_tail"));
  CHECK(window_ranges(10, 4, 1, false) == std::vector<std::pair<std::size_t, std::size_t>>{{0, 4}, {3, 7}, {6, 10}});
  CHECK(window_ranges(10, 4, 1, true) == std::vector<std::pair<std::size_t, std::size_t>>{{6, 10}, {3, 7}, {0, 4}});
  CHECK(window_ranges(3, 4, 3, false) == std::vector<std::pair<std::size_t, std::size_t>>{{0, 3}});
  // A window without the needed fields, an empty answer.
  const Encoding plain = bert().encode_pair("a", "b");
  CHECK_THAT(error_of([&] { (void)answer_token_positions(plain, 0, 1); }), Catch::Contains("needs offsets, type ids"));
  CHECK_THAT(error_of([&] { (void)answer_token_positions(windows[0], 3, 3); }), Catch::Contains("is empty"));
}

// ---- decode ------------------------------------------------------------------------------------

TEST_CASE("decode joins ## pieces like HF's WordPiece decoder", "[text][decode]") {
  const auto ids = ids_of("Unaffable, isn't it? Yes!");
  CHECK(bert().decode(ids) == "[CLS] unaffable, isn ' t it? yes! [SEP]");
  DecodeOptions skip;
  skip.skip_special_tokens = true;
  CHECK(bert().decode(ids, skip) == "unaffable, isn ' t it? yes!");
  skip.clean_up_tokenization_spaces = true;
  CHECK(bert().decode(ids, skip) == "unaffable, isn't it? yes!");
  const std::vector<TokenId> bad{101, 30522};
  CHECK_THAT(error_of([&] { (void)bert().decode(bad); }),
             Catch::Contains("id 30522 at position 1 is outside the vocabulary"));
}
