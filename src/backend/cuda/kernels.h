// Host-side launchers for the backend's own kernels. Each enqueues on `stream` and checks the launch; none
// allocates or synchronises. Pointers are device pointers; dtypes are runtime values because memory-bound kernels
// lose nothing to a uniform branch and one kernel then serves every f32/f16/bf16 combination.
#pragma once
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace sdpp::cuda {

// ---- graph nodes (fill_node.cu) ----
// Adds to `graph` a kernel node that does what `memset` (a memset node's parameters: 1-, 2- or 4-byte elements, rows
// `pitch` bytes apart) does.
cudaError_t add_fill_node(cudaGraphNode_t* node, cudaGraph_t graph, const cudaGraphNode_t* dependencies,
                          size_t count, const cudaMemsetParams& memset);

// ---- elementwise (elementwise.cu) ----
// Activation codes are ops::Activation's underlying values.
void launch_convert(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, cudaStream_t stream);

enum class UnaryOp : int { Activation, Scale, Clamp, Exp };
// Activation: act(x) with `activation`; Scale: x * p0 + p1; Clamp: min(max(x, p0), p1); Exp: exp(x).
void launch_unary(const void* x, DType x_type, void* out, DType out_type, int64_t n, UnaryOp op, int activation,
                  float p0, float p1, cudaStream_t stream);

enum class BinaryOp : int { Add, Mul };
// How b is indexed for output element i: Same -> i, Outer -> i / inner (b [N, C] over [N, C, inner]),
// Inner -> i % inner (b [C] over [..., C]), ChannelsLast -> (i / inner) * channels + i % channels (b [N, C] over
// channels-last data [N, H, W, C], inner = H * W * C).
enum class Broadcast : int { Same, Outer, Inner, ChannelsLast };
// out = op(act(a), b[broadcast(i)])
void launch_binary(const void* a, DType a_type, const void* b, DType b_type, void* out, DType out_type, int64_t n,
                   BinaryOp op, Broadcast broadcast, int64_t inner, int activation_on_a, cudaStream_t stream,
                   int64_t channels = 1);

// out[n, c, s] = y[n, c, s] + bias[c] (if bias) + residual[n, c, s] (if residual); all of y's dtype-agnostic kinds.
void launch_bias_residual(const void* y, DType y_type, const void* bias, DType bias_type, const void* residual,
                          DType residual_type, void* out, DType out_type, int64_t batch, int64_t channels,
                          int64_t inner, cudaStream_t stream);

// Terms one lincomb kernel sums: a PLMS step with guidance as two terms (schedulers::Update) has nine.
constexpr int kMaxLincombInputs = 16;
struct LincombInputs {
  const void* data[kMaxLincombInputs];
  DType dtype[kMaxLincombInputs];
  float coeff[kMaxLincombInputs];
  int count;
};
void launch_lincomb(const LincombInputs& inputs, void* out, DType out_type, int64_t n, cudaStream_t stream);

// x [rows, 2F] -> out [rows, F] = x[:, :F] * gelu_erf(x[:, F:])
void launch_geglu(const void* x, DType x_type, void* out, DType out_type, int64_t rows, int64_t features,
                  cudaStream_t stream);

// ---- normalisation (norm.cu) ----
// Floats of scratch that launch_group_norm needs for these sizes.
int64_t group_norm_scratch_floats(int64_t batch, int64_t channels, int64_t inner, int groups);
// x [N, C, inner] (or [N, inner, C] when `channels_last`) -> act((x - mean_g) * rstd_g * gamma[c] + beta[c]);
// statistics in f32 per (n, group). grid_barrier: as GroupNormClArgs's.
void launch_group_norm(const void* x, DType x_type, const void* gamma, DType gamma_type, const void* beta,
                       DType beta_type, void* out, DType out_type, int64_t batch, int64_t channels, int64_t inner,
                       int groups, float eps, int activation, bool channels_last, float* scratch,
                       unsigned* grid_barrier, cudaStream_t stream);
// x [rows, C] normalised per row.
void launch_layer_norm(const void* x, DType x_type, const void* gamma, DType gamma_type, const void* beta,
                       DType beta_type, void* out, DType out_type, int64_t rows, int64_t channels, float eps,
                       cudaStream_t stream);

// Fast channels-last group norm (group_norm_cl.cu) of x [N, pixels, C], plus `add` [N, C] (x's dtype, or null) added
// to x before normalising. Returns false (nothing launched) when x/out/add differ in dtype, are not 16-byte aligned,
// or C / groups is odd. Scratch: group_norm_cl_scratch_floats. grid_barrier: two words, zeroed once, of the backend
// whose stream the norm runs on, for the resident form's grid-wide barrier (null: no resident form).
struct GroupNormClArgs {
  const void* x;
  DType x_type;
  const void* add;
  const void* gamma;
  DType gamma_type;
  const void* beta;
  DType beta_type;
  void* out;
  DType out_type;
  int64_t batch, channels, pixels;
  int groups;
  float eps;
  int activation;
  float* scratch;
  unsigned* grid_barrier;
};
int64_t group_norm_cl_scratch_floats(int64_t batch, int64_t channels, int64_t pixels, int groups);
bool launch_group_norm_cl(const GroupNormClArgs& args, cudaStream_t stream);
// The resident form alone (group_norm_resident.cu), for the same arguments once launch_group_norm_cl has checked
// them: false (nothing launched) where the tensor does not fit the multiprocessors' shared memory, the device is older
// than compute capability 8.0 or there is no grid_barrier.
bool launch_group_norm_resident(const GroupNormClArgs& args, cudaStream_t stream);
int64_t group_norm_resident_scratch_floats(int groups);
// Process-wide: the forms channels-last group norm may take, "small", "single", "cluster", "split" or "resident", or
// "default" (group_norm_cl.cu; backend/init.h says what each is).
void set_group_norm_kernel(const std::string& kernel);

// ---- layout (layout.cu); element size in bytes is 2, 4 or 8 ----
// [planes, H, W] -> [planes, 2H, 2W]
void launch_upsample_nearest2x(const void* x, void* out, size_t element_size, int64_t planes, int64_t height,
                               int64_t width, cudaStream_t stream);
// [N, H, W, C] -> [N, 2H, 2W, C]
void launch_upsample_nearest2x_cl(const void* x, void* out, size_t element_size, int64_t batch, int64_t height,
                                  int64_t width, int64_t channels, cudaStream_t stream);
// y [N, 4C, y_h, y_w] -> out [N, C, out_h, out_w] (ops::interleave_phases), NCHW or channels-last on both sides
void launch_interleave_phases(const void* y, void* out, size_t element_size, bool channels_last, int64_t batch,
                              int64_t channels, int64_t y_h, int64_t y_w, int64_t out_h, int64_t out_w,
                              cudaStream_t stream);
// Rows of up to four sources side by side: out [rows, sum of row_bytes]. Returns false (nothing launched) unless
// there are at most four, every row is a non-empty whole number of 16-byte vectors, every buffer is 16-byte aligned
// and the output has under 2^31 vectors.
bool launch_concat_rows(const void* const* sources, const size_t* row_bytes, int count, void* out, int64_t rows,
                        cudaStream_t stream);
// in [batch, rows, cols] -> out [batch, cols, rows]
void launch_transpose(const void* in, void* out, size_t element_size, int64_t batch, int64_t rows, int64_t cols,
                      cudaStream_t stream);
// [planes, H, W] -> [planes, H + top + bottom, W + left + right], zeros outside.
void launch_pad2d(const void* in, void* out, size_t element_size, int64_t planes, int64_t height, int64_t width,
                  int top, int left, int64_t out_height, int64_t out_width, cudaStream_t stream);
// One image [C, H, W] -> col [C * kh * kw, Ho * Wo] (stride, zero padding top/left; bottom/right implied by Ho/Wo).
void launch_im2col(const void* in, void* col, size_t element_size, int64_t channels, int64_t height, int64_t width,
                   int kh, int kw, int stride, int pad_top, int pad_left, int64_t out_height, int64_t out_width,
                   cudaStream_t stream);
// NHWC x [N, H, W, C] -> col [N * Ho * Wo, kh * kw * C] (the GEMM operand for KRSC weights), zero padding; needs
// C * element_size a multiple of 16 and 16-byte aligned buffers.
void launch_im2col_nhwc(const void* x, void* col, size_t element_size, int64_t batch, int64_t height, int64_t width,
                        int64_t channels, int kh, int kw, int stride, int pad_h, int pad_w, int64_t out_height,
                        int64_t out_width, cudaStream_t stream);
// out[i, :] = table[ids[i], :] (ids validated on the host).
void launch_embedding(const void* table, DType table_type, const int64_t* ids, void* out, DType out_type,
                      int64_t count, int64_t dim, cudaStream_t stream);

// One thread spinning for about `microseconds` on the stream: work enqueued behind it while it spins is then timed by
// events as device time alone, without the host's launch gaps (see CudaBackend::device_time_ms).
void launch_busy_wait(int microseconds, cudaStream_t stream);

// ---- attention (attention_kernels.cu, flash_attention.cu) ----
// Rows of s [rows, Lk] (f32, already scaled) -> softmax into p (p_type). Row r is query q0 + r % queries_per_head;
// with `causal`, keys after it are masked.
void launch_softmax_rows(const float* s, void* p, DType p_type, int64_t rows, int64_t lk, int64_t queries_per_head,
                         int64_t q0, bool causal, cudaStream_t stream);
// Fused attention for f16/bf16, q [B, Lq, H*D], k/v [B, Lk, H*D], out [B, Lq, H*D]. Rows of q and of k/v are
// q_stride / kv_stride elements apart (H*D when 0), so q, k and v may be column ranges of one packed projection.
// Returns false (launching nothing) when the configuration is not covered (dtype, head dim, alignment); the caller
// then takes the generic path.
bool launch_flash_attention(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                            int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                            cudaStream_t stream, int64_t q_stride = 0, int64_t kv_stride = 0);
// The Hopper (sm_90a, wgmma and TMA) kernel behind launch_flash_attention for head dims 40, 64 and 80; strides already
// resolved and checked. Returns false where it does not apply (head dim, a build without sm_90a code, or a driver
// that cannot describe the key/value rows as TMA tensor maps).
bool launch_flash_attention_sm90(const void* q, const void* k, const void* v, void* out, DType dtype, int64_t batch,
                                 int heads, int64_t lq, int64_t lk, int head_dim, float scale, bool causal,
                                 cudaStream_t stream, int64_t q_stride, int64_t kv_stride);
// ---- fused GEMMs (linear_geglu_sm90.cu) ----
// out [M, F] = (x W[:F]^T + b[:F]) * gelu(x W[F:]^T + b[F:]) for f16/bf16 x [M, K], W [2F, K], b [2F] (or null), in one
// Hopper kernel. Returns false (launching nothing) where it does not apply: other dtypes, F not a multiple of 64,
// K not a multiple of 8, unaligned pointers, a build without sm_90a code; the caller checks the device is sm_90.
bool launch_linear_geglu_sm90(const void* x, const void* weight, const void* bias, void* out, DType dtype, int64_t m,
                              int64_t k, int64_t f, cudaStream_t stream);
bool linear_geglu_sm90_compiled();  // whether this build has the kernel's sm_90a code

// ---- a projection and the layer norm after it (linear_layer_norm_sm90.cu) ----
// out [M, N] = x W^T + b (+ residual) and normed = layer_norm(out) * gamma + beta over each row, for f16/bf16 x [M, K],
// W [N, K], b, gamma, beta [N] (bias and residual may be null; all of one dtype), in one Hopper kernel.
struct LinearLayerNormArgs {
  const void* x = nullptr;
  const void* weight = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  void* out = nullptr;
  void* normed = nullptr;
  int64_t m = 0, k = 0, n = 0;
  float eps = 1e-5f;
};
// Whether the kernel has a tiling for this shape and dtype in this build (N 320 or 640, K a multiple of 8, sm_90a
// code compiled); the caller checks the device is sm_90.
bool linear_layer_norm_sm90_takes(DType dtype, int64_t m, int64_t k, int64_t n);
// Returns false (launching nothing) where it does not apply: a shape linear_layer_norm_sm90_takes refuses, unaligned
// pointers, no gamma or beta, a driver that cannot describe the operands as TMA tensor maps.
bool launch_linear_layer_norm_sm90(const LinearLayerNormArgs& args, DType dtype, cudaStream_t stream);

// ---- 3x3 convolutions as one implicit GEMM (conv3x3_splitk_sm90.cu) ----
// out = conv3x3(x, w, padding 1, stride 1 or 2) + bias + residual for f16/bf16 NHWC x [n, h, w, c], KRSC weights
// [o, 3, 3, c], bias [o] and residual [n, ho, wo, o] (either may be null), out [n, ho, wo, o], in one Hopper kernel: an
// implicit GEMM of 128-pixel tiles (whole output images, or whole rows of one), its K split over a cluster of blocks
// where the tiles are few, each `block_outputs` (one of conv3x3_splitk_block_outputs()) output channels wide. Returns
// false (launching nothing) where it does not apply: other dtypes or strides, output images whose pixel count does not
// divide 128 and whose width does not divide 128 or whose height is not a whole number of such tiles, c not a multiple
// of 64, o not a multiple of block_outputs, unaligned pointers, a build without sm_90a code; the caller checks the
// device is sm_90.
bool launch_conv3x3_splitk_sm90(const void* x, const void* weight, const void* bias, const void* residual, void* out,
                                DType dtype, int64_t n, int64_t h, int64_t w, int64_t c, int64_t o, int stride,
                                int block_outputs, cudaStream_t stream);
std::array<int, 4> conv3x3_splitk_block_outputs();
// Whether launch_conv3x3_splitk_sm90 takes ho x wo output images whole, several a block with K split in eight (at most
// 128 pixels, dividing 128: the 8x8 level it was written for), rather than as whole rows.
bool conv3x3_splitk_whole_images(int64_t ho, int64_t wo);

// out [n, o, h, w] (NCHW) = conv3x3(x, w, padding 1, stride 1) + bias for f16/bf16 NHWC x [n, h, w, c], KRSC weights
// [o, 3, 3, c] and bias [o] (or null), with at most 8 outputs (conv3x3_narrow.cu). Returns false (launching nothing)
// where it does not apply: other dtypes, o above 8, c not a multiple of 32, unaligned pointers, 2^31 elements or more.
bool launch_conv3x3_narrow(const void* x, const void* weight, const void* bias, void* out, DType dtype, int64_t n,
                           int64_t h, int64_t w, int64_t c, int64_t o, cudaStream_t stream);

// Whether launch_flash_attention tries the wgmma kernel first on sm_90 devices (default yes; SDPP_CUDA_WGMMA=0 starts
// with no). Tests turn it off to cover the mma.sync kernel on the same shapes.
void set_flash_attention_wgmma(bool enabled);

}  // namespace sdpp::cuda
