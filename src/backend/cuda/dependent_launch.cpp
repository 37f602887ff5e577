#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "core/env_flag.h"

namespace sdpp::cuda {

bool dependent_launch_enabled() {
  static const bool allowed = !env_is("SDPP_CUDA_PDL", "0");
  return allowed && compute_capability_major() >= 9;
}

}  // namespace sdpp::cuda
