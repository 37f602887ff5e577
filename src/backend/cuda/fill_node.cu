// Memset nodes' work as one kernel node (library_capture.h says why).
#include <algorithm>

#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

struct FillRegion {
  char* dst;
  size_t pitch;  // bytes between rows
  unsigned value;
  unsigned element_size;  // 1, 2 or 4 bytes
  size_t width;           // elements a row
  size_t height;          // rows
};

struct FillArgs {  // the kernel's argument, passed by value
  FillRegion regions[kMaxFillRegions];
  int count;
};

__global__ void fill_kernel(FillArgs a) {
  for (int r = 0; r < a.count; ++r) {
    const FillRegion& f = a.regions[r];
    const size_t total = f.width * f.height;
    for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
      char* p = f.dst + (i / f.width) * f.pitch + (i % f.width) * f.element_size;
      if (f.element_size == 1)
        *reinterpret_cast<unsigned char*>(p) = static_cast<unsigned char>(f.value);
      else if (f.element_size == 2)
        *reinterpret_cast<unsigned short*>(p) = static_cast<unsigned short>(f.value);
      else
        *reinterpret_cast<unsigned*>(p) = f.value;
    }
  }
}

}  // namespace

cudaError_t add_fill_node(cudaGraphNode_t* node, cudaGraph_t graph, const cudaGraphNode_t* dependencies,
                          size_t count, const cudaMemsetParams* memsets, size_t memset_count) {
  if (memset_count < 1 || memset_count > size_t(kMaxFillRegions)) return cudaErrorInvalidValue;
  FillArgs args{};
  args.count = int(memset_count);
  size_t largest = 1;
  for (size_t k = 0; k < memset_count; ++k) {
    const cudaMemsetParams& m = memsets[k];
    if (m.elementSize != 1 && m.elementSize != 2 && m.elementSize != 4) return cudaErrorInvalidValue;
    args.regions[k] = {static_cast<char*>(m.dst), m.pitch, m.value, m.elementSize, m.width, m.height};
    largest = std::max(largest, m.width * m.height);
  }
  void* params[] = {&args};
  constexpr unsigned kThreads = 256;
  cudaKernelNodeParams kernel{};
  kernel.func = reinterpret_cast<void*>(fill_kernel);
  kernel.gridDim = dim3(unsigned(std::clamp<size_t>((largest + kThreads - 1) / kThreads, 1, 1024)));
  kernel.blockDim = dim3(kThreads);
  kernel.kernelParams = params;
  return cudaGraphAddKernelNode(node, graph, dependencies, count, &kernel);  // copies the arguments
}

}  // namespace sdpp::cuda
