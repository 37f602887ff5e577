// The UNet forward of the denoising loop as a RecordedCall (pipeline/recorded_call.h): recorded once per input shape
// and replayed at every later step where the device can record, so the ~700 ops of a step go out as one launch.
// The cross-attention keys and values of a context are projected once, at the first step given that context, and
// held by the recording (models/cross_context.h): later steps neither project nor copy them. The time embedding is
// not in the recording either: a step reads its resnets' time terms, made for the whole loop before it
// (UNet2DConditionModel::time_terms).
#pragma once
#include <mutex>
#include <vector>

#include "models/unet_2d_condition.h"
#include "pipeline/recorded_call.h"

namespace sdpp {

class RecordedUNet {
 public:
  explicit RecordedUNet(const nn::UNet2DConditionModel& unet);

  // unet.forward(sample, terms, context) for one call's terms, returned in a tensor of its own. `context` is taken
  // as unchanged while the same tensor is given (Tensor::same_as): callers do not modify it in place between steps.
  // Calls are serialised (a loop whose steps interleave with another context's projects again at each switch).
  Tensor forward(const Tensor& sample, const nn::UNetTimeTerms& terms, const Tensor& context);

  // unet.time_terms(time, batch, added), recorded as the forward is: before a loop's first step, its ~30 small ops
  // (the time embedding, one GEMM per resnet, the packing) cost more to issue from the host than to run (0.75-0.93 ms
  // before an SD 1.5 image's first step on an H100, eager). added->time_ids is not read (it is in time.time_embeds).
  nn::UNetTimeTerms time_terms(const nn::UNetTimeInputs& time, int64_t batch, const nn::UNetAddedCond* added);

  bool enabled() const { return call_.enabled(); }
  int64_t replays() const { return call_.replays(); }
  size_t recordings() const { return call_.recordings(); }
  int64_t time_terms_replays() const { return time_terms_call_.replays(); }

 private:
  const nn::UNet2DConditionModel& unet_;
  std::mutex mutex_;  // the projections below change between calls
  Tensor projected_for_;  // the context whose projections these are; held, so no other tensor gets its storage
  nn::ProjectedContext projected_;
  std::vector<const nn::Attention*> projected_layers_;  // projected_'s layers in order: the body's held inputs
  RecordedCall call_;
  RecordedCall time_terms_call_;
};

}  // namespace sdpp
