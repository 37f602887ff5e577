// cuDNN's backend graph API, the parts the backend's graph-planned ops share (cudnn_sdpa.cpp, cudnn_conv_graph.cpp):
// descriptors owned and freed together, tensor descriptors, the engine configurations cuDNN's heuristics rank for an
// operation, and execution plans run with a variant pack. Failures are reported as values with cuDNN's own message,
// since an operation cuDNN cannot plan is a normal outcome for callers that have another path.
#pragma once
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace sdpp::cuda {

// cuDNN's element type for the backend's f16 / bf16 / f32 tensors (the legacy API's descriptors take it too).
cudnnDataType_t cudnn_data_type(DType t);

// Backend descriptors made while planning, destroyed together (last made first) with the last owner.
class CudnnDescriptors {
 public:
  CudnnDescriptors() = default;
  ~CudnnDescriptors();
  CudnnDescriptors(const CudnnDescriptors&) = delete;
  CudnnDescriptors& operator=(const CudnnDescriptors&) = delete;

  // A descriptor of `type`, or null (the reason recorded) when cuDNN refuses to make one; later calls on null
  // descriptors fail without calling cuDNN, so a chain of set() stops at its first failure.
  cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type);
  template <class T>
  bool set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
           const T* values, int64_t count = 1) {
    return d && check(cudnnBackendSetAttribute(d, name, type, count, values), "set attribute");
  }
  bool finalize(cudnnBackendDescriptor_t d, const char* what) { return d && check(cudnnBackendFinalize(d), what); }
  // False (and the first failure's reason kept) unless `status` is success.
  bool check(cudnnStatus_t status, const char* what);
  const std::string& error() const { return error_; }
  // Before an attempt whose failure must be reported on its own (one of several plans made from these descriptors).
  void clear_error() { error_.clear(); }

 private:
  std::vector<cudnnBackendDescriptor_t> owned_;
  std::string error_;
};

// A finalized tensor descriptor: `dims` and `strides` in elements, `uid` naming it in variant packs.
cudnnBackendDescriptor_t cudnn_tensor(CudnnDescriptors& ds, int64_t uid, cudnnDataType_t type,
                                      std::span<const int64_t> dims, std::span<const int64_t> strides,
                                      int64_t byte_alignment = 16, bool by_value = false);

// The engine configurations cuDNN's heuristics (mode A) rank for a one-operation graph of `operation`, best first,
// at most `limit`, leaving out those whose numerical notes say non-deterministic or reduced-precision accumulation
// (replays must equal eager calls, and f32 accumulation is the backend's contract) and, unless allowed, those that
// compile kernels at run time (seconds per shape added to the first image). Empty, with the reason in `why`, when
// there are none.
std::vector<cudnnBackendDescriptor_t> cudnn_engine_configs(CudnnDescriptors& ds, cudnnHandle_t handle,
                                                           cudnnBackendDescriptor_t operation, int limit,
                                                           bool allow_runtime_compilation, std::string* why);

// A finalized execution plan with the descriptors it was made from.
class CudnnExecutionPlan {
 public:
  // The plan of `config`, or null with the reason in `why`.
  static std::unique_ptr<CudnnExecutionPlan> create(std::shared_ptr<CudnnDescriptors> ds, cudnnHandle_t handle,
                                                    cudnnBackendDescriptor_t config, std::string* why);
  int64_t workspace_bytes() const { return workspace_bytes_; }
  // Enqueues the plan on the handle's stream with the tensors `uids` name at `pointers` (a by-value tensor's
  // pointer is a host address); false, with cuDNN's reason in `why`, if it refuses.
  bool run(cudnnHandle_t handle, std::span<const int64_t> uids, std::span<void* const> pointers, void* workspace,
           std::string* why) const;

 private:
  std::shared_ptr<CudnnDescriptors> descriptors_;  // the plan is one of them
  cudnnBackendDescriptor_t plan_ = nullptr;
  int64_t workspace_bytes_ = 0;
};

}  // namespace sdpp::cuda
