#include "engine/job_service.h"

#include <thread>

namespace sdpp::engine {

JobService::JobService(ServiceOptions options, std::vector<GenerateFn> generators)
    : options_(std::move(options)), queue_(options_.queue_size), registry_(options_.retention) {
  for (size_t i = 0; i < generators.size(); ++i)
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), std::move(generators[i]), queue_, registry_,
                                                metrics_, options_.encode_preview));
}

JobService::~JobService() { shutdown(std::chrono::milliseconds(0)); }

SubmitResult JobService::submit(std::vector<GenerationRequest> requests) {
  SubmitResult out;
  if (!accepting_.load()) {
    out.error = SubmitError::ShuttingDown;
    return out;
  }
  maybe_evict();
  std::vector<std::shared_ptr<Job>> jobs;
  for (GenerationRequest& r : requests) jobs.push_back(registry_.create(std::move(r)));
  if (!queue_.push_all(jobs)) {
    for (const auto& job : jobs) registry_.erase(job->id());
    metrics_.job_rejected();
    out.error = accepting_.load() ? SubmitError::QueueFull : SubmitError::ShuttingDown;
    return out;
  }
  metrics_.job_submitted(jobs.size());
  out.jobs = std::move(jobs);
  return out;
}

void JobService::maybe_evict() {
  // Workers evict as jobs finish; this catches expiry on an idle server without a sweeper thread.
  const int64_t now = Clock::now().time_since_epoch().count();
  int64_t last = last_evict_ns_.load();
  if (now - last < std::chrono::nanoseconds(std::chrono::seconds(1)).count()) return;
  if (last_evict_ns_.compare_exchange_strong(last, now)) registry_.evict();
}

std::shared_ptr<Job> JobService::find(const std::string& id) {
  maybe_evict();
  return registry_.find(id);
}

CancelOutcome JobService::cancel(const std::string& id) {
  std::shared_ptr<Job> job = registry_.find(id);
  if (!job) return CancelOutcome::NotFound;
  if (is_terminal(job->state())) return CancelOutcome::AlreadyFinished;
  // Set the flag first: a job popped but not yet started sees it in Job::start; a running one between steps.
  job->request_cancel();
  if (queue_.remove(id)) {
    metrics_.job_finished(JobState::Cancelled, 0);
    job->cancel();
    return CancelOutcome::Cancelled;
  }
  switch (job->state()) {
    case JobState::Cancelled: return CancelOutcome::Cancelled;  // popped but refused to start
    case JobState::Succeeded:
    case JobState::Failed: return CancelOutcome::AlreadyFinished;  // it ended before the flag was seen
    default: return CancelOutcome::Requested;
  }
}

std::vector<std::shared_ptr<Job>> JobService::running() const {
  std::vector<std::shared_ptr<Job>> out;
  for (const auto& w : workers_)
    if (auto job = w->current()) out.push_back(std::move(job));
  return out;
}

ShutdownReport JobService::shutdown(std::chrono::milliseconds grace) {
  ShutdownReport report;
  accepting_.store(false);
  if (shut_down_.exchange(true)) return report;
  for (const auto& job : queue_.close()) {
    job->cancel();
    metrics_.job_finished(JobState::Cancelled, 0);
    ++report.cancelled_queued;
  }
  const std::vector<std::shared_ptr<Job>> busy = running();
  const Clock::time_point deadline = Clock::now() + grace;
  auto all_done = [&] {
    for (const auto& job : busy)
      if (!is_terminal(job->state())) return false;
    return true;
  };
  while (!all_done() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (const auto& job : busy)
    if (is_terminal(job->state())) ++report.finished_running;
  // Re-read: a job popped just before the queue closed may have started meanwhile.
  for (const auto& job : running()) {
    job->request_cancel();
    ++report.cancelled_running;
  }
  for (const auto& w : workers_) w->join();
  return report;
}

}  // namespace sdpp::engine
