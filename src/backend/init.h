// Registers every backend compiled into this build (cuda when SDPP_WITH_CUDA). Call once from main() / test main.
#pragma once

namespace sdpp {
void init_backends();
// Number of usable CUDA devices (0 in a cpu-only build or without a driver/GPU).
int cuda_device_count();
}  // namespace sdpp
