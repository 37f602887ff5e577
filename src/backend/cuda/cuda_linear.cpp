// linear() through cuBLASLt: out[M, N] = act(x[M, K] W[N, K]^T + b) + residual, f32 accumulation.
//
// Row-major x W^T is computed as the column-major product D[N, M] = W^T(op T on W's [K, N] view) * x([K, M] view),
// so no operand is transposed in memory. The bias rides in the epilogue; the residual rides in C (beta = 1) when no
// activation follows, since cuBLASLt applies its epilogue activation after adding C. The tanh GELU is fused too;
// the other activations (erf GELU, SiLU, ...) are one elementwise pass that also adds the residual.
// Plans (descriptors + the fastest of the heuristic's candidates, timed once) are cached per shape, dtype, epilogue
// and pointer alignment.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {

struct LinearPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~LinearPlan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

namespace {

// Heuristic results timed per new GEMM shape: 32 rather than 8 took the SD 1.5 step from 6.76 to 6.59 ms (H100).
constexpr int kCandidates = 32;
// GEMMs of less work take the heuristic's first candidate untimed. Below 0.5 GFLOP (under a microsecond at the
// tensor-core rate, against 4-5 us a launch) the fastest candidate gained at most 0.2 us over the first in SD 1.5's
// first image, bar conv_out's GEMM candidate (1.3 us; the narrow kernel beats it) and a batch-2 time-embedding shape
// that the pipeline computes for all steps at once (0.6 us), while each shape's timing cost 2-35 ms, mostly loading
// the candidates' kernels (0.42 s over those shapes; H100, twenty-fourth session).
constexpr double kTimedGemmFlops = 0.5e9;

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

int alignment(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  for (int a = 16; a > 1; a /= 2)
    if (v % uintptr_t(a) == 0) return a;
  return 1;
}

}  // namespace

