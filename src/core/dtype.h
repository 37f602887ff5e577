// Element types. Compute on the CPU is f32; weights stored as f16/bf16 are widened at load.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sdpp {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // safetensors spelling: "F32", "F16", "BF16", ...
bool parse_dtype(const std::string& name, DType* out);  // accepts safetensors names and f32/f16/bf16

// IEEE half / bfloat16 <-> float, exact (round-to-nearest-even on narrowing).
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);

}  // namespace sdpp
