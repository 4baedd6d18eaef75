// The native BERT family (include/tinyxf/models/bert/) against transformers goldens
// (tests/data/golden/bert_native, tests/reference/make_bert_native_golden.py), name-based weight
// loading (VarBuilder), and save_pretrained in HF layout.
//
// Tolerance: every golden tensor (hidden states, pooled output, logits, loss) |err| <= 1e-5; the
// goldens' fp32-vs-fp64 noise is <= 1e-6 (printed by the script), a real bug (wrong token type,
// mask, eps or activation) moves them by > 1e-3.
//
// save_pretrained: the folders a C++ model writes must equal tests/data/golden/bert_native_cpp_saved/
// byte for byte; that committed copy is what the golden script loads into transformers (identical
// outputs, label names kept). After an intended change of the written format, regenerate it with
// TINYXF_WRITE_CPP_SAVED=1 tinyxf_bert_tests, then rerun the script's --check.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>

#include "cls_only_twins.hpp"
#include "golden_close.hpp"
#include "tinyxf/io/tensor_io.hpp"
#include "tinyxf/models/bert/bert.hpp"
#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;
using models::BertConfig;
using models::BertForMaskedLM;
using models::BertForSequenceClassification;
using models::BertModel;
namespace fs = std::filesystem;

namespace {

const fs::path kGolden = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "bert_native";
const fs::path kCppSaved = fs::path(TINYXF_SOURCE_DIR) / "tests" / "data" / "golden" / "bert_native_cpp_saved";
constexpr double kTol = 1e-5;


struct Batch {
  Tensor input_ids, attention_mask, token_type_ids, labels, mlm_labels;
};
Batch load_batch() {
  const io::SafetensorsFile st(kGolden / "batch.safetensors");
  return {io::load_int64_tensor(st, "input_ids"), io::load_int64_tensor(st, "attention_mask"),
          io::load_int64_tensor(st, "token_type_ids"), io::load_int64_tensor(st, "labels"),
          io::load_int64_tensor(st, "mlm_labels")};
}

void check_close(const std::string& what, const Tensor& ours, const io::SafetensorsFile& expected,
                 const std::string& name) {
  testing::check_golden_close(what, ours, expected, name, kTol);
}

void check_hidden(const std::string& what, const std::vector<Tensor>& hidden,
                  const io::SafetensorsFile& expected) {
  REQUIRE(hidden.size() == 3);  // embeddings + 2 layers
  for (std::size_t i = 0; i < hidden.size(); ++i)
    check_close(what, hidden[i], expected, "hidden_state." + std::to_string(i));
}

std::string file_text(const fs::path& path) { return io::read_file(path, std::size_t{1} << 24); }

// Saves `model` (returns the folder) and compares it with the committed C++-saved copy (or rewrites that copy).
template <class Model>
fs::path check_saved_like_committed(const Model& model, const std::string& name) {
  const fs::path dir = testing::models_scratch_dir("bert_saved_" + name);
  models::save_pretrained(model, dir);
  if (std::getenv("TINYXF_WRITE_CPP_SAVED")) {
    fs::create_directories(kCppSaved / name);
    for (const char* f : {"config.json", "model.safetensors"})
      fs::copy_file(dir / f, kCppSaved / name / f, fs::copy_options::overwrite_existing);
  }
  for (const char* f : {"config.json", "model.safetensors"}) {
    INFO((dir / f).string() << " vs " << (kCppSaved / name / f).string());
    CHECK(file_text(dir / f) == file_text(kCppSaved / name / f));
  }
  return dir;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("BertModel matches transformers: token types, padding, hidden states, pooler", "[models][bert]") {
  const Batch b = load_batch();
  const io::SafetensorsFile expected(kGolden / "model" / "expected.safetensors");
  auto [model, report] = models::from_pretrained<BertModel>(kGolden / "model");
  CHECK(report.layout == "bert");
  CHECK(report.loaded.size() == 39);  // 5 embedding tensors + 2 layers x 16 + pooler 2
  CHECK(report.ignored.empty());
  CHECK(report.newly_initialized.empty());
  CHECK(report.renamed.empty());  // the file uses the model's own names
  REQUIRE(model->pooler);

  NoGradGuard no_grad;
  for (const bool fused : {true, false}) {
    for (auto& layer : *model->encoder->layer) {
      layer->attention->self->flags = {fused, fused};
      layer->attention->output->fused_add_layer_norm = fused;
      layer->intermediate->fused_bias_gelu = fused;
      layer->output->fused_add_layer_norm = fused;
    }
    const std::string what = fused ? "fused" : "composed";
    auto out = model->forward(b.input_ids, b.attention_mask, b.token_type_ids, true);
    check_close(what, out.last_hidden_state, expected, "last_hidden_state");
    check_close(what, out.pooler_output, expected, "pooler_output");
    check_hidden(what, out.hidden_states, expected);
  }

  SECTION("token types matter: all-zero types give other hidden states") {
    auto zeros = model->forward(b.input_ids, b.attention_mask).last_hidden_state.to_vector<float>();
    auto golden = expected.to_float32("last_hidden_state");
    double max_diff = 0;
    for (std::size_t i = 0; i < zeros.size(); ++i) max_diff = std::max(max_diff, std::abs(double(zeros[i]) - golden[i]));
    CHECK(max_diff > 1e-3);
  }
}

TEST_CASE("BertForSequenceClassification matches transformers (pooler, dropout, classifier, loss)",
          "[models][bert]") {
  const Batch b = load_batch();
  const io::SafetensorsFile expected(kGolden / "seqcls" / "expected.safetensors");
  auto [model, report] = models::from_pretrained<BertForSequenceClassification>(kGolden / "seqcls");
  CHECK(report.loaded.size() == 41);
  CHECK(report.newly_initialized.empty());
  CHECK(report.ignored.empty());
  CHECK(model->config.layer_norm_eps == 1e-7);
  CHECK(model->config.num_labels == 3);
  CHECK(model->config.id2label == std::map<std::int64_t, std::string>{{0, "negative"}, {1, "neutral"}, {2, "positive"}});

  NoGradGuard no_grad;
  auto out = model->forward(b.input_ids, b.attention_mask, b.labels, true, b.token_type_ids);
  check_close("seqcls", out.logits, expected, "logits");
  check_close("seqcls", out.loss.reshape({1}), expected, "loss");
  check_hidden("seqcls", out.hidden_states, expected);
  // Without hidden states the last layer computes the [CLS] row alone (last_layer_cls_only).
  REQUIRE(model->last_layer_cls_only);
  const auto pruned = model->forward(b.input_ids, b.attention_mask, b.labels, false, b.token_type_ids);
  check_close("seqcls, [CLS]-only last layer", pruned.logits, expected, "logits");
  check_close("seqcls, [CLS]-only last layer", pruned.loss.reshape({1}), expected, "loss");

  SECTION("save_pretrained writes HF's layout with the label names; it reloads identically") {
    const fs::path dir = check_saved_like_committed(*model, "seqcls");
    const json::Value config = json::parse(file_text(dir / "config.json"));
    CHECK(config.at("id2label").at("2").as_string() == "positive");
    CHECK(config.at("label2id").at("neutral").as_int() == 1);
    CHECK(config.at("architectures").as_array().at(0).as_string() == "BertForSequenceClassification");
    auto [again, again_report] = models::from_pretrained<BertForSequenceClassification>(dir);
    CHECK(again_report.newly_initialized.empty());
    CHECK(again->config.id2label == model->config.id2label);
    CHECK(again->forward(b.input_ids, b.attention_mask, {}, false, b.token_type_ids).logits.to_vector<float>() ==
          pruned.logits.to_vector<float>());
  }

  SECTION("a BertModel checkpoint (no prefix, no classifier) gets a fresh classifier") {
    auto [fresh, fresh_report] = models::from_pretrained<BertForSequenceClassification>(kGolden / "model");
    CHECK(fresh_report.newly_initialized == std::vector<std::string>{"classifier.weight", "classifier.bias"});
    CHECK(fresh_report.loaded.size() == 39);
    CHECK(fresh_report.renamed.front().first == "embeddings.word_embeddings.weight");
    CHECK(fresh_report.renamed.front().second == "bert.embeddings.word_embeddings.weight");
  }
}

TEST_CASE("BERT's [CLS]-only last layer gives the full layer's logits and gradients (float64, padding, token types)",
          "[models][bert]") {
  BertConfig config = models::load_bert_config(kGolden / "seqcls");
  config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0;  // train mode, no randomness
  config.classifier_dropout = 0.0;
  Generator gen(11);
  BertForSequenceClassification model(config, gen);
  model.to(kFloat64);
  model.train();
  const Batch b = load_batch();
  const auto grads = testing::check_cls_only_matches_full(model, [&](BertForSequenceClassification& m) {
    return m.forward(b.input_ids, b.attention_mask, b.labels, false, b.token_type_ids);
  });
  REQUIRE(grads.count("bert.pooler.dense.weight") == 1);
}

TEST_CASE("BertForMaskedLM matches transformers (cls.predictions head, tied decoder, gelu_new)", "[models][bert]") {
  const Batch b = load_batch();
  const io::SafetensorsFile expected(kGolden / "mlm" / "expected.safetensors");
  auto [model, report] = models::from_pretrained<BertForMaskedLM>(kGolden / "mlm");
  CHECK(report.loaded.size() == 42);  // 37 encoder + predictions.bias + transform 4
  CHECK(report.newly_initialized.empty());
  CHECK(report.ignored.empty());
  CHECK(model->cls->predictions->decoder->weight.impl() == model->bert->embeddings->word_embeddings->weight.impl());
  CHECK_FALSE(model->bert->pooler);

  NoGradGuard no_grad;
  auto out = model->forward(b.input_ids, b.attention_mask, b.mlm_labels, b.token_type_ids, true);
  check_close("mlm", out.logits, expected, "logits");
  check_close("mlm", out.loss.reshape({1}), expected, "loss");
  check_hidden("mlm", out.hidden_states, expected);

  SECTION("sparse_prediction: the head on the labelled rows gives their logits and the same loss") {
    model->sparse_prediction = true;
    auto sparse = model->forward(b.input_ids, b.attention_mask, b.mlm_labels, b.token_type_ids);
    const std::vector<std::int64_t> labels = b.mlm_labels.to_vector<std::int64_t>();
    std::vector<std::int64_t> rows;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] != -100) rows.push_back(static_cast<std::int64_t>(i));
    REQUIRE(!rows.empty());
    const Tensor dense = out.logits.reshape({-1, out.logits.shape()[2]});
    REQUIRE(sparse.logits.shape() == Shape{static_cast<std::int64_t>(rows.size()), dense.shape()[1]});
    const std::vector<float> ours = sparse.logits.to_vector<float>();
    const std::vector<float> theirs = index_select(dense, 0, Tensor::from_vector(rows)).to_vector<float>();
    for (std::size_t i = 0; i < ours.size(); ++i) REQUIRE(std::abs(ours[i] - theirs[i]) <= 1e-5f);
    CHECK(sparse.loss.item() == Approx(out.loss.item()).margin(1e-6));
    model->sparse_prediction = false;
  }

