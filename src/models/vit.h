/* vit.h - ViT helpers beyond the family interface of models.h. */
#ifndef TX_MODELS_VIT_H
#define TX_MODELS_VIT_H

#include "core/core.h"

/* Position embedding of a checkpoint trained at another image size -> this model's grid,
 * as timm does when it loads such weights (layers/pos_embed.py resample_abs_pos_embed with
 * its defaults): the `prefix` leading tokens (the class token) are copied, the sh x sw grid
 * of the rest is resized to gh x gw like PyTorch's
 * F.interpolate(mode='bicubic', antialias=True, align_corners=False): separable, width then
 * height, Keys cubic with a = -0.5 whose support widens by the factor when shrinking, taps
 * outside the grid dropped and the weights renormalized. Weights and sums in double.
 * src [prefix + sh*sw, d] -> dst [prefix + gh*gw, d] (row-major, token-major; dst must not
 * overlap src). Returns TX_OK, TX_EINVAL (a size < 1, prefix < 0) or TX_ENOMEM. */
int tx_vit_resample_pos_embed(float *dst, int gh, int gw, const float *src, int sh, int sw,
                              int d, int prefix, tx_err *err);

#endif
