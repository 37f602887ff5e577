#include "server/metrics_text.h"

#include <cstdio>

namespace sdpp::server {

namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string prometheus_metrics(const ServerContext& ctx) {
  using engine::JobState;
  const engine::MetricsSnapshot m = ctx.jobs.metrics();
  std::string out;
  family(out, "sdpp_queue_depth", "gauge", "Jobs waiting in the queue.");
  out += "sdpp_queue_depth " + std::to_string(ctx.jobs.queue_depth()) + "\n";
  family(out, "sdpp_queue_capacity", "gauge", "Queue size; submissions beyond it get 429.");
  out += "sdpp_queue_capacity " + std::to_string(ctx.jobs.queue_capacity()) + "\n";
  family(out, "sdpp_workers", "gauge", "Engine workers (one per device).");
  out += "sdpp_workers " + std::to_string(ctx.jobs.worker_count()) + "\n";
  family(out, "sdpp_jobs", "gauge", "Jobs the server holds, by state (finished ones until evicted).");
  for (const auto& [state, count] : ctx.jobs.jobs_by_state())
    out += std::string("sdpp_jobs{state=\"") + engine::job_state_name(state) + "\"} " + std::to_string(count) + "\n";
  family(out, "sdpp_jobs_submitted_total", "counter", "Jobs accepted into the queue.");
  out += "sdpp_jobs_submitted_total " + std::to_string(m.submitted) + "\n";
  family(out, "sdpp_jobs_rejected_total", "counter", "Submissions refused because the queue was full.");
  out += "sdpp_jobs_rejected_total{reason=\"queue_full\"} " + std::to_string(m.rejected_queue_full) + "\n";
  family(out, "sdpp_jobs_finished_total", "counter", "Jobs that ended, by outcome.");
  out += "sdpp_jobs_finished_total{state=\"succeeded\"} " + std::to_string(m.succeeded) + "\n";
  out += "sdpp_jobs_finished_total{state=\"failed\"} " + std::to_string(m.failed) + "\n";
  out += "sdpp_jobs_finished_total{state=\"cancelled\"} " + std::to_string(m.cancelled) + "\n";
  family(out, "sdpp_images_generated_total", "counter", "Images produced by succeeded jobs.");
  out += "sdpp_images_generated_total " + std::to_string(m.images_generated) + "\n";
  family(out, "sdpp_step_latency_seconds", "histogram", "Wall time of one denoising step (UNet + scheduler).");
  const auto& h = m.step_latency;
  for (size_t i = 0; i < h.kBounds.size(); ++i)
    out += "sdpp_step_latency_seconds_bucket{le=\"" + number(h.kBounds[i]) + "\"} " + std::to_string(h.cumulative[i]) +
           "\n";
  out += "sdpp_step_latency_seconds_bucket{le=\"+Inf\"} " + std::to_string(h.count) + "\n";
  out += "sdpp_step_latency_seconds_sum " + number(h.sum) + "\n";
  out += "sdpp_step_latency_seconds_count " + std::to_string(h.count) + "\n";
  family(out, "sdpp_ready", "gauge", "1 once models are loaded and the server accepts jobs.");
  out += std::string("sdpp_ready ") + (ctx.catalog.ready() && ctx.jobs.accepting() ? "1" : "0") + "\n";
  return out;
}

}  // namespace sdpp::server
