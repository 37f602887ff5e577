#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace sdpp {
namespace {

thread_local bool t_inside_pool = false;

int configured_threads() {
  if (const char* env = std::getenv("SDPP_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= 1024) return int(n);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? int(hw) : 1;
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : threads_(threads) {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  ~ThreadPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  int threads() const { return threads_; }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    grain = std::max<int64_t>(grain, 1);
    // About four ranges per thread balance uneven work without paying much per-range overhead.
    const int64_t max_chunks = int64_t(threads_) * 4;
    const int64_t chunk = std::max(grain, (n + max_chunks - 1) / max_chunks);
    const int64_t chunks = (n + chunk - 1) / chunk;
    std::unique_lock dispatch(dispatch_mutex_, std::try_to_lock);
    if (chunks <= 1 || threads_ == 1 || t_inside_pool || !dispatch.owns_lock()) {
      fn(0, n);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      job_fn_ = &fn;
      job_n_ = n;
      job_chunk_ = chunk;
      job_chunks_ = chunks;
      next_chunk_.store(0);
      pending_workers_ = int(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    wake_.notify_all();
    work_on_job();
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return pending_workers_ == 0; });
    job_fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      work_on_job();
      std::lock_guard lock(mutex_);
      if (--pending_workers_ == 0) done_.notify_one();
    }
  }

  // Claims ranges until none is left; used by the caller and the workers alike.
  void work_on_job() {
    t_inside_pool = true;
    for (;;) {
      const int64_t c = next_chunk_.fetch_add(1);
      if (c >= job_chunks_) break;
      const int64_t begin = c * job_chunk_;
      const int64_t end = std::min(job_n_, begin + job_chunk_);
      try {
        (*job_fn_)(begin, end);
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
    t_inside_pool = false;
  }

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex dispatch_mutex_;  // one job at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  const std::function<void(int64_t, int64_t)>* job_fn_ = nullptr;
  int64_t job_n_ = 0, job_chunk_ = 1, job_chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  int pending_workers_ = 0;
  std::exception_ptr error_;
};

ThreadPool& pool() {
  static ThreadPool p(configured_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().threads(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  pool().run(n, grain, fn);
}

}  // namespace sdpp
