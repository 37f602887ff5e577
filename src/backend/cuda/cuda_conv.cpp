// conv2d through cuDNN (f32 accumulation), with an im2col + cuBLAS fallback for configurations cuDNN rejects.
//
// Channels-last (the default): activations are NHWC and stay so; weights are repacked once to KRSC and cached;
// 1x1 convolutions are plain GEMMs (cuBLASLt, bias and residual in the epilogue). NCHW remains the fallback when
// cuDNN offers no NHWC algorithm (and the whole path with SDPP_CUDA_LAYOUT=nchw).
// The algorithm is chosen once per shape, timed on the call's own buffers: cuDNN's candidates and, for NHWC, im2col +
// cuBLASLt GEMM (conv2d_gemm), on Hopper for 3x3 the own implicit-GEMM kernel (conv3x3_splitk_sm90.cu) and,
// opt-in, the engine configurations of cuDNN's graph API (cudnn_conv_graph.cpp); the choice is cached per shape.
// f32 convolutions are held to FMA math so TF32 never rounds the reference-precision path. Asymmetric padding (the
// VAE encoder's (0, 1, 0, 1) downsample) is materialised by a pad kernel, since cuDNN takes one pad per dimension.
// Bias and residual are added in one elementwise pass after the convolution where the path does not fuse them.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cudnn_conv_graph.h"
#include "backend/cuda/cudnn_graph.h"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/kernels.h"
#include "core/env_flag.h"

