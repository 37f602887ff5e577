// Side work (Backend::begin_side, side_queue.h; opt-in with SDPP_CUDA_SIDE=1, switched on here): ops made under
// ops::SideWork run on a second stream beside what the main stream does next, join_side() orders the main stream after
// them, eagerly and recorded; memory freed before the join is released only at it.
#include <gtest/gtest.h>

#ifdef SDPP_WITH_CUDA
#include <cuda_runtime.h>

#include <chrono>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/side_queue.h"
#include "cuda_test_util.h"

namespace sdpp::cuda {
namespace {

using cuda_test::Inputs;

// y = linear(x) made on the side + layer_norm(x) made meanwhile on the main stream.
Tensor side_and_main(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& g, const Tensor& beta) {
  Tensor projected;
  {
    const ops::SideWork side(x.device());
    projected = ops::linear(x, w, b);
  }
  const Tensor normed = ops::layer_norm(x, g, beta, 1e-5f);
  ops::join_side(x.device());
  return ops::add(projected, normed);
}

// Side work on (SDPP_CUDA_SIDE=1; off by default) for one test, the setting restored after it.
class SideWorkOn {
 public:
  SideWorkOn() : backend_(dynamic_cast<CudaBackend&>(backend_for(Device::cuda()))), was_(backend_.side_work()) {
    backend_.set_side_work(true);
  }
  ~SideWorkOn() { backend_.set_side_work(was_); }
  CudaBackend& backend() { return backend_; }

 private:
  CudaBackend& backend_;
  bool was_;
};

TEST(CudaSideWork, EagerAndRecordedResultsMatchTheCpu) {
  SDPP_REQUIRE_CUDA();
  SideWorkOn on;
  Inputs in(DType::F16);
  SCOPED_TRACE("seed " + std::to_string(in.seed()));
  const Tensor w = in.host({320, 320}), b = in.host({320}), g = in.host({320}, 0.5f, 1.5f), beta = in.host({320});
  const Tensor dw = in.device(w), db = in.device(b), dg = in.device(g), dbeta = in.device(beta);
  const Tensor x0 = in.host({2, 4096, 320});
  const double tol = cuda_test::tolerance(DType::F16);
  EXPECT_LT(cuda_test::rel_l2(side_and_main(in.device(x0), dw, db, dg, dbeta), side_and_main(x0, w, b, g, beta)), tol);

  Backend& backend = backend_for(Device::cuda());
  Tensor x = in.device(x0);
  Tensor y = Tensor::empty({2, 4096, 320}, DType::F16, Device::cuda());
  backend.begin_recording();
  backend.convert(side_and_main(x, dw, db, dg, dbeta), y);
  const std::unique_ptr<RecordedWork> work = backend.end_recording();
  for (int round = 0; round < 3; ++round) {
    const Tensor values = in.host({2, 4096, 320});
    backend.convert(in.device(values), x);
    work->replay();
    EXPECT_LT(cuda_test::rel_l2(y, side_and_main(values, w, b, g, beta)), tol) << "round " << round;
  }
}

// Two 20 ms waits, one on each stream, end in well under 40 ms: the side stream runs beside the main one, and the
// join holds the main stream's next work (and synchronize()) until the side's is done.
TEST(CudaSideWork, RunsBesideTheMainStreamUntilTheJoin) {
  SDPP_REQUIRE_CUDA();
  SideWorkOn on;
  CudaBackend& backend = on.backend();
  backend.synchronize();
  const cudaStream_t main = backend.stream();
  const auto start = std::chrono::steady_clock::now();
  {
    const ops::SideWork side(Device::cuda());
    EXPECT_NE(backend.stream(), main);
    launch_busy_wait(20000, backend.stream());
  }
  EXPECT_EQ(backend.stream(), main);
  launch_busy_wait(20000, backend.stream());
  ops::join_side(Device::cuda());
  backend.synchronize();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(ms, 19.0);
  EXPECT_LT(ms, 35.0);
}

size_t pool_used_bytes() {
  int device = 0;
  cudaGetDevice(&device);
  cudaMemPool_t pool = nullptr;
  cudaDeviceGetDefaultMemPool(&pool, device);
  std::uint64_t used = 0;
  cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used);
  return size_t(used);
}

TEST(CudaSideQueue, FreesWaitForTheJoin) {
  SDPP_REQUIRE_CUDA();
  cudaStream_t main = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&main, cudaStreamNonBlocking), cudaSuccess);
  {
    SideQueue queue(main);
    constexpr size_t kBytes = size_t(8) << 20;
    void* a = nullptr;
    void* b = nullptr;
    ASSERT_EQ(cudaMallocAsync(&a, kBytes, main), cudaSuccess);
    ASSERT_EQ(cudaMallocAsync(&b, kBytes, main), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(main), cudaSuccess);
    const size_t used = pool_used_bytes();

    queue.release(a);  // nothing unjoined: freed on the main stream at once
    ASSERT_EQ(cudaStreamSynchronize(main), cudaSuccess);
    EXPECT_EQ(pool_used_bytes(), used - kBytes);

    queue.fork();
    EXPECT_TRUE(queue.pending());
    queue.release(b);  // the side stream might still use it: kept until the join
    ASSERT_EQ(cudaStreamSynchronize(main), cudaSuccess);
    EXPECT_EQ(pool_used_bytes(), used - kBytes);
    queue.join();
    EXPECT_FALSE(queue.pending());
    ASSERT_EQ(cudaStreamSynchronize(main), cudaSuccess);
    EXPECT_EQ(pool_used_bytes(), used - 2 * kBytes);
    queue.join();  // nothing unjoined: no effect
  }
  cudaStreamDestroy(main);
}

}  // namespace
}  // namespace sdpp::cuda
#endif  // SDPP_WITH_CUDA
