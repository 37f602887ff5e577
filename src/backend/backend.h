// A backend implements the op set (ops.h) and memory for one device. One instance per device, owned by the registry.
#pragma once
#include <memory>
#include <span>

#include "backend/ops.h"
#include "core/tensor.h"

namespace sdpp {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;

  // Memory. allocate() throws Error(OutOfMemory) naming the size.
  virtual std::shared_ptr<Storage> allocate(size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_zero(void* dst, size_t bytes) = 0;
  // Converts element types on this device (`dst` and `src` both on it, same numel).
  virtual void convert(const Tensor& src, Tensor& dst) = 0;
  // Returns a contiguous (row-major logical) copy or `x` itself; used before host copies.
  virtual Tensor contiguous(const Tensor& x) { return x; }
  virtual void synchronize() {}

  virtual Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::LinearOptions& o) = 0;
  virtual Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::Conv2dOptions& o) = 0;
  virtual Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                            ops::Activation act) = 0;
  virtual Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) = 0;
  virtual Tensor activation(const Tensor& x, ops::Activation act) = 0;
  virtual Tensor geglu(const Tensor& x) = 0;
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o) = 0;
  virtual Tensor upsample_nearest2x(const Tensor& x) = 0;
  virtual Tensor concat(std::span<const Tensor> xs, int dim) = 0;
  virtual Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) = 0;
  virtual Tensor to_tokens(const Tensor& x) = 0;
  virtual Tensor from_tokens(const Tensor& x, int64_t height, int64_t width) = 0;
  virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
  virtual Tensor mul(const Tensor& a, const Tensor& b) = 0;
  virtual Tensor scale(const Tensor& x, float factor, float offset) = 0;
  virtual Tensor clamp(const Tensor& x, float lo, float hi) = 0;
  virtual Tensor exp(const Tensor& x) = 0;
  virtual Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs) = 0;
  virtual Tensor embedding(const Tensor& table, const Tensor& ids) = 0;
  virtual Tensor gather_rows(const Tensor& x, std::span<const int64_t> index) = 0;
};

// The backend for a device. The cpu backend always exists; cuda ones exist once register_backend_factory()
// was called for DeviceType::CUDA (see backend/init.h). Throws Error(Unsupported) otherwise.
Backend& backend_for(Device device);
using BackendFactory = std::unique_ptr<Backend> (*)(int index);
void register_backend_factory(DeviceType type, BackendFactory factory);
bool backend_available(DeviceType type);

}  // namespace sdpp
