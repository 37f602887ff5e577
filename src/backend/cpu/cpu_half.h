// f32 <-> f16 / bf16 over arrays: the conversions reduced-precision storage makes around every op
// (cpu_storage_type.h) and the load makes of every weight. On x86-64 with F16C, eight f16 values per instruction;
// elsewhere, and for the tails, the scalar functions of core/dtype.h. Both round to nearest even; only a NaN's payload
// may differ between the two.
#pragma once
#include <cstdint>

namespace sdpp::cpu {

void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16(const float* src, uint16_t* dst, int64_t n);
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n);

}  // namespace sdpp::cpu
