#include "io/renamed_source.h"

#include <cstring>

#include "core/error.h"

namespace sdpp {
namespace {

Shape derived_shape(const KeyRecipe& r, const Shape& s) {
  switch (r.op) {
    case KeyRecipe::Op::Copy: return s;
    case KeyRecipe::Op::ConvToLinear: return {s[0], s[1]};
    case KeyRecipe::Op::Transpose: return {s[1], s[0]};
    case KeyRecipe::Op::Rows: {
      Shape out = s;
      out[0] = r.row_end - r.row_begin;
      return out;
    }
  }
  return s;
}

void check_fits(const std::string& name, const KeyRecipe& r, const Shape& s, const std::string& where) {
  bool ok = true;
  switch (r.op) {
    case KeyRecipe::Op::Copy: break;
    case KeyRecipe::Op::ConvToLinear: ok = s.size() == 4 && s[2] == 1 && s[3] == 1; break;
    case KeyRecipe::Op::Transpose: ok = s.size() == 2; break;
    case KeyRecipe::Op::Rows: ok = !s.empty() && 0 <= r.row_begin && r.row_begin <= r.row_end && r.row_end <= s[0]; break;
  }
  if (!ok)
    throw Error(ErrorCode::ShapeMismatch, "tensor '" + r.source_key + "' in " + where + " (for '" + name +
                                              "'): shape " + shape_str(s) + " does not fit the conversion");
}

// [A, B] -> [B, A] on the host for any element size.
Tensor transpose2d(const Tensor& t) {
  const int64_t a = t.dim(0), b = t.dim(1);
  Tensor out = Tensor::empty({b, a}, t.dtype(), Device::cpu());
  const size_t es = dtype_size(t.dtype());
  const auto* src = static_cast<const char*>(t.raw());
  auto* dst = static_cast<char*>(out.raw());
  for (int64_t i = 0; i < a; ++i) {
    for (int64_t j = 0; j < b; ++j) std::memcpy(dst + size_t(j * a + i) * es, src + size_t(i * b + j) * es, es);
  }
  return out;
}

}  // namespace

RenamedSource::RenamedSource(std::shared_ptr<const TensorSource> base, KeyMap map)
    : base_(std::move(base)), map_(std::move(map)) {
  for (const auto& [name, recipe] : map_) {
    auto info = base_->info(recipe.source_key);
    if (!info)
      throw Error(ErrorCode::MissingTensor, "missing tensor '" + recipe.source_key + "' in " + base_->describe() +
                                                " (needed for '" + name + "')");
    check_fits(name, recipe, info->shape, base_->describe());
  }
}

std::vector<std::string> RenamedSource::keys() const {
  std::vector<std::string> out;
  out.reserve(map_.size());
  for (const auto& [name, recipe] : map_) out.push_back(name);
  return out;
}

std::optional<TensorInfo> RenamedSource::info(const std::string& key) const {
  auto it = map_.find(key);
  if (it == map_.end()) return std::nullopt;
  auto info = base_->info(it->second.source_key);
  if (!info) return std::nullopt;
  info->shape = derived_shape(it->second, info->shape);
  return info;
}

Tensor RenamedSource::read(const std::string& key) const {
  auto it = map_.find(key);
  if (it == map_.end()) throw Error(ErrorCode::MissingTensor, "missing tensor '" + key + "' in " + describe());
  const KeyRecipe& r = it->second;
  Tensor t = base_->read(r.source_key);
  switch (r.op) {
    case KeyRecipe::Op::Copy: return t;
    case KeyRecipe::Op::ConvToLinear: return t.reshape({t.dim(0), t.dim(1)});
    case KeyRecipe::Op::Transpose: return transpose2d(t);
    case KeyRecipe::Op::Rows: return t.narrow0(r.row_begin, r.row_end - r.row_begin);
  }
  return t;
}

}  // namespace sdpp
