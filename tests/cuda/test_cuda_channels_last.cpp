// The CUDA backend keeps convolution outputs channels-last (data [N, H, W, C] behind logical [N, C, H, W]); every op
// must accept such inputs, alone or mixed with NCHW ones. Channels-last inputs are made here by an identity 1x1
// convolution, which is exact in every dtype; results are compared with the cpu backend on the same values.
#include <cstdlib>
#include <cstring>

#include "backend/backend.h"
#include "backend/init.h"
#include "cuda_test_util.h"

namespace sdpp {
namespace {

using cuda_test::Inputs;
using cuda_test::rel_l2;
using cuda_test::tolerance;

bool layout_is_nchw() {
  const char* v = std::getenv("SDPP_CUDA_LAYOUT");
  return v && std::strcmp(v, "nchw") == 0;
}

// x on the device (any layout) -> the same values in the backend's convolution output layout.
Tensor through_identity_conv(const Tensor& x) {
  const int64_t C = x.dim(1);
  std::vector<float> eye(size_t(C * C), 0.0f);
  for (int64_t c = 0; c < C; ++c) eye[size_t(c * C + c)] = 1.0f;
  const Tensor w = Tensor::from_floats(eye, {C, C, 1, 1}).to(x.dtype()).to(x.device());
  Tensor out = ops::conv2d(x, w, Tensor());
  if (!layout_is_nchw()) {
    EXPECT_EQ(out.format(), MemoryFormat::ChannelsLast);
  }
  return out;
}

class CudaChannelsLast : public testing::TestWithParam<DType> {
 protected:
  // Host values and their channels-last device copy.
  std::pair<Tensor, Tensor> make(Inputs& in, const Shape& shape, float lo = -1.0f, float hi = 1.0f) {
    const Tensor host = in.host(shape, lo, hi);
    return {host, through_identity_conv(in.device(host))};
  }
};

TEST_P(CudaChannelsLast, IdentityConvRoundTripAndViews) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  auto [x, cl] = make(in, {3, 5, 7, 6});
  EXPECT_EQ(rel_l2(cl, x), 0.0);
  EXPECT_EQ(rel_l2(cl.reshape({3, 5, 42}), x.reshape({3, 5, 42})), 0.0);
  EXPECT_EQ(rel_l2(cl.narrow0(1, 2), x.narrow0(1, 2)), 0.0);
  EXPECT_EQ(rel_l2(cl.clone(), x), 0.0);
  const Tensor widened = cl.to(DType::F32);
  EXPECT_EQ(widened.format(), cl.format());
  EXPECT_EQ(rel_l2(widened, x), 0.0);
}

// Both forms of channels-last group norm, each forced in turn (set_cuda_group_norm_kernel); where the small form does
// not cover a shape it hands it to the three kernels, and those to the generic channels-last kernel.
//  - small (one block per group, group_norm_cl.cu): groups of at most 32768 values a sample (16384 in f32), in loads
//    of 8, 4 or 2 channels (C / G = 80 or 32; 4; 10, 6 or 2), [1, 64, 64, 64] / 8 exactly at its f16 limit and
//    [1, 64, 65, 64] / 8 just past it, [1, 264, 6, 6] / 4 not at all (33 loads a pixel: no block size is a multiple
//    of both 32 and 33); [1, 512, 4, 4] / 2 has more channels a group (256) than the kernel copies to shared memory.
//  - split: the three kernels with vector sums (vectors spanning two groups at 320 / 32, two vectors per thread at
//    2560 channels in f16/bf16) or channel-pair sums (2560 channels in f32); [2, 320, 64, 64] / 32 is SD 1.5's 64x64
//    level, [3, 640, 13, 11] / 32 an odd number of pixels a sample, [1, 320, 180, 180] / 32 over 10 million values.
//  - resident (one kernel, a grid-wide barrier, group_norm_resident.cu): every shape whose pieces fit the shared memory
//    of one block a multiprocessor, from a piece of one pixel a block ([1, 96, 5, 6]) to [1, 320, 180, 180] in f16/bf16
//    (157 KB a block); that one in f32 does not fit and takes the three kernels. Opt-in (SDPP_CUDA_GN_RESIDENT=1 puts
//    it behind the forms above); its grid-wide barrier runs three times a shape on one backend here.
// The generic channels-last kernel takes [2, 64, 9, 7] / 32 in f16/bf16 and [2, 9, 3, 5] / 3 (C / G below half a
// vector, or odd).
TEST_P(CudaChannelsLast, GroupNormForms) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const double tol = tolerance(GetParam(), true);
  const std::vector<std::pair<Shape, int>> cases{
      {{2, 64, 9, 7}, 32},     {{1, 96, 5, 6}, 3},       {{2, 9, 3, 5}, 3},       {{1, 128, 24, 20}, 32},
      {{2, 48, 5, 7}, 8},      {{2, 320, 16, 16}, 32},   {{1, 2560, 3, 3}, 32},   {{2, 320, 48, 48}, 32},
      {{1, 2560, 16, 16}, 32}, {{1, 64, 64, 64}, 8},     {{1, 64, 65, 64}, 8},    {{1, 264, 6, 6}, 4},
      {{1, 320, 64, 64}, 32},  {{1, 128, 96, 96}, 32},   {{1, 2560, 24, 24}, 32}, {{3, 640, 13, 11}, 32},
      {{2, 320, 64, 64}, 32},  {{1, 320, 180, 180}, 32}, {{2, 640, 15, 13}, 32},  {{1, 512, 4, 4}, 2}};
  for (const auto& [shape, groups] : cases) {
    SCOPED_TRACE(shape_str(shape));
    auto [x, cl] = make(in, shape, -2.0f, 3.0f);
    const Tensor g = in.host({shape[1]}, 0.5f, 1.5f), b = in.host({shape[1]});
    // A [N, C] term added first (a resnet's time embedding), large against x's spread so that a term dropped or taken
    // from the wrong channel or sample shows: read by the channels-last kernels as they read x.
    const Tensor t = in.host({shape[0], shape[1]}, -4.0f, 4.0f);
    const Tensor want_none = ops::group_norm(x, groups, g, b, 1e-5f, ops::Activation::None);
    const Tensor want_silu = ops::group_norm(x, groups, g, b, 1e-5f, ops::Activation::SiLU);
    const Tensor want_added = ops::group_norm(x, groups, g, b, 1e-5f, ops::Activation::SiLU, t);
    const Tensor dg = in.device(g), db = in.device(b), dt = in.device(t);
    // "small" splits the groups of [2, 320, 16, 16], [1, 2560, 16, 16] and [2, 640, 15, 13] over clusters of blocks,
    // "cluster" also those too large for one block ([1, 128, 96, 96], [2, 320, 64, 64]).
    for (const char* kernel : {"small", "single", "cluster", "split", "resident"}) {
      SCOPED_TRACE(kernel);
      set_cuda_group_norm_kernel(kernel);
      SDPP_EXPECT_CLOSE(ops::group_norm(cl, groups, dg, db, 1e-5f, ops::Activation::None), want_none, tol);
      SDPP_EXPECT_CLOSE(ops::group_norm(cl, groups, dg, db, 1e-5f, ops::Activation::SiLU), want_silu, tol);
      SDPP_EXPECT_CLOSE(ops::group_norm(cl, groups, dg, db, 1e-5f, ops::Activation::SiLU, dt), want_added, tol);
    }
    set_cuda_group_norm_kernel("default");
  }
}

