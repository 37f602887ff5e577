// Random numbers identical to PyTorch's, so a seed reproduces diffusers' and AUTOMATIC1111's noise on any device.
//   torch.Generator("cpu").manual_seed(s)  -> make_cpu_generator(s)   (mt19937; torch's float Box-Muller paths)
//   torch.Generator("cuda").manual_seed(s) -> make_cuda_generator(s)  (Philox4x32-10 as torch's CUDA randn uses it)
// Both are computed on the host; successive randn() calls continue the stream exactly as torch's do.
#pragma once
#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace sdpp {

enum class GeneratorKind { CPU, CUDA };

class Generator {
 public:
  virtual ~Generator() = default;
  virtual GeneratorKind kind() const = 0;
  // Standard normal f32 values of `shape`, as torch.randn(shape, generator=g, dtype=float32); placed on `device`.
  virtual Tensor randn(const Shape& shape, Device device = Device::cpu()) = 0;
};

std::unique_ptr<Generator> make_cpu_generator(uint64_t seed);
std::unique_ptr<Generator> make_cuda_generator(uint64_t seed);
std::unique_ptr<Generator> make_generator(GeneratorKind kind, uint64_t seed);

}  // namespace sdpp
