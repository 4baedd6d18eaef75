#pragma once
// What every model family's from_pretrained / save_pretrained shares: Hugging Face model folders
// (config.json, model.safetensors or pytorch_model.bin, vocab.txt or tokenizer.json), loading options, and HF-compatible weight files.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/models/var_builder.hpp"
#include "tinyxf/text/bert_tokenizer.hpp"
#include "tinyxf/text/vocab.hpp"

namespace tinyxf::models {

struct PretrainedOptions {
  Device device = Device::cpu();
  // Overrides config.json's num_labels (a new classification head for fine-tuning). A checkpoint
  // whose classifier has another size then fails with a size mismatch.
  std::optional<std::int64_t> num_labels;
  // Draws the initialization of tensors the checkpoint lacks; nullptr = default_generator().
  Generator* generator = nullptr;
  bool verbose = false;  // print the LoadReport to stderr
};

// A model built from a folder and what loading did.
template <class Model>
struct Pretrained {
  std::shared_ptr<Model> model;
  LoadReport report;
};

namespace pretrained_detail {

inline json::Value read_config_json(const std::filesystem::path& path) {
  TINYXF_CHECK(std::filesystem::is_regular_file(path), "from_pretrained: ", path.string(), " not found");
  try {
    return json::parse(io::read_file(path, io::limits::json_file));
  } catch (const Error& e) {
    throw Error("from_pretrained: reading " + path.string() + ": " + e.what());
  }
}

// Writes dir/model.safetensors (tied tensors stored once, under their first name, as HF does;
// metadata {"format": "pt"}) and dir/config.json, atomically, creating dir.
inline void save_weights_and_config(const nn::Module& model, const json::Value& config,
                                    const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  nn::NamedTensors unique;
  std::set<const TensorImpl*> seen;
  for (const auto& [name, tensor] : model.state_dict())
    if (seen.insert(tensor.impl().get()).second) unique.emplace_back(name, tensor);
  io::save_float_tensors(dir / "model.safetensors", unique, {{"format", "pt"}});
  io::write_file_atomic(dir / "config.json", json::dump(config, 2) + "\n");
}

// vocab.txt's contents: one token a line, in id order.
inline std::string vocab_text(const text::Vocab& vocab) {
  std::string text;
  for (std::size_t id = 0; id < vocab.size(); ++id) (text += vocab.token(static_cast<text::TokenId>(id))) += '\n';
  return text;
}

inline void save_vocab(const text::Vocab& vocab, const std::filesystem::path& dir) {
  io::write_file_atomic(dir / "vocab.txt", vocab_text(vocab));
}

// The bytes of an existing vocab.txt, refused (before anything is written) when the tokenizer
// could not read it back.
inline std::string checked_vocab_file(const std::filesystem::path& vocab_file) {
  text::Vocab::from_file(vocab_file);
  return io::read_file(vocab_file, io::limits::vocab_file);
}

// A tokenizers template ([{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id":
// "A", ...}}, ...]) written as "[CLS]:0 $A:0 [SEP]:0"; "?" for a piece of another form.
inline std::string describe_template(const json::Value* pieces) {
  if (pieces == nullptr || !pieces->is_array()) return "?";
  std::string out;
  for (const json::Value& piece : pieces->as_array()) {
    if (!out.empty()) out += ' ';
    const json::Value* special = piece.is_object() ? piece.find("SpecialToken") : nullptr;
    const json::Value* sequence = piece.is_object() ? piece.find("Sequence") : nullptr;
    const json::Value* body = special != nullptr ? special : sequence;
    const json::Value* id = body != nullptr && body->is_object() ? body->find("id") : nullptr;
    const json::Value* type_id = body != nullptr && body->is_object() ? body->find("type_id") : nullptr;
    if (id == nullptr || !id->is_string() || type_id == nullptr || !type_id->is_int()) {
      out += '?';
      continue;
    }
    out += (sequence != nullptr ? "$" : "") + id->as_string() + ":" + std::to_string(type_id->as_int());
  }
  return out;
}

// tokenizer.json's post_processor must add what BertTokenizer adds: [CLS] text [SEP], and
// [CLS] a [SEP] b [SEP] with type ids 0 then 1, using the vocabulary's [CLS]/[SEP] ids. null (no
// special tokens at all) or any other processor is refused: tinyxf would add tokens HF does not.
template <class Fail>
void check_bert_post_processor(const json::Value* processor, const text::Vocab& vocab, const Fail& fail) {
  const std::string bert = "; tinyxf adds [CLS] text [SEP] as BERT's TemplateProcessing or BertProcessing do";
  if (processor == nullptr || processor->is_null()) fail("post_processor is ", processor ? "null" : "missing", bert);
  if (!processor->is_object()) fail("post_processor is a JSON ", processor->type_name(), bert);
  const json::Value* type = processor->find("type");
  const std::string type_name = type != nullptr && type->is_string() ? type->as_string() : "";
  const text::SpecialTokenIds& specials = vocab.special_ids();
  if (type_name == "BertProcessing") {
    // "cls": ["[CLS]", 101], "sep": ["[SEP]", 102]
    for (const auto& [key, token, own] : {std::tuple{"cls", "[CLS]", specials.cls}, std::tuple{"sep", "[SEP]", specials.sep}}) {
      const json::Value* pair = processor->find(key);
      const bool ok = pair != nullptr && pair->is_array() && pair->size() == 2 && (*pair)[0].is_string() &&
                      (*pair)[0].as_string() == token && (*pair)[1].is_int() && own >= 0 && (*pair)[1].as_int() == own;
      if (!ok)
        fail("post_processor BertProcessing's ", key, " is ", pair ? json::dump(*pair) : "missing", ", not [\"", token,
             "\", ", own, "] (the vocabulary's ", token, ")");
    }
    return;
  }
  if (type_name != "TemplateProcessing")
    fail("post_processor is ", type_name.empty() ? "untyped" : "'" + type_name + "'",
         ", not TemplateProcessing or BertProcessing", bert);
  const std::string single = describe_template(processor->find("single"));
  const std::string pair = describe_template(processor->find("pair"));
  if (single != "[CLS]:0 $A:0 [SEP]:0")
    fail("post_processor TemplateProcessing's single template is '", single, "', not '[CLS]:0 $A:0 [SEP]:0'");
  if (pair != "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1")
    fail("post_processor TemplateProcessing's pair template is '", pair, "', not '[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1'");
  // "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [101], "tokens": ["[CLS]"]}, "[SEP]": ...}
  const json::Value* table = processor->find("special_tokens");
  for (const auto& [token, own] : {std::pair{"[CLS]", specials.cls}, std::pair{"[SEP]", specials.sep}}) {
    const json::Value* entry = table != nullptr && table->is_object() ? table->find(token) : nullptr;
    const json::Value* ids = entry != nullptr && entry->is_object() ? entry->find("ids") : nullptr;
    const json::Value* names = entry != nullptr && entry->is_object() ? entry->find("tokens") : nullptr;
    const bool ok = ids != nullptr && ids->is_array() && ids->size() == 1 && (*ids)[0].is_int() && own >= 0 &&
                    (*ids)[0].as_int() == own && names != nullptr && names->is_array() && names->size() == 1 &&
                    (*names)[0].is_string() && (*names)[0].as_string() == token;
    if (!ok)
      fail("post_processor TemplateProcessing's special token ", token, " is ", entry ? json::dump(*entry) : "missing",
           ", not ids [", own, "] (the vocabulary's ", token, ")");
  }
}

}  // namespace pretrained_detail

// The architecture family of a model folder: config.json's model_type ("bert", "distilbert", ...),
// else derived from its first architectures entry ("BertFor…" -> "bert", "DistilBert…" ->
// "distilbert"), else "".
inline std::string pretrained_model_type(const std::filesystem::path& dir) {
  const json::Value j = pretrained_detail::read_config_json(dir / "config.json");
  if (const auto* v = j.find("model_type"); v && v->is_string()) return v->as_string();
  if (const auto* a = j.find("architectures"); a && a->is_array() && !a->as_array().empty() &&
                                               a->as_array().front().is_string()) {
    const std::string& name = a->as_array().front().as_string();
    if (name.starts_with("DistilBert")) return "distilbert";
    if (name.starts_with("Bert")) return "bert";
  }
  return "";
}

// The weights of a model folder, as transformers picks them: model.safetensors, the index of
// sharded safetensors (model.safetensors.index.json), pytorch_model.bin (torch.save's format,
// io/torch_checkpoint.hpp), its sharded index; a helpful error when there is none.
inline std::filesystem::path pretrained_weights_file(const std::filesystem::path& dir) {
  for (const char* name : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                           "pytorch_model.bin.index.json"})
    if (std::filesystem::is_regular_file(dir / name)) return dir / name;
  throw Error("from_pretrained: " + (dir / "model.safetensors").string() +
              " not found (nor pytorch_model.bin, nor a sharded index of either)");
}

