// CUDA graph capture for CudaBackend: one forward enqueued once, replayed without per-op host work.
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"

namespace sdpp::cuda {

void CudaBackend::begin_capture() {
  if (capturing_) throw Error(ErrorCode::Internal, device().str() + ": graph capture already in progress");
  activate();
  SDPP_CUDA_CHECK(cudaStreamSynchronize(stream_));
  // Relaxed: the pinned staging allocations of captured uploads are made while capturing.
  SDPP_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  capturing_ = true;
  profiler_.set_capturing(true);
}

cudaGraphExec_t CudaBackend::end_capture() {
  if (!capturing_) throw Error(ErrorCode::Internal, device().str() + ": end_capture without begin_capture");
  capturing_ = false;
  profiler_.set_capturing(false);
  activate();
  cudaGraph_t graph = nullptr;
  SDPP_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiateWithFlags(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
  cudaGraphDestroy(graph);
  SDPP_CUDA_CHECK(status);
  graphs_.push_back(exec);
  return exec;
}

void CudaBackend::launch_graph(cudaGraphExec_t graph) {
  activate();
  SDPP_CUDA_CHECK(cudaGraphLaunch(graph, stream_));
}

}  // namespace sdpp::cuda