Tensor CudaBackend::linear(const Tensor& x_in, const Tensor& weight, const Tensor& bias_in,
                           const ops::LinearOptions& o) {
  check_input(x_in, "linear");
  check_input(weight, "linear");
  if (weight.ndim() != 2 || x_in.ndim() < 1 || x_in.dim(-1) != weight.dim(1))
    throw Error(ErrorCode::ShapeMismatch,
                "linear: input " + shape_str(x_in.shape()) + " vs weight " + shape_str(weight.shape()));
  const DType dtype = weight.dtype();  // compute/storage type of the product
  const int64_t K = weight.dim(1), N = weight.dim(0), M = K ? x_in.numel() / K : 0;
  if (bias_in.defined()) {
    check_input(bias_in, "linear");
    if (bias_in.numel() != N)
      throw Error(ErrorCode::ShapeMismatch, "linear: bias " + shape_str(bias_in.shape()) + " for " + std::to_string(N) + " outputs");
  }
  Shape out_shape = x_in.shape();
  out_shape.back() = N;
  const Tensor* residual_in = o.residual && o.residual->defined() ? o.residual : nullptr;
  if (residual_in) {
    check_input(*residual_in, "linear");
    if (residual_in->shape() != out_shape)
      throw Error(ErrorCode::ShapeMismatch, "linear: residual " + shape_str(residual_in->shape()) + " vs output " +
                                                shape_str(out_shape));
  }
  activate();
  auto scope = profiler_.begin(o.activation == ops::Activation::None ? "linear" : "linear+act", x_in, &weight);
  const Tensor x = as_dtype(contiguous(x_in), dtype);
  const Tensor bias = bias_in.defined() ? as_dtype(bias_in, dtype) : Tensor();
  const Tensor residual = residual_in ? as_dtype(contiguous(*residual_in), dtype) : Tensor();
  Tensor out = empty(out_shape, dtype);
  if (M * N == 0) return out;

  const bool act_none = o.activation == ops::Activation::None;
  const bool fuse_gelu = o.activation == ops::Activation::GELUTanh && !residual.defined();
  const bool residual_in_c = residual.defined() && act_none;
  if (K == 0) {
    fill_zero(out.raw(), out.nbytes());
  } else {
    cublasLtEpilogue_t epilogue = bias.defined() ? (fuse_gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                                 : (fuse_gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
    int align = std::min({alignment(x.raw()), alignment(weight.raw()), alignment(out.raw()),
                          residual_in_c ? alignment(residual.raw()) : 16});
    auto key = std::make_tuple(M, N, K, int(dtype), int(epilogue), int(residual_in_c), align);
    // A shape never timed takes its untimed plan from a map of its own inside an UntimedChoices scope.
    auto& plans = untimed_depth_ && !linear_plans_.count(key) ? untimed_linear_plans_ : linear_plans_;
    auto it = plans.find(key);
    if (it == plans.end()) {
      auto plan = std::make_shared<LinearPlan>();
      const cudaDataType_t t = cuda_type(dtype);
      SDPP_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
      const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
      SDPP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
      SDPP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
      SDPP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
      SDPP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, t, uint64_t(K), uint64_t(N), K));
      SDPP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, t, uint64_t(K), uint64_t(M), K));
      SDPP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, t, uint64_t(N), uint64_t(M), N));
      cublasLtMatmulPreference_t pref = nullptr;
      SDPP_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
      const uint64_t ws = gemm_workspace_bytes_;
      const uint32_t al = uint32_t(align);
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof(al));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof(al));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof(al));
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof(al));
      const auto choice_start = std::chrono::steady_clock::now();
      cublasLtMatmulHeuristicResult_t results[kCandidates] = {};
      int found = 0;
      const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(cublaslt_, plan->op, plan->a, plan->b, plan->c,
                                                                   plan->c, pref, kCandidates, results, &found);
      cublasLtMatmulPreferenceDestroy(pref);
      if (status != CUBLAS_STATUS_SUCCESS || found == 0)
        throw Error(ErrorCode::Unsupported, "linear: no cuBLASLt algorithm for [" + std::to_string(M) + ", " +
                                                std::to_string(K) + "] x [" + std::to_string(N) + ", " +
                                                std::to_string(K) + "]^T in " + dtype_name(dtype));
      plan->algo = results[0].algo;
      // The heuristic's first choice is often not the fastest for the UNet's narrow shapes (N = 320, 640): time the
      // candidates once on the call's own operands (outside graph capture, where timing is impossible).
      if (found > 1 && !capturing_ && !untimed_depth_ && 2.0 * double(M) * double(N) * double(K) >= kTimedGemmFlops) {
        ++timed_choices_;
        const void* bias_ptr = bias.defined() ? bias.raw() : nullptr;
        if (bias_ptr)
          SDPP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr,
                                                           sizeof(bias_ptr)));
        const float alpha = 1.0f, beta = residual_in_c ? 1.0f : 0.0f;
        const void* c_ptr = residual_in_c ? residual.raw() : out.raw();
        auto run = [&](const cublasLtMatmulAlgo_t& algo) {
          return cublasLtMatmul(cublaslt_, plan->op, &alpha, weight.raw(), plan->a, x.raw(), plan->b, &beta, c_ptr,
                                plan->c, out.raw(), plan->c, &algo, gemm_workspace_, gemm_workspace_bytes_, stream_);
        };
        float best = -1.0f, first = -1.0f;
        for (int i = 0; i < found; ++i) {
          if (run(results[i].algo) != CUBLAS_STATUS_SUCCESS) continue;  // warm-up; skip candidates that fail
          const float ms = device_time_ms([&] { run(results[i].algo); }, 3, 100, best * 1.1f);
          if (i == 0) first = ms;
          if (best < 0.0f || ms < best) {
            best = ms;
            plan->algo = results[i].algo;
          }
        }
        if (verbose_)
          std::fprintf(stderr,
                       "sdpp cuda: linear [%lld, %lld] x [%lld, %lld]^T %s: %d candidates, first %.4f ms, best %.4f ms "
                       "(%.1f ms to choose)\n",
                       (long long)M, (long long)K, (long long)N, (long long)K, dtype_name(dtype), found, first, best,
                       std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - choice_start).count());
      }
      it = plans.emplace(key, std::move(plan)).first;
    }
    LinearPlan& plan = *it->second;
    if (bias.defined()) {
      const void* bias_ptr = bias.raw();
      SDPP_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
    }
    const float alpha = 1.0f, beta = residual_in_c ? 1.0f : 0.0f;
    const void* c_ptr = residual_in_c ? residual.raw() : out.raw();
    library_call([&](cudaStream_t stream) {
      SDPP_CUBLAS_CHECK(cublasLtMatmul(cublaslt_, plan.op, &alpha, weight.raw(), plan.a, x.raw(), plan.b, &beta, c_ptr,
                                       plan.c, out.raw(), plan.c, &plan.algo, gemm_workspace_, gemm_workspace_bytes_,
                                       stream));
    });
  }
  if (K == 0 && (bias.defined() || residual_in_c))
    launch_bias_residual(out.raw(), dtype, bias.defined() ? bias.raw() : nullptr, dtype,
                         residual_in_c ? residual.raw() : nullptr, dtype, out.raw(), dtype, M, N, 1, stream_);
  if (!act_none && !fuse_gelu) {
    if (residual.defined())
      launch_binary(out.raw(), dtype, residual.raw(), dtype, out.raw(), dtype, out.numel(), BinaryOp::Add,
                    Broadcast::Same, 1, int(o.activation), stream_);
    else
      launch_unary(out.raw(), dtype, out.raw(), dtype, out.numel(), UnaryOp::Activation, int(o.activation), 0, 0,
                   stream_);
  }
  return x_in.dtype() == dtype ? out : out.to(x_in.dtype());
}

