// Element type conversion on the host: weights arrive as f16/bf16/f32/f64, token ids as i64/i32.
#include <cstring>
#include <limits>

#include "backend/cpu/cpu_half.h"
#include "backend/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {

// Storage types tagged so that f16 and bf16 (both uint16_t) get their own load/store.
struct F16 { uint16_t bits; };
struct BF16 { uint16_t bits; };

template <class T> double load(const T& v) { return double(v); }
template <> double load<F16>(const F16& v) { return half_to_float(v.bits); }
template <> double load<BF16>(const BF16& v) { return bf16_to_float(v.bits); }

template <class T> T store(double v) { return T(v); }
// Integers truncate toward zero as torch's .to() does; NaN and out-of-range values (undefined behaviour for a
// plain cast) saturate instead.
template <class I> I store_int(double v) {
  if (!(v == v)) return 0;
  if (v <= double(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  if (v >= double(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return I(v);
}
template <> int64_t store<int64_t>(double v) { return store_int<int64_t>(v); }
template <> int32_t store<int32_t>(double v) { return store_int<int32_t>(v); }
template <> F16 store<F16>(double v) { return F16{float_to_half(float(v))}; }
template <> BF16 store<BF16>(double v) { return BF16{float_to_bf16(float(v))}; }
// f32 -> f32 through double is exact; this keeps the common f16 -> f32 path a plain widening.
template <> float store<float>(double v) { return float(v); }

template <class S, class D>
void convert_loop(const void* src, void* dst, int64_t n) {
  const S* s = static_cast<const S*>(src);
  D* d = static_cast<D*>(dst);
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) d[i] = store<D>(load<S>(s[i]));
  });
}

template <class S>
bool convert_from(DType dst_type, const void* src, void* dst, int64_t n) {
  switch (dst_type) {
    case DType::F32: convert_loop<S, float>(src, dst, n); return true;
    case DType::F16: convert_loop<S, F16>(src, dst, n); return true;
    case DType::BF16: convert_loop<S, BF16>(src, dst, n); return true;
    case DType::F64: convert_loop<S, double>(src, dst, n); return true;
    case DType::I64: convert_loop<S, int64_t>(src, dst, n); return true;
    case DType::I32: convert_loop<S, int32_t>(src, dst, n); return true;
    default: return false;
  }
}

// f32 <-> f16 / bf16, the conversions reduced-precision storage makes around every op: array kernels (cpu_half.h)
// rather than the per-value path through double.
struct ArrayConversion {
  DType from, to;
  size_t from_size, to_size;
  void (*run)(const void* src, void* dst, int64_t n);
};

template <class S, class D, void (*F)(const S*, D*, int64_t)>
constexpr ArrayConversion array_conversion(DType from, DType to) {
  return {from, to, sizeof(S), sizeof(D),
          [](const void* s, void* d, int64_t n) { F(static_cast<const S*>(s), static_cast<D*>(d), n); }};
}

constexpr ArrayConversion kArrayConversions[] = {
    array_conversion<uint16_t, float, f16_to_f32>(DType::F16, DType::F32),
    array_conversion<float, uint16_t, f32_to_f16>(DType::F32, DType::F16),
    array_conversion<uint16_t, float, bf16_to_f32>(DType::BF16, DType::F32),
    array_conversion<float, uint16_t, f32_to_bf16>(DType::F32, DType::BF16),
};

// False when no array kernel converts this pair.
bool convert_half(const Tensor& src, Tensor& dst) {
  for (const ArrayConversion& c : kArrayConversions) {
    if (src.dtype() != c.from || dst.dtype() != c.to) continue;
    const auto* s = static_cast<const uint8_t*>(src.raw());
    auto* d = static_cast<uint8_t*>(dst.raw());
    parallel_for(src.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      c.run(s + size_t(begin) * c.from_size, d + size_t(begin) * c.to_size, end - begin);
    });
    return true;
  }
  return false;
}

}  // namespace

void convert(const Tensor& src, Tensor& dst) {
  if (!src.device().is_cpu() || !dst.device().is_cpu())
    throw Error(ErrorCode::Internal, "cpu convert: tensors on " + src.device().str() + " and " + dst.device().str());
  if (src.numel() != dst.numel())
    throw Error(ErrorCode::ShapeMismatch, "cpu convert: " + shape_str(src.shape()) + " vs " + shape_str(dst.shape()));
  const int64_t n = src.numel();
  if (src.dtype() == dst.dtype()) {
    if (n) std::memmove(dst.raw(), src.raw(), src.nbytes());
    return;
  }
  if (convert_half(src, dst)) return;
  bool ok = false;
  switch (src.dtype()) {
    case DType::F32: ok = convert_from<float>(dst.dtype(), src.raw(), dst.raw(), n); break;
    case DType::F16: ok = convert_from<F16>(dst.dtype(), src.raw(), dst.raw(), n); break;
    case DType::BF16: ok = convert_from<BF16>(dst.dtype(), src.raw(), dst.raw(), n); break;
    case DType::F64: ok = convert_from<double>(dst.dtype(), src.raw(), dst.raw(), n); break;
    case DType::I64: ok = convert_from<int64_t>(dst.dtype(), src.raw(), dst.raw(), n); break;
    case DType::I32: ok = convert_from<int32_t>(dst.dtype(), src.raw(), dst.raw(), n); break;
    default: break;
  }
  if (!ok)
    throw Error(ErrorCode::Unsupported, std::string("cpu convert: ") + dtype_name(src.dtype()) + " to " + dtype_name(dst.dtype()));
}

}  // namespace sdpp::cpu
