// tinyxf_bench_train: training throughput of DistilBertForSequenceClassification (--task classify,
// the default) or DistilBertForMaskedLM (--task mlm) on Device::cpu().
// One step is exactly the hand-written loop of examples/imdb_distilbert: forward with labels
// (train mode, dropout on), zero_grad, backward, clip_grad_norm_(1.0), AdamW step (lr 5e-5,
// weight decay 0.01); the clip and the step through clip_grad_norm_and_step, as the example
// does (the same update, the clip's scaling folded into AdamW's pass over the gradients). torch_train.py is the PyTorch twin; run.sh runs both and prints one table.
//
//   tinyxf_bench_train [--task classify|mlm] [--config small|minilm|base|tiny] [--batch B] [--seq S]
//                      [--steps N] [--warmup W] [--threads T] [--precision fp32|bf16|medium]
//                      [--full-last-layer | --dense-mlm-head] [--fused-qkv] [--tsv]
//
// Configurations (the same names and sizes as torch_train.py):
//   small  the flagship's from-scratch default (small_config in examples/imdb_distilbert/main.cpp):
//          dim 128, 2 layers, 4 heads, FFN 512; batch 16 x seq 256; 3 warm-up + 30 timed steps
//   minilm all-MiniLM-L6-v2's shape, the flagship's pretrained default: dim 384, 6 layers,
//          12 heads, FFN 1536; batch 16 x seq 256; 2 warm-up + 10 timed steps
//   base   distilbert-base: dim 768, 6 layers, 12 heads, FFN 3072; batch 16 x seq 128; 2 + 5 steps
//   tiny   dim 32, 1 layer, 2 heads, FFN 64; batch 2 x seq 16; 1 + 3 steps (a smoke test)
// All have vocab 30522, 512 positions, 2 labels (../common/distilbert_sizes.hpp). Inputs are random
// token ids (fixed seed) with an all-ones attention mask. --task mlm labels the ~15 % of positions
// that mlm_labelled picks (the same on both sides) with their ids and puts [MASK] (103) there;
// its head runs on the labelled rows alone (sparse_prediction; --dense-mlm-head: on every row, as
// transformers computes it; the loss is the same). The step time is the median (and
// minimum) of the timed steps; samples/s and tokens/s are batch and batch x seq over the median. Memory comes from
// /proc/self/status: "baseline" is the resident size after loading the framework (before the
// model exists), "peak" the high-water mark VmHWM at the end. --tsv prints one line
//   config impl median_s min_s samples/s tokens/s peak_mib baseline_mib params batch seq steps loss
//   first_loss blas
// (tab-separated; loss is the last step's, first_loss the very first step's, warm-up or not:
// ~ln(30522) = 10.3 for an untrained MLM) for run.sh, in the same layout as torch_train.py's.
// --precision bf16 runs the forward pass under AutocastGuard(cpu, bfloat16) with float32
// parameters and AdamW state, the counterpart of torch_train.py's torch.autocast("cpu",
// torch.bfloat16); --precision medium keeps float32 tensors and gives the float32 GEMMs bfloat16
// products (set_float32_matmul_precision("medium"); AVX512-BF16 CPUs, float32 elsewhere).
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "tinyxf/backends/cpu/blas_core.hpp"
#include "tinyxf/core/parallel.hpp"
#include "tinyxf/models/distilbert/distilbert.hpp"
#include "tinyxf/optim/optim.hpp"
#include "tinyxf/tinyxf.hpp"

#include "../common/bench_util.hpp"
#include "../common/distilbert_sizes.hpp"

using namespace tinyxf;

