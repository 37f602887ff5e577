// Recording for CudaBackend: stream capture into a CUDA graph, replayed with one launch.
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/library_capture.h"

namespace sdpp::cuda {
namespace {

class CudaGraphWork final : public RecordedWork {
 public:
  CudaGraphWork(int device, cudaStream_t stream, cudaGraphExec_t exec)
      : device_(device), stream_(stream), exec_(exec) {}
  ~CudaGraphWork() override {
    // Errors are ignored: this may run while the process unwinds from an earlier device error.
    if (cudaSetDevice(device_) == cudaSuccess) {
      cudaStreamSynchronize(stream_);
      cudaGraphExecDestroy(exec_);
    }
    cudaGetLastError();
  }
  void replay() override {
    SDPP_CUDA_CHECK(cudaSetDevice(device_));
    SDPP_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
  }

 private:
  int device_;
  cudaStream_t stream_;
  cudaGraphExec_t exec_;
};

}  // namespace

void CudaBackend::begin_recording() {
  if (capturing_) throw Error(ErrorCode::Internal, device().str() + ": a recording is already in progress");
  activate();
  join_side();
  SDPP_CUDA_CHECK(cudaStreamSynchronize(stream_));
  // Relaxed: cuDNN and cuBLASLt may make calls that the stricter modes forbid while capturing; the backend's own
  // rules (no uploads, downloads or synchronisation while recording) are checked by the backend instead.
  SDPP_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  capturing_ = true;
  profiler_.set_capturing(true);
}

std::unique_ptr<RecordedWork> CudaBackend::end_recording() {
  if (!capturing_) throw Error(ErrorCode::Internal, device().str() + ": end_recording without begin_recording");
  activate();
  join_side();  // the side stream's work joins the graph before the capture ends
  capturing_ = false;
  profiler_.set_capturing(false);
  cudaGraph_t graph = nullptr;
  SDPP_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
  cudaGraphExec_t exec = nullptr;
  // Allocations the recording left unfreed (it should leave none) are released when the graph is launched again.
  const cudaError_t status = cudaGraphInstantiateWithFlags(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
  cudaGraphDestroy(graph);
  SDPP_CUDA_CHECK(status);
  return std::make_unique<CudaGraphWork>(index_, stream_, exec);
}

void CudaBackend::library_call(const std::function<void(cudaStream_t)>& call) {
  if (capturing_ && replace_memsets_)
    replaced_memsets_ += record_library_call(stream_, scratch_stream_, call);
  else
    call(stream_);
}

void CudaBackend::abort_recording() {
  if (!capturing_) return;
  capturing_ = false;
  profiler_.set_capturing(false);
  activate();
  try {
    join_side();  // an invalidated capture may refuse the join's event: the capture ends below either way
  } catch (const Error&) {
    end_side();
  }
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // an invalidated capture reports its error here; the stream is usable again
}

}  // namespace sdpp::cuda