// A norm of values far from zero against their spread (1000 +- 1, as f16 and bf16 round them; bf16 makes them all
// 1000): statistics summed around zero in f32 would lose most of the variance, and y = x * (rstd * gamma) +
// (beta - mean * rstd * gamma), the affine folded into one multiply-add, the low bits of y (both forms and the cpu
// reference computed that way until 2026-12-06: 5.7e-5 to 8.2e-5 from each other in f32, where 2e-5 is allowed).
TEST_P(CudaChannelsLast, GroupNormOffsetValues) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for (const Shape& shape : {Shape{2, 320, 32, 32}, Shape{2, 320, 64, 64}}) {
    SCOPED_TRACE(shape_str(shape));
    auto [x, cl] = make(in, shape, 999.0f, 1001.0f);
    const Tensor g = in.host({shape[1]}, 0.5f, 1.5f), b = in.host({shape[1]});
    const Tensor want = ops::group_norm(x, 32, g, b, 1e-5f, ops::Activation::None);
    const Tensor dg = in.device(g), db = in.device(b);
    // "small" splits the groups of [2, 320, 16, 16], [1, 2560, 16, 16] and [2, 640, 15, 13] over clusters of blocks,
    // "cluster" also those too large for one block ([1, 128, 96, 96], [2, 320, 64, 64]).
    for (const char* kernel : {"small", "single", "cluster", "split", "resident"}) {
      SCOPED_TRACE(kernel);
      set_cuda_group_norm_kernel(kernel);
      SDPP_EXPECT_CLOSE(ops::group_norm(cl, 32, dg, db, 1e-5f, ops::Activation::None), want,
                        tolerance(GetParam(), true));
    }
    set_cuda_group_norm_kernel("default");
  }
}

