#include "engine/job_service.h"

#include <gtest/gtest.h>

#include <thread>

#include "fake_generator.h"

namespace sdpp::engine {
namespace {

using namespace std::chrono_literals;
using testing::FakeGenerator;
using testing::Gate;

GenerationRequest request(const std::string& prompt, int steps = 4, int preview_every = 0) {
  GenerationRequest r;
  r.prompt = prompt;
  r.steps = steps;
  r.preview_every = preview_every;
  r.seed = 42;
  return r;
}

ServiceOptions options(size_t queue_size = 8) {
  ServiceOptions o;
  o.queue_size = queue_size;
  o.retention.event_history = 0ms;  // compact as soon as a job ends (the grace has a test of its own)
  o.encode_preview = testing::encode_preview_for_test;
  return o;
}

std::shared_ptr<Job> submit_one(JobService& s, GenerationRequest r) {
  std::vector<GenerationRequest> v;
  v.push_back(std::move(r));
  SubmitResult res = s.submit(std::move(v));
  return res.jobs.empty() ? nullptr : res.jobs.front();
}

// Follows a job's events as an SSE subscriber does, until the terminal one.
std::vector<JobEvent> follow(JobSubscription& sub) {
  std::vector<JobEvent> seen;
  const Clock::time_point give_up = Clock::now() + 10s;
  while (Clock::now() < give_up) {
    for (JobEvent& e : sub.next(Clock::now() + 100ms)) {
      const bool terminal = e.type == EventType::Completed || e.type == EventType::Failed ||
                            e.type == EventType::Cancelled;
      seen.push_back(std::move(e));
      if (terminal) return seen;
    }
  }
  ADD_FAILURE() << "job " << sub.job().id() << " did not finish";
  return seen;
}

std::vector<JobEvent> follow(std::shared_ptr<Job> job) {
  JobSubscription sub(std::move(job));
  return follow(sub);
}

void wait_for_state(const Job& job, JobState state) {
  const Clock::time_point give_up = Clock::now() + 10s;
  while (job.state() != state && Clock::now() < give_up) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(job_state_name(job.state()), std::string(job_state_name(state)));
}

std::vector<std::string> names(const std::vector<JobEvent>& events) {
  std::vector<std::string> out;
  for (const JobEvent& e : events) {
    std::string n = event_type_name(e.type);
    if (e.type == EventType::Progress || e.type == EventType::Preview) n += ":" + std::to_string(e.step);
    if (e.type == EventType::Queued) n += ":" + std::to_string(e.queue_position);
    out.push_back(n);
  }
  return out;
}

TEST(JobService, LiveSubscriberSeesEveryEventInOrder) {
  Gate gate;
  JobService service(options(), {FakeGenerator{&gate}.fn()});
  auto job = submit_one(service, request("a cat", 4, 2));
  ASSERT_TRUE(job);
  JobSubscription slow(job);  // subscribed from the start, reads only after the job has ended
  std::vector<JobEvent> events;
  std::thread subscriber([&] { events = follow(job); });
  wait_for_state(*job, JobState::Running);
  gate.open();
  subscriber.join();
  const std::vector<JobEvent> slow_events = follow(slow);
  EXPECT_EQ(names(slow_events), names(events));
  EXPECT_EQ(names(events), (std::vector<std::string>{"queued:1", "started", "progress:1", "progress:2", "preview:2",
                                                     "progress:3", "progress:4", "completed"}));
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].seq, events[i - 1].seq);
  EXPECT_EQ(*events[4].preview_png, "preview-2");
  ASSERT_TRUE(events.back().result);
  EXPECT_EQ(events.back().result->seed, 42u);
  EXPECT_EQ(job->snapshot().state, JobState::Succeeded);
}

TEST(JobService, LateSubscriberGetsCompactedHistoryWithoutPreviews) {
  JobService service(options(), {FakeGenerator{}.fn()});
  auto job = submit_one(service, request("a dog", 6, 1));
  follow(job);
  const std::vector<JobEvent> late = job->events_after(0, Clock::now());
  EXPECT_EQ(names(late), (std::vector<std::string>{"queued:1", "started", "progress:6", "completed"}));
  const JobSnapshot s = job->snapshot();
  EXPECT_EQ(s.step, 6);
  EXPECT_FALSE(s.preview_png);  // previews are dropped once the job ends
}

