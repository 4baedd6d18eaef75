#pragma once
// torch.optim.lr_scheduler.ReduceLROnPlateau (torch 2.x): lowers every group's lr by `factor`
// once a monitored metric has not improved for more than `patience` steps.
//
// Unlike LambdaLR it is stepped with the metric (scheduler.step(val_loss), once per evaluation)
// and does nothing at construction: no initial step (last_epoch starts at 0), no "initial_lr" in
// the groups, and get_last_lr() is the groups' lrs as found. Each step(metric):
//   better  = mode min: metric < best·(1 − threshold) (rel) or best − threshold (abs);
//             mode max: metric > best·(1 + threshold) (rel) or best + threshold (abs)
//   better ? (best = metric, num_bad_epochs = 0) : ++num_bad_epochs      (a NaN metric is never better)
//   in cooldown (cooldown_counter > 0): --cooldown_counter, num_bad_epochs = 0
//   num_bad_epochs > patience: lr = max(lr·factor, min_lr) per group, skipped where it lowers the
//             lr by eps or less; cooldown_counter = cooldown, num_bad_epochs = 0
//
// The scheduler holds a pointer to the optimizer: it must not outlive it (or a moved-from one).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tinyxf/optim/optimizer.hpp"

namespace tinyxf::optim {

struct ReduceLROnPlateauOptions {
  std::string mode = "min";            // min | max: whether a smaller or a larger metric is better
  double factor = 0.1;                 // new_lr = lr · factor; must be < 1
  std::int64_t patience = 10;          // bad steps tolerated before a reduction
  double threshold = 1e-4;             // how much better counts as better
  std::string threshold_mode = "rel";  // rel | abs
  std::int64_t cooldown = 0;           // steps after a reduction during which bad steps are not counted
  // The lr floor: one for every group, or one per group (torch's float or list).
  std::variant<double, std::vector<double>> min_lr = 0.0;
  double eps = 1e-8;                   // reductions of at most eps are skipped
};

class ReduceLROnPlateau {
 public:
  // One value of state_dict(): torch's None (std::monostate), a number (integers too), a string
  // or a list of numbers.
  using StateValue = std::variant<std::monostate, double, std::string, std::vector<double>>;
  using State = std::map<std::string, StateValue>;

  explicit ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {})
      : optimizer_(&optimizer),
        factor_(options.factor),
        patience_(options.patience),
        cooldown_(options.cooldown),
        eps_(options.eps) {
    check_options(options);
    const std::size_t groups = optimizer.param_groups().size();
    if (const auto* per_group = std::get_if<std::vector<double>>(&options.min_lr)) {
      TINYXF_CHECK_AS(ValueError, per_group->size() == groups, "expected ", groups, " min_lrs, got ",
                      per_group->size());
      min_lrs_ = *per_group;
    } else {
      default_min_lr_ = std::get<double>(options.min_lr);
      min_lrs_.assign(groups, *default_min_lr_);
    }
    last_lr_ = group_lrs();
    init_is_better(options.mode, options.threshold, options.threshold_mode);
    best_ = mode_worse_;
  }

  // torch's checks of factor, mode and threshold_mode, in torch's words (min_lr's count is
  // checked against the optimizer at construction).
  static void check_options(const ReduceLROnPlateauOptions& options) {
    TINYXF_CHECK_AS(ValueError, !(options.factor >= 1.0), "Factor should be < 1.0.");
    check_modes(options.mode, options.threshold_mode);
  }

  // One evaluation's metric (torch's step(metrics)).
  void step(double metric) {
    ++last_epoch_;
    if (is_better(metric, best_)) {
      best_ = metric;
      num_bad_epochs_ = 0;
    } else {
      ++num_bad_epochs_;
    }
    if (in_cooldown()) {
      --cooldown_counter_;
      num_bad_epochs_ = 0;  // bad steps in cooldown are ignored
    }
    if (num_bad_epochs_ > patience_) {
      reduce_lr();
      cooldown_counter_ = cooldown_;
      num_bad_epochs_ = 0;
    }
    last_lr_ = group_lrs();
  }

