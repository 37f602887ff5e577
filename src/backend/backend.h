// A backend implements the op set (ops.h) and memory for one device. One instance per device, owned by the registry.
#pragma once
#include <memory>
#include <span>

#include "backend/ops.h"
#include "core/tensor.h"

namespace sdpp {

// Device work recorded once and replayed without the host cost of issuing each op again (a CUDA graph).
// A replay reads and writes the same device addresses the recording used.
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
  virtual void replay() = 0;
};

// Device memory as the backend sees it, in bytes; 0 where a backend does not track it (the cpu).
// Peaks count since the backend started or since reset_memory_peak().
struct MemoryStats {
  size_t peak_bytes = 0;           // upper bound of the most reserved at once: the sum of the parts' peaks below
  size_t pool_peak_bytes = 0;      // most reserved by the allocator of tensors (weights, activations)
  size_t pool_used_peak_bytes = 0; // most allocated from it (reserved minus the pool's free blocks)
  size_t recorded_peak_bytes = 0;  // most reserved by recordings for their own scratch
  size_t device_used_bytes = 0;    // in use on the device now by every process, the runtime's context included
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;

  // Memory. allocate() throws Error(OutOfMemory) naming the size.
  virtual std::shared_ptr<Storage> allocate(size_t bytes) = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_zero(void* dst, size_t bytes) = 0;
  // Converts element types on this device (`dst` and `src` both on it, same numel).
  virtual void convert(const Tensor& src, Tensor& dst) = 0;
  // Returns a contiguous (row-major logical) copy or `x` itself; used before host copies.
  virtual Tensor contiguous(const Tensor& x) { return x; }
  virtual void synchronize() {}
  virtual MemoryStats memory_stats() { return {}; }
  virtual void reset_memory_peak() {}
  // Per-op device times recorded since the last call, when the backend profiles (cuda: SDPP_CUDA_PROFILE=1 at its
  // creation); empty otherwise. Synchronises.
  virtual std::string profile_report() { return {}; }

  // Recording: what this backend enqueues between begin_recording() and end_recording() becomes one RecordedWork
  // instead of running. Inside, nothing may read from or synchronise with the host, and host uploads are refused
  // (a replay would repeat the recorded values); every op's plans must already exist, so record a forward that
  // ran once eagerly. Callers serialise: one recording at a time per backend, no other thread using it meanwhile.
  // abort_recording() ends a recording that failed half way (the backend is usable again, nothing is kept).
  virtual bool can_record() const { return false; }
  virtual void begin_recording();
  virtual std::unique_ptr<RecordedWork> end_recording();
  virtual void abort_recording() {}
  // Returns the allocator's free blocks to the device (what tensors and recordings hold stays): called after an
  // image, so one-time work (the first image's eager runs) does not stay reserved beside the recordings.
  virtual void release_unused_memory() {}

  // Work that does not depend on what follows it, run beside it (a resnet's shortcut projection beside its norms and
  // convolutions): ops enqueued between begin_side() and end_side() go to a second queue that starts where the main
  // one stands; the main queue runs on meanwhile, and join_side() makes what it enqueues next wait for that work.
  // Tensors the side work reads must live until the join; memory freed before it is released at the join. Backends
  // with one queue run such work in place (the defaults).
  virtual void begin_side() {}
  virtual void end_side() {}
  virtual void join_side() {}

  // The form of a convolution weight [O, C, kh, kw] this backend reads fastest, made once at load (the cuda
  // backend repacks to channels-last so no second copy lives beside the original). conv2d accepts either form.
  virtual Tensor prepare_conv_weight(const Tensor& weight) { return weight; }

  // One-off work whose speed does not matter (the approximate preview's colour fit decodes an 8x8 latent once per
  // model): while a scope is open, a backend that times candidates on a shape's first call (cuda) takes its untimed
  // default for shapes it has not timed, and forgets those choices when the last scope closes, so the shapes are
  // timed when work that repeats meets them. UntimedChoices (below) opens one for its lifetime.
  virtual void begin_untimed_choices() {}
  virtual void end_untimed_choices() {}
  // How many choices this backend has timed since it began (one per timed op's new shape); 0 where nothing is timed.
  virtual int64_t timed_choices() const { return 0; }

  virtual Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::LinearOptions& o) = 0;
  virtual Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::Conv2dOptions& o) = 0;
  // `add` [N, C] or undefined (see ops::group_norm)
  virtual Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                            ops::Activation act, const Tensor& add) = 0;
  virtual Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) = 0;
  // Default: linear(), then layer_norm() of its output.
  virtual ops::LinearAndNorm linear_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                               const ops::LinearOptions& o, const Tensor& norm_gamma,
                                               const Tensor& norm_beta, float eps);
  virtual Tensor activation(const Tensor& x, ops::Activation act) = 0;
  virtual Tensor geglu(const Tensor& x) = 0;
  // Default: geglu(linear(x, weight, bias)).
  virtual Tensor linear_geglu(const Tensor& x, const Tensor& weight, const Tensor& bias);
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o) = 0;
  // Default: the parts sliced out (copies), then attention().
  virtual Tensor attention_packed(const Tensor& packed, const Tensor& kv, const ops::AttentionOptions& o);
  virtual Tensor upsample_nearest2x(const Tensor& x) = 0;
  virtual Tensor interleave_phases(const Tensor& y, int64_t out_h, int64_t out_w) = 0;
  virtual Tensor concat(std::span<const Tensor> xs, int dim) = 0;
  virtual Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) = 0;
  virtual Tensor to_tokens(const Tensor& x) = 0;
  virtual Tensor from_tokens(const Tensor& x, int64_t height, int64_t width) = 0;
  virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
  virtual Tensor mul(const Tensor& a, const Tensor& b) = 0;
  virtual Tensor scale(const Tensor& x, float factor, float offset) = 0;
  virtual Tensor clamp(const Tensor& x, float lo, float hi) = 0;
  virtual Tensor exp(const Tensor& x) = 0;
  virtual Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs) = 0;
  virtual Tensor embedding(const Tensor& table, const Tensor& ids) = 0;
  virtual Tensor gather_rows(const Tensor& x, std::span<const int64_t> index) = 0;
};

// Backend::begin_untimed_choices() for this object's lifetime.
class UntimedChoices {
 public:
  explicit UntimedChoices(Backend& backend) : backend_(backend) { backend_.begin_untimed_choices(); }
  ~UntimedChoices() { backend_.end_untimed_choices(); }
  UntimedChoices(const UntimedChoices&) = delete;
  UntimedChoices& operator=(const UntimedChoices&) = delete;

 private:
  Backend& backend_;
};

// The backend for a device. The cpu backend always exists; cuda ones exist once register_backend_factory()
// was called for DeviceType::CUDA (see backend/init.h). Throws Error(Unsupported) otherwise.
Backend& backend_for(Device device);
using BackendFactory = std::unique_ptr<Backend> (*)(int index);
void register_backend_factory(DeviceType type, BackendFactory factory);
bool backend_available(DeviceType type);

}  // namespace sdpp
