// Counters the server exports on /metrics: jobs submitted/rejected/finished, images generated and the latency of
// one denoising step (a histogram, so a dashboard can show percentiles).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "engine/job_state.h"

namespace sdpp::engine {

struct StepLatencyHistogram {
  static constexpr std::array<double, 12> kBounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,   1.0,  2.5,   5.0,  10.0};  // seconds
  std::array<uint64_t, kBounds.size()> cumulative{};  // observations <= bound (Prometheus `le` buckets)
  uint64_t count = 0;
  double sum = 0.0;
};

struct MetricsSnapshot {
  uint64_t submitted = 0, rejected_queue_full = 0, images_generated = 0;
  uint64_t succeeded = 0, failed = 0, cancelled = 0;
  StepLatencyHistogram step_latency;
};

class Metrics {
 public:
  void job_submitted(uint64_t n = 1) { submitted_ += n; }
  void job_rejected() { ++rejected_; }
  void job_finished(JobState state, uint64_t images);
  void step_observed(double seconds);
  MetricsSnapshot snapshot() const;

 private:
  std::atomic<uint64_t> submitted_{0}, rejected_{0}, images_{0}, succeeded_{0}, failed_{0}, cancelled_{0};
  mutable std::mutex mu_;
  StepLatencyHistogram steps_;
};

}  // namespace sdpp::engine
