// f16/bf16 storage on the cpu. The cpu kernels compute in f32 only; an op whose inputs are stored in f16 or bf16
// has them widened to f32, runs the f32 kernel, and has its result rounded once to that storage type. That is the
// rounding a cuda kernel makes (f32 accumulation inside, one f16/bf16 store of its output), so `--dtype f16` on the
// cpu reproduces what reduced-precision storage does to an image without a GPU, and halves the memory weights take.
// It costs time rather than saving any: each op converts its inputs and its result (cpu_half.h; docs/PERFORMANCE.md).
#pragma once
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace sdpp::cpu {

class StorageType {
 public:
  // `op` names the op in errors; undefined inputs are skipped. Inputs may mix f32 with one reduced type (f32
  // timestep features into an f16 linear); f16 beside bf16 is refused, as no single rounding of the result fits both.
  StorageType(const char* op, std::initializer_list<const Tensor*> inputs) {
    for (const Tensor* t : inputs)
      if (t) take(op, *t);
  }
  StorageType(const char* op, std::span<const Tensor> inputs) {
    for (const Tensor& t : inputs) take(op, t);
  }

  // `t` as the f32 kernels read it (itself when already f32, or undefined).
  Tensor widen(const Tensor& t) const { return t.defined() && is_reduced(t.dtype()) ? t.to(DType::F32) : t; }
  std::vector<Tensor> widen(std::span<const Tensor> ts) const {
    std::vector<Tensor> wide;
    for (const Tensor& t : ts) wide.push_back(widen(t));
    return wide;
  }
  // `o` with its residual, if it has one, widened into `holder` (which must outlive the call using them).
  template <class Options>
  Options widen_residual(const Options& o, Tensor& holder) const {
    Options f32 = o;
    if (o.residual) {
      holder = widen(*o.residual);
      f32.residual = &holder;
    }
    return f32;
  }
  // The kernel's f32 result in the storage type.
  Tensor narrow(const Tensor& out) const { return type_ == DType::F32 ? out : out.to(type_); }

 private:
  void take(const char* op, const Tensor& t) {
    if (!t.defined() || !is_reduced(t.dtype())) return;
    if (type_ != DType::F32 && type_ != t.dtype())
      throw Error(ErrorCode::Unsupported, std::string(op) + ": inputs mix " + dtype_name(type_) + " and " +
                                              dtype_name(t.dtype()));
    type_ = t.dtype();
  }
  static bool is_reduced(DType d) { return d == DType::F16 || d == DType::BF16; }

  DType type_ = DType::F32;
};

}  // namespace sdpp::cpu
