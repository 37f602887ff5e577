// linear_geglu(): the feed-forward projection and GEGLU of a transformer block. On Hopper the fused wgmma kernel
// (linear_geglu_sm90.cu) computes it without writing the [M, 2F] projection; elsewhere, or where it does not apply
// (K or F not a multiple of 64, f32), the cuBLASLt GEMM then the GEGLU kernel. Per shape, the fused kernel's two
// variants are timed against that pair on the shape's first call outside graph capture and the fastest is kept.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/kernels.h"
#include "core/error.h"

namespace sdpp::cuda {
namespace {

constexpr int kUnfused = -1;

// Process-wide choice (set_linear_geglu_kernel): Timed, or one forced for tests and A/B runs.
enum class GegluKernel { Timed, Unfused, Fused0, Fused1 };

GegluKernel parse_geglu_kernel(const std::string& kernel) {
  return kernel == "auto" || kernel == "timed" ? GegluKernel::Timed
         : kernel == "unfused" || kernel == "0" ? GegluKernel::Unfused
         : kernel == "fused0"                   ? GegluKernel::Fused0
         : kernel == "fused1"                   ? GegluKernel::Fused1
                                                : throw Error(ErrorCode::InvalidArgument,
                                                              "linear_geglu kernel '" + kernel +
                                                                  "' (auto, timed, unfused, fused0 or fused1)");
}

std::atomic<GegluKernel>& geglu_kernel() {
  // SDPP_CUDA_FUSED_GEGLU=0 keeps the GEMM and the GEGLU kernel, =fused0 / fused1 forces a variant (for A/B runs).
  static std::atomic<GegluKernel> kernel{[] {
    const char* v = std::getenv("SDPP_CUDA_FUSED_GEGLU");
    return v ? parse_geglu_kernel(v) : GegluKernel::Timed;
  }()};
  return kernel;
}

}  // namespace

Tensor CudaBackend::linear_geglu(const Tensor& x_in, const Tensor& weight, const Tensor& bias_in) {
  const GegluKernel kernel = geglu_kernel().load();
  const DType dtype = weight.dtype();
  const int64_t K = weight.ndim() == 2 ? weight.dim(1) : 0, F = weight.ndim() == 2 ? weight.dim(0) / 2 : 0;
  const bool covered = kernel != GegluKernel::Unfused && compute_capability_major() == 9 &&
                       (dtype == DType::F16 || dtype == DType::BF16) && K > 0 && K % 64 == 0 && F > 0 &&
                       F % 64 == 0 && x_in.ndim() >= 1 && x_in.dim(-1) == K && x_in.numel() > 0 &&
                       (!bias_in.defined() || bias_in.numel() == 2 * F);
  if (!covered) {
    if (kernel == GegluKernel::Fused0 || kernel == GegluKernel::Fused1)
      throw Error(ErrorCode::Unsupported, "linear_geglu: the fused kernel does not cover input " +
                                              shape_str(x_in.shape()) + " x weight " + shape_str(weight.shape()) +
                                              " in " + dtype_name(dtype) + " on this device");
    return Backend::linear_geglu(x_in, weight, bias_in);
  }
  check_input(x_in, "linear_geglu");
  check_input(weight, "linear_geglu");
  if (bias_in.defined()) check_input(bias_in, "linear_geglu");
  activate();
  const Tensor x = as_dtype(contiguous(x_in), dtype);
  const Tensor bias = bias_in.defined() ? as_dtype(contiguous(bias_in), dtype) : Tensor();
  const int64_t M = x.numel() / K;
  Shape out_shape = x.shape();
  out_shape.back() = F;
  Tensor out = empty(out_shape, dtype);
  const void* bias_ptr = bias.defined() ? bias.raw() : nullptr;
  const auto fused = [&](int variant) {
    return launch_linear_geglu_sm90(x.raw(), weight.raw(), bias_ptr, out.raw(), dtype, M, K, F, variant, stream_);
  };

  int choice = kernel == GegluKernel::Fused1 ? 1 : 0;
  if (kernel == GegluKernel::Timed) {
    const auto key = std::make_tuple(M, K, F, int(dtype));
    const auto it = linear_geglu_choices_.find(key);
    if (it != linear_geglu_choices_.end()) {
      choice = it->second;
    } else if (!capturing_) {  // timing is impossible while capturing: the fused kernel's first variant serves
      const float unfused_ms = device_time_ms([&] { Backend::linear_geglu(x, weight, bias); }, 5, 200);
      float best_ms = unfused_ms, fused_ms[2] = {-1.0f, -1.0f};
      choice = kUnfused;
      for (int variant : {0, 1}) {
        if (!fused(variant)) continue;
        fused_ms[variant] = device_time_ms([&] { fused(variant); }, 5, 200, best_ms / 5.0f);
        if (fused_ms[variant] < best_ms) best_ms = fused_ms[variant], choice = variant;
      }
      linear_geglu_choices_[key] = choice;
      if (verbose_)
        std::fprintf(stderr, "sdpp cuda: linear_geglu [%lld, %lld] -> 2 x %lld %s: unfused %.4f ms, fused %.4f / %.4f ms\n",
                     (long long)M, (long long)K, (long long)F, dtype_name(dtype), unfused_ms / 5.0f,
                     fused_ms[0] / 5.0f, fused_ms[1] / 5.0f);
    }
  }
  if (choice == kUnfused) return Backend::linear_geglu(x, weight, bias);
  auto scope = profiler_.begin("linear_geglu", x, &weight);
  if (!fused(choice))  // the checks above match the launcher's but for alignment, which allocations guarantee
    throw Error(ErrorCode::Unsupported, "linear_geglu: the fused kernel did not launch for " + shape_str(x.shape()));
  return out;
}

}  // namespace sdpp::cuda

namespace sdpp {

void set_linear_geglu_kernel(const std::string& kernel) {
  cuda::geglu_kernel().store(cuda::parse_geglu_kernel(kernel));
}

}  // namespace sdpp
