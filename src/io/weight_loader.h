// What model constructors read their weights through: checks each tensor's shape against what the config implies,
// converts it to the compute dtype and uploads it to the compute device once.
//   WeightLoader w(source, device, dtype);
//   Tensor q = w.sub("down_blocks.0.attentions.0").get("proj_in.weight", {320, 320, 1, 1});
// Errors name the full key, e.g. "missing tensor 'down_blocks.0.attentions.0.proj_in.weight' in unet/...safetensors"
// and "tensor 'conv_in.weight': expected shape [320, 4, 3, 3], found [320, 9, 3, 3]".
#pragma once
#include <memory>
#include <string>

#include "core/tensor.h"
#include "io/tensor_source.h"

namespace sdpp {

class WeightLoader {
 public:
  WeightLoader(std::shared_ptr<const TensorSource> source, Device device, DType dtype, std::string prefix = "");

  WeightLoader sub(const std::string& child) const;  // prefix + child + "."
  // The same tensors read onto another device in another dtype (e.g. the host in f32, where a layer derives its
  // weights from the stored ones before uploading them).
  WeightLoader on(Device device, DType dtype) const { return WeightLoader(source_, device, dtype, prefix_); }
  bool has(const std::string& name) const;
  Tensor get(const std::string& name, const Shape& expected) const;  // throws MissingTensor / ShapeMismatch
  Tensor get_optional(const std::string& name, const Shape& expected) const;  // undefined when absent
  std::string key(const std::string& name) const { return prefix_ + name; }
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }

 private:
  std::shared_ptr<const TensorSource> source_;
  Device device_;
  DType dtype_;
  std::string prefix_;
};

}  // namespace sdpp
