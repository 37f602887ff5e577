#include "backend/cuda/device_attributes.h"

#include <cuda_runtime.h>

#include <atomic>

#include "backend/cuda/cuda_check.h"

namespace sdpp::cuda {
namespace {

constexpr int kMaxDevices = 64;

// `attribute` of the current device, looked up once per device index into `cache` (0: not yet).
int cached_attribute(cudaDeviceAttr attribute, std::atomic<int> (&cache)[kMaxDevices]) {
  int device = 0;
  SDPP_CUDA_CHECK(cudaGetDevice(&device));
  std::atomic<int>& slot = cache[device % kMaxDevices];
  int value = slot.load();
  if (value == 0) {
    SDPP_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
    slot.store(value);
  }
  return value;
}

}  // namespace

int compute_capability_major() {
  static std::atomic<int> cache[kMaxDevices] = {};
  return cached_attribute(cudaDevAttrComputeCapabilityMajor, cache);
}

int multiprocessor_count() {
  static std::atomic<int> cache[kMaxDevices] = {};
  return cached_attribute(cudaDevAttrMultiProcessorCount, cache);
}

int shared_memory_per_block_optin() {
  static std::atomic<int> cache[kMaxDevices] = {};
  return cached_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, cache);
}

int clock_rate_khz() {
  static std::atomic<int> cache[kMaxDevices] = {};
  return cached_attribute(cudaDevAttrClockRate, cache);
}

}  // namespace sdpp::cuda
