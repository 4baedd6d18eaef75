#pragma once
// What the MPI tests share: the world's process group (one per test program, created on first
// use; MPI is finalized at exit) and a tiny DistilBERT configuration.
#include <memory>

#include "tinyxf/distributed/mpi.hpp"
#include "tinyxf/models/distilbert/config.hpp"

namespace tinyxf::test {

inline std::shared_ptr<distributed::MpiProcessGroup> world() {
  static auto group = std::make_shared<distributed::MpiProcessGroup>();
  return group;
}

// dim 16, 2 heads, hidden 32: trains in milliseconds; dropout 0 makes ranks and a single-process
// reference draw nothing.
inline models::DistilBertConfig tiny_distilbert(double dropout, std::int64_t n_layers, std::int64_t vocab_size,
                                                std::int64_t max_positions) {
  models::DistilBertConfig c;
  c.vocab_size = vocab_size;
  c.dim = 16;
  c.n_heads = 2;
  c.n_layers = n_layers;
  c.hidden_dim = 32;
  c.max_position_embeddings = max_positions;
  c.dropout = c.attention_dropout = c.seq_classif_dropout = dropout;
  return c;
}

}  // namespace tinyxf::test
