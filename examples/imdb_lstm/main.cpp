// imdb_lstm: IMDB sentiment with a recurrent classifier (the pre-transformer baseline):
// an embedding of the BERT word pieces, a bidirectional nn::LSTM that runs each review to its own
// length (packed, so padding never changes a result), and a linear head on the last layer's final
// states of both directions, trained with Adam. Same data options and splits as imdb_distilbert.
//
// Usage: kUsage below (`imdb_lstm --help` prints it).
//
// train writes DIR/model/{model.safetensors,config.json} and DIR/metrics.json (validation and
// test accuracy and loss, per-epoch training loss, timings); evaluate prints the test accuracy of a
// saved model; predict prints each text's label and probability.
#include <tinyxf/tinyxf.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "../common/imdb.hpp"
#include "tinyxf/io/cli_numbers.hpp"

constexpr const char* kUsage = R"(usage:
  imdb_lstm [train|evaluate|predict] [options] [text...]
    --data PATH          CSV (.csv/.csv.gz) or aclImdb folder (default: the shipped sample)
    --limit-train N      --limit-eval N      --eval-limit N      --seed N (42)
    --epochs N (2)       --batch-size N (32) --lr X (2e-3)       --max-length N (384)
    --embed N (128)      --hidden N (128)    --layers N (1)      --dropout X (0)
    --truncation head|tail|head_tail (head_tail)  --head-tokens N (head_tail: max-length / 4)
    --threads N          --output-dir DIR (imdb_lstm_out)        --model DIR (evaluate/predict)
)";

