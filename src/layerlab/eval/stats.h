// Summary statistics for per-item scores: means with confidence intervals, and paired
// differences against a baseline scored on the same items (the comparison a layer plan needs:
// item difficulty cancels, so the interval is far tighter than two independent ones).
#pragma once

#include <span>

namespace layerlab {

struct Interval {
  double mean = 0.0;
  double lo = 0.0, hi = 0.0;  // two-sided interval at the requested level
  int n = 0;
  double sd = 0.0;            // sample standard deviation of the items (n - 1 denominator)
  // Whether the interval excludes zero (for differences: the change is significant).
  bool excludes_zero() const { return lo > 0.0 || hi < 0.0; }
};

// Quantile p (0 < p < 1) of Student's t with `df` degrees of freedom (normal for df <= 0).
double t_quantile(double p, int df);
// Standard normal quantile (Acklam's rational approximation refined by one Halley step).
double normal_quantile(double p);

// Mean of the items with a Student-t interval; n = 1 gives a zero-width interval, n = 0 all zero.
Interval mean_interval(std::span<const double> items, double level = 0.95);
// Mean of candidate[i] - baseline[i] with a paired Student-t interval.
// Throws layerlab::Error if the two spans differ in length.
Interval paired_difference(std::span<const double> baseline, std::span<const double> candidate,
                           double level = 0.95);

}  // namespace layerlab
