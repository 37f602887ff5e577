#include "serve_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "../fixtures_dir.h"
#include "../test_device.h"
#include "server/base64.h"

namespace sdpp::testing {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string fixture_models_dir() { return (test::fixtures_dir() / "models").string(); }

ServeProcess::ServeProcess(std::vector<std::string> extra, std::vector<std::string> models) {
  if (models.empty()) models.push_back(fixture_models_dir() + "/sd15");
  std::vector<std::string> args = {SDPP_BINARY, "serve"};
  for (const auto& [flag, value] : {std::pair<std::string, std::string>{"--port", "0"}, {"--sse-keepalive", "0.5"},
                                    {"--shutdown-grace", "2"}}) {
    if (std::find(extra.begin(), extra.end(), flag) != extra.end()) continue;  // the test sets its own
    args.push_back(flag);
    args.push_back(value);
  }
  for (const std::string& m : models) {
    args.push_back("--models");
    args.push_back(m);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  if (const std::string device = test::test_device(); !device.empty()) {  // e.g. cuda: the same tests on a GPU
    args.push_back("--device");
    args.push_back(device);
  }
  char tmpl[] = "/tmp/sdpp-serve-log-XXXXXX";
  const int log_fd = mkstemp(tmpl);
  log_path_ = tmpl;
  int out[2];
  if (pipe(out) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec. The server dies with the test process, even a crashed one.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out[1], 1);
    dup2(log_fd, 2);
    close(out[0]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(log_fd);
  if (pid_ < 0) throw std::runtime_error("cannot start " + std::string(SDPP_BINARY));

  // The first stdout line names the port: "sdpp serve: listening on http://127.0.0.1:PORT".
  std::string line;
  const Clock::time_point give_up = Clock::now() + 60s;
  while (line.find('\n') == std::string::npos && Clock::now() < give_up) {
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char buf[256];
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, size_t(n));
  }
  close(out[0]);
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(R"(listening on http://[^:]+:(\d+))")))
    throw std::runtime_error("sdpp serve did not start; stdout: " + line + "\nstderr: " + log());
  port_ = std::stoi(m[1]);
  httplib::Client c("127.0.0.1", port_);
  while (Clock::now() < give_up) {
    if (auto res = c.Get("/ready"); res && res->status == 200) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      throw std::runtime_error("sdpp serve exited with status " + std::to_string(exit_status_) + ": " + log());
    }
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("sdpp serve never became ready; stderr: " + log());
}

ServeProcess::~ServeProcess() {
  // Every test ends with a clean shutdown: exit status 0 (under ASan this also means no leak report).
  if (exit_status_ < 0 && pid_ > 0) {
    const int status = stop(SIGTERM);
    EXPECT_EQ(status, 0) << "sdpp serve did not shut down cleanly; stderr:\n" << log();
  }
  unlink(log_path_.c_str());
}

std::unique_ptr<httplib::Client> ServeProcess::client(int read_timeout_s) const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
  c->set_read_timeout(read_timeout_s, 0);
  c->set_connection_timeout(5, 0);
  return c;
}

int ServeProcess::stop(int signal) {
  if (exit_status_ >= 0) return exit_status_;
  kill(pid_, signal);
  int status = 0;
  const Clock::time_point give_up = Clock::now() + 30s;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > give_up) {
      ADD_FAILURE() << "sdpp serve did not exit within 30s of signal " << signal << "; killing it";
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_status_;
}

bool ServeProcess::alive() const { return exit_status_ < 0 && kill(pid_, 0) == 0; }

std::string ServeProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t ServeProcess::rss_bytes() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      size_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

SseStream read_sse(int port, const std::string& path, const std::function<bool(const SseEvent&)>& on_event,
                   std::chrono::seconds timeout, const httplib::Headers& headers) {
  SseStream stream;
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(timeout.count(), 0);
  std::string buffer;
  bool stop = false;
  const Clock::time_point give_up = Clock::now() + timeout;
  auto res = c.Get(
      path, headers,
      [&](const httplib::Response& r) {
        stream.status = r.status;
        return true;
      },
      [&](const char* data, size_t n) {
        buffer.append(data, n);
        size_t cut;
        while (!stop && (cut = buffer.find("\n\n")) != std::string::npos) {
          const std::string block = buffer.substr(0, cut);
          buffer.erase(0, cut + 2);
          SseEvent e;
          std::string data_text;
          std::istringstream lines(block);
          for (std::string line; std::getline(lines, line);) {
            if (line.rfind(": keep-alive", 0) == 0) ++stream.keepalives;
            if (line.rfind("event: ", 0) == 0) e.name = line.substr(7);
            if (line.rfind("id: ", 0) == 0) e.id = std::stoull(line.substr(4));
            if (line.rfind("data: ", 0) == 0) data_text += line.substr(6);
          }
          if (e.name.empty()) continue;
          e.data = nlohmann::json::parse(data_text);
          stream.events.push_back(e);
          if (on_event && !on_event(e)) stop = true;
          if (e.name == "completed" || e.name == "failed" || e.name == "cancelled") stop = true;
        }
        return !stop && Clock::now() < give_up;
      });
  if (res && stream.status == 0) stream.status = res->status;
  return stream;
}

std::thread subscribe(int port, const std::string& id, SseStream& out, std::atomic<bool>* first) {
  return std::thread([port, id, &out, first] {
    out = read_sse(port, "/v1/jobs/" + id + "/events", [first](const SseEvent&) {
      if (first) first->store(true);
      return true;
    });
  });
}

void wait_flag(const std::atomic<bool>& flag) {
  for (int i = 0; i < 2000 && !flag.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(flag.load());
}

nlohmann::json wait_for_status(httplib::Client& client, const std::string& id, const std::string& states,
                               std::chrono::seconds timeout) {
  const Clock::time_point give_up = Clock::now() + timeout;
  nlohmann::json job;
  while (Clock::now() < give_up) {
    auto res = client.Get("/v1/jobs/" + id);
    if (!res || res->status != 200) {
      ADD_FAILURE() << "GET /v1/jobs/" << id << " failed";
      return nullptr;
    }
    job = nlohmann::json::parse(res->body);
    const std::string status = job["status"];
    if (("," + states + ",").find("," + status + ",") != std::string::npos) return job;
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "job " << id << " never reached " << states << "; last: " << job.dump().substr(0, 400);
  return job;
}

nlohmann::json json_of(const httplib::Result& res) {
  if (!res) {
    ADD_FAILURE() << "no response: " << httplib::to_string(res.error());
    return nullptr;
  }
  try {
    return nlohmann::json::parse(res->body);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "body is not JSON (" << e.what() << "): " << res->body.substr(0, 300);
    return nullptr;
  }
}

std::string base64_decode_for_test(const std::string& text) {
  const std::optional<std::string> bytes = server::base64_decode(text);
  EXPECT_TRUE(bytes) << "invalid base64: " << text.substr(0, 80);
  return bytes.value_or("");
}

}  // namespace sdpp::testing
