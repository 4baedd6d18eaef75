#pragma once
// Adam and AdamW with PyTorch's exact rules (torch.optim.Adam / torch.optim.AdamW, amsgrad off,
// maximize off). For a parameter θ with gradient g and the group's current lr and weight decay λ
// (parameters without a gradient are skipped entirely: no decay, no step increment):
//   t += 1                                    (per parameter)
//   Adam:   g = g + λ·θ                       (L2 penalty folded into the gradient)
//   AdamW:  θ = θ·(1 − lr·λ)                  (decoupled decay, applied first)
//   m = β1·m + (1−β1)·g ;  v = β2·v + (1−β2)·g²
//   θ -= (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + ε)
// The update runs on the parameter's device through Backend::adam_step.
#include <algorithm>
#include <utility>

#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::optim {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// AdamW's defaults differ from Adam's only in weight_decay (torch: 1e-2).
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<Tensor> params, AdamOptions options = {})
      : Adam(single_group(std::move(params)), options, false) {}
  explicit Adam(std::vector<ParamGroup> groups, AdamOptions options = {})
      : Adam(std::move(groups), options, false) {}

  std::string_view kind() const override { return decoupled_ ? "AdamW" : "Adam"; }
  // The defaults for groups without their own lr/weight_decay; betas and eps apply to every group.
  const AdamOptions& options() const { return options_; }

  // Folds when every gradient is float32/float64 (as its parameter) on a backend whose adam_step
  // takes AdamArgs::grad_coef; otherwise (16-bit gradients are rounded to their dtype by
  // `g *= coef`) the caller scales them itself.
  bool fold_grad_coef_into_next_step(double coef) override {
    for (const ParamGroup& group : param_groups())
      for (const Tensor& p : group.params) {
        const Tensor g = p.grad();
        if (!g.defined()) continue;
        if ((g.dtype() != kFloat32 && g.dtype() != kFloat64) || g.dtype() != p.dtype() ||
            !p.impl()->backend().supports_adam_grad_coef())
          return false;
      }
    grad_coef_ = coef;
    return true;
  }

  // All parameters go to their backend in one multi_tensor_adam_step call (a run per device),
  // which the cpu backend spreads over its threads as one range of elements.
  void step() override {
    const double grad_coef = std::exchange(grad_coef_, 1.0);  // for this step only
    Backend* backend = nullptr;
    auto flush = [&] {
      if (!batch_.empty()) backend->multi_tensor_adam_step(batch_);
      batch_.clear();
      grads_.clear();
    };
    try {
      step_each(grad_coef, [&](Backend& b, const AdamParamViews& views, const Tensor& grad) {
        // A parameter listed twice must see its first update before its second.
        const bool repeated = std::any_of(batch_.begin(), batch_.end(),
                                          [&](const AdamParamViews& e) { return e.param.data == views.param.data; });
        if (&b != backend || repeated) flush();
        backend = &b;
        batch_.push_back(views);
        grads_.push_back(grad);  // keeps a contiguous copy of a strided gradient alive until the flush
      });
    } catch (...) {
      flush();  // the parameters before the error are updated, as when each one ran on its own
      finish_reduced();
      throw;
    }
    flush();
    finish_reduced();
  }

 private:
  template <class Fn>
  void step_each(double grad_coef, Fn&& fn) {
    for_each_param_with_grad([&](const ParamGroup& group, const Tensor& param, const Tensor& grad) {
      bool created = false;
      ParamState& st = state_for(param, created);
      st.step += 1;
      AdamArgs args;
      args.lr = *group.lr;
      args.beta1 = options_.beta1;
      args.beta2 = options_.beta2;
      args.eps = options_.eps;
      args.weight_decay = *group.weight_decay;
      args.decoupled_weight_decay = decoupled_;
      args.step = st.step;
      args.grad_coef = grad_coef;
      if (param.numel() == 0) return;
      param.impl()->bump_version();  // updated in place by the (batched) step below
      fn(param.impl()->backend(),
         AdamParamViews{view_of(kernel_param(param)), view_of(grad), view_of(st.buffers[0]), view_of(st.buffers[1]),
                        args},
         grad);
    });
  }
  // Reused by every step (cleared after each flush, capacity kept): no allocation once warm.
  std::vector<AdamParamViews> batch_;
  std::vector<Tensor> grads_;
  double grad_coef_ = 1.0;  // fold_grad_coef_into_next_step's coefficient, until the next step()

 protected:
  Adam(std::vector<ParamGroup> groups, AdamOptions options, bool decoupled)
      : Optimizer(options.lr, options.weight_decay), decoupled_(decoupled) {
    options_ = validated(options);
    adopt_param_groups(std::move(groups));
  }

  static std::vector<ParamGroup> single_group(std::vector<Tensor> params) {
    return {ParamGroup{std::move(params), {}, {}, {}}};
  }

  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  bool counts_steps() const override { return true; }
  std::vector<std::string> hyperparameter_keys() const override { return {"beta1", "beta2", "eps"}; }
  void save_hyperparameters(std::map<std::string, double>& scalars) const override {
    scalars["beta1"] = options_.beta1;
    scalars["beta2"] = options_.beta2;
    scalars["eps"] = options_.eps;
  }
  void load_hyperparameters(const std::map<std::string, double>& scalars) override {
    AdamOptions loaded = options_;
    auto read = [&](const char* key) {
      auto it = scalars.find(key);
      TINYXF_CHECK(it != scalars.end(), "load_state_dict: the ", kind(), " state has no scalar '",
                   key, "'");
      return it->second;
    };
    loaded.beta1 = read("beta1");
    loaded.beta2 = read("beta2");
    loaded.eps = read("eps");
    options_ = validated(loaded);
  }

 private:
  AdamOptions validated(const AdamOptions& o) const {
    TINYXF_CHECK(o.lr >= 0.0 && std::isfinite(o.lr), kind(), ": invalid learning rate ", o.lr,
                 " (must be finite and >= 0)");
    TINYXF_CHECK(o.eps >= 0.0 && std::isfinite(o.eps), kind(), ": invalid epsilon value ", o.eps,
                 " (must be finite and >= 0)");
    TINYXF_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0, kind(), ": invalid beta1 ", o.beta1,
                 " (must be in [0, 1))");
    TINYXF_CHECK(o.beta2 >= 0.0 && o.beta2 < 1.0, kind(), ": invalid beta2 ", o.beta2,
                 " (must be in [0, 1))");
    TINYXF_CHECK(o.weight_decay >= 0.0 && std::isfinite(o.weight_decay), kind(),
                 ": invalid weight_decay value ", o.weight_decay, " (must be finite and >= 0)");
    return o;
  }

  bool decoupled_;
  AdamOptions options_;
};

class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {})
      : Adam(single_group(std::move(params)), as_adam(options), true) {}
  explicit AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {})
      : Adam(std::move(groups), as_adam(options), true) {}

 private:
  static AdamOptions as_adam(const AdamWOptions& o) {
    return AdamOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
  }
};

}  // namespace tinyxf::optim
