#include "layerlab/eval/stats.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "layerlab/io/error.h"

namespace layerlab {

double normal_quantile(double p) {
  if (!(p > 0.0 && p < 1.0)) throw Error("normal_quantile: p must lie in (0, 1), got " + std::to_string(p));
  // Acklam's coefficients; relative error < 1.2e-9 after the refinement below.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double low = 0.02425;
  double x;
  if (p < low) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step on the exact CDF.
  const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
  const double u = e * std::sqrt(2 * std::numbers::pi) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

namespace {

// Regularized incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes' form).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                                b * std::log1p(-x));
  if (x > (a + 1) / (a + b + 2)) return 1 - incomplete_beta(b, a, 1 - x);
  const double tiny = 1e-300;
  double f = 1, c = 1, d = 0;
  for (int i = 0; i <= 400; ++i) {
    const int m = i / 2;
    double num;
    if (i == 0) num = 1;
    else if (i % 2 == 0) num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    else num = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + num * d;
    d = std::abs(d) < tiny ? tiny : d;
    d = 1 / d;
    c = 1 + num / c;
    c = std::abs(c) < tiny ? tiny : c;
    const double cd = c * d;
    f *= cd;
    if (std::abs(1 - cd) < 1e-14) break;
  }
  return front * (f - 1) / a;
}

// CDF of Student's t.
double t_cdf(double t, int df) {
  const double x = df / (df + t * t);
  const double tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
  return t > 0 ? 1 - tail : tail;
}

}  // namespace

double t_quantile(double p, int df) {
  if (!(p > 0.0 && p < 1.0)) throw Error("t_quantile: p must lie in (0, 1), got " + std::to_string(p));
  if (df <= 0) return normal_quantile(p);
  if (df == 1) return std::tan(std::numbers::pi * (p - 0.5));
  if (df == 2) return (2 * p - 1) / std::sqrt(2 * p * (1 - p));
  // Bisection-safeguarded Newton on the exact CDF, started from the normal quantile.
  double lo = -1e6, hi = 1e6, x = normal_quantile(p);
  for (int i = 0; i < 100; ++i) {
    const double f = t_cdf(x, df) - p;
    if (std::abs(f) < 1e-13) break;
    (f < 0 ? lo : hi) = x;
    const double density = std::exp(std::lgamma((df + 1) / 2.0) - std::lgamma(df / 2.0)) /
                           std::sqrt(df * std::numbers::pi) * std::pow(1 + x * x / df, -(df + 1) / 2.0);
    double next = x - f / density;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    x = next;
  }
  return x;
}

Interval mean_interval(std::span<const double> items, double level) {
  Interval r;
  r.n = static_cast<int>(items.size());
  if (items.empty()) return r;
  double sum = 0;
  for (double v : items) sum += v;
  r.mean = sum / r.n;
  r.lo = r.hi = r.mean;
  if (r.n < 2) return r;
  double ss = 0;
  for (double v : items) ss += (v - r.mean) * (v - r.mean);
  r.sd = std::sqrt(ss / (r.n - 1));
  const double half = t_quantile(0.5 + level / 2, r.n - 1) * r.sd / std::sqrt(static_cast<double>(r.n));
  r.lo = r.mean - half;
  r.hi = r.mean + half;
  return r;
}

Interval paired_difference(std::span<const double> baseline, std::span<const double> candidate, double level) {
  if (baseline.size() != candidate.size())
    throw Error("paired comparison: " + std::to_string(candidate.size()) + " items against a baseline of " +
                std::to_string(baseline.size()));
  std::vector<double> diff(baseline.size());
  for (size_t i = 0; i < diff.size(); ++i) diff[i] = candidate[i] - baseline[i];
  return mean_interval(diff, level);
}

}  // namespace layerlab
