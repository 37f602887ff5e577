// Attention of the CUDA backend (fused kernel and generic path) against the cpu backend.
#include <cstdio>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "cuda_test_util.h"

namespace sdpp {
namespace {

using cuda_test::Inputs;
using cuda_test::rel_l2;
using cuda_test::tolerance;

struct AttentionCase {
  int64_t batch, lq, lk;
  int heads, head_dim;
  bool causal;
};

void check_attention(Inputs& in, const AttentionCase& c) {
  SCOPED_TRACE("B " + std::to_string(c.batch) + " Lq " + std::to_string(c.lq) + " Lk " + std::to_string(c.lk) +
               " heads " + std::to_string(c.heads) + " dim " + std::to_string(c.head_dim) +
               (c.causal ? " causal" : ""));
  const int64_t hd = int64_t(c.heads) * c.head_dim;
  // Spread of +-2 gives peaked softmax rows, which expose max-subtraction and rescaling errors.
  const Tensor q = in.host({c.batch, c.lq, hd}, -2.0f, 2.0f), k = in.host({c.batch, c.lk, hd}, -2.0f, 2.0f);
  const Tensor v = in.host({c.batch, c.lk, hd});
  ops::AttentionOptions o;
  o.heads = c.heads;
  o.causal = c.causal;
  SDPP_EXPECT_CLOSE(ops::attention(in.device(q), in.device(k), in.device(v), o), ops::attention(q, k, v, o),
                    tolerance(in.dtype(), true));
}

class CudaAttention : public testing::TestWithParam<DType> {};

// Puts the process-wide attention kernel back to the default when a test that chose one ends, however it ends.
struct RestoreAttentionKernel {
  ~RestoreAttentionKernel() { set_cuda_attention_kernel("auto"); }
};

// Runs `body` once per fused kernel: the own kernels (the wgmma one on an H100 where it covers the head dim), the
// mma.sync kernel everywhere, the timed choice and cuDNN's SDPA engine, so each stays checked on the device whichever
// the timing picks. cuDNN runs unmasked attention only (causal cases take the own kernel under "cudnn"), and is left
// out, with a note, where the loaded cuDNN lacks the operation.
template <class Body>
void for_each_kernel(Body&& body) {
  const RestoreAttentionKernel restore;
  std::vector<const char*> kernels{"own", "mma"};
  if (cuda_cudnn_attention_version()) kernels.insert(kernels.end(), {"timed", "cudnn"});
  else std::printf("note: the loaded cuDNN has no SDPA operation (9.13.1+); its attention is not tested here\n");
  for (const char* kernel : kernels) {
    SCOPED_TRACE(std::string("kernel ") + kernel);
    set_cuda_attention_kernel(kernel);
    body();
  }
}

TEST_P(CudaAttention, SdHeadDims) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  // Self-attention at odd token counts (tile edges) and cross-attention over 77 text tokens, for the head dims of
  // SD 1.x (40, 80, 160) and SD 2.x / SDXL (64).
  for_each_kernel([&] {
    for (int dim : {40, 64, 80, 160}) {
      check_attention(in, {2, 200, 200, 320 / dim < 1 ? 1 : 320 / dim, dim, false});
      check_attention(in, {1, 129, 77, 2, dim, false});
    }
    check_attention(in, {1, 1024, 1024, 8, 40, false});
    // Enough blocks for two m-tiles per warp (the 4096-token levels' kernel): 512 blocks of 128 queries.
    check_attention(in, {4, 2048, 128, 8, 40, false});
    check_attention(in, {4, 2048, 77, 8, 64, false});
    check_attention(in, {2, 300, 1000, 3, 80, false});  // several key tiles, the last one partial
    check_attention(in, {2, 100, 80, 4, 64, false});    // the most keys one short-key tile takes
    check_attention(in, {2, 100, 81, 4, 64, false});    // one more: two tiles of the general kernel
    // Text keys over many query tiles: a block takes 2 tiles (the last block 1 of 63), 8 tiles, and 4 tiles with a
    // causal mask (the last block 2 of 18), on an H100's 132 multiprocessors.
    check_attention(in, {2, 4000, 77, 8, 40, false});
    check_attention(in, {8, 2048, 77, 16, 40, false});
    check_attention(in, {4, 1100, 77, 16, 40, true});
  });
}

// Grids too small for the mma.sync kernel's blocks of 64 queries to fill the GPU: SD 1.5's 16x16 and 8x8 levels, its
// 32x32 cross-attention and SD 2.x's 12x12 mid block, with partial key tiles and query blocks.
TEST_P(CudaAttention, SmallGrids) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for_each_kernel([&] {
    check_attention(in, {2, 256, 256, 8, 160, false});  // 16x16 self-attention
    check_attention(in, {2, 256, 77, 8, 160, false});   // 16x16 cross
    check_attention(in, {2, 64, 64, 8, 160, false});    // 8x8 (mid block)
    check_attention(in, {2, 64, 77, 8, 160, false});
    check_attention(in, {2, 1024, 77, 8, 80, false});   // 32x32 cross
    check_attention(in, {2, 144, 144, 20, 64, false});  // SD 2.x's 12x12 mid block
    check_attention(in, {1, 50, 200, 2, 128, false});   // a partial query block; a last tile of 8 keys
    check_attention(in, {3, 17, 97, 1, 64, false});     // a last tile of one key
    check_attention(in, {1, 7, 81, 3, 80, false});      // one key past a single short-key tile
  });
}