// The vocabulary of a `tokenizers` tokenizer.json, where it describes the tokenizer tinyxf's
// BertTokenizer is: a WordPiece model ("##" continuations, [UNK], words of up to 100 characters)
// after BertNormalizer (lowercase, accents stripped, Chinese characters split, text cleaned) and
// BertPreTokenizer, whose added tokens are the vocabulary's own [PAD]/[UNK]/[CLS]/[SEP]/[MASK],
// and whose post_processor adds [CLS] text [SEP] ([CLS] a [SEP] b [SEP], type ids 0/1, for pairs)
// as bert-base-uncased's TemplateProcessing or BertProcessing do, with the vocabulary's ids.
// Anything else is refused by name rather than tokenized differently from Hugging Face.
// `j`: the parsed file at `path` (named in errors).
inline text::Vocab vocab_from_tokenizer_json(const json::Value& j, const std::filesystem::path& path) {
  const auto fail = [&](auto&&... parts) -> void {
    throw Error(::tinyxf::detail::concat("load_pretrained_tokenizer: ", path.string(), ": ", parts...));
  };
  const auto text_of = [](const json::Value* v) { return v != nullptr && v->is_string() ? v->as_string() : std::string(); };
  const json::Value* model = j.find("model");
  if (model == nullptr || !model->is_object()) fail("no \"model\" object");
  if (text_of(model->find("type")) != "WordPiece")
    fail("the model is ", model->find("type") ? "'" + text_of(model->find("type")) + "'" : "untyped",
         ", not WordPiece (tinyxf's BertTokenizer is WordPiece)");
  if (const auto* prefix = model->find("continuing_subword_prefix"); prefix && !prefix->is_null() && text_of(prefix) != "##")
    fail("continuing_subword_prefix '", text_of(prefix), "' (tinyxf's WordPiece uses '##')");
  if (text_of(model->find("unk_token")) != "[UNK]") fail("unk_token '", text_of(model->find("unk_token")), "' (not [UNK])");
  if (const auto* max = model->find("max_input_chars_per_word");
      max && !(max->is_int() && max->as_int() == static_cast<std::int64_t>(text::detail::kMaxInputCharsPerWord)))
    fail("max_input_chars_per_word is not ", text::detail::kMaxInputCharsPerWord);
  const json::Value* normalizer = j.find("normalizer");
  if (normalizer == nullptr || !normalizer->is_object() || text_of(normalizer->find("type")) != "BertNormalizer")
    fail("the normalizer is not BertNormalizer");
  const auto flag = [&](const char* key, bool null_means) {
    const json::Value* v = normalizer->find(key);
    if (v == nullptr || v->is_null()) return null_means;
    if (!v->is_bool()) fail("BertNormalizer's ", key, " is not a boolean");
    return v->as_bool();
  };
  const bool lowercase = flag("lowercase", true);
  if (!lowercase || !flag("strip_accents", lowercase) || !flag("handle_chinese_chars", true) || !flag("clean_text", true))
    fail("asks for a cased tokenizer or one that keeps accents or Chinese characters whole; tinyxf's BertTokenizer "
         "is the uncased one (lowercase, strip_accents, handle_chinese_chars, clean_text)");
  const json::Value* pre = j.find("pre_tokenizer");
  if (pre == nullptr || !pre->is_object() || text_of(pre->find("type")) != "BertPreTokenizer")
    fail("the pre_tokenizer is not BertPreTokenizer");
  const json::Value* vocab = model->find("vocab");
  if (vocab == nullptr || !vocab->is_object() || vocab->as_object().empty()) fail("the WordPiece vocab is missing or empty");
  std::vector<std::string> tokens(vocab->as_object().size());
  std::vector<bool> seen(tokens.size(), false);
  for (const auto& [token, id] : vocab->as_object()) {
    if (!id.is_int() || id.as_int() < 0 || id.as_int() >= static_cast<std::int64_t>(tokens.size()))
      fail("the id of '", token, "' is not an integer in [0, ", tokens.size(), ")");
    const auto i = static_cast<std::size_t>(id.as_int());
    if (seen[i]) fail("'", token, "' and '", tokens[i], "' share id ", i);
    seen[i] = true;
    tokens[i] = token;
  }
  text::Vocab result = text::Vocab::from_tokens(std::move(tokens), path.string());
  pretrained_detail::check_bert_post_processor(j.find("post_processor"), result, fail);
  // Added tokens are matched before WordPiece. BertTokenizer matches exactly the vocabulary's
  // [PAD]/[UNK]/[CLS]/[SEP]/[MASK]: literally (case-sensitive, on the raw text, anywhere in a word,
  // offsets without surrounding spaces) and skipped by decode(skip_special_tokens), so each must be
  // an added token with tokenizers' flags for that, and nothing else may be one.
  const text::SpecialTokenIds& specials = result.special_ids();
  const std::vector<text::TokenId> special_ids = {specials.pad, specials.unk, specials.cls, specials.sep, specials.mask};
  std::vector<bool> added_special(special_ids.size(), false);
  const json::Value* added = j.find("added_tokens");
  if (added != nullptr && !added->is_array()) fail("added_tokens is not an array");
  static const json::Array no_tokens;
  for (const json::Value& t : added ? added->as_array() : no_tokens) {
    const std::string content = t.is_object() ? text_of(t.find("content")) : std::string();
    const json::Value* id = t.is_object() ? t.find("id") : nullptr;
    const text::TokenId own = result.find(content);
    const auto which = std::find(special_ids.begin(), special_ids.end(), own);
    if (own < 0 || which == special_ids.end() || id == nullptr || !id->is_int() || id->as_int() != own)
      fail("added token '", content, "' is not one of the vocabulary's [PAD]/[UNK]/[CLS]/[SEP]/[MASK] at its own id "
           "(tinyxf matches only those literally)");
    for (const auto& [key, wanted] : {std::pair{"single_word", false}, std::pair{"lstrip", false},
                                      std::pair{"rstrip", false}, std::pair{"normalized", false},
                                      std::pair{"special", true}}) {
      const json::Value* v = t.find(key);
      if (v == nullptr || !v->is_bool() || v->as_bool() != wanted)
        fail("added token '", content, "' has ", key, " ", v == nullptr ? "missing" : json::dump(*v), ", not ",
             wanted ? "true" : "false", " (tinyxf matches the specials literally, on the raw text, and decode skips them)");
    }
    added_special[static_cast<std::size_t>(which - special_ids.begin())] = true;
  }
  for (std::size_t i = 0; i < special_ids.size(); ++i)
    if (special_ids[i] >= 0 && !added_special[i])
      fail("'", result.token(special_ids[i]), "' is in the vocabulary but not in added_tokens (Hugging Face would "
           "split it into pieces; tinyxf matches it as one special token)");
  return result;
}
inline text::Vocab vocab_from_tokenizer_json(const std::filesystem::path& path) {
  return vocab_from_tokenizer_json(pretrained_detail::read_config_json(path), path);
}

