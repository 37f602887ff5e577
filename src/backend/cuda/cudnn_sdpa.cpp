#include "backend/cuda/cudnn_sdpa.h"

#include <array>
#include <utility>
#include <vector>

#include "core/error.h"

namespace sdpp::cuda {

#if CUDNN_VERSION >= 91300
namespace {

// Version of the first library whose SDPA_FWD operation serves a plain inference attention (no statistics output).
constexpr int kFirstVersion = 91301;

enum Uid : int64_t { kQ = 1, kK, kV, kO, kScale };

std::string last_error() {
  char message[512] = {};
  cudnnGetLastErrorString(message, sizeof(message));
  return message;
}

// Owns backend descriptors made while planning; the execution plan keeps what it needs of them.
class Descriptors {
 public:
  ~Descriptors() {
    for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) cudnnBackendDestroyDescriptor(*it);
  }
  // A descriptor of `type`, or null (with the reason recorded) when cuDNN refuses to make one.
  cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type) {
    cudnnBackendDescriptor_t d = nullptr;
    if (!check(cudnnBackendCreateDescriptor(type, &d), "create descriptor")) return nullptr;
    owned_.push_back(d);
    return d;
  }
  template <class T>
  bool set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
           const T* values, int64_t count = 1) {
    return d && check(cudnnBackendSetAttribute(d, name, type, count, values), "set attribute");
  }
  bool finalize(cudnnBackendDescriptor_t d, const char* what) { return d && check(cudnnBackendFinalize(d), what); }
  // Hands every descriptor to the caller, in the order made (an execution plan may refer to the others).
  std::vector<cudnnBackendDescriptor_t> release() { return std::exchange(owned_, {}); }
  bool check(cudnnStatus_t status, const char* what) {
    if (status == CUDNN_STATUS_SUCCESS) return true;
    if (error_.empty()) error_ = std::string(what) + ": " + cudnnGetErrorString(status) + " " + last_error();
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  std::vector<cudnnBackendDescriptor_t> owned_;
  std::string error_;
};

// [B, H, L, D] view of rows `row_stride` elements apart, heads D apart.
cudnnBackendDescriptor_t tensor(Descriptors& ds, int64_t uid, cudnnDataType_t type, int64_t batch, int64_t heads,
                                int64_t length, int64_t dim, int64_t row_stride) {
  const std::array<int64_t, 4> dims{batch, heads, length, dim}, strides{length * row_stride, dim, row_stride, 1};
  const int64_t alignment = 16;
  cudnnBackendDescriptor_t t = ds.make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  ds.set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type);
  ds.set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims.data(), 4);
  ds.set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides.data(), 4);
  ds.set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &uid);
  ds.set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &alignment);
  return ds.finalize(t, "tensor") ? t : nullptr;
}

// The softmax scale: a host float passed with each call.
cudnnBackendDescriptor_t scalar(Descriptors& ds, int64_t uid) {
  const std::array<int64_t, 4> ones{1, 1, 1, 1};
  const cudnnDataType_t type = CUDNN_DATA_FLOAT;
  const int64_t alignment = 4;
  const bool by_value = true;
  cudnnBackendDescriptor_t t = ds.make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  ds.set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type);
  ds.set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, ones.data(), 4);
  ds.set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, ones.data(), 4);
  ds.set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &uid);
  ds.set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &alignment);
  ds.set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, &by_value);
  return ds.finalize(t, "scale tensor") ? t : nullptr;
}

}  // namespace

int cudnn_sdpa_version() {
  const int version = int(cudnnGetVersion());
  return version >= kFirstVersion ? version : 0;
}

