// A TensorSource that presents another source under different names, each tensor derived from one stored tensor by
// a cheap transform. This is how a single-file (LDM / OpenCLIP) checkpoint is served in the diffusers key scheme
// without converting or copying the file (io/key_map.h builds the maps).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/tensor_source.h"

namespace sdpp {

struct KeyRecipe {
  enum class Op {
    Copy,          // as stored
    ConvToLinear,  // [O, I, 1, 1] 1x1 conv -> [O, I] linear (a reshape; LDM VAE attention)
    Transpose,     // [A, B] -> [B, A] (OpenCLIP text_projection is applied as x @ P, diffusers as a Linear)
    Rows,          // rows [row_begin, row_end) of dim 0 (a slice of OpenCLIP's fused q/k/v in_proj)
  };
  std::string source_key;
  Op op = Op::Copy;
  int64_t row_begin = 0;
  int64_t row_end = 0;
};

using KeyMap = std::map<std::string, KeyRecipe>;  // new name -> how to make it from the base source

class RenamedSource : public TensorSource {
 public:
  // Throws MissingTensor when a recipe names a key the base lacks, ShapeMismatch when its transform does not fit.
  RenamedSource(std::shared_ptr<const TensorSource> base, KeyMap map);

  std::vector<std::string> keys() const override;
  std::optional<TensorInfo> info(const std::string& key) const override;
  Tensor read(const std::string& key) const override;
  std::string describe() const override { return base_->describe(); }

 private:
  std::shared_ptr<const TensorSource> base_;
  KeyMap map_;
};

}  // namespace sdpp
