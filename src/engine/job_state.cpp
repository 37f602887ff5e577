#include "engine/job_state.h"

namespace sdpp::engine {

const char* job_state_name(JobState state) {
  switch (state) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Succeeded: return "succeeded";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
  }
  return "unknown";
}

const char* event_type_name(EventType type) {
  switch (type) {
    case EventType::Queued: return "queued";
    case EventType::Started: return "started";
    case EventType::Progress: return "progress";
    case EventType::Preview: return "preview";
    case EventType::Completed: return "completed";
    case EventType::Failed: return "failed";
    case EventType::Cancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace sdpp::engine