  // The groups' lrs after the last step (at construction: as found).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  std::int64_t last_epoch() const { return last_epoch_; }  // steps taken
  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::int64_t cooldown_counter() const { return cooldown_counter_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }
  const std::vector<double>& min_lrs() const { return min_lrs_; }
  const std::string& mode() const { return mode_; }

  // torch's state_dict() keys: factor, default_min_lr (None when min_lr was per group), min_lrs,
  // patience, cooldown, eps, last_epoch, _last_lr, mode_worse, mode, threshold, threshold_mode,
  // best, cooldown_counter, num_bad_epochs.
  State state_dict() const {
    State s;
    s["factor"] = factor_;
    s["default_min_lr"] = default_min_lr_ ? StateValue(*default_min_lr_) : StateValue(std::monostate{});
    s["min_lrs"] = min_lrs_;
    s["patience"] = static_cast<double>(patience_);
    s["cooldown"] = static_cast<double>(cooldown_);
    s["eps"] = eps_;
    s["last_epoch"] = static_cast<double>(last_epoch_);
    s["_last_lr"] = last_lr_;
    s["mode_worse"] = mode_worse_;
    s["mode"] = mode_;
    s["threshold"] = threshold_;
    s["threshold_mode"] = threshold_mode_;
    s["best"] = best_;
    s["cooldown_counter"] = static_cast<double>(cooldown_counter_);
    s["num_bad_epochs"] = static_cast<double>(num_bad_epochs_);
    return s;
  }

  // As torch: every key given replaces that attribute (others keep their values), then mode and
  // threshold_mode are checked and mode_worse follows mode. The group lrs are not touched (the
  // optimizer's state_dict holds them). Unlike torch, an unknown key or a value of the wrong
  // type is an error naming it, and nothing changes then.
  void load_state_dict(const State& state) {
    ReduceLROnPlateau next = *this;
    for (const auto& [key, value] : state) {
      if (key == "factor") next.factor_ = number(key, value);
      else if (key == "default_min_lr") next.default_min_lr_ = std::holds_alternative<std::monostate>(value)
                                                               ? std::nullopt : std::optional<double>(number(key, value));
      else if (key == "min_lrs") next.min_lrs_ = numbers(key, value);
      else if (key == "patience") next.patience_ = whole(key, value);
      else if (key == "cooldown") next.cooldown_ = whole(key, value);
      else if (key == "eps") next.eps_ = number(key, value);
      else if (key == "last_epoch") next.last_epoch_ = whole(key, value);
      else if (key == "_last_lr") next.last_lr_ = numbers(key, value);
      else if (key == "mode_worse") next.mode_worse_ = number(key, value);
      else if (key == "mode") next.mode_ = text(key, value);
      else if (key == "threshold") next.threshold_ = number(key, value);
      else if (key == "threshold_mode") next.threshold_mode_ = text(key, value);
      else if (key == "best") next.best_ = number(key, value);
      else if (key == "cooldown_counter") next.cooldown_counter_ = whole(key, value);
      else if (key == "num_bad_epochs") next.num_bad_epochs_ = whole(key, value);
      else throw ValueError(detail::concat("ReduceLROnPlateau::load_state_dict: unknown key '", key, "'"));
    }
    next.init_is_better(next.mode_, next.threshold_, next.threshold_mode_);
    *this = std::move(next);
  }

