#include "engine/metrics.h"

namespace sdpp::engine {

void Metrics::job_finished(JobState state, uint64_t images) {
  switch (state) {
    case JobState::Succeeded: ++succeeded_; break;
    case JobState::Failed: ++failed_; break;
    case JobState::Cancelled: ++cancelled_; break;
    default: return;
  }
  images_ += images;
}

void Metrics::step_observed(double seconds) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < StepLatencyHistogram::kBounds.size(); ++i)
    if (seconds <= StepLatencyHistogram::kBounds[i]) ++steps_.cumulative[i];
  ++steps_.count;
  steps_.sum += seconds;
}

MetricsSnapshot Metrics::snapshot() const {
  MetricsSnapshot s;
  s.submitted = submitted_;
  s.rejected_queue_full = rejected_;
  s.images_generated = images_;
  s.succeeded = succeeded_;
  s.failed = failed_;
  s.cancelled = cancelled_;
  std::lock_guard lock(mu_);
  s.step_latency = steps_;
  return s;
}

}  // namespace sdpp::engine