// The resident form's grid-wide barrier (one pair of counters a backend) reused by norms back to back and across the
// replays of a recording: two norms of SD 1.5's 64x64 level in a row, recorded, then replayed on new values.
TEST_P(CudaChannelsLast, GroupNormResidentRecordedTwiceInARow) {
  SDPP_REQUIRE_CUDA();
  if (layout_is_nchw()) GTEST_SKIP() << "the resident form is channels-last only";
  Backend& backend = backend_for(Device::cuda());
  ASSERT_TRUE(backend.can_record());
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Shape shape{2, 320, 64, 64};
  const Tensor g = in.host({320}, 0.5f, 1.5f), b = in.host({320});
  const Tensor dg = in.device(g), db = in.device(b);
  auto twice = [](const Tensor& x, const Tensor& gamma, const Tensor& beta) {
    return ops::group_norm(ops::group_norm(x, 32, gamma, beta, 1e-5f, ops::Activation::SiLU), 32, gamma, beta, 1e-5f,
                           ops::Activation::None);
  };
  set_cuda_group_norm_kernel("resident");
  auto [x0, cl] = make(in, shape, -2.0f, 3.0f);
  Tensor y = twice(cl, dg, db);  // eager once; its tensor then receives the replays' results
  SDPP_EXPECT_CLOSE(y, twice(x0, g, b), tolerance(GetParam(), true));
  backend.begin_recording();
  backend.convert(twice(cl, dg, db), y);
  const std::unique_ptr<RecordedWork> work = backend.end_recording();
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("replay " + std::to_string(round));
    auto [x, fresh] = make(in, shape, -2.0f + round, 3.0f + 2 * round);
    backend.convert(fresh, cl);
    work->replay();
    SDPP_EXPECT_CLOSE(y, twice(x, g, b), tolerance(GetParam(), true));
  }
  set_cuda_group_norm_kernel("default");
}

TEST_P(CudaChannelsLast, Elementwise) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const double tol = tolerance(GetParam(), true);
  for (const Shape& shape :
       {Shape{2, 64, 9, 7}, Shape{1, 96, 5, 6}, Shape{2, 9, 3, 5}, Shape{1, 128, 24, 20}, Shape{2, 48, 5, 7},
        Shape{2, 320, 16, 16}, Shape{1, 2560, 3, 3}, Shape{2, 320, 48, 48}, Shape{1, 2560, 16, 16},
        Shape{1, 64, 64, 64}, Shape{1, 64, 65, 64}, Shape{1, 264, 6, 6}, Shape{1, 320, 64, 64}, Shape{1, 128, 96, 96},
        Shape{1, 2560, 24, 24}}) {
    SCOPED_TRACE(shape_str(shape));
    auto [x, cl] = make(in, shape, -2.0f, 3.0f);
    SDPP_EXPECT_CLOSE(ops::activation(cl, ops::Activation::SiLU), ops::activation(x, ops::Activation::SiLU), tol);
    SDPP_EXPECT_CLOSE(ops::scale(cl, 2.0f, 0.5f), ops::scale(x, 2.0f, 0.5f), tol);

    auto [y, cl_y] = make(in, shape);
    const Tensor nchw_y = in.device(y);
    const Tensor per_plane = in.host({shape[0], shape[1]}), per_width = in.host({shape[3]});
    SDPP_EXPECT_CLOSE(ops::add(cl, cl_y), ops::add(x, y), tol);
    SDPP_EXPECT_CLOSE(ops::add(cl, nchw_y), ops::add(x, y), tol);
    SDPP_EXPECT_CLOSE(ops::add(nchw_y, cl), ops::add(y, x), tol);
    SDPP_EXPECT_CLOSE(ops::add(cl, in.device(per_plane)), ops::add(x, per_plane), tol);
    SDPP_EXPECT_CLOSE(ops::mul(cl, in.device(per_plane)), ops::mul(x, per_plane), tol);
    SDPP_EXPECT_CLOSE(ops::mul(cl, in.device(per_width)), ops::mul(x, per_width), tol);
    const std::vector<double> coeffs{0.3, -1.7};
    SDPP_EXPECT_CLOSE(ops::lincomb(std::vector<Tensor>{cl, cl_y}, coeffs), ops::lincomb(std::vector<Tensor>{x, y}, coeffs),
                      tol);
    SDPP_EXPECT_CLOSE(ops::lincomb(std::vector<Tensor>{cl, nchw_y}, coeffs),
                      ops::lincomb(std::vector<Tensor>{x, y}, coeffs), tol);
  }
}

