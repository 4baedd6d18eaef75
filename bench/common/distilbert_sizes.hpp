#pragma once
// The named DistilBERT model sizes of the benchmarks (include as "../common/distilbert_sizes.hpp");
// bench/common/torch_distilbert.py's MODEL_SIZES has the same names and numbers for the Python
// sides. All have vocab 30522, 512 positions and 2 labels.
//   base    distilbert-base: dim 768, 6 layers, 12 heads, FFN 3072 (66,955,010 parameters)
//   minilm  all-MiniLM-L6-v2's shape, the flagship's pretrained default: dim 384, 6 layers, 12 heads,
//           FFN 1536
//   small   the flagship's from-scratch default: dim 128, 2 layers, 4 heads, FFN 512
//   tiny    dim 32, 1 layer, 2 heads, FFN 64 (a smoke test)
#include <string>

#include "tinyxf/core/error.hpp"
#include "tinyxf/models/distilbert/config.hpp"

namespace tinyxf::bench {

inline models::DistilBertConfig distilbert_sizes(const std::string& name) {
  models::DistilBertConfig c;  // transformers' defaults: distilbert-base
  if (name == "minilm") {
    c.dim = 384, c.n_layers = 6, c.n_heads = 12, c.hidden_dim = 1536;
  } else if (name == "small") {
    c.dim = 128, c.n_layers = 2, c.n_heads = 4, c.hidden_dim = 512;
  } else if (name == "tiny") {
    c.dim = 32, c.n_layers = 1, c.n_heads = 2, c.hidden_dim = 64;
  } else {
    TINYXF_CHECK(name == "base", "--config must be base, minilm, small or tiny, got '", name, "'");
  }
  c.vocab_size = 30522;
  c.max_position_embeddings = 512;
  c.num_labels = 2;
  return c;
}

}  // namespace tinyxf::bench