namespace sdpp::cuda {

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo{};
  size_t workspace_bytes = 0;
  bool use_cudnn = false;  // false: im2col + GEMM
  bool use_gemm = false;   // NHWC: im2col + cuBLASLt (conv2d_gemm) timed faster than cuDNN
  // NHWC: an engine configuration of cuDNN's graph API timed faster than the rest (opt-in, see graph_conv_opt_in)
  std::unique_ptr<CudnnConvGraphPlan> graph;
  // NHWC 3x3 on Hopper: the own implicit-GEMM kernel, this many outputs a block, timed faster than the rest (0: not
  // used).
  // The choice above stays as the fallback for a call the kernel refuses (an unaligned residual view).
  int own_block_outputs = 0;
  // NHWC 3x3 with at most 8 outputs: the own narrow kernel (conv3x3_narrow.cu), timed faster than the rest. It has no
  // residual, so the choice above stays for calls with one.
  bool narrow = false;
  // Bias and residual fused into the convolution (cudnnConvolutionBiasActivationForward), possible only with the
  // implicit-precomputed-GEMM algorithm; cleared if cuDNN rejects the fused call once.
  bool fused_epilogue = false;
  cudnnTensorDescriptor_t bias = nullptr;
  cudnnActivationDescriptor_t identity = nullptr;
  ~ConvPlan() {
    if (identity) cudnnDestroyActivationDescriptor(identity);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
};

namespace {

// The im2col + GEMM candidate materialises [pixels, kh * kw * C]; larger than this it is not considered (the memory
// peak of the first image matters more than the VAE's 128x128 level).
constexpr size_t kGemmColumnBytes = size_t(64) << 20;

// Workspace offered to the algorithms while choosing: it is transient but counts in the peak memory of the first
// image; the algorithms that want more (FFT variants) were never the fastest on SD shapes.
constexpr size_t kCandidateWorkspaceBytes = size_t(32) << 20;

cudaDataType_t blas_type(DType t) {
  switch (t) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

bool fits_int(int64_t v) { return v >= 0 && v <= 0x7fffffffLL; }

// Engine configurations of cuDNN's graph API timed per new NHWC shape, when they compete.
constexpr int kGraphCandidates = 6;

// SDPP_CUDA_CUDNN_GRAPH_CONV=1 adds the graph API's engine configurations to the timed choice; off by default: on an
// H100 the recorded SD 1.5 step took 6.05 ms with them against 5.90 ms without (SDXL 33.59 against 33.49 ms), though
// each shape keeps whichever candidate timed fastest alone (docs/PERFORMANCE.md, fifth session).
bool graph_conv_opt_in() {
  static const bool on = env_is("SDPP_CUDA_CUDNN_GRAPH_CONV", "1");
  return on;
}

// SDPP_CUDA_OWN_CONV=0 leaves the own split-K kernel out of the timed choice (A/B runs).
bool own_conv_enabled() {
  static const bool on = !env_is("SDPP_CUDA_OWN_CONV", "0");
  return on;
}

// The narrow kernel (at most 8 outputs) is in the timed choice; SDPP_CUDA_NARROW_CONV=0 leaves it out. On an H100 the
// SD 1.5 step took 5.258-5.267 ms with it against 5.281-5.283 ms without (the conv_out tail's channel padding gone);
// the VAE decode 5.308-5.380 ms against 5.282-5.344 ms, within the spread of those runs (docs/PERFORMANCE.md,
// eighteenth session). set_cuda_conv_path("narrow") forces it either way.
bool narrow_conv_enabled() {
  static const bool on = !env_is("SDPP_CUDA_NARROW_CONV", "0");
  return on;
}

// The own kernel takes images as whole rows a block (those it does not take whole, conv3x3_splitk_whole_images) only
// with SDPP_CUDA_OWN_CONV_ROWS=1 (or the path forced to it). On an H100 it won the choice's isolated timing at SD 1.5's
// 64x64 and 32x32 levels (0.027 against 0.030 ms for [2, 320, 64, 64] by 320, 0.030 against 0.035 ms for [2, 640, 32,
// 32] by 640) and lost at 16x16, but in the recorded step it took as long as cuDNN had (28.9-34.8 us a call at those
// shapes against 27.6-34.7), and the step 5.175 / 5.174 ms against 5.174 / 5.169 ms without it (docs/PERFORMANCE.md,
// nineteenth session).
bool own_conv_rows_opt_in() {
  static const bool on = env_is("SDPP_CUDA_OWN_CONV_ROWS", "1");
  return on;
}

// SDPP_CUDA_OWN_CONV_OUTPUTS=64|80|128|160 times only that block width of the own kernel (A/B runs); 0: every width.
int own_conv_outputs_forced() {
  static const int outputs = [] {
    const char* v = std::getenv("SDPP_CUDA_OWN_CONV_OUTPUTS");
    return v ? std::atoi(v) : 0;
  }();
  return outputs;
}

}  // namespace

// x and w hold NCHW / KCRS data, or NHWC / KRSC data when `nhwc` (logical dims are the same either way).
ConvPlan& CudaBackend::conv_plan(const Tensor& x, const Tensor& w, int stride, int pad_h, int pad_w, bool nhwc) {
  const auto key = std::make_tuple(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), stride, pad_h,
                                   pad_w, int(w.dtype()) | (nhwc ? 0x100 : 0));
  const cudnnTensorFormat_t format = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  // A shape never timed takes its untimed plan from a map of its own inside an UntimedChoices scope.
  const bool untimed = untimed_depth_ && conv_path_ == ConvPath::Timed && !conv_plans_.count(key);
  auto& plans = untimed ? untimed_conv_plans_ : conv_plans_;
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;
  // Choosing an algorithm times candidates on the device, which a recording cannot do: record a forward that ran
  // eagerly first.
  if (capturing_)
    throw Error(ErrorCode::Internal, "conv2d " + shape_str(x.shape()) + " x " + shape_str(w.shape()) +
                                         ": no plan yet for this shape while recording");
  auto plan = std::make_shared<ConvPlan>();
  const cudnnDataType_t t = cudnn_data_type(w.dtype());
  const int64_t ho = (x.dim(2) + 2 * pad_h - w.dim(2)) / stride + 1, wo = (x.dim(3) + 2 * pad_w - w.dim(3)) / stride + 1;
  bool ok = fits_int(x.numel()) && fits_int(w.dim(0) * ho * wo * x.dim(0));
  if (ok) {
    SDPP_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
    SDPP_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
    SDPP_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
    SDPP_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
    SDPP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, format, t, int(x.dim(0)), int(x.dim(1)), int(x.dim(2)),
                                                int(x.dim(3))));
    SDPP_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, t, format, int(w.dim(0)), int(w.dim(1)), int(w.dim(2)),
                                                int(w.dim(3))));
    SDPP_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, pad_h, pad_w, stride, stride, 1, 1,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    SDPP_CUDNN_CHECK(cudnnSetConvolutionMathType(
        plan->conv, w.dtype() == DType::F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
    SDPP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, format, t, int(x.dim(0)), int(w.dim(0)), int(ho), int(wo)));
    // Candidates are timed on real buffers; the output is written by the real call afterwards.
    Tensor y = empty({x.dim(0), w.dim(0), ho, wo}, w.dtype());
    Tensor workspace = empty({int64_t(kCandidateWorkspaceBytes)}, DType::U8);
    cudnnConvolutionFwdAlgoPerf_t results[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    // cuDNN's heuristic ranking (no timing): the first candidates that fit are then timed here.
    const cudnnStatus_t status = cudnnGetConvolutionForwardAlgorithm_v7(
        cudnn_, plan->x, plan->w, plan->conv, plan->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, results);
    // Timed here rather than by cudnnFind, which runs every algorithm (seconds over a model's shapes) about once
    // right after the device idled: its order was noisy, and a wrong pick costs up to 3x on the UNet's 16x16
    // levels. Device time of 5 runs after a warm-up, host launch gaps excluded. The implicit-precomputed-GEMM
    // algorithm wins ties within 10%: it alone fuses the bias/residual epilogue, which saves a pass over the output.
    int chosen = -1;
    float chosen_ms = 0.0f, gemm_ms = -1.0f;
    if (!untimed) ++timed_choices_;
    for (int i = 0, timed = 0; status == CUDNN_STATUS_SUCCESS && i < returned && timed < 4; ++i) {
      if (results[i].status != CUDNN_STATUS_SUCCESS || results[i].memory > kCandidateWorkspaceBytes) continue;
      if (w.dtype() == DType::F32 && results[i].mathType != CUDNN_FMA_MATH) continue;
      if (untimed) {  // the heuristic's first that fits
        chosen = i;
        break;
      }
      ++timed;
      SDPP_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, results[i].mathType));
      const float alpha = 1.0f, beta = 0.0f;
      auto run = [&] {
        SDPP_CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &alpha, plan->x, x.raw(), plan->w, w.raw(), plan->conv,
                                                 results[i].algo, workspace.raw(), results[i].memory, &beta, plan->y,
                                                 y.raw()));
      };
      run();
      results[i].time = device_time_ms(run, 5, 400, chosen < 0 ? -1.0f : chosen_ms * 1.2f);
      const bool precomp = results[i].algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
      const bool chosen_precomp =
          chosen >= 0 && results[chosen].algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
      const float factor = precomp == chosen_precomp ? 1.0f : precomp ? 1.1f : 1.0f / 1.1f;
      if (chosen < 0 || results[i].time < chosen_ms * factor) {
        chosen = i;
        chosen_ms = results[i].time;
      }
    }
    // The implicit-precomputed-GEMM algorithm alone fuses the bias and residual, as the GEMM does; other algorithms
    // and the graph API's configurations need one more pass (about 5%), which the choices below charge them.
    const bool legacy_fused =
        chosen >= 0 && results[chosen].algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    const bool gemm_fits = nhwc && (x.dim(1) * int64_t(dtype_size(w.dtype()))) % 16 == 0 &&
                           size_t(x.dim(0) * ho * wo * x.dim(1) * w.dim(2) * w.dim(3)) * dtype_size(w.dtype()) <=
                               kGemmColumnBytes;
    if (gemm_fits && untimed) {
      plan->use_gemm = chosen < 0;
    } else if (gemm_fits && conv_path_ != ConvPath::Cudnn) {
      const Shape out_shape{x.dim(0), w.dim(0), ho, wo};
      auto run = [&] { conv2d_gemm(x, w, Tensor(), Tensor(), stride, pad_h, pad_w, out_shape); };
      run();  // makes the GEMM's own plan (cuBLASLt candidates timed)
      const float ms = device_time_ms(run, 5, 400);
      gemm_ms = ms;
      plan->use_gemm =
          conv_path_ == ConvPath::Gemm || chosen < 0 || ms < chosen_ms * (legacy_fused ? 1.0f : 1.05f);
    }
    // The time of the choice between cuDNN and im2col + GEMM, charged the extra pass where it needs one.
    const float inf = std::numeric_limits<float>::infinity();
    auto library_ms = [&] {
      if (plan->use_gemm) return gemm_ms >= 0.0f ? gemm_ms : inf;
      return chosen >= 0 ? chosen_ms * (legacy_fused ? 1.0f : 1.05f) : inf;
    };
    // cuDNN's graph API (its bias and residual a pass of their own).
    float graph_ms = -1.0f;
    const bool graph_wanted = nhwc && w.dtype() != DType::F32 && !untimed &&
                              (conv_path_ == ConvPath::Graph || (conv_path_ == ConvPath::Timed && graph_conv_opt_in()));
    if (graph_wanted) {
      const ConvGraphShape shape{x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), ho, wo,
                                 stride,   pad_h,    pad_w,    w.dtype()};
      std::string why;
      for (auto& candidate :
           CudnnConvGraphPlan::candidates(cudnn_, shape, kGraphCandidates, int64_t(kCandidateWorkspaceBytes), &why)) {
        auto run = [&] { candidate->run(cudnn_, x.raw(), w.raw(), y.raw(), workspace.raw()); };
        try {
          run();
        } catch (const Error& e) {
          why = e.what();
          continue;
        }
        const float ms = device_time_ms(run, 5, 400);
        if (!plan->graph || ms < graph_ms) {
          graph_ms = ms;
          plan->graph = std::move(candidate);
        }
      }
      if (conv_path_ == ConvPath::Graph && !plan->graph)
        throw Error(ErrorCode::Unsupported, "conv2d " + shape_str(x.shape()) + " x " + shape_str(w.shape()) +
                                                ": cuDNN's graph API has no plan: " + why);
      if (plan->graph && (conv_path_ == ConvPath::Graph || graph_ms * 1.05f < library_ms())) {
        plan->use_gemm = false;
        plan->workspace_bytes = size_t(plan->graph->workspace_bytes());
      } else {
        plan->graph.reset();
      }
    }
    // The time of the choice so far (the graph API's, or the library's), which the own kernels below must beat.
    auto choice_ms = [&] { return plan->graph ? graph_ms * 1.05f : library_ms(); };
    // The own implicit-GEMM kernel, in each block width it has; bias and residual are in its epilogue.
    float own_ms = -1.0f;
    const bool own_timed = own_conv_enabled() && (conv3x3_splitk_whole_images(ho, wo) || own_conv_rows_opt_in());
    const bool own_wanted = nhwc && !untimed && (w.dtype() == DType::F16 || w.dtype() == DType::BF16) && w.dim(2) == 3 &&
                            w.dim(3) == 3 && pad_h == 1 && pad_w == 1 &&
                            (conv_path_ == ConvPath::Own || (conv_path_ == ConvPath::Timed && own_timed)) &&
                            compute_capability_major() == 9;
    if (own_wanted) {
      for (const int outputs : conv3x3_splitk_block_outputs()) {
        if (own_conv_outputs_forced() && outputs != own_conv_outputs_forced()) continue;
        auto run = [&] {
          return launch_conv3x3_splitk_sm90(x.raw(), w.raw(), nullptr, nullptr, y.raw(), w.dtype(), x.dim(0),
                                            x.dim(2), x.dim(3), x.dim(1), w.dim(0), stride, outputs, stream_);
        };
        if (!run()) continue;
        const float ms = device_time_ms([&] { run(); }, 5, 400, own_ms);
        if (own_ms < 0.0f || ms < own_ms) {
          own_ms = ms;
          plan->own_block_outputs = outputs;
        }
      }
      if (conv_path_ != ConvPath::Own && !(own_ms < choice_ms())) plan->own_block_outputs = 0;
    }
    // At most 8 outputs: the narrow kernel, against the library's choice.
    float narrow_ms = -1.0f;
    const bool narrow_wanted = conv_path_ == ConvPath::Narrow || (conv_path_ == ConvPath::Timed && narrow_conv_enabled());
    if (nhwc && !untimed && narrow_wanted && w.dim(0) <= 8 && w.dim(2) == 3 && w.dim(3) == 3 && stride == 1 && pad_h == 1 &&
        pad_w == 1) {
      auto run = [&] {
        return launch_conv3x3_narrow(x.raw(), w.raw(), nullptr, y.raw(), w.dtype(), x.dim(0), x.dim(2), x.dim(3),
                                     x.dim(1), w.dim(0), stream_);
      };
      if (run()) {
        narrow_ms = device_time_ms([&] { run(); }, 5, 400);
        plan->narrow = conv_path_ == ConvPath::Narrow || narrow_ms < choice_ms();
      }
    }
    if (chosen >= 0 && !plan->use_gemm && !plan->graph) {
      plan->algo = results[chosen].algo;
      plan->workspace_bytes = results[chosen].memory;
      SDPP_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, results[chosen].mathType));
      plan->use_cudnn = true;
      plan->fused_epilogue = plan->algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
      if (plan->fused_epilogue) {
        SDPP_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->bias));
        SDPP_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->bias, CUDNN_TENSOR_NCHW, t, 1, int(w.dim(0)), 1, 1));
        SDPP_CUDNN_CHECK(cudnnCreateActivationDescriptor(&plan->identity));
        SDPP_CUDNN_CHECK(
            cudnnSetActivationDescriptor(plan->identity, CUDNN_ACTIVATION_IDENTITY, CUDNN_NOT_PROPAGATE_NAN, 0.0));
      }
    }
    if (verbose_ && !untimed)
      std::fprintf(stderr,
                   "sdpp cuda: conv %s x %s %s stride %d pad %d,%d: %s algo %d (%.3f ms, %zu B workspace%s; "
                   "im2col+GEMM %.3f ms; graph API %.3f ms; own split-K %.3f ms%s; narrow %.3f ms%s)\n",
                   shape_str(x.shape()).c_str(), shape_str(w.shape()).c_str(), nhwc ? "nhwc" : "nchw", stride, pad_h,
                   pad_w, plan->graph ? "graph" : plan->use_gemm ? "gemm" : chosen >= 0 ? "cudnn" : "im2col",
                   chosen >= 0 ? int(results[chosen].algo) : -1, chosen >= 0 ? results[chosen].time : 0.0f,
                   chosen >= 0 ? results[chosen].memory : size_t(0), plan->fused_epilogue ? ", fused epilogue" : "",
                   gemm_ms, graph_ms, own_ms, plan->own_block_outputs ? ", taken" : "", narrow_ms,
                   plan->narrow ? ", taken" : "");
  }
  return *plans.emplace(key, std::move(plan)).first->second;
}

