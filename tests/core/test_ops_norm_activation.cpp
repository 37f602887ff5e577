// group_norm, layer_norm (and linear_layer_norm), activations and geglu against naive double-precision loops.
#include <gtest/gtest.h>

#include "backend/ops.h"
#include "core/error.h"
#include "op_test_util.h"

namespace sdpp {
namespace {

using test::act_ref;
using test::all_close;
using test::all_equal;
using test::random_tensor;

struct GroupNormCase {
  Shape shape;
  int groups;
  ops::Activation act;
  float offset;  // added to the input: a large mean tests the variance's numerical stability
  bool affine;
};

class GroupNormTest : public ::testing::TestWithParam<GroupNormCase> {};

TEST_P(GroupNormTest, MatchesNaive) {
  const GroupNormCase& c = GetParam();
  std::mt19937 rng(5);
  Tensor x = random_tensor(c.shape, rng, -2.0f + c.offset, 2.0f + c.offset);
  const int64_t N = c.shape[0], C = c.shape[1], S = x.numel() / (N * C), cpg = C / c.groups;
  Tensor gamma = c.affine ? random_tensor({C}, rng, 0.5f, 1.5f) : Tensor();
  Tensor beta = c.affine ? random_tensor({C}, rng) : Tensor();
  const float eps = 1e-5f;
  Tensor y = ops::group_norm(x, c.groups, gamma, beta, eps, c.act);
  ASSERT_EQ(y.shape(), c.shape);
  std::vector<double> ref(size_t(x.numel()));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < c.groups; ++g) {
      const float* p = x.f32() + (n * C + g * cpg) * S;
      const int64_t count = cpg * S;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < count; ++i) mean += p[i];
      mean /= double(count);
      for (int64_t i = 0; i < count; ++i) var += (p[i] - mean) * (p[i] - mean);
      var /= double(count);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t ch = g * cpg + i / S;
        double v = (p[i] - mean) / std::sqrt(var + eps);
        if (c.affine) v = v * gamma.f32()[ch] + beta.f32()[ch];
        ref[size_t((n * C + g * cpg) * S + i)] = act_ref(v, c.act);
      }
    }
  EXPECT_TRUE(all_close(y, ref));
}

INSTANTIATE_TEST_SUITE_P(Cases, GroupNormTest,
                         ::testing::Values(GroupNormCase{{2, 64, 8, 8}, 32, ops::Activation::None, 0.0f, true},
                                           GroupNormCase{{1, 96, 5, 7}, 32, ops::Activation::SiLU, 0.0f, true},
                                           GroupNormCase{{3, 6, 4, 3}, 3, ops::Activation::None, 0.0f, false},
                                           GroupNormCase{{1, 32, 33, 17}, 8, ops::Activation::SiLU, 100.0f, true},
                                           GroupNormCase{{2, 12, 10}, 4, ops::Activation::None, 0.0f, true}));

// The added [N, C] term is the reference's h + temb[:, :, None, None] before the norm.
TEST(GroupNorm, AddedTermIsSummedBeforeTheNorm) {
  std::mt19937 rng(3);
  const Tensor x = random_tensor({2, 8, 3, 5}, rng, -2.0f, 2.0f);
  const Tensor add = random_tensor({2, 8}, rng, -3.0f, 3.0f);
  const Tensor gamma = random_tensor({8}, rng, 0.5f, 1.5f), beta = random_tensor({8}, rng);
  const Tensor summed = ops::add(x, add);
  for (int64_t i = 0; i < 2 * 8 * 15; ++i)
    ASSERT_FLOAT_EQ(summed.f32()[i], x.f32()[i] + add.f32()[i / 15]);  // the broadcast this relies on
  const Tensor got = ops::group_norm(x, 4, gamma, beta, 1e-5f, ops::Activation::SiLU, add);
  const Tensor want = ops::group_norm(summed, 4, gamma, beta, 1e-5f, ops::Activation::SiLU);
  for (int64_t i = 0; i < got.numel(); ++i) ASSERT_FLOAT_EQ(got.f32()[i], want.f32()[i]) << i;
  EXPECT_GT(std::abs(got.f32()[0] - ops::group_norm(x, 4, gamma, beta, 1e-5f, ops::Activation::SiLU).f32()[0]), 1e-3);
  try {
    ops::group_norm(x, 4, gamma, beta, 1e-5f, ops::Activation::None, random_tensor({2, 7}, rng));
    FAIL() << "an added term of the wrong shape accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  }
}

TEST(GroupNorm, BadGroupsOrGammaThrow) {
  std::mt19937 rng(1);
  Tensor x = random_tensor({1, 6, 2, 2}, rng);
  EXPECT_THROW(ops::group_norm(x, 4, Tensor(), Tensor(), 1e-5f), Error);
  EXPECT_THROW(ops::group_norm(x, 0, Tensor(), Tensor(), 1e-5f), Error);  // not a division by zero
  EXPECT_THROW(ops::group_norm(x, -2, Tensor(), Tensor(), 1e-5f), Error);
  try {
    ops::group_norm(x, 3, random_tensor({5}, rng), random_tensor({6}, rng), 1e-5f);
    FAIL() << "gamma of the wrong length accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ShapeMismatch);
  }
}

TEST(LayerNorm, MatchesNaive) {
  for (const Shape& shape : {Shape{2, 77, 64}, Shape{5, 33}, Shape{3, 1, 1280}}) {
    std::mt19937 rng(int(shape.back()));
    Tensor x = random_tensor(shape, rng, -3.0f, 5.0f);
    const int64_t C = shape.back(), rows = x.numel() / C;
    Tensor gamma = random_tensor({C}, rng, 0.5f, 1.5f), beta = random_tensor({C}, rng);
    Tensor y = ops::layer_norm(x, gamma, beta, 1e-5f);
    ASSERT_EQ(y.shape(), shape);
    std::vector<double> ref;
    for (int64_t r = 0; r < rows; ++r) {
      const float* p = x.f32() + r * C;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < C; ++i) mean += p[i];
      mean /= double(C);
      for (int64_t i = 0; i < C; ++i) var += (p[i] - mean) * (p[i] - mean);
      var /= double(C);
      for (int64_t i = 0; i < C; ++i) ref.push_back((p[i] - mean) / std::sqrt(var + 1e-5) * gamma.f32()[i] + beta.f32()[i]);
    }
    EXPECT_TRUE(all_close(y, ref)) << shape_str(shape);
  }
  std::mt19937 rng(2);
  EXPECT_THROW(ops::layer_norm(random_tensor({2, 8}, rng), random_tensor({7}, rng), random_tensor({8}, rng), 1e-5f), Error);
}

