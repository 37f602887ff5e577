#include "engine/worker.h"

#include <exception>
#include <new>

#include "core/error.h"

namespace sdpp::engine {

Worker::Worker(int index, GenerateFn generate, JobQueue& queue, JobRegistry& registry, Metrics& metrics,
               PreviewEncoder encode_preview)
    : index_(index),
      generate_(std::move(generate)),
      queue_(queue),
      registry_(registry),
      metrics_(metrics),
      encode_preview_(std::move(encode_preview)),
      thread_([this] { run(); }) {}

Worker::~Worker() { join(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<Job> Worker::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void Worker::run() {
  while (std::shared_ptr<Job> job = queue_.pop()) {
    bool started = false;
    {
      // Start and publish together: whoever sees the job Running also finds it in running().
      std::lock_guard lock(mu_);
      started = job->start(index_);
      if (started) current_ = job;
    }
    if (!started) {
      metrics_.job_finished(JobState::Cancelled, 0);
      job->cancel();  // cancelled between leaving the queue and starting
    } else {
      execute(*job);
      std::lock_guard lock(mu_);
      current_.reset();
    }
    registry_.evict();
  }
}

void Worker::execute(Job& job) {
  Clock::time_point last_step{};
  const ProgressCallback on_progress = [&](const Progress& p) {
    const Clock::time_point now = Clock::now();
    // The first callback's interval also covers text encoding; only step-to-step intervals are step latency.
    if (last_step != Clock::time_point{}) metrics_.step_observed(std::chrono::duration<double>(now - last_step).count());
    last_step = now;
    job.report_progress(p);
    if (p.preview && encode_preview_) {
      try {
        job.report_preview(p.step, p.total, std::make_shared<const std::string>(encode_preview_(*p.preview)));
      } catch (const std::exception&) {
        // A preview that cannot be encoded is skipped; the generation itself is unaffected.
      }
    }
  };
  // Metrics are counted before the terminal event so a client that saw the event also sees it counted.
  auto fail = [&](ErrorCode code, const std::string& message) {
    metrics_.job_finished(JobState::Failed, 0);
    job.fail(error_code_name(code), message);
  };
  try {
    Result result = generate_(*job.request(), on_progress, job.cancel_flag());
    metrics_.job_finished(JobState::Succeeded, result.png.size());
    job.succeed(std::make_shared<const Result>(std::move(result)));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::Cancelled) {
      metrics_.job_finished(JobState::Cancelled, 0);
      job.cancel();
    } else {
      fail(e.code(), e.what());
    }
  } catch (const std::bad_alloc&) {
    fail(ErrorCode::OutOfMemory, "out of host memory while generating");
  } catch (const std::exception& e) {
    fail(ErrorCode::Internal, e.what());
  }
}

}  // namespace sdpp::engine
