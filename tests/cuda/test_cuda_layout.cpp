// Data-movement ops of the CUDA backend against the cpu backend (all exact: they only copy values).
#include "cuda_test_util.h"

namespace sdpp {
namespace {

using cuda_test::Inputs;

class CudaLayout : public testing::TestWithParam<DType> {};

TEST_P(CudaLayout, UpsampleAndTokens) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{1, 320, 8, 8}, Shape{1, 33, 40, 37}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor x = in.host(shape);
    const Tensor dx = in.device(x);
    EXPECT_EQ(cuda_test::rel_l2(ops::upsample_nearest2x(dx), ops::upsample_nearest2x(x)), 0.0);
    const Tensor tokens = ops::to_tokens(dx);
    EXPECT_EQ(cuda_test::rel_l2(tokens, ops::to_tokens(x)), 0.0);
    EXPECT_EQ(cuda_test::rel_l2(ops::from_tokens(tokens, shape[2], shape[3]), x), 0.0);
  }
}

TEST_P(CudaLayout, InterleavePhases) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const Shape& shape : {Shape{2, 12, 5, 8}, Shape{1, 4 * 320, 9, 9}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor y = in.host(shape);
    const Tensor dy = in.device(y);
    const int64_t h = 2 * (shape[2] - 1), w = 2 * (shape[3] - 1);
    for (auto [oh, ow] : {std::pair<int64_t, int64_t>{h, w}, {h - 1, w - 1}})
      EXPECT_EQ(cuda_test::rel_l2(ops::interleave_phases(dy, oh, ow), ops::interleave_phases(y, oh, ow)), 0.0);
  }
}

TEST_P(CudaLayout, ConcatAndSliceAlongEachDim) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Tensor a = in.host({2, 3, 4, 5});
  for (int dim : {0, 1, 2, 3, -1}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    Shape other_shape = a.shape();
    other_shape[size_t(dim < 0 ? dim + 4 : dim)] = 3;
    const Tensor b = in.host(other_shape);
    const std::vector<Tensor> host{a, b, a}, dev{in.device(a), in.device(b), in.device(a)};
    const Tensor cat = ops::concat(dev, dim);
    EXPECT_EQ(cuda_test::rel_l2(cat, ops::concat(host, dim)), 0.0);
    const int64_t size = cat.dim(dim);
    EXPECT_EQ(cuda_test::rel_l2(ops::slice(cat, dim, 1, size - 1), ops::slice(ops::concat(host, dim), dim, 1, size - 1)),
              0.0);
    EXPECT_EQ(ops::slice(cat, dim, 2, 2).numel(), 0);
  }
  EXPECT_THROW(ops::slice(in.device(a), 1, 2, 4), Error);
  // Rows of whole 16-byte vectors side by side (the one-kernel concatenation).
  const Tensor rows_a = in.host({7, 16}), rows_b = in.host({7, 8});
  EXPECT_EQ(cuda_test::rel_l2(ops::concat(std::vector<Tensor>{in.device(rows_a), in.device(rows_b)}, 1),
                              ops::concat(std::vector<Tensor>{rows_a, rows_b}, 1)),
            0.0);
}

TEST_P(CudaLayout, EmbeddingAndGatherRows) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Tensor table = in.host({50, 24});
  std::vector<int64_t> id_values;
  std::uniform_int_distribution<int64_t> pick(0, 49);
  for (int i = 0; i < 2 * 11; ++i) id_values.push_back(pick(in.rng()));
  const Tensor ids = Tensor::from_ints(id_values, {2, 11});
  const Tensor embedded = ops::embedding(in.device(table), ids);
  EXPECT_EQ(cuda_test::rel_l2(embedded, ops::embedding(table, ids)), 0.0);
  const std::vector<int64_t> rows{10, 3};
  EXPECT_EQ(cuda_test::rel_l2(ops::gather_rows(embedded, rows), ops::gather_rows(ops::embedding(table, ids), rows)), 0.0);
  EXPECT_THROW(ops::embedding(in.device(table), Tensor::from_ints(std::vector<int64_t>{50}, {1, 1})), Error);
  EXPECT_THROW(ops::gather_rows(embedded, std::vector<int64_t>{11, 0}), Error);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaLayout, testing::Values(DType::F32, DType::F16, DType::BF16),
                         cuda_test::dtype_param_name);

}  // namespace
}  // namespace sdpp
