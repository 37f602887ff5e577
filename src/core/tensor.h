// A dense, contiguous n-d array with shared storage on one device.
//
// Logical layout is always row-major over `shape()` (NCHW for images, [B, L, C] for sequences). A backend may keep
// a 4-d activation physically channels-last (`format()`); only backends read that field, model code never does.
// Views share storage: reshape() and narrow0() (a contiguous row range) never copy.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"

namespace sdpp {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 4, 64, 64]"
int64_t shape_numel(const Shape& shape);

enum class MemoryFormat : uint8_t { Contiguous, ChannelsLast };

// Owner of a block of bytes on a device. Freed by its deleter (aligned free, cudaFree, munmap, or a parent's ref).
class Storage {
 public:
  Storage(void* data, size_t bytes, Device device, std::shared_ptr<void> owner)
      : data_(data), bytes_(bytes), device_(device), owner_(std::move(owner)) {}
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_;
  size_t bytes_;
  Device device_;
  std::shared_ptr<void> owner_;
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised tensor on `device` (allocated by that device's backend).
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());  // f32
  static Tensor from_floats(std::span<const float> values, const Shape& shape);       // f32, cpu
  static Tensor from_ints(std::span<const int64_t> values, const Shape& shape);       // i64, cpu
  // Wraps existing bytes (e.g. an mmap'd file region) without copying; `owner` keeps them alive.
  static Tensor wrap(void* data, const Shape& shape, DType dtype, Device device, std::shared_ptr<void> owner);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return int(shape_.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  MemoryFormat format() const { return format_; }
  void set_format(MemoryFormat format) { format_ = format; }  // backends only

  void* raw() const;
  template <class T>
  T* data() const { return static_cast<T*>(raw()); }
  // Typed host access with a dtype check (throws Internal on mismatch or non-cpu).
  float* f32() const;
  const int64_t* i64() const;

  Tensor reshape(const Shape& shape) const;    // same numel; one dim may be -1
  Tensor narrow0(int64_t start, int64_t length) const;  // rows [start, start+length) of dim 0, a view
  Tensor clone() const;                        // deep copy, same device/dtype/format
  Tensor to(Device device) const;              // copy across devices (contiguous on the cpu)
  Tensor to(DType dtype) const;                // convert (cpu, or via the backend)
  Tensor cpu_f32() const;                      // convenience: contiguous f32 on the cpu
  std::vector<float> to_floats() const;        // contiguous f32 copy on the host

  std::shared_ptr<Storage> storage() const { return storage_; }
  size_t byte_offset() const { return offset_; }
  // The same elements: one storage, offset, shape, dtype and format (or both undefined). Not a comparison of values.
  bool same_as(const Tensor& other) const {
    return storage_ == other.storage_ && offset_ == other.offset_ && shape_ == other.shape_ &&
           dtype_ == other.dtype_ && format_ == other.format_;
  }

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::F32;
  MemoryFormat format_ = MemoryFormat::Contiguous;
};

}  // namespace sdpp
