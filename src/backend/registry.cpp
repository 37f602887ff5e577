#include <array>
#include <map>
#include <mutex>
#include <utility>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "core/error.h"

namespace sdpp {
namespace {

struct Registry {
  std::mutex mutex;
  std::unique_ptr<Backend> cpu;
  std::map<int, std::unique_ptr<Backend>> cuda;
  BackendFactory cuda_factory = nullptr;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void Backend::begin_recording() {
  throw Error(ErrorCode::Unsupported, "the " + name() + " backend cannot record device work");
}

std::unique_ptr<RecordedWork> Backend::end_recording() {
  throw Error(ErrorCode::Unsupported, "the " + name() + " backend cannot record device work");
}

Tensor Backend::linear_geglu(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return geglu(linear(x, weight, bias, {}));
}

ops::LinearAndNorm Backend::linear_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                              const ops::LinearOptions& o, const Tensor& norm_gamma,
                                              const Tensor& norm_beta, float eps) {
  Tensor out = linear(x, weight, bias, o);
  Tensor normed = layer_norm(out, norm_gamma, norm_beta, eps);
  return {std::move(out), std::move(normed)};
}

Tensor Backend::attention_packed(const Tensor& packed, const Tensor& kv, const ops::AttentionOptions& o) {
  if (kv.defined()) {
    const int64_t inner = packed.dim(2);
    return attention(packed, slice(kv, 2, 0, inner), slice(kv, 2, inner, 2 * inner), o);
  }
  const int64_t inner = packed.dim(2) / 3;
  return attention(slice(packed, 2, 0, inner), slice(packed, 2, inner, 2 * inner),
                   slice(packed, 2, 2 * inner, 3 * inner), o);
}

Backend& backend_for(Device device) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (device.is_cpu()) {
    if (!r.cpu) r.cpu = make_cpu_backend();
    return *r.cpu;
  }
  auto it = r.cuda.find(device.index);
  if (it != r.cuda.end()) return *it->second;
  if (!r.cuda_factory)
    throw Error(ErrorCode::Unsupported, "device " + device.str() + " is not available: this build has no CUDA backend");
  auto backend = r.cuda_factory(device.index);
  Backend& ref = *backend;
  r.cuda.emplace(device.index, std::move(backend));
  return ref;
}

void register_backend_factory(DeviceType type, BackendFactory factory) {
  if (type != DeviceType::CUDA) throw Error(ErrorCode::Internal, "only cuda backends are registered by factory");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.cuda_factory = factory;
}

bool backend_available(DeviceType type) {
  if (type == DeviceType::CPU) return true;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  return r.cuda_factory != nullptr;
}

}  // namespace sdpp