  SECTION("save_pretrained stores the tied decoder once, as HF") {
    check_saved_like_committed(*model, "mlm");
    const io::SafetensorsFile saved(kCppSaved / "mlm" / "model.safetensors");
    CHECK_FALSE(saved.contains("cls.predictions.decoder.weight"));
    CHECK_FALSE(saved.contains("cls.predictions.decoder.bias"));
    CHECK(saved.contains("cls.predictions.bias"));
  }

  SECTION("a BertModel checkpoint: pooler ignored, prediction head fresh") {
    auto [fresh, fresh_report] = models::from_pretrained<BertForMaskedLM>(kGolden / "model");
    CHECK(fresh_report.ignored == std::vector<std::string>{"pooler.dense.bias", "pooler.dense.weight"});
    CHECK(fresh_report.newly_initialized ==
          std::vector<std::string>{"cls.predictions.bias", "cls.predictions.transform.dense.weight",
                                   "cls.predictions.transform.dense.bias",
                                   "cls.predictions.transform.LayerNorm.weight",
                                   "cls.predictions.transform.LayerNorm.bias"});
  }
}

TEST_CASE("VarBuilder: dotted names under prefixes, shape checks, renames, state dict sources",
          "[models][bert][var_builder]") {
  const fs::path file = kGolden / "model" / "model.safetensors";
  const models::VarBuilder vb(models::WeightSource(file), models::bert_naming());
  const auto layer1 = vb.pp("encoder").pp("layer").pp(1);
  CHECK(layer1.prefix() == "encoder.layer.1.");
  const Tensor w = layer1.get({64, 32}, "intermediate.dense.weight");
  const io::SafetensorsFile st(file);
  CHECK(w.to_vector<float>() == st.to_float32("encoder.layer.1.intermediate.dense.weight"));
  CHECK(vb.contains("bert.pooler.dense.bias"));  // the base prefix is optional on either side
  CHECK_FALSE(vb.contains("classifier.weight"));

  const std::string wrong = error_of([&] { layer1.get({32, 64}, "intermediate.dense.weight"); });
  CHECK_THAT(wrong, Catch::Contains("'encoder.layer.1.intermediate.dense.weight' has shape [64, 32]"));
  CHECK_THAT(wrong, Catch::Contains("expects [32, 64]"));
  CHECK_THAT(wrong, Catch::Contains(file.string()));
  CHECK_THAT(error_of([&] { layer1.get({32}, "nothing.bias"); }),
             Catch::Contains("'encoder.layer.1.nothing.bias' [32] not found in " + file.string()));

  // A state dict with TF-era LayerNorm names (gamma/beta) loads into a BertModel by name.
  auto [model, report] = models::from_pretrained<BertModel>(kGolden / "model");
  nn::NamedTensors legacy;
  for (auto [name, t] : model->state_dict()) {
    if (name.ends_with("LayerNorm.weight")) name.replace(name.size() - 6, 6, "gamma");
    if (name.ends_with("LayerNorm.bias")) name.replace(name.size() - 4, 4, "beta");
    legacy.emplace_back("bert." + name, t.clone());
  }
  BertModel copy(model->config);
  const auto copy_report = models::load_bert_weights(copy, models::WeightSource(legacy));
  CHECK(copy_report.loaded.size() == 39);
  CHECK(copy_report.ignored.empty());
  CHECK(copy.embeddings->LayerNorm->weight.to_vector<float>() == model->embeddings->LayerNorm->weight.to_vector<float>());
  CHECK((*copy.encoder->layer)[1]->output->LayerNorm->bias.to_vector<float>() ==
        (*model->encoder->layer)[1]->output->LayerNorm->bias.to_vector<float>());

  SECTION("missing encoder tensors and extra layers are errors naming them") {
    nn::NamedTensors missing(legacy.begin() + 1, legacy.end());
    CHECK_THAT(error_of([&] { models::load_bert_weights(copy, models::WeightSource(missing)); }),
               Catch::Contains("missing tensor 'embeddings.word_embeddings.weight' [128, 32]"));
    nn::NamedTensors extra = legacy;
    extra.emplace_back("bert.encoder.layer.2.output.dense.bias", Tensor::zeros({32}));
    CHECK_THAT(error_of([&] { models::load_bert_weights(copy, models::WeightSource(extra)); }),
               Catch::Contains("unexpected tensor 'bert.encoder.layer.2.output.dense.bias'"));
  }
}

