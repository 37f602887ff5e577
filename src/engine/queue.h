// The bounded FIFO between HTTP threads (producers) and the device workers (consumers). A full queue rejects at once
// (the server answers 429) instead of blocking a request thread. Every change renumbers the waiting jobs'
// queue positions, which they publish as `queued` events.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/job.h"

namespace sdpp::engine {

class JobQueue {
 public:
  explicit JobQueue(size_t capacity);

  size_t capacity() const { return capacity_; }
  size_t size() const;

  bool push(std::shared_ptr<Job> job);        // false when full or closed
  bool push_all(const std::vector<std::shared_ptr<Job>>& jobs);  // all or none (a multi-job request)
  std::shared_ptr<Job> pop();                 // blocks; nullptr once closed
  bool remove(const std::string& id);         // a queued job cancelled; false when not (or no longer) queued
  int position(const std::string& id) const;  // 1-based; 0 when not queued

  // Wakes every pop() with nullptr, refuses further pushes and returns the jobs that were still waiting.
  std::vector<std::shared_ptr<Job>> close();

 private:
  void renumber_locked();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> jobs_;
  bool closed_ = false;
};

}  // namespace sdpp::engine