namespace pretrained_detail {

// tokenizer.json's "padding": {"direction": "Left", ...} / "truncation": {"direction": "Left", ...}
// (null: none) as the sides AutoTokenizer takes from them. tokenizers reads a truncation without
// a direction (files saved before tokenizers 0.11) as "Right" and refuses a padding without one.
// Their other fields (length, strategy, pad_to_multiple_of, max_length, stride, pad_id,
// pad_type_id) do not change what transformers' tokenizer(...) gives: its call arguments replace them.
inline void apply_tokenizer_json_sides(const json::Value& j, const std::filesystem::path& path,
                                       text::BertTokenizer& tokenizer) {
  for (const char* section : {"padding", "truncation"}) {
    const bool padding = std::string_view(section) == "padding";
    const json::Value* v = j.find(section);
    if (v == nullptr || v->is_null()) continue;
    const json::Value* direction = v->is_object() ? v->find("direction") : nullptr;
    if (direction == nullptr && !padding && v->is_object()) continue;  // Right
    const std::string name = direction != nullptr && direction->is_string() ? direction->as_string() : "";
    TINYXF_CHECK_AS(ValueError, name == "Left" || name == "Right", "load_pretrained_tokenizer: ", path.string(), ": ",
                    section, " direction is ", direction ? json::dump(*direction) : "missing",
                    ", not \"Left\" or \"Right\"");
    if (padding)
      tokenizer.set_padding_side(name == "Left" ? text::PaddingSide::left : text::PaddingSide::right);
    else
      tokenizer.set_truncation_side(name == "Left" ? text::Truncation::tail : text::Truncation::head);
  }
}

// tokenizer_config.json's "padding_side" / "truncation_side" ("right" or "left"), which win over
// tokenizer.json's directions as in transformers; any other value (null included) is refused as
// transformers refuses it.
inline void apply_tokenizer_config_sides(const json::Value& config, const std::filesystem::path& path,
                                         text::BertTokenizer& tokenizer) {
  for (const char* key : {"padding_side", "truncation_side"}) {
    const json::Value* v = config.find(key);
    if (v == nullptr) continue;
    const std::string name = v->is_string() ? v->as_string() : "";
    TINYXF_CHECK_AS(ValueError, name == "right" || name == "left", "load_pretrained_tokenizer: ", path.string(), ": ",
                    key, " is ", json::dump(*v), ", not \"right\" or \"left\"");
    if (std::string_view(key) == "padding_side")
      tokenizer.set_padding_side(text::parse_padding_side(name));
    else
      tokenizer.set_truncation_side(name == "left" ? text::Truncation::tail : text::Truncation::head);
  }
}

}  // namespace pretrained_detail

