#include "kernel_trace.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "core/error.h"

#if SDPP_WITH_CUPTI
#include <cupti.h>
#include <cxxabi.h>
#endif

namespace sdpp::bench {

#if SDPP_WITH_CUPTI
namespace {

std::mutex records_mutex;
std::vector<KernelRecord> records;  // between start() and stop()
bool tracing = false;

void check(CUptiResult r, const char* what) {
  if (r == CUPTI_SUCCESS) return;
  const char* text = nullptr;
  cuptiGetResultString(r, &text);
  throw Error(ErrorCode::Unsupported, std::string("CUPTI ") + what + ": " + (text ? text : "unknown error"));
}

std::string demangle(const char* name) {
  int status = 0;
  char* plain = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && plain ? plain : name;
  std::free(plain);
  return out;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  constexpr size_t kBytes = 8 << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBytes));
  *size = kBytes;
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> lock(records_mutex);
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && record->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
    const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
    if (tracing)
      records.push_back({demangle(k->name), k->start, k->end, k->gridX * k->gridY * k->gridZ,
                          k->blockX * k->blockY * k->blockZ});
  }
  std::free(buffer);
}

}  // namespace

void KernelTrace::start() {
  {
    std::lock_guard<std::mutex> lock(records_mutex);
    records.clear();
    tracing = true;
  }
  check(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed), "register callbacks");
  check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "enable kernel records");
}

std::vector<KernelRecord> KernelTrace::stop() {
  check(cuptiActivityFlushAll(1), "flush");
  check(cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "disable kernel records");
  std::lock_guard<std::mutex> lock(records_mutex);
  std::vector<KernelRecord> out = std::move(records);
  records.clear();
  tracing = false;
  std::sort(out.begin(), out.end(), [](const KernelRecord& a, const KernelRecord& b) { return a.start_ns < b.start_ns; });
  return out;
}

#else

void KernelTrace::start() { throw Error(ErrorCode::Unsupported, "this build has no CUPTI (CUDA::cupti not found)"); }
std::vector<KernelRecord> KernelTrace::stop() { return {}; }

#endif

}  // namespace sdpp::bench
