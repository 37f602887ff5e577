// A memset node's work as a kernel node (library_capture.h says why).
#include <algorithm>

#include "backend/cuda/kernels.h"

namespace sdpp::cuda {
namespace {

struct FillArgs {
  char* dst;
  size_t pitch;  // bytes between rows
  unsigned value;
  unsigned element_size;  // 1, 2 or 4 bytes
  size_t width;           // elements a row
  size_t height;          // rows
};

__global__ void fill_kernel(FillArgs a) {
  const size_t total = a.width * a.height;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    char* p = a.dst + (i / a.width) * a.pitch + (i % a.width) * a.element_size;
    if (a.element_size == 1)
      *reinterpret_cast<unsigned char*>(p) = static_cast<unsigned char>(a.value);
    else if (a.element_size == 2)
      *reinterpret_cast<unsigned short*>(p) = static_cast<unsigned short>(a.value);
    else
      *reinterpret_cast<unsigned*>(p) = a.value;
  }
}

}  // namespace

cudaError_t add_fill_node(cudaGraphNode_t* node, cudaGraph_t graph, const cudaGraphNode_t* dependencies,
                          size_t count, const cudaMemsetParams& memset) {
  if (memset.elementSize != 1 && memset.elementSize != 2 && memset.elementSize != 4) return cudaErrorInvalidValue;
  FillArgs args{static_cast<char*>(memset.dst), memset.pitch, memset.value, memset.elementSize, memset.width,
                memset.height};
  void* params[] = {&args};
  constexpr unsigned kThreads = 256;
  const size_t total = memset.width * memset.height;
  cudaKernelNodeParams kernel{};
  kernel.func = reinterpret_cast<void*>(fill_kernel);
  kernel.gridDim = dim3(unsigned(std::clamp<size_t>((total + kThreads - 1) / kThreads, 1, 1024)));
  kernel.blockDim = dim3(kThreads);
  kernel.kernelParams = params;
  return cudaGraphAddKernelNode(node, graph, dependencies, count, &kernel);  // copies the arguments
}

}  // namespace sdpp::cuda
