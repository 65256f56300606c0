#include "layerlab/util/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace layerlab {

ProgressBar::ProgressBar(std::string label, double total, bool enabled, double log_every_s)
    : label_(std::move(label)),
      total_(total),
      log_every_s_(log_every_s),
      enabled_(enabled),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && tty_ && !finished_) std::fputc('\n', stderr);
}

std::string ProgressBar::format_duration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  const long long t = std::llround(s);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, static_cast<int>(t % 3600 / 60));
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, static_cast<int>(t % 60));
  return fmt::format("{}s", t);
}

void ProgressBar::update(double done, const std::string& note) {
  done_ = done;
  note_ = note;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? 0.1 : log_every_s_)) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish(const std::string& note) {
  if (finished_) return;
  note_ = note;
  draw(true);
  finished_ = true;
}

void ProgressBar::draw(bool final_line) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? std::clamp(done_ / total_, 0.0, 1.0) : 1.0;
  const std::string eta = frac > 0 && frac < 1 ? format_duration(elapsed * (1 - frac) / frac) : (frac >= 1 ? "0s" : "?");
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(frac * kWidth);
  const std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.');
  std::string line = fmt::format("{} [{}] {:5.1f}%  elapsed {}  ETA {}", label_, bar, 100 * frac,
                                 format_duration(elapsed), eta);
  if (!note_.empty()) line += "  " + note_;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace layerlab
