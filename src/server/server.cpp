#include "server/server.h"

#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <httplib.h>

#include "core/error.h"
#include "server/context.h"
#include "server/router.h"

namespace sdpp::server {

Server::Server(ServerOptions options, engine::JobService& jobs, const Catalog& catalog)
    : options_(std::move(options)),
      ctx_(new ServerContext{options_, jobs, catalog}),
      http_(std::make_unique<httplib::Server>()) {
  const int threads = std::max(options_.http_threads, 4);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_socket_options([this](int sock) {
    // SO_REUSEADDR only (httplib's default adds SO_REUSEPORT, which lets a second server bind the same port).
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_socket_ = sock;
  });
  http_->set_read_timeout(30, 0);   // large uploads on slow links
  http_->set_write_timeout(30, 0);  // a stalled SSE reader is dropped after this
  if (options_.access_log)
    http_->set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::fprintf(stderr, "sdpp serve: %s %s %s -> %d (%zu bytes)\n", req.remote_addr.c_str(), req.method.c_str(),
                   req.path.c_str(), res.status, res.body.size());
    });
  router_ = std::make_unique<Router>(*http_, options_);
  register_info_routes(*router_, *ctx_);
  register_job_routes(*router_, *ctx_);
  register_sdapi_routes(*router_, *ctx_);
  register_openai_routes(*router_, *ctx_);
  register_static_routes(*router_);
}

Server::~Server() { stop(); }

int Server::bind() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
  } else {
    port_ = http_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0)
    throw Error(ErrorCode::InvalidArgument,
                "cannot listen on " + options_.host + ":" + std::to_string(options_.port) + " (address in use?)");
  // httplib listens with a backlog of 5; under a burst of clients the kernel then drops connections it has already
  // acknowledged, and those clients see a reset. Listening again on the same socket only enlarges the backlog.
  if (listen_socket_ >= 0) ::listen(listen_socket_, 1024);
  return port_;
}

void Server::listen() {
  {
    const std::lock_guard lock(listen_mutex_);
    if (stop_requested_) return;
    listen_started_ = true;
  }
  http_->listen_after_bind();
  listen_returned_.store(true);
}

void Server::begin_shutdown() { ctx_->stopping.store(true); }

void Server::stop() {
  begin_shutdown();
  {
    const std::lock_guard lock(listen_mutex_);
    stop_requested_ = true;
    if (!listen_started_) return;  // listen() sees the request and does not start
  }
  // listen() is on its way into httplib's loop (a few instructions) or in it: stop it once it runs. A `sdpp serve`
  // startup that fails at once (a broken model file) used to hang under load, its stop() landing before the loop.
  while (!http_->is_running() && !listen_returned_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

}  // namespace sdpp::server
