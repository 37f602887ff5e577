// Element types. Compute on the CPU is f32; f16/bf16 are storage (widened per op, backend/cpu/cpu_storage_type.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace sdpp {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // safetensors spelling: "F32", "F16", "BF16", ...
bool parse_dtype(const std::string& name, DType* out);  // accepts safetensors names and f32/f16/bf16

// IEEE half / bfloat16 <-> float, exact (round-to-nearest-even on narrowing).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
// bf16 is the top half of an f32; inline so that loops over arrays vectorise (memcpy, not bit_cast: nvcc compiles
// this header as C++17).
inline float bf16_to_float(uint16_t b) {
  const uint32_t x = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}
inline uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  if ((x & 0x7fffffff) > 0x7f800000) return uint16_t((x >> 16) | 0x40);  // quiet nan
  x += 0x7fff + ((x >> 16) & 1);
  return uint16_t(x >> 16);
}

}  // namespace sdpp
