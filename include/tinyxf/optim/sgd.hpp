#pragma once
// SGD with momentum, dampening, Nesterov momentum and L2 weight decay: torch.optim.SGD.
// For a parameter θ with gradient g (parameters without a gradient are skipped):
//   d = g + wd·θ
//   if momentum ≠ 0:  b = d at the parameter's first update, else b = momentum·b + (1−dampening)·d
//                     d = nesterov ? d + momentum·b : b
//   θ -= lr·d
// The update runs on the parameter's device through Backend::sgd_step.
#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::optim {

struct SgdOptions {
  double lr = 1e-3;  // torch >= 2.2's default (torch 1.13 has none)
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<Tensor> params, SgdOptions options = {})
      : SGD(std::vector<ParamGroup>{ParamGroup{std::move(params), {}, {}, {}}}, options) {}
  explicit SGD(std::vector<ParamGroup> groups, SgdOptions options = {})
      : Optimizer(options.lr, options.weight_decay), options_(validated(options)) {
    adopt_param_groups(std::move(groups));
  }

  std::string_view kind() const override { return "SGD"; }
  // The defaults for groups without their own lr/weight_decay; momentum, dampening and nesterov
  // apply to every group.
  const SgdOptions& options() const { return options_; }

  void step() override {
    for_each_param_with_grad([&](const ParamGroup& group, const Tensor& param, const Tensor& grad) {
      SgdArgs args;
      args.lr = *group.lr;
      args.momentum = options_.momentum;
      args.dampening = options_.dampening;
      args.weight_decay = *group.weight_decay;
      args.nesterov = options_.nesterov;
      KernelView momentum_buffer{};  // no buffer without momentum
      if (options_.momentum != 0.0) {
        bool created = false;
        ParamState& st = state_for(param, created);
        args.first_step = created;
        momentum_buffer = view_of(st.buffers[0]);
      }
      if (param.numel() == 0) return;
      param.impl()->backend().sgd_step(view_of(kernel_param(param)), view_of(grad), momentum_buffer, args);
      param.impl()->bump_version();
    });
    finish_reduced();
  }

 protected:
  std::vector<std::string> buffer_names() const override {
    if (options_.momentum == 0.0) return {};
    return {"momentum_buffer"};
  }
  bool counts_steps() const override { return false; }
  std::vector<std::string> hyperparameter_keys() const override {
    return {"momentum", "dampening", "nesterov"};
  }
  void save_hyperparameters(std::map<std::string, double>& scalars) const override {
    scalars["momentum"] = options_.momentum;
    scalars["dampening"] = options_.dampening;
    scalars["nesterov"] = options_.nesterov ? 1.0 : 0.0;
  }
  void load_hyperparameters(const std::map<std::string, double>& scalars) override {
    SgdOptions loaded = options_;
    auto read = [&](const char* key) {
      auto it = scalars.find(key);
      TINYXF_CHECK(it != scalars.end(), "load_state_dict: the SGD state has no scalar '", key, "'");
      return it->second;
    };
    loaded.momentum = read("momentum");
    loaded.dampening = read("dampening");
    const double nesterov = read("nesterov");
    TINYXF_CHECK(nesterov == 0.0 || nesterov == 1.0, "load_state_dict: 'nesterov' must be 0 or 1, got ",
                 nesterov);
    loaded.nesterov = nesterov == 1.0;
    options_ = validated(loaded);
  }

 private:
  static SgdOptions validated(const SgdOptions& o) {
    TINYXF_CHECK(o.lr >= 0.0 && std::isfinite(o.lr), "SGD: invalid learning rate ", o.lr,
                 " (must be finite and >= 0)");
    TINYXF_CHECK(o.momentum >= 0.0 && std::isfinite(o.momentum), "SGD: invalid momentum value ",
                 o.momentum, " (must be finite and >= 0)");
    TINYXF_CHECK(std::isfinite(o.dampening), "SGD: invalid dampening value ", o.dampening);
    TINYXF_CHECK(o.weight_decay >= 0.0 && std::isfinite(o.weight_decay),
                 "SGD: invalid weight_decay value ", o.weight_decay, " (must be finite and >= 0)");
    TINYXF_CHECK(!o.nesterov || (o.momentum > 0.0 && o.dampening == 0.0),
                 "SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ",
                 o.momentum, ", dampening ", o.dampening, ")");
    return o;
  }

  SgdOptions options_;
};

}  // namespace tinyxf::optim
