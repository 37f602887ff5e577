// Scaled dot-product attention, one (batch, head, block of query rows) per task:
//   S = scale * Q_blk K^T  [rows, Lk];  P = softmax(S) row-wise (f32, max-subtracted);  O_blk = P V  [rows, D].
// Blocking the query rows bounds the score matrix to rows x Lk (a 64x64 latent never holds 4096 x 4096).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_common.h"
#include "backend/cpu/cpu_ops.h"
#include "core/parallel.h"

namespace sdpp::cpu {
namespace {
constexpr int64_t kQueryBlock = 256;
}

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

  const int64_t blocks = (Lq + kQueryBlock - 1) / kQueryBlock;
  parallel_for(B * H * blocks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> scores(size_t(std::min(kQueryBlock, Lq) * Lk));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / (H * blocks), h = (t / blocks) % H, i0 = (t % blocks) * kQueryBlock;
      const int64_t rows = std::min(kQueryBlock, Lq - i0);
      const float* qb = qp + (b * Lq + i0) * HD + h * D;  // rows x D, row stride HD
      const float* kb = kp + b * Lk * HD + h * D;         // Lk x D
      const float* vb = vp + b * Lk * HD + h * D;         // Lk x D
      float* ob = op + (b * Lq + i0) * HD + h * D;        // rows x D
      float* s = scores.data();
      sgemm(false, true, rows, Lk, D, scale, qb, HD, kb, HD, 0.0f, s, Lk);
      for (int64_t r = 0; r < rows; ++r) {
        float* row = s + r * Lk;
        // Causal: query i sees keys j <= i (top-left aligned, as torch's is_causal).
        const int64_t visible = o.causal ? std::min(Lk, i0 + r + 1) : Lk;
        float mx = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, row[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j < visible; ++j) {
          row[j] = std::exp(row[j] - mx);
          sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
        std::fill(row + visible, row + Lk, 0.0f);
      }
      sgemm(false, false, rows, D, Lk, 1.0f, s, Lk, vb, HD, 0.0f, ob, HD);
    }
  });
  return out;
}

}  // namespace sdpp::cpu
