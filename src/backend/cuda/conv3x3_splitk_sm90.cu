// 3x3 convolutions (padding 1, stride 1 or 2) on Hopper as one implicit GEMM, whose K is split over a cluster of blocks
// where the output tiles alone would leave multiprocessors idle. Written for SD 1.x's 8x8 level at 512² ([2, 1280, 8,
// 8] by 1280 or 2560 input channels, and the stride-2 downsampling into it), it also takes images of whole rows a
// block (the 16x16 to 64x64 levels), where cuDNN's tiles fill the GPU unevenly: [2, 640, 32, 32] by 640 is 80 tiles of
// 128 x 128 for 132 multiprocessors, and 128 tiles of 128 x 80 here. (The backend's timed choice tries whole rows only
// with SDPP_CUDA_OWN_CONV_ROWS=1: in the recorded SD 1.5 step on an H100 they tied cuDNN, though they won its isolated
// timings at 32x32 and 64x64; docs/PERFORMANCE.md, nineteenth session.)
//
// There the GEMM is [128 pixels] x [11520] x [1280 outputs]: the 29.5 MB of weights are the work, streamed once from
// memory (about 9 us at 3.35 TB/s), and 128 rows give too few output tiles to fill the GPU unless K is split. The
// library path took im2col (3 us), a split-K cuBLASLt GEMM (14 us) and its reduction kernel (3 us). Here (in the
// recorded SD 1.5 step on an H100: 19-21 us a 1280-channel call against 19-22 us for those three; the memory is read
// at well under its peak, docs/PERFORMANCE.md, sixteenth session):
// - no im2col: a block's 128 rows are whole output images (their pixel count divides 128) or whole rows of one image
//   (its width divides 128), so the A tile of one filter tap (ky, kx) and 64 input channels is a single 4-d TMA box of
//   the NHWC input at (c, kx - 1, y0 + ky - 1, image), whose element strides are the convolution's; the copy unit fills
//   the padding ring with zeros, since those coordinates lie outside the tensor;
// - the weights [O, 3, 3, C] (KRSC, as the backend keeps them) are the row-major [O, 9C] B operand in the same K order
//   (tap, channel);
// - the `splits` blocks of a cluster (8 for whole images; for whole rows as many as keep the grid within one wave)
//   take consecutive K ranges of one output tile; each leaves its 128 x BN partial sums in its shared memory, and each
//   then sums its share of the rows over the cluster's blocks (distributed shared memory, in rank order, so the result
//   does not depend on timing), adds bias and residual and writes them. One split is a plain launch, no cluster.
//
// A producer warp issues the copies through the stages (Config::kStages) guarded by "full" and "empty" mbarriers; two
// consumer warpgroups each run one wgmma m64nBNk16 per k16 step. Operands are stored with the 128-byte swizzle (64
// channels a row) and read K-major, as in linear_geglu_sm90.cu. Weights do not depend on the kernel before: the first
// stages' weight copies are issued before the wait for it (dependent launch).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cstdint>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_attributes.h"
#include "backend/cuda/device_util.cuh"
#include "backend/cuda/flash_attention_common.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/tma_ops.cuh"
#include "backend/cuda/wgmma_ops.cuh"
#include "backend/cuda/wgmma_sync.cuh"

