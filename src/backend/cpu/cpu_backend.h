// The cpu backend: f32 compute, OpenBLAS GEMMs, threads over the outer loops. The reference every GPU op is tested
// against, so it favours plain loops that read like the maths over cleverness. f16/bf16 tensors are storage only
// (cpu_storage_type.h).
#pragma once
#include <memory>

#include "backend/backend.h"

namespace sdpp {
std::unique_ptr<Backend> make_cpu_backend();
}  // namespace sdpp