TEST_CASE("id2label / label2id round-trip through save_pretrained (BERT and DistilBERT)", "[models][bert][labels]") {
  BertConfig bc;
  bc.vocab_size = 16, bc.hidden_size = 8, bc.num_hidden_layers = 1, bc.num_attention_heads = 2;
  bc.intermediate_size = 16, bc.max_position_embeddings = 8;
  bc.id2label = {{0, "negative"}, {1, "positive"}};
  const fs::path bert_dir = testing::models_scratch_dir("bert_labels");
  models::save_pretrained(BertForSequenceClassification(bc), bert_dir);
  const auto bert_json = json::parse(file_text(bert_dir / "config.json"));
  CHECK(json::dump(bert_json.at("id2label")) == R"({"0":"negative","1":"positive"})");
  CHECK(json::dump(bert_json.at("label2id")) == R"({"negative":0,"positive":1})");
  CHECK(models::load_bert_config(bert_dir).id2label == bc.id2label);

  models::DistilBertConfig dc;
  dc.vocab_size = 16, dc.dim = 8, dc.n_layers = 1, dc.n_heads = 2, dc.hidden_dim = 16, dc.max_position_embeddings = 8;
  dc.id2label = {{0, "negative"}, {1, "positive"}};
  const fs::path distil_dir = testing::models_scratch_dir("distilbert_labels");
  models::save_pretrained(models::DistilBertForSequenceClassification(dc), distil_dir);
  const auto distil_json = json::parse(file_text(distil_dir / "config.json"));
  CHECK(json::dump(distil_json.at("id2label")) == R"({"0":"negative","1":"positive"})");
  CHECK(json::dump(distil_json.at("label2id")) == R"({"negative":0,"positive":1})");
  CHECK(models::load_pretrained_config(distil_dir).id2label == dc.id2label);
}

