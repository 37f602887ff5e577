// UntimedChoices (backend.h): inside a scope a shape the backend has not timed runs on its untimed default, with the
// same results, and nothing is timed; once the scope closes, the same shapes are timed on their next call and that
// choice is kept.
#include <functional>
#include <string>

#include "backend/backend.h"
#include "cuda_test_util.h"

namespace sdpp {
namespace {

using cuda_test::Inputs;

// Shapes no other test uses, so that their choices are new to the process.
struct Work {
  Tensor x, w, b, image, kernel, kernel_bias, q, k, v;
  ops::AttentionOptions attention{2, 0.0f, false, false};
};

Work draw(Inputs& in) {
  Work h;
  // 0.53 GFLOP: enough work for the GEMM's candidates to be timed (cuda_linear.cpp's kTimedGemmFlops), unlike
  // [37, 136] x [200, 136].
  h.x = in.host({608, 520});
  h.w = in.host({840, 520});
  h.b = in.host({840});
  h.image = in.host({1, 24, 13, 11});
  h.kernel = in.host({40, 24, 3, 3});
  h.kernel_bias = in.host({40});
  // 288 x 288 query-key pairs a head: a self-attention for which cuDNN's plans compete with the own kernel.
  h.q = in.host({1, 288, 128});
  h.k = in.host({1, 288, 128});
  h.v = in.host({1, 288, 128});
  return h;
}

Work on_device(const Inputs& in, const Work& h) {
  Work d = h;
  for (Tensor* t : {&d.x, &d.w, &d.b, &d.image, &d.kernel, &d.kernel_bias, &d.q, &d.k, &d.v}) *t = in.device(*t);
  d.kernel = ops::prepare_conv_weight(d.kernel);
  return d;
}

TEST(CudaUntimedChoices, NewShapesRunUntimedInsideAndAreTimedAfter) {
  SDPP_REQUIRE_CUDA();
  Backend& backend = backend_for(Device::cuda());
  set_cuda_conv_path("timed");
  set_cuda_attention_kernel("timed");
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Work h = draw(in), d = on_device(in, h);
  const Tensor want_linear = ops::linear(h.x, h.w, h.b);
  const Tensor want_conv = ops::conv2d(h.image, h.kernel, h.kernel_bias, ops::Conv2dOptions::same(3));
  const Tensor want_attention = ops::attention(h.q, h.k, h.v, h.attention);
  const double tol = cuda_test::tolerance(DType::F16);
  auto linear = [&] { return ops::linear(d.x, d.w, d.b); };
  auto conv = [&] { return ops::conv2d(d.image, d.kernel, d.kernel_bias, ops::Conv2dOptions::same(3)); };
  auto attention = [&] { return ops::attention(d.q, d.k, d.v, d.attention); };

  const int64_t before = backend.timed_choices();
  {
    const UntimedChoices outer(backend);
    {
      const UntimedChoices inner(backend);
      SDPP_EXPECT_CLOSE(linear(), want_linear, tol);
    }
    // The outer scope is still open: still nothing timed.
    SDPP_EXPECT_CLOSE(linear(), want_linear, tol);
    SDPP_EXPECT_CLOSE(conv(), want_conv, tol);
    SDPP_EXPECT_CLOSE(attention(), want_attention, tol);
    SDPP_EXPECT_CLOSE(conv(), want_conv, tol);
  }
  EXPECT_EQ(backend.timed_choices(), before) << "a choice was timed inside an UntimedChoices scope";

  // Outside, each shape's next call times its choice (the untimed ones were not kept), and the one after reuses it.
  auto timed_then_kept = [&](const char* name, const std::function<Tensor()>& run, const Tensor& want,
                             bool timed_here) {
    SCOPED_TRACE(name);
    const int64_t start = backend.timed_choices();
    SDPP_EXPECT_CLOSE(run(), want, tol);
    if (timed_here) {
      EXPECT_GT(backend.timed_choices(), start);
    }
    const int64_t timed = backend.timed_choices();
    SDPP_EXPECT_CLOSE(run(), want, tol);
    EXPECT_EQ(backend.timed_choices(), timed) << "the timed choice was not kept";
  };
  timed_then_kept("linear", linear, want_linear, true);
  timed_then_kept("conv2d", conv, want_conv, true);
  // Attention's choice is timed only where cuDNN has the SDPA operation to compete.
  timed_then_kept("attention", attention, want_attention, cuda_cudnn_attention_version() > 0);
  // A scope opened now keeps using the timed choices.
  {
    const UntimedChoices scope(backend);
    const int64_t timed = backend.timed_choices();
    SDPP_EXPECT_CLOSE(conv(), want_conv, tol);
    EXPECT_EQ(backend.timed_choices(), timed);
  }
  set_cuda_attention_kernel("auto");
}

TEST(CudaUntimedChoices, SmallGemmsAreNeverTimed) {
  SDPP_REQUIRE_CUDA();
  Backend& backend = backend_for(Device::cuda());
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Tensor x = in.host({37, 136}), w = in.host({200, 136});
  const int64_t before = backend.timed_choices();
  SDPP_EXPECT_CLOSE(ops::linear(in.device(x), in.device(w), Tensor()), ops::linear(x, w, Tensor()),
                    cuda_test::tolerance(DType::F16));
  EXPECT_EQ(backend.timed_choices(), before);
}

}  // namespace
}  // namespace sdpp
