// Attributes of the current CUDA device that launchers consult on every call, looked up once per device.
#pragma once

namespace sdpp::cuda {

int compute_capability_major();
int multiprocessor_count();
int shared_memory_per_block_optin();  // bytes a block may opt into
int clock_rate_khz();

}  // namespace sdpp::cuda