namespace {

struct Options {
  std::string config = "small";
  std::int64_t batch = 0, seq = 0;  // 0: the configuration's default
  int steps = -1, warmup = -1;      // -1: the configuration's default
  int threads = 0;                  // 0: TINYXF_NUM_THREADS or all cores
  std::string task = "classify";
  std::string precision = "fp32";
  bool dense_mlm_head = false;   // the MLM head on every row, as transformers computes it
  bool full_last_layer = false;  // every row through the last layer, as transformers computes it
  bool fused_qkv = false;        // one GEMM for q, k, v (MultiHeadSelfAttention::fused_qkv)
  bool tsv = false;
};

Options parse_args(int argc, char** argv) {
  Options o;
  bench::for_each_option(argc, argv, [&](const std::string& a, auto& next) {
    if (a == "--task") o.task = next();
    else if (a == "--config") o.config = next();
    else if (a == "--batch") o.batch = std::stoll(next());
    else if (a == "--seq") o.seq = std::stoll(next());
    else if (a == "--steps") o.steps = std::stoi(next());
    else if (a == "--warmup") o.warmup = std::stoi(next());
    else if (a == "--threads") o.threads = std::stoi(next());
    else if (a == "--precision") o.precision = next();
    else if (a == "--full-last-layer") o.full_last_layer = true;
    else if (a == "--dense-mlm-head") o.dense_mlm_head = true;
    else if (a == "--fused-qkv") o.fused_qkv = true;
    else if (a == "--tsv") o.tsv = true;
    else throw Error("unknown option '" + a + "'");
  });
  return o;
}

// The model and the default batch, sequence length and step counts of a named configuration.
struct Setup {
  models::DistilBertConfig model;
  std::int64_t batch, seq;
  int steps, warmup;
};

Setup setup_for(const std::string& name) {
  Setup s{bench::distilbert_sizes(name), 16, 128, 5, 2};  // base: batch 16 x seq 128, 2 + 5 steps
  if (name == "small") s.seq = 256, s.steps = 30, s.warmup = 3;
  else if (name == "minilm") s.seq = 256, s.steps = 10, s.warmup = 2;
  else if (name == "tiny") s.batch = 2, s.seq = 16, s.steps = 3, s.warmup = 1;
  return s;
}

// Whether position p of row b is an MLM target: about 15 % of the positions (Knuth's
// multiplicative hash of the flat index against 0.15 * 2^32), never the first or the last, where
// [CLS] and [SEP] would be. torch_train.py's mlm_labelled is the same rule: both sides must agree,
// so that they mask the same positions and their heads do the same work.
bool mlm_labelled(std::int64_t b, std::int64_t p, std::int64_t seq) {
  if (p == 0 || p == seq - 1) return false;
  const auto hash = static_cast<std::uint32_t>(static_cast<std::uint64_t>(b * seq + p) * 2654435761u);  // mod 2^32
  return hash < 0.15 * 4294967296.0;
}

// What the timed loop measured.
struct Timing {
  double median = 0, best = 0;
  float first_loss = 0, last_loss = 0;
};

// The step of both tasks: forward with labels (under autocast for bf16), zero_grad, backward, clip
// and AdamW; `forward` returns the model's output, whose .loss is trained.
template <class Model, class Forward>
Timing time_training(Model& model, const Setup& s, bool autocast, Forward&& forward) {
  model.train();
  optim::AdamW optimizer(model.parameters(), optim::AdamWOptions{.lr = 5e-5, .weight_decay = 0.01});
  Timing t;
  bool first = true;
  std::tie(t.median, t.best) = bench::time_runs(s.warmup, s.steps, [&] {
    auto out = [&] {
      AutocastGuard guard(DeviceType::cpu, kBFloat16, autocast);
      return forward();
    }();
    optimizer.zero_grad();
    out.loss.backward();
    optim::clip_grad_norm_and_step(model.parameters(), 1.0, optimizer);  // torch: clip_grad_norm_, then step
    t.last_loss = out.loss.item();
    if (first) t.first_loss = t.last_loss, first = false;
  });
  return t;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options options = parse_args(argc, argv);
  if (options.threads > 0) set_num_threads(options.threads);
  const std::string core = backends::cpu::blas_core_name();  // selects the kernels (blas_core.hpp)
  std::string blas = core.empty() ? "BLAS (not OpenBLAS)" : "OpenBLAS " + core;
  TINYXF_CHECK(options.precision == "fp32" || options.precision == "bf16" || options.precision == "medium",
               "--precision must be fp32, bf16 or medium, got '", options.precision, "'");
  const bool autocast = options.precision == "bf16";
  const std::string bf16_kernel = backends::cpu::bf16_gemm_kernel();
  const std::string no_bf16_why = backends::cpu::bf16_products_absent_reason();
  if (autocast)
    blas = !bf16_kernel.empty() ? "autocast bf16 (" + bf16_kernel + ")" : "autocast bf16 (f32 products: " + no_bf16_why + ")";
  if (options.precision == "medium") {
    set_float32_matmul_precision("medium");
    blas = !bf16_kernel.empty() ? "bf16 products (" + bf16_kernel + ")" : no_bf16_why + ": " + blas + " fp32";
  }
  const double baseline_mib = bench::proc_status_mib("VmRSS");

  Setup s = setup_for(options.config);
  if (options.batch > 0) s.batch = options.batch;
  if (options.seq > 0) s.seq = options.seq;
  if (options.steps >= 0) s.steps = options.steps;
  if (options.warmup >= 0) s.warmup = options.warmup;
  TINYXF_CHECK(s.steps >= 1 && s.warmup >= 0, "--steps must be >= 1 and --warmup >= 0");
  TINYXF_CHECK(s.seq <= s.model.max_position_embeddings, "--seq must be at most ",
               s.model.max_position_embeddings);

  TINYXF_CHECK(options.task == "classify" || options.task == "mlm", "--task must be classify or mlm, got '",
               options.task, "'");
  const bool mlm = options.task == "mlm";
  TINYXF_CHECK(!(mlm && options.full_last_layer), "--full-last-layer is for --task classify");
  TINYXF_CHECK(mlm || !options.dense_mlm_head, "--dense-mlm-head is for --task mlm");

  std::mt19937_64 rng(42);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(s.batch * s.seq)), labels(static_cast<std::size_t>(s.batch));
  std::uniform_int_distribution<std::int64_t> token(1, s.model.vocab_size - 1), label(0, 1);
  for (auto& id : ids) id = token(rng);
  for (auto& l : labels) l = label(rng);
  // MLM: the labelled positions keep their id as the label and read [MASK]; the rest are ignored (-100).
  std::vector<std::int64_t> mlm_labels(ids.size(), -100);
  std::int64_t labelled = 0;
  for (std::int64_t b = 0; mlm && b < s.batch; ++b)
    for (std::int64_t p = 0; p < s.seq; ++p)
      if (mlm_labelled(b, p, s.seq)) {
        const auto i = static_cast<std::size_t>(b * s.seq + p);
        mlm_labels[i] = ids[i], ids[i] = 103, ++labelled;
      }
  const auto input_ids = Tensor::from_vector(ids, {s.batch, s.seq});
  const auto mask = Tensor::ones({s.batch, s.seq}, kInt64);
  const auto targets = mlm ? Tensor::from_vector(mlm_labels, {s.batch, s.seq}) : Tensor::from_vector(labels, {s.batch});

