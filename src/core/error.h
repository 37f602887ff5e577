// Typed errors. Everything a user or a file can get wrong becomes an sdpp::Error whose message names the thing
// (key, field, value, limit); asserts are for programmer invariants only.
#pragma once
#include <stdexcept>
#include <string>

namespace sdpp {

enum class ErrorCode {
  InvalidArgument,   // a request/CLI value out of range or malformed
  BadFile,           // a model/image/tokenizer file that cannot be read or is corrupt
  MissingTensor,     // a weight the architecture needs is absent
  ShapeMismatch,     // a weight or input has the wrong shape
  Unsupported,       // a valid thing we do not implement (dtype, architecture)
  NotFound,          // a file/model/job that does not exist
  OutOfMemory,       // host or device allocation failed
  Cancelled,         // a job was cancelled between steps
  DeviceError,       // a CUDA/cuBLAS/cuDNN call failed
  NonFinite,         // a model produced NaN or inf (f16 overflow, broken weights) where an image was due
  Internal,
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, std::string field = "")
      : std::runtime_error(message), code_(code), field_(std::move(field)) {}
  ErrorCode code() const { return code_; }
  // The request field an InvalidArgument is about ("width", "init_image"...); empty when none.
  const std::string& field() const { return field_; }

 private:
  ErrorCode code_;
  std::string field_;
};

}  // namespace sdpp
