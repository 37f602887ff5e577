#include "engine/job.h"

#include <algorithm>
#include <utility>

namespace sdpp::engine {

namespace {

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

Job::Job(std::string id, GenerationRequest request, std::chrono::milliseconds history_grace)
    : id_(std::move(id)),
      mode_(request.mode()),
      history_grace_(history_grace),
      request_(std::make_shared<const GenerationRequest>(std::move(request))),
      created_at_(WallClock::now()),
      created_steady_(Clock::now()) {}

std::shared_ptr<const GenerationRequest> Job::request() const {
  std::lock_guard lock(mu_);
  return request_;
}

JobState Job::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

Clock::time_point Job::finished_steady() const {
  std::lock_guard lock(mu_);
  return finished_steady_;
}

JobSnapshot Job::snapshot() const {
  std::lock_guard lock(mu_);
  JobSnapshot s;
  s.id = id_;
  s.state = state_;
  s.request = request_;
  s.mode = mode_;
  s.queue_position = state_ == JobState::Queued ? queue_position_ : 0;
  s.cancel_requested = cancel_.load();
  s.step = step_;
  s.total = total_;
  s.it_per_s = it_per_s_;
  s.eta_s = eta_s_;
  s.preview_png = preview_png_;
  s.preview_step = preview_step_;
  s.result = result_;
  s.error_code = error_code_;
  s.error_message = error_message_;
  s.created_at = created_at_;
  s.started_at = started_at_;
  s.finished_at = finished_at_;
  s.worker = worker_;
  const Clock::time_point now = Clock::now();
  const bool started = state_ != JobState::Queued && started_steady_ != Clock::time_point{};
  const Clock::time_point queue_end = started ? started_steady_ : (is_terminal(state_) ? finished_steady_ : now);
  s.queued_s = seconds_between(created_steady_, queue_end);
  if (started) s.run_s = seconds_between(started_steady_, is_terminal(state_) ? finished_steady_ : now);
  return s;
}

std::vector<JobEvent> Job::events_after(uint64_t after, Clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return next_seq_ - 1 > after; });
  std::vector<JobEvent> out;
  for (const JobEvent& e : history_)
    if (e.seq > after) out.push_back(e);
  return out;
}

void Job::append_locked(JobEvent event) {
  event.seq = next_seq_++;
  // While a job waits only its latest queue position matters; keep one Queued event.
  if (event.type == EventType::Queued)
    std::erase_if(history_, [](const JobEvent& e) { return e.type == EventType::Queued; });
  history_.push_back(std::move(event));
  cv_.notify_all();
}

void Job::set_queue_position(int position) {
  std::lock_guard lock(mu_);
  if (state_ != JobState::Queued || position == queue_position_) return;
  queue_position_ = position;
  JobEvent e;
  e.type = EventType::Queued;
  e.queue_position = position;
  append_locked(std::move(e));
}

bool Job::start(int worker) {
  std::lock_guard lock(mu_);
  if (state_ != JobState::Queued || cancel_.load()) return false;
  state_ = JobState::Running;
  queue_position_ = 0;
  worker_ = worker;
  started_at_ = WallClock::now();
  started_steady_ = Clock::now();
  total_ = request_->steps;
  JobEvent e;
  e.type = EventType::Started;
  e.total = total_;
  append_locked(std::move(e));
  return true;
}

void Job::report_progress(const Progress& progress) {
  std::lock_guard lock(mu_);
  if (state_ != JobState::Running) return;
  step_ = progress.step;
  total_ = progress.total;
  it_per_s_ = progress.it_per_s;
  eta_s_ = progress.eta_s;
  JobEvent e;
  e.type = EventType::Progress;
  e.step = step_;
  e.total = total_;
  e.it_per_s = it_per_s_;
  e.eta_s = eta_s_;
  append_locked(std::move(e));
}

