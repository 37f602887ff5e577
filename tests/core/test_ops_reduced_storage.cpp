// f16/bf16 tensors on the cpu backend: every op keeps the storage type and its result is the f32 computation on the
// stored values, rounded once (the rounding a cuda kernel makes), so `--dtype f16` on the cpu shows what
// reduced-precision storage does without a GPU. Mixing the two reduced types is refused, naming the op.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "backend/ops.h"
#include "core/error.h"
#include "op_test_util.h"

namespace sdpp {
namespace {

using test::random_tensor;

using Op = std::function<Tensor(const std::vector<Tensor>&)>;

struct ReducedCase {
  const char* name;
  std::vector<Shape> inputs;
  Op op;
};

std::vector<ReducedCase> cases() {
  using ops::Activation;
  return {
      {"linear with bias, GELU and residual", {{2, 5, 8}, {6, 8}, {6}, {2, 5, 6}},
       [](const std::vector<Tensor>& in) {
         ops::LinearOptions o;
         o.activation = Activation::GELU;
         o.residual = &in[3];
         return ops::linear(in[0], in[1], in[2], o);
       }},
      {"conv2d with bias and residual", {{2, 3, 6, 5}, {4, 3, 3, 3}, {4}, {2, 4, 6, 5}},
       [](const std::vector<Tensor>& in) {
         ops::Conv2dOptions o = ops::Conv2dOptions::same(3);
         o.residual = &in[3];
         return ops::conv2d(in[0], in[1], in[2], o);
       }},
      {"group_norm with an added term and SiLU", {{2, 8, 3, 3}, {8}, {8}, {2, 8}},
       [](const std::vector<Tensor>& in) {
         return ops::group_norm(in[0], 4, in[1], in[2], 1e-5f, Activation::SiLU, in[3]);
       }},
      {"layer_norm", {{3, 7, 16}, {16}, {16}},
       [](const std::vector<Tensor>& in) { return ops::layer_norm(in[0], in[1], in[2], 1e-5f); }},
      {"activation", {{4, 9}}, [](const std::vector<Tensor>& in) { return ops::activation(in[0], Activation::SiLU); }},
      {"geglu", {{2, 3, 10}}, [](const std::vector<Tensor>& in) { return ops::geglu(in[0]); }},
      {"attention", {{2, 7, 16}, {2, 5, 16}, {2, 5, 16}},
       [](const std::vector<Tensor>& in) {
         ops::AttentionOptions o;
         o.heads = 2;
         return ops::attention(in[0], in[1], in[2], o);
       }},
      {"attention over packed projections", {{2, 6, 3 * 16}},
       [](const std::vector<Tensor>& in) {
         ops::AttentionOptions o;
         o.heads = 2;
         return ops::attention_packed(in[0], Tensor(), o);
       }},
      {"upsample_nearest2x", {{1, 2, 3, 4}},
       [](const std::vector<Tensor>& in) { return ops::upsample_nearest2x(in[0]); }},
      {"interleave_phases", {{1, 8, 3, 4}},
       [](const std::vector<Tensor>& in) { return ops::interleave_phases(in[0], 4, 5); }},
      {"concat", {{2, 3, 4}, {2, 1, 4}},
       [](const std::vector<Tensor>& in) { return ops::concat(in, 1); }},
      {"slice", {{2, 6, 4}}, [](const std::vector<Tensor>& in) { return ops::slice(in[0], 1, 1, 4); }},
      {"to_tokens and from_tokens", {{2, 3, 4, 5}},
       [](const std::vector<Tensor>& in) { return ops::from_tokens(ops::to_tokens(in[0]), 4, 5); }},
      {"add with a per-channel term", {{2, 3, 4, 4}, {2, 3}},
       [](const std::vector<Tensor>& in) { return ops::add(in[0], in[1]); }},
      {"mul", {{3, 5}, {3, 5}}, [](const std::vector<Tensor>& in) { return ops::mul(in[0], in[1]); }},
      {"scale", {{3, 5}}, [](const std::vector<Tensor>& in) { return ops::scale(in[0], 3.5f, 0.25f); }},
      {"clamp", {{3, 5}}, [](const std::vector<Tensor>& in) { return ops::clamp(in[0], -0.5f, 0.5f); }},
      {"exp", {{3, 5}}, [](const std::vector<Tensor>& in) { return ops::exp(in[0]); }},
      {"lincomb", {{4, 6}, {4, 6}, {4, 6}},
       [](const std::vector<Tensor>& in) {
         const double coeffs[] = {0.5, -1.25, 7.5};
         return ops::lincomb(in, coeffs);
       }},
      {"embedding", {{10, 6}},
       [](const std::vector<Tensor>& in) {
         const std::vector<float> id_values = {3, 0, 9};
         const Tensor ids = Tensor::from_floats(id_values, {1, 3}).to(DType::I64);
         return ops::embedding(in[0], ids);
       }},
      {"gather_rows", {{3, 5, 4}},
       [](const std::vector<Tensor>& in) {
         const int64_t index[] = {4, 4, 0};
         return ops::gather_rows(in[0], index);
       }},
  };
}

class ReducedStorage : public ::testing::TestWithParam<DType> {};

TEST_P(ReducedStorage, EveryOpRoundsTheF32ResultOnceAndKeepsTheType) {
  const DType type = GetParam();
  std::mt19937 rng(11);
  for (const ReducedCase& c : cases()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> stored, widened;
    for (const Shape& shape : c.inputs) {
      stored.push_back(random_tensor(shape, rng, -2.0f, 2.0f).to(type));
      widened.push_back(stored.back().to(DType::F32));
    }
    const Tensor actual = c.op(stored);
    ASSERT_EQ(actual.dtype(), type);
    // What the f32 kernels make of the stored values, rounded to the storage type once.
    const Tensor expected = c.op(widened).to(type);
    ASSERT_EQ(actual.shape(), expected.shape());
    EXPECT_EQ(actual.to_floats(), expected.to_floats());
  }
}

INSTANTIATE_TEST_SUITE_P(Types, ReducedStorage, ::testing::Values(DType::F16, DType::BF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(ReducedStorageOps, F32InputsBesideF16WeightsGiveF16) {
  std::mt19937 rng(12);
  const Tensor x = random_tensor({3, 8}, rng), w = random_tensor({4, 8}, rng).to(DType::F16);
  const Tensor out = ops::linear(x, w, Tensor());
  EXPECT_EQ(out.dtype(), DType::F16);
  EXPECT_EQ(out.to_floats(), ops::linear(x, w.to(DType::F32), Tensor()).to(DType::F16).to_floats());
}

TEST(ReducedStorageOps, MixingF16AndBf16IsRefusedNamingTheOp) {
  std::mt19937 rng(13);
  const Tensor a = random_tensor({2, 3}, rng).to(DType::F16), b = random_tensor({2, 3}, rng).to(DType::BF16);
  try {
    ops::add(a, b);
    FAIL() << "expected Unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    const std::string what = e.what();
    EXPECT_NE(what.find("add"), std::string::npos) << what;
    EXPECT_NE(what.find("F16"), std::string::npos) << what;
    EXPECT_NE(what.find("BF16"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace sdpp
