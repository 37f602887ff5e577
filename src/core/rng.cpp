#include "core/rng.h"

namespace sdpp {

std::unique_ptr<Generator> make_generator(GeneratorKind kind, uint64_t seed) {
  return kind == GeneratorKind::CUDA ? make_cuda_generator(seed) : make_cpu_generator(seed);
}

}  // namespace sdpp