void Job::report_preview(int step, int total, std::shared_ptr<const std::string> png) {
  std::lock_guard lock(mu_);
  if (state_ != JobState::Running) return;
  preview_png_ = png;
  preview_step_ = step;
  JobEvent e;
  e.type = EventType::Preview;
  e.step = step;
  e.total = total;
  e.preview_png = std::move(png);
  append_locked(std::move(e));
}

void Job::finish_locked(JobState state) {
  state_ = state;
  queue_position_ = 0;
  finished_at_ = WallClock::now();
  finished_steady_ = Clock::now();
  preview_png_.reset();
  // The source images are only needed while generating; finished jobs are retained for a while, keep them light.
  if (request_->init_image || request_->mask) {
    auto light = std::make_shared<GenerationRequest>(*request_);
    light->init_image.reset();
    light->mask.reset();
    request_ = std::move(light);
  }
  compact_pending_ = true;
  compact_if_unread_locked();
}

void Job::compact_history() {
  std::lock_guard lock(mu_);
  compact_if_unread_locked();
}

void Job::compact_if_unread_locked() {
  if (!compact_pending_ || Clock::now() - finished_steady_ < history_grace_) return;
  if (!cursors_.empty() && *cursors_.begin() + 1 < next_seq_) return;  // a live subscriber has not read everything
  compact_pending_ = false;
  // A subscriber that joins after the end needs the outcome, not every step: keep the last event of each kind
  // except previews (the bulk of the memory).
  std::vector<JobEvent> kept;
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->type == EventType::Preview) continue;
    const bool seen = std::any_of(kept.begin(), kept.end(), [&](const JobEvent& k) { return k.type == it->type; });
    if (!seen) kept.push_back(std::move(*it));
  }
  std::reverse(kept.begin(), kept.end());
  history_ = std::move(kept);
}

void Job::succeed(std::shared_ptr<const Result> result) {
  std::lock_guard lock(mu_);
  if (is_terminal(state_)) return;
  result_ = result;
  if (total_ > 0) step_ = total_;
  JobEvent e;
  e.type = EventType::Completed;
  e.result = std::move(result);
  e.seq = next_seq_++;
  history_.push_back(std::move(e));
  finish_locked(JobState::Succeeded);
  cv_.notify_all();
}

void Job::fail(const std::string& code, const std::string& message) {
  std::lock_guard lock(mu_);
  if (is_terminal(state_)) return;
  error_code_ = code;
  error_message_ = message;
  JobEvent e;
  e.type = EventType::Failed;
  e.error_code = code;
  e.error_message = message;
  e.seq = next_seq_++;
  history_.push_back(std::move(e));
  finish_locked(JobState::Failed);
  cv_.notify_all();
}

void Job::cancel() {
  std::lock_guard lock(mu_);
  if (is_terminal(state_)) return;
  cancel_.store(true);
  JobEvent e;
  e.type = EventType::Cancelled;
  e.seq = next_seq_++;
  history_.push_back(std::move(e));
  finish_locked(JobState::Cancelled);
  cv_.notify_all();
}

JobSubscription::JobSubscription(std::shared_ptr<Job> job, uint64_t after) : job_(std::move(job)), cursor_(after) {
  std::lock_guard lock(job_->mu_);
  job_->cursors_.insert(cursor_);
}

JobSubscription::~JobSubscription() {
  std::lock_guard lock(job_->mu_);
  job_->cursors_.erase(job_->cursors_.find(cursor_));
  job_->compact_if_unread_locked();
}

std::vector<JobEvent> JobSubscription::next(Clock::time_point deadline) {
  Job& job = *job_;
  std::unique_lock lock(job.mu_);
  job.cv_.wait_until(lock, deadline, [&] { return job.next_seq_ - 1 > cursor_; });
  std::vector<JobEvent> out;
  for (const JobEvent& e : job.history_)
    if (e.seq > cursor_) out.push_back(e);
  if (!out.empty()) {
    job.cursors_.erase(job.cursors_.find(cursor_));
    cursor_ = out.back().seq;
    job.cursors_.insert(cursor_);
    job.compact_if_unread_locked();
  }
  return out;
}

}  // namespace sdpp::engine
