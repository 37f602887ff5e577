// Turns every CUDA / cuBLAS / cuDNN status into an sdpp::Error naming the call, so a failed launch or an
// out-of-memory surfaces as a typed error at the op that caused it rather than as a later crash.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "core/error.h"

namespace sdpp::cuda {

[[noreturn]] void throw_cuda(cudaError_t status, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t status, const char* what, const char* file, int line);
[[noreturn]] void throw_cudnn(cudnnStatus_t status, const char* what, const char* file, int line);

}  // namespace sdpp::cuda

#define SDPP_CUDA_CHECK(call)                                                          \
  do {                                                                                 \
    cudaError_t sdpp_status_ = (call);                                                 \
    if (sdpp_status_ != cudaSuccess) ::sdpp::cuda::throw_cuda(sdpp_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports bad launch configurations (and earlier asynchronous faults) at the op.
#define SDPP_CUDA_CHECK_LAUNCH() SDPP_CUDA_CHECK(cudaGetLastError())

#define SDPP_CUBLAS_CHECK(call)                                                        \
  do {                                                                                 \
    cublasStatus_t sdpp_status_ = (call);                                              \
    if (sdpp_status_ != CUBLAS_STATUS_SUCCESS) ::sdpp::cuda::throw_cublas(sdpp_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define SDPP_CUDNN_CHECK(call)                                                         \
  do {                                                                                 \
    cudnnStatus_t sdpp_status_ = (call);                                               \
    if (sdpp_status_ != CUDNN_STATUS_SUCCESS) ::sdpp::cuda::throw_cudnn(sdpp_status_, #call, __FILE__, __LINE__); \
  } while (0)
