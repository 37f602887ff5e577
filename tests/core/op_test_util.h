// Shared helpers for the op tests: random tensors and an elementwise closeness check against a naive reference.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/ops.h"
#include "core/tensor.h"

namespace sdpp::test {

inline std::vector<float> random_values(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  return Tensor::from_floats(random_values(size_t(shape_numel(shape)), rng, lo, hi), shape);
}

inline std::vector<float> values(const Tensor& t) { return t.to_floats(); }

// Every element within rtol of the reference, relative to |ref| plus the reference's RMS (so values that
// cancel to ~0 in a long sum are judged against the sum's scale, not against zero).
inline ::testing::AssertionResult all_close(const Tensor& actual, const std::vector<double>& expected,
                                            double rtol = 1e-4) {
  const std::vector<float> a = actual.to_floats();
  if (a.size() != expected.size())
    return ::testing::AssertionFailure() << "size " << a.size() << " vs expected " << expected.size();
  double sq = 0.0;
  for (double e : expected) sq += e * e;
  const double rms = expected.empty() ? 0.0 : std::sqrt(sq / double(expected.size()));
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(double(a[i]) - expected[i]);
    if (!(err <= rtol * (std::abs(expected[i]) + rms) + 1e-30))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs expected " << expected[i]
                                           << " (rms " << rms << ")";
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult all_equal(const Tensor& actual, const std::vector<double>& expected) {
  return all_close(actual, expected, 0.0);
}

// The activations in double precision, straight from their definitions.
inline double act_ref(double x, ops::Activation a) {
  switch (a) {
    case ops::Activation::None: return x;
    case ops::Activation::SiLU: return x / (1.0 + std::exp(-x));
    case ops::Activation::GELU: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case ops::Activation::GELUTanh: return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case ops::Activation::QuickGELU: return x / (1.0 + std::exp(-1.702 * x));
    case ops::Activation::ReLU: return x > 0 ? x : 0.0;
    case ops::Activation::Tanh: return std::tanh(x);
  }
  return x;
}

}  // namespace sdpp::test
