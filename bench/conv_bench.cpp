// Times SD 1.5's 3x3 convolutions as a UNet step meets them: each call reads another copy of the weights, with enough
// copies to overflow the 50 MB L2, so the weights come from memory (at the 8x8 level they are the work). Per shape:
// - the own kernel (conv3x3_splitk_sm90.cu) in each block width, launched directly;
// - im2col + cuBLASLt ("gemm") and cuDNN ("cudnn") through ops::conv2d, the conv path forced (set_cuda_conv_path);
// - a device-to-device copy of the weights, as the memory's reference rate.
//   sdpp_conv_bench [--iters 30] [--repeats 7] [--min-mb 160] [--match TEXT]
// Each timing records `iters` calls into one CUDA graph and replays it (host launch gaps not timed); the median of
// `repeats` replays after a warm-up is reported per call, with the weights' bytes over that time.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "backend/init.h"
#include "backend/ops.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernel_bench.h"

namespace sdpp {
namespace {

using bench::random_tensor;
using bench::recorded_ms_per_call;

struct ConvShape {
  const char* name;
  int64_t n, c, h, w, o;
  int stride;
};

constexpr ConvShape kShapes[] = {
    {"sd15 8x8 1280", 2, 1280, 8, 8, 1280, 1},     {"sd15 8x8 2560", 2, 2560, 8, 8, 1280, 1},
    {"sd15 16x16 down", 2, 1280, 16, 16, 1280, 2}, {"sd15 16x16 1280", 2, 1280, 16, 16, 1280, 1},
    {"sd15 16x16 2560", 2, 2560, 16, 16, 1280, 1}, {"sd15 32x32 640", 2, 640, 32, 32, 640, 1},
};

int run(int argc, char** argv) {
  int iters = 30, repeats = 7;
  double min_mb = 160.0;
  std::string match;
  bench::for_each_option(argc, argv, [&](const std::string& k, const std::string& v) {
    if (k == "--iters") iters = std::stoi(v);
    else if (k == "--repeats") repeats = std::stoi(v);
    else if (k == "--min-mb") min_mb = std::stod(v);
    else if (k == "--match") match = v;
    else return false;
    return true;
  });
  const Device device = bench::first_cuda_device();
  auto& backend = dynamic_cast<cuda::CudaBackend&>(backend_for(device));
  const cudaStream_t stream = backend.stream();  // where the backend enqueues and records
  const DType dtype = DType::F16;
  std::printf("%-17s %-22s %10s %8s\n", "shape", "path", "ms/call", "GB/s");
  for (const ConvShape& s : kShapes) {
    if (std::string(s.name).find(match) == std::string::npos) continue;
    const int64_t k = 9 * s.c, weight_bytes = s.o * k * 2;
    const int copies = std::max(1, int(min_mb * 1e6 / double(weight_bytes) + 0.999));
    const float scale = float(1.0 / std::sqrt(double(k)));
    // Channels-last input, as the UNet's are: the output of a 1x1 convolution (a GEMM over NHWC data).
    const Tensor x = ops::conv2d(random_tensor({s.n, s.c, s.h, s.w}, dtype, device, 1, 1.0f),
                                 ops::prepare_conv_weight(random_tensor({s.c, s.c, 1, 1}, dtype, device, 4, 0.03f)),
                                 Tensor(), ops::Conv2dOptions::same(1, 1));
    const Tensor bias = random_tensor({s.o}, dtype, device, 2, 1.0f);
    const Tensor host_w = random_tensor({s.o, s.c, 3, 3}, dtype, Device::cpu(), 3, scale);
    std::vector<Tensor> krsc;
    for (int i = 0; i < copies; ++i) krsc.push_back(ops::prepare_conv_weight(host_w.to(device)));  // KRSC data
    const int64_t ho = (s.h - 1) / s.stride + 1, wo = (s.w - 1) / s.stride + 1;
    Tensor y = Tensor::empty({s.n, ho, wo, s.o}, dtype, device);
    auto report = [&](const std::string& path, double ms) {
      std::printf("%-17s %-22s %10.4f %8.0f\n", s.name, path.c_str(), ms, double(weight_bytes) / (ms * 1e-3) / 1e9);
    };
    for (const int outputs : cuda::conv3x3_splitk_block_outputs()) {
      auto launch = [&](int i) {
        return cuda::launch_conv3x3_splitk_sm90(x.raw(), krsc[size_t(i % copies)].raw(), bias.raw(), nullptr, y.raw(),
                                                dtype, s.n, s.h, s.w, s.c, s.o, s.stride, outputs, stream);
      };
      if (!launch(0)) continue;
      report("own " + std::to_string(outputs),
             recorded_ms_per_call(backend, iters, repeats, [&](int i) { launch(i); }));
    }
    const ops::Conv2dOptions options = ops::Conv2dOptions::same(3, s.stride);
    for (const char* path : {"gemm", "cudnn"}) {
      set_cuda_conv_path(path);
      report(path, recorded_ms_per_call(backend, iters, repeats, [&](int i) {
               (void)ops::conv2d(x, krsc[size_t(i % copies)], bias, options);
             }));
    }
    set_cuda_conv_path("timed");
    Tensor scratch = Tensor::empty({s.o * k}, dtype, device);
    const double copy_ms = recorded_ms_per_call(backend, iters, repeats, [&](int i) {
      SDPP_CUDA_CHECK(cudaMemcpyAsync(scratch.raw(), krsc[size_t(i % copies)].raw(), size_t(weight_bytes),
                                      cudaMemcpyDeviceToDevice, stream));
    });
    // A copy reads and writes the bytes.
    std::printf("%-17s %-22s %10.4f %8.0f (read + write)\n", s.name, "copy", copy_ms,
                2.0 * double(weight_bytes) / (copy_ms * 1e-3) / 1e9);
  }
  return 0;
}

}  // namespace
}  // namespace sdpp

int main(int argc, char** argv) {
  return sdpp::bench::run_reporting_errors("sdpp_conv_bench", [&] { return sdpp::run(argc, argv); });
}
