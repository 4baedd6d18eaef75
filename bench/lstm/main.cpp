// tinyxf_bench_lstm: nn::LSTM on a packed ragged batch (IMDB-like: batch 32, up to 256 steps,
// embedding 128, hidden 256), forward under no_grad and forward + backward, for a one-layer
// bidirectional and a two-layer unidirectional LSTM. torch_lstm.py times torch.nn.LSTM the same
// way on the same lengths (bench/lstm/run.sh prints both side by side).
//
//   tinyxf_bench_lstm [--threads N] [--reps N] [--warmup N] [--tsv]
//
// --tsv prints "name<TAB>median_ms" lines.
#include <cstdio>
#include <string>
#include <vector>

#include "../common/bench_util.hpp"
#include "tinyxf/tinyxf.hpp"

using namespace tinyxf;

namespace {

constexpr std::int64_t kBatch = 32, kSteps = 256, kInput = 128, kHidden = 256;

// The same ragged lengths as torch_lstm.py: between kSteps / 4 and kSteps, unsorted.
std::vector<std::int64_t> lengths() {
  std::vector<std::int64_t> out;
  for (std::int64_t b = 0; b < kBatch; ++b) out.push_back(kSteps - (b * 37) % (3 * kSteps / 4));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, reps = 5, warmup = 2;
  bool tsv = false;
  bench::for_each_option(argc, argv, [&](const std::string& name, auto value) {
    if (name == "--threads") threads = std::stoi(value());
    else if (name == "--reps") reps = std::stoi(value());
    else if (name == "--warmup") warmup = std::stoi(value());
    else if (name == "--tsv") tsv = true;
    else throw Error("unknown option " + name);
  });
  if (threads > 0) set_num_threads(threads);
  const std::vector<std::int64_t> lens = lengths();
  struct Config {
    const char* name;
    std::int64_t layers;
    bool bidirectional;
  };
  for (const Config& cfg : {Config{"1layer_bidir", 1, true}, Config{"2layer", 2, false}}) {
    Generator gen(0);
    nn::LSTM lstm(nn::LSTMOptions(kInput, kHidden).num_layers(cfg.layers).bidirectional(cfg.bidirectional)
                      .batch_first(true), gen);
    const Tensor x = Tensor::randn({kBatch, kSteps, kInput}, {}, gen);
    const auto forward = [&] {
      NoGradGuard ng;
      const PackedSequence p = pack_padded_sequence(x, lens, true, false);
      (void)lstm(p);
    };
    const auto train_step = [&] {
      const PackedSequence p = pack_padded_sequence(x, lens, true, false);
      auto r = lstm(p);
      (sum(r.output.data) + sum(r.h_n)).backward();
    };
    const double fwd = bench::time_runs(warmup, reps, forward).first * 1e3;
    const double step = bench::time_runs(warmup, reps, train_step).first * 1e3;
    const std::string base = std::string(cfg.name);
    if (tsv) {
      std::printf("%s_forward\t%.3f\n%s_forward_backward\t%.3f\n", base.c_str(), fwd, base.c_str(), step);
    } else {
      std::printf("%-28s %9.3f ms\n%-28s %9.3f ms\n", (base + "_forward").c_str(), fwd,
                  (base + "_forward_backward").c_str(), step);
    }
  }
  return 0;
}
