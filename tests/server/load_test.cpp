// Load: 16 concurrent clients submit 200 jobs in total against a queue of 32 on the real `sdpp serve`. Every
// accepted job must reach succeeded (or cancelled, when its client cancelled it), every rejection must be a 429,
// no job may be lost or duplicated, the server's counters must agree, and memory must not grow from the first
// half of the run to the second.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "serve_process.h"

namespace sdpp::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Tally {
  std::mutex mu;
  std::vector<std::string> accepted;
  std::set<std::string> cancelled_by_client;
  std::map<std::string, std::string> final_status;
  int rejected = 0;
  std::vector<std::string> unexpected;
};

// One client: submits up to 3 jobs back to back (cancelling every 10th), then waits for each to end.
void client(int port, std::atomic<int>& remaining, Tally& tally) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  while (remaining.load() > 0) {
    std::vector<std::string> mine;
    for (int i = 0; i < 3; ++i) {
      const int n = remaining.fetch_sub(1);
      if (n <= 0) break;
      const json body = {{"prompt", "load " + std::to_string(n)}, {"width", 64}, {"height", 64}, {"steps", 2},
                         {"sampler", "euler"}, {"preview_every", 1}, {"seed", n}};
      auto res = c.Post("/v1/jobs", body.dump(), "application/json");
      std::lock_guard lock(tally.mu);
      if (res && res->status == 202) {
        const std::string id = json::parse(res->body)["id"];
        tally.accepted.push_back(id);
        mine.push_back(id);
        if (n % 10 == 0) {
          c.Delete("/v1/jobs/" + id);
          tally.cancelled_by_client.insert(id);
        }
      } else if (res && res->status == 429 && res->get_header_value("Retry-After") == "5") {
        ++tally.rejected;
      } else {
        tally.unexpected.push_back(res ? std::to_string(res->status) + " " + res->body
                                       : "no response: " + httplib::to_string(res.error()));
      }
    }
    for (const std::string& id : mine) {
      const json job = wait_for_status(c, id, "succeeded,failed,cancelled", 120s);
      std::lock_guard lock(tally.mu);
      tally.final_status[id] = job.is_object() ? job["status"].get<std::string>() : "lost";
    }
    std::this_thread::sleep_for(5ms);
  }
}

void run_round(int port, int jobs, Tally& tally) {
  std::atomic<int> remaining{jobs};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i) clients.emplace_back(client, port, std::ref(remaining), std::ref(tally));
  for (auto& t : clients) t.join();
}

uint64_t metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) {
    ADD_FAILURE() << "no metric " << name;
    return 0;
  }
  return std::stoull(text.substr(at + name.size() + 2));
}

TEST(Load, SixteenClientsTwoHundredJobsQueueOf32) {
  ServeProcess server({"--queue-size", "32", "--retention-count", "100"});
  Tally tally;
  const auto start = std::chrono::steady_clock::now();
  run_round(server.port(), 100, tally);
  const size_t rss_half = server.rss_bytes();
  run_round(server.port(), 100, tally);
  const size_t rss_end = server.rss_bytes();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_TRUE(tally.unexpected.empty()) << ::testing::PrintToString(tally.unexpected);
  EXPECT_EQ(int(tally.accepted.size()) + tally.rejected, 200);
  EXPECT_GT(tally.rejected, 0) << "the queue never filled: the 429 path was not exercised";
  const std::set<std::string> unique(tally.accepted.begin(), tally.accepted.end());
  EXPECT_EQ(unique.size(), tally.accepted.size()) << "duplicate job ids";
  int succeeded = 0, cancelled = 0;
  for (const std::string& id : tally.accepted) {
    const std::string status = tally.final_status[id];
    if (status == "succeeded") {
      ++succeeded;
    } else if (status == "cancelled") {
      ++cancelled;
      EXPECT_TRUE(tally.cancelled_by_client.contains(id)) << id << " was cancelled without being asked";
    } else {
      ADD_FAILURE() << id << " ended as " << status;
    }
  }
  auto c = server.client();
  const std::string m = c->Get("/metrics")->body;
  EXPECT_EQ(metric(m, "sdpp_jobs_submitted_total"), tally.accepted.size());
  EXPECT_EQ(metric(m, "sdpp_jobs_rejected_total{reason=\"queue_full\"}"), uint64_t(tally.rejected));
  EXPECT_EQ(metric(m, "sdpp_jobs_finished_total{state=\"succeeded\"}"), uint64_t(succeeded));
  EXPECT_EQ(metric(m, "sdpp_jobs_finished_total{state=\"cancelled\"}"), uint64_t(cancelled));
  EXPECT_EQ(metric(m, "sdpp_jobs_finished_total{state=\"failed\"}"), 0u);
  EXPECT_EQ(metric(m, "sdpp_images_generated_total"), uint64_t(succeeded));
  EXPECT_EQ(metric(m, "sdpp_queue_depth"), 0u);
  EXPECT_LE(metric(m, "sdpp_jobs{state=\"succeeded\"}") + metric(m, "sdpp_jobs{state=\"cancelled\"}"), 100u)
      << "finished jobs beyond --retention-count were not evicted";
  // Memory: the second half ran the same load on a server already at its retention limit.
  const double growth_mib = (double(rss_end) - double(rss_half)) / (1 << 20);
  EXPECT_LT(growth_mib, 16.0) << "RSS grew from " << rss_half << " to " << rss_end;
  std::printf("[load] 200 submissions in %.1fs: %zu accepted (%d succeeded, %d cancelled), %d rejected with 429; "
              "RSS %.1f MiB after 100, %.1f MiB after 200 (%+.1f MiB)\n",
              seconds, tally.accepted.size(), succeeded, cancelled, tally.rejected, double(rss_half) / (1 << 20),
              double(rss_end) / (1 << 20), growth_mib);
  EXPECT_EQ(c->Get("/health")->status, 200);
}

}  // namespace
}  // namespace sdpp::testing
