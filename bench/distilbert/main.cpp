// tinyxf_bench_distilbert: forward and forward+backward wall time of
// DistilBertForSequenceClassification at distilbert-base size (or --config minilm|small|tiny, the
// sizes of ../common/distilbert_sizes.hpp; random weights, 2 labels) on Device::cpu().
//
//   tinyxf_bench_distilbert [--config base] [--threads N] [--reps R] [--warmup W]
//                           [--shapes 16x128,8x512] [--phases forward,forward+backward] [--tsv]
//
// forward: eval mode under NoGradGuard (inference). forward+backward: train mode (dropout on, as
// in fine-tuning), loss from labels, backward, gradients dropped between runs. Every shape runs W
// warm-up and R timed repetitions; the median is reported. --tsv prints
// "shape<TAB>phase<TAB>median_s<TAB>min_s" lines for run.sh, which joins them with
// torch_bench.py's identical lines.
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tinyxf/core/parallel.hpp"
#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/tinyxf.hpp"

#include "../common/bench_util.hpp"
#include "../common/distilbert_sizes.hpp"

using namespace tinyxf;

namespace {

struct Shape2 {
  std::int64_t batch, seq;
};

struct Options {
  std::string config = "base";
  int threads = 0;  // 0: TINYXF_NUM_THREADS or all cores
  int reps = 3;
  int warmup = 1;
  std::vector<Shape2> shapes = {{16, 128}, {8, 512}};
  bool forward = true, forward_backward = true;  // --phases
  bool full_last_layer = false;  // every row through the last layer, as transformers computes it
  bool tsv = false;
};

std::vector<Shape2> parse_shapes(const std::string& text) {
  std::vector<Shape2> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto x = item.find('x');
    TINYXF_CHECK(x != std::string::npos, "--shapes: '", item, "' is not BATCHxSEQ");
    out.push_back({std::stoll(item.substr(0, x)), std::stoll(item.substr(x + 1))});
  }
  return out;
}

Options parse_args(int argc, char** argv) {
  Options o;
  bench::for_each_option(argc, argv, [&](const std::string& a, auto& next) {
    if (a == "--config") o.config = next();
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--reps") o.reps = std::stoi(next());
    else if (a == "--warmup") o.warmup = std::stoi(next());
    else if (a == "--shapes") o.shapes = parse_shapes(next());
    else if (a == "--phases") {
      const std::string p = "," + next() + ",";
      o.forward = p.find(",forward,") != std::string::npos;
      o.forward_backward = p.find(",forward+backward,") != std::string::npos;
      TINYXF_CHECK(o.forward || o.forward_backward, "--phases: forward and/or forward+backward");
    } else if (a == "--full-last-layer") o.full_last_layer = true;
    else if (a == "--tsv") o.tsv = true;
    else throw Error("unknown option '" + a + "'");
  });
  TINYXF_CHECK(o.reps >= 1 && o.warmup >= 0, "--reps must be >= 1 and --warmup >= 0");
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options options = parse_args(argc, argv);
  if (options.threads > 0) set_num_threads(options.threads);
  const models::DistilBertConfig config = bench::distilbert_sizes(options.config);
  Generator gen(1234);
  models::DistilBertForSequenceClassification model(config, gen);
  model.last_layer_cls_only = !options.full_last_layer;
  if (!options.tsv)
    std::printf("DistilBertForSequenceClassification '%s', %lld parameters, %d threads, median of %d (after %d warm-up)%s\n",
                options.config.c_str(), static_cast<long long>(model.num_parameters()), num_threads(), options.reps,
                options.warmup, options.full_last_layer ? ", full last layer" : "");

  std::mt19937_64 rng(42);
  for (const auto& [batch, seq] : options.shapes) {
    std::vector<std::int64_t> ids(static_cast<std::size_t>(batch * seq)), labels(static_cast<std::size_t>(batch));
    std::uniform_int_distribution<std::int64_t> token(1, config.vocab_size - 1), label(0, 1);
    for (auto& id : ids) id = token(rng);
    for (auto& l : labels) l = label(rng);
    const auto input_ids = Tensor::from_vector(ids, {batch, seq});
    const auto mask = Tensor::ones({batch, seq}, kInt64);
    const auto targets = Tensor::from_vector(labels, {batch});

    std::vector<std::pair<const char*, std::pair<double, double>>> results;
    if (options.forward) {
      model.eval();
      results.emplace_back("forward", bench::time_runs(options.warmup, options.reps, [&] {
                             NoGradGuard no_grad;
                             model.forward(input_ids, mask).logits.to_vector<float>();  // to_vector: wait for the result
                           }));
    }
    if (options.forward_backward) {
      model.train();
      results.emplace_back("forward+backward", bench::time_runs(options.warmup, options.reps, [&] {
                             model.zero_grad();
                             model.forward(input_ids, mask, targets).loss.backward();
                           }));
      model.zero_grad();
    }

    const std::string shape = std::to_string(batch) + "x" + std::to_string(seq);
    for (const auto& [phase, t] : results) {
      if (options.tsv)
        std::printf("%s\t%s\t%.4f\t%.4f\n", shape.c_str(), phase, t.first, t.second);
      else
        std::printf("%-8s %-17s median %8.3f s   min %8.3f s\n", shape.c_str(), phase, t.first, t.second);
      std::fflush(stdout);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "tinyxf_bench_distilbert: " << e.what() << '\n';
  return 1;
}
