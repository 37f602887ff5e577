// Turns the MUFU.SIN table measured by philox_mufu_probe.cu into src/core/philox_sin_table.cpp.
// The probe found that on sm_90 __sinf(v) depends only on the cell k = floor(fmul_rz(v, 0x3E22F983) * 2^25) and is,
// for k = quadrant * 2^23 + j: G(j), G(2^23 - 1 - j), -G(j), -G(2^23 - 1 - j) for quadrants 0..3. G has 64 segments of
// 2^17 cells that are quadratics up to rounding noise of about one ulp (the SFU's quadratic interpolation), so each
// segment is stored as the least-squares quadratic of the measurements in the segment's local index; this program
// also checks the fit against every one of the 2^23 measured cells and prints the worst difference.
// Host build and use (the probe's output is about 1.3 MB gzipped; it is not kept in the repository):
//   g++ -O2 -std=c++20 -o /tmp/philox_fit scripts/device/philox_mufu_fit.cpp
//   gzip -dc $OUT/sin_table_K25_mode1.bin.gz > /tmp/sin_table.bin
//   /tmp/philox_fit /tmp/sin_table.bin > src/core/philox_sin_table.cpp
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr uint32_t kEmpty = 0xFFFFFFFFu;
constexpr int kQuadrantBits = 23, kSegmentBits = 6;
constexpr size_t kQuadrant = size_t(1) << kQuadrantBits, kSegment = kQuadrant >> kSegmentBits;

// Decodes the probe's delta stream (see philox_mufu_probe.cu) into float bits per cell.
std::vector<uint32_t> decode(const char* path) {
  FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", path);
    std::exit(1);
  }
  std::vector<uint16_t> words;
  uint16_t buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 2, 65536, f)) > 0) words.insert(words.end(), buffer, buffer + n);
  std::fclose(f);
  std::vector<uint32_t> cells;
  uint32_t prev = 0;
  for (size_t i = 0; i < words.size();) {
    if (words[i] == 0x7FFF) {
      cells.push_back(kEmpty);
      ++i;
      continue;
    }
    if (words[i] == 0x8000) {
      prev = uint32_t(words[i + 1]) | (uint32_t(words[i + 2]) << 16);
      i += 3;
    } else {
      prev += uint32_t(int32_t(int16_t(words[i])));
      ++i;
    }
    cells.push_back(prev);
  }
  return cells;
}

float as_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Least-squares quadratic through (x, y), x the local index minus `centre`; solved in long double (the normal
// equations are well enough conditioned once x is centred).
void fit_quadratic(const std::vector<double>& y, double centre, double out[3]) {
  long double a[3][4] = {};
  for (size_t i = 0; i < y.size(); ++i) {
    const long double x = (long double)i - centre, p[3] = {1, x, x * x};
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) a[r][c] += p[r] * p[c];
      a[r][3] += p[r] * y[i];
    }
  }
  for (int c = 0; c < 3; ++c)
    for (int r = c + 1; r < 3; ++r) {
      const long double t = a[r][c] / a[c][c];
      for (int k = c; k < 4; ++k) a[r][k] -= t * a[c][k];
    }
  long double co[3];
  for (int r = 2; r >= 0; --r) {
    long double s = a[r][3];
    for (int k = r + 1; k < 3; ++k) s -= a[r][k] * co[k];
    co[r] = s / a[r][r];
  }
  for (int i = 0; i < 3; ++i) out[i] = double(co[i]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s sin_table_K25_mode1.bin\n", argv[0]);
    return 2;
  }
  const std::vector<uint32_t> cells = decode(argv[1]);
  if (cells.size() < 4 * kQuadrant) {
    std::fprintf(stderr, "table has %zu cells, expected %zu\n", cells.size(), 4 * kQuadrant);
    return 1;
  }
  // The symmetries the table is stored by must hold for every measured cell.
  size_t asymmetric = 0;
  for (size_t j = 0; j < kQuadrant; ++j) {
    const uint32_t g = cells[j], mirrored = cells[2 * kQuadrant - 1 - j];
    if (g == kEmpty) ++asymmetric;
    if (mirrored != kEmpty && mirrored != g) ++asymmetric;
    if (cells[2 * kQuadrant + j] != kEmpty && as_float(cells[2 * kQuadrant + j]) != -as_float(g)) ++asymmetric;
    if (cells[4 * kQuadrant - 1 - j] != kEmpty && as_float(cells[4 * kQuadrant - 1 - j]) != -as_float(g))
      ++asymmetric;
  }
  if (asymmetric) {
    std::fprintf(stderr, "%zu cells break the quadrant symmetries\n", asymmetric);
    return 1;
  }
  const double centre = double(kSegment - 1) / 2;
  double coefficients[64][3];
  double worst_abs = 0, worst_ulp = 0;
  size_t differing = 0;
  for (size_t s = 0; s < (size_t(1) << kSegmentBits); ++s) {
    std::vector<double> y(kSegment);
    for (size_t i = 0; i < kSegment; ++i) y[i] = as_float(cells[s * kSegment + i]);
    fit_quadratic(y, centre, coefficients[s]);
    const double* c = coefficients[s];
    for (size_t i = 0; i < kSegment; ++i) {
      const double x = double(i) - centre;
      const float model = float(std::fma(x, std::fma(x, c[2], c[1]), c[0]));  // as device_sinf evaluates it
      const double diff = std::fabs(double(model) - y[i]);
      if (diff != 0) ++differing;
      worst_abs = std::fmax(worst_abs, diff);
      if (y[i] != 0) worst_ulp = std::fmax(worst_ulp, diff / std::ldexp(1.0, std::ilogb(y[i]) - 23));
    }
  }
  std::fprintf(stderr, "fit: %zu of %zu cells differ; worst %.3g absolute (2^%.2f), %.2f ulp\n", differing, kQuadrant,
               worst_abs, std::log2(worst_abs), worst_ulp);

  std::printf("// Generated by scripts/device/philox_mufu_fit.cpp from the MUFU.SIN table that\n");
  std::printf("// scripts/device/philox_mufu_probe.cu measured on an H100 (sm_90); do not edit by hand.\n");
  std::printf("// Worst difference to the measured __sinf over all 2^23 cells of a quadrant: %.3g (%.2f ulp).\n",
              worst_abs, worst_ulp);
  std::printf("#include \"core/philox_device_math.h\"\n\nnamespace sdpp::philox {\n\n");
  std::printf("const double kMufuSinSegments[64][3] = {\n");
  for (auto& c : coefficients) std::printf("    {%a, %a, %a},\n", c[0], c[1], c[2]);
  std::printf("};\n\n}  // namespace sdpp::philox\n");
  return 0;
}
