/* convnext.c - ConvNeXt as timm builds it (timm.models.convnext): convnext_tiny.
 *
 *   stem.0   conv 4x4 stride 4 (bias), stem.1 layer norm over channels
 *   stages.s (s = 0..3, depths 3 3 9 3, widths 96 192 384 768):
 *     s > 0: downsample.0 layer norm, downsample.1 conv 2x2 stride 2 (bias)
 *     blocks.j: x = x + drop_path(gamma * mlp.fc2(gelu(mlp.fc1(norm(conv_dw(x))))))
 *               conv_dw 7x7 depthwise pad 3 (bias); norm, fc1, fc2 act on the channel axis
 *               (NHWC: timm's permute to channels-last is a no-op here)
 *   global average pool, head.norm (layer norm), head.fc
 *
 * Every layer norm has eps 1e-6. The layer scale node of block j is named
 * "stages.s.blocks.j", so its parameter is timm's "stages.s.blocks.j.gamma"; every other
 * parameter name equals timm's too. Drop path rates are timm's default (0): the nodes are
 * there for a trainer that sets a rate.
 *
 * Initialization as timm's _init_weights: conv and linear weights trunc_normal(std .02),
 * zero biases, layer norms ones / zeros, layer scale 1e-6 (head_init_scale 1). */
#include "models/archutil.h"

typedef struct convnext_cfg {
    const char *name;
    int depths[4], dims[4];
} convnext_cfg;

static const convnext_cfg convnext_cfgs[] = {
    {"convnext_tiny", {3, 3, 9, 3}, {96, 192, 384, 768}},
};

static const char *const convnext_names[] = {"convnext_tiny", NULL};
static const char *const convnext_desc[] = {
    "ConvNeXt-T (timm / torchvision): 3-3-9-3 blocks, widths 96-768; 28.6M parameters",
};

enum { CONVNEXT_MLP_RATIO = 4 };
#define CONVNEXT_LS_INIT 1e-6f

static int convnext_block(tx_model *m, int x, int s, int j, int dim, float dpr, tx_err *err) {
    char nm[64];
    int cur;
#define NM(t) (snprintf(nm, sizeof nm, "stages.%d.blocks.%d%s", s, j, t), nm)
    AX_TRY(tx_g_conv(m, x, NM(".conv_dw"), dim, 7, 1, 3, dim, 1, err));
    AX_TRY(tx_g_layernorm(m, cur, NM(".norm"), 1e-6f, err));
    AX_TRY(tx_g_linear(m, cur, NM(".mlp.fc1"), CONVNEXT_MLP_RATIO * dim, 1, err));
    AX_TRY(ax_node(m, TX_OP_GELU, cur, NM(".mlp.act"), 0, err));
    AX_TRY(tx_g_linear(m, cur, NM(".mlp.fc2"), dim, 1, err));
    AX_TRY(tx_g_layerscale(m, cur, NM(""), err));
    AX_TRY(ax_node(m, TX_OP_DROPPATH, cur, NM(".drop_path"), dpr, err));
#undef NM
    return tx_g_add(m, x, cur, err);
}

static void convnext_init(tx_model *m, tx_rng *r) {
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op == TX_OP_CONV2D || nd->op == TX_OP_LINEAR) {
            ax_trunc_normal(m, nd->param[0], 0.02f, r);
            if (nd->bias) ax_const(m, nd->param[1], 0.0f);
        } else if (nd->op == TX_OP_LAYERNORM) {
            ax_const(m, nd->param[0], 1.0f);
            ax_const(m, nd->param[1], 0.0f);
        } else if (nd->op == TX_OP_LAYERSCALE) {
            ax_const(m, nd->param[0], CONVNEXT_LS_INIT);
        }
    }
}

