#include "core/error.h"

namespace sdpp {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::BadFile: return "bad_file";
    case ErrorCode::MissingTensor: return "missing_tensor";
    case ErrorCode::ShapeMismatch: return "shape_mismatch";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::NotFound: return "not_found";
    case ErrorCode::OutOfMemory: return "out_of_memory";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::DeviceError: return "device_error";
    case ErrorCode::NonFinite: return "non_finite";
    case ErrorCode::Internal: return "internal";
  }
  return "unknown";
}

}  // namespace sdpp
