#include "backend/cuda/cudnn_graph.h"

#include <algorithm>
#include <array>
#include <optional>

namespace sdpp::cuda {
namespace {

std::string last_error() {
  char message[512] = {};
  cudnnGetLastErrorString(message, sizeof(message));
  return message;
}

// The notes (numerical or behaviour) cuDNN attaches to `engine`; none if it will not say, which rejects the engine.
template <class Note, size_t kCount>
std::optional<std::vector<Note>> engine_notes(CudnnDescriptors& ds, cudnnBackendDescriptor_t engine,
                                              cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type) {
  std::array<Note, kCount> notes{};
  int64_t count = 0;
  if (!ds.check(cudnnBackendGetAttribute(engine, name, type, int64_t(kCount), &count, notes.data()), "engine notes"))
    return std::nullopt;
  return std::vector<Note>(notes.begin(), notes.begin() + std::min<int64_t>(count, int64_t(kCount)));
}

// Whether the engine behind `config` accumulates in full precision and deterministically, and (unless allowed)
// runs precompiled kernels.
bool acceptable_engine(CudnnDescriptors& ds, cudnnBackendDescriptor_t config, bool allow_runtime_compilation) {
  cudnnBackendDescriptor_t engine = ds.make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  int64_t count = 0;
  if (!engine || !ds.check(cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE,
                                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine),
                           "engine of a configuration"))
    return false;
  const auto numerical = engine_notes<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT>(
      ds, engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE);
  if (!numerical || std::ranges::any_of(*numerical, [](cudnnBackendNumericalNote_t n) {
        return n == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC || n == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION;
      }))
    return false;
  if (allow_runtime_compilation) return true;
  const auto behaviour = engine_notes<cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT>(
      ds, engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE);
  return behaviour && std::ranges::find(*behaviour, CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) == behaviour->end();
}

}  // namespace

cudnnDataType_t cudnn_data_type(DType t) {
  switch (t) {
    case DType::F16: return CUDNN_DATA_HALF;
    case DType::BF16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
  }
}

CudnnDescriptors::~CudnnDescriptors() {
  for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) cudnnBackendDestroyDescriptor(*it);
}

cudnnBackendDescriptor_t CudnnDescriptors::make(cudnnBackendDescriptorType_t type) {
  cudnnBackendDescriptor_t d = nullptr;
  if (!check(cudnnBackendCreateDescriptor(type, &d), "create descriptor")) return nullptr;
  owned_.push_back(d);
  return d;
}

bool CudnnDescriptors::check(cudnnStatus_t status, const char* what) {
  if (status == CUDNN_STATUS_SUCCESS) return true;
  if (error_.empty()) error_ = std::string(what) + ": " + cudnnGetErrorString(status) + " " + last_error();
  return false;
}

cudnnBackendDescriptor_t cudnn_tensor(CudnnDescriptors& ds, int64_t uid, cudnnDataType_t type,
                                      std::span<const int64_t> dims, std::span<const int64_t> strides,
                                      int64_t byte_alignment, bool by_value) {
  cudnnBackendDescriptor_t t = ds.make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  ds.set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type);
  ds.set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims.data(), int64_t(dims.size()));
  ds.set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides.data(), int64_t(strides.size()));
  ds.set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &uid);
  ds.set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &byte_alignment);
  if (by_value) ds.set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, &by_value);
  return ds.finalize(t, "tensor") ? t : nullptr;
}

std::vector<cudnnBackendDescriptor_t> cudnn_engine_configs(CudnnDescriptors& ds, cudnnHandle_t handle,
                                                           cudnnBackendDescriptor_t operation, int limit,
                                                           bool allow_runtime_compilation, std::string* why) {
  auto fail = [&](const std::string& reason) {
    if (why) *why = reason;
    return std::vector<cudnnBackendDescriptor_t>();
  };
  cudnnBackendDescriptor_t graph = ds.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  ds.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle);
  ds.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, &operation);
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
  std::vector<cudnnBackendDescriptor_t> configs(static_cast<size_t>(count));
  for (auto& c : configs) c = ds.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  int64_t returned = 0;
  if (count == 0 || !ds.check(cudnnBackendGetAttribute(heuristics, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned,
                                                       configs.data()),
                              "engine configurations"))
    return fail(count == 0 ? "cuDNN's heuristics offer no engine" : ds.error());
  configs.resize(static_cast<size_t>(std::min(returned, count)));
  std::vector<cudnnBackendDescriptor_t> kept;
  for (cudnnBackendDescriptor_t c : configs)
    if (int(kept.size()) < limit && acceptable_engine(ds, c, allow_runtime_compilation)) kept.push_back(c);
  ds.clear_error();  // configurations passed over are not what callers report
  if (kept.empty())
    return fail("none of cuDNN's " + std::to_string(configs.size()) + " engine configurations is deterministic, " +
                "accumulates in full precision" + (allow_runtime_compilation ? "" : " and runs precompiled kernels"));
  return kept;
}

std::unique_ptr<CudnnExecutionPlan> CudnnExecutionPlan::create(std::shared_ptr<CudnnDescriptors> ds,
                                                               cudnnHandle_t handle, cudnnBackendDescriptor_t config,
                                                               std::string* why) {
  ds->clear_error();
  cudnnBackendDescriptor_t plan = ds->make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  ds->set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle);
  ds->set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, &config);
  int64_t workspace = 0, count = 0;
  if (!ds->finalize(plan, "execution plan") ||
      !ds->check(cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                                          &workspace),
                 "workspace size")) {
    if (why) *why = ds->error();
    return nullptr;
  }
  std::unique_ptr<CudnnExecutionPlan> result(new CudnnExecutionPlan());
  result->descriptors_ = std::move(ds);
  result->plan_ = plan;
  result->workspace_bytes_ = workspace;
  return result;
}

bool CudnnExecutionPlan::run(cudnnHandle_t handle, std::span<const int64_t> uids, std::span<void* const> pointers,
                             void* workspace, std::string* why) const {
  CudnnDescriptors ds;  // the variant pack: read when the work is enqueued
  cudnnBackendDescriptor_t pack = ds.make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  ds.set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids.data(), int64_t(uids.size()));
  ds.set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers.data(), int64_t(pointers.size()));
  ds.set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, &workspace);
  if (ds.finalize(pack, "variant pack") && ds.check(cudnnBackendExecute(handle, plan_, pack), "execute")) return true;
  if (why) *why = ds.error();
  return false;
}

}  // namespace sdpp::cuda
