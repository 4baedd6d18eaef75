#pragma once
// A small line-chart writer for training curves, in plain SVG (no dependencies): one x axis
// (steps), a left y axis (loss) and an optional right y axis (accuracy), ticks at "nice" values,
// axis labels, a title and a legend. training_curve_plot() builds the Trainer's picture from its
// log history: training loss and evaluation loss on the left, evaluation accuracy on the right.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tinyxf/io/atomic_file.hpp"
#include "tinyxf/io/json.hpp"

namespace tinyxf::train {

struct PlotSeries {
  std::string label;
  std::string color = "#1f77b4";  // any SVG colour
  std::vector<double> x, y;       // same length; non-finite points are left out
  bool right_axis = false;
  bool markers = false;           // a dot on every point (sparse series such as evaluations)
  bool dashed = false;
};

struct CurvePlot {
  std::string title = "Training curve";
  std::string x_label = "step";
  std::string left_label = "loss";
  std::string right_label = "accuracy";
  std::vector<PlotSeries> series;
  std::optional<double> x_max;                         // e.g. the run's total steps
  std::optional<std::pair<double, double>> right_clamp;  // the right axis never leaves this range
  int width = 800, height = 450;
};

// Tick positions covering [lo, hi] with steps of 1, 2 or 5 times a power of ten.
struct Ticks {
  double lo = 0, hi = 1, step = 1;
  std::vector<double> values;
};

inline Ticks nice_ticks(double lo, double hi, int target_count = 5) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {  // a flat series: give it some room
    const double pad = std::abs(lo) > 0 ? std::abs(lo) * 0.1 : 1.0;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target_count);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double residual = raw / magnitude;
  const double step = (residual < 1.5 ? 1 : residual < 3 ? 2 : residual < 7 ? 5 : 10) * magnitude;
  Ticks t;
  t.step = step;
  t.lo = std::floor(lo / step + 1e-9) * step;
  t.hi = std::ceil(hi / step - 1e-9) * step;
  const auto count = static_cast<std::int64_t>(std::llround((t.hi - t.lo) / step));
  for (std::int64_t i = 0; i <= count; ++i) {
    const double v = t.lo + static_cast<double>(i) * step;
    t.values.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);  // no "-0.0" labels
  }
  return t;
}

namespace svg_detail {
inline std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}
inline std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}
// A tick label with as many decimals as the tick step needs.
inline std::string tick_label(double v, double step) {
  const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 8);
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}
inline std::pair<double, double> data_range(const std::vector<PlotSeries>& series, bool right, bool use_x) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series) {
    if (s.right_axis != right && !use_x) continue;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const double v = use_x ? s.x[i] : s.y[i];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  return {lo, hi};
}
}  // namespace svg_detail

