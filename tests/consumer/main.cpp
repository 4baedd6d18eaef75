// A tinyxf user's first program, built against an installed package: tokenize with the shipped
// vocabulary, read a few shipped IMDB reviews, train a bag-of-embeddings classifier for a few
// steps. Prints what it found and exits non-zero if anything is off.
#include <cstdio>
#include <tinyxf/tinyxf.hpp>

using namespace tinyxf;

int main() try {
  const auto vocab = text::default_vocab_path();
  const auto tokenizer = text::BertTokenizer::from_file(vocab);
  const auto ids = tokenizer.encode("Hello, installed tinyxf!").ids;
  std::printf("vocab %s: %zu ids for the greeting\n", vocab.c_str(), ids.size());
  std::printf("cpu kernels: %s\n", std::string(backends::cpu_backend_isa()).c_str());

  const auto sample = data::default_data_dir() / "data" / "imdb_sample.csv";
  auto reviews = data::read_imdb_csv(sample);
  reviews.resize(32);
  std::printf("data %s: %zu reviews read\n", sample.c_str(), reviews.size());

  Generator gen(0);
  nn::Embedding embed(static_cast<std::int64_t>(tokenizer.vocab().size()), 16, -1, gen);
  nn::Linear head(16, 2, true, gen);
  auto params = embed.parameters();
  for (auto& p : head.parameters()) params.push_back(p);
  optim::AdamW optimizer(params, optim::AdamWOptions{.lr = 1e-2});
  float first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    float total = 0;
    for (const auto& review : reviews) {
      auto enc = tokenizer.encode(review.text, {.max_length = 64});
      std::vector<std::int64_t> tokens(enc.ids.begin(), enc.ids.end());
      auto x = Tensor::from_vector(tokens, {static_cast<std::int64_t>(tokens.size())});
      auto logits = head.forward(embed.forward(x).mean({0}, true));
      auto target = Tensor::from_vector(std::vector<std::int64_t>{review.label}, {1});
      auto loss = cross_entropy(logits, target);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      total += loss.item();
    }
    if (step == 0) first = total;
    last = total;
  }
  std::printf("training loss %.4f -> %.4f\n", first / 32, last / 32);
  return last < first ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "consumer: %s\n", e.what());
  return 1;
}