  // One of the two models; the same initialisation seed for either.
  Generator init(1234);
  std::optional<models::DistilBertForSequenceClassification> classifier;
  std::optional<models::DistilBertForMaskedLM> masked_lm;
  models::DistilBertModel* encoder = nullptr;
  std::int64_t params = 0;
  if (mlm) {
    masked_lm.emplace(s.model, init);
    masked_lm->sparse_prediction = !options.dense_mlm_head;
    blas += options.dense_mlm_head ? ", dense MLM head" : ", sparse MLM head";
    encoder = masked_lm->distilbert.get();
    params = masked_lm->num_parameters();
  } else {
    classifier.emplace(s.model, init);
    classifier->last_layer_cls_only = !options.full_last_layer;
    if (options.full_last_layer) blas += ", full last layer";
    encoder = classifier->distilbert.get();
    params = classifier->num_parameters();
  }
  for (auto& layer : *encoder->transformer->layer) layer->attention->fused_qkv = options.fused_qkv;
  if (options.fused_qkv) blas += ", one QKV GEMM";
  const std::string labelled_note = mlm ? " (" + std::to_string(labelled) + " positions labelled)" : "";
  if (!options.tsv)
    std::printf("tinyxf, %s '%s' (dim %lld, %lld layers, %lld heads, FFN %lld), "
                "%lld parameters, batch %lld x seq %lld%s, %d threads, %s, baseline RSS %.1f MiB\n",
                mlm ? "DistilBertForMaskedLM" : "DistilBertForSequenceClassification", options.config.c_str(),
                static_cast<long long>(s.model.dim), static_cast<long long>(s.model.n_layers),
                static_cast<long long>(s.model.n_heads), static_cast<long long>(s.model.hidden_dim),
                static_cast<long long>(params), static_cast<long long>(s.batch), static_cast<long long>(s.seq),
                labelled_note.c_str(), num_threads(), blas.c_str(), baseline_mib);

  const Timing timing =
      mlm ? time_training(*masked_lm, s, autocast, [&] { return masked_lm->forward(input_ids, mask, targets); })
          : time_training(*classifier, s, autocast, [&] { return classifier->forward(input_ids, mask, targets); });
  const double median = timing.median, best = timing.best;
  const float loss = timing.last_loss;
  const double peak_mib = bench::proc_status_mib("VmHWM");
  const double samples = static_cast<double>(s.batch) / median;
  const double tokens = static_cast<double>(s.batch * s.seq) / median;

  if (options.tsv)
    std::printf("%s\ttinyxf\t%.4f\t%.4f\t%.2f\t%.1f\t%.1f\t%.1f\t%lld\t%lld\t%lld\t%d\t%.4f\t%.4f\t%s\n",
                options.config.c_str(), median, best, samples, tokens, peak_mib, baseline_mib,
                static_cast<long long>(params), static_cast<long long>(s.batch), static_cast<long long>(s.seq),
                s.steps, loss, timing.first_loss, blas.c_str());
  else
    std::printf("step median %.4f s, min %.4f s (%d timed after %d warm-up): %.2f samples/s, %.1f tokens/s; "
                "peak RSS %.1f MiB; first loss %.4f, last loss %.4f\n",
                median, best, s.steps, s.warmup, samples, tokens, peak_mib, timing.first_loss, loss);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "tinyxf_bench_train: " << e.what() << '\n';
  return 1;
}