TEST(JobService, FinishedJobKeepsItsFullHistoryForTheGrace) {
  ServiceOptions o = options();
  o.retention.event_history = 300ms;
  JobService service(o, {FakeGenerator{}.fn()});
  auto job = submit_one(service, request("quick", 4, 2));
  follow(job);
  // A client that subscribes just after a fast job ended still sees it develop, previews included.
  EXPECT_EQ(names(job->events_after(0, Clock::now())),
            (std::vector<std::string>{"queued:1", "started", "progress:1", "progress:2", "preview:2", "progress:3",
                                      "progress:4", "completed"}));
  std::this_thread::sleep_for(350ms);
  job->compact_history();
  EXPECT_EQ(names(job->events_after(0, Clock::now())),
            (std::vector<std::string>{"queued:1", "started", "progress:4", "completed"}));
}

TEST(JobService, QueuePositionsFollowTheQueue) {
  Gate gate;
  JobService service(options(), {FakeGenerator{&gate}.fn()});
  auto a = submit_one(service, request("a"));
  wait_for_state(*a, JobState::Running);
  auto b = submit_one(service, request("b"));
  auto c = submit_one(service, request("c"));
  auto d = submit_one(service, request("d"));
  EXPECT_EQ(b->snapshot().queue_position, 1);
  EXPECT_EQ(c->snapshot().queue_position, 2);
  EXPECT_EQ(d->snapshot().queue_position, 3);
  EXPECT_EQ(service.queue_depth(), 3u);

  EXPECT_EQ(service.cancel(b->id()), CancelOutcome::Cancelled);
  EXPECT_EQ(b->state(), JobState::Cancelled);
  EXPECT_EQ(c->snapshot().queue_position, 1);
  EXPECT_EQ(d->snapshot().queue_position, 2);
  // d moved from 3 to 2: its stream says so (one Queued event kept, the latest).
  EXPECT_EQ(names(d->events_after(0, Clock::now())), (std::vector<std::string>{"queued:2"}));

  gate.open();
  follow(d);
  EXPECT_EQ(c->state(), JobState::Succeeded);
  EXPECT_EQ(d->state(), JobState::Succeeded);
  EXPECT_EQ(service.cancel(d->id()), CancelOutcome::AlreadyFinished);
  EXPECT_EQ(service.cancel("no-such-job"), CancelOutcome::NotFound);
}

TEST(JobService, FullQueueRejectsWithoutLosingAcceptedJobs) {
  Gate gate;
  JobService service(options(2), {FakeGenerator{&gate}.fn()});
  auto running = submit_one(service, request("running"));
  wait_for_state(*running, JobState::Running);
  ASSERT_TRUE(submit_one(service, request("q1")));
  std::vector<GenerationRequest> two = {request("q2"), request("q3")};
  SubmitResult all_or_none = service.submit(std::move(two));
  EXPECT_EQ(all_or_none.error, SubmitError::QueueFull);
  EXPECT_TRUE(all_or_none.jobs.empty());
  ASSERT_TRUE(submit_one(service, request("q2")));
  SubmitResult full = service.submit({request("q4")});
  EXPECT_EQ(full.error, SubmitError::QueueFull);
  EXPECT_EQ(service.metrics().rejected_queue_full, 2u);
  EXPECT_EQ(service.jobs_retained(), 3u);  // rejected jobs leave no trace
  gate.open();
}

TEST(JobService, CancelRunningStopsAtNextStep) {
  Gate gate;
  JobService service(options(), {FakeGenerator{&gate}.fn()});
  auto a = submit_one(service, request("a", 50));
  auto b = submit_one(service, request("b", 2));
  wait_for_state(*a, JobState::Running);
  EXPECT_EQ(service.cancel(a->id()), CancelOutcome::Requested);
  EXPECT_TRUE(a->snapshot().cancel_requested);
  gate.open();
  const std::vector<JobEvent> events = follow(a);
  EXPECT_EQ(events.back().type, EventType::Cancelled);
  EXPECT_LT(a->snapshot().step, 50);
  EXPECT_EQ(follow(b).back().type, EventType::Completed);  // the worker goes on
  const MetricsSnapshot m = service.metrics();
  EXPECT_EQ(m.cancelled, 1u);
  EXPECT_EQ(m.succeeded, 1u);
}

