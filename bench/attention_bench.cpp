// Times the fused attention kernels on the attention shapes of SD 1.5 and SDXL (batch 2 for CFG), each kernel
// choice in turn (set_cuda_attention_kernel): "own" (the wgmma kernel on sm_90 where it covers the head dim), "mma"
// (the mma.sync one), "cudnn" (cuDNN's SDPA engine; a shape it cannot plan prints cuDNN's reason) and "timed" (the
// faster of the last two on shapes of at least 2^20 query-key pairs a head: the default).
//   sdpp_attention_bench [--iters 20] [--repeats 7] [--dtype f16|bf16] [--match TEXT] [--kernels own,cudnn]
// (--match: only the shapes whose name contains TEXT, e.g. "self"; --kernels: only these choices, e.g. to profile one).
// Each timing records `iters` calls into one CUDA graph and replays it, so host launch gaps are not timed; the
// median of `repeats` replays (after one warm-up) is reported per call, with the rate counting 4 * Lq * Lk * D
// flops per head.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/init.h"
#include "backend/ops.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernel_bench.h"

namespace sdpp {
namespace {

using bench::random_tensor;
using bench::recorded_ms_per_call;

struct AttentionShape {
  const char* name;
  int64_t batch, lq, lk;
  int heads, head_dim;
  bool causal = false;
};

constexpr AttentionShape kShapes[] = {
    {"sd15 64x64 self", 2, 4096, 4096, 8, 40},  {"sd15 64x64 cross", 2, 4096, 77, 8, 40},
    {"sd15 32x32 self", 2, 1024, 1024, 8, 80},  {"sd15 32x32 cross", 2, 1024, 77, 8, 80},
    {"sd15 16x16 self", 2, 256, 256, 8, 160},   {"sd15 16x16 cross", 2, 256, 77, 8, 160},
    {"sd15 8x8 self", 2, 64, 64, 8, 160},       {"sd15 8x8 cross", 2, 64, 77, 8, 160},
    {"sdxl 64x64 self", 2, 4096, 4096, 10, 64}, {"sdxl 64x64 cross", 2, 4096, 77, 10, 64},
    {"sdxl 32x32 self", 2, 1024, 1024, 20, 64}, {"sdxl 32x32 cross", 2, 1024, 77, 20, 64},
    {"clip text causal", 2, 77, 77, 12, 64, true},
};

int run(int argc, char** argv) {
  int iters = 20, repeats = 7;
  DType dtype = DType::F16;
  std::string match, kernel_list = "own,mma,cudnn,timed";
  bench::for_each_option(argc, argv, [&](const std::string& k, const std::string& v) {
    if (k == "--iters") iters = std::stoi(v);
    else if (k == "--repeats") repeats = std::stoi(v);
    else if (k == "--dtype") dtype = v == "bf16" ? DType::BF16 : DType::F16;
    else if (k == "--match") match = v;
    else if (k == "--kernels") kernel_list = v;
    else return false;
    return true;
  });
  const Device device = bench::first_cuda_device();
  Backend& backend = backend_for(device);
  std::vector<std::string> kernels;
  for (size_t start = 0; start <= kernel_list.size();) {
    const size_t comma = std::min(kernel_list.find(',', start), kernel_list.size());
    kernels.push_back(kernel_list.substr(start, comma - start));
    start = comma + 1;
  }
  std::printf("%-18s %-8s %10s %10s\n", "shape", "kernel", "ms/call", "TFLOP/s");
  for (const AttentionShape& s : kShapes) {
    if (std::string(s.name).find(match) == std::string::npos) continue;
    const int64_t hd = int64_t(s.heads) * s.head_dim;
    const Tensor q = random_tensor({s.batch, s.lq, hd}, dtype, device, 1, 2.0f);
    const Tensor k = random_tensor({s.batch, s.lk, hd}, dtype, device, 2, 2.0f);
    const Tensor v = random_tensor({s.batch, s.lk, hd}, dtype, device, 3, 2.0f);
    ops::AttentionOptions o;
    o.heads = s.heads;
    o.causal = s.causal;
    const double flops = 4.0 * double(s.batch * s.heads) * double(s.lq) * double(s.lk) * s.head_dim;
    for (const std::string& kernel : kernels) {
      set_cuda_attention_kernel(kernel);
      double ms = 0.0;
      try {
        ms = recorded_ms_per_call(backend, iters, repeats, [&](int) { (void)ops::attention(q, k, v, o); });
      } catch (const Error& e) {  // cuDNN without a plan for the shape
        std::printf("%-18s %-8s %s\n", s.name, kernel.c_str(), e.what());
        continue;
      }
      std::printf("%-18s %-8s %10.4f %10.1f\n", s.name, kernel.c_str(), ms, flops / (ms * 1e-3) / 1e12);
    }
  }
  set_cuda_attention_kernel("auto");
  return 0;
}

}  // namespace
}  // namespace sdpp

int main(int argc, char** argv) {
  return sdpp::bench::run_reporting_errors("sdpp_attention_bench", [&] { return sdpp::run(argc, argv); });
}
