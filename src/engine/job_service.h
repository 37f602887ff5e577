// The engine side of the server: a bounded queue feeding one worker per device, the registry of jobs and the
// metrics. HTTP handlers only call submit / find / cancel and read snapshots; they never block a worker.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/generate_fn.h"
#include "engine/job_registry.h"
#include "engine/metrics.h"
#include "engine/queue.h"
#include "engine/worker.h"

namespace sdpp::engine {

struct ServiceOptions {
  size_t queue_size = 32;
  RetentionPolicy retention;
  PreviewEncoder encode_preview;  // without one, jobs report progress but no preview images
};

enum class SubmitError { None, QueueFull, ShuttingDown };

struct SubmitResult {
  std::vector<std::shared_ptr<Job>> jobs;  // in request order; empty on error
  SubmitError error = SubmitError::None;
};

enum class CancelOutcome {
  NotFound,
  Cancelled,        // it was queued and is now cancelled
  Requested,        // it is running; it stops at the next step boundary
  AlreadyFinished,  // succeeded, failed or cancelled before
};

struct ShutdownReport {
  size_t cancelled_queued = 0;   // waiting jobs cancelled without running
  size_t finished_running = 0;   // running jobs that ended on their own within the grace period
  size_t cancelled_running = 0;  // running jobs still going after the grace period, then cancelled
};

class JobService {
 public:
  // One worker per generator (one per device). The workers start at once.
  JobService(ServiceOptions options, std::vector<GenerateFn> generators);
  ~JobService();
  JobService(const JobService&) = delete;
  JobService& operator=(const JobService&) = delete;

  // All requests enter the queue together or none does (AUTOMATIC1111's n_iter becomes several jobs).
  SubmitResult submit(std::vector<GenerationRequest> requests);
  std::shared_ptr<Job> find(const std::string& id);
  CancelOutcome cancel(const std::string& id);
  std::vector<std::shared_ptr<Job>> running() const;  // one entry per busy worker

  size_t queue_depth() const { return queue_.size(); }
  size_t queue_capacity() const { return queue_.capacity(); }
  size_t worker_count() const { return workers_.size(); }
  bool accepting() const { return accepting_.load(); }
  std::map<JobState, size_t> jobs_by_state() const { return registry_.count_by_state(); }
  size_t jobs_retained() const { return registry_.size(); }
  MetricsSnapshot metrics() const { return metrics_.snapshot(); }

  // Stops taking jobs, cancels the waiting ones, lets running ones finish for up to `grace`, then cancels them and
  // joins the workers. Idempotent: a second call returns an empty report.
  ShutdownReport shutdown(std::chrono::milliseconds grace);

 private:
  void maybe_evict();

  ServiceOptions options_;
  JobQueue queue_;
  JobRegistry registry_;
  Metrics metrics_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> shut_down_{false};
  std::atomic<int64_t> last_evict_ns_{0};
};

}  // namespace sdpp::engine