namespace sdpp::cuda {
namespace {

constexpr int kConsumers = 256;            // two warpgroups, 64 rows each
constexpr int kThreads = kConsumers + 32;  // and the producer warp
constexpr int kBM = 128;                   // rows (output pixels) a block: whole images, or whole rows of one
constexpr int kBK = 64;                    // K a stage: 64 channels of one tap, one 128-byte swizzled row
constexpr int kImageSplits = 8;            // blocks a cluster for whole images a block, each a range of K
constexpr int kMaxSplits = 8;
constexpr int kTaps = 9;

// As many stages as shared memory holds, one block a multiprocessor (64 outputs: two blocks of four stages). Four
// stages at every width measured the same on an H100 (docs/PERFORMANCE.md, sixteenth session): the copies in flight
// are not what bounds the kernel.
template <int BN>
struct Config {
  static constexpr int kStages = BN == 64 ? 4 : BN == 80 ? 8 : 6;
  static constexpr int kABytes = kBM * 128;
  static constexpr int kStageBytes = kABytes + BN * 128;
  // A row of partial sums: BN floats and 8 more, so that the rows a half-warp stores to start in different banks.
  static constexpr int kRowFloats = BN + 8;
  static constexpr int kPartialBytes = kBM * kRowFloats * 4;
  static constexpr int kDataBytes = kStages * kStageBytes > kPartialBytes ? kStages * kStageBytes : kPartialBytes;
  static_assert(1024 + kDataBytes + 2 * kStages * 8 <= 227 * 1024, "more than a block's shared memory");
  // 1024 bytes of slack to align the stages to the swizzle's 1024-byte pattern, the data, the mbarriers.
  static constexpr int kSharedBytes = 1024 + kDataBytes + 2 * kStages * int(sizeof(uint64_t));
};

template <class T, int BN>
__global__ void __launch_bounds__(kThreads, 1)
    conv3x3_splitk_kernel(const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap w_map,
                          const T* __restrict__ bias, const T* __restrict__ residual, T* __restrict__ out, int m,
                          int outputs, int channel_tiles, int splits, int images_per_block, int tiles_per_image,
                          int input_rows_per_block) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = Config<BN>;
  constexpr int STAGE = C::kStageBytes, A_BYTES = C::kABytes, ROW = C::kRowFloats, kStages = C::kStages;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_raw + ((1024 - smem_addr(smem_raw) % 1024) % 1024);
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + C::kDataBytes);
  uint64_t* empty = full + kStages;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const unsigned rank = splits > 1 ? cluster_rank() : 0u;  // which K range: blockIdx.x = tile * splits + rank
  const int n0 = int(blockIdx.x) / splits * BN, m0 = int(blockIdx.y) * kBM;
  const int tiles = kTaps * channel_tiles;
  const int t0 = tiles * int(rank) / splits, count = tiles * (int(rank) + 1) / splits - t0;
  // The block's first image and, within it, the input row of its first output row (that row times the stride).
  const int image = int(blockIdx.y) / tiles_per_image * images_per_block;
  const int y0 = int(blockIdx.y) % tiles_per_image * input_rows_per_block;

  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(&full[s], 1);
      mbarrier_init(&empty[s], kConsumers / 32);
    }
    fence_mbarrier_init();
  }
  __syncthreads();

  if (warp == kConsumers / 32) {  // the producer
    if (lane == 0) {
      auto load_weights = [&](int i) {  // the stage's expected bytes, then its weight box
        const int stage = i % kStages;
        mbarrier_arrive_expect_tx(&full[stage], unsigned(STAGE));
        tma_load_2d(smem + stage * STAGE + A_BYTES, &w_map, &full[stage], (t0 + i) * kBK, n0);
      };
      auto load_x = [&](int i) {  // the input pixels under tap (ky, kx) for every output pixel of the block
        const int t = t0 + i, tap = t / channel_tiles, c = (t - tap * channel_tiles) * kBK;
        tma_load_4d(smem + (i % kStages) * STAGE, &x_map, &full[i % kStages], c, tap % 3 - 1, y0 + tap / 3 - 1,
                    image);
      };
      const int prologue = count < kStages ? count : kStages;
      for (int i = 0; i < prologue; ++i) load_weights(i);
      wait_for_prior_kernel();  // x, the residual and the output belong to the kernels before
      for (int i = 0; i < prologue; ++i) load_x(i);
      for (int i = prologue; i < count; ++i) {
        mbarrier_wait(&empty[i % kStages], unsigned(i / kStages - 1) & 1u);
        load_weights(i);
        load_x(i);
      }
    } else {
      wait_for_prior_kernel();
    }
    __syncwarp();
  } else {
    wait_for_prior_kernel();
    const int wg = tid / 128;
    float acc[BN / 2];  // 64 rows x BN columns over a warpgroup's 128 threads
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
    const uint64_t a_desc0 = sw128_desc(smem + wg * 64 * 128);
    const uint64_t b_desc0 = sw128_desc(smem + A_BYTES);
    for (int i = 0; i < count; ++i) {
      const int stage = i % kStages;
      mbarrier_wait(&full[stage], unsigned(i / kStages) & 1u);
      const uint64_t offset = uint64_t(stage * (STAGE >> 4));
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < kBK / 16; ++ks)
        Wgmma<T, BN>::ss(acc, a_desc0 + offset + 2 * ks, b_desc0 + offset + 2 * ks, 1);
      wgmma_commit();
      wgmma_wait<1>();  // stage i - 1's products are done; stage i's run on
      fence_registers(acc);
      if (i > 0 && lane == 0) mbarrier_arrive(&empty[(i - 1) % kStages]);
    }
    wgmma_wait<0>();
    fence_registers(acc);
    // Both warpgroups are done reading the stages (every copy issued was waited for) before partial sums overwrite
    // them.
    asm volatile("bar.sync 1, %0;\n" ::"n"(kConsumers) : "memory");
    // acc[4 j + 2 r + e]: row (warp % 4) * 16 + g + 8 r of the warpgroup's 64, column 8 j + 2 tq + e.
    float* partial = reinterpret_cast<float*>(smem);
    const int g = lane / 4, tq = lane % 4, row0 = wg * 64 + warp % 4 * 16 + g;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
      for (int r = 0; r < 2; ++r)
        *reinterpret_cast<float2*>(partial + (row0 + 8 * r) * ROW + 8 * j + 2 * tq) =
            make_float2(acc[4 * j + 2 * r], acc[4 * j + 2 * r + 1]);
  }
  // Every block's partial sums are in its shared memory.
  if (splits > 1)
    cluster_sync();
  else
    __syncthreads();

  // This block's rows of the tile, summed over the cluster in rank order; four columns a thread at a time, kBatch
  // vectors at once with their bias and residual loads issued first. (One vector at a time, each waited for its
  // residual from L2 in turn: with one split a block writes 128 x BN outputs, up to 18 such waits a thread.)
  constexpr int VECTORS = BN / 4, kBatch = 8;
  const int ROWS = kBM / splits, total = ROWS * VECTORS;
  const float* partial = reinterpret_cast<const float*>(smem);
  for (int v0 = tid; v0 < total; v0 += kThreads * kBatch) {
    uint2 added[kBatch][2];  // bias, residual: four values each
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int v = v0 + u * kThreads;
      const int r = int(rank) * ROWS + v / VECTORS, col = 4 * (v % VECTORS);
      const bool valid = v < total && m0 + r < m;
      added[u][0] = bias && valid ? *reinterpret_cast<const uint2*>(bias + n0 + col) : make_uint2(0u, 0u);
      added[u][1] = residual && valid ? *reinterpret_cast<const uint2*>(residual + int64_t(m0 + r) * outputs + n0 + col)
                                      : make_uint2(0u, 0u);
    }
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int v = v0 + u * kThreads;
      const int r = int(rank) * ROWS + v / VECTORS, col = 4 * (v % VECTORS);
      const int row = m0 + r;
      if (v >= total || row >= m) continue;
      float4 sum = splits > 1 ? load_shared_cluster(partial + r * ROW + col, 0)
                              : *reinterpret_cast<const float4*>(partial + r * ROW + col);
      for (int peer = 1; peer < splits; ++peer) {
        const float4 p = load_shared_cluster(partial + r * ROW + col, unsigned(peer));
        sum.x += p.x;
        sum.y += p.y;
        sum.z += p.z;
        sum.w += p.w;
      }
      float y[4] = {sum.x, sum.y, sum.z, sum.w};
      const T* b = reinterpret_cast<const T*>(&added[u][0]);
      const T* res = reinterpret_cast<const T*>(&added[u][1]);
