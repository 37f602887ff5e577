// The UNet forward of the denoising loop, recorded once per input shape and replayed at every later step where the
// backend can record (a CUDA graph on cuda devices): the ~700 ops of a step go out as one launch instead of one by
// one from the host. The first call for a shape runs eagerly (it makes every op's plans: algorithm choices time
// kernels, which a recording cannot), the second records and replays, later calls replay. Inputs are copied into
// the device buffers the recording reads and the output out of the one it writes, so timesteps, latents and prompts
// change freely between calls. Where the backend cannot record (the cpu), with SDPP_CUDA_GRAPHS=0, or for a shape
// whose recording failed, calls run eagerly. Calls are serialised by a mutex.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "models/unet_2d_condition.h"

namespace sdpp {

class RecordedUNet {
 public:
  explicit RecordedUNet(const nn::UNet2DConditionModel& unet);
  ~RecordedUNet();
  RecordedUNet(const RecordedUNet&) = delete;
  RecordedUNet& operator=(const RecordedUNet&) = delete;

  // unet.forward(sample, time, context, added), returned in a tensor of its own (not a recording's buffer).
  Tensor forward(const Tensor& sample, const nn::UNetTimeInputs& time, const Tensor& context,
                 const nn::UNetAddedCond* added = nullptr);

  bool enabled() const { return enabled_; }
  int64_t replays() const;     // calls answered by a replay so far
  size_t recordings() const;   // shapes recorded and kept

 private:
  struct Recording;
  Recording& find_or_add(const std::string& key);

  const nn::UNet2DConditionModel& unet_;
  bool enabled_ = false;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Recording>> recordings_;  // most recently used last
  int64_t replays_ = 0;
};

}  // namespace sdpp