Tensor CudaBackend::prepare_conv_weight(const Tensor& w) {
  check_input(w, "prepare_conv_weight");
  if (!channels_last_ || is_channels_last(w) || (w.dim(2) == 1 && w.dim(3) == 1)) return w;
  return to_channels_last(w);  // logical [O, C, kh, kw], data [O, kh, kw, C]
}

const Tensor& CudaBackend::weight_krsc(const Tensor& w) {
  if (is_channels_last(w)) return w;
  auto it = krsc_weights_.find(w.raw());
  if (it != krsc_weights_.end() && it->second.first.lock() == w.storage()) return it->second.second;
  // Drop copies of weights that no longer exist (an unloaded model), so they do not pin device memory.
  std::erase_if(krsc_weights_, [](const auto& entry) { return entry.second.first.expired(); });
  auto& entry = krsc_weights_[w.raw()];
  entry = {w.storage(), to_channels_last(w)};  // logical [O, C, kh, kw], data [O, kh, kw, C]
  return entry.second;
}

Tensor CudaBackend::conv2d_channels_last(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                                         const Tensor& residual_in, int stride, int pad_h, int pad_w,
                                         const Shape& out_shape) {
  const DType dtype = weight.dtype();
  const int64_t N = x_in.dim(0), C = x_in.dim(1), O = weight.dim(0);
  const int64_t pixels_out = N * out_shape[2] * out_shape[3];
  if (weight.dim(2) == 1 && weight.dim(3) == 1 && stride == 1 && pad_h == 0 && pad_w == 0) {
    // A 1x1 convolution over [N, H, W, C] data is the GEMM [N*H*W, C] x [O, C]^T, bias and residual fused.
    const Tensor x = to_channels_last(x_in);
    const Tensor residual = residual_in.defined() ? view(to_channels_last(residual_in), {pixels_out, O}, MemoryFormat::Contiguous)
                                                  : Tensor();
    ops::LinearOptions lo;
    lo.residual = residual.defined() ? &residual : nullptr;
    const Tensor y = linear(view(x, {pixels_out, C}, MemoryFormat::Contiguous),
                            view(weight, {O, C}, MemoryFormat::Contiguous), bias, lo);
    return view(y, out_shape, MemoryFormat::ChannelsLast);
  }
  // Repacking allocates the cached weight: never for the first time inside a graph capture (that memory would
  // belong to the graph).
  if (capturing_ && !is_channels_last(weight) && !krsc_weights_.count(weight.raw())) return Tensor();
  const Tensor x = to_channels_last(x_in);
  const Tensor& w_krsc = weight_krsc(weight);
  ConvPlan& plan = conv_plan(x, w_krsc, stride, pad_h, pad_w, true);
  if (plan.narrow && !residual_in.defined()) {
    // At most 8 outputs (conv3x3_narrow.cu): written NCHW, the layout a plane-wise reader of so few channels wants.
    Tensor y = empty(out_shape, dtype);
    if (launch_conv3x3_narrow(x.raw(), w_krsc.raw(), bias.defined() ? bias.raw() : nullptr, y.raw(), dtype, N,
                              x.dim(2), x.dim(3), C, O, stream_))
      return y;
  }
  const Tensor residual = residual_in.defined() ? to_channels_last(residual_in) : Tensor();
  if (plan.own_block_outputs) {
    Tensor y = empty(out_shape, dtype, MemoryFormat::ChannelsLast);
    if (launch_conv3x3_splitk_sm90(x.raw(), w_krsc.raw(), bias.defined() ? bias.raw() : nullptr,
                                   residual.defined() ? residual.raw() : nullptr, y.raw(), dtype, N, x.dim(2),
                                   x.dim(3), C, O, stride, plan.own_block_outputs, stream_))
      return y;
  }
  if (plan.use_gemm) return conv2d_gemm(x, w_krsc, bias, residual, stride, pad_h, pad_w, out_shape);
  if (!plan.use_cudnn && !plan.graph) return Tensor();
  Tensor y = empty(out_shape, dtype, MemoryFormat::ChannelsLast);
  Tensor workspace = plan.workspace_bytes ? empty({int64_t(plan.workspace_bytes)}, DType::U8) : Tensor();
  void* ws = workspace.defined() ? workspace.raw() : nullptr;
  if (plan.graph) plan.graph->run(cudnn_, x.raw(), w_krsc.raw(), y.raw(), ws);
  if (!plan.graph && plan.fused_epilogue && bias.defined()) {
    // y = conv(x) + alpha2 * residual + bias in one kernel
    const float alpha1 = 1.0f, alpha2 = residual.defined() ? 1.0f : 0.0f;
    const cudnnStatus_t status = cudnnConvolutionBiasActivationForward(
        cudnn_, &alpha1, plan.x, x.raw(), plan.w, w_krsc.raw(), plan.conv, plan.algo, ws, plan.workspace_bytes,
        &alpha2, plan.y, residual.defined() ? residual.raw() : y.raw(), plan.bias, bias.raw(), plan.identity, plan.y,
        y.raw());
    if (status == CUDNN_STATUS_SUCCESS) return y;
    if (verbose_)
      std::fprintf(stderr, "sdpp cuda: fused conv epilogue rejected (%s); separate pass from now on\n",
                   cudnnGetErrorString(status));
    plan.fused_epilogue = false;
  }
  const float alpha = 1.0f, beta = 0.0f;
  if (!plan.graph)
    SDPP_CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &alpha, plan.x, x.raw(), plan.w, w_krsc.raw(), plan.conv,
                                             plan.algo, ws, plan.workspace_bytes, &beta, plan.y, y.raw()));
  if (bias.defined() || residual.defined()) {
    // channel = i % O in [N, H, W, O] data
    launch_bias_residual(y.raw(), dtype, bias.defined() ? bias.raw() : nullptr, dtype,
                         residual.defined() ? residual.raw() : nullptr, dtype, y.raw(), dtype, pixels_out, O, 1,
                         stream_);
  }
  return y;
}

