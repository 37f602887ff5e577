// GEMM on OpenBLAS (single-threaded calls split over our pool) and linear with its fused epilogue.
#include <cblas.h>

#include <algorithm>
#include <limits>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  constexpr int64_t kMax = std::numeric_limits<int>::max();  // cblas takes int dimensions
  if (M > kMax || N > kMax || K > kMax || lda > kMax || ldb > kMax || ldc > kMax)
    throw Error(ErrorCode::Unsupported, "cpu sgemm: dimensions " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                                            std::to_string(K) + " exceed the BLAS int range");
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(M), int(N),
              int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

void sgemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int threads = num_threads();
  // Too little work to be worth waking the pool: ~1 MFLOP per thread minimum.
  if (threads == 1 || M * N * K < int64_t(1) << 20) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the larger of M and N so each part keeps a GEMM shape the kernels like (multiples of 16 wide).
  if (M >= N) {
    const int64_t grain = std::max<int64_t>(16, (M / threads + 15) / 16 * 16);
    parallel_for(M, grain, [&](int64_t m0, int64_t m1) {
      const float* a = trans_a ? A + m0 : A + m0 * lda;
      sgemm(trans_a, trans_b, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + m0 * ldc, ldc);
    });
  } else {
    const int64_t grain = std::max<int64_t>(16, (N / threads + 15) / 16 * 16);
    parallel_for(N, grain, [&](int64_t n0, int64_t n1) {
      const float* b = trans_b ? B + n0 * ldb : B + n0;
      sgemm(trans_a, trans_b, M, n1 - n0, K, alpha, A, lda, b, ldb, beta, C + n0, ldc);
    });
  }
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::LinearOptions& o) {
  const float* xp = in_f32(x, "linear", "input");
  const float* wp = in_f32(weight, "linear", "weight");
  if (x.ndim() < 1 || weight.ndim() != 2 || x.dim(-1) != weight.dim(1))
    shape_error("linear: input " + shape_str(x.shape()) + " vs weight " + shape_str(weight.shape()));
  const int64_t K = weight.dim(1), N = weight.dim(0), M = K ? x.numel() / K : 0;
  const float* bp = optional_vector(bias, N, "linear", "bias");
  Shape out_shape = x.shape();
  out_shape.back() = N;
  const float* rp = optional_residual(o.residual, out_shape, "linear");
  Tensor out = new_f32(out_shape);
  float* op = out.f32();
  if (K == 0) {
    std::fill(op, op + M * N, 0.0f);
  } else {
    sgemm_parallel(false, true, M, N, K, 1.0f, xp, K, wp, K, 0.0f, op, N);  // [M, K] · [N, K]^T
  }
  if (bp || o.activation != ops::Activation::None || rp) {
    parallel_for(M, std::max<int64_t>(1, 4096 / std::max<int64_t>(N, 1)), [&](int64_t m0, int64_t m1) {
      for (int64_t m = m0; m < m1; ++m) {
        float* row = op + m * N;
        if (bp) {
          for (int64_t n = 0; n < N; ++n) row[n] += bp[n];
        }
        activate_inplace(row, N, o.activation);
        if (rp) {
          const float* r = rp + m * N;
          for (int64_t n = 0; n < N; ++n) row[n] += r[n];
        }
      }
    });
  }
  return out;
}

}  // namespace sdpp::cpu
