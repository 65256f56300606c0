// A progress line for long work on stderr: a bar, counts, elapsed time and an ETA.
//
// On a terminal the line is redrawn in place (at most ~10 times a second); otherwise (a log
// file, CI) a plain line is printed every `log_every_s` seconds and at the end, so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace layerlab {

class ProgressBar {
 public:
  // `total` units of work (e.g. configurations weighted by cost); `label` prefixes the line.
  ProgressBar(std::string label, double total, bool enabled = true, double log_every_s = 30.0);
  ~ProgressBar();

  // Work done so far (absolute), with a short note on what is running now.
  void update(double done, const std::string& note = {});
  // Ends the line (prints the final state once).
  void finish(const std::string& note = {});

  // "1h02m", "3m05s", "12s".
  static std::string format_duration(double seconds);

 private:
  void draw(bool final_line);

  std::string label_, note_;
  double total_, done_ = 0, log_every_s_;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace layerlab
