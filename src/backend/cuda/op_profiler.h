// Per-op device timing for performance work (SDPP_CUDA_PROFILE=1): each op brackets its launches with two events on
// the backend's stream; report() sums the elapsed times per op and input shape. Off by default, and then free.
#pragma once
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "core/tensor.h"

namespace sdpp::cuda {

class OpProfiler {
 public:
  class Scope {
   public:
    Scope() = default;
    Scope(OpProfiler* owner, size_t index) : owner_(owner), index_(index) {}
    Scope(Scope&& other) noexcept : owner_(other.owner_), index_(other.index_) { other.owner_ = nullptr; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    Scope& operator=(Scope&&) = delete;
    ~Scope() {
      if (owner_) owner_->end(index_);
    }

   private:
    OpProfiler* owner_ = nullptr;
    size_t index_ = 0;
  };

  ~OpProfiler();
  bool enabled() const { return enabled_; }
  void enable(cudaStream_t stream) {
    enabled_ = true;
    stream_ = stream;
  }
  // While a graph is being captured, events become graph nodes (external records), timed at the graph's launch.
  void set_capturing(bool on) { capturing_ = on; }
  // Label: op name plus the shapes of up to two operands ("conv2d [2, 320, 64, 64] [320, 320, 3, 3]").
  Scope begin(const char* op, const Tensor& a, const Tensor* b = nullptr);
  // Waits for the stream, then returns "total_ms count label" lines (largest first) and forgets the records.
  // Ops nested in another op (a conversion inside conv2d) are listed with a "> " prefix and not added to the total.
  std::string report();

 private:
  void end(size_t index);
  cudaEvent_t event();

  struct Record {
    std::string label;
    cudaEvent_t start, stop;
    int depth;
  };
  void record(cudaEvent_t e);
  bool enabled_ = false;
  bool capturing_ = false;
  cudaStream_t stream_ = nullptr;
  std::vector<Record> records_;
  std::vector<cudaEvent_t> free_events_;
  int depth_ = 0;
};

}  // namespace sdpp::cuda
