#include "core/tensor.h"

#include <cstring>

#include "backend/backend.h"
#include "core/error.h"

namespace sdpp {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  int64_t bytes = int64_t(dtype_size(dtype));
  for (int64_t d : shape) {
    if (d < 0) throw Error(ErrorCode::Internal, "negative dimension in shape " + shape_str(shape));
    if (__builtin_mul_overflow(bytes, d, &bytes))
      throw Error(ErrorCode::OutOfMemory, "tensor of shape " + shape_str(shape) + " exceeds the addressable size");
  }
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = backend_for(device).allocate(t.nbytes());
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  backend_for(device).fill_zero(t.raw(), t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  std::vector<float> values(size_t(shape_numel(shape)), value);
  return from_floats(values, shape).to(device);
}

Tensor Tensor::from_floats(std::span<const float> values, const Shape& shape) {
  if (int64_t(values.size()) != shape_numel(shape))
    throw Error(ErrorCode::Internal, "from_floats: " + std::to_string(values.size()) + " values for shape " + shape_str(shape));
  Tensor t = empty(shape, DType::F32);
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_ints(std::span<const int64_t> values, const Shape& shape) {
  if (int64_t(values.size()) != shape_numel(shape))
    throw Error(ErrorCode::Internal, "from_ints: " + std::to_string(values.size()) + " values for shape " + shape_str(shape));
  Tensor t = empty(shape, DType::I64);
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

Tensor Tensor::wrap(void* data, const Shape& shape, DType dtype, Device device, std::shared_ptr<void> owner) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(data, t.nbytes(), device, std::move(owner));
  return t;
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  if (i < 0) i += n;
  if (i < 0 || i >= n) throw Error(ErrorCode::Internal, "dim " + std::to_string(i) + " out of range for " + shape_str(shape_));
  return shape_[size_t(i)];
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }

void* Tensor::raw() const {
  if (!storage_) return nullptr;
  return static_cast<char*>(storage_->data()) + offset_;
}

float* Tensor::f32() const {
  if (dtype_ != DType::F32 || !device().is_cpu())
    throw Error(ErrorCode::Internal, std::string("expected an f32 cpu tensor, got ") + dtype_name(dtype_) + " on " + device().str());
  return data<float>();
}

const int64_t* Tensor::i64() const {
  if (dtype_ != DType::I64 || !device().is_cpu())
    throw Error(ErrorCode::Internal, std::string("expected an i64 cpu tensor, got ") + dtype_name(dtype_) + " on " + device().str());
  return data<int64_t>();
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      if (infer >= 0) throw Error(ErrorCode::Internal, "reshape: more than one -1 in " + shape_str(shape));
      infer = int(i);
    } else {
      known *= resolved[i];
    }
  }
  if (infer >= 0) resolved[size_t(infer)] = known ? numel() / known : 0;
  if (shape_numel(resolved) != numel())
    throw Error(ErrorCode::Internal, "reshape " + shape_str(shape_) + " to " + shape_str(shape) + ": element count differs");
  Tensor t = format_ == MemoryFormat::Contiguous ? *this : backend_for(device()).contiguous(*this);
  t.shape_ = resolved;
  t.format_ = MemoryFormat::Contiguous;
  return t;
}

Tensor Tensor::narrow0(int64_t start, int64_t length) const {
  if (ndim() == 0 || start < 0 || length < 0 || start + length > shape_[0])
    throw Error(ErrorCode::Internal, "narrow0(" + std::to_string(start) + ", " + std::to_string(length) + ") out of range for " + shape_str(shape_));
  Tensor t = *this;
  const size_t row_bytes = shape_[0] ? nbytes() / size_t(shape_[0]) : 0;
  t.offset_ += size_t(start) * row_bytes;
  t.shape_[0] = length;
  return t;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device());
  out.format_ = format_;
  Backend& b = backend_for(device());
  if (device().is_cpu()) {
    std::memcpy(out.raw(), raw(), nbytes());
  } else {
    // device-to-device through the backend's converter (same dtype is a plain copy)
    b.convert(*this, out);
  }
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  if (device().is_cpu()) {
    Tensor out = empty(shape_, dtype_, target);
    backend_for(target).copy_from_host(out.raw(), raw(), nbytes());
    return out;
  }
  Backend& src = backend_for(device());
  Tensor contiguous = src.contiguous(*this);
  Tensor host = empty(shape_, dtype_, Device::cpu());
  src.copy_to_host(host.raw(), contiguous.raw(), nbytes());
  return host.to(target);
}

Tensor Tensor::to(DType target) const {
  if (target == dtype_) return *this;
  Tensor out = empty(shape_, target, device());
  out.format_ = format_;
  backend_for(device()).convert(*this, out);
  return out;
}

Tensor Tensor::cpu_f32() const { return to(Device::cpu()).to(DType::F32); }

std::vector<float> Tensor::to_floats() const {
  Tensor t = cpu_f32();
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

}  // namespace sdpp
