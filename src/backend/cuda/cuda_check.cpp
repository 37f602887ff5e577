#include "backend/cuda/cuda_check.h"

namespace sdpp::cuda {
namespace {

std::string where(const char* what, const char* file, int line) {
  return std::string(what) + " (" + file + ":" + std::to_string(line) + ")";
}

}  // namespace

void throw_cuda(cudaError_t status, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a sticky launch error so the next op reports its own status
  const ErrorCode code = status == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::DeviceError;
  throw Error(code, std::string("CUDA error ") + cudaGetErrorName(status) + ": " + cudaGetErrorString(status) +
                        " in " + where(what, file, line));
}

void throw_cublas(cublasStatus_t status, const char* what, const char* file, int line) {
  const ErrorCode code = status == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::OutOfMemory : ErrorCode::DeviceError;
  throw Error(code, std::string("cuBLAS error ") + cublasGetStatusName(status) + ": " + cublasGetStatusString(status) +
                        " in " + where(what, file, line));
}

void throw_cudnn(cudnnStatus_t status, const char* what, const char* file, int line) {
  const ErrorCode code = status == CUDNN_STATUS_ALLOC_FAILED ? ErrorCode::OutOfMemory : ErrorCode::DeviceError;
  throw Error(code, std::string("cuDNN error ") + cudnnGetErrorString(status) + " in " + where(what, file, line));
}

}  // namespace sdpp::cuda
