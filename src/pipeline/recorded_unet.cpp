#include "pipeline/recorded_unet.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backend/backend.h"
#include "core/error.h"

namespace sdpp {
namespace {

// Each recording keeps its own activations alive (a graph's memory is its own), so only a few shapes are kept:
// a server alternating between sizes re-records the least recently used one.
constexpr size_t kMaxRecordings = 3;

bool graphs_allowed() {
  const char* env = std::getenv("SDPP_CUDA_GRAPHS");
  return !env || std::strcmp(env, "0") != 0;
}

std::string describe(const Tensor& t) {
  return t.defined() ? shape_str(t.shape()) + dtype_name(t.dtype()) : std::string("-");
}

// A buffer the recording reads: same shape and dtype as `like`, contiguous, on `device`.
Tensor buffer_like(const Tensor& like, Device device) {
  return like.defined() ? Tensor::empty(like.shape(), like.dtype(), device) : Tensor();
}

void copy_into(Backend& backend, const Tensor& src, Tensor& dst) {
  if (!src.defined()) return;
  backend.convert(backend.contiguous(src.to(dst.device())), dst);
}

}  // namespace

struct RecordedUNet::Recording {
  std::string key;
  int eager_runs = 0;
  bool failed = false;
  Tensor sample, context, text_embeds, timestep_cond, output;
  nn::UNetTimeInputs time;
  std::unique_ptr<RecordedWork> work;
};

RecordedUNet::RecordedUNet(const nn::UNet2DConditionModel& unet)
    : unet_(unet), enabled_(graphs_allowed() && backend_for(unet.device()).can_record()) {}

RecordedUNet::~RecordedUNet() = default;

int64_t RecordedUNet::replays() const {
  std::lock_guard lock(mutex_);
  return replays_;
}

size_t RecordedUNet::recordings() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& r : recordings_) n += r->work ? 1 : 0;
  return n;
}

RecordedUNet::Recording& RecordedUNet::find_or_add(const std::string& key) {
  for (size_t i = 0; i < recordings_.size(); ++i) {
    if (recordings_[i]->key != key) continue;
    auto found = std::move(recordings_[i]);
    recordings_.erase(recordings_.begin() + std::ptrdiff_t(i));
    recordings_.push_back(std::move(found));
    return *recordings_.back();
  }
  if (recordings_.size() >= kMaxRecordings) recordings_.erase(recordings_.begin());
  recordings_.push_back(std::make_unique<Recording>());
  recordings_.back()->key = key;
  return *recordings_.back();
}

Tensor RecordedUNet::forward(const Tensor& sample, const nn::UNetTimeInputs& time, const Tensor& context,
                             const nn::UNetAddedCond* added) {
  if (!enabled_) return unet_.forward(sample, time, context, added);
  const Tensor text_embeds = added ? added->text_embeds : Tensor();
  const Tensor timestep_cond = added ? added->timestep_cond : Tensor();
  const std::string key = describe(sample) + describe(time.t_proj) + describe(time.time_embeds) + describe(context) +
                          describe(text_embeds) + describe(timestep_cond);
  std::lock_guard lock(mutex_);
  Recording& r = find_or_add(key);
  if (r.failed || (!r.work && r.eager_runs == 0)) {
    ++r.eager_runs;
    return unet_.forward(sample, time, context, added);
  }
  Backend& backend = backend_for(unet_.device());
  const Device device = unet_.device();
  if (!r.work) {
    r.sample = buffer_like(sample, device);
    r.context = buffer_like(context, device);
    r.text_embeds = buffer_like(text_embeds, device);
    r.timestep_cond = buffer_like(timestep_cond, device);
    r.time.t_proj = buffer_like(time.t_proj, device);
    r.time.time_embeds = buffer_like(time.time_embeds, device);
    nn::UNetAddedCond recorded_added;
    recorded_added.text_embeds = r.text_embeds;
    recorded_added.timestep_cond = r.timestep_cond;
    r.output = Tensor::empty({sample.dim(0), unet_.config().out_channels, sample.dim(2), sample.dim(3)},
                             unet_.dtype(), device);
    try {
      backend.begin_recording();
      {
        // Every allocation made while recording is freed again before its end, so the graph owns only scratch.
        const Tensor out = backend.contiguous(
            unet_.forward(r.sample, r.time, r.context, added ? &recorded_added : nullptr));
        backend.convert(out, r.output);
      }
      r.work = backend.end_recording();
    } catch (const Error& e) {
      backend.abort_recording();
      r.failed = true;
      r.output = Tensor();
      std::fprintf(stderr, "sdpp: recording the UNet forward for %s failed, running it eagerly: %s\n", key.c_str(),
                   e.what());
      return unet_.forward(sample, time, context, added);
    }
  }
  copy_into(backend, sample, r.sample);
  copy_into(backend, context, r.context);
  copy_into(backend, text_embeds, r.text_embeds);
  copy_into(backend, timestep_cond, r.timestep_cond);
  copy_into(backend, time.t_proj, r.time.t_proj);
  copy_into(backend, time.time_embeds, r.time.time_embeds);
  r.work->replay();
  ++replays_;
  Tensor result = Tensor::empty(r.output.shape(), r.output.dtype(), device);
  backend.convert(r.output, result);
  return result;
}

}  // namespace sdpp