using namespace tinyxf;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string command = "train", data, output_dir = "imdb_lstm_out", model_dir;
  std::size_t limit_train = 0, limit_eval = 0, eval_limit = 0, batch_size = 32, max_length = 384;
  std::int64_t epochs = 2, embed = 128, hidden = 128, layers = 1;
  double lr = 2e-3, dropout = 0.0;
  std::string truncation = "head_tail";  // which word pieces of a longer review are kept
  std::int64_t head_tokens = -1;    // head_tail: pieces from the start (-1: max_length / 4)
  std::uint64_t seed = 42;
  int threads = 0;
  std::vector<std::string> texts;
};

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  if (i < argc && (std::string(argv[i]) == "train" || std::string(argv[i]) == "evaluate" ||
                   std::string(argv[i]) == "predict"))
    o.command = argv[i++];
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw cli::UsageError(a + " needs a value");
      return argv[++i];
    };
    const auto count = [&](std::int64_t min, std::int64_t max) { return cli::parse_integer<std::int64_t>(a, value(), min, max); };
    if (a == "--data") o.data = value();
    else if (a == "--limit-train") o.limit_train = static_cast<std::size_t>(count(0, 1'000'000'000));
    else if (a == "--limit-eval") o.limit_eval = static_cast<std::size_t>(count(0, 1'000'000'000));
    else if (a == "--eval-limit") o.eval_limit = static_cast<std::size_t>(count(0, 1'000'000'000));
    else if (a == "--epochs") o.epochs = count(0, 10'000);
    else if (a == "--batch-size") o.batch_size = static_cast<std::size_t>(count(1, 65'536));
    else if (a == "--lr") o.lr = cli::parse_real(a, value(), 0.0, 100.0);
    else if (a == "--max-length") o.max_length = static_cast<std::size_t>(count(3, 65'536));  // [CLS], a piece, [SEP]
    else if (a == "--embed") o.embed = count(1, 65'536);
    else if (a == "--hidden") o.hidden = count(1, 65'536);
    else if (a == "--layers") o.layers = count(1, 64);
    else if (a == "--dropout") o.dropout = cli::parse_real(a, value(), 0.0, 1.0);
    else if (a == "--truncation") o.truncation = value();
    else if (a == "--head-tokens") o.head_tokens = count(0, 65'536);
    else if (a == "--seed") o.seed = cli::parse_integer<std::uint64_t>(a, value(), 0, ~std::uint64_t{0});
    else if (a == "--threads") o.threads = static_cast<int>(count(0, 4096));
    else if (a == "--output-dir") o.output_dir = value();
    else if (a == "--model") o.model_dir = value();
    else if (a.starts_with("--")) throw cli::UsageError("unknown option " + a + " (--help lists them)");
    else o.texts.push_back(a);
  }
  o.head_tokens = imdb_example::checked_head_tokens(o.truncation, o.head_tokens, o.max_length);
  return o;
}

// The window a review longer than --max-length keeps (training, evaluation and predict alike).
std::size_t head_tokens_of(const Options& o) {
  return o.truncation == "head_tail" ? static_cast<std::size_t>(o.head_tokens) : 0;
}

// embedding -> bidirectional LSTM (packed by length) -> linear on [h_fwd, h_bwd] of the last layer.
struct ModelConfig {
  std::int64_t vocab, embed, hidden, layers;
  double dropout;
  json::Value to_json() const {
    json::Object o;
    o.push_back("vocab_size", vocab);
    o.push_back("embed", embed);
    o.push_back("hidden", hidden);
    o.push_back("layers", layers);
    o.push_back("dropout", dropout);
    return json::Value(std::move(o));
  }
  static ModelConfig from_json(const json::Value& v) {
    return {v.get<std::int64_t>("vocab_size"), v.get<std::int64_t>("embed"), v.get<std::int64_t>("hidden"),
            v.get<std::int64_t>("layers"), v.get<double>("dropout")};
  }
};

class LstmClassifier : public nn::Module {
 public:
  explicit LstmClassifier(const ModelConfig& c)
      : config(c),
        embedding(register_module("embedding", std::make_shared<nn::Embedding>(c.vocab, c.embed, 0))),
        lstm(register_module("lstm", std::make_shared<nn::LSTM>(nn::LSTMOptions(c.embed, c.hidden)
                                                                   .num_layers(c.layers)
                                                                   .dropout(c.dropout)
                                                                   .bidirectional(true)
                                                                   .batch_first(true)))),
        head(register_module("head", std::make_shared<nn::Linear>(2 * c.hidden, 2))) {}

  // input_ids, attention_mask: [B, S] (right padding) -> logits [B, 2].
  Tensor forward(const Tensor& input_ids, const Tensor& attention_mask) {
    const std::vector<std::int64_t> lengths = sum(attention_mask.to(kInt64), {1}).to_vector<std::int64_t>();
    const nn::LSTMOutput r = lstm->forward(embedding->forward(input_ids), lengths);
    const std::int64_t last = 2 * config.layers - 2;  // the last layer's forward, then reverse, state
    return head->forward(cat({r.h_n.select(0, last), r.h_n.select(0, last + 1)}, 1));
  }

  ModelConfig config;
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::LSTM> lstm;
  std::shared_ptr<nn::Linear> head;
};

data::DataLoaderOptions loader_options(const Options& o, bool training) {
  data::DataLoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.shuffle = training;
  lo.group_by_length = training;
  lo.sort_by_length = !training;
  lo.seed = o.seed;
  lo.max_length = o.max_length;
  lo.truncation = text::parse_truncation(o.truncation);
  lo.head_tokens = head_tokens_of(o);
  return lo;
}

using EvalResult = imdb_example::Accuracy;

EvalResult evaluate(LstmClassifier& model, const std::vector<data::Review>& reviews, const text::BertTokenizer& tok,
                    const Options& o) {
  model.eval();
  data::DataLoader loader(reviews, tok, loader_options(o, false));
  return imdb_example::accuracy_over(loader, reviews.size(), [&](const data::TextBatch& b) {
    const Tensor logits = model.forward(b.input_ids, b.attention_mask);
    return std::pair{logits, cross_entropy(logits, b.labels)};
  });
}

std::unique_ptr<LstmClassifier> load_model(const fs::path& dir) {
  auto model = std::make_unique<LstmClassifier>(ModelConfig::from_json(json::parse_file(dir / "config.json")));
  model->load_state_dict(io::load_float_tensors(dir / "model.safetensors"));
  return model;
}

int train_command(const Options& o) {
  const auto t0 = Clock::now();
  const imdb_example::Splits splits =
      imdb_example::load_imdb_splits(o.data, o.seed, o.limit_train, o.limit_eval, o.eval_limit);
  std::cout << splits.description << ": " << splits.train.size() << " train, " << splits.val.size() << " val, "
            << splits.test.size() << " test reviews; max_length " << o.max_length << " (truncation " << o.truncation
            << (o.truncation == "head_tail" ? ", head " + std::to_string(o.head_tokens) : std::string()) << ")\n";
  const auto tok = text::BertTokenizer::from_file(text::default_vocab_path());
  manual_seed(o.seed);
  LstmClassifier model({static_cast<std::int64_t>(tok.vocab().size()), o.embed, o.hidden, o.layers, o.dropout});
  optim::Adam opt(model.parameters(), {.lr = o.lr});
  data::DataLoader loader(splits.train, tok, loader_options(o, true));
  json::Array epochs;
  double train_seconds = 0;
  std::int64_t samples = 0;
  for (std::int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    model.train();
    loader.start_epoch(static_cast<std::size_t>(epoch));
    const auto e0 = Clock::now();
    double loss_sum = 0;
    std::int64_t seen = 0;
    while (auto batch = loader.next()) {
      const Tensor loss = cross_entropy(model.forward(batch->input_ids, batch->attention_mask), batch->labels);
      opt.zero_grad();
      loss.backward();
      optim::clip_grad_norm_(model.parameters(), 1.0);
      opt.step();
      loss_sum += loss.item() * static_cast<double>(batch->size());
      seen += batch->size();
    }
    train_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
    samples += seen;
    const EvalResult val = evaluate(model, splits.val_during, tok, o);
    const double train_loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
    std::printf("epoch %lld: train loss %.4f, val accuracy %.4f, val loss %.4f\n", static_cast<long long>(epoch + 1),
                train_loss, val.accuracy, val.loss);
    json::Object e;
    e.push_back("epoch", epoch + 1);
    e.push_back("train_loss", train::json_number(train_loss));
    e.push_back("val_accuracy", train::json_number(val.accuracy));
    epochs.push_back(json::Value(std::move(e)));
  }
  const EvalResult val = evaluate(model, splits.val, tok, o), test = evaluate(model, splits.test, tok, o);
  std::printf("validation accuracy %.4f, test accuracy %.4f\n", val.accuracy, test.accuracy);
  const fs::path model_dir = fs::path(o.output_dir) / "model";
  fs::create_directories(model_dir);
  io::save_float_tensors(model_dir / "model.safetensors", model.state_dict());
  train::write_json_file(model_dir / "config.json", model.config.to_json());
  json::Object m;
  m.push_back("test_accuracy", train::json_number(test.accuracy));
  m.push_back("val_accuracy", train::json_number(val.accuracy));
  m.push_back("test_loss", train::json_number(test.loss));
  m.push_back("val_loss", train::json_number(val.loss));
  m.push_back("train_seconds", train_seconds);
  m.push_back("train_samples_per_second", train_seconds > 0 ? static_cast<double>(samples) / train_seconds : 0.0);
  m.push_back("total_seconds", std::chrono::duration<double>(Clock::now() - t0).count());
  m.push_back("data", splits.description);
  m.push_back("max_length", static_cast<std::int64_t>(o.max_length));
  m.push_back("truncation", o.truncation);
  if (o.truncation == "head_tail") m.push_back("head_tokens", o.head_tokens);
  m.push_back("model", model.config.to_json());
  m.push_back("epochs", json::Value(std::move(epochs)));
  train::write_json_file(fs::path(o.output_dir) / "metrics.json", json::Value(std::move(m)));
  std::cout << "wrote " << model_dir.string() << " and " << (fs::path(o.output_dir) / "metrics.json").string() << "\n";
  return 0;
}

int evaluate_command(const Options& o) {
  auto model = load_model(o.model_dir.empty() ? fs::path(o.output_dir) / "model" : fs::path(o.model_dir));
  const imdb_example::Splits splits =
      imdb_example::load_imdb_splits(o.data, o.seed, o.limit_train, o.limit_eval, o.eval_limit);
  const auto tok = text::BertTokenizer::from_file(text::default_vocab_path());
  const EvalResult test = evaluate(*model, splits.test, tok, o);
  std::printf("test accuracy %.4f (%zu reviews), test loss %.4f\n", test.accuracy, splits.test.size(), test.loss);
  return 0;
}

int predict_command(const Options& o) {
  if (o.texts.empty()) throw cli::UsageError("predict needs at least one text");
  auto model = load_model(o.model_dir.empty() ? fs::path(o.output_dir) / "model" : fs::path(o.model_dir));
  model->eval();
  NoGradGuard no_grad;
  const auto tok = text::BertTokenizer::from_file(text::default_vocab_path());
  text::EncodeOptions enc;
  enc.max_length = o.max_length;
  enc.truncation_side = text::parse_truncation(o.truncation);
  enc.head_tokens = head_tokens_of(o);
  for (const std::string& t : o.texts) {
    const text::Encoding e = tok.encode(t, enc);
    const std::vector<std::int64_t> ids(e.ids.begin(), e.ids.end());
    const auto n = static_cast<std::int64_t>(ids.size());
    const Tensor p = softmax(model->forward(Tensor::from_vector(ids, {1, n}),
                                            Tensor::ones({1, n}, TensorOptions().dtype(kInt64))),
                             -1);
    const double positive = p.to(kFloat64).at<double>({0, 1});
    std::printf("%s (%.3f): %s\n", positive >= 0.5 ? "positive" : "negative",
                positive >= 0.5 ? positive : 1.0 - positive, t.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (cli::asks_for_help(argc, argv)) {
    std::cout << kUsage;
    return 0;
  }
  try {
    const Options o = parse(argc, argv);
    if (o.threads > 0) set_num_threads(o.threads);
    if (o.command == "evaluate") return evaluate_command(o);
    if (o.command == "predict") return predict_command(o);
    return train_command(o);
  } catch (const cli::UsageError& e) {
    std::cerr << "imdb_lstm: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "imdb_lstm: error: " << e.what() << "\n";
    return 1;
  }
}
