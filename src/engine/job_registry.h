// Every job the server knows by id: waiting, running, and finished ones kept for a while so clients can fetch
// results. Finished jobs are evicted after `ttl` or when more than `max_finished` are kept (oldest first);
// queued and running jobs are never evicted.
#pragma once
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>

#include "engine/job.h"

namespace sdpp::engine {

struct RetentionPolicy {
  size_t max_finished = 256;
  std::chrono::seconds ttl{3600};
  // How long a finished job keeps its full event history (previews included) for late subscribers.
  std::chrono::milliseconds event_history{10000};
};

class JobRegistry {
 public:
  explicit JobRegistry(RetentionPolicy policy = {});

  std::shared_ptr<Job> create(GenerationRequest request);  // registers a new Queued job with a fresh id
  void erase(const std::string& id);                      // a job that never entered the queue (rejected)
  std::shared_ptr<Job> find(const std::string& id) const;
  // Drops expired finished jobs (returns how many) and compacts the event history of the others.
  size_t evict(Clock::time_point now = Clock::now());
  std::map<JobState, size_t> count_by_state() const;
  size_t size() const;

 private:
  std::string new_id_locked();

  const RetentionPolicy policy_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Job>> jobs_;
  std::mt19937_64 id_rng_;
};

}  // namespace sdpp::engine