CudaBackend::FusedPath CudaBackend::fused_path_from_env(const char* variable) {
  const char* v = std::getenv(variable);
  const std::string name = v ? v : "";
  if (name.empty() || name == "timed") return FusedPath::Timed;
  if (name == "fused") return FusedPath::Fused;
  if (name == "library") return FusedPath::Library;
  throw Error(ErrorCode::InvalidArgument, std::string(variable) + "='" + name + "' (timed, fused or library)");
}

void CudaBackend::set_geglu_path(FusedPath path) {
  geglu_path_ = path;
  geglu_fused_faster_.clear();
}

void CudaBackend::set_linear_norm_path(FusedPath path) {
  linear_norm_path_ = path;
  linear_norm_fused_faster_.clear();
}

bool CudaBackend::fused_is_faster(std::map<FusedKey, bool>& decided, const FusedKey& key, FusedPath path,
                                  const std::function<bool()>& fused, const std::function<void()>& library,
                                  const char* op) {
  if (path == FusedPath::Library) return false;
  auto it = decided.find(key);
  if (it != decided.end()) return it->second;
  if (path == FusedPath::Timed && untimed_depth_) return false;  // the library's path, decided later
  bool faster = true;
  if (path == FusedPath::Timed && !capturing_) {
    library();  // plans the library's kernels (and warms them up)
    if (!fused()) {  // a shape the kernel does not take: the library from now on, untimed
      decided.emplace(key, false);
      return false;
    }
    ++timed_choices_;
    const float library_ms = device_time_ms(library, 5, 200);
    const float fused_ms = device_time_ms([&] { fused(); }, 5, 200);
    faster = fused_ms < library_ms;
    if (verbose_)
      std::fprintf(stderr, "sdpp cuda: %s [%lld, %lld] -> %lld (%d): fused %.4f ms, library %.4f ms\n", op,
                   (long long)std::get<0>(key), (long long)std::get<1>(key), (long long)std::get<2>(key),
                   std::get<3>(key), fused_ms, library_ms);
  }
  decided.emplace(key, faster);
  return faster;
}

Tensor CudaBackend::linear_geglu(const Tensor& x_in, const Tensor& weight, const Tensor& bias_in) {
  check_input(x_in, "linear_geglu");
  check_input(weight, "linear_geglu");
  const DType dtype = weight.dtype();
  const int64_t K = weight.dim(1), F = weight.dim(0) / 2, M = K ? x_in.numel() / K : 0;
  if (bias_in.defined() && bias_in.numel() != 2 * F)
    throw Error(ErrorCode::ShapeMismatch, "linear_geglu: bias " + shape_str(bias_in.shape()) + " for " +
                                              std::to_string(2 * F) + " outputs");
  const bool may_fuse = geglu_path_ != FusedPath::Library && (dtype == DType::F16 || dtype == DType::BF16) &&
                        M > 0 && K > 0 && compute_capability_major() == 9;
  if (!may_fuse) return Backend::linear_geglu(x_in, weight, bias_in);
  activate();
  const Tensor x = as_dtype(contiguous(x_in), dtype);
  const Tensor bias = bias_in.defined() ? as_dtype(bias_in, dtype) : Tensor();
  Shape out_shape = x_in.shape();
  out_shape.back() = F;
  Tensor out = empty(out_shape, dtype);
  auto fused = [&] {
    return launch_linear_geglu_sm90(x.raw(), weight.raw(), bias.defined() ? bias.raw() : nullptr, out.raw(), dtype, M,
                                    K, F, stream_);
  };
  if (!fused_is_faster(geglu_fused_faster_, FusedKey(M, K, F, int(dtype)), geglu_path_, fused,
                       [&] { (void)Backend::linear_geglu(x, weight, bias); }, "linear_geglu"))
    return Backend::linear_geglu(x_in, weight, bias_in);
  auto scope = profiler_.begin("linear_geglu", x_in, &weight);
  if (!fused()) return Backend::linear_geglu(x_in, weight, bias_in);
  return x_in.dtype() == dtype ? out : out.to(x_in.dtype());
}

