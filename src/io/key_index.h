// Questions about a checkpoint's key set that the single-file code asks over and over: is there a key with this
// prefix, which block indices follow it, what is this tensor's shape (an error naming the key if absent).
#pragma once
#include <set>
#include <string>

#include "core/error.h"
#include "io/tensor_source.h"

namespace sdpp {

class KeyIndex {
 public:
  explicit KeyIndex(const TensorSource& source) : source_(source) {
    for (auto& k : source.keys()) keys_.insert(std::move(k));
  }

  const std::set<std::string>& keys() const { return keys_; }
  const TensorSource& source() const { return source_; }
  bool has(const std::string& key) const { return keys_.count(key) != 0; }
  bool has_prefix(const std::string& prefix) const {
    auto it = keys_.lower_bound(prefix);
    return it != keys_.end() && it->compare(0, prefix.size(), prefix) == 0;
  }
  // The distinct integers N of keys "<prefix>N.<...>", e.g. the layer indices under "encoder.layers.".
  std::set<int> indices(const std::string& prefix) const {
    std::set<int> out;
    for (auto it = keys_.lower_bound(prefix); it != keys_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
      size_t pos = prefix.size();
      int value = 0;
      bool digits = false;
      while (pos < it->size() && (*it)[pos] >= '0' && (*it)[pos] <= '9' && value < (1 << 20)) {
        value = value * 10 + ((*it)[pos++] - '0');
        digits = true;
      }
      if (digits && pos < it->size() && (*it)[pos] == '.') out.insert(value);
    }
    return out;
  }
  // Shape of a tensor the caller cannot do without; `purpose` says why, for the error message.
  Shape shape(const std::string& key, const std::string& purpose) const {
    auto info = source_.info(key);
    if (!info)
      throw Error(ErrorCode::MissingTensor, "missing tensor '" + key + "' in " + source_.describe() + " (needed to " +
                                                purpose + ")");
    return info->shape;
  }
  Shape shape(const std::string& key, const std::string& purpose, size_t ndim) const {
    Shape s = shape(key, purpose);
    if (s.size() != ndim)
      throw Error(ErrorCode::ShapeMismatch, "tensor '" + key + "' in " + source_.describe() + ": expected " +
                                                std::to_string(ndim) + " dimensions, found " + shape_str(s));
    return s;
  }

 private:
  const TensorSource& source_;
  std::set<std::string> keys_;
};

}  // namespace sdpp
