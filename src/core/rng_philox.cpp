// torch.Generator("cuda"): Philox4x32-10 keyed by the 64-bit seed, as ATen's CUDA normal kernel drives curand
// (aten/src/ATen/native/cuda/DistributionTemplates.h, computed here on the host so any device reproduces it).
// Per randn call: thread `i` of the launch runs curand_init(seed, subsequence = i, offset) and takes curand_normal4;
// element i is that call's first value, i.e. Box-Muller of the first two 32-bit outputs of
// Philox(counter = [offset / 4, i], key = seed). The launch covers every element with one thread (grid = numel / 256
// blocks; true for every tensor the device's grid limit does not cut, which covers SD latents), so each call consumes
// one curand4 round and advances the generator's offset by 4.
#include <vector>

#include "core/philox_device_math.h"
#include "core/rng.h"

namespace sdpp {
namespace {

struct PhiloxBlock {
  uint32_t v[4];
};

inline void mul_hi_lo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t product = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(product >> 32);
  *lo = uint32_t(product);
}

// Philox4x32 with 10 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
PhiloxBlock philox4x32_10(PhiloxBlock counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mul_hi_lo(kMul0, counter.v[0], &hi0, &lo0);
    mul_hi_lo(kMul1, counter.v[2], &hi1, &lo1);
    counter = {{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

class PhiloxGenerator final : public Generator {
 public:
  explicit PhiloxGenerator(uint64_t seed) : seed_(seed) {}
  GeneratorKind kind() const override { return GeneratorKind::CUDA; }

  Tensor randn(const Shape& shape, Device device) override {
    const int64_t n = shape_numel(shape);
    std::vector<float> values(static_cast<size_t>(n));
    const uint64_t block = offset_ / 4;  // curand skipahead(offset): 4 outputs per Philox block
    const uint32_t key0 = uint32_t(seed_), key1 = uint32_t(seed_ >> 32);
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t subsequence = uint64_t(i);
      const PhiloxBlock counter{{uint32_t(block), uint32_t(block >> 32), uint32_t(subsequence),
                                 uint32_t(subsequence >> 32)}};
      const PhiloxBlock out = philox4x32_10(counter, key0, key1);
      values[size_t(i)] = philox::box_muller_first(out.v[0], out.v[1]);
    }
    if (n > 0) offset_ += 4;
    return Tensor::from_floats(values, shape).to(device);
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

}  // namespace

std::unique_ptr<Generator> make_cuda_generator(uint64_t seed) { return std::make_unique<PhiloxGenerator>(seed); }

}  // namespace sdpp
