// attention(): the fused flash kernel for f16/bf16 with a covered head dim; otherwise (f32, VAE's 512-wide single
// head, unaligned inputs) scores are materialised per chunk of queries through cuBLAS in f32, soft-maxed by a row
// kernel and multiplied with V. Chunking bounds the score buffer (a 128x128 VAE latent has 16384 tokens).
#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

constexpr int64_t kScoreBudgetBytes = int64_t(256) << 20;

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
    if (launch_flash_attention(q_in.raw(), k.raw(), v.raw(), out.raw(), dtype, B, o.heads, Lq, Lk, int(D), scale,
                               o.causal, stream_))
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
    if (launch_flash_attention(q, k, v, out.raw(), dtype, B, o.heads, Lq, Lk, int(D), scale, o.causal, stream_,
                               packed.dim(2), self ? packed.dim(2) : kv.dim(2)))
      return out;
  }
  return Backend::attention_packed(packed, kv, o);
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
  if (kernel != "auto" && kernel != "mma")
    throw Error(ErrorCode::InvalidArgument, "attention kernel '" + kernel + "' (auto or mma)");
  cuda::set_flash_attention_wgmma(kernel == "auto");
}

}  // namespace sdpp
