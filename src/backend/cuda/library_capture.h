// Library calls recorded without memset nodes.
//
// cuBLASLt zeroes a 4-byte counter in its workspace before some GEMMs (in the SD 1.5 step: the 64x64 level's q/k/v
// GEMM and the feed-forward GEMMs), and cuDNN does the same before its attention. Recorded as they are, these are
// memset nodes, and in a replayed graph the GPU idled 3.6-5.8 us at each (23 in the SD 1.5 step), where one kernel
// follows another after about 0.1 us, a library kernel after one of ours too. Memset nodes cannot be replaced once
// they are in the step's graph (a graph with allocation nodes loses no nodes), and moving them onto a branch of their
// own, beside the kernels before the call, made the step slower (the joins cost more than they saved). So the call is
// captured alone first, on a scratch stream, into a graph of its own; there each memset node becomes a fill kernel
// of the backend's own, and that graph joins the recording as one child-graph node.
#pragma once
#include <cuda_runtime.h>

#include <functional>

namespace sdpp::cuda {

// Records `call` (library work, enqueued on the stream it is given) into the capture under way on `stream`, its
// memsets replaced as above; `scratch` is a stream that is not capturing. Where the call records no memset, or its
// capture alone fails (a memset of memory that `stream`'s graph allocates is refused there), the call is simply made
// on `stream`. Returns how many memset nodes were replaced.
int record_library_call(cudaStream_t stream, cudaStream_t scratch, const std::function<void(cudaStream_t)>& call);

}  // namespace sdpp::cuda
