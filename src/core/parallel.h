// A small process-wide thread pool for the cpu backend's outer loops.
//
// One pool, sized by std::thread::hardware_concurrency() or the env var SDPP_THREADS. parallel_for() runs
// serially when called from inside a pool task (no nested oversubscription) or while another thread is
// already using the pool (concurrent callers do not queue behind each other's work).
#pragma once
#include <cstdint>
#include <functional>

namespace sdpp {

// Threads the pool computes with (including the calling thread); >= 1.
int num_threads();

// Calls fn(begin, end) on disjoint ranges covering [0, n), each at least `grain` long (except the last),
// spread over the pool; the caller takes part and returns once all ranges are done. The first exception a
// range throws is rethrown here after the others finished.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace sdpp
