// One worker per device: a thread that owns that device's engine, takes jobs from the shared queue one at a time
// and turns the engine's progress callbacks into job events. Nothing but this thread touches its engine.
#pragma once
#include <memory>
#include <mutex>
#include <thread>

#include "engine/generate_fn.h"
#include "engine/job_registry.h"
#include "engine/metrics.h"
#include "engine/queue.h"

namespace sdpp::engine {

class Worker {
 public:
  Worker(int index, GenerateFn generate, JobQueue& queue, JobRegistry& registry, Metrics& metrics,
         PreviewEncoder encode_preview);
  ~Worker();  // joins; the queue must have been closed
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  int index() const { return index_; }
  std::shared_ptr<Job> current() const;  // the running job, or nullptr when idle
  void join();

 private:
  void run();
  void execute(Job& job);

  const int index_;
  GenerateFn generate_;
  JobQueue& queue_;
  JobRegistry& registry_;
  Metrics& metrics_;
  PreviewEncoder encode_preview_;
  mutable std::mutex mu_;
  std::shared_ptr<Job> current_;
  std::thread thread_;
};

}  // namespace sdpp::engine