inline std::string render_svg(const CurvePlot& plot) {
  using namespace svg_detail;
  const bool has_right = std::any_of(plot.series.begin(), plot.series.end(), [](const PlotSeries& s) { return s.right_axis; });
  const double W = plot.width, H = plot.height;
  const double left = 72, right = has_right ? 72 : 24, top = 64, bottom = 56;
  const double pw = W - left - right, ph = H - top - bottom;

  // x axis: from 0 to the last step (or the planned total).
  auto [x_lo, x_hi] = data_range(plot.series, false, true);
  if (!std::isfinite(x_hi)) x_hi = 1;
  if (plot.x_max) x_hi = std::max(x_hi, *plot.x_max);
  const Ticks xt = nice_ticks(0.0, std::max(x_hi, 1.0), 8);
  // Left axis from 0 (losses are non-negative; a zero baseline keeps their scale honest).
  auto [l_lo, l_hi] = data_range(plot.series, false, false);
  if (!std::isfinite(l_lo)) l_lo = 0, l_hi = 1;
  // 4% headroom so the highest point does not run along the frame.
  const Ticks lt = nice_ticks(std::min(0.0, l_lo), l_hi + 0.04 * (l_hi - std::min(0.0, l_lo)), 5);
  Ticks rt;
  if (has_right) {
    auto [r_lo, r_hi] = data_range(plot.series, true, false);
    if (!std::isfinite(r_lo)) r_lo = 0, r_hi = 1;
    const double pad = 0.04 * (r_hi - r_lo);
    rt = nice_ticks(r_lo - pad, r_hi + pad, 5);
    if (plot.right_clamp) {
      rt.lo = std::max(rt.lo, plot.right_clamp->first);
      rt.hi = std::min(rt.hi, plot.right_clamp->second);
      std::erase_if(rt.values, [&](double v) { return v < rt.lo - 1e-9 || v > rt.hi + 1e-9; });
    }
  }
  auto px = [&](double x) { return left + (x - xt.lo) / (xt.hi - xt.lo) * pw; };
  auto py = [&](double y, const Ticks& t) { return top + ph - (y - t.lo) / (t.hi - t.lo) * ph; };

  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) +
       "\" viewBox=\"0 0 " + num(W) + " " + num(H) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + num(W) + "\" height=\"" + num(H) + "\" fill=\"white\"/>\n";
  s += "<text x=\"" + num(W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">" + escape(plot.title) + "</text>\n";

  // Grid and ticks.
  s += "<g class=\"axes\" stroke=\"#333\" stroke-width=\"1\">\n";
  for (double v : lt.values) {
    const double y = py(v, lt);
    s += "<line x1=\"" + num(left) + "\" y1=\"" + num(y) + "\" x2=\"" + num(left + pw) + "\" y2=\"" + num(y) +
         "\" stroke=\"#e5e5e5\"/>\n";
    s += "<line x1=\"" + num(left - 5) + "\" y1=\"" + num(y) + "\" x2=\"" + num(left) + "\" y2=\"" + num(y) + "\"/>\n";
  }
  for (double v : xt.values) {
    const double x = px(v);
    s += "<line x1=\"" + num(x) + "\" y1=\"" + num(top + ph) + "\" x2=\"" + num(x) + "\" y2=\"" + num(top + ph + 5) + "\"/>\n";
  }
  for (double v : rt.values) {
    const double y = py(v, rt);
    s += "<line x1=\"" + num(left + pw) + "\" y1=\"" + num(y) + "\" x2=\"" + num(left + pw + 5) + "\" y2=\"" + num(y) + "\"/>\n";
  }
  s += "<rect x=\"" + num(left) + "\" y=\"" + num(top) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\"/>\n";
  s += "</g>\n";

  // Tick labels and axis titles.
  s += "<g class=\"labels\" fill=\"#333\">\n";
  for (double v : lt.values)
    s += "<text x=\"" + num(left - 8) + "\" y=\"" + num(py(v, lt) + 4) + "\" text-anchor=\"end\">" +
         tick_label(v, lt.step) + "</text>\n";
  for (double v : xt.values)
    s += "<text x=\"" + num(px(v)) + "\" y=\"" + num(top + ph + 19) + "\" text-anchor=\"middle\">" +
         tick_label(v, xt.step) + "</text>\n";
  for (double v : rt.values)
    s += "<text x=\"" + num(left + pw + 8) + "\" y=\"" + num(py(v, rt) + 4) + "\" text-anchor=\"start\">" +
         tick_label(v, rt.step) + "</text>\n";
  s += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(H - 12) + "\" text-anchor=\"middle\">" +
       escape(plot.x_label) + "</text>\n";
  s += "<text transform=\"translate(18 " + num(top + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       escape(plot.left_label) + "</text>\n";
  if (has_right)
    s += "<text transform=\"translate(" + num(W - 16) + " " + num(top + ph / 2) + ") rotate(90)\" text-anchor=\"middle\">" +
         escape(plot.right_label) + "</text>\n";
  s += "</g>\n";

  // The series.
  bool any_point = false;
  for (const auto& series : plot.series) {
    const Ticks& t = series.right_axis ? rt : lt;
    std::string points, dots;
    for (std::size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
      const double x = series.x[i], y = series.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const double cy = std::clamp(py(y, t), top, top + ph);
      points += (points.empty() ? "" : " ") + num(px(x)) + "," + num(cy);
      if (series.markers || series.x.size() == 1)
        dots += "<circle cx=\"" + num(px(x)) + "\" cy=\"" + num(cy) + "\" r=\"3\" fill=\"" + escape(series.color) + "\"/>\n";
      any_point = true;
    }
    s += "<g class=\"series\" data-label=\"" + escape(series.label) + "\" data-axis=\"" +
         (series.right_axis ? "right" : "left") + "\">\n";
    s += "<polyline fill=\"none\" stroke=\"" + escape(series.color) + "\" stroke-width=\"1.8\"" +
         (series.dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" + points + "\"/>\n";
    s += dots;
    s += "</g>\n";
  }
  if (!any_point)
    s += "<text x=\"" + num(left + pw / 2) + "\" y=\"" + num(top + ph / 2) +
         "\" text-anchor=\"middle\" fill=\"#999\">no data yet</text>\n";

  // Legend, in the top margin.
  s += "<g class=\"legend\">\n";
  double lx = left;
  for (const auto& series : plot.series) {
    const std::string label = series.label + (series.right_axis ? " (right axis)" : "");
    s += "<line x1=\"" + num(lx) + "\" y1=\"44\" x2=\"" + num(lx + 22) + "\" y2=\"44\" stroke=\"" +
         escape(series.color) + "\" stroke-width=\"2.5\"" + (series.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
    s += "<text x=\"" + num(lx + 28) + "\" y=\"48\">" + escape(label) + "</text>\n";
    lx += 48 + 7.0 * static_cast<double>(label.size());
  }
  s += "</g>\n";
  s += "</svg>\n";
  return s;
}

// The Trainer's picture from log_history entries ({"step", "loss"} for training logs,
// {"step", "eval_loss", "eval_accuracy", ...} for evaluations).
inline CurvePlot training_curve_plot(const json::Array& log_history, std::optional<double> total_steps = {}) {
  CurvePlot plot;
  plot.x_max = total_steps;
  plot.right_clamp = std::pair{0.0, 1.0};
  auto series = [](const char* label, const char* color, bool right_axis, bool sparse) {
    PlotSeries s;
    s.label = label;
    s.color = color;
    s.right_axis = right_axis;
    s.markers = sparse;  // evaluations are few: show each one
    s.dashed = sparse && !right_axis;
    return s;
  };
  PlotSeries loss = series("training loss", "#1f77b4", false, false);
  PlotSeries eval_loss = series("validation loss", "#ff7f0e", false, true);
  PlotSeries eval_accuracy = series("validation accuracy", "#2ca02c", true, true);
  auto take = [](const json::Value& entry, const char* key, PlotSeries& series) {
    const json::Value* step = entry.find("step");
    const json::Value* value = entry.find(key);
    if (!step || !value || !step->is_number()) return;
    series.x.push_back(step->as_double());
    series.y.push_back(value->is_number() ? value->as_double() : std::numeric_limits<double>::quiet_NaN());
  };
  for (const auto& entry : log_history) {
    take(entry, "loss", loss);
    take(entry, "eval_loss", eval_loss);
    take(entry, "eval_accuracy", eval_accuracy);
  }
  plot.series.push_back(std::move(loss));
  if (!eval_loss.x.empty()) plot.series.push_back(std::move(eval_loss));
  if (!eval_accuracy.x.empty()) plot.series.push_back(std::move(eval_accuracy));
  return plot;
}

inline void write_svg(const std::filesystem::path& path, const CurvePlot& plot) {
  io::write_file_atomic(path, render_svg(plot));
}

}  // namespace tinyxf::train