TEST_P(CudaChannelsLast, LayoutOps) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  auto [x, cl] = make(in, {2, 6, 5, 7});
  auto [y, cl_y] = make(in, {2, 6, 5, 7});
  EXPECT_EQ(rel_l2(ops::upsample_nearest2x(cl), ops::upsample_nearest2x(x)), 0.0);
  auto [wide, cl_wide] = make(in, {2, 16, 3, 5});  // whole 16-byte vectors per pixel: the vectorised kernel
  EXPECT_EQ(rel_l2(ops::upsample_nearest2x(cl_wide), ops::upsample_nearest2x(wide)), 0.0);
  // The four phases of an upsampling conv interleaved: 16-byte vectors a pixel (wide) or single elements (x).
  auto [phases, cl_phases] = make(in, {2, 64, 4, 6});
  auto [phases_odd, cl_phases_odd] = make(in, {2, 24, 4, 6});
  for (auto [oh, ow] : {std::pair<int64_t, int64_t>{6, 10}, {5, 9}}) {
    EXPECT_EQ(rel_l2(ops::interleave_phases(cl_phases, oh, ow), ops::interleave_phases(phases, oh, ow)), 0.0);
    EXPECT_EQ(rel_l2(ops::interleave_phases(cl_phases_odd, oh, ow), ops::interleave_phases(phases_odd, oh, ow)), 0.0);
  }
  // Channel concatenation of whole vectors per pixel: one kernel for up to four sources, a copy per source beyond.
  auto [narrow, cl_narrow] = make(in, {2, 8, 3, 5});
  for (size_t count : {2, 3, 4, 5}) {
    std::vector<Tensor> host, dev;
    for (size_t k = 0; k < count; ++k) {
      host.push_back(k % 2 ? narrow : wide);
      dev.push_back(k % 2 ? cl_narrow : cl_wide);
    }
    EXPECT_EQ(rel_l2(ops::concat(dev, 1), ops::concat(host, 1)), 0.0) << count << " sources";
  }
  for (int dim : {0, 1, 2, 3}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    const std::vector<Tensor> host{x, y, x};
    EXPECT_EQ(rel_l2(ops::concat(std::vector<Tensor>{cl, cl_y, cl}, dim), ops::concat(host, dim)), 0.0);
    EXPECT_EQ(rel_l2(ops::concat(std::vector<Tensor>{cl, in.device(y), cl}, dim), ops::concat(host, dim)), 0.0);
    EXPECT_EQ(rel_l2(ops::concat(std::vector<Tensor>{in.device(x), cl_y, cl}, dim), ops::concat(host, dim)), 0.0);
    const int64_t size = x.dim(dim);
    EXPECT_EQ(rel_l2(ops::slice(cl, dim, 1, size), ops::slice(x, dim, 1, size)), 0.0);
  }
  const Tensor tokens = ops::to_tokens(cl);
  EXPECT_EQ(rel_l2(tokens, ops::to_tokens(x)), 0.0);
  const Tensor back = ops::from_tokens(tokens, 5, 7);
  EXPECT_EQ(rel_l2(back, x), 0.0);
  // tokens of a channels-last tensor feed a GEMM directly
  const Tensor w = in.host({4, 6});
  SDPP_EXPECT_CLOSE(ops::linear(tokens, in.device(w), Tensor()), ops::linear(ops::to_tokens(x), w, Tensor()),
                    tolerance(GetParam(), true));
}

