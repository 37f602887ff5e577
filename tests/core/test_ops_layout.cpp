// Data-movement ops: exact copies, checked element by element.
#include <gtest/gtest.h>

#include "backend/ops.h"
#include "core/error.h"
#include "op_test_util.h"

namespace sdpp {
namespace {

using test::all_equal;
using test::random_tensor;

TEST(UpsampleNearest2x, RepeatsEachPixel) {
  std::mt19937 rng(1);
  const int64_t N = 2, C = 3, H = 5, W = 7;
  Tensor x = random_tensor({N, C, H, W}, rng);
  Tensor y = ops::upsample_nearest2x(x);
  ASSERT_EQ(y.shape(), (Shape{N, C, 2 * H, 2 * W}));
  std::vector<double> ref;
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oy = 0; oy < 2 * H; ++oy)
      for (int64_t ox = 0; ox < 2 * W; ++ox) ref.push_back(x.f32()[(p * H + oy / 2) * W + ox / 2]);
  EXPECT_TRUE(all_equal(y, ref));
  EXPECT_THROW(ops::upsample_nearest2x(random_tensor({2, 3}, rng)), Error);
}

// Reference layouts through explicit multi-index arithmetic on a 4-d shape.
int64_t offset4(const Shape& s, int64_t a, int64_t b, int64_t c, int64_t d) { return ((a * s[1] + b) * s[2] + c) * s[3] + d; }

// out[n, c, 2i+a, 2j+b] = y[n, (2a+b) C + c, i+a, j+b], for even and odd output sizes.
TEST(InterleavePhases, PicksEachPixelFromItsPhase) {
  std::mt19937 rng(3);
  const int64_t N = 2, C = 3, H = 4, W = 5;
  const Tensor y = random_tensor({N, 4 * C, H + 1, W + 1}, rng);
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{2 * H, 2 * W}, {2 * H - 1, 2 * W}, {2 * H, 2 * W - 1}}) {
    const Tensor out = ops::interleave_phases(y, oh, ow);
    ASSERT_EQ(out.shape(), (Shape{N, C, oh, ow}));
    std::vector<double> ref;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t a = oy % 2, b = ox % 2;
            ref.push_back(y.f32()[offset4(y.shape(), n, (2 * a + b) * C + c, oy / 2 + a, ox / 2 + b)]);
          }
    EXPECT_TRUE(all_equal(out, ref)) << oh << "x" << ow;
  }
  EXPECT_THROW(ops::interleave_phases(y, 2 * H + 1, 2 * W), Error);  // more rows than the phases hold
  EXPECT_THROW(ops::interleave_phases(y, 2 * H - 2, 2 * W), Error);
  EXPECT_THROW(ops::interleave_phases(random_tensor({N, 6, H + 1, W + 1}, rng), 2 * H, 2 * W), Error);  // not 4C
  EXPECT_THROW(ops::interleave_phases(random_tensor({4, H + 1, W + 1}, rng), 2 * H, 2 * W), Error);
}


TEST(Concat, EveryDim) {
  std::mt19937 rng(2);
  const Shape base{2, 3, 4, 5};
  for (int dim = 0; dim < 4; ++dim) {
    Shape sa = base, sb = base;
    sb[size_t(dim)] = 2;
    Tensor a = random_tensor(sa, rng), b = random_tensor(sb, rng);
    const std::vector<Tensor> xs{a, b};
    Tensor y = ops::concat(xs, dim);
    Shape so = base;
    so[size_t(dim)] += 2;
    ASSERT_EQ(y.shape(), so);
    std::vector<double> ref;
    for (int64_t i0 = 0; i0 < so[0]; ++i0)
      for (int64_t i1 = 0; i1 < so[1]; ++i1)
        for (int64_t i2 = 0; i2 < so[2]; ++i2)
          for (int64_t i3 = 0; i3 < so[3]; ++i3) {
            int64_t idx[4] = {i0, i1, i2, i3};
            if (idx[dim] < base[size_t(dim)]) {
              ref.push_back(a.f32()[offset4(sa, idx[0], idx[1], idx[2], idx[3])]);
            } else {
              idx[dim] -= base[size_t(dim)];
              ref.push_back(b.f32()[offset4(sb, idx[0], idx[1], idx[2], idx[3])]);
            }
          }
    EXPECT_TRUE(all_equal(y, ref)) << "dim " << dim;
  }
  // Negative dim counts from the end; three inputs.
  Tensor a = random_tensor({2, 3}, rng), b = random_tensor({2, 1}, rng), c = random_tensor({2, 4}, rng);
  const std::vector<Tensor> xs{a, b, c};
  Tensor y = ops::concat(xs, -1);
  ASSERT_EQ(y.shape(), (Shape{2, 8}));
  EXPECT_EQ(y.f32()[3], b.f32()[0]);
  EXPECT_EQ(y.f32()[8 + 7], c.f32()[4 + 3]);
  const std::vector<Tensor> bad{a, random_tensor({3, 3}, rng)};
  EXPECT_THROW(ops::concat(bad, 1), Error);
  EXPECT_THROW(ops::concat(xs, 2), Error);
}

