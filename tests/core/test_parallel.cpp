// The thread pool: full coverage of the range, nesting, exceptions and concurrent callers.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/parallel.h"

namespace sdpp {
namespace {

TEST(Parallel, CoversRangeExactlyOnce) {
  EXPECT_GE(num_threads(), 1);
  for (int64_t n : {0, 1, 7, 1000, 100003}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(n, 3, [&](int64_t b, int64_t e) {
      EXPECT_LT(b, e);
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "n " << n << " i " << i;
  }
}

TEST(Parallel, RespectsGrain) {
  std::atomic<int64_t> smallest{1 << 30};
  parallel_for(1000, 100, [&](int64_t b, int64_t e) {
    if (e != 1000) {
      int64_t cur = smallest.load();
      while (e - b < cur && !smallest.compare_exchange_weak(cur, e - b)) {}
    }
  });
  EXPECT_GE(smallest.load(), 100);
}

TEST(Parallel, NestedCallsRunInline) {
  std::atomic<int64_t> total{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallel_for(100, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
  });
  EXPECT_EQ(total.load(), 800);
}

TEST(Parallel, ExceptionIsRethrownToCaller) {
  EXPECT_THROW(parallel_for(64, 1,
                            [](int64_t b, int64_t) {
                              if (b == 0) throw std::runtime_error("boom");
                            }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int64_t> total{0};
  parallel_for(64, 1, [&](int64_t b, int64_t e) { total += e - b; });
  EXPECT_EQ(total.load(), 64);
}

TEST(Parallel, ConcurrentCallersBothComplete) {
  std::atomic<int64_t> a{0}, b{0};
  std::thread other([&] {
    for (int r = 0; r < 200; ++r) parallel_for(1000, 10, [&](int64_t s, int64_t e) { a += e - s; });
  });
  for (int r = 0; r < 200; ++r) parallel_for(1000, 10, [&](int64_t s, int64_t e) { b += e - s; });
  other.join();
  EXPECT_EQ(a.load(), 200000);
  EXPECT_EQ(b.load(), 200000);
}

}  // namespace
}  // namespace sdpp