// The WordPiece tokenizer of a model folder: vocab.txt, else the vocabulary of tokenizer.json
// (vocab_from_tokenizer_json). tinyxf's tokenizer is the uncased one. Its padding and truncation
// sides (BertTokenizer::padding_side, truncation_side) come from tokenizer_config.json's
// padding_side / truncation_side, else from tokenizer.json's padding / truncation directions
// (read even next to vocab.txt: transformers 5 loads tokenizer.json when there is one), else
// right / head — what AutoTokenizer.from_pretrained sets. tokenizer_config.json's integer
// model_max_length and clean_up_tokenization_spaces are kept too (BertTokenizer's accessors).
inline text::BertTokenizer load_pretrained_tokenizer(const std::filesystem::path& dir) {
  const auto vocab = dir / "vocab.txt";
  const auto tokenizer_json = dir / "tokenizer.json";
  const bool has_json = std::filesystem::is_regular_file(tokenizer_json);
  TINYXF_CHECK(std::filesystem::is_regular_file(vocab) || has_json, "load_pretrained_tokenizer: ", vocab.string(),
               " not found (nor tokenizer.json)");
  const bool from_json = !std::filesystem::is_regular_file(vocab);
  const json::Value tokenizer_file = has_json ? pretrained_detail::read_config_json(tokenizer_json) : json::Value();
  text::BertTokenizer tokenizer = from_json ? text::BertTokenizer(vocab_from_tokenizer_json(tokenizer_file, tokenizer_json))
                                            : text::BertTokenizer::from_file(vocab);
  if (has_json) pretrained_detail::apply_tokenizer_json_sides(tokenizer_file, tokenizer_json, tokenizer);
  const auto cfg = dir / "tokenizer_config.json";
  if (!std::filesystem::is_regular_file(cfg)) return tokenizer;
  const json::Value j = pretrained_detail::read_config_json(cfg);
  pretrained_detail::apply_tokenizer_config_sides(j, cfg, tokenizer);
  // An integer model_max_length is kept; transformers writes "no limit" as 1e30 (a float here).
  if (const json::Value* length = j.find("model_max_length"); length != nullptr && length->is_int() && length->as_int() > 0)
    tokenizer.set_model_max_length(static_cast<std::size_t>(length->as_int()));
  if (const json::Value* clean_up = j.find("clean_up_tokenization_spaces"); clean_up != nullptr && !clean_up->is_null()) {
    TINYXF_CHECK_AS(ValueError, clean_up->is_bool(), "load_pretrained_tokenizer: ", cfg.string(),
                    ": clean_up_tokenization_spaces is ", json::dump(*clean_up), ", not true or false");
    tokenizer.set_clean_up_tokenization_spaces(clean_up->as_bool());
  }
  if (from_json) return tokenizer;
  // transformers builds BertNormalizer(lowercase=do_lower_case, strip_accents=strip_accents,
  // handle_chinese_chars=tokenize_chinese_chars) from these; a false one tokenizes differently.
  // (do_basic_tokenize is not read by transformers 5's BertTokenizer: its false changes nothing.)
  const auto is_false = [&](const char* key) {
    const json::Value* v = j.find(key);
    return v != nullptr && v->is_bool() && !v->as_bool();
  };
  TINYXF_CHECK(!is_false("do_lower_case"), "load_pretrained_tokenizer: ", cfg.string(),
               " asks for a cased tokenizer (do_lower_case false); tinyxf's BertTokenizer is uncased");
  TINYXF_CHECK(!is_false("strip_accents"), "load_pretrained_tokenizer: ", cfg.string(),
               " keeps accents (strip_accents false); tinyxf's BertTokenizer strips them");
  TINYXF_CHECK(!is_false("tokenize_chinese_chars"), "load_pretrained_tokenizer: ", cfg.string(),
               " keeps Chinese characters whole (tokenize_chinese_chars false); tinyxf's BertTokenizer splits them");
  return tokenizer;
}

