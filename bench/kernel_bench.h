// Shared by the kernel benchmarks (attention_bench.cpp, conv_bench.cpp): their `--option value` arguments, the device
// and main's error report, random inputs, and the time of a call as the median over replays of a recording of many
// calls, so host launch gaps are not timed.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/init.h"
#include "core/error.h"
#include "core/tensor.h"

namespace sdpp::bench {

// Calls take(option, value) for each `--option value` pair of argv; take returns false for an option it does not
// know, which is an error, as is an option without a value.
inline void for_each_option(int argc, char** argv,
                            const std::function<bool(const std::string&, const std::string&)>& take) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw Error(ErrorCode::InvalidArgument, k + " needs a value");
    if (!take(k, argv[++i])) throw Error(ErrorCode::InvalidArgument, "unknown option " + k);
  }
}

// main's body: run's exit code, or 2 with the error on stderr under the program's name.
inline int run_reporting_errors(const char* program, const std::function<int()>& run) {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
}

// The first CUDA device, with the backends initialised; Unsupported where none is visible.
inline Device first_cuda_device() {
  init_backends();
  if (cuda_device_count() == 0) throw Error(ErrorCode::Unsupported, "no CUDA device");
  return Device::cuda(0);
}

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
