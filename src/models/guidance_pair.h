// A classifier-free-guidance call runs the UNet on one latent twice, once per context (the negative prompt's, then the
// prompt's). Until the first layer that reads the context, both halves of that batch compute the same values: in SD
// 1.x and 2.x that is conv_in, the first resnet and the first transformer's self-attention.
// So UNet2DConditionModel::forward takes a sample of half the context's batch as such a pair: it runs that shared
// prefix once, on the half batch, and repeats its values for both halves where they part (before a cross-attention,
// and for the skip connections the up blocks read). SDXL's time terms differ between the halves (the pooled text is
// part of its time embedding), so its pairs part at the start.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace sdpp::nn {

// x [b, ...] as `batch` rows: x itself where b == batch, [x; x] (both halves of a guidance pair) where 2b == batch.
// Any other batch is an internal error: the UNet checks the sample's batch against the context's before it runs.
Tensor to_pair_batch(const Tensor& x, int64_t batch);

// The rows of a resnet's time term [batch, C] that a half-batch input takes: its first x.dim(0) rows. Only valid for
// terms whose halves are equal (the timestep's alone), which is when the UNet runs a shared prefix.
Tensor time_term_rows(const Tensor& term, const Tensor& x);

}  // namespace sdpp::nn