Tensor CudaBackend::conv2d_gemm(const Tensor& x_in, const Tensor& w_krsc, const Tensor& bias,
                                const Tensor& residual_in, int stride, int pad_h, int pad_w, const Shape& out_shape) {
  const Tensor x = to_channels_last(x_in);
  const int64_t N = x.dim(0), C = x.dim(1), O = w_krsc.dim(0), kh = w_krsc.dim(2), kw = w_krsc.dim(3);
  const int64_t pixels = N * out_shape[2] * out_shape[3], K = kh * kw * C;
  Tensor col = empty({pixels, K}, x.dtype());
  launch_im2col_nhwc(x.raw(), col.raw(), dtype_size(x.dtype()), N, x.dim(2), x.dim(3), C, int(kh), int(kw), stride,
                     pad_h, pad_w, out_shape[2], out_shape[3], stream_);
  const Tensor residual =
      residual_in.defined() ? view(to_channels_last(residual_in), {pixels, O}, MemoryFormat::Contiguous) : Tensor();
  ops::LinearOptions lo;
  lo.residual = residual.defined() ? &residual : nullptr;
  const Tensor y = linear(col, view(w_krsc, {O, K}, MemoryFormat::Contiguous), bias, lo);
  return view(y, out_shape, MemoryFormat::ChannelsLast);
}

