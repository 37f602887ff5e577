#include "pipeline/recorded_unet.h"

namespace sdpp {
namespace {
enum Input { kSample, kTimeProj, kTimeEmbeds, kContext, kTextEmbeds, kTimestepCond };
}  // namespace

RecordedUNet::RecordedUNet(const nn::UNet2DConditionModel& unet)
    : call_("the UNet forward", unet.device(), [&unet](const std::vector<Tensor>& in) {
        nn::UNetTimeInputs time;
        time.t_proj = in[kTimeProj];
        time.time_embeds = in[kTimeEmbeds];
        nn::UNetAddedCond added;  // undefined members are what a missing UNetAddedCond means
        added.text_embeds = in[kTextEmbeds];
        added.timestep_cond = in[kTimestepCond];
        return unet.forward(in[kSample], time, in[kContext], &added);
      }) {}

Tensor RecordedUNet::forward(const Tensor& sample, const nn::UNetTimeInputs& time, const Tensor& context,
                             const nn::UNetAddedCond* added) {
  return call_.run({sample, time.t_proj, time.time_embeds, context, added ? added->text_embeds : Tensor(),
                    added ? added->timestep_cond : Tensor()});
}

}  // namespace sdpp
