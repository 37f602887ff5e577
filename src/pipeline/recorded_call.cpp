#include "pipeline/recorded_call.h"

#include <cstdio>
#include <exception>

#include "backend/backend.h"
#include "core/env_flag.h"
#include "core/error.h"

namespace sdpp {
namespace {

// Each recording keeps its own scratch memory, so only a few shapes are kept: a server alternating between sizes
// re-records the least recently used one.
constexpr size_t kMaxRecordings = 3;

bool graphs_allowed() { return !env_is("SDPP_CUDA_GRAPHS", "0"); }

std::string describe(const Tensor& t) {
  return t.defined() ? shape_str(t.shape()) + dtype_name(t.dtype()) + "@" + t.device().str() : std::string("-");
}

void copy_into(Backend& backend, const Tensor& src, Tensor& dst) {
  if (!src.defined()) return;
  backend.convert(backend.contiguous(src.to(dst.device())), dst);
}

}  // namespace

struct RecordedCall::Recording {
  std::string key;
  bool ran_eagerly = false;
  bool failed = false;
  Shape output_shape;
  DType output_dtype = DType::F32;
  std::vector<Tensor> inputs;        // the buffers the recording reads (the held ones last)
  std::vector<Tensor> held_sources;  // the held tensors last copied in, kept so their storage is not reused
  Tensor output;                     // the buffer it writes
  std::unique_ptr<RecordedWork> work;
};

RecordedCall::RecordedCall(std::string name, Device device, Body body)
    : name_(std::move(name)),
      device_(device),
      body_(std::move(body)),
      enabled_(graphs_allowed() && backend_for(device).can_record()) {}

RecordedCall::~RecordedCall() = default;

int64_t RecordedCall::replays() const {
  std::lock_guard lock(mutex_);
  return replays_;
}

size_t RecordedCall::recordings() const {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  for (const auto& r : recordings_) n += r->work ? 1 : 0;
  return n;
}

RecordedCall::Recording& RecordedCall::find_or_add(const std::string& key) {
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

Tensor RecordedCall::run(const std::vector<Tensor>& inputs_only, const std::vector<Tensor>& held) {
  std::vector<Tensor> inputs = inputs_only;
  inputs.insert(inputs.end(), held.begin(), held.end());
  if (!enabled_) return body_(inputs);
  std::string key = std::to_string(held.size()) + " held: ";  // a recording's held_sources match its key
  for (const Tensor& t : inputs) key += describe(t) + " ";
  std::lock_guard lock(mutex_);
  Recording& r = find_or_add(key);
  if (r.failed || !r.ran_eagerly) {
    Tensor out = body_(inputs);
    r.ran_eagerly = true;
    r.output_shape = out.shape();
    r.output_dtype = out.dtype();
    return out;
  }
  Backend& backend = backend_for(device_);
  if (!r.work) {
    r.inputs.clear();
    r.held_sources.assign(held.size(), Tensor());
    for (const Tensor& t : inputs)
      r.inputs.push_back(t.defined() ? Tensor::empty(t.shape(), t.dtype(), device_) : Tensor());
    // Allocated before recording, so it is not the recording's own memory and stays valid between replays.
    r.output = Tensor::empty(r.output_shape, r.output_dtype, device_);
    try {
      backend.begin_recording();
      {
        // Every allocation made while recording is freed again before its end, so the graph owns only scratch.
        const Tensor out = backend.contiguous(body_(r.inputs));
        if (out.shape() != r.output_shape || out.dtype() != r.output_dtype)
          throw Error(ErrorCode::Internal, "output " + describe(out) + " differs from the eager run's");
        backend.convert(out, r.output);
      }
      r.work = backend.end_recording();
    } catch (const std::exception& e) {  // any failure: the stream must leave capture mode before anything else runs
      backend.abort_recording();
      r.failed = true;
      r.inputs.clear();
      r.output = Tensor();
      std::fprintf(stderr, "sdpp: recording %s for %sfailed, running it eagerly: %s\n", name_.c_str(), key.c_str(),
                   e.what());
      return body_(inputs);
    }
  }
  const size_t first_held = inputs_only.size();
  for (size_t i = 0; i < first_held; ++i) copy_into(backend, inputs[i], r.inputs[i]);
  for (size_t i = 0; i < held.size(); ++i) {
    // A recording made for these shapes starts with no sources, so its first replay copies every held input.
    if (held[i].defined() && held[i].same_as(r.held_sources[i])) continue;
    copy_into(backend, held[i], r.inputs[first_held + i]);
    r.held_sources[i] = held[i];
  }
  r.work->replay();
  ++replays_;
  Tensor result = Tensor::empty(r.output.shape(), r.output.dtype(), device_);
  backend.convert(r.output, result);
  return result;
}

}  // namespace sdpp
