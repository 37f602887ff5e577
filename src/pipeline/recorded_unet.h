// The UNet forward of the denoising loop as a RecordedCall (pipeline/recorded_call.h): recorded once per input shape
// and replayed at every later step where the device can record, so the ~700 ops of a step go out as one launch.
#pragma once
#include "models/unet_2d_condition.h"
#include "pipeline/recorded_call.h"

namespace sdpp {

class RecordedUNet {
 public:
  explicit RecordedUNet(const nn::UNet2DConditionModel& unet);

  // unet.forward(sample, time, context, added), returned in a tensor of its own. added->time_ids is not read (it is
  // in time.time_embeds).
  Tensor forward(const Tensor& sample, const nn::UNetTimeInputs& time, const Tensor& context,
                 const nn::UNetAddedCond* added = nullptr);

  bool enabled() const { return call_.enabled(); }
  int64_t replays() const { return call_.replays(); }
  size_t recordings() const { return call_.recordings(); }

 private:
  RecordedCall call_;
};

}  // namespace sdpp
