#include "backend/cuda/cudnn_sdpa.h"

#include <array>

#include "core/error.h"

namespace sdpp::cuda {

#if CUDNN_VERSION >= 91300
namespace {

// Version of the first library whose SDPA_FWD operation serves a plain inference attention (no statistics output).
constexpr int kFirstVersion = 91301;

enum Uid : int64_t { kQ = 1, kK, kV, kO, kScale };

// [B, H, L, D] view of rows `row_stride` elements apart, heads D apart.
cudnnBackendDescriptor_t rows(CudnnDescriptors& ds, int64_t uid, cudnnDataType_t type, int64_t batch, int64_t heads,
                              int64_t length, int64_t dim, int64_t row_stride) {
  const std::array<int64_t, 4> dims{batch, heads, length, dim}, strides{length * row_stride, dim, row_stride, 1};
  return cudnn_tensor(ds, uid, type, dims, strides);
}

}  // namespace

int cudnn_sdpa_version() {
  const int version = int(cudnnGetVersion());
  return version >= kFirstVersion ? version : 0;
}

cudnnBackendDescriptor_t cudnn_sdpa_operation(CudnnDescriptors& ds, const SdpaShape& s, std::string* why) {
  auto fail = [&](const std::string& reason) -> cudnnBackendDescriptor_t {
    if (why) *why = reason;
    return nullptr;
  };
  if (!cudnn_sdpa_version())
    return fail("cuDNN " + std::to_string(cudnnGetVersion()) + " has no SDPA_FWD operation (needs 9.13.1)");
  if (s.dtype != DType::F16 && s.dtype != DType::BF16) return fail("cuDNN attention takes f16 or bf16");
  const cudnnDataType_t type = cudnn_data_type(s.dtype);
  cudnnBackendDescriptor_t q = rows(ds, kQ, type, s.batch, s.heads, s.lq, s.head_dim, s.q_stride);
  cudnnBackendDescriptor_t k = rows(ds, kK, type, s.batch, s.heads, s.lk, s.head_dim, s.kv_stride);
  cudnnBackendDescriptor_t v = rows(ds, kV, type, s.batch, s.heads, s.lk, s.head_dim, s.kv_stride);
  cudnnBackendDescriptor_t o = rows(ds, kO, type, s.batch, s.heads, s.lq, s.head_dim, s.heads * s.head_dim);
  const std::array<int64_t, 4> ones{1, 1, 1, 1};
  cudnnBackendDescriptor_t scale = cudnn_tensor(ds, kScale, CUDNN_DATA_FLOAT, ones, ones, 4, true);  // host float
  cudnnBackendDescriptor_t op = ds.make(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &q);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &k);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &v);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &o);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &scale);
  return ds.finalize(op, "SDPA_FWD operation") ? op : fail(ds.error());
}

std::vector<std::unique_ptr<CudnnSdpaPlan>> CudnnSdpaPlan::candidates(cudnnHandle_t handle, const SdpaShape& s,
                                                                      int limit, std::string* why) {
  std::vector<std::unique_ptr<CudnnSdpaPlan>> plans;
  auto ds = std::make_shared<CudnnDescriptors>();
  cudnnBackendDescriptor_t op = cudnn_sdpa_operation(*ds, s, why);
  if (!op) return plans;
  // No cuDNN 9.14 attention engine for SD's shapes ships precompiled: those compiled at run time (once per shape, at
  // its first call) are the only ones there are.
  constexpr bool allow_runtime_compilation = true;
  for (cudnnBackendDescriptor_t config : cudnn_engine_configs(*ds, handle, op, limit, allow_runtime_compilation, why))
    if (auto plan = CudnnExecutionPlan::create(ds, handle, config, plans.empty() ? why : nullptr))
      plans.push_back(std::unique_ptr<CudnnSdpaPlan>(new CudnnSdpaPlan(std::move(plan))));
  return plans;
}

void CudnnSdpaPlan::run(cudnnHandle_t handle, const void* q, const void* k, const void* v, void* out, float scale,
                        void* workspace) const {
  const std::array<int64_t, 5> uids{kQ, kK, kV, kO, kScale};
  const std::array<void*, 5> pointers{const_cast<void*>(q), const_cast<void*>(k), const_cast<void*>(v), out, &scale};
  std::string why;
  if (!plan_->run(handle, uids, pointers, workspace, &why)) throw Error(ErrorCode::Internal, "cuDNN attention: " + why);
}

#else  // headers older than 9.13: no SDPA_FWD operation to plan

int cudnn_sdpa_version() { return 0; }

cudnnBackendDescriptor_t cudnn_sdpa_operation(CudnnDescriptors&, const SdpaShape&, std::string* why) {
  if (why) *why = "built against cuDNN " + std::to_string(CUDNN_VERSION) + " headers, which lack SDPA_FWD (9.13)";
  return nullptr;
}

std::vector<std::unique_ptr<CudnnSdpaPlan>> CudnnSdpaPlan::candidates(cudnnHandle_t, const SdpaShape&, int,
                                                                      std::string* why) {
  if (why) *why = "built against cuDNN " + std::to_string(CUDNN_VERSION) + " headers, which lack SDPA_FWD (9.13)";
  return {};
}
void CudnnSdpaPlan::run(cudnnHandle_t, const void*, const void*, const void*, void*, float, void*) const {
  throw Error(ErrorCode::Internal, "cuDNN attention: not built");
}

#endif

}  // namespace sdpp::cuda