void CudaBackend::set_conv_path(ConvPath path) {
  conv_path_ = path;
  conv_plans_.clear();
}

Tensor CudaBackend::conv2d_im2col(const Tensor& x, const Tensor& w, int stride, int pad_top, int pad_left,
                                  int64_t out_h, int64_t out_w) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), O = w.dim(0);
  const int kh = int(w.dim(2)), kw = int(w.dim(3));
  const int64_t P = out_h * out_w, K = C * kh * kw;
  const size_t es = dtype_size(x.dtype());
  Tensor out = empty({N, O, out_h, out_w}, x.dtype());
  Tensor col = empty({K, P}, x.dtype());
  const cudaDataType_t t = blas_type(x.dtype());
  const float alpha = 1.0f, beta = 0.0f;
  for (int64_t n = 0; n < N; ++n) {
    launch_im2col(static_cast<const char*>(x.raw()) + size_t(n * C * H * W) * es, col.raw(), es, C, H, W, kh, kw,
                  stride, pad_top, pad_left, out_h, out_w, stream_);
    // column-major out_n^T [P, O] = col^T [P, K] * W^T [K, O]
    SDPP_CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, int(P), int(O), int(K), &alpha, col.raw(), t,
                                   int(P), w.raw(), t, int(K), &beta,
                                   static_cast<char*>(out.raw()) + size_t(n * O * P) * es, t, int(P),
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  return out;
}