// Each NHWC implementation (cuDNN's legacy API; im2col + cuBLASLt GEMM; cuDNN's graph API, f16/bf16 only) forced in
// turn, then the timed choice; weights as loaded and as prepared at load (channels-last).
TEST_P(CudaChannelsLast, ConvolutionsOnChannelsLastInputs) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const double tol = tolerance(GetParam(), true);
  auto [x, cl] = make(in, {2, 8, 11, 9});
  struct Case {
    int64_t out;
    int kernel;
    ops::Conv2dOptions o;
  };
  for (const char* path : {"cudnn", "gemm", "graph", "timed"}) {
    SCOPED_TRACE(std::string("conv path ") + path);
    set_cuda_conv_path(path);
    for (const Case& c : {Case{16, 3, ops::Conv2dOptions::same(3)}, Case{8, 1, ops::Conv2dOptions{}},
                          Case{12, 3, ops::Conv2dOptions::same(3, 2)},
                          Case{8, 3, ops::Conv2dOptions{2, 0, 0, 1, 1, nullptr}}}) {
      SCOPED_TRACE("out " + std::to_string(c.out) + " kernel " + std::to_string(c.kernel));
      const double s = 1.0 / std::sqrt(double(8 * c.kernel * c.kernel));
      const Tensor w = in.host({c.out, 8, c.kernel, c.kernel}, float(-s), float(s)), b = in.host({c.out});
      const Tensor dw = in.device(w), prepared = ops::prepare_conv_weight(dw), db = in.device(b);
      const Tensor ref = ops::conv2d(x, w, b, c.o);
      SDPP_EXPECT_CLOSE(ops::conv2d(cl, dw, db, c.o), ref, tol);
      SDPP_EXPECT_CLOSE(ops::conv2d(cl, prepared, db, c.o), ref, tol);
      auto [r, cl_r] = make(in, ref.shape());
      ops::Conv2dOptions with_r = c.o, with_cl_r = c.o, with_nchw_r = c.o;
      with_r.residual = &r;
      with_cl_r.residual = &cl_r;
      const Tensor nchw_r = in.device(r);
      with_nchw_r.residual = &nchw_r;
      const Tensor ref_r = ops::conv2d(x, w, b, with_r);
      SDPP_EXPECT_CLOSE(ops::conv2d(cl, dw, db, with_cl_r), ref_r, tol);
      SDPP_EXPECT_CLOSE(ops::conv2d(in.device(x), prepared, db, with_cl_r), ref_r, tol);
      SDPP_EXPECT_CLOSE(ops::conv2d(cl, prepared, db, with_nchw_r), ref_r, tol);
    }
  }
  set_cuda_conv_path("timed");
}

// A convolution planned by cuDNN's graph API inside a recording (the UNet step is one CUDA graph): replays read the
// input of replay time and equal an eager call on it, bias and residual included.
TEST(CudaGraphConvolution, RecordedCallsEqualEagerOnes) {
  SDPP_REQUIRE_CUDA();
  struct Restore {
    ~Restore() { set_cuda_conv_path("timed"); }
  } restore;
  set_cuda_conv_path("graph");
  Backend& backend = backend_for(Device::cuda());
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Tensor w = ops::prepare_conv_weight(in.device(in.host({64, 32, 3, 3}, -0.06f, 0.06f)));
  const Tensor b = in.device(in.host({64})), residual = in.device(in.host({2, 64, 16, 16}));
  Tensor x = in.device(in.host({2, 32, 16, 16}));
  ops::Conv2dOptions o = ops::Conv2dOptions::same(3);
  o.residual = &residual;
  // Eager once, so the plan exists before recording; its output (layout included) receives the replays' copies.
  Tensor y = ops::conv2d(x, w, b, o);
  backend.begin_recording();
  backend.convert(ops::conv2d(x, w, b, o), y);
  const std::unique_ptr<RecordedWork> work = backend.end_recording();
  for (int round = 0; round < 2; ++round) {
    backend.convert(in.device(in.host({2, 32, 16, 16})), x);
    work->replay();
    EXPECT_EQ(rel_l2(y, ops::conv2d(x, w, b, o)), 0.0) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaChannelsLast, testing::Values(DType::F32, DType::F16, DType::BF16),
                         cuda_test::dtype_param_name);

}  // namespace
}  // namespace sdpp