TEST_P(CudaAttention, CausalAndUncoveredHeadDims) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for_each_kernel([&] {
    check_attention(in, {2, 77, 77, 12, 64, true});  // CLIP text encoder
    check_attention(in, {1, 70, 70, 2, 40, true});
    check_attention(in, {1, 300, 300, 2, 80, true});  // queries of later blocks skip key tiles
  });
  check_attention(in, {2, 33, 21, 3, 24, false});  // generic path: head dim not a multiple of 16 below 32
  check_attention(in, {1, 96, 96, 3, 12, false});  // not a multiple of 8
  check_attention(in, {1, 256, 256, 1, 512, false});  // VAE mid-block attention: one 512-wide head
  check_attention(in, {1, 5, 1, 2, 64, false});     // a single key
}

// Projections stacked by one GEMM: the fused kernel reads q, k and v in place (row strides of 3*H*D or 2*H*D), the
// generic path (f32, a 512-wide head) slices them out. Both must equal attention over the separate parts.
TEST_P(CudaAttention, PackedProjections) {
  SDPP_REQUIRE_CUDA();
  Inputs in(GetParam());
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  for_each_kernel([&] {
    for (const auto& [heads, dim] : {std::pair<int, int>{8, 40}, {2, 64}, {1, 512}}) {
      SCOPED_TRACE("heads " + std::to_string(heads) + " dim " + std::to_string(dim));
      const int64_t hd = int64_t(heads) * dim;
      ops::AttentionOptions o;
      o.heads = heads;
      const Tensor qkv = in.host({2, 150, 3 * hd}, -2.0f, 2.0f);
      const Tensor q = ops::slice(qkv, 2, 0, hd), k = ops::slice(qkv, 2, hd, 2 * hd);
      const Tensor v = ops::slice(qkv, 2, 2 * hd, 3 * hd);
      SDPP_EXPECT_CLOSE(ops::attention_packed(in.device(qkv), Tensor(), o), ops::attention(q, k, v, o),
                        tolerance(in.dtype(), true));
      const Tensor kv = in.host({2, 77, 2 * hd}, -2.0f, 2.0f);
      SDPP_EXPECT_CLOSE(ops::attention_packed(in.device(q), in.device(kv), o),
                        ops::attention(q, ops::slice(kv, 2, 0, hd), ops::slice(kv, 2, hd, 2 * hd), o),
                        tolerance(in.dtype(), true));
    }
  });
}

// The kernel names tests, benchmarks and SDPP_CUDA_CUDNN_ATTENTION select by; another name is refused by name (this
// needs no device: the choice is process-wide).
TEST(CudaAttentionKernel, UnknownNamesAreRefused) {
  if (!cuda_backend_compiled()) GTEST_SKIP() << "built without the CUDA backend";
  const RestoreAttentionKernel restore;
  for (const char* name : {"auto", "own", "mma", "timed", "cudnn"}) EXPECT_NO_THROW(set_cuda_attention_kernel(name));
  try {
    set_cuda_attention_kernel("fastest");
    ADD_FAILURE() << "an unknown attention kernel was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("fastest"), std::string::npos) << e.what();
  }
}

// cuDNN's attention inside a recording (the UNet step is one CUDA graph): replays read the inputs of replay time and
// equal an eager call on them, for self-attention on a packed projection and cross-attention over text tokens.
TEST(CudaCudnnAttention, RecordedCallsEqualEagerOnes) {
  SDPP_REQUIRE_CUDA();
  if (!cuda_cudnn_attention_version()) GTEST_SKIP() << "the loaded cuDNN has no SDPA operation (9.13.1+)";
  const RestoreAttentionKernel restore;
  set_cuda_attention_kernel("cudnn");
  Backend& backend = backend_for(Device::cuda());
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  ops::AttentionOptions o;
  o.heads = 8;
  Tensor qkv = in.device(in.host({2, 256, 3 * 320}, -2.0f, 2.0f));
  Tensor q = in.device(in.host({2, 256, 320}, -2.0f, 2.0f)), kv = in.device(in.host({2, 77, 2 * 320}, -2.0f, 2.0f));
  Tensor self_out = Tensor::empty({2, 256, 320}, DType::F16, Device::cuda());
  Tensor cross_out = Tensor::empty({2, 256, 320}, DType::F16, Device::cuda());
  (void)ops::attention_packed(qkv, Tensor(), o);  // eager once: plans exist before recording
  (void)ops::attention_packed(q, kv, o);
  backend.begin_recording();
  backend.convert(ops::attention_packed(qkv, Tensor(), o), self_out);
  backend.convert(ops::attention_packed(q, kv, o), cross_out);
  const std::unique_ptr<RecordedWork> work = backend.end_recording();
  for (int round = 0; round < 2; ++round) {
    backend.convert(in.device(in.host({2, 256, 3 * 320}, -2.0f, 2.0f)), qkv);
    backend.convert(in.device(in.host({2, 256, 320}, -2.0f, 2.0f)), q);
    backend.convert(in.device(in.host({2, 77, 2 * 320}, -2.0f, 2.0f)), kv);
    work->replay();
    EXPECT_EQ(rel_l2(self_out, ops::attention_packed(qkv, Tensor(), o)), 0.0) << "round " << round;
    EXPECT_EQ(rel_l2(cross_out, ops::attention_packed(q, kv, o)), 0.0) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaAttention, testing::Values(DType::F32, DType::F16, DType::BF16),
                         cuda_test::dtype_param_name);

}  // namespace
}  // namespace sdpp
