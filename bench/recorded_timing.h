// Shared by the kernel benchmarks (attention_bench.cpp, conv_bench.cpp): random inputs, and the time of a call as
// the median over replays of a recording of many calls, so host launch gaps are not timed.
#pragma once
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "core/tensor.h"

namespace sdpp::bench {

// Uniform in [-scale, scale], the same values for the same seed.
inline Tensor random_tensor(const Shape& shape, DType dtype, Device device, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(size_t(shape_numel(shape)));
  for (float& x : values) x = dist(rng);
  return Tensor::from_floats(values, shape).to(dtype).to(device);
}

// ms a call: call(i) for i in [0, iters) recorded into one graph (after one call outside it, which makes the plans
// and allocations), replayed once as a warm-up, then the median of `repeats` replays over iters.
inline double recorded_ms_per_call(Backend& backend, int iters, int repeats, const std::function<void(int)>& call) {
  call(0);
  backend.synchronize();
  backend.begin_recording();
  for (int i = 0; i < iters; ++i) call(i);
  const std::unique_ptr<RecordedWork> graph = backend.end_recording();
  graph->replay();
  backend.synchronize();
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    graph->replay();
    backend.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / iters);
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

}  // namespace sdpp::bench