// The op's two results are linear() and layer_norm() of it (the cpu backend composes them; the cuda backend's fused
// kernel is held to this in tests/cuda), with or without a residual; what it cannot take is refused by name.
TEST(LinearLayerNorm, IsTheLinearThenItsNorm) {
  std::mt19937 rng(12);
  const Tensor x = random_tensor({2, 9, 24}, rng), w = random_tensor({16, 24}, rng), b = random_tensor({16}, rng);
  const Tensor residual = random_tensor({2, 9, 16}, rng, 2.0f, 4.0f);
  const Tensor gamma = random_tensor({16}, rng, 0.5f, 1.5f), beta = random_tensor({16}, rng);
  for (const Tensor* r : {&residual, static_cast<const Tensor*>(nullptr)}) {
    ops::LinearOptions options;
    options.residual = r;
    const ops::LinearAndNorm got = ops::linear_layer_norm(x, w, b, options, gamma, beta, 1e-5f);
    const Tensor out = ops::linear(x, w, b, options);
    const std::vector<float> linear = out.to_floats(), normed = ops::layer_norm(out, gamma, beta, 1e-5f).to_floats();
    EXPECT_TRUE(all_equal(got.out, std::vector<double>(linear.begin(), linear.end())));
    EXPECT_TRUE(all_equal(got.normed, std::vector<double>(normed.begin(), normed.end())));
  }
  ops::LinearOptions gelu;
  gelu.activation = ops::Activation::GELU;
  EXPECT_THROW(ops::linear_layer_norm(x, w, b, gelu, gamma, beta, 1e-5f), Error);
  EXPECT_THROW(ops::linear_layer_norm(x, w, b, {}, random_tensor({15}, rng), beta, 1e-5f), Error);
  EXPECT_THROW(ops::linear_layer_norm(x, random_tensor({16, 23}, rng), b, {}, gamma, beta, 1e-5f), Error);
}

TEST(Activation, AllKindsMatchNaive) {
  std::mt19937 rng(9);
  Tensor x = random_tensor({3, 1001}, rng, -6.0f, 6.0f);
  for (ops::Activation a : {ops::Activation::SiLU, ops::Activation::GELU, ops::Activation::GELUTanh,
                            ops::Activation::QuickGELU, ops::Activation::ReLU, ops::Activation::Tanh}) {
    Tensor y = ops::activation(x, a);
    std::vector<double> ref;
    for (int64_t i = 0; i < x.numel(); ++i) ref.push_back(act_ref(x.f32()[i], a));
    EXPECT_TRUE(all_close(y, ref)) << "activation " << int(a);
  }
  // None returns the input unchanged.
  EXPECT_EQ(ops::activation(x, ops::Activation::None).raw(), x.raw());
}

TEST(Geglu, HiddenTimesGeluOfGate) {
  std::mt19937 rng(4);
  Tensor x = random_tensor({2, 7, 2 * 40}, rng, -3.0f, 3.0f);
  Tensor y = ops::geglu(x);
  ASSERT_EQ(y.shape(), (Shape{2, 7, 40}));
  std::vector<double> ref;
  for (int64_t r = 0; r < 14; ++r)
    for (int64_t i = 0; i < 40; ++i) {
      const double hidden = x.f32()[r * 80 + i], gate = x.f32()[r * 80 + 40 + i];
      ref.push_back(hidden * act_ref(gate, ops::Activation::GELU));
    }
  EXPECT_TRUE(all_close(y, ref));
  EXPECT_THROW(ops::geglu(random_tensor({2, 5}, rng)), Error);
}

}  // namespace
}  // namespace sdpp
