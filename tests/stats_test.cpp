// Confidence intervals: quantiles against tabulated values, intervals against hand computation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "layerlab/eval/stats.h"
#include "layerlab/io/error.h"

namespace layerlab {
namespace {

TEST(Stats, NormalQuantileMatchesTables) {
  EXPECT_NEAR(normal_quantile(0.975), 1.959963985, 1e-8);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_NEAR(normal_quantile(0.001), -3.090232306, 1e-8);
  EXPECT_NEAR(normal_quantile(0.99), 2.326347874, 1e-8);
}

TEST(Stats, StudentTQuantileMatchesTables) {
  EXPECT_NEAR(t_quantile(0.975, 1), 12.70620474, 1e-6);
  EXPECT_NEAR(t_quantile(0.975, 2), 4.30265273, 1e-7);
  EXPECT_NEAR(t_quantile(0.975, 5), 2.570581836, 1e-7);
  EXPECT_NEAR(t_quantile(0.975, 10), 2.228138852, 1e-7);
  EXPECT_NEAR(t_quantile(0.975, 30), 2.042272456, 1e-7);
  EXPECT_NEAR(t_quantile(0.995, 99), 2.626405457, 1e-6);
  EXPECT_NEAR(t_quantile(0.025, 10), -2.228138852, 1e-7);
  EXPECT_THROW(t_quantile(1.0, 3), Error);
}

TEST(Stats, MeanIntervalByHand) {
  const std::vector<double> x = {1, 2, 3, 4, 5};
  const Interval iv = mean_interval(x);
  // mean 3, sd sqrt(2.5), half-width t(0.975, 4) * sd / sqrt(5) = 2.776445105 * 0.7071067812.
  EXPECT_DOUBLE_EQ(iv.mean, 3.0);
  EXPECT_NEAR(iv.sd, std::sqrt(2.5), 1e-12);
  EXPECT_NEAR(iv.hi - iv.mean, 2.776445105 * std::sqrt(0.5), 1e-7);
  EXPECT_NEAR(iv.mean - iv.lo, iv.hi - iv.mean, 1e-12);
  EXPECT_EQ(iv.n, 5);
  EXPECT_TRUE(iv.excludes_zero());
  EXPECT_EQ(mean_interval(std::vector<double>{}).n, 0);
  const Interval one = mean_interval(std::vector<double>{0.25});
  EXPECT_DOUBLE_EQ(one.lo, 0.25);
  EXPECT_DOUBLE_EQ(one.hi, 0.25);
}

TEST(Stats, PairedDifferenceIsTighterThanIndependentIntervals) {
  // Items of very different difficulty, each improved by about 0.1: the paired interval sees
  // the consistent gain, the independent intervals overlap.
  std::vector<double> base, cand;
  for (int i = 0; i < 40; ++i) {
    base.push_back(i * 0.5);
    cand.push_back(i * 0.5 + 0.1 + (i % 2 ? 0.01 : -0.01));
  }
  const Interval d = paired_difference(base, cand);
  EXPECT_NEAR(d.mean, 0.1, 1e-12);
  EXPECT_TRUE(d.excludes_zero());
  const Interval a = mean_interval(base), b = mean_interval(cand);
  EXPECT_LT(b.lo, a.hi);  // unpaired: no separation
  EXPECT_THROW(paired_difference(base, std::vector<double>{1.0}), Error);
  // Equal scores: a zero-width interval at 0 that does not exclude 0.
  const Interval z = paired_difference(base, base);
  EXPECT_EQ(z.mean, 0.0);
  EXPECT_FALSE(z.excludes_zero());
}

}  // namespace
}  // namespace layerlab
