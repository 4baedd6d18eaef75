#pragma once
// Training progress on stderr.
//   bar     a live line redrawn in place with '\r' (step/total, loss, lr, samples/s, elapsed and
//           ETA); log and eval events are printed above it, like tqdm under Hugging Face.
//   lines   one plain line per log or eval event (every logging_steps), for logs and pipes.
//   silent  nothing.
// TrainingArguments::progress picks one: "auto" = bar when stderr is a terminal, else lines;
// "on" = bar; "off" = lines; "silent".
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>

#include "tinyxf/core/error.hpp"
#include "tinyxf/io/json.hpp"

namespace tinyxf::train {

enum class ProgressStyle { bar, lines, silent };

inline ProgressStyle resolve_progress_style(const std::string& mode, bool stderr_is_terminal) {
  if (mode == "auto") return stderr_is_terminal ? ProgressStyle::bar : ProgressStyle::lines;
  if (mode == "on") return ProgressStyle::bar;
  if (mode == "off") return ProgressStyle::lines;
  if (mode == "silent") return ProgressStyle::silent;
  throw Error("progress: expected auto, on, off or silent, got \"" + mode + "\"");
}

inline bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

// "MM:SS", or "H:MM:SS" from an hour on; "--:--" when unknown (negative or not finite).
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = static_cast<std::int64_t>(seconds + 0.5);
  const std::int64_t h = total / 3600, m = total / 60 % 60, s = total % 60;
  char buffer[48];
  if (h > 0)
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", static_cast<long long>(h), static_cast<long long>(m),
                  static_cast<long long>(s));
  else
    std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", static_cast<long long>(m), static_cast<long long>(s));
  return buffer;
}

// A metric value for humans: learning rates in scientific notation, counts as integers, the
// rest with four significant decimals.
inline std::string format_metric(const std::string& key, double value) {
  char buffer[64];
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  if (key.find("learning_rate") != std::string::npos || key == "lr")
    std::snprintf(buffer, sizeof buffer, "%.3e", value);
  else if (key == "step" || key.ends_with("_steps"))
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
  else if (key.ends_with("per_second") || key.ends_with("runtime"))
    std::snprintf(buffer, sizeof buffer, "%.2f", value);
  else if (key == "epoch")
    std::snprintf(buffer, sizeof buffer, "%.2f", value);
  else
    std::snprintf(buffer, sizeof buffer, "%.4f", value);
  return buffer;
}

