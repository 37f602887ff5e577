// Device start and end of every kernel the process runs between start() and stop(), graph replays included, from
// CUPTI's activity records: what events around ops cannot show (they add their own gaps) and Nsight Compute does not
// measure (it runs kernels one at a time at base clocks). Where the build has no CUPTI, start() throws.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sdpp::bench {

struct KernelRecord {
  std::string name;  // demangled
  uint64_t start_ns = 0, end_ns = 0;
  int grid = 0, block = 0;  // total blocks, threads per block
};

class KernelTrace {
 public:
  void start();
  std::vector<KernelRecord> stop();  // flushes; the records in order of start
};

}  // namespace sdpp::bench
