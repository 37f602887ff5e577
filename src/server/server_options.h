// Everything `sdpp serve` can configure about the HTTP side: address, access control, body and request limits,
// and how long streams and synchronous calls may last.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sdpp::server {

// Per-request limits; each violation is a 400 naming the field and the limit.
struct RequestLimits {
  int min_side = 64;
  int max_side = 2048;
  int max_steps = 150;
  int max_batch = 8;
  // width x height x batch x steps: bounds one request's compute so a single client cannot hold a device for hours.
  uint64_t max_work = uint64_t(1024) * 1024 * 4 * 50;
  size_t max_prompt_bytes = 16384;
  int max_image_side = 4096;  // decoded uploads (init image, mask)
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 7860;                    // 0 = any free port (printed at startup)
  std::string api_key;                // when set, /v1/* and /sdapi/* need "Authorization: Bearer KEY" or "X-API-Key"
  std::string cors_origin;            // when set, sent as Access-Control-Allow-Origin; preflights answered
  size_t max_body_bytes = 32u << 20;  // larger bodies get 413
  int http_threads = 64;              // each SSE subscriber and each synchronous /sdapi call holds one
  std::chrono::milliseconds sse_keepalive{15000};
  std::chrono::seconds sync_timeout{600};  // the longest /sdapi/v1/*2img and /v1/images/generations wait
  int retry_after_s = 5;                   // Retry-After on 429
  bool access_log = false;                 // one stderr line per request: method, path, status, bytes
  RequestLimits limits;
};

}  // namespace sdpp::server
