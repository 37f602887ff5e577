// attention against a naive per-(batch, head, query) softmax in double.
#include <gtest/gtest.h>

#include "backend/ops.h"
#include "core/error.h"
#include "op_test_util.h"

namespace sdpp {
namespace {

using test::all_close;
using test::random_tensor;

struct AttentionCase {
  int64_t B, Lq, Lk, heads, head_dim;
  bool causal;
  float scale;
};

class AttentionTest : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionTest, MatchesNaive) {
  const AttentionCase& c = GetParam();
  std::mt19937 rng(int(c.Lq * 31 + c.head_dim));
  const int64_t HD = c.heads * c.head_dim;
  // Inputs in [-2, 2] give peaked softmaxes, which exercises the max subtraction.
  Tensor q = random_tensor({c.B, c.Lq, HD}, rng, -2.0f, 2.0f);
  Tensor k = random_tensor({c.B, c.Lk, HD}, rng, -2.0f, 2.0f);
  Tensor v = random_tensor({c.B, c.Lk, HD}, rng);
  ops::AttentionOptions o;
  o.heads = int(c.heads);
  o.scale = c.scale;
  o.causal = c.causal;
  Tensor y = ops::attention(q, k, v, o);
  ASSERT_EQ(y.shape(), q.shape());
  const double scale = c.scale != 0.0f ? c.scale : 1.0 / std::sqrt(double(c.head_dim));
  std::vector<double> ref(size_t(y.numel()));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.heads; ++h)
      for (int64_t i = 0; i < c.Lq; ++i) {
        const float* qi = q.f32() + (b * c.Lq + i) * HD + h * c.head_dim;
        std::vector<double> p(size_t(c.Lk), 0.0);
        double mx = -1e300, sum = 0.0;
        const int64_t visible = c.causal ? std::min(c.Lk, i + 1) : c.Lk;
        for (int64_t j = 0; j < visible; ++j) {
          const float* kj = k.f32() + (b * c.Lk + j) * HD + h * c.head_dim;
          double s = 0;
          for (int64_t d = 0; d < c.head_dim; ++d) s += double(qi[d]) * kj[d];
          p[size_t(j)] = s * scale;
          mx = std::max(mx, p[size_t(j)]);
        }
        for (int64_t j = 0; j < visible; ++j) sum += p[size_t(j)] = std::exp(p[size_t(j)] - mx);
        for (int64_t d = 0; d < c.head_dim; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < visible; ++j) acc += p[size_t(j)] / sum * v.f32()[(b * c.Lk + j) * HD + h * c.head_dim + d];
          ref[size_t((b * c.Lq + i) * HD + h * c.head_dim + d)] = acc;
        }
      }
  EXPECT_TRUE(all_close(y, ref));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AttentionTest,
    ::testing::Values(AttentionCase{2, 16, 16, 8, 8, false, 0.0f},      // head dim 8 (tiny models)
                      AttentionCase{2, 77, 77, 4, 64, true, 0.0f},      // CLIP causal self-attention
                      AttentionCase{1, 300, 77, 8, 40, false, 0.0f},    // SD 1.x cross-attention, 300 > query block
                      AttentionCase{2, 257, 257, 2, 80, false, 0.0f},   // head dim 80, block remainder
                      AttentionCase{1, 520, 520, 1, 32, true, 0.0f},    // causal across query blocks
                      AttentionCase{1, 64, 64, 1, 160, false, 0.0f},    // VAE-style single head, large dim
                      AttentionCase{3, 5, 9, 3, 8, false, 0.25f},       // explicit scale, Lq != Lk
                      AttentionCase{1, 1, 1, 1, 1, false, 0.0f}));

TEST(Attention, ShapeMismatchThrows) {
  std::mt19937 rng(1);
  Tensor q = random_tensor({1, 4, 16}, rng), k = random_tensor({1, 6, 16}, rng), v = random_tensor({1, 5, 16}, rng);
  ops::AttentionOptions o;
  o.heads = 2;
  EXPECT_THROW(ops::attention(q, k, v, o), Error);                            // k/v lengths differ
  EXPECT_THROW(ops::attention(q, random_tensor({1, 6, 12}, rng), random_tensor({1, 6, 12}, rng), o), Error);
  o.heads = 3;
  EXPECT_THROW(ops::attention(q, k, k, o), Error);                            // 16 not divisible by 3
  o.heads = 0;
  EXPECT_THROW(ops::attention(q, k, k, o), Error);                            // not a division by zero
}

}  // namespace
}  // namespace sdpp