class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;

  // total_steps: the run's T; first_step: the global step it starts from (non-zero on resume,
  // so rates and the ETA count only this process's steps).
  ProgressReporter(ProgressStyle style, std::int64_t total_steps, std::int64_t first_step,
                   std::ostream& out = std::cerr)
      : style_(style), out_(&out), total_(total_steps), first_step_(first_step), step_(first_step),
        start_(Clock::now()) {}

  ProgressStyle style() const { return style_; }
  // The run's T changed (a time budget's plan).
  void set_total_steps(std::int64_t total_steps) { total_ = total_steps; }

  // After every optimizer step: the window's mean loss so far, the lr of the next update and the
  // samples of this step. Redraws the bar at most every 0.1 s (and always on the last step).
  void on_step(std::int64_t global_step, double loss, double learning_rate, std::int64_t samples) {
    step_ = global_step;
    samples_ += samples;
    loss_ = loss;
    learning_rate_ = learning_rate;
    if (style_ != ProgressStyle::bar) return;
    const auto now = Clock::now();
    if (global_step < total_ && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw_bar();
  }

  // A log or evaluation event (a log_history entry, with "step"). In bar mode it goes above the bar.
  void on_log(const json::Value& entry) {
    if (style_ == ProgressStyle::silent) return;
    std::string line = describe(entry);
    if (style_ == ProgressStyle::bar) {
      clear_bar();
      *out_ << line << '\n';
      draw_bar();
    } else {
      *out_ << line << '\n';
    }
    out_->flush();
  }

  // Free text (e.g. "resuming from ..."), kept clear of the bar.
  void message(const std::string& text) {
    if (style_ == ProgressStyle::silent) return;
    clear_bar();
    *out_ << text << '\n';
    if (style_ == ProgressStyle::bar && drawn_) draw_bar();
    out_->flush();
  }

  // Ends the bar's line so later output starts on a fresh one.
  void finish() {
    if (style_ == ProgressStyle::bar && drawn_) {
      draw_bar();
      *out_ << '\n';
      out_->flush();
      drawn_ = false;
    }
  }

  double elapsed_seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  double samples_per_second() const {
    const double s = elapsed_seconds();
    return s > 0 ? static_cast<double>(samples_) / s : 0.0;
  }
  // Remaining time at this process's mean step time; negative when unknown.
  double eta_seconds() const {
    const std::int64_t done = step_ - first_step_;
    if (done <= 0) return -1;
    return elapsed_seconds() / static_cast<double>(done) * static_cast<double>(total_ - step_);
  }

  // The text of the live bar (without '\r'), at most `width` characters.
  std::string bar_text(std::size_t width) const {
    const double fraction = total_ > 0 ? std::min(1.0, static_cast<double>(step_) / static_cast<double>(total_)) : 0;
    char head[64], tail[160];
    std::snprintf(head, sizeof head, "%lld/%lld ", static_cast<long long>(step_), static_cast<long long>(total_));
    std::snprintf(tail, sizeof tail, " %3.0f%% | loss %s | lr %s | %.1f samples/s | %s<%s", 100 * fraction,
                  format_metric("loss", loss_).c_str(), format_metric("learning_rate", learning_rate_).c_str(),
                  samples_per_second(), format_duration(elapsed_seconds()).c_str(),
                  format_duration(eta_seconds()).c_str());
    const std::size_t fixed = std::string_view(head).size() + std::string_view(tail).size() + 2;
    const std::size_t bar_width = width > fixed + 10 ? std::min<std::size_t>(40, width - fixed) : 10;
    const auto filled = static_cast<std::size_t>(fraction * static_cast<double>(bar_width));
    std::string text = head;
    text += '[';
    text.append(filled, '#');
    text.append(bar_width - filled, '.');
    text += ']';
    text += tail;
    if (text.size() > width) text.resize(width);
    return text;
  }

  // One human-readable line for a log_history entry.
  std::string describe(const json::Value& entry) const {
    std::string line;
    const json::Value* step = entry.find("step");
    if (step && step->is_number()) {
      char head[64];
      std::snprintf(head, sizeof head, "[step %lld/%lld]", static_cast<long long>(step->as_int()),
                    static_cast<long long>(total_));
      line = head;
    }
    if (!entry.is_object()) return line;
    for (const auto& [key, value] : entry.as_object()) {
      if (key == "step") continue;
      line += line.empty() ? "" : " ";
      line += key + " ";
      if (value.is_number()) line += format_metric(key, value.as_double());
      else if (value.is_null()) line += "nan";  // non-finite numbers are stored as null
      else line += json::dump(value);
    }
    if (style_ == ProgressStyle::lines && entry.contains("loss")) {
      line += " | " + format_metric("per_second", samples_per_second()) + " samples/s | elapsed " +
              format_duration(elapsed_seconds()) + " | ETA " + format_duration(eta_seconds());
    }
    return line;
  }

 private:
  static std::size_t terminal_width() {
    struct winsize ws {};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col - 1;
    return 99;
  }
  void draw_bar() {
    *out_ << '\r' << bar_text(terminal_width()) << "\x1b[K";  // erase what a longer line left
    out_->flush();
    drawn_ = true;
  }
  void clear_bar() {
    if (style_ == ProgressStyle::bar && drawn_) *out_ << "\r\x1b[K";
  }

  ProgressStyle style_;
  std::ostream* out_;
  std::int64_t total_, first_step_, step_;
  std::int64_t samples_ = 0;
  double loss_ = 0, learning_rate_ = 0;
  Clock::time_point start_, last_draw_{};
  bool drawn_ = false;
};

}  // namespace tinyxf::train
