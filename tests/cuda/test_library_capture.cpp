// Library calls recorded without memset nodes (library_capture.h): the memsets become kernels in a child graph that
// follows the work before the call, and replays compute what eager calls do.
#include <gtest/gtest.h>

#ifdef SDPP_WITH_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/library_capture.h"
#include "cuda_test_util.h"

namespace sdpp::cuda {
namespace {

#define ASSERT_CUDA_OK(call) ASSERT_EQ((call), cudaSuccess) << #call

std::vector<cudaGraphNode_t> graph_nodes(cudaGraph_t graph) {
  size_t count = 0;
  cudaGraphGetNodes(graph, nullptr, &count);
  std::vector<cudaGraphNode_t> nodes(count);
  cudaGraphGetNodes(graph, nodes.data(), &count);
  return nodes;
}

std::vector<cudaGraphNode_t> nodes_of_type(cudaGraph_t graph, cudaGraphNodeType wanted) {
  std::vector<cudaGraphNode_t> found;
  for (cudaGraphNode_t node : graph_nodes(graph)) {
    cudaGraphNodeType type{};
    cudaGraphNodeGetType(node, &type);
    if (type == wanted) found.push_back(node);
  }
  return found;
}

std::vector<cudaGraphNode_t> dependencies(cudaGraphNode_t node) {
  size_t count = 0;
  cudaGraphNodeGetDependencies(node, nullptr, nullptr, &count);
  std::vector<cudaGraphNode_t> deps(count);
  std::vector<cudaGraphEdgeData> edges(count);
  cudaGraphNodeGetDependencies(node, deps.data(), edges.data(), &count);
  deps.resize(count);
  return deps;
}

struct Buffers {
  static constexpr size_t kBytes = size_t(1) << 20;
  unsigned char *src = nullptr, *a = nullptr, *c = nullptr, *ws = nullptr;
  Buffers() {
    for (unsigned char** p : {&src, &a, &c, &ws}) cudaMalloc(p, kBytes);
  }
  ~Buffers() {
    for (unsigned char* p : {src, a, c, ws}) cudaFree(p);
  }
};

std::vector<unsigned char> download(const void* p, size_t n) {
  std::vector<unsigned char> host(n);
  cudaMemcpy(host.data(), p, n, cudaMemcpyDeviceToHost);
  return host;
}

// A recording stream and a scratch stream for each test.
class LibraryCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    SDPP_REQUIRE_CUDA();
    ASSERT_CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    ASSERT_CUDA_OK(cudaStreamCreateWithFlags(&scratch, cudaStreamNonBlocking));
  }
  void TearDown() override {
    if (scratch) cudaStreamDestroy(scratch);
    if (stream) cudaStreamDestroy(stream);
  }
  cudaStream_t stream = nullptr, scratch = nullptr;
};