#pragma unroll
      for (int e = 0; e < 4; ++e) y[e] += to_f32(b[e]) + to_f32(res[e]);  // zero bits: +0 where either is absent
      *reinterpret_cast<uint2*>(out + int64_t(row) * outputs + n0 + col) =
          make_uint2(pack2<T>(y[0], y[1]), pack2<T>(y[2], y[3]));
    }
  }
  if (splits > 1) cluster_sync();  // the other blocks have read this block's partial sums: its shared memory may go
#else
  __trap();  // launch_conv3x3_splitk_sm90 only launches this where sm_90a code was compiled
#endif
}

// NHWC [n, h, w, c] as a 4-d map whose box is 64 channels of every `stride`-th pixel of `rows` output rows of `images`
// images (one block's rows: rows x wo pixels each).
bool encode_images(CUtensorMap* map, const void* x, DType dtype, int64_t n, int64_t h, int64_t w, int64_t c,
                   int stride, int64_t rows, int64_t wo, int images) {
  const PFN_cuTensorMapEncodeTiled_v12000 encode = tensor_map_encoder();
  if (!encode) return false;
  const cuuint64_t dims[4] = {cuuint64_t(c), cuuint64_t(w), cuuint64_t(h), cuuint64_t(n)};
  const cuuint64_t strides[3] = {cuuint64_t(c) * 2, cuuint64_t(w * c) * 2, cuuint64_t(h * w * c) * 2};
  // With element strides, a box of b elements along a dimension holds ceil(b / stride) of them.
  const cuuint32_t box[4] = {cuuint32_t(kBK), cuuint32_t(wo * stride), cuuint32_t(rows * stride), cuuint32_t(images)};
  const cuuint32_t element_strides[4] = {1, cuuint32_t(stride), cuuint32_t(stride), 1};
  return encode(map, dtype == DType::F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
                const_cast<void*>(x), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// How a launch lays its 128-row tiles over the output images, and how many blocks share each tile's K.
struct Tiling {
  int images_per_block, tiles_per_image, input_rows_per_block, splits;
};

template <class T, int BN>
void launch(const CUtensorMap& x_map, const CUtensorMap& w_map, const void* bias, const void* residual, void* out,
            int64_t m, int64_t o, int64_t c, const Tiling& t, cudaStream_t stream) {
  constexpr int bytes = Config<BN>::kSharedBytes;
  const auto kernel = conv3x3_splitk_kernel<T, BN>;
  static std::atomic<uint64_t> configured{0};
  allow_dynamic_shared_memory(kernel, bytes, configured);
  launch_dependent_clustered(kernel, dim3(unsigned(o / BN * t.splits), unsigned((m + kBM - 1) / kBM)), kThreads,
                             bytes, dim3(unsigned(t.splits), 1, 1), stream, x_map, w_map, static_cast<const T*>(bias),
                             static_cast<const T*>(residual), static_cast<T*>(out), int(m), int(o), int(c / kBK),
                             t.splits, t.images_per_block, t.tiles_per_image, t.input_rows_per_block);
}

template <class T>
void launch_typed(int block_outputs, const CUtensorMap& x_map, const CUtensorMap& w_map, const void* bias,
                  const void* residual, void* out, int64_t m, int64_t o, int64_t c, const Tiling& t,
                  cudaStream_t stream) {
  switch (block_outputs) {
    case 64: launch<T, 64>(x_map, w_map, bias, residual, out, m, o, c, t, stream); break;
    case 80: launch<T, 80>(x_map, w_map, bias, residual, out, m, o, c, t, stream); break;
    case 128: launch<T, 128>(x_map, w_map, bias, residual, out, m, o, c, t, stream); break;
    case 160: launch<T, 160>(x_map, w_map, bias, residual, out, m, o, c, t, stream); break;
  }
}

}  // namespace

std::array<int, 4> conv3x3_splitk_block_outputs() { return {64, 80, 128, 160}; }

bool conv3x3_splitk_whole_images(int64_t ho, int64_t wo) {
  const int64_t pixels = ho * wo;
  return pixels >= 1 && pixels <= kBM && kBM % pixels == 0;
}

bool launch_conv3x3_splitk_sm90(const void* x, const void* weight, const void* bias, const void* residual, void* out,
                                DType dtype, int64_t n, int64_t h, int64_t w, int64_t c, int64_t o, int stride,
                                int block_outputs, cudaStream_t stream) {
#if defined(SDPP_CUDA_SM90A)
  if (dtype != DType::F16 && dtype != DType::BF16) return false;
  if (block_outputs != 64 && block_outputs != 80 && block_outputs != 128 && block_outputs != 160) return false;
  if (stride != 1 && stride != 2) return false;
  // Whole output images a block, or whole rows of one image; whole 64-channel K tiles (a tile never spans two taps);
  // whole output tiles.
  const int64_t ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1, pixels = ho * wo;
  if (n < 1 || h < 1 || w < 1 || c % kBK != 0 || c < kBK || o % block_outputs != 0) return false;
  const bool whole_images = conv3x3_splitk_whole_images(ho, wo);
  const int64_t rows = whole_images ? ho : kBM / wo;
  if (!whole_images && (kBM % wo != 0 || ho % rows != 0)) return false;
  const int64_t m = n * pixels;
  if ((m + kBM - 1) / kBM > 65535 || o / block_outputs * kMaxSplits > INT32_MAX || kTaps * c > INT32_MAX ||
      m * o > INT32_MAX)
    return false;
  if (!aligned16(x) || !aligned16(weight) || reinterpret_cast<uintptr_t>(out) % 8 != 0 ||
      reinterpret_cast<uintptr_t>(bias) % 8 != 0 || reinterpret_cast<uintptr_t>(residual) % 8 != 0)
    return false;
  Tiling t{whole_images ? int(kBM / pixels) : 1, whole_images ? 1 : int(ho / rows),
           whole_images ? 0 : int(rows) * stride, kImageSplits};
  if (!whole_images) {
    // Whole rows: K split in two while the grid stays within one wave and each block keeps at least two K tiles (SD
    // 1.5's 64x64 and 32x32 levels have tiles enough and take no split; its 16x16 level takes two or four).
    const int64_t tiles = m / kBM * (o / block_outputs), k_tiles = kTaps * c / kBK;
    t.splits = 1;
    while (t.splits < kMaxSplits && tiles * t.splits * 2 <= multiprocessor_count() && k_tiles >= t.splits * 2 * 2)
      t.splits *= 2;
  }
  CUtensorMap x_map, w_map;
  if (!encode_images(&x_map, x, dtype, n, h, w, c, stride, rows, wo, t.images_per_block) ||
      // A box reads 128 bytes of each of its weight rows, and the next K tile the 128 after them: L2 fetches 256.
      !encode_swizzled_rows(&w_map, weight, dtype, o, kTaps * c, block_outputs, CU_TENSOR_MAP_L2_PROMOTION_L2_256B))
    return false;
  if (dtype == DType::F16)
    launch_typed<__half>(block_outputs, x_map, w_map, bias, residual, out, m, o, c, t, stream);
  else
    launch_typed<__nv_bfloat16>(block_outputs, x_map, w_map, bias, residual, out, m, o, c, t, stream);
  return true;
#else
  (void)x, (void)weight, (void)bias, (void)residual, (void)out, (void)dtype, (void)n, (void)h, (void)w, (void)c;
  (void)o, (void)stride, (void)block_outputs, (void)stream;
  return false;
#endif
}

}  // namespace sdpp::cuda
