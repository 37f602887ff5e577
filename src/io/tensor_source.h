// A set of named tensors for ONE component (unet, vae, text_encoder, ...), already in the diffusers/transformers key
// scheme. A diffusers folder serves its component file as is; a single-file checkpoint serves a renamed view
// (io/key_map.h). Model code only ever sees this interface, through WeightLoader.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sdpp {

struct TensorInfo {
  DType dtype;
  Shape shape;
  std::string stored_dtype;  // the file's spelling ("F16", "F8_E4M3"), for reports
  bool readable = true;      // false for dtypes a file may list but we cannot compute with (F8): `dtype` is then
                             // meaningless and read() throws Unsupported
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual std::vector<std::string> keys() const = 0;
  virtual std::optional<TensorInfo> info(const std::string& key) const = 0;
  // The tensor on the cpu in its stored dtype (a zero-copy view of the mapped file where possible).
  // Throws MissingTensor naming the key and describe().
  virtual Tensor read(const std::string& key) const = 0;
  virtual std::string describe() const = 0;  // the file(s) it reads, for error messages
  // Told by WeightLoader::get the shape the model expects for `key`, before info() and read(). Sources of files ignore
  // it; bench/unet_bench.cpp's random-weight source records it, so one construction learns every weight's shape.
  virtual void expect(const std::string& /*key*/, const Shape& /*shape*/) const {}
};

}  // namespace sdpp
