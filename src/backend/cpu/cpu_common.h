// Helpers shared by the cpu kernels: input checks, output allocation, scalar activations and threaded GEMM.
#pragma once
#include <string>

#include "backend/ops.h"
#include "core/error.h"
#include "core/tensor.h"

namespace sdpp::cpu {

// Every cpu kernel reads f32 tensors on the cpu; anything else is a caller bug worth a clear message.
inline const float* in_f32(const Tensor& x, const char* op, const char* what) {
  if (!x.defined()) throw Error(ErrorCode::Internal, std::string(op) + ": " + what + " is undefined");
  if (x.dtype() != DType::F32 || !x.device().is_cpu())
    throw Error(ErrorCode::Unsupported, std::string(op) + ": " + what + " must be f32 on the cpu, got " +
                                            dtype_name(x.dtype()) + " on " + x.device().str());
  return x.data<float>();
}

inline Tensor new_f32(const Shape& shape) { return Tensor::empty(shape, DType::F32, Device::cpu()); }

[[noreturn]] inline void shape_error(const std::string& message) { throw Error(ErrorCode::ShapeMismatch, message); }

// Optional per-channel vector (bias, gamma, beta): nullptr when undefined, else checked to be [n].
inline const float* optional_vector(const Tensor& t, int64_t n, const char* op, const char* what) {
  if (!t.defined()) return nullptr;
  const float* p = in_f32(t, op, what);
  if (t.numel() != n) shape_error(std::string(op) + ": " + what + " " + shape_str(t.shape()) + ", expected [" + std::to_string(n) + "]");
  return p;
}

// Residual of exactly `shape`, or nullptr.
inline const float* optional_residual(const Tensor* r, const Shape& shape, const char* op) {
  if (!r || !r->defined()) return nullptr;
  const float* p = in_f32(*r, op, "residual");
  if (r->shape() != shape) shape_error(std::string(op) + ": residual " + shape_str(r->shape()) + " vs output " + shape_str(shape));
  return p;
}

// Applies `act` to p[0..n) in place; the switch sits outside the loop so each case vectorises on its own.
void activate_inplace(float* p, int64_t n, ops::Activation act);

// Row-major C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C, where op(B) = B^T when trans_b (B stored
// [N,K]) and op(A) = A^T when trans_a (A stored [K,M]). Single-threaded OpenBLAS call.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The same product split over the thread pool (rows of C, or columns when M is small).
void sgemm_parallel(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                    int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace sdpp::cpu
