// The cuda backend's second stream (Backend::begin_side): forked from the main stream where it stands, joined back
// into it later, so that independent work (a resnet's shortcut GEMM beside its norms and convolutions) fills the
// multiprocessors that latency-bound kernels leave idle. Recorded, the fork and the join become graph edges. The side
// stream has the device's least priority (the backend's main stream its greatest), so it takes what the critical
// path leaves.
//
// It also owns the release of device memory: while side work is unjoined, a block freed on the main stream could be
// handed to the main stream's next allocation while the side stream still reads or writes it, so frees wait for the
// join; otherwise they go to the main stream at once.
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <mutex>
#include <vector>

namespace sdpp::cuda {

class SideQueue {
 public:
  explicit SideQueue(cudaStream_t main);  // `main` stays the caller's
  ~SideQueue();
  SideQueue(const SideQueue&) = delete;
  SideQueue& operator=(const SideQueue&) = delete;

  // The side stream, made to wait for the work enqueued on the main stream so far.
  cudaStream_t fork();
  // Makes the main stream wait for the side stream's work, then releases the frees that waited for it. Nothing
  // where no fork is unjoined.
  void join();
  bool pending() const;
  // Frees stream-ordered device memory as the class comment says.
  void release(void* p);

 private:
  cudaStream_t main_ = nullptr, side_ = nullptr;
  cudaEvent_t forked_ = nullptr, done_ = nullptr;
  mutable std::mutex mutex_;  // storages are released from any thread
  bool pending_ = false;
  std::vector<void*> deferred_;
};

}  // namespace sdpp::cuda
