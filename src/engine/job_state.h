// The life of a job: queued -> running -> succeeded | failed | cancelled (a queued job may be cancelled directly).
#pragma once

namespace sdpp::engine {

enum class JobState { Queued, Running, Succeeded, Failed, Cancelled };

const char* job_state_name(JobState state);  // "queued", "running", ... (the API's status strings)
inline bool is_terminal(JobState state) { return state != JobState::Queued && state != JobState::Running; }

// What subscribers see, in order. `Queued` repeats when the queue position changes.
enum class EventType { Queued, Started, Progress, Preview, Completed, Failed, Cancelled };

const char* event_type_name(EventType type);  // the SSE `event:` names

}  // namespace sdpp::engine
