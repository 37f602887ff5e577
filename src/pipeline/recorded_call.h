// A device computation over a few tensors, recorded once per input shapes and replayed at every later call where the
// backend can record (a CUDA graph on cuda devices): its ops go out as one launch instead of one by one from the host.
// The first call for a shape runs eagerly (it makes every op's plans: algorithm choices time kernels, which a
// recording cannot, and it shows the output's shape); the second records and replays; later calls replay. Inputs are
// copied into the device buffers the recording reads and the output out of the one it writes, so values change
// freely between calls. Where the backend cannot record (the cpu), with SDPP_CUDA_GRAPHS=0, or for a shape whose
// recording failed, calls run eagerly. Calls are serialised by a mutex.
// Held inputs are those that stay the same over many calls (a denoising loop's text context): one given again (the
// same tensor, Tensor::same_as) is not copied again, so callers must not change a held tensor's values in place.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sdpp {

class RecordedCall {
 public:
  // `body` maps the inputs (some may be undefined: absent optional inputs) to one output tensor; it must not read
  // from or wait on the host. `name` is for messages.
  using Body = std::function<Tensor(const std::vector<Tensor>& inputs)>;
  RecordedCall(std::string name, Device device, Body body);
  ~RecordedCall();
  RecordedCall(const RecordedCall&) = delete;
  RecordedCall& operator=(const RecordedCall&) = delete;

  // body(inputs followed by held), returned in a tensor of its own (not a recording's buffer).
  Tensor run(const std::vector<Tensor>& inputs, const std::vector<Tensor>& held = {});

  bool enabled() const { return enabled_; }
  int64_t replays() const;    // calls answered by a replay so far
  size_t recordings() const;  // input shapes recorded and kept

 private:
  struct Recording;
  Recording& find_or_add(const std::string& key);

  std::string name_;
  Device device_;
  Body body_;
  bool enabled_ = false;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Recording>> recordings_;  // most recently used last
  int64_t replays_ = 0;
};

}  // namespace sdpp
