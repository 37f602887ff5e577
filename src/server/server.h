// The HTTP server: parses, validates and streams on httplib's thread pool; all generation happens on the
// JobService's workers. `sdpp serve` owns one; tests can run one in-process on a loopback port.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>

#include "engine/job_service.h"
#include "server/catalog.h"
#include "server/server_options.h"

namespace httplib {
class Server;
}

namespace sdpp::server {

struct ServerContext;
class Router;

class Server {
 public:
  Server(ServerOptions options, engine::JobService& jobs, const Catalog& catalog);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int bind();       // binds options.host:port (port 0 = any free one) and returns the port; throws Error
  void listen();    // serves until stop(); call after bind()
  void stop();      // ends streams, stops accepting and makes listen() return, or return at once if it comes later;
                    // safe from any thread
  void begin_shutdown();  // streams and synchronous waits end; new jobs get 503 (before JobService::shutdown)
  int port() const { return port_; }

 private:
  ServerOptions options_;
  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<httplib::Server> http_;
  std::unique_ptr<Router> router_;
  int port_ = 0;
  int listen_socket_ = -1;
  // httplib's stop() does nothing before its listen loop runs, so a stop() that came first would leave listen()
  // serving forever: these order the two.
  std::mutex listen_mutex_;
  bool stop_requested_ = false;
  bool listen_started_ = false;
  std::atomic<bool> listen_returned_{false};
};

}  // namespace sdpp::server
