#include "backend/cuda/op_profiler.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "backend/cuda/cuda_check.h"

namespace sdpp::cuda {

OpProfiler::~OpProfiler() {
  for (const Record& r : records_) {
    cudaEventDestroy(r.start);
    cudaEventDestroy(r.stop);
  }
  for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
  cudaGetLastError();
}

cudaEvent_t OpProfiler::event() {
  if (!free_events_.empty()) {
    cudaEvent_t e = free_events_.back();
    free_events_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  SDPP_CUDA_CHECK(cudaEventCreate(&e));
  return e;
}

void OpProfiler::record(cudaEvent_t e) {
  SDPP_CUDA_CHECK(cudaEventRecordWithFlags(e, stream_, capturing_ ? cudaEventRecordExternal : cudaEventRecordDefault));
}

OpProfiler::Scope OpProfiler::begin(const char* op, const Tensor& a, const Tensor* b) {
  if (!enabled_) return Scope();
  std::string label;
  if (depth_ > 0) label += "> ";
  label += op;
  label += ' ';
  label += dtype_name(a.dtype());
  label += ' ';
  label += shape_str(a.shape());
  if (b && b->defined()) {
    label += ' ';
    label += shape_str(b->shape());
  }
  Record r{std::move(label), event(), event(), depth_++};
  record(r.start);
  records_.push_back(std::move(r));
  return Scope(this, records_.size() - 1);
}

void OpProfiler::end(size_t index) {  // runs in a destructor: must not throw
  --depth_;
  if (cudaEventRecordWithFlags(records_[index].stop, stream_,
                               capturing_ ? cudaEventRecordExternal : cudaEventRecordDefault) != cudaSuccess)
    cudaGetLastError();
}

std::string OpProfiler::report() {
  SDPP_CUDA_CHECK(cudaStreamSynchronize(stream_));
  struct Total {
    double ms = 0;
    int count = 0;
  };
  std::map<std::string, Total> totals;
  double all = 0;
  for (const Record& r : records_) {
    float ms = 0;
    SDPP_CUDA_CHECK(cudaEventElapsedTime(&ms, r.start, r.stop));
    totals[r.label].ms += ms;
    totals[r.label].count += 1;
    if (r.depth == 0) all += ms;
    free_events_.push_back(r.start);
    free_events_.push_back(r.stop);
  }
  records_.clear();
  std::vector<std::pair<std::string, Total>> rows(totals.begin(), totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.second.ms > y.second.ms; });
  std::string out;
  char line[64];
  std::snprintf(line, sizeof line, "%10.3f ms  all ops\n", all);
  out += line;
  for (const auto& [label, t] : rows) {
    std::snprintf(line, sizeof line, "%10.3f ms %5d  ", t.ms, t.count);
    out += line + label + "\n";
  }
  return out;
}

}  // namespace sdpp::cuda
