// CpuBackend: host memory (64-byte aligned for vector loads) and dispatch to the kernels in cpu_ops.h.
#include "backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "core/error.h"

namespace sdpp {
namespace {

constexpr size_t kAlignment = 64;

class CpuBackend final : public Backend {
 public:
  CpuBackend() {
    // Parallelism comes from our pool (core/parallel.h), which splits GEMMs itself; OpenBLAS's own threads
    // would nest inside it and oversubscribe the cores.
    openblas_set_num_threads(1);
  }

  Device device() const override { return Device::cpu(); }
  std::string name() const override { return "cpu"; }

  std::shared_ptr<Storage> allocate(size_t bytes) override {
    // aligned_alloc needs a size that is a multiple of the alignment (and non-zero to give a unique pointer).
    const size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (rounded < bytes) throw Error(ErrorCode::OutOfMemory, "cpu: cannot allocate " + std::to_string(bytes) + " bytes");
    void* p = std::aligned_alloc(kAlignment, rounded ? rounded : kAlignment);
    if (!p) throw Error(ErrorCode::OutOfMemory, "cpu: cannot allocate " + std::to_string(bytes) + " bytes");
    return std::make_shared<Storage>(p, bytes, Device::cpu(), std::shared_ptr<void>(p, std::free));
  }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void fill_zero(void* dst, size_t bytes) override {
    if (bytes) std::memset(dst, 0, bytes);
  }
  void convert(const Tensor& src, Tensor& dst) override { cpu::convert(src, dst); }

  Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, const ops::LinearOptions& o) override {
    return cpu::linear(x, w, b, o);
  }
  Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dOptions& o) override {
    return cpu::conv2d(x, w, b, o);
  }
  Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                    ops::Activation act, const Tensor& add) override {
    // The reference order: the sum in f32, then the norm.
    return cpu::group_norm(add.defined() ? this->add(x, add) : x, groups, gamma, beta, eps, act);
  }
  Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override {
    return cpu::layer_norm(x, gamma, beta, eps);
  }
  Tensor activation(const Tensor& x, ops::Activation act) override { return cpu::activation(x, act); }
  Tensor geglu(const Tensor& x) override { return cpu::geglu(x); }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o) override {
    return cpu::attention(q, k, v, o);
  }
  Tensor upsample_nearest2x(const Tensor& x) override { return cpu::upsample_nearest2x(x); }
  Tensor concat(std::span<const Tensor> xs, int dim) override { return cpu::concat(xs, dim); }
  Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) override { return cpu::slice(x, dim, start, end); }
  Tensor to_tokens(const Tensor& x) override { return cpu::to_tokens(x); }
  Tensor from_tokens(const Tensor& x, int64_t height, int64_t width) override {
    return cpu::from_tokens(x, height, width);
  }
  Tensor add(const Tensor& a, const Tensor& b) override { return cpu::add(a, b); }
  Tensor mul(const Tensor& a, const Tensor& b) override { return cpu::mul(a, b); }
  Tensor scale(const Tensor& x, float factor, float offset) override { return cpu::scale(x, factor, offset); }
  Tensor clamp(const Tensor& x, float lo, float hi) override { return cpu::clamp(x, lo, hi); }
  Tensor exp(const Tensor& x) override { return cpu::exp(x); }
  Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs) override {
    return cpu::lincomb(xs, coeffs);
  }
  Tensor embedding(const Tensor& table, const Tensor& ids) override { return cpu::embedding(table, ids); }
  Tensor gather_rows(const Tensor& x, std::span<const int64_t> index) override { return cpu::gather_rows(x, index); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace sdpp
