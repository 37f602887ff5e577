#include "backend/cuda/side_queue.h"

#include "backend/cuda/cuda_check.h"

namespace sdpp::cuda {

SideQueue::SideQueue(cudaStream_t main) : main_(main) {
  int least_priority = 0, greatest_priority = 0;
  SDPP_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least_priority, &greatest_priority));
  SDPP_CUDA_CHECK(cudaStreamCreateWithPriority(&side_, cudaStreamNonBlocking, least_priority));
  SDPP_CUDA_CHECK(cudaEventCreateWithFlags(&forked_, cudaEventDisableTiming));
  SDPP_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
}

SideQueue::~SideQueue() {
  cudaStreamSynchronize(side_);
  cudaEventDestroy(forked_);
  cudaEventDestroy(done_);
  cudaStreamDestroy(side_);
  cudaGetLastError();
}

cudaStream_t SideQueue::fork() {
  SDPP_CUDA_CHECK(cudaEventRecord(forked_, main_));
  SDPP_CUDA_CHECK(cudaStreamWaitEvent(side_, forked_, 0));
  std::lock_guard lock(mutex_);
  pending_ = true;
  return side_;
}

void SideQueue::join() {
  std::vector<void*> deferred;
  cudaError_t status = cudaSuccess;
  {
    std::lock_guard lock(mutex_);
    if (!pending_) return;
    status = cudaEventRecord(done_, side_);
    if (status == cudaSuccess) status = cudaStreamWaitEvent(main_, done_, 0);
    // Not pending afterwards even where the join failed (an invalidated capture refuses it): the frees must not
    // wait for a join that never comes.
    pending_ = false;
    deferred.swap(deferred_);
  }
  for (void* p : deferred)
    if (cudaFreeAsync(p, main_) != cudaSuccess) cudaGetLastError();
  SDPP_CUDA_CHECK(status);
}

bool SideQueue::pending() const {
  std::lock_guard lock(mutex_);
  return pending_;
}

void SideQueue::release(void* p) {
  {
    std::lock_guard lock(mutex_);
    if (pending_) {
      deferred_.push_back(p);
      return;
    }
  }
  if (cudaFreeAsync(p, main_) != cudaSuccess) cudaGetLastError();
}

}  // namespace sdpp::cuda