Tensor CudaBackend::conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias_in,
                           const ops::Conv2dOptions& o) {
  check_input(x_in, "conv2d");
  check_input(weight, "conv2d");
  if (x_in.ndim() != 4 || weight.ndim() != 4 || x_in.dim(1) != weight.dim(1))
    throw Error(ErrorCode::ShapeMismatch,
                "conv2d: input " + shape_str(x_in.shape()) + " vs weight " + shape_str(weight.shape()));
  if (o.stride < 1 || o.pad_top < 0 || o.pad_left < 0 || o.pad_bottom < 0 || o.pad_right < 0)
    throw Error(ErrorCode::InvalidArgument, "conv2d: stride " + std::to_string(o.stride) + " / negative padding");
  const DType dtype = weight.dtype();
  const int64_t N = x_in.dim(0), H = x_in.dim(2), W = x_in.dim(3), O = weight.dim(0);
  const int64_t kh = weight.dim(2), kw = weight.dim(3);
  const int64_t padded_h = H + o.pad_top + o.pad_bottom, padded_w = W + o.pad_left + o.pad_right;
  if (padded_h < kh || padded_w < kw)
    throw Error(ErrorCode::ShapeMismatch, "conv2d: kernel " + shape_str(weight.shape()) + " larger than padded input " +
                                              shape_str(x_in.shape()));
  const int64_t ho = (padded_h - kh) / o.stride + 1, wo = (padded_w - kw) / o.stride + 1;
  if (bias_in.defined()) {
    check_input(bias_in, "conv2d");
    if (bias_in.numel() != O)
      throw Error(ErrorCode::ShapeMismatch, "conv2d: bias " + shape_str(bias_in.shape()) + " for " + std::to_string(O) + " outputs");
  }
  const Shape out_shape{N, O, ho, wo};
  const Tensor* residual_in = o.residual && o.residual->defined() ? o.residual : nullptr;
  if (residual_in) {
    check_input(*residual_in, "conv2d");
    if (residual_in->shape() != out_shape)
      throw Error(ErrorCode::ShapeMismatch,
                  "conv2d: residual " + shape_str(residual_in->shape()) + " vs output " + shape_str(out_shape));
  }
  activate();
  auto scope = profiler_.begin("conv2d", x_in, &weight);
  Tensor x = as_dtype(x_in, dtype);
  const Tensor bias = bias_in.defined() ? as_dtype(bias_in, dtype) : Tensor();
  const Tensor residual = residual_in ? as_dtype(*residual_in, dtype) : Tensor();
  if (x.numel() == 0 || shape_numel(out_shape) == 0) return empty(out_shape, x_in.dtype());

  int pad_h = o.pad_top, pad_w = o.pad_left;
  if (o.pad_top != o.pad_bottom || o.pad_left != o.pad_right) {
    x = contiguous(x);
    Tensor padded = empty({N, x.dim(1), padded_h, padded_w}, dtype);
    launch_pad2d(x.raw(), padded.raw(), dtype_size(dtype), N * x.dim(1), H, W, o.pad_top, o.pad_left, padded_h,
                 padded_w, stream_);
    x = padded;
    pad_h = pad_w = 0;
  }
  Tensor out;
  if (channels_last_) out = conv2d_channels_last(x, weight, bias, residual, o.stride, pad_h, pad_w, out_shape);
  if (!out.defined()) {
    x = contiguous(x);
    const Tensor weight_kcrs = contiguous(weight);  // a channels-last weight (prepare_conv_weight) made NCHW again
    ConvPlan& plan = conv_plan(x, weight_kcrs, o.stride, pad_h, pad_w, false);
    if (plan.use_cudnn) {
      out = empty(out_shape, dtype);
      Tensor workspace = plan.workspace_bytes ? empty({int64_t(plan.workspace_bytes)}, DType::U8) : Tensor();
      const float alpha = 1.0f, beta = 0.0f;
      SDPP_CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &alpha, plan.x, x.raw(), plan.w, weight_kcrs.raw(), plan.conv,
                                               plan.algo, workspace.defined() ? workspace.raw() : nullptr,
                                               plan.workspace_bytes, &beta, plan.y, out.raw()));
    } else {
      out = conv2d_im2col(x, weight_kcrs, o.stride, pad_h, pad_w, ho, wo);
    }
    if (bias.defined() || residual.defined()) {
      const Tensor r = contiguous(residual);
      launch_bias_residual(out.raw(), dtype, bias.defined() ? bias.raw() : nullptr, dtype,
                           r.defined() ? r.raw() : nullptr, dtype, out.raw(), dtype, N, O, ho * wo, stream_);
    }
  }
  return x_in.dtype() == dtype ? out : out.to(x_in.dtype());
}

}  // namespace sdpp::cuda

namespace sdpp {

void set_conv_path(Backend& backend, const std::string& path) {
  auto* cuda = dynamic_cast<cuda::CudaBackend*>(&backend);
  if (!cuda) throw Error(ErrorCode::Internal, "set_conv_path: " + backend.name() + " is not a cuda backend");
  if (path == "timed") cuda->set_conv_path(cuda::CudaBackend::ConvPath::Timed);
  else if (path == "cudnn") cuda->set_conv_path(cuda::CudaBackend::ConvPath::Cudnn);
  else if (path == "gemm") cuda->set_conv_path(cuda::CudaBackend::ConvPath::Gemm);
  else if (path == "graph") cuda->set_conv_path(cuda::CudaBackend::ConvPath::Graph);
  else if (path == "own") cuda->set_conv_path(cuda::CudaBackend::ConvPath::Own);
  else if (path == "narrow") cuda->set_conv_path(cuda::CudaBackend::ConvPath::Narrow);
  else throw Error(ErrorCode::InvalidArgument, "conv path '" + path + "' (timed, cudnn, gemm, graph, own or narrow)");
}

}  // namespace sdpp
