/* mbconv.h - the block-stack builder behind MobileNetV2 and EfficientNet (internal to
 * models/). timm builds both with one class (timm.models.EfficientNet): a conv stem, stages
 * of depthwise-separable ("ds") or inverted-residual ("ir") blocks, a 1x1 head conv,
 * global pooling and a linear classifier; the node names are timm's module paths
 * ("conv_stem", "bn1", "blocks.<s>.<i>.conv_pw", ..., "conv_head", "bn2", "classifier"). */
#ifndef TX_MODELS_MBCONV_H
#define TX_MODELS_MBCONV_H

#include "models/models.h"

typedef struct tx_mb_stage {
    int ir;        /* 0: depthwise-separable block, 1: inverted residual */
    int repeats;
    int k;         /* depthwise kernel */
    int stride;    /* of the first block */
    int expand;    /* ir expansion ratio */
    int out_c;
    int se;        /* squeeze-excitation with reduced width in_c / 4 */
} tx_mb_stage;

typedef struct tx_mb_config {
    int stem_c, head_c;
    tx_op_kind act;          /* TX_OP_RELU6 or TX_OP_SILU (also the SE activation) */
    int n_stages;
    const tx_mb_stage *stages;
    float dropout;           /* before the classifier */
    float drop_path;         /* block i of B: drop_path * i / B, on residual blocks */
} tx_mb_config;

/* Adds the network after node 0 and initializes it as timm's _init_weight_goog (conv
 * normal(0, sqrt(2 / fan_out)) with fan_out = k*k*out/groups, biases 0, batch norm 1/0,
 * linear U(-1/sqrt(out), 1/sqrt(out)) with bias 0). Sets m->pp to ImageNet mean/std,
 * crop 0.875, bilinear (timm says bicubic). Returns the output node. */
int tx_mb_build(tx_model *m, const tx_mb_config *cfg, int classes, tx_rng *rng, tx_err *err);

/* Writes prefix `to` + the rest of `name` after prefix `from` (which must be followed
 * by '.' or the end) into out. Returns 1 when it matched and fitted, else 0. */
int tx_mb_subst(const char *name, const char *from, const char *to, char *out, size_t n);

#endif
