#include <cstdlib>
#include <cstring>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"

namespace sdpp::cuda {

bool dependent_launch_enabled() {
  static const bool allowed = [] {
    const char* env = std::getenv("SDPP_CUDA_PDL");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return allowed && compute_capability_major() >= 9;
}

}  // namespace sdpp::cuda