TEST(Slice, EveryDim) {
  std::mt19937 rng(3);
  const Shape s{3, 4, 5, 6};
  Tensor x = random_tensor(s, rng);
  for (int dim = 0; dim < 4; ++dim) {
    const int64_t start = 1, end = s[size_t(dim)] - 1;
    Tensor y = ops::slice(x, dim, start, end);
    Shape so = s;
    so[size_t(dim)] = end - start;
    ASSERT_EQ(y.shape(), so);
    std::vector<double> ref;
    for (int64_t i0 = 0; i0 < so[0]; ++i0)
      for (int64_t i1 = 0; i1 < so[1]; ++i1)
        for (int64_t i2 = 0; i2 < so[2]; ++i2)
          for (int64_t i3 = 0; i3 < so[3]; ++i3) {
            int64_t idx[4] = {i0, i1, i2, i3};
            idx[dim] += start;
            ref.push_back(x.f32()[offset4(s, idx[0], idx[1], idx[2], idx[3])]);
          }
    EXPECT_TRUE(all_equal(y, ref)) << "dim " << dim;
  }
  EXPECT_EQ(ops::slice(x, -1, 2, 2).numel(), 0);
  EXPECT_THROW(ops::slice(x, 1, 2, 5), Error);
  EXPECT_THROW(ops::slice(x, 1, 3, 2), Error);
  EXPECT_THROW(ops::slice(x, 4, 0, 1), Error);
}

TEST(Tokens, RoundTripAndLayout) {
  std::mt19937 rng(4);
  const int64_t N = 2, C = 37, H = 9, W = 11;  // not multiples of the transpose tile
  Tensor x = random_tensor({N, C, H, W}, rng);
  Tensor t = ops::to_tokens(x);
  ASSERT_EQ(t.shape(), (Shape{N, H * W, C}));
  std::vector<double> ref;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < H * W; ++p)
      for (int64_t c = 0; c < C; ++c) ref.push_back(x.f32()[(n * C + c) * H * W + p]);
  EXPECT_TRUE(all_equal(t, ref));
  Tensor back = ops::from_tokens(t, H, W);
  ASSERT_EQ(back.shape(), x.shape());
  std::vector<double> orig(x.f32(), x.f32() + x.numel());
  EXPECT_TRUE(all_equal(back, orig));
  EXPECT_THROW(ops::from_tokens(t, H, W + 1), Error);
  EXPECT_THROW(ops::to_tokens(t), Error);
}

TEST(Embedding, LooksUpRows) {
  std::mt19937 rng(5);
  Tensor table = random_tensor({10, 6}, rng);
  Tensor ids = Tensor::from_ints(std::vector<int64_t>{3, 0, 9, 3, 1, 2}, {2, 3});
  Tensor y = ops::embedding(table, ids);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 6}));
  std::vector<double> ref;
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t d = 0; d < 6; ++d) ref.push_back(table.f32()[ids.i64()[i] * 6 + d]);
  EXPECT_TRUE(all_equal(y, ref));
  try {
    ops::embedding(table, Tensor::from_ints(std::vector<int64_t>{10}, {1, 1}));
    FAIL() << "out-of-vocabulary id accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  EXPECT_THROW(ops::embedding(table, Tensor::from_ints(std::vector<int64_t>{-1}, {1})), Error);
  EXPECT_THROW(ops::embedding(table, random_tensor({1, 2}, rng)), Error);  // f32 ids
}

TEST(GatherRows, PicksOneRowPerBatch) {
  std::mt19937 rng(6);
  Tensor x = random_tensor({3, 5, 4}, rng);
  const std::vector<int64_t> index{4, 0, 2};
  Tensor y = ops::gather_rows(x, index);
  ASSERT_EQ(y.shape(), (Shape{3, 4}));
  std::vector<double> ref;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t d = 0; d < 4; ++d) ref.push_back(x.f32()[(b * 5 + index[size_t(b)]) * 4 + d]);
  EXPECT_TRUE(all_equal(y, ref));
  const std::vector<int64_t> bad{0, 5, 1}, short_index{0, 1};
  EXPECT_THROW(ops::gather_rows(x, bad), Error);
  EXPECT_THROW(ops::gather_rows(x, short_index), Error);
}

}  // namespace
}  // namespace sdpp
