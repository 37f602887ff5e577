// attention(): fused for f16/bf16 with a covered head dim, by the backend's own flash kernels or, on large shapes
// (see default_attention_kernel), by cuDNN's SDPA engine where it was timed faster on the shape's first call
// (fused_attention); otherwise (f32, VAE's 512-wide single
// head, unaligned inputs) scores are materialised per chunk of queries through cuBLAS in f32, soft-maxed by a row
// kernel and multiplied with V. Chunking bounds the score buffer (a 128x128 VAE latent has 16384 tokens).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cudnn_sdpa.h"
#include "backend/cuda/kernels.h"
#include "core/env_flag.h"

namespace sdpp::cuda {
namespace {

constexpr int64_t kScoreBudgetBytes = int64_t(256) << 20;

// cuDNN's first heuristic choices timed against the own kernel on a new shape.
constexpr int kCudnnCandidates = 3;

// Process-wide fused-kernel choice (set_attention_kernel): `Timed` runs cuDNN and the own kernels on each new shape
// and keeps the faster; the others force one (Cudnn: wherever cuDNN plans the shape, and an error where it does not).
enum class AttentionKernel { Own, Mma, Timed, Cudnn };

// The default: the timed choice, cuDNN's engines timed against the own kernel on each new shape of at least
// kCudnnMinPairs query-key pairs a head (SD's 32x32 and 64x64 self-attentions), and on self-attentions of at least
// kCudnnMinSelfPairs (SD 1.5's 16x16 level: 256 tokens, head dim 160, about 10 us a call in cuDNN against 14 us in the
// own kernel, fourteenth session); SDPP_CUDA_CUDNN_ATTENTION=0 keeps the own kernels everywhere, =large times only the
// first kind. cuDNN compiles its attention kernels at run time (none of its engines for these shapes is precompiled,
// cuDNN 9.14 on an H100), so each timed shape costs its first call a compilation. On fresh H100s, every shape timed
// made SD 1.5's first image 1.1 s longer than the own kernels alone, these large ones 0.3-0.9 s; the smaller shapes
// gain microseconds (cross-attention over 77 keys is 3-5 us a call either way), hence the thresholds (docs/
// PERFORMANCE.md, fifth session).
constexpr int64_t kCudnnMinPairs = int64_t(1) << 20;
constexpr int64_t kCudnnMinSelfPairs = int64_t(1) << 16;

AttentionKernel default_attention_kernel() {
  static const AttentionKernel kernel =
      env_is("SDPP_CUDA_CUDNN_ATTENTION", "0") ? AttentionKernel::Own : AttentionKernel::Timed;
  return kernel;
}

// Whether the timed choice tries cuDNN on a shape of lq queries and lk keys a head.
bool cudnn_timed_on(int64_t lq, int64_t lk) {
  static const bool large_only = env_is("SDPP_CUDA_CUDNN_ATTENTION", "large");
  return lq * lk >= kCudnnMinPairs || (!large_only && lq == lk && lq * lk >= kCudnnMinSelfPairs);
}

std::atomic<AttentionKernel>& attention_kernel() {
  static std::atomic<AttentionKernel> kernel{default_attention_kernel()};
  return kernel;
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

cudaDataType_t blas_type(DType t) {
  switch (t) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

}  // namespace

Tensor CudaBackend::attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                              const ops::AttentionOptions& o) {
  check_input(q_in, "attention");
  check_input(k_in, "attention");
  check_input(v_in, "attention");
  if (q_in.ndim() != 3 || k_in.ndim() != 3 || v_in.ndim() != 3 || o.heads < 1 || q_in.dim(2) % o.heads != 0 ||
      k_in.shape() != v_in.shape() || q_in.dim(0) != k_in.dim(0) || q_in.dim(2) != k_in.dim(2))
    throw Error(ErrorCode::ShapeMismatch, "attention: q " + shape_str(q_in.shape()) + " k " + shape_str(k_in.shape()) +
                                              " v " + shape_str(v_in.shape()) + " heads " + std::to_string(o.heads));
  const int64_t B = q_in.dim(0), Lq = q_in.dim(1), Lk = k_in.dim(1), D = q_in.dim(2) / o.heads;
  if (Lk == 0 && Lq > 0) throw Error(ErrorCode::ShapeMismatch, "attention: empty key sequence " + shape_str(k_in.shape()));
  const float scale = o.scale != 0.0f ? o.scale : 1.0f / std::sqrt(float(D));
  activate();
  auto scope = profiler_.begin(o.causal ? "attention(causal)" : "attention", q_in, &k_in);
  const DType dtype = q_in.dtype();
  const Tensor k = as_dtype(contiguous(k_in), dtype), v = as_dtype(contiguous(v_in), dtype);
  if (q_in.numel() == 0) return empty(q_in.shape(), dtype);
  if (fused_attention_ && D <= 160) {
    Tensor out = empty(q_in.shape(), dtype);
    if (fused_attention(q_in.raw(), k.raw(), v.raw(), out.raw(), dtype, B, o.heads, Lq, Lk, int(D), scale, o.causal,
                        0, 0))
      return out;
  }
  return attention_generic(q_in, k, v, o.heads, scale, o.causal);
}

Tensor CudaBackend::attention_packed(const Tensor& packed, const Tensor& kv, const ops::AttentionOptions& o) {
  check_input(packed, "attention");
  if (kv.defined()) check_input(kv, "attention");
  const bool self = !kv.defined();
  const int64_t inner = self ? packed.dim(2) / 3 : packed.dim(2);
  const int64_t B = packed.dim(0), Lq = packed.dim(1), Lk = self ? Lq : kv.dim(1), D = inner / o.heads;
  const DType dtype = packed.dtype();
  if (fused_attention_ && D <= 160 && Lq > 0 && Lk > 0 && (self || kv.dtype() == dtype)) {
    activate();
    auto scope = profiler_.begin(o.causal ? "attention(causal)" : "attention", packed, self ? nullptr : &kv);
    const size_t es = dtype_size(dtype);
    const char* q = static_cast<const char*>(packed.raw());
    const char* k = self ? q + size_t(inner) * es : static_cast<const char*>(kv.raw());
    const char* v = k + size_t(inner) * es;
    const float scale = o.scale != 0.0f ? o.scale : 1.0f / std::sqrt(float(D));
    Tensor out = empty({B, Lq, inner}, dtype);
    if (fused_attention(q, k, v, out.raw(), dtype, B, o.heads, Lq, Lk, int(D), scale, o.causal, packed.dim(2),
                        self ? packed.dim(2) : kv.dim(2)))
      return out;
  }
  return Backend::attention_packed(packed, kv, o);
}

bool CudaBackend::fused_attention(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                                  int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                                  int64_t q_stride, int64_t kv_stride) {
  const AttentionKernel kernel = attention_kernel().load();
  auto own = [&] {
    return launch_flash_attention(q, k, v, out, dtype, batch, heads, lq, lk, head_dim, scale, causal, stream_, q_stride,
                                  kv_stride);
  };
  // cuDNN's operation has no causal mask here (the CLIP text encoder's attention stays with the own kernel).
  const bool cudnn_applies = (kernel == AttentionKernel::Cudnn ||
                              (kernel == AttentionKernel::Timed && cudnn_timed_on(lq, lk))) && !causal &&
                             (dtype == DType::F16 || dtype == DType::BF16) && head_dim % 8 == 0 && aligned16(q) &&
                             aligned16(k) && aligned16(v) && aligned16(out);
  if (!cudnn_applies) return own();
  const SdpaShape shape{batch, heads, lq, lk, head_dim, q_stride ? q_stride : heads * head_dim,
                        kv_stride ? kv_stride : heads * head_dim, dtype};
  const bool timed = kernel == AttentionKernel::Timed;
  auto it = sdpa_plans_.find(shape.key());
  if (it == sdpa_plans_.end() || (timed && !it->second.timed)) {
    // Planning and timing run the candidates on the device, which a recording cannot; a forward is recorded after
    // it ran eagerly, so its shapes are planned by then. Inside an UntimedChoices scope the own kernel is the
    // untimed default (building and timing cuDNN's plans took 0.12-0.23 s a shape on an H100).
    if (capturing_ || (timed && untimed_depth_)) return own();
    it = sdpa_plans_.insert_or_assign(shape.key(), plan_sdpa(shape, q, k, v, out, scale, timed, own)).first;
  }
  const SdpaChoice& choice = it->second;
  const bool use_cudnn = choice.plan && (kernel == AttentionKernel::Cudnn || choice.cudnn_faster);
  if (kernel == AttentionKernel::Cudnn && !choice.plan)
    throw Error(ErrorCode::Unsupported, "attention: cuDNN has no plan for B " + std::to_string(batch) + " H " +
                                            std::to_string(heads) + " Lq " + std::to_string(lq) + " Lk " +
                                            std::to_string(lk) + " D " + std::to_string(head_dim) + ": " + choice.why);
  if (!use_cudnn) return own();
  Tensor workspace = choice.plan->workspace_bytes() ? empty({choice.plan->workspace_bytes()}, DType::U8) : Tensor();
  library_call([&](cudaStream_t stream) {
    // cuDNN runs on its handle's stream: the given one for this call, stream_ again after it (thrown or not).
    SDPP_CUDNN_CHECK(cudnnSetStream(cudnn_, stream));
    struct Restore {
      cudnnHandle_t handle;
      cudaStream_t stream;
      ~Restore() { cudnnSetStream(handle, stream); }
    } restore{cudnn_, stream_};
    choice.plan->run(cudnn_, q, k, v, out, scale, workspace.defined() ? workspace.raw() : nullptr);
  });
  return true;
}

CudaBackend::SdpaChoice CudaBackend::plan_sdpa(const SdpaShape& shape, const void* q, const void* k, const void* v,
                                               void* out, float scale, bool timed,
                                               const std::function<bool()>& own) {
  SdpaChoice choice;
  choice.timed = timed;
  float own_ms = -1.0f, best_ms = -1.0f;
  if (timed) ++timed_choices_;
  if (timed && own()) own_ms = device_time_ms([&] { own(); }, 5, 200);
  std::vector<std::unique_ptr<CudnnSdpaPlan>> candidates =
      CudnnSdpaPlan::candidates(cudnn_, shape, timed ? kCudnnCandidates : 1, &choice.why);
  for (auto& plan : candidates) {
    if (!timed) {
      choice.plan = std::move(plan);
      break;
    }
    Tensor workspace = plan->workspace_bytes() ? empty({plan->workspace_bytes()}, DType::U8) : Tensor();
    void* ws = workspace.defined() ? workspace.raw() : nullptr;
    try {
      plan->run(cudnn_, q, k, v, out, scale, ws);  // warm-up; a configuration that fails to run is skipped
    } catch (const Error& e) {
      choice.why = e.what();
      continue;
    }
    const float ms = device_time_ms([&] { plan->run(cudnn_, q, k, v, out, scale, ws); }, 5, 200);
    if (best_ms < 0.0f || ms < best_ms) {
      best_ms = ms;
      choice.plan = std::move(plan);
    }
  }
  choice.cudnn_faster = choice.plan && (own_ms < 0.0f || best_ms < own_ms);
  if (verbose_)
    std::fprintf(stderr,
                 "sdpp cuda: attention B %lld H %lld Lq %lld Lk %lld D %lld: own %.4f ms, cuDNN %.4f ms (%zu "
                 "candidates)%s%s\n",
                 (long long)shape.batch, (long long)shape.heads, (long long)shape.lq, (long long)shape.lk,
                 (long long)shape.head_dim, own_ms, best_ms, candidates.size(), choice.plan ? "" : "; none: ",
                 choice.plan ? "" : choice.why.c_str());
  return choice;
}

Tensor CudaBackend::attention_generic(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                                      bool causal) {
  const DType dtype = q.dtype();
  const int64_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), HD = q.dim(2), H = heads, D = HD / H;
  const size_t es = dtype_size(dtype);
  int64_t chunk = kScoreBudgetBytes / (H * Lk * int64_t(sizeof(float)));
  chunk = chunk < 1 ? 1 : chunk > Lq ? Lq : chunk;
  Tensor out = empty(q.shape(), dtype);
  Tensor scores = empty({H, chunk, Lk}, DType::F32);
  Tensor probs = empty({H, chunk, Lk}, dtype);
  const cudaDataType_t t = blas_type(dtype);
  const float zero = 0.0f, one = 1.0f;
  for (int64_t b = 0; b < B; ++b) {
    const char* qb = static_cast<const char*>(q.raw()) + size_t(b * Lq * HD) * es;
    const char* kb = static_cast<const char*>(k.raw()) + size_t(b * Lk * HD) * es;
    const char* vb = static_cast<const char*>(v.raw()) + size_t(b * Lk * HD) * es;
    char* ob = static_cast<char*>(out.raw()) + size_t(b * Lq * HD) * es;
    for (int64_t q0 = 0; q0 < Lq; q0 += chunk) {
      const int64_t qc = std::min(chunk, Lq - q0);
      // column-major S_h [Lk, qc] = K_h [Lk, D] * Q_h^T [D, qc], scaled; one batch entry per head.
      SDPP_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(Lk), int(qc), int(D), &scale, kb, t, int(HD), D,
          qb + size_t(q0 * HD) * es, t, int(HD), D, &zero, scores.raw(), CUDA_R_32F, int(Lk), qc * Lk, int(H),
          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      launch_softmax_rows(scores.data<float>(), probs.raw(), dtype, H * qc, Lk, qc, q0, causal, stream_);
      // column-major O_h^T [D, qc] = V_h^T [D, Lk] * P_h^T [Lk, qc]
      SDPP_CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, int(D), int(qc), int(Lk), &one,
                                                   vb, t, int(HD), D, probs.raw(), t, int(Lk), qc * Lk, &zero,
                                                   ob + size_t(q0 * HD) * es, t, int(HD), D, int(H),
                                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }
  return out;
}

}  // namespace sdpp::cuda

namespace sdpp {

void set_attention_kernel(const std::string& kernel) {
  using cuda::AttentionKernel;
  const AttentionKernel k = kernel == "auto"    ? cuda::default_attention_kernel()
                            : kernel == "own"   ? AttentionKernel::Own
                            : kernel == "mma"   ? AttentionKernel::Mma
                            : kernel == "timed" ? AttentionKernel::Timed
                            : kernel == "cudnn" ? AttentionKernel::Cudnn
                                                : throw Error(ErrorCode::InvalidArgument,
                                                              "attention kernel '" + kernel +
                                                                  "' (auto, own, mma, timed or cudnn)");
  cuda::attention_kernel().store(k);
  cuda::set_flash_attention_wgmma(k != AttentionKernel::Mma);
}

int cudnn_attention_version() { return cuda::cudnn_sdpa_version(); }

}  // namespace sdpp
