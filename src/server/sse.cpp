#include "server/sse.h"

#include "server/job_json.h"

namespace sdpp::server {

using engine::Clock;

namespace {

struct StreamState {
  explicit StreamState(std::shared_ptr<engine::Job> job, uint64_t after) : subscription(std::move(job), after) {}
  engine::JobSubscription subscription;
  Clock::time_point last_write = Clock::now();
  bool greeted = false;
  bool finished = false;
};

bool is_terminal_event(engine::EventType t) {
  return t == engine::EventType::Completed || t == engine::EventType::Failed || t == engine::EventType::Cancelled;
}

}  // namespace

std::string sse_message(const std::string& event, uint64_t id, const nlohmann::json& data) {
  return "id: " + std::to_string(id) + "\nevent: " + event + "\ndata: " +
         data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

void stream_job_events(ServerContext& ctx, std::shared_ptr<engine::Job> job, uint64_t after, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // reverse proxies must not hold events back
  auto state = std::make_shared<StreamState>(job, after);
  const std::string id = job->id();
  res.set_chunked_content_provider("text/event-stream", [&ctx, state, id](size_t, httplib::DataSink& sink) {
    if (state->finished || ctx.stopping.load()) {
      sink.done();
      return true;
    }
    std::string out;
    if (!state->greeted) {
      out = "retry: 2000\n\n";  // how soon EventSource reconnects (it then sends Last-Event-ID)
      state->greeted = true;
    }
    // Short waits so shutdown and keep-alives are noticed without a timer thread.
    const Clock::time_point now = Clock::now();
    const Clock::time_point deadline = std::min(now + std::chrono::milliseconds(250), state->last_write +
                                                                                          ctx.options.sse_keepalive);
    for (const engine::JobEvent& e : state->subscription.next(std::max(deadline, now))) {
      out += sse_message(engine::event_type_name(e.type), e.seq, event_json(id, e));
      if (is_terminal_event(e.type)) state->finished = true;
    }
    if (out.empty() && Clock::now() - state->last_write >= ctx.options.sse_keepalive) out = ": keep-alive\n\n";
    if (out.empty()) return true;
    if (!sink.write(out.data(), out.size())) return false;  // the client went away
    state->last_write = Clock::now();
    if (state->finished) sink.done();
    return true;
  });
}

}  // namespace sdpp::server
