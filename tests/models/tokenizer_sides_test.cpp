// load_pretrained_tokenizer's padding and truncation sides: tokenizer_config.json's padding_side /
// truncation_side and tokenizer.json's padding / truncation directions, as AutoTokenizer sets them
// (transformers 5.25). Only hf_folder.hpp: a light translation unit.
#include "tinyxf/models/hf_folder.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "scratch_dir.hpp"

using namespace tinyxf;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path kTokenizerData = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "tokenizer";

std::string load_error(const fs::path& dir) {
  try {
    (void)models::load_pretrained_tokenizer(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// small_tokenizer.json with its "padding": null / "truncation": null replaced.
std::string small_tokenizer_json(const std::string& padding, const std::string& truncation) {
  std::string text = io::read_file(kTokenizerData / "small_tokenizer.json");
  for (const auto& [from, to] : {std::pair{std::string("\"padding\": null"), "\"padding\": " + padding},
                                 std::pair{std::string("\"truncation\": null"), "\"truncation\": " + truncation}}) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

TEST_CASE("tokenizer_config.json padding_side / truncation_side left next to vocab.txt", "[models][tokenizer-sides]") {
  const fs::path dir = testing::models_scratch_dir("sides_vocab_txt");
  fs::copy_file(text::default_vocab_path(), dir / "vocab.txt");
  CHECK(models::load_pretrained_tokenizer(dir).padding_side() == text::PaddingSide::right);
  CHECK(models::load_pretrained_tokenizer(dir).truncation_side() == text::Truncation::head);
  io::write_file_atomic(dir / "tokenizer_config.json",
                        R"({"tokenizer_class": "BertTokenizer", "padding_side": "left", "truncation_side": "left"})");
  const text::BertTokenizer tokenizer = models::load_pretrained_tokenizer(dir);
  CHECK(tokenizer.padding_side() == text::PaddingSide::left);
  CHECK(tokenizer.truncation_side() == text::Truncation::tail);
  // AutoTokenizer.from_pretrained(dir)(["Hello world", "a much longer sentence here"], padding=True,
  // pad_to_multiple_of=8)
  text::EncodeOptions options;
  options.padding = text::Padding::longest;
  options.pad_to_multiple_of = 8;
  const std::vector<std::string> texts{"Hello world", "a much longer sentence here"};
  const auto batch = tokenizer.encode_batch(texts, options, 1);
  CHECK(batch[0].ids == std::vector<text::TokenId>{0, 0, 0, 0, 101, 7592, 2088, 102});
  CHECK(batch[0].attention_mask == std::vector<std::int32_t>{0, 0, 0, 0, 1, 1, 1, 1});
  CHECK(batch[1].ids == std::vector<text::TokenId>{0, 101, 1037, 2172, 2936, 6251, 2182, 102});
  // An explicit side in the call wins over the tokenizer's (transformers' padding_side=...).
  options.padding_side = text::PaddingSide::right;
  CHECK(tokenizer.encode_batch(texts, options, 1)[0].ids == std::vector<text::TokenId>{101, 7592, 2088, 102, 0, 0, 0, 0});
  // AutoTokenizer.from_pretrained(dir)("a much longer sentence here, really, truly very long ok.",
  // truncation=True, max_length=6): the last pieces.
  text::EncodeOptions truncate;
  truncate.max_length = 6;
  CHECK(tokenizer.encode("a much longer sentence here, really, truly very long ok.", truncate).ids ==
        std::vector<text::TokenId>{101, 2200, 2146, 7929, 1012, 102});

  // transformers: "Padding side should be selected between 'right' and 'left', current value: middle"
  // (also for null and "Left").
  for (const char* bad : {R"("middle")", "null", R"("Left")"}) {
    io::write_file_atomic(dir / "tokenizer_config.json", std::string(R"({"padding_side": )") + bad + "}");
    CHECK_THAT(load_error(dir), Contains("tokenizer_config.json: padding_side is " + std::string(bad) +
                                         ", not \"right\" or \"left\""));
  }
  io::write_file_atomic(dir / "tokenizer_config.json", R"({"truncation_side": "middle"})");
  CHECK_THAT(load_error(dir), Contains("truncation_side is \"middle\", not \"right\" or \"left\""));
}

TEST_CASE("tokenizer.json's padding / truncation directions, and tokenizer_config.json over them",
          "[models][tokenizer-sides]") {
  const fs::path dir = testing::models_scratch_dir("sides_tokenizer_json");
  const std::string left_padding =
      R"({"strategy": "BatchLongest", "direction": "Left", "pad_to_multiple_of": 8, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"})";
  const std::string left_truncation = R"({"direction": "Left", "max_length": 4, "strategy": "LongestFirst", "stride": 0})";
  io::write_file_atomic(dir / "tokenizer.json", small_tokenizer_json(left_padding, left_truncation));
  const text::BertTokenizer tokenizer = models::load_pretrained_tokenizer(dir);
  CHECK(tokenizer.padding_side() == text::PaddingSide::left);
  CHECK(tokenizer.truncation_side() == text::Truncation::tail);
  // AutoTokenizer.from_pretrained(dir)(["A B x", "x"], padding=True) is [[2, 5, 6, 7, 3], [0, 0, 2, 7, 3]]:
  // the file's pad_to_multiple_of 8 and max_length 4 do not reach tokenizer(...), whose arguments replace them.
  text::EncodeOptions options;
  options.padding = text::Padding::longest;
  const std::vector<std::string> texts{"A B x", "x"};
  const auto batch = tokenizer.encode_batch(texts, options, 1);
  CHECK(batch[0].ids == std::vector<text::TokenId>{2, 5, 6, 7, 3});
  CHECK(batch[1].ids == std::vector<text::TokenId>{0, 0, 2, 7, 3});
  // (["A B x ab ab"], truncation=True, max_length=5) keeps the last pieces: [2, 9, 5, 9, 3].
  text::EncodeOptions truncate;
  truncate.max_length = 5;
  CHECK(tokenizer.encode("A B x ab ab", truncate).ids == std::vector<text::TokenId>{2, 9, 5, 9, 3});

  // tokenizer_config.json's sides win (transformers sets the file's directions with setdefault).
  io::write_file_atomic(dir / "tokenizer_config.json", R"({"padding_side": "right", "truncation_side": "right"})");
  CHECK(models::load_pretrained_tokenizer(dir).padding_side() == text::PaddingSide::right);
  CHECK(models::load_pretrained_tokenizer(dir).truncation_side() == text::Truncation::head);
  fs::remove(dir / "tokenizer_config.json");

  // Next to vocab.txt the directions still apply: transformers 5 loads tokenizer.json when there is one.
  fs::copy_file(kTokenizerData / "small_vocab.txt", dir / "vocab.txt");
  CHECK(models::load_pretrained_tokenizer(dir).padding_side() == text::PaddingSide::left);

  io::write_file_atomic(dir / "tokenizer.json", small_tokenizer_json(R"({"direction": "Up"})", "null"));
  CHECK_THAT(load_error(dir), Contains("tokenizer.json: padding direction is \"Up\", not \"Left\" or \"Right\""));
  // tokenizers: "unknown variant `Up`, expected `Left` or `Right`", and "missing field `direction`" for a
  // padding without one; a truncation without one (tokenizers < 0.11 wrote none) is "Right".
  io::write_file_atomic(dir / "tokenizer.json", small_tokenizer_json(R"({"strategy": "BatchLongest"})", "null"));
  CHECK_THAT(load_error(dir), Contains("padding direction is missing, not \"Left\" or \"Right\""));
  io::write_file_atomic(dir / "tokenizer.json", small_tokenizer_json("null", R"({"direction": "left"})"));
  CHECK_THAT(load_error(dir), Contains("truncation direction is \"left\", not \"Left\" or \"Right\""));
  io::write_file_atomic(dir / "tokenizer.json",
                        small_tokenizer_json("null", R"({"max_length": 4, "strategy": "LongestFirst", "stride": 0})"));
  CHECK(models::load_pretrained_tokenizer(dir).truncation_side() == text::Truncation::head);
}

namespace {

const fs::path kSaveGolden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "tokenizer_save";

json::Value read_json(const fs::path& path) { return json::parse(io::read_file(path)); }

template <class T>
std::vector<T> int_list(const json::Value& array) {
  std::vector<T> out;
  for (const json::Value& v : array.as_array()) out.push_back(static_cast<T>(v.as_int()));
  return out;
}

}  // namespace

// tests/reference/make_tokenizer_save_golden.py: transformers 5.25's BertTokenizer.save_pretrained
// of the golden vocab.txt (padding_side / truncation_side "left", model_max_length 16), and the ids
// AutoTokenizer.from_pretrained of that folder gives.
TEST_CASE("save_pretrained_tokenizer writes what transformers' tokenizer.save_pretrained writes", "[models][tokenizer-save]") {
  text::BertTokenizer tokenizer = text::BertTokenizer::from_file(kSaveGolden / "vocab.txt");
  tokenizer.set_padding_side(text::PaddingSide::left);
  tokenizer.set_truncation_side(text::Truncation::tail);
  tokenizer.set_model_max_length(16);
  const fs::path dir = testing::models_scratch_dir("tokenizer_save");
  models::save_pretrained_tokenizer(tokenizer, dir / "saved");
  const fs::path saved = dir / "saved";

  // The same files, field for field. transformers also writes is_local / local_files_only, which
  // say how its tokenizer was loaded, not what it is (its from_pretrained ignores them).
  json::Value expected_config = read_json(kSaveGolden / "tokenizer_config.json");
  expected_config.as_object().erase("is_local");
  expected_config.as_object().erase("local_files_only");
  CHECK(json::dump(read_json(saved / "tokenizer_config.json")) == json::dump(expected_config));
  CHECK(read_json(saved / "tokenizer.json") == read_json(kSaveGolden / "tokenizer.json"));
  CHECK(io::read_file(saved / "vocab.txt") == io::read_file(kSaveGolden / "vocab.txt"));

  // Read back: the same sides, model_max_length and ids, which are AutoTokenizer's on the folder.
  const json::Value expected = read_json(kSaveGolden / "expected.json");
  for (const bool without_vocab_txt : {false, true}) {  // vocab.txt first, else tokenizer.json
    if (without_vocab_txt) fs::remove(saved / "vocab.txt");
    const text::BertTokenizer back = models::load_pretrained_tokenizer(saved);
    CHECK(back.padding_side() == text::PaddingSide::left);
    CHECK(back.truncation_side() == text::Truncation::tail);
    CHECK(back.model_max_length() == std::optional<std::size_t>(16));
    CHECK(back.vocab().size() == tokenizer.vocab().size());
    std::vector<std::string> texts;
    for (const json::Value& t : expected.at("texts").as_array()) texts.push_back(t.as_string());
    text::EncodeOptions options;
    options.padding = text::Padding::longest;
    const auto batch = back.encode_batch(texts, options, 1);
    for (std::size_t i = 0; i < texts.size(); ++i) {
      CHECK(batch[i].ids == int_list<text::TokenId>(expected.at("padded_ids")[i]));
      CHECK(batch[i].attention_mask == int_list<std::int32_t>(expected.at("padded_mask")[i]));
    }
    text::EncodeOptions truncate;
    truncate.max_length = static_cast<std::size_t>(expected.at("truncated_max_length").as_int());
    CHECK(back.encode(expected.at("truncated_text").as_string(), truncate).ids ==
          int_list<text::TokenId>(expected.at("truncated_ids")));
  }

  // Defaults: right / right, and no model_max_length (transformers' "no limit" when read back).
  const text::BertTokenizer plain = text::BertTokenizer::from_file(kSaveGolden / "vocab.txt");
  models::save_pretrained_tokenizer(plain, dir / "plain", "DistilBertTokenizer");
  const json::Value plain_config = read_json(dir / "plain" / "tokenizer_config.json");
  CHECK(plain_config.at("padding_side").as_string() == "right");
  CHECK(plain_config.at("truncation_side").as_string() == "right");
  CHECK(plain_config.at("tokenizer_class").as_string() == "DistilBertTokenizer");
  CHECK(plain_config.find("model_max_length") == nullptr);
  CHECK_FALSE(models::load_pretrained_tokenizer(dir / "plain").model_max_length().has_value());
  CHECK(plain_config.find("clean_up_tokenization_spaces") == nullptr);
  CHECK_FALSE(models::load_pretrained_tokenizer(dir / "plain").clean_up_tokenization_spaces());

  // clean_up_tokenization_spaces: transformers 5.25's BertTokenizer.from_pretrained(...,
  // clean_up_tokenization_spaces=True).save_pretrained writes true, and AutoTokenizer reads it back.
  text::BertTokenizer clean_up = plain;
  clean_up.set_clean_up_tokenization_spaces(true);
  models::save_pretrained_tokenizer(clean_up, dir / "clean_up");
  CHECK(read_json(dir / "clean_up" / "tokenizer_config.json").at("clean_up_tokenization_spaces").as_bool());
  CHECK(models::load_pretrained_tokenizer(dir / "clean_up").clean_up_tokenization_spaces());
  io::write_file_atomic(dir / "clean_up" / "tokenizer_config.json", R"({"clean_up_tokenization_spaces": "yes"})");
  CHECK_THAT(load_error(dir / "clean_up"), Contains("clean_up_tokenization_spaces is \"yes\", not true or false"));

  // What Hugging Face cannot express is refused before anything is written.
  text::BertTokenizer head_tail = plain;
  head_tail.set_truncation_side(text::Truncation::head_tail);
  const auto save_error = [&](const text::BertTokenizer& t, const fs::path& to) -> std::string {
    try {
      models::save_pretrained_tokenizer(t, to);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK_THAT(save_error(head_tail, dir / "head_tail"), Contains("truncation_side head_tail has no Hugging Face equivalent"));
  CHECK_FALSE(fs::exists(dir / "head_tail"));
  const text::BertTokenizer no_sep(text::Vocab::from_tokens({"[UNK]", "[CLS]", "a"}, "no_sep"));
  CHECK_THAT(save_error(no_sep, dir / "no_sep"), Contains("the vocabulary ('no_sep') has no [SEP] token"));
  CHECK_FALSE(fs::exists(dir / "no_sep"));
}