ops::LinearAndNorm CudaBackend::linear_layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias_in,
                                                  const ops::LinearOptions& o, const Tensor& norm_gamma,
                                                  const Tensor& norm_beta, float eps) {
  check_input(x_in, "linear_layer_norm");
  check_input(weight, "linear_layer_norm");
  const DType dtype = weight.dtype();
  const int64_t K = weight.dim(1), N = weight.dim(0), M = K ? x_in.numel() / K : 0;
  const Tensor* residual_in = o.residual && o.residual->defined() ? o.residual : nullptr;
  // What the kernel does not take (other widths, activations, mixed dtypes) goes to the library untimed; so do
  // shapes the checks of linear() and layer_norm() would refuse, which they then report.
  const bool may_fuse = linear_norm_path_ != FusedPath::Library && o.activation == ops::Activation::None &&
                        x_in.dtype() == dtype && compute_capability_major() == 9 &&
                        linear_layer_norm_sm90_takes(dtype, M, K, N) &&
                        (!bias_in.defined() || bias_in.numel() == N) &&
                        (!residual_in || (residual_in->dtype() == dtype && residual_in->numel() == M * N));
  if (!may_fuse) return Backend::linear_layer_norm(x_in, weight, bias_in, o, norm_gamma, norm_beta, eps);
  check_input(norm_gamma, "linear_layer_norm");
  check_input(norm_beta, "linear_layer_norm");
  Shape out_shape = x_in.shape();
  out_shape.back() = N;
  if (residual_in && residual_in->shape() != out_shape)
    throw Error(ErrorCode::ShapeMismatch, "linear_layer_norm: residual " + shape_str(residual_in->shape()) +
                                              " vs output " + shape_str(out_shape));
  activate();
  const Tensor x = contiguous(x_in);
  const Tensor bias = bias_in.defined() ? as_dtype(bias_in, dtype) : Tensor();
  const Tensor residual = residual_in ? contiguous(*residual_in) : Tensor();
  const Tensor gamma = as_dtype(norm_gamma, dtype), beta = as_dtype(norm_beta, dtype);
  Tensor out = empty(out_shape, dtype), normed = empty(out_shape, dtype);
  LinearLayerNormArgs args;
  args.x = x.raw();
  args.weight = weight.raw();
  args.bias = bias.defined() ? bias.raw() : nullptr;
  args.residual = residual.defined() ? residual.raw() : nullptr;
  args.gamma = gamma.raw();
  args.beta = beta.raw();
  args.out = out.raw();
  args.normed = normed.raw();
  args.m = M, args.k = K, args.n = N, args.eps = eps;
  auto fused = [&] { return launch_linear_layer_norm_sm90(args, dtype, stream_); };
  auto library = [&] { (void)Backend::linear_layer_norm(x, weight, bias, o, gamma, beta, eps); };
  if (!fused_is_faster(linear_norm_fused_faster_, FusedKey(M, K, N, 2 * int(dtype) + (residual_in ? 1 : 0)),
                       linear_norm_path_, fused, library, "linear_layer_norm"))
    return Backend::linear_layer_norm(x_in, weight, bias_in, o, norm_gamma, norm_beta, eps);
  auto scope = profiler_.begin("linear_layer_norm", x_in, &weight);
  if (!fused()) return Backend::linear_layer_norm(x_in, weight, bias_in, o, norm_gamma, norm_beta, eps);
  return {std::move(out), std::move(normed)};
}

}  // namespace sdpp::cuda
