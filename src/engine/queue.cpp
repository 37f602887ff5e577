#include "engine/queue.h"

#include <algorithm>

namespace sdpp::engine {

JobQueue::JobQueue(size_t capacity) : capacity_(capacity) {}

size_t JobQueue::size() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

void JobQueue::renumber_locked() {
  for (size_t i = 0; i < jobs_.size(); ++i) jobs_[i]->set_queue_position(static_cast<int>(i + 1));
}

bool JobQueue::push(std::shared_ptr<Job> job) { return push_all({std::move(job)}); }

bool JobQueue::push_all(const std::vector<std::shared_ptr<Job>>& jobs) {
  {
    std::lock_guard lock(mu_);
    if (closed_ || jobs_.size() + jobs.size() > capacity_) return false;
    for (const auto& job : jobs) {
      jobs_.push_back(job);
      job->set_queue_position(static_cast<int>(jobs_.size()));
    }
  }
  cv_.notify_all();
  return true;
}

std::shared_ptr<Job> JobQueue::pop() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
  if (closed_) return nullptr;
  std::shared_ptr<Job> job = std::move(jobs_.front());
  jobs_.pop_front();
  renumber_locked();
  return job;
}

bool JobQueue::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(jobs_.begin(), jobs_.end(), [&](const auto& j) { return j->id() == id; });
  if (it == jobs_.end()) return false;
  jobs_.erase(it);
  renumber_locked();
  return true;
}

int JobQueue::position(const std::string& id) const {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < jobs_.size(); ++i)
    if (jobs_[i]->id() == id) return static_cast<int>(i + 1);
  return 0;
}

std::vector<std::shared_ptr<Job>> JobQueue::close() {
  std::vector<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    left.assign(jobs_.begin(), jobs_.end());
    jobs_.clear();
  }
  cv_.notify_all();
  return left;
}

}  // namespace sdpp::engine