 private:
  std::vector<double> group_lrs() const {
    std::vector<double> lrs;
    const auto& groups = optimizer_->param_groups();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      TINYXF_CHECK(groups[g].lr.has_value(), "ReduceLROnPlateau: param group ", g, " has no lr");
      lrs.push_back(*groups[g].lr);
    }
    return lrs;
  }

  void reduce_lr() {
    auto& groups = optimizer_->param_groups();
    if (groups.size() != min_lrs_.size()) {
      TINYXF_CHECK(default_min_lr_.has_value(), "The number of param groups in the `optimizer` (", groups.size(),
                   ") differs from when `ReduceLROnPlateau` was initialized (", min_lrs_.size(),
                   "), usually due to a new param group being added to the optimizer. Please modify the `min_lrs` "
                   "field to match the length of the `optimizer` param groups.");
      min_lrs_.assign(groups.size(), *default_min_lr_);
    }
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const double old_lr = *groups[g].lr;
      const double new_lr = std::max(old_lr * factor_, min_lrs_[g]);  // Python's max: NaN·factor stays NaN
      if (old_lr - new_lr > eps_) groups[g].lr = new_lr;
    }
  }

  bool is_better(double a, double best) const {
    if (mode_ == "min" && threshold_mode_ == "rel") return a < best * (1.0 - threshold_);
    if (mode_ == "min") return a < best - threshold_;
    if (threshold_mode_ == "rel") return a > best * (threshold_ + 1.0);
    return a > best + threshold_;
  }

  void init_is_better(const std::string& mode, double threshold, const std::string& threshold_mode) {
    check_modes(mode, threshold_mode);
    mode_worse_ = mode == "min" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
    mode_ = mode;
    threshold_ = threshold;
    threshold_mode_ = threshold_mode;
  }

  static void check_modes(const std::string& mode, const std::string& threshold_mode) {
    TINYXF_CHECK_AS(ValueError, mode == "min" || mode == "max", "mode ", mode, " is unknown!");
    TINYXF_CHECK_AS(ValueError, threshold_mode == "rel" || threshold_mode == "abs", "threshold mode ", threshold_mode,
                    " is unknown!");
  }

  static const char* kind_of(const StateValue& v) {
    switch (v.index()) {
      case 0: return "None";
      case 1: return "a number";
      case 2: return "a string";
      default: return "a list";
    }
  }
  static double number(const std::string& key, const StateValue& v) {
    const double* d = std::get_if<double>(&v);
    TINYXF_CHECK_AS(ValueError, d != nullptr, "ReduceLROnPlateau::load_state_dict: '", key,
                    "' must be a number, got ", kind_of(v));
    return *d;
  }
  static std::int64_t whole(const std::string& key, const StateValue& v) {
    const double d = number(key, v);
    TINYXF_CHECK_AS(ValueError, d == std::floor(d) && std::abs(d) < 9.0e15, "ReduceLROnPlateau::load_state_dict: '",
                    key, "' must be a whole number, got ", d);
    return static_cast<std::int64_t>(d);
  }
  static std::vector<double> numbers(const std::string& key, const StateValue& v) {
    const auto* list = std::get_if<std::vector<double>>(&v);
    TINYXF_CHECK_AS(ValueError, list != nullptr, "ReduceLROnPlateau::load_state_dict: '", key,
                    "' must be a list of numbers, got ", kind_of(v));
    return *list;
  }
  static std::string text(const std::string& key, const StateValue& v) {
    const auto* s = std::get_if<std::string>(&v);
    TINYXF_CHECK_AS(ValueError, s != nullptr, "ReduceLROnPlateau::load_state_dict: '", key,
                    "' must be a string, got ", kind_of(v));
    return *s;
  }

  Optimizer* optimizer_;
  double factor_;
  std::optional<double> default_min_lr_;  // torch's None when min_lr was given per group
  std::vector<double> min_lrs_;
  std::int64_t patience_;
  std::int64_t cooldown_;
  double eps_;
  std::int64_t last_epoch_ = 0;
  std::vector<double> last_lr_;
  double mode_worse_ = 0;
  std::string mode_;
  double threshold_ = 0;
  std::string threshold_mode_;
  double best_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::int64_t num_bad_epochs_ = 0;
};

}  // namespace tinyxf::optim
