#include "io/weight_loader.h"

#include "core/error.h"

namespace sdpp {

WeightLoader::WeightLoader(std::shared_ptr<const TensorSource> source, Device device, DType dtype, std::string prefix)
    : source_(std::move(source)), device_(device), dtype_(dtype), prefix_(std::move(prefix)) {
  if (!source_) throw Error(ErrorCode::Internal, "WeightLoader: null source");
}

WeightLoader WeightLoader::sub(const std::string& child) const {
  return WeightLoader(source_, device_, dtype_, prefix_ + child + ".");
}

bool WeightLoader::has(const std::string& name) const { return source_->info(key(name)).has_value(); }

Tensor WeightLoader::get(const std::string& name, const Shape& expected) const {
  const std::string full = key(name);
  source_->expect(full, expected);
  auto info = source_->info(full);
  if (!info) throw Error(ErrorCode::MissingTensor, "missing tensor '" + full + "' in " + source_->describe());
  if (info->shape != expected)
    throw Error(ErrorCode::ShapeMismatch, "tensor '" + full + "' in " + source_->describe() + ": expected shape " +
                                              shape_str(expected) + ", found " + shape_str(info->shape));
  Tensor t = source_->read(full);
  // Narrow on the host before uploading (less to copy); widen on the device (the host copy stays small).
  if (dtype_size(dtype_) < dtype_size(t.dtype())) return t.to(dtype_).to(device_);
  return t.to(device_).to(dtype_);
}

Tensor WeightLoader::get_optional(const std::string& name, const Shape& expected) const {
  if (!has(name)) return Tensor();
  return get(name, expected);
}

}  // namespace sdpp