// A stand-in for a library call: two memsets of a workspace (one 1-d, one 2-d with a pitch), then a copy that reads
// the work before the call (a copy into `a`, standing for the kernels before a GEMM).
TEST_F(LibraryCapture, MemsetsBecomeKernelsInAChildGraphAfterTheWorkBefore) {
  Buffers b;
  const size_t n = Buffers::kBytes;
  std::vector<unsigned char> host(n);
  for (size_t i = 0; i < n; ++i) host[i] = static_cast<unsigned char>(i * 7 + i / 251);
  ASSERT_CUDA_OK(cudaMemcpy(b.src, host.data(), n, cudaMemcpyHostToDevice));
  constexpr size_t kPitch = 256, kRowBytes = 100, kRows = 3, kRowsAt = 1024;

  ASSERT_CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  cudaMemcpyAsync(b.a, b.src, n, cudaMemcpyDeviceToDevice, stream);
  const int replaced = record_library_call(stream, scratch, [&](cudaStream_t s) {
    cudaMemsetAsync(b.ws, 0, 4, s);
    cudaMemset2DAsync(b.ws + kRowsAt, kPitch, 0x5A, kRowBytes, kRows, s);
    cudaMemcpyAsync(b.c, b.a, n, cudaMemcpyDeviceToDevice, s);
  });
  cudaGraph_t graph = nullptr;
  ASSERT_CUDA_OK(cudaStreamEndCapture(stream, &graph));
  EXPECT_EQ(replaced, 2);

  EXPECT_TRUE(nodes_of_type(graph, cudaGraphNodeTypeMemset).empty());
  const std::vector<cudaGraphNode_t> copies = nodes_of_type(graph, cudaGraphNodeTypeMemcpy),
                                     children = nodes_of_type(graph, cudaGraphNodeTypeGraph);
  ASSERT_EQ(copies.size(), 1u);  // the copy before the call; the call's is in the child graph
  ASSERT_EQ(children.size(), 1u);
  EXPECT_EQ(dependencies(children[0]), copies);
  cudaGraph_t child = nullptr;
  ASSERT_CUDA_OK(cudaGraphChildGraphNodeGetGraph(children[0], &child));
  EXPECT_TRUE(nodes_of_type(child, cudaGraphNodeTypeMemset).empty());
  EXPECT_EQ(nodes_of_type(child, cudaGraphNodeTypeKernel).size(), 2u);
  EXPECT_EQ(nodes_of_type(child, cudaGraphNodeTypeMemcpy).size(), 1u);

  ASSERT_CUDA_OK(cudaMemset(b.ws, 0xFF, n));
  ASSERT_CUDA_OK(cudaMemset(b.c, 0, n));
  cudaGraphExec_t exec = nullptr;
  ASSERT_CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  ASSERT_CUDA_OK(cudaGraphLaunch(exec, stream));
  ASSERT_CUDA_OK(cudaStreamSynchronize(stream));
  EXPECT_EQ(download(b.c, n), host);
  const std::vector<unsigned char> ws = download(b.ws, n);
  std::vector<unsigned char> expected(n, 0xFF);
  for (size_t i = 0; i < 4; ++i) expected[i] = 0;
  for (size_t r = 0; r < kRows; ++r)
    for (size_t i = 0; i < kRowBytes; ++i) expected[kRowsAt + r * kPitch + i] = 0x5A;
  EXPECT_EQ(ws, expected);  // the filled bytes, and none beside them
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

TEST_F(LibraryCapture, CallsWithoutMemsetsAreRecordedInPlace) {
  Buffers b;
  ASSERT_CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
  cudaMemcpyAsync(b.a, b.src, Buffers::kBytes, cudaMemcpyDeviceToDevice, stream);
  const int replaced = record_library_call(
      stream, scratch, [&](cudaStream_t s) { cudaMemcpyAsync(b.c, b.a, Buffers::kBytes, cudaMemcpyDeviceToDevice, s); });
  cudaGraph_t graph = nullptr;
  ASSERT_CUDA_OK(cudaStreamEndCapture(stream, &graph));
  EXPECT_EQ(replaced, 0);
  EXPECT_EQ(nodes_of_type(graph, cudaGraphNodeTypeMemcpy).size(), 2u);
  EXPECT_TRUE(nodes_of_type(graph, cudaGraphNodeTypeGraph).empty());
  cudaGraphDestroy(graph);
}

// The SD 1.5 feed-forward at the 64x64 level twice (layer norm, 320 -> 2560 GEMM, GEGLU, 1280 -> 320 GEMM with the
// residual), whose cuBLASLt GEMMs zero a workspace counter on the H100, then the 32x32 level's self-attention, where
// cuDNN's does: replays of the recording equal eager calls on new inputs.
TEST_F(LibraryCapture, RecordedGemmsAndAttentionEqualEagerCalls) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend_for(Device::cuda()));
  ASSERT_NE(cuda, nullptr);
  cuda_test::Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const int64_t tokens = 8192, dim = 320, hidden = 1280;
  const Tensor gamma = in.device(in.host({dim}, 0.5f, 1.5f)), beta = in.device(in.host({dim}, -0.1f, 0.1f));
  const Tensor w1 = in.device(in.host({2 * hidden, dim}, -0.06f, 0.06f)), b1 = in.device(in.host({2 * hidden}));
  const Tensor w2 = in.device(in.host({dim, hidden}, -0.03f, 0.03f)), b2 = in.device(in.host({dim}));
  auto block = [&](const Tensor& x) {
    const Tensor h = ops::geglu(ops::linear(ops::layer_norm(x, gamma, beta, 1e-5f), w1, b1));
    return ops::linear(h, w2, b2, {ops::Activation::None, &x});
  };
  auto feed_forward = [&](const Tensor& x) { return block(block(x)); };
  const Shape packed_shape{2, 1024, 3 * 640};
  auto attention = [&](const Tensor& packed) { return ops::attention_packed(packed, Tensor(), {8}); };

  Tensor x = Tensor::empty({tokens, dim}, DType::F16, Device::cuda());
  Tensor y = Tensor::empty({tokens, dim}, DType::F16, Device::cuda());
  Tensor packed = Tensor::empty(packed_shape, DType::F16, Device::cuda());
  Tensor attended = Tensor::empty({2, 1024, 640}, DType::F16, Device::cuda());
  cuda->convert(in.device(in.host({tokens, dim})), x);
  cuda->convert(in.device(in.host(packed_shape, -2.0f, 2.0f)), packed);
  feed_forward(x);  // eager once: plans exist before recording
  attention(packed);

  const int replaced_before = cuda->replaced_memsets();
  cuda->begin_recording();
  cuda->convert(feed_forward(x), y);
  cuda->convert(attention(packed), attended);
  const std::unique_ptr<RecordedWork> work = cuda->end_recording();
  std::printf("[ capture  ] the recording replaced %d memset node(s) by kernels\n",
              cuda->replaced_memsets() - replaced_before);
  for (int round = 0; round < 3; ++round) {
    cuda->convert(in.device(in.host({tokens, dim})), x);
    cuda->convert(in.device(in.host(packed_shape, -2.0f, 2.0f)), packed);
    work->replay();
    EXPECT_LT(cuda_test::rel_l2(y, feed_forward(x)), 1e-3) << "round " << round;
    EXPECT_LT(cuda_test::rel_l2(attended, attention(packed)), 1e-3) << "round " << round;
  }
}

}  // namespace
}  // namespace sdpp::cuda

#endif  // SDPP_WITH_CUDA
