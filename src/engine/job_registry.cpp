#include "engine/job_registry.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace sdpp::engine {

JobRegistry::JobRegistry(RetentionPolicy policy) : policy_(policy), id_rng_(std::random_device{}()) {}

std::string JobRegistry::new_id_locked() {
  // Unguessable enough that one client cannot enumerate another's jobs by counting.
  for (;;) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id_rng_()));
    std::string id = buf;
    if (!jobs_.contains(id)) return id;
  }
}

std::shared_ptr<Job> JobRegistry::create(GenerationRequest request) {
  std::lock_guard lock(mu_);
  auto job = std::make_shared<Job>(new_id_locked(), std::move(request), policy_.event_history);
  jobs_.emplace(job->id(), job);
  return job;
}

void JobRegistry::erase(const std::string& id) {
  std::lock_guard lock(mu_);
  jobs_.erase(id);
}

std::shared_ptr<Job> JobRegistry::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second;
}

size_t JobRegistry::evict(Clock::time_point now) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<Clock::time_point, std::string>> finished;
  for (const auto& [id, job] : jobs_) {
    if (!is_terminal(job->state())) continue;
    finished.emplace_back(job->finished_steady(), id);
    job->compact_history();
  }
  std::sort(finished.begin(), finished.end());
  size_t dropped = 0;
  for (size_t i = 0; i < finished.size(); ++i) {
    const bool over_count = finished.size() - i > policy_.max_finished;
    const bool expired = now - finished[i].first >= policy_.ttl;
    if (!over_count && !expired) continue;
    jobs_.erase(finished[i].second);
    ++dropped;
  }
  return dropped;
}

std::map<JobState, size_t> JobRegistry::count_by_state() const {
  std::lock_guard lock(mu_);
  std::map<JobState, size_t> counts;
  for (JobState s : {JobState::Queued, JobState::Running, JobState::Succeeded, JobState::Failed, JobState::Cancelled})
    counts[s] = 0;
  for (const auto& [id, job] : jobs_) ++counts[job->state()];
  return counts;
}

size_t JobRegistry::size() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

}  // namespace sdpp::engine