TEST(JobService, FailingJobFailsAloneAndTheNextRuns) {
  JobService service(options(), {FakeGenerator{}.fn()});
  auto bad = submit_one(service, request("fail"));
  auto good = submit_one(service, request("fine", 3));
  const std::vector<JobEvent> events = follow(bad);
  EXPECT_EQ(events.back().type, EventType::Failed);
  EXPECT_EQ(events.back().error_code, "out_of_memory");
  EXPECT_NE(events.back().error_message.find("out of device memory"), std::string::npos);
  EXPECT_EQ(follow(good).back().type, EventType::Completed);
  const MetricsSnapshot m = service.metrics();
  EXPECT_EQ(m.failed, 1u);
  EXPECT_EQ(m.images_generated, 1u);
  EXPECT_EQ(m.step_latency.count, 2u);  // 3 steps -> 2 step-to-step intervals
}

TEST(JobService, WorkersRunConcurrently) {
  Gate gate;
  JobService service(options(), {FakeGenerator{&gate}.fn(), FakeGenerator{&gate}.fn()});
  auto a = submit_one(service, request("a"));
  auto b = submit_one(service, request("b"));
  wait_for_state(*a, JobState::Running);
  wait_for_state(*b, JobState::Running);
  EXPECT_EQ(service.running().size(), 2u);
  EXPECT_NE(a->snapshot().worker, b->snapshot().worker);
  gate.open();
  follow(a);
  follow(b);
}

TEST(JobService, ShutdownCancelsQueuedAndStopsRunningAfterGrace) {
  Gate gate;
  JobService service(options(), {FakeGenerator{&gate}.fn()});
  auto a = submit_one(service, request("a", 100));
  wait_for_state(*a, JobState::Running);
  auto b = submit_one(service, request("b"));
  auto c = submit_one(service, request("c"));
  std::thread opener([&] {
    std::this_thread::sleep_for(200ms);
    gate.open();
  });
  const ShutdownReport report = service.shutdown(50ms);
  opener.join();
  EXPECT_EQ(report.cancelled_queued, 2u);
  EXPECT_EQ(report.cancelled_running, 1u);
  EXPECT_EQ(report.finished_running, 0u);
  EXPECT_EQ(a->state(), JobState::Cancelled);
  EXPECT_EQ(b->state(), JobState::Cancelled);
  EXPECT_EQ(c->state(), JobState::Cancelled);
  EXPECT_EQ(service.submit({request("late")}).error, SubmitError::ShuttingDown);
}

TEST(JobService, ShutdownLetsRunningJobFinishWithinGrace) {
  JobService service(options(), {FakeGenerator{}.fn()});
  auto a = submit_one(service, request("a", 3));
  wait_for_state(*a, JobState::Succeeded);
  const ShutdownReport report = service.shutdown(1000ms);
  EXPECT_EQ(report.cancelled_queued + report.cancelled_running, 0u);
}

TEST(JobRegistry, EvictsOldestFinishedBeyondCountAndAfterTtl) {
  JobRegistry registry({.max_finished = 2, .ttl = std::chrono::seconds(60)});
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(registry.create(request("p" + std::to_string(i))));
    jobs.back()->succeed(std::make_shared<const Result>());
    std::this_thread::sleep_for(2ms);
  }
  auto active = registry.create(request("still queued"));
  EXPECT_EQ(registry.evict(), 2u);
  EXPECT_FALSE(registry.find(jobs[0]->id()));
  EXPECT_FALSE(registry.find(jobs[1]->id()));
  EXPECT_TRUE(registry.find(jobs[3]->id()));
  EXPECT_EQ(registry.evict(Clock::now() + std::chrono::seconds(61)), 2u);
  EXPECT_TRUE(registry.find(active->id()));  // never evicted while active
  EXPECT_EQ(registry.size(), 1u);
}

TEST(Job, FinishedJobDropsItsSourceImages) {
  GenerationRequest r = request("img2img");
  r.init_image = Image{8, 8, 3, std::vector<uint8_t>(192, 1)};
  r.mask = Image{8, 8, 1, std::vector<uint8_t>(64, 255)};
  Job job("id", std::move(r));
  ASSERT_TRUE(job.start(0));
  EXPECT_TRUE(job.request()->init_image);
  job.fail("internal", "boom");
  EXPECT_FALSE(job.request()->init_image);
  EXPECT_FALSE(job.request()->mask);
  EXPECT_EQ(job.request()->prompt, "img2img");
}

TEST(Job, StartRefusedAfterCancelRequest) {
  Job job("id", request("x"));
  job.request_cancel();
  EXPECT_FALSE(job.start(0));
  EXPECT_EQ(job.state(), JobState::Queued);
}

}  // namespace
}  // namespace sdpp::engine
