// The CUDA backend's class. Everything runs on one stream per backend; memory comes from the device's stream-ordered
// pool, so a tensor freed on the host is reused by the next op without a device synchronisation.
// Ops are defined across files by concern: cuda_backend.cpp (memory, elementwise, layout), cuda_linear.cpp
// (cuBLASLt), cuda_conv.cpp (cuDNN), cuda_attention.cpp.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cudnn_sdpa.h"
#include "backend/cuda/op_profiler.h"
#include "backend/cuda/side_queue.h"

namespace sdpp::cuda {

struct LinearPlan;
struct ConvPlan;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index);
  ~CudaBackend() override;

  Device device() const override { return Device::cuda(index_); }
  std::string name() const override;

  std::shared_ptr<Storage> allocate(size_t bytes) override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void fill_zero(void* dst, size_t bytes) override;
  void convert(const Tensor& src, Tensor& dst) override;
  // Channels-last [N, C, H, W] tensors (data [N, H, W, C]) become a logical NCHW copy; anything else is returned.
  Tensor contiguous(const Tensor& x) override;
  void synchronize() override;
  // Peak: the stream-ordered pool's reserved high-water mark + graph memory's + the fixed GEMM workspace.
  MemoryStats memory_stats() override;
  void reset_memory_peak() override;
  void release_unused_memory() override;

  Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::LinearOptions& o) override;
  Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ops::Conv2dOptions& o) override;
  Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                    ops::Activation act, const Tensor& add) override;
  Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override;
  Tensor activation(const Tensor& x, ops::Activation act) override;
  Tensor geglu(const Tensor& x) override;
  // The fused Hopper kernel (launch_linear_geglu_sm90) where it applies and, under Timed, was faster than cuBLASLt's
  // projection followed by geglu() on the shape's first call.
  Tensor linear_geglu(const Tensor& x, const Tensor& weight, const Tensor& bias) override;
  // Likewise the fused Hopper kernel (launch_linear_layer_norm_sm90) against cuBLASLt's GEMM and layer_norm().
  ops::LinearAndNorm linear_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                       const ops::LinearOptions& o, const Tensor& norm_gamma, const Tensor& norm_beta,
                                       float eps) override;
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o) override;
  // The fused kernel reads the packed parts in place (row strides); other cases slice them out.
  Tensor attention_packed(const Tensor& packed, const Tensor& kv, const ops::AttentionOptions& o) override;
  Tensor upsample_nearest2x(const Tensor& x) override;
  Tensor interleave_phases(const Tensor& y, int64_t out_h, int64_t out_w) override;
  Tensor concat(std::span<const Tensor> xs, int dim) override;
  Tensor slice(const Tensor& x, int dim, int64_t start, int64_t end) override;
  Tensor to_tokens(const Tensor& x) override;
  Tensor from_tokens(const Tensor& x, int64_t height, int64_t width) override;
  Tensor add(const Tensor& a, const Tensor& b) override;
  Tensor mul(const Tensor& a, const Tensor& b) override;
  Tensor scale(const Tensor& x, float factor, float offset) override;
  Tensor clamp(const Tensor& x, float lo, float hi) override;
  Tensor exp(const Tensor& x) override;
  Tensor lincomb(std::span<const Tensor> xs, std::span<const double> coeffs) override;
  Tensor embedding(const Tensor& table, const Tensor& ids) override;
  Tensor gather_rows(const Tensor& x, std::span<const int64_t> index) override;

  void set_poison_allocations(bool on) { poison_ = on; }
  // Which NHWC convolution implementation plans may use (tests force each; Timed picks the faster per shape;
  // Graph: cuDNN's graph API for f16/bf16, an error where it has no plan; Own: the own split-K kernel where it applies,
  // the timed choice elsewhere; Narrow: likewise the narrow kernel for at most 8 outputs).
  enum class ConvPath { Timed, Cudnn, Gemm, Graph, Own, Narrow };
  void set_conv_path(ConvPath path);
  bool channels_last() const { return channels_last_; }  // activations kept NHWC (SDPP_CUDA_LAYOUT=nchw: not)
  // How an op with a fused kernel runs: Timed (default: the faster of the two on each shape's first call), Fused
  // where the kernel applies, Library always as separate ops. SDPP_CUDA_GEGLU and SDPP_CUDA_LINEAR_NORM
  // (timed|fused|library) set it for linear_geglu and linear_layer_norm.
  enum class FusedPath { Timed, Fused, Library };
  void set_geglu_path(FusedPath path);
  void set_linear_norm_path(FusedPath path);
  // Per-op device times since the last report (SDPP_CUDA_PROFILE=1; empty otherwise). Synchronises.
  std::string profile_report() override { return profiler_.enabled() ? profiler_.report() : std::string(); }
  cudaStream_t stream() const { return stream_; }

  // Recording is CUDA graph capture (cuda_graph.cpp): the RecordedWork owns an instantiated graph; allocations made
  // while recording belong to the graph and keep their addresses across replays.
  bool can_record() const override { return true; }
  void begin_recording() override;
  std::unique_ptr<RecordedWork> end_recording() override;
  void abort_recording() override;

  // Side work on a second stream (side_queue.h) with SDPP_CUDA_SIDE=1 or set_side_work(true); in place otherwise
  // (the default: in the recorded SD 1.5 step on an H100 the forks and joins cost more than the overlap gained,
  // docs/PERFORMANCE.md, eighteenth session).
  void begin_side() override;
  void end_side() override;
  void join_side() override;
  void set_side_work(bool on) { side_enabled_ = on; }
  bool side_work() const { return side_enabled_; }

  // Memset nodes of library calls that recordings replaced by kernels (library_capture.h), since the backend began.
  int replaced_memsets() const { return replaced_memsets_; }

  // 3x3 (and larger) kernels become channels-last [O, kh, kw, C] data when activations are channels-last.
  Tensor prepare_conv_weight(const Tensor& weight) override;

  // Untimed: a new shape's GEMM takes cuBLASLt's first heuristic, its convolution cuDNN's first usable heuristic
  // (else im2col + GEMM), attention the own kernel and a fused op the library's path; those GEMM and convolution plans
  // live in their own maps until the last scope closes. Forced paths (set_conv_path and the like) stay as they are.
  void begin_untimed_choices() override { ++untimed_depth_; }
  void end_untimed_choices() override;
  int64_t timed_choices() const override { return timed_choices_; }

 private:
  // Mean device time of `run` over `repeats` back-to-back calls, enqueued behind a busy-wait of at least `spin_us`
  // (lengthened until it outlasts the host's enqueueing) so that host launch overhead does not count: what the call
  // costs inside a recorded (graph) forward. The best of two measurements, or the first when it is above
  // `losing_ms` (the time a candidate must beat; <= 0: none). Synchronises.
  float device_time_ms(const std::function<void()>& run, int repeats, int spin_us, float losing_ms = -1.0f);
  // Enqueues `call`, library work, on the stream it is given: stream_, or while recording first a scratch stream,
  // so that memset nodes become kernels (library_capture.h).
  void library_call(const std::function<void(cudaStream_t)>& call);
  // Makes this backend's device current for the calling thread (ops may come from any thread).
  void activate() const;
  // Sends the ops that follow, and the library handles, to `stream` (the main or the side one).
  void use_stream(cudaStream_t stream);
  Tensor empty(const Shape& shape, DType dtype, MemoryFormat format = MemoryFormat::Contiguous);
  static bool is_channels_last(const Tensor& x) { return x.ndim() == 4 && x.format() == MemoryFormat::ChannelsLast; }
  Tensor to_channels_last(const Tensor& x);
  // A tensor over x's bytes with another shape / format (no copy; keeps x's storage alive).
  Tensor view(const Tensor& x, const Shape& shape, MemoryFormat format) const;
  // `x` on this device in `dtype` (converted copy when it differs), for ops that need one operand type.
  Tensor as_dtype(const Tensor& x, DType dtype);
  void check_input(const Tensor& x, const char* op) const;
  Tensor binary(const Tensor& a, const Tensor& b, int op, const char* name);
  Tensor unary(const Tensor& x, int op, int act, float p0, float p1);
  // Fused attention of f16/bf16 q, k, v (launch_flash_attention's contract) by the kernel set_attention_kernel
  // chose, or under "timed" by the faster of the own kernel and cuDNN's, timed on the shape's first call. False: not
  // covered (the caller takes the generic path).
  bool fused_attention(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch, int heads,
                       int64_t lq, int64_t lk, int head_dim, float scale, bool causal, int64_t q_stride,
                       int64_t kv_stride);
  struct SdpaChoice {
    std::shared_ptr<CudnnSdpaPlan> plan;  // null: cuDNN has none for the shape (why says so)
    bool timed = false;                   // planned under "timed": the candidates and the own kernel were timed
    bool cudnn_faster = false;            // ... and cuDNN's was faster
    std::string why;
  };
  // cuDNN's plan for `shape`; with `timed`, its first candidates and the own kernel (`own` launches it) run on the
  // call's buffers and the fastest candidate is kept. Synchronises.
  SdpaChoice plan_sdpa(const SdpaShape& shape, const void* q, const void* k, const void* v, void* out, float scale,
                       bool timed, const std::function<bool()>& own);
  // Generic attention: scores materialised per query chunk through cuBLAS, then a row softmax.
  Tensor attention_generic(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal);
  Tensor conv2d_im2col(const Tensor& x, const Tensor& w, int stride, int pad_top, int pad_left, int64_t out_h,
                       int64_t out_w);
  // NHWC convolution with bias and residual applied; undefined when cuDNN offers no NHWC algorithm.
  Tensor conv2d_channels_last(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual, int stride,
                              int pad_h, int pad_w, const Shape& out_shape);
  // NHWC convolution as im2col + cuBLASLt GEMM (bias, residual in the epilogue): faster than cuDNN where few output
  // pixels leave cuDNN's tiles idle (the UNet's 8x8 level) or where cuDNN's NHWC kernels are slow (the VAE's 64x64).
  Tensor conv2d_gemm(const Tensor& x, const Tensor& w_krsc, const Tensor& bias, const Tensor& residual, int stride,
                     int pad_h, int pad_w, const Shape& out_shape);
  ConvPlan& conv_plan(const Tensor& x, const Tensor& w, int stride, int pad_h, int pad_w, bool nhwc);
  // Weight [O, C, kh, kw] as [O, kh, kw, C] data for NHWC convolutions: itself when prepared so at load, else a
  // repacked copy cached per weight storage.
  const Tensor& weight_krsc(const Tensor& w);

  int index_;
  cudaStream_t stream_ = nullptr;       // where ops enqueue: the main stream, or the side one between begin/end_side
  cudaStream_t main_stream_ = nullptr;
  std::shared_ptr<SideQueue> side_;     // shared with the deleters of the memory this backend allocates
  bool side_enabled_ = false;
  cublasHandle_t cublas_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  void* gemm_workspace_ = nullptr;  // fixed, so captured graphs keep a valid pointer
  size_t gemm_workspace_bytes_ = 0;
  // The resident group norm's grid-wide barrier (group_norm_resident.cu): this backend's alone, since its calls on
  // this stream are the ones known not to overlap.
  unsigned* grid_barrier_ = nullptr;
  bool replace_memsets_ = true;  // SDPP_CUDA_REPLACE_MEMSETS=0 records library memsets as they are (for comparison)
  int replaced_memsets_ = 0;
  cudaStream_t scratch_stream_ = nullptr;  // library calls are captured alone on it while recording
  bool poison_ = false;
  bool fused_attention_ = true;
  bool capturing_ = false;
  bool verbose_ = false;  // SDPP_CUDA_VERBOSE=1: log algorithm choices to stderr
  // Activation layout: convolutions produce channels-last tensors that the image ops keep (SDPP_CUDA_LAYOUT=nchw
  // turns this off, for comparison).
  bool channels_last_ = true;
  ConvPath conv_path_ = ConvPath::Timed;
  static FusedPath fused_path_from_env(const char* variable);
  using FusedKey = std::tuple<int64_t, int64_t, int64_t, int>;  // (M, K, N, a code of the dtype and variant)
  // Whether a fused kernel runs for this shape under `path`; on a shape's first call under Timed, `fused` (which
  // returns false where it does not apply) and `library` are timed on the call's operands. Inside a recording
  // nothing can be timed and the fused kernel is taken untimed (a recorded forward has run eagerly first).
  bool fused_is_faster(std::map<FusedKey, bool>& decided, const FusedKey& key, FusedPath path,
                       const std::function<bool()>& fused, const std::function<void()>& library, const char* op);
  FusedPath geglu_path_ = fused_path_from_env("SDPP_CUDA_GEGLU");
  std::map<FusedKey, bool> geglu_fused_faster_;
  FusedPath linear_norm_path_ = fused_path_from_env("SDPP_CUDA_LINEAR_NORM");
  std::map<FusedKey, bool> linear_norm_fused_faster_;
  std::map<const void*, std::pair<std::weak_ptr<Storage>, Tensor>> krsc_weights_;
  OpProfiler profiler_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int, int, int, int>, std::shared_ptr<LinearPlan>> linear_plans_;  // shared_ptr: LinearPlan is incomplete here
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int, int>,
           std::shared_ptr<ConvPlan>>
      conv_plans_;
  std::map<decltype(SdpaShape().key()), SdpaChoice> sdpa_plans_;
  int untimed_depth_ = 0;  // open UntimedChoices scopes
  decltype(linear_plans_) untimed_linear_plans_;  // plans made untimed, dropped when the last scope closes
  decltype(conv_plans_) untimed_conv_plans_;
  int64_t timed_choices_ = 0;
};

}  // namespace sdpp::cuda
