// Scaled dot-product attention, one (batch, head, block of query rows) per task:
//   S = scale * Q_blk K^T  [rows, Lk];  P = exp(S - rowmax)  (f32);  O_blk = (P V) / rowsum(P)  [rows, D].
// Blocking the query rows bounds the score matrix to rows x Lk <= 4 MB per thread (a 64x64 latent never holds
// 4096 x 4096). Larger blocks measured faster than L2-sized ones: the GEMMs' efficiency matters more here.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_math.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {

constexpr int64_t kScoreBlockBytes = int64_t(4) << 20;
constexpr int64_t kMinQueryRows = 16, kMaxQueryRows = 256;

// Exponentiates row[0, visible) in place after subtracting its max, zeroes row[visible, total) (causally
// masked keys), and returns 1 / sum. Partial maxima/sums over 16 lanes let the loops vectorise.
SDPP_CPU_CLONES float softmax_numerator(float* row, int64_t visible, int64_t total) {
  constexpr int kLanes = 16;
  float lane[kLanes];
  for (float& l : lane) l = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + kLanes <= visible; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] = row[j + l] > lane[l] ? row[j + l] : lane[l];
  float mx = -std::numeric_limits<float>::infinity();
  for (float l : lane) mx = l > mx ? l : mx;
  for (; j < visible; ++j) mx = row[j] > mx ? row[j] : mx;

  for (float& l : lane) l = 0.0f;
  for (j = 0; j + kLanes <= visible; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float e = exp_approx(row[j + l] - mx);
      row[j + l] = e;
      lane[l] += e;
    }
  float sum = 0.0f;
  for (; j < visible; ++j) {
    row[j] = exp_approx(row[j] - mx);
    sum += row[j];
  }
  for (float l : lane) sum += l;
  for (j = visible; j < total; ++j) row[j] = 0.0f;
  return 1.0f / sum;
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionOptions& o) {
  const float* qp = in_f32(q, "attention", "q");
  const float* kp = in_f32(k, "attention", "k");
  const float* vp = in_f32(v, "attention", "v");
  if (q.ndim() != 3 || k.ndim() != 3 || v.ndim() != 3 || o.heads < 1 || q.dim(2) % o.heads != 0 ||
      k.shape() != v.shape() || q.dim(0) != k.dim(0) || q.dim(2) != k.dim(2))
    shape_error("attention: q " + shape_str(q.shape()) + " k " + shape_str(k.shape()) + " v " + shape_str(v.shape()) +
                " heads " + std::to_string(o.heads));
  const int64_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), HD = q.dim(2), H = o.heads, D = HD / H;
  if (Lk == 0 && Lq > 0) shape_error("attention: empty key sequence " + shape_str(k.shape()));
  const float scale = o.scale != 0.0f ? o.scale : 1.0f / std::sqrt(float(D));
  Tensor out = new_f32(q.shape());
  float* op = out.f32();
  if (out.numel() == 0) return out;

  const int64_t block = std::clamp(kScoreBlockBytes / (Lk * int64_t(sizeof(float))), kMinQueryRows, kMaxQueryRows);
  const int64_t blocks = (Lq + block - 1) / block;
  parallel_for(B * H * blocks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> scores(size_t(std::min(block, Lq) * Lk));
    std::vector<float> inv_sum(static_cast<size_t>(block));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / (H * blocks), h = (t / blocks) % H, i0 = (t % blocks) * block;
      const int64_t rows = std::min(block, Lq - i0);
      const float* qb = qp + (b * Lq + i0) * HD + h * D;  // rows x D, row stride HD
      const float* kb = kp + b * Lk * HD + h * D;         // Lk x D
      const float* vb = vp + b * Lk * HD + h * D;         // Lk x D
      float* ob = op + (b * Lq + i0) * HD + h * D;        // rows x D
      float* s = scores.data();
      sgemm(false, true, rows, Lk, D, scale, qb, HD, kb, HD, 0.0f, s, Lk);
      for (int64_t r = 0; r < rows; ++r) {
        // Causal: query i sees keys j <= i (top-left aligned, as torch's is_causal).
        const int64_t visible = o.causal ? std::min(Lk, i0 + r + 1) : Lk;
        inv_sum[size_t(r)] = softmax_numerator(s + r * Lk, visible, Lk);
      }
      sgemm(false, false, rows, D, Lk, 1.0f, s, Lk, vb, HD, 0.0f, ob, HD);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < D; ++d) ob[r * HD + d] *= inv_sum[size_t(r)];
    }
  });
  return out;
}

}  // namespace sdpp::cpu