namespace pretrained_detail {

// The tokenizer.json of transformers 5.25's BertTokenizer.save_pretrained for this vocabulary:
// WordPiece after BertNormalizer (uncased) and BertPreTokenizer, the present specials as added
// tokens, [CLS] a [SEP] b [SEP] by TemplateProcessing, the WordPiece decoder; padding and
// truncation null (the sides live in tokenizer_config.json, as transformers keeps them).
inline json::Value bert_tokenizer_json(const text::Vocab& vocab) {
  const text::SpecialTokenIds& specials = vocab.special_ids();
  json::Array added;
  for (const text::TokenId id : {specials.pad, specials.unk, specials.cls, specials.sep, specials.mask}) {
    if (id < 0) continue;
    added.push_back(json::object({{"id", id}, {"content", vocab.token(id)}, {"single_word", false}, {"lstrip", false},
                                  {"rstrip", false}, {"normalized", false}, {"special", true}}));
  }
  const auto special = [](const char* token, int type_id) {
    return json::object({{"SpecialToken", json::object({{"id", token}, {"type_id", type_id}})}});
  };
  const auto sequence = [](const char* name, int type_id) {
    return json::object({{"Sequence", json::object({{"id", name}, {"type_id", type_id}})}});
  };
  const auto template_token = [](const char* token, text::TokenId id) {
    return json::object({{"id", token}, {"ids", json::array({id})}, {"tokens", json::array({token})}});
  };
  json::Object words;
  for (std::size_t id = 0; id < vocab.size(); ++id)  // Vocab refuses repeated tokens: one id each
    words.push_back(std::string(vocab.token(static_cast<text::TokenId>(id))), static_cast<std::int64_t>(id));
  return json::object(
      {{"version", "1.0"},
       {"truncation", nullptr},
       {"padding", nullptr},
       {"added_tokens", std::move(added)},
       {"normalizer", json::object({{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                                    {"strip_accents", nullptr}, {"lowercase", true}})},
       {"pre_tokenizer", json::object({{"type", "BertPreTokenizer"}})},
       {"post_processor",
        json::object({{"type", "TemplateProcessing"},
                      {"single", json::array({special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0)})},
                      {"pair", json::array({special("[CLS]", 0), sequence("A", 0), special("[SEP]", 0),
                                            sequence("B", 1), special("[SEP]", 1)})},
                      {"special_tokens", json::object({{"[CLS]", template_token("[CLS]", specials.cls)},
                                                       {"[SEP]", template_token("[SEP]", specials.sep)}})}})},
       {"decoder", json::object({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}})},
       {"model", json::object({{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
                               {"max_input_chars_per_word", static_cast<std::int64_t>(text::detail::kMaxInputCharsPerWord)},
                               {"vocab", std::move(words)}})}});
}

// tokenizer_config.json as transformers 5.25 writes it (keys sorted), with the tokenizer's sides
// always written (transformers writes them when they were given), model_max_length when set and
// clean_up_tokenization_spaces when true.
inline json::Value bert_tokenizer_config_json(const text::BertTokenizer& tokenizer, std::string_view tokenizer_class) {
  json::Object config;
  config.push_back("backend", "tokenizers");
  // transformers writes it when it was given; false is its default.
  if (tokenizer.clean_up_tokenization_spaces()) config.push_back("clean_up_tokenization_spaces", true);
  config.push_back("cls_token", "[CLS]");
  config.push_back("do_lower_case", true);
  config.push_back("mask_token", "[MASK]");
  if (const auto length = tokenizer.model_max_length())
    config.push_back("model_max_length", static_cast<std::int64_t>(*length));
  config.push_back("pad_token", "[PAD]");
  config.push_back("padding_side", tokenizer.padding_side() == text::PaddingSide::left ? "left" : "right");
  config.push_back("sep_token", "[SEP]");
  config.push_back("strip_accents", nullptr);
  config.push_back("tokenize_chinese_chars", true);
  config.push_back("tokenizer_class", std::string(tokenizer_class));
  config.push_back("truncation_side", tokenizer.truncation_side() == text::Truncation::tail ? "left" : "right");
  config.push_back("unk_token", "[UNK]");
  return json::Value(std::move(config));
}

}  // namespace pretrained_detail

