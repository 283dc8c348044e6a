/* mbconv.c - MobileNetV2 / EfficientNet block stacks as timm builds them (mbconv.h).
 *
 * Blocks (timm _efficientnet_blocks.py), "<p>" = "blocks.<s>.<i>.":
 *   ds: <p>conv_dw (k, stride, depthwise) <p>bn1 act [se] <p>conv_pw (1x1) <p>bn2
 *   ir: <p>conv_pw (1x1, in*expand) <p>bn1 act <p>conv_dw <p>bn2 act [se] <p>conv_pwl <p>bn3
 *   se: global_avgpool, <p>se.conv_reduce (1x1, bias) act, <p>se.conv_expand (1x1, bias)
 *       sigmoid, mul(x, gate)
 * with a residual add (after drop path when its rate is > 0) when stride is 1 and the
 * block keeps its width. Padding is PyTorch's symmetric k/2 (timm's default '' padding
 * for these models; only the tf_* variants pad 'same'). */
#include "models/mbconv.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TRY(x)                           \
    do {                                 \
        if ((cur = (x)) < 0) return cur; \
    } while (0)

int tx_mb_subst(const char *name, const char *from, const char *to, char *out, size_t n) {
    size_t lf = strlen(from);
    if (strncmp(name, from, lf) || (name[lf] && name[lf] != '.')) return 0;
    int w = snprintf(out, n, "%s%s", to, name + lf);
    return w >= 0 && (size_t)w < n;
}

static int conv(tx_model *m, int in, const char *pre, const char *nm, int oc, int k, int stride,
                int groups, int bias, tx_err *err) {
    char name[64];
    snprintf(name, sizeof name, "%s%s", pre, nm);
    return tx_g_conv(m, in, name, oc, k, stride, k / 2, groups, bias, err);
}

static int bn_act(tx_model *m, int in, const char *pre, const char *nm, tx_op_kind act,
                  tx_err *err) {
    char name[64];
    int cur;
    snprintf(name, sizeof name, "%s%s", pre, nm);
    TRY(tx_g_bn(m, in, name, err));
    if (act != TX_OP_INPUT) TRY(tx_g_act(m, act, cur, err));
    return cur;
}

static int squeeze_excite(tx_model *m, int x, const char *pre, int rd, tx_op_kind act,
                          tx_err *err) {
    int cur, c = m->nodes[x].oc;
    TRY(tx_g_gap(m, x, err));
    TRY(conv(m, cur, pre, "se.conv_reduce", rd, 1, 1, 1, 1, err));
    TRY(tx_g_act(m, act, cur, err));
    TRY(conv(m, cur, pre, "se.conv_expand", c, 1, 1, 1, 1, err));
    TRY(tx_g_act(m, TX_OP_SIGMOID, cur, err));
    return tx_g_mul(m, x, cur, err);
}

static int block(tx_model *m, int in, const char *pre, const tx_mb_stage *st, int stride,
                 const tx_mb_config *cfg, float dpr, tx_err *err) {
    int cur, c = m->nodes[in].oc;
    int rd = c / 4 > 0 ? c / 4 : 1;
    if (!st->ir) {
        TRY(conv(m, in, pre, "conv_dw", c, st->k, stride, c, 0, err));
        TRY(bn_act(m, cur, pre, "bn1", cfg->act, err));
        if (st->se) TRY(squeeze_excite(m, cur, pre, rd, cfg->act, err));
        TRY(conv(m, cur, pre, "conv_pw", st->out_c, 1, 1, 1, 0, err));
        TRY(bn_act(m, cur, pre, "bn2", TX_OP_INPUT, err));
    } else {
        int mid = c * st->expand;
        TRY(conv(m, in, pre, "conv_pw", mid, 1, 1, 1, 0, err));
        TRY(bn_act(m, cur, pre, "bn1", cfg->act, err));
        TRY(conv(m, cur, pre, "conv_dw", mid, st->k, stride, mid, 0, err));
        TRY(bn_act(m, cur, pre, "bn2", cfg->act, err));
        if (st->se) TRY(squeeze_excite(m, cur, pre, rd, cfg->act, err));
        TRY(conv(m, cur, pre, "conv_pwl", st->out_c, 1, 1, 1, 0, err));
        TRY(bn_act(m, cur, pre, "bn3", TX_OP_INPUT, err));
    }
    if (stride == 1 && c == st->out_c) {
        if (dpr > 0) TRY(tx_g_droppath(m, cur, dpr, err));
        TRY(tx_g_add(m, cur, in, err));
    }
    return cur;
}

static void init_goog(tx_model *m, tx_rng *r) {
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op == TX_OP_CONV2D) {
            tx_tensor *w = &m->params[nd->param[0]].t;
            double fan_out = (double)nd->kh * nd->kw * nd->out_c / nd->groups;
            float std = (float)sqrt(2.0 / fan_out), *d = w->data;
            for (int64_t k = 0; k < tx_tensor_numel(w); k++) d[k] = tx_rng_normal(r) * std;
        } else if (nd->op == TX_OP_LINEAR) {
            tx_tensor *w = &m->params[nd->param[0]].t;
            float bound = 1.0f / sqrtf((float)w->shape[0]), *d = w->data;
            for (int64_t k = 0; k < tx_tensor_numel(w); k++)
                d[k] = (2.0f * tx_rng_uniform(r) - 1.0f) * bound;
        }
        /* biases stay 0, batch norms stay weight 1 / bias 0 / var 1 as created */
    }
}

int tx_mb_build(tx_model *m, const tx_mb_config *cfg, int classes, tx_rng *rng, tx_err *err) {
    int cur = 0, total = 0, idx = 0;
    for (int s = 0; s < cfg->n_stages; s++) total += cfg->stages[s].repeats;
    TRY(conv(m, cur, "", "conv_stem", cfg->stem_c, 3, 2, 1, 0, err));
    TRY(bn_act(m, cur, "", "bn1", cfg->act, err));
    for (int s = 0; s < cfg->n_stages; s++) {
        const tx_mb_stage *st = &cfg->stages[s];
        for (int i = 0; i < st->repeats; i++, idx++) {
            char pre[48];
            snprintf(pre, sizeof pre, "blocks.%d.%d.", s, i);
            float dpr = cfg->drop_path * (float)idx / (float)total;
            TRY(block(m, cur, pre, st, i == 0 ? st->stride : 1, cfg, dpr, err));
        }
    }
    TRY(conv(m, cur, "", "conv_head", cfg->head_c, 1, 1, 1, 0, err));
    TRY(bn_act(m, cur, "", "bn2", cfg->act, err));
    TRY(tx_g_gap(m, cur, err));
    if (cfg->dropout > 0) TRY(tx_g_dropout(m, cur, cfg->dropout, err));
    TRY(tx_g_linear(m, cur, "classifier", classes, 1, err));
    init_goog(m, rng);
    const tx_node *in = &m->nodes[0];
    tx_preproc_default(&m->pp, in->oh, in->ow, in->oc);
    m->pp.resize = TX_RESIZE_BILINEAR; /* timm: bicubic */
    m->pp.crop_fraction = 0.875f;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < in->oc && c < 3; c++) {
        m->pp.mean[c] = in->oc == 3 ? mean[c] : 0.449f;
        m->pp.std[c] = in->oc == 3 ? std[c] : 0.226f;
    }
    return cur;
}