// save_pretrained(model, dir, tokenizer) either writes the whole folder or, when the tokenizer (or
// vocab file) is refused, nothing: not the model without its tokenizer.
TEST_CASE("save_pretrained with a refused tokenizer writes nothing (BERT and DistilBERT)", "[models][bert][save]") {
  BertConfig bc;
  bc.vocab_size = 16, bc.hidden_size = 8, bc.num_hidden_layers = 1, bc.num_attention_heads = 2;
  bc.intermediate_size = 16, bc.max_position_embeddings = 8;
  models::DistilBertConfig dc;
  dc.vocab_size = 16, dc.dim = 8, dc.n_layers = 1, dc.n_heads = 2, dc.hidden_dim = 16, dc.max_position_embeddings = 8;
  const BertForSequenceClassification bert(bc);
  const models::DistilBertForSequenceClassification distil(dc);
  text::BertTokenizer head_tail(text::Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"}, "tiny"));
  head_tail.set_truncation_side(text::Truncation::head_tail);  // no Hugging Face name
  const text::BertTokenizer no_sep(text::Vocab::from_tokens({"[UNK]", "[CLS]", "a"}, "no_sep"));
  const fs::path dir = testing::models_scratch_dir("save_refused_tokenizer");
  const fs::path empty_vocab = dir / "empty_vocab.txt";
  io::write_file_atomic(empty_vocab, "");

  CHECK_THAT(error_of([&] { models::save_pretrained(bert, dir / "bert_head_tail", head_tail); }),
             Catch::Contains("truncation_side head_tail has no Hugging Face equivalent"));
  CHECK_THAT(error_of([&] { models::save_pretrained(distil, dir / "distil_no_sep", no_sep); }),
             Catch::Contains("the vocabulary ('no_sep') has no [SEP] token"));
  CHECK_THAT(error_of([&] { models::save_pretrained(bert, dir / "bert_empty_vocab", empty_vocab); }),
             Catch::Contains("holds no tokens"));
  CHECK_THAT(error_of([&] { models::save_pretrained(distil, dir / "distil_empty_vocab", empty_vocab); }),
             Catch::Contains("holds no tokens"));
  for (const char* folder : {"bert_head_tail", "distil_no_sep", "bert_empty_vocab", "distil_empty_vocab"})
    CHECK_FALSE(fs::exists(dir / folder));

  // The same call with a savable tokenizer writes model and tokenizer together.
  text::BertTokenizer right = head_tail;
  right.set_truncation_side(text::Truncation::head);
  models::save_pretrained(distil, dir / "distil", right);
  for (const char* file : {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json"})
    CHECK(fs::is_regular_file(dir / "distil" / file));
  CHECK(json::parse(file_text(dir / "distil" / "tokenizer_config.json")).at("tokenizer_class").as_string() ==
        "DistilBertTokenizer");
}

TEST_CASE("BertConfig reads HF's fields and rejects what it cannot run", "[models][bert][config]") {
  const BertConfig c = models::load_bert_config(kGolden / "seqcls");
  CHECK(c.type_vocab_size == 2);
  CHECK(c.hidden_act == "gelu");
  CHECK_FALSE(c.classifier_dropout);
  CHECK_THAT(error_of([] { BertConfig::from_json(json::parse(R"({"position_embedding_type": "relative_key"})")); }),
             Catch::Contains("position_embedding_type 'relative_key' is not supported"));
  CHECK_THAT(error_of([] { BertConfig::from_json(json::parse(R"({"hidden_act": "swish"})")); }),
             Catch::Contains("unsupported hidden_act 'swish'"));
  CHECK_THAT(error_of([] { BertConfig::from_json(json::parse(R"({"type_vocab_size": 0})")); }),
             Catch::Contains("type_vocab_size = 0"));
  CHECK_THAT(error_of([] { BertConfig::from_json(json::parse(R"({"model_type": "distilbert"})")); }),
             Catch::Contains("model_type is 'distilbert'"));
}

#ifdef TINYXF_MODEL_BINARY
// tinyxf-model on a BERT checkpoint (hidden: run by the tinyxf_bert_cli CTest test).
TEST_CASE("tinyxf-model run picks BertForSequenceClassification and matches transformers", "[.][cli]") {
  const fs::path dir = testing::models_scratch_dir("bert_cli");
  const fs::path out = dir / "out.safetensors";
  const std::string command = std::string("\"") + TINYXF_MODEL_BINARY + "\" run --model \"" +
                              (kGolden / "seqcls").string() + "\" --batch \"" +
                              (kGolden / "batch.safetensors").string() + "\" --out \"" + out.string() + "\" > \"" +
                              (dir / "log.txt").string() + "\" 2>&1";
  REQUIRE(std::system(command.c_str()) == 0);
  const io::SafetensorsFile result(out), expected(kGolden / "seqcls" / "expected.safetensors");
  for (const char* name : {"logits", "loss"}) {
    const auto ours = result.to_float32(name), golden = expected.to_float32(name);
    REQUIRE(ours.size() == golden.size());
    for (std::size_t i = 0; i < ours.size(); ++i) CHECK(std::abs(ours[i] - golden[i]) <= kTol);
  }
}
#endif