static int build_convnext(tx_model *m, const char *arch, int classes, tx_rng *r, tx_err *err) {
    const convnext_cfg *c = NULL;
    for (size_t i = 0; i < sizeof convnext_cfgs / sizeof convnext_cfgs[0]; i++)
        if (!strcmp(convnext_cfgs[i].name, arch)) c = &convnext_cfgs[i];
    if (!c) return tx_err_set(err, TX_EINVAL, "convnext: unknown architecture '%s'", arch);
    const tx_node in = m->nodes[0];
    if (in.oh < 32 || in.ow < 32)
        return tx_err_set(err, TX_ESHAPE,
                          "image size %dx%d is too small: the stem and three downsamples "
                          "reduce by 32 (--image-size must be at least 32)", in.oh, in.ow);
    int cur;
    char nm[64];
    AX_TRY(tx_g_conv(m, 0, "stem.0", c->dims[0], 4, 4, 0, 1, 1, err));
    AX_TRY(tx_g_layernorm(m, cur, "stem.1", 1e-6f, err));
    for (int s = 0; s < 4; s++) {
        if (s > 0) {
            snprintf(nm, sizeof nm, "stages.%d.downsample.0", s);
            AX_TRY(tx_g_layernorm(m, cur, nm, 1e-6f, err));
            snprintf(nm, sizeof nm, "stages.%d.downsample.1", s);
            AX_TRY(tx_g_conv(m, cur, nm, c->dims[s], 2, 2, 0, 1, 1, err));
        }
        for (int j = 0; j < c->depths[s]; j++)
            AX_TRY(convnext_block(m, cur, s, j, c->dims[s], 0.0f, err));
    }
    AX_TRY(ax_node(m, TX_OP_GLOBAL_AVGPOOL, cur, "head.global_pool", 0, err));
    AX_TRY(tx_g_layernorm(m, cur, "head.norm", 1e-6f, err));
    AX_TRY(tx_g_linear(m, cur, "head.fc", classes, 1, err));
    convnext_init(m, r);
    /* timm's pretrained_cfg of the default tag (in12k_ft_in1k): crop_pct 0.95, bicubic
     * (taxon resizes bilinear), ImageNet mean / std */
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    tx_preproc_default(&m->pp, in.oh, in.ow, in.oc);
    m->pp.crop_fraction = 0.95f;
    for (int k = 0; k < 3; k++) {
        m->pp.mean[k] = mean[k];
        m->pp.std[k] = std[k];
    }
    return cur;
}

/* ---- names of timm / torchvision state dicts --------------------------------- */

static int convnext_rename_timm(const char *name, char *out, size_t n) {
    int s, j;
    const char *rest, *r2;
    if (ax_is_pwb(name, "stem.0.") || ax_is_pwb(name, "stem.1.") || ax_is_pwb(name, "head.norm.") ||
        ax_is_pwb(name, "head.fc."))
        return ax_put(out, n, "%s", name);
    if ((rest = ax_num_after(name, "stages.", &s))) {
        if (ax_is_pwb(rest, "downsample.0.") || ax_is_pwb(rest, "downsample.1."))
            return ax_put(out, n, "%s", name);
        if ((r2 = ax_num_after(rest, "blocks.", &j))) {
            if (!strcmp(r2, "gamma") || ax_is_pwb(r2, "conv_dw.") || ax_is_pwb(r2, "norm.") ||
                ax_is_pwb(r2, "mlp.fc1.") || ax_is_pwb(r2, "mlp.fc2."))
                return ax_put(out, n, "%s", name);
        }
    }
    return -1;
}

/* torchvision: features.0 = stem (0 conv, 1 norm); features.2s-1 = stage s blocks
 * (block.0 conv_dw, .2 norm, .3 fc1, .5 fc2, layer_scale [C,1,1]); features.2s (s > 0) =
 * downsample (0 norm, 1 conv); classifier.0 norm, classifier.2 fc. */
static int convnext_rename_tv(const char *name, char *out, size_t n) {
    int f, j, b;
    const char *rest, *r2, *r3;
    if (ax_is_pwb(name, "classifier.0.")) return ax_put(out, n, "head.norm.%s", name + 13);
    if (ax_is_pwb(name, "classifier.2.")) return ax_put(out, n, "head.fc.%s", name + 13);
    if (!(rest = ax_num_after(name, "features.", &f)) || f > 7) return -1;
    if (f == 0 || f % 2 == 0) { /* stem or downsample */
        if (!(r2 = ax_num_after(rest, "", &j)) || j > 1 || !ax_is_wb(r2)) return -1;
        if (f == 0) return ax_put(out, n, "stem.%d.%s", j, r2);
        return ax_put(out, n, "stages.%d.downsample.%d.%s", f / 2, j, r2);
    }
    int s = (f - 1) / 2;
    if (!(r2 = ax_num_after(rest, "", &j))) return -1;
    if (!strcmp(r2, "layer_scale")) return ax_put(out, n, "stages.%d.blocks.%d.gamma", s, j);
    if (!(r3 = ax_num_after(r2, "block.", &b)) || !ax_is_wb(r3)) return -1;
    static const char *const mods[6] = {"conv_dw", NULL, "norm", "mlp.fc1", NULL, "mlp.fc2"};
    if (b > 5 || !mods[b]) return -1;
    return ax_put(out, n, "stages.%d.blocks.%d.%s.%s", s, j, mods[b], r3);
}

static int convnext_rename(const char *arch, const char *from, const char *name, char *out,
                           size_t n) {
    (void)arch;
    if (!strcmp(from, "timm")) return convnext_rename_timm(name, out, n);
    if (!strcmp(from, "torchvision")) return convnext_rename_tv(name, out, n);
    return -1;
}

const tx_arch_family tx_family_convnext = {convnext_names, convnext_desc, build_convnext,
                                           convnext_rename, 224, 3};
