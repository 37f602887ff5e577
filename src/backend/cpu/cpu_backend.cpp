// CpuBackend: host memory (64-byte aligned for vector loads) and dispatch to the kernels in cpu_ops.h.
#include "backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_storage_type.h"
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

  // Every op below reads f16/bf16 inputs through StorageType (cpu_storage_type.h): widened, computed in f32, the
  // result rounded once to the storage type.
  Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, const ops::LinearOptions& o) override {
    const cpu::StorageType st("linear", {&x, &w, &b, o.residual});
    Tensor residual;
    return st.narrow(cpu::linear(st.widen(x), st.widen(w), st.widen(b), st.widen_residual(o, residual)));
  }
  Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dOptions& o) override {
    const cpu::StorageType st("conv2d", {&x, &w, &b, o.residual});
    Tensor residual;
    return st.narrow(cpu::conv2d(st.widen(x), st.widen(w), st.widen(b), st.widen_residual(o, residual)));
  }
  Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                    ops::Activation act, const Tensor& add) override {
    const cpu::StorageType st("group_norm", {&x, &gamma, &beta, &add});
    // The reference order: the sum in f32, then the norm (one rounding, as the cuda kernel fuses the two).
    const Tensor x32 = st.widen(x);
    const Tensor in = add.defined() ? cpu::add(x32, st.widen(add)) : x32;
    return st.narrow(cpu::group_norm(in, groups, st.widen(gamma), st.widen(beta), eps, act));
  }
  Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override {
    const cpu::StorageType st("layer_norm", {&x, &gamma, &beta});
    return st.narrow(cpu::layer_norm(st.widen(x), st.widen(gamma), st.widen(beta), eps));
  }
  Tensor activation(const Tensor& x, ops::Activation act) override {
    const cpu::StorageType st("activation", {&x});
    return st.narrow(cpu::activation(st.widen(x), act));
  }
  Tensor geglu(const Tensor& x) override {
    const cpu::StorageType st("geglu", {&x});
    return st.narrow(cpu::geglu(st.widen(x)));
  }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o) override {
    const cpu::StorageType st("attention", {&q, &k, &v});
    return st.narrow(cpu::attention(st.widen(q), st.widen(k), st.widen(v), o));
  }
  Tensor upsample_nearest2x(const Tensor& x) override {
    const cpu::StorageType st("upsample_nearest2x", {&x});
    return st.narrow(cpu::upsample_nearest2x(st.widen(x)));
  }
  Tensor interleave_phases(const Tensor& y, int64_t out_h, int64_t out_w) override {
    const cpu::StorageType st("interleave_phases", {&y});
    return st.narrow(cpu::interleave_phases(st.widen(y), out_h, out_w));
  }
  Tensor concat(std::span<const Tensor> xs, int dim) override {
    const cpu::StorageType st("concat", xs);
    return st.narrow(cpu::concat(st.widen(xs), dim));
  }
  Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) override {
    const cpu::StorageType st("slice", {&x});
    return st.narrow(cpu::slice(st.widen(x), dim, start, end));
  }
  Tensor to_tokens(const Tensor& x) override {
    const cpu::StorageType st("to_tokens", {&x});
    return st.narrow(cpu::to_tokens(st.widen(x)));
  }
  Tensor from_tokens(const Tensor& x, int64_t height, int64_t width) override {
    const cpu::StorageType st("from_tokens", {&x});
    return st.narrow(cpu::from_tokens(st.widen(x), height, width));
  }
  Tensor add(const Tensor& a, const Tensor& b) override {
    const cpu::StorageType st("add", {&a, &b});
    return st.narrow(cpu::add(st.widen(a), st.widen(b)));
  }
  Tensor mul(const Tensor& a, const Tensor& b) override {
    const cpu::StorageType st("mul", {&a, &b});
    return st.narrow(cpu::mul(st.widen(a), st.widen(b)));
  }
  Tensor scale(const Tensor& x, float factor, float offset) override {
    const cpu::StorageType st("scale", {&x});
    return st.narrow(cpu::scale(st.widen(x), factor, offset));
  }
  Tensor clamp(const Tensor& x, float lo, float hi) override {
    const cpu::StorageType st("clamp", {&x});
    return st.narrow(cpu::clamp(st.widen(x), lo, hi));
  }
  Tensor exp(const Tensor& x) override {
    const cpu::StorageType st("exp", {&x});
    return st.narrow(cpu::exp(st.widen(x)));
  }
  Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs) override {
    const cpu::StorageType st("lincomb", xs);
    return st.narrow(cpu::lincomb(st.widen(xs), coeffs));
  }
  Tensor embedding(const Tensor& table, const Tensor& ids) override {
    const cpu::StorageType st("embedding", {&table});
    return st.narrow(cpu::embedding(st.widen(table), ids));
  }
  Tensor gather_rows(const Tensor& x, std::span<const int64_t> index) override {
    const cpu::StorageType st("gather_rows", {&x});
    return st.narrow(cpu::gather_rows(st.widen(x), index));
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace sdpp