// The files of a tokenizer folder (name, contents), made and checked before any is written: the
// save_pretrained overloads refuse a tokenizer before they write the model.
struct TokenizerFiles {
  std::vector<std::pair<std::string, std::string>> files;
  void write(const std::filesystem::path& dir) const {
    std::filesystem::create_directories(dir);
    for (const auto& [name, bytes] : files) io::write_file_atomic(dir / name, bytes);
  }
};

// What save_pretrained_tokenizer writes: tokenizer.json and tokenizer_config.json (transformers'
// tokenizer.save_pretrained) and vocab.txt (the slow tokenizer's file, which older readers want).
// head_tail truncation has no Hugging Face name and is refused, as is a vocabulary without [UNK],
// [CLS] or [SEP] (a BERT tokenizer.json names them).
inline TokenizerFiles pretrained_tokenizer_files(const text::BertTokenizer& tokenizer,
                                                 std::string_view tokenizer_class = "BertTokenizer") {
  TINYXF_CHECK_AS(ValueError, tokenizer.truncation_side() != text::Truncation::head_tail,
                  "save_pretrained_tokenizer: truncation_side head_tail has no Hugging Face equivalent (truncation_side "
                  "is \"right\" (head) or \"left\" (tail))");
  const text::Vocab& vocab = tokenizer.vocab();
  const text::SpecialTokenIds& specials = vocab.special_ids();
  for (const auto& [token, id] : {std::pair{"[UNK]", specials.unk}, std::pair{"[CLS]", specials.cls},
                                  std::pair{"[SEP]", specials.sep}})
    TINYXF_CHECK_AS(ValueError, id >= 0, "save_pretrained_tokenizer: the vocabulary ('", vocab.origin(), "') has no ",
                    token, " token, which a BERT tokenizer.json needs");
  TokenizerFiles out;
  out.files.emplace_back("vocab.txt", pretrained_detail::vocab_text(vocab));
  out.files.emplace_back("tokenizer.json", json::dump(pretrained_detail::bert_tokenizer_json(vocab), 2) + "\n");
  out.files.emplace_back("tokenizer_config.json",
                         json::dump(pretrained_detail::bert_tokenizer_config_json(tokenizer, tokenizer_class), 2) + "\n");
  return out;
}

// Writes the tokenizer as transformers' tokenizer.save_pretrained(dir) does: tokenizer.json and
// tokenizer_config.json (its padding / truncation sides, model_max_length,
// clean_up_tokenization_spaces, the special tokens, `tokenizer_class`), plus vocab.txt
// (pretrained_tokenizer_files); atomically, creating dir. load_pretrained_tokenizer and
// AutoTokenizer.from_pretrained read back the same tokenizer. A tokenizer that cannot be saved
// is refused before any file is written.
inline void save_pretrained_tokenizer(const text::BertTokenizer& tokenizer, const std::filesystem::path& dir,
                                      std::string_view tokenizer_class = "BertTokenizer") {
  pretrained_tokenizer_files(tokenizer, tokenizer_class).write(dir);
}

// The tokenizer class transformers pairs with a model class (config.json's "architectures"
// entry): DistilBertTokenizer for DistilBert*, else BertTokenizer.
inline std::string_view tokenizer_class_for(std::string_view architecture) {
  return architecture.starts_with("DistilBert") ? "DistilBertTokenizer" : "BertTokenizer";
}

}  // namespace tinyxf::models