std::unique_ptr<CudnnSdpaPlan> CudnnSdpaPlan::create(cudnnHandle_t handle, const SdpaShape& s, int engine_index,
                                                     std::string* why) {
  auto fail = [&](const std::string& reason) {
    if (why) *why = reason;
    return std::unique_ptr<CudnnSdpaPlan>();
  };
  if (!cudnn_sdpa_version())
    return fail("cuDNN " + std::to_string(cudnnGetVersion()) + " has no SDPA_FWD operation (needs 9.13.1)");
  if (s.dtype != DType::F16 && s.dtype != DType::BF16) return fail("cuDNN attention takes f16 or bf16");
  const cudnnDataType_t type = s.dtype == DType::F16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
  Descriptors ds;
  cudnnBackendDescriptor_t q = tensor(ds, kQ, type, s.batch, s.heads, s.lq, s.head_dim, s.q_stride);
  cudnnBackendDescriptor_t k = tensor(ds, kK, type, s.batch, s.heads, s.lk, s.head_dim, s.kv_stride);
  cudnnBackendDescriptor_t v = tensor(ds, kV, type, s.batch, s.heads, s.lk, s.head_dim, s.kv_stride);
  cudnnBackendDescriptor_t o = tensor(ds, kO, type, s.batch, s.heads, s.lq, s.head_dim, s.heads * s.head_dim);
  cudnnBackendDescriptor_t scale = scalar(ds, kScale);
  cudnnBackendDescriptor_t op = ds.make(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &q);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &k);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &v);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &o);
  ds.set(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, &scale);
  ds.finalize(op, "SDPA_FWD operation");
  cudnnBackendDescriptor_t graph = ds.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  ds.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle);
  ds.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, &op);
  ds.finalize(graph, "operation graph");
  cudnnBackendDescriptor_t heuristics = ds.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  ds.set(heuristics, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, &graph);
  ds.set(heuristics, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode);
  if (!ds.finalize(heuristics, "engine heuristics")) return fail(ds.error());
  int64_t count = 0;
  if (!ds.check(cudnnBackendGetAttribute(heuristics, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                         &count, nullptr),
                "engine count"))
    return fail(ds.error());
  if (engine_index >= count)
    return fail("cuDNN offers " + std::to_string(count) + " engine configurations for this attention");
  std::vector<cudnnBackendDescriptor_t> configs(static_cast<size_t>(count));
  for (auto& c : configs) c = ds.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  int64_t returned = 0;
  if (!ds.check(cudnnBackendGetAttribute(heuristics, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                         count, &returned, configs.data()),
                "engine configurations") ||
      engine_index >= returned)
    return fail(ds.error());
  cudnnBackendDescriptor_t plan = ds.make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  ds.set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle);
  ds.set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, &configs[size_t(engine_index)]);
  if (!ds.finalize(plan, "execution plan")) return fail(ds.error());
  int64_t workspace = 0, one = 0;
  if (!ds.check(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &one,
                                         &workspace),
                "workspace size"))
    return fail(ds.error());
  std::unique_ptr<CudnnSdpaPlan> result(new CudnnSdpaPlan());
  result->plan_ = plan;
  result->descriptors_ = ds.release();
  result->workspace_bytes_ = workspace;
  return result;
}

CudnnSdpaPlan::~CudnnSdpaPlan() {
  for (auto it = descriptors_.rbegin(); it != descriptors_.rend(); ++it) cudnnBackendDestroyDescriptor(*it);
}

void CudnnSdpaPlan::run(cudnnHandle_t handle, const void* q, const void* k, const void* v, void* out, float scale,
                        void* workspace) const {
  const std::array<int64_t, 5> uids{kQ, kK, kV, kO, kScale};
  const std::array<void*, 5> pointers{const_cast<void*>(q), const_cast<void*>(k), const_cast<void*>(v), out, &scale};
  Descriptors ds;
  cudnnBackendDescriptor_t pack = ds.make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  ds.set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids.data(), 5);
  ds.set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers.data(), 5);
  ds.set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, &workspace);
  if (!ds.finalize(pack, "variant pack") || !ds.check(cudnnBackendExecute(handle, plan_, pack), "execute"))
    throw Error(ErrorCode::Internal, "cuDNN attention: " + ds.error());
}

#else  // headers older than 9.13: no SDPA_FWD operation to plan

int cudnn_sdpa_version() { return 0; }

std::unique_ptr<CudnnSdpaPlan> CudnnSdpaPlan::create(cudnnHandle_t, const SdpaShape&, int, std::string* why) {
  if (why) *why = "built against cuDNN " + std::to_string(CUDNN_VERSION) + " headers, which lack SDPA_FWD (9.13)";
  return nullptr;
}
CudnnSdpaPlan::~CudnnSdpaPlan() = default;
void CudnnSdpaPlan::run(cudnnHandle_t, const void*, const void*, const void*, void*, float, void*) const {
  throw Error(ErrorCode::Internal, "cuDNN attention: not built");
}

#endif

}  // namespace sdpp::cuda
