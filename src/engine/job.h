// One generation job: its request, state, progress, result and the ordered event stream its subscribers follow.
// Thread-safe: HTTP threads read snapshots and wait for events while the worker thread drives the transitions.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/job_state.h"
#include "sdpp/engine.h"

namespace sdpp::engine {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

struct JobEvent {
  uint64_t seq = 0;  // per job, increasing from 1 (the SSE `id:`); a gap means compacted history
  EventType type = EventType::Queued;
  int queue_position = 0;                          // Queued: 1 = next to run
  int step = 0, total = 0;                         // Progress, Preview
  double it_per_s = 0.0, eta_s = 0.0;              // Progress
  std::shared_ptr<const std::string> preview_png;  // Preview
  std::shared_ptr<const Result> result;            // Completed
  std::string error_code, error_message;           // Failed
};

struct JobSnapshot {
  std::string id;
  JobState state = JobState::Queued;
  std::shared_ptr<const GenerationRequest> request;  // init image and mask dropped once the job ends
  GenerationMode mode = GenerationMode::Txt2Img;     // from the request as submitted
  int queue_position = 0;                            // 0 when not queued
  bool cancel_requested = false;
  int step = 0, total = 0;
  double it_per_s = 0.0, eta_s = 0.0;
  std::shared_ptr<const std::string> preview_png;  // the latest preview, until the job ends
  int preview_step = 0;
  std::shared_ptr<const Result> result;
  std::string error_code, error_message;
  WallClock::time_point created_at, started_at, finished_at;  // epoch when not reached
  double queued_s = 0.0, run_s = 0.0;                        // time spent queued / running so far
  int worker = -1;                                           // which worker (device) ran it
};

class Job {
 public:
  // `history_grace`: how long after the end the job keeps every event, previews included, before compacting to the
  // outcome, so a client that subscribes right after submitting a fast job still sees it develop.
  Job(std::string id, GenerationRequest request, std::chrono::milliseconds history_grace = {});
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  const std::string& id() const { return id_; }
  std::shared_ptr<const GenerationRequest> request() const;
  JobState state() const;
  JobSnapshot snapshot() const;
  Clock::time_point finished_steady() const;  // valid once terminal; used by retention

  // Events with seq > `after`. Waits until at least one exists or `deadline` passes (then returns none).
  // A one-off read: history may be compacted underneath (use JobSubscription to follow a job live).
  std::vector<JobEvent> events_after(uint64_t after, Clock::time_point deadline) const;

  // Cancellation is cooperative: the flag is polled by Engine::generate between steps.
  void request_cancel() { cancel_.store(true); }
  bool cancel_requested() const { return cancel_.load(); }
  const std::atomic<bool>* cancel_flag() const { return &cancel_; }

  // Transitions (the queue and the worker call these). Each appends its event and wakes subscribers.
  void set_queue_position(int position);  // emits Queued when the position changed
  bool start(int worker);                 // Queued -> Running; false (and nothing changes) when cancel was requested
  void report_progress(const Progress& progress);
  void report_preview(int step, int total, std::shared_ptr<const std::string> png);
  void succeed(std::shared_ptr<const Result> result);
  void fail(const std::string& code, const std::string& message);
  void cancel();  // -> Cancelled (from Queued or Running); no-op when already terminal
  void compact_history();  // drops previews and step history once the grace has passed and every subscriber caught up

 private:
  friend class JobSubscription;
  void append_locked(JobEvent event);
  void finish_locked(JobState state);
  void compact_if_unread_locked();

  const std::string id_;
  const GenerationMode mode_;
  const std::chrono::milliseconds history_grace_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::shared_ptr<const GenerationRequest> request_;
  JobState state_ = JobState::Queued;
  int queue_position_ = 0;
  int step_ = 0, total_ = 0;
  double it_per_s_ = 0.0, eta_s_ = 0.0;
  std::shared_ptr<const std::string> preview_png_;
  int preview_step_ = 0;
  std::shared_ptr<const Result> result_;
  std::string error_code_, error_message_;
  WallClock::time_point created_at_, started_at_, finished_at_;
  Clock::time_point created_steady_, started_steady_, finished_steady_;
  int worker_ = -1;
  std::vector<JobEvent> history_;
  uint64_t next_seq_ = 1;
  std::multiset<uint64_t> cursors_;  // last seq each live subscriber has read
  bool compact_pending_ = false;
};

// A live follower of one job (an SSE stream). While it exists, the job keeps every event it has not read yet:
// the end-of-job compaction waits until each subscriber has caught up, so no subscriber misses a step.
class JobSubscription {
 public:
  explicit JobSubscription(std::shared_ptr<Job> job, uint64_t after = 0);
  ~JobSubscription();
  JobSubscription(const JobSubscription&) = delete;
  JobSubscription& operator=(const JobSubscription&) = delete;

  // The next unread events, waiting until `deadline` for one; empty on timeout.
  std::vector<JobEvent> next(Clock::time_point deadline);
  const Job& job() const { return *job_; }

 private:
  std::shared_ptr<Job> job_;
  uint64_t cursor_;
};

}  // namespace sdpp::engine
