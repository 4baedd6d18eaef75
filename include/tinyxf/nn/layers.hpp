#pragma once
// Layers with PyTorch's names, shapes and default initializations.
#include <cmath>
#include <optional>

#include "tinyxf/nn/init.hpp"

namespace tinyxf::nn {

// A module mapping one float tensor to another (what Sequential chains).
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// y = x Wᵀ + b; weight [out, in]; init U(±1/sqrt(in)) as torch.nn.Linear.
class Linear : public UnaryModule {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true,
         Generator& gen = default_generator())
      : in_features(in_features), out_features(out_features) {
    weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
    if (bias) this->bias = register_parameter("bias", Tensor::empty({out_features}));
    init::linear_default_(weight, bias ? &this->bias : nullptr, gen);
  }
  Tensor forward(const Tensor& x) override { return linear(x, weight, bias); }

  std::int64_t in_features, out_features;
  Tensor weight, bias;
};

// Lookup table; init N(0, 1) with the padding row zeroed, as torch.nn.Embedding. padding_idx:
// none (std::nullopt) or a row in [-num_embeddings, num_embeddings), a negative one counting from
// the end; it is stored as the non-negative row, as torch stores it.
class Embedding : public Module {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t embedding_dim,
            std::optional<std::int64_t> padding_idx = std::nullopt, Generator& gen = default_generator())
      : num_embeddings(num_embeddings),
        embedding_dim(embedding_dim),
        padding_idx(ops_detail::resolve_padding_idx(padding_idx, num_embeddings, "Embedding")) {
    weight = register_parameter("weight", Tensor::empty({num_embeddings, embedding_dim}));
    reset_parameters(1.0, gen);
  }
  // N(0, std) with the padding row zeroed.
  void reset_parameters(double std, Generator& gen = default_generator()) {
    init::normal_(weight, 0.0, std, gen);
    zero_padding_row();
  }
  void zero_padding_row() {
    if (!padding_idx) return;
    init::after_init(weight, [row = *padding_idx](Tensor& w) { w.narrow(0, row, 1).zero_(); });
  }
  Tensor forward(const Tensor& ids) { return embedding(ids, weight, padding_idx); }
  Tensor operator()(const Tensor& ids) { return forward(ids); }

  std::int64_t num_embeddings, embedding_dim;
  std::optional<std::int64_t> padding_idx;
  Tensor weight;
};

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : normalized_shape(std::move(normalized_shape)), eps(eps) {
    if (elementwise_affine) {
      weight = register_parameter("weight", Tensor::ones(this->normalized_shape));
      bias = register_parameter("bias", Tensor::zeros(this->normalized_shape));
    }
  }
  LayerNorm(std::int64_t dim, double eps = 1e-5) : LayerNorm(Shape{dim}, eps) {}
  Tensor forward(const Tensor& x) override {
    return layer_norm(x, normalized_shape, weight, bias, eps);
  }

  Shape normalized_shape;
  double eps;
  Tensor weight, bias;
};

// Active only in training mode; its randomness comes from `generator` (default: the global one).
class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5) : p(p) {
    TINYXF_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability must be in [0, 1], got ", p);
  }
  Tensor forward(const Tensor& x) override {
    return dropout(x, p, is_training(), generator ? *generator : default_generator());
  }
  double p;
  Generator* generator = nullptr;
};

class ReLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class GELU : public UnaryModule {
 public:
  explicit GELU(std::string approximate = "none") : approximate(std::move(approximate)) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approximate); }
  std::string approximate;
};

// Children named "0", "1", ... as torch.nn.ModuleList.
template <class M = Module>
class ModuleList : public Module {
 public:
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    register_module(std::to_string(items_.size()), m);
    items_.push_back(m);
    return m;
  }
  std::size_t size() const { return items_.size(); }
  const std::shared_ptr<M>& operator[](std::size_t i) const {
    TINYXF_CHECK(i < items_.size(), "ModuleList: index ", i, " out of range (size ", items_.size(), ")");
    return items_[i];
  }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<UnaryModule>> modules) {
    for (auto& m : modules) push_back(m);
  }
  void push_back(std::shared_ptr<UnaryModule> m) {
    register_module(std::to_string(items_.size()), m);
    items_.push_back(std::move(m));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = x;
    for (auto& m : items_) y = m->forward(y);
    return y;
  }
  std::size_t size() const { return items_.size(); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> items_;
};

}  // namespace tinyxf::nn
