/* vit.c - vision transformers as timm builds them (timm.models.vision_transformer):
 * vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224.
 *
 *   patch_embed.proj  conv 16x16 stride 16 (bias)          [H/16, W/16, d] = tokens
 *   cls_pos           class token, then + pos_embed         [t = (H/16)(W/16) + 1, 1, d]
 *   blocks.i (x depth, pre-norm):
 *     x = x + drop_path1(attn.proj(attention(attn.qkv(norm1(x)))))
 *     x = x + drop_path2(mlp.fc2(gelu(mlp.fc1(norm2(x)))))
 *   pool (token 0), norm, head                              [1, 1, classes]
 *
 * timm applies the final norm to every token and then takes token 0; layer norm works
 * per token, so taking token 0 first gives the same numbers for 1/t of the work.
 *
 * Names are timm's module paths, so parameter names equal timm's state-dict names except
 * cls_token / pos_embed, which belong to the node "cls_pos" (shapes [d] and [t, d] here,
 * [1, 1, d] and [1, t, d] in timm). Layer norms have eps 1e-6. Drop path rates are timm's
 * default (0): the nodes are there for a trainer that sets a rate.
 *
 * Initialization as timm's init_weights (mode ''): pos_embed trunc_normal(std .02),
 * cls_token normal(std 1e-6), every Linear trunc_normal(std .02) with zero bias, layer
 * norms ones / zeros, and the patch conv keeps PyTorch's Conv2d default
 * (kaiming_uniform(a = sqrt 5): U(+-1/sqrt(fan_in)) for weight and bias). */
#include "models/vit.h"

#include <math.h>
#include <stdlib.h>

#include "models/archutil.h"

typedef struct vit_cfg {
    const char *name;
    int dim, depth, heads;
} vit_cfg;

static const vit_cfg vit_cfgs[] = {
    {"vit_tiny_patch16_224", 192, 12, 3},
    {"vit_small_patch16_224", 384, 12, 6},
    {"vit_base_patch16_224", 768, 12, 12},
};
enum { VIT_PATCH = 16, VIT_MLP_RATIO = 4 };

static const char *const vit_names[] = {"vit_tiny_patch16_224", "vit_small_patch16_224",
                                        "vit_base_patch16_224", NULL};
static const char *const vit_desc[] = {
    "ViT-Ti/16 (timm): 12 blocks, width 192, 3 heads; 5.7M parameters at 224, 1000 classes",
    "ViT-S/16 (timm): 12 blocks, width 384, 6 heads; 22.1M parameters at 224, 1000 classes",
    "ViT-B/16 (timm, torchvision's vit_b_16): 12 blocks, width 768, 12 heads; 86.6M parameters",
};

static int vit_block(tx_model *m, int x, int i, const vit_cfg *c, float dpr, tx_err *err) {
    char nm[64];
    int cur, d = c->dim;
#define NM(s) (snprintf(nm, sizeof nm, "blocks.%d.%s", i, s), nm)
    AX_TRY(tx_g_layernorm(m, x, NM("norm1"), 1e-6f, err));
    AX_TRY(tx_g_linear(m, cur, NM("attn.qkv"), 3 * d, 1, err));
    {
        tx_node nd = {.op = TX_OP_ATTENTION, .n_in = 1, .in = {cur}, .heads = c->heads};
        snprintf(nd.name, sizeof nd.name, "%s", NM("attn"));
        AX_TRY(tx_g_node(m, &nd, err));
    }
    AX_TRY(tx_g_linear(m, cur, NM("attn.proj"), d, 1, err));
    AX_TRY(ax_node(m, TX_OP_DROPPATH, cur, NM("drop_path1"), dpr, err));
    AX_TRY(tx_g_add(m, x, cur, err));
    x = cur;
    AX_TRY(tx_g_layernorm(m, x, NM("norm2"), 1e-6f, err));
    AX_TRY(tx_g_linear(m, cur, NM("mlp.fc1"), VIT_MLP_RATIO * d, 1, err));
    AX_TRY(ax_node(m, TX_OP_GELU, cur, NM("mlp.act"), 0, err));
    AX_TRY(tx_g_linear(m, cur, NM("mlp.fc2"), d, 1, err));
    AX_TRY(ax_node(m, TX_OP_DROPPATH, cur, NM("drop_path2"), dpr, err));
#undef NM
    return tx_g_add(m, x, cur, err);
}

static void vit_init(tx_model *m, tx_rng *r) {
    for (int i = 0; i < m->n_nodes; i++) {
        const tx_node *nd = &m->nodes[i];
        if (nd->op == TX_OP_CONV2D) { /* patch_embed.proj: nn.Conv2d's default */
            const tx_tensor *w = &m->params[nd->param[0]].t;
            float bound = 1.0f / sqrtf((float)(w->shape[1] * w->shape[2] * w->shape[3]));
            ax_uniform(m, nd->param[0], bound, r);
            if (nd->bias) ax_uniform(m, nd->param[1], bound, r);
        } else if (nd->op == TX_OP_LINEAR) {
            ax_trunc_normal(m, nd->param[0], 0.02f, r);
            if (nd->bias) ax_const(m, nd->param[1], 0.0f);
        } else if (nd->op == TX_OP_CLS_POS) {
            int k = 0;
            if (nd->cls) ax_normal(m, nd->param[k++], 1e-6f, r);
            ax_trunc_normal(m, nd->param[k], 0.02f, r);
        } else if (nd->op == TX_OP_LAYERNORM) {
            ax_const(m, nd->param[0], 1.0f);
            ax_const(m, nd->param[1], 0.0f);
        }
    }
}

static int build_vit(tx_model *m, const char *arch, int classes, tx_rng *r, tx_err *err) {
    const vit_cfg *c = NULL;
    for (size_t i = 0; i < sizeof vit_cfgs / sizeof vit_cfgs[0]; i++)
        if (!strcmp(vit_cfgs[i].name, arch)) c = &vit_cfgs[i];
    if (!c) return tx_err_set(err, TX_EINVAL, "vit: unknown architecture '%s'", arch);
    const tx_node in = m->nodes[0];
    if (in.oh < VIT_PATCH || in.ow < VIT_PATCH)
        return tx_err_set(err, TX_ESHAPE,
                          "image size %dx%d is smaller than one %dx%d patch (--image-size must "
                          "be at least %d)", in.oh, in.ow, VIT_PATCH, VIT_PATCH, VIT_PATCH);
    int cur;
    /* timm's PatchEmbed: grid = size // 16; the conv drops the remainder the same way */
    AX_TRY(tx_g_conv(m, 0, "patch_embed.proj", c->dim, VIT_PATCH, VIT_PATCH, 0, 1, 1, err));
    AX_TRY(tx_g_cls_pos(m, cur, "cls_pos", 1, err));
    for (int i = 0; i < c->depth; i++) AX_TRY(vit_block(m, cur, i, c, 0.0f, err));
    AX_TRY(ax_node(m, TX_OP_TOKEN0, cur, "pool", 0, err));
    AX_TRY(tx_g_layernorm(m, cur, "norm", 1e-6f, err));
    AX_TRY(tx_g_linear(m, cur, "head", classes, 1, err));
    vit_init(m, r);
    /* timm's pretrained_cfg of the default tags (augreg in21k -> in1k): crop_pct 0.9,
     * bicubic (taxon resizes bilinear), mean = std = 0.5 */
    tx_preproc_default(&m->pp, in.oh, in.ow, in.oc);
    m->pp.crop_fraction = 0.9f;
    for (int k = 0; k < 3; k++) m->pp.mean[k] = m->pp.std[k] = 0.5f;
    return cur;
}

/* ---- names of timm / torchvision state dicts --------------------------------- */

static int vit_rename_timm(const char *name, char *out, size_t n) {
    int i;
    const char *rest;
    if (!strcmp(name, "cls_token") || !strcmp(name, "pos_embed"))
        return ax_put(out, n, "cls_pos.%s", name);
    if (ax_is_pwb(name, "patch_embed.proj.") || ax_is_pwb(name, "norm.") || ax_is_pwb(name, "head."))
        return ax_put(out, n, "%s", name);
    if ((rest = ax_num_after(name, "blocks.", &i))) {
        static const char *const mods[] = {"norm1.", "attn.qkv.", "attn.proj.", "norm2.",
                                           "mlp.fc1.", "mlp.fc2."};
        for (size_t k = 0; k < sizeof mods / sizeof mods[0]; k++)
            if (ax_is_pwb(rest, mods[k])) return ax_put(out, n, "%s", name);
    }
    return -1;
}

static int vit_rename_tv(const char *name, char *out, size_t n) {
    int i;
    const char *rest;
    if (!strcmp(name, "class_token")) return ax_put(out, n, "cls_pos.cls_token");
    if (!strcmp(name, "encoder.pos_embedding")) return ax_put(out, n, "cls_pos.pos_embed");
    static const char *const top[][2] = {
        {"conv_proj.", "patch_embed.proj."}, {"encoder.ln.", "norm."}, {"heads.head.", "head."}};
    for (size_t k = 0; k < sizeof top / sizeof top[0]; k++)
        if (ax_is_pwb(name, top[k][0]))
            return ax_put(out, n, "%s%s", top[k][1], name + strlen(top[k][0]));
    if ((rest = ax_num_after(name, "encoder.layers.encoder_layer_", &i))) {
        static const char *const map[][2] = {
            {"ln_1.", "norm1."},
            {"self_attention.out_proj.", "attn.proj."},
            {"ln_2.", "norm2."},
            {"mlp.0.", "mlp.fc1."},
            {"mlp.3.", "mlp.fc2."},
            {"mlp.linear_1.", "mlp.fc1."}, /* names of torchvision before 0.13 */
            {"mlp.linear_2.", "mlp.fc2."},
        };
        for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
            if (ax_is_pwb(rest, map[k][0]))
                return ax_put(out, n, "blocks.%d.%s%s", i, map[k][1], rest + strlen(map[k][0]));
        /* nn.MultiheadAttention's packed projection: rows q, k, v, as timm's qkv */
        if (!strcmp(rest, "self_attention.in_proj_weight"))
            return ax_put(out, n, "blocks.%d.attn.qkv.weight", i);
        if (!strcmp(rest, "self_attention.in_proj_bias"))
            return ax_put(out, n, "blocks.%d.attn.qkv.bias", i);
    }
    return -1;
}

static int vit_rename(const char *arch, const char *from, const char *name, char *out, size_t n) {
    (void)arch;
    if (!strcmp(from, "timm")) return vit_rename_timm(name, out, n);
    if (!strcmp(from, "torchvision")) return vit_rename_tv(name, out, n);
    return -1;
}

const tx_arch_family tx_family_vit = {vit_names, vit_desc, build_vit, vit_rename, 224, 3};

/* ---- position embedding at another grid size (vit.h) ----------------------------- */

/* Keys' cubic convolution kernel with a = -0.5 (PyTorch's antialiased bicubic, as PIL) */
static double cubic_aa(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

/* Interpolation weights from n_in to n_out samples: row i of w (n_in wide) holds the
 * weights of output i over the inputs (zero outside [lo[i], hi[i])). */
static void aa_weights(double *w, int *lo, int *hi, int n_in, int n_out) {
    double scale = (double)n_in / n_out;
    double support = scale >= 1.0 ? 2.0 * scale : 2.0, inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    for (int i = 0; i < n_out; i++) {
        double c = scale * (i + 0.5), total = 0;
        int a = (int)(c - support + 0.5), b = (int)(c + support + 0.5);
        if (a < 0) a = 0;
        if (b > n_in) b = n_in;
        double *row = w + (size_t)i * n_in;
        for (int j = 0; j < n_in; j++) row[j] = 0;
        for (int j = a; j < b; j++) total += row[j] = cubic_aa((j - c + 0.5) * inv);
        if (total != 0)
            for (int j = a; j < b; j++) row[j] /= total;
        lo[i] = a;
        hi[i] = b > a ? b : a;
    }
}

int tx_vit_resample_pos_embed(float *dst, int gh, int gw, const float *src, int sh, int sw,
                              int d, int prefix, tx_err *err) {
    if (gh < 1 || gw < 1 || sh < 1 || sw < 1 || d < 1 || prefix < 0 || gh > 4096 || gw > 4096 ||
        sh > 4096 || sw > 4096)
        return tx_err_set(err, TX_EINVAL, "pos_embed resampling: bad sizes %dx%d -> %dx%d, width %d, %d prefix tokens",
                          sh, sw, gh, gw, d, prefix);
    memcpy(dst, src, sizeof(float) * (size_t)prefix * d);
    src += (size_t)prefix * d;
    dst += (size_t)prefix * d;
    double *ww = malloc(sizeof(double) * ((size_t)gw * sw + (size_t)gh * sh));
    double *tmp = malloc(sizeof(double) * (size_t)sh * gw * d); /* [sh, gw, d] */
    int *idx = malloc(sizeof(int) * 2 * ((size_t)gw + gh));
    if (!ww || !tmp || !idx) {
        free(ww);
        free(tmp);
        free(idx);
        return tx_err_set(err, TX_ENOMEM, "pos_embed resampling: out of memory");
    }
    double *wh = ww + (size_t)gw * sw;
    int *wlo = idx, *whi = idx + gw, *hlo = idx + 2 * gw, *hhi = idx + 2 * gw + gh;
    aa_weights(ww, wlo, whi, sw, gw);
    aa_weights(wh, hlo, hhi, sh, gh);
    /* width first (PyTorch resizes the contiguous dimension first) */
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < gw; x++) {
            double *o = tmp + ((size_t)y * gw + x) * d;
            for (int c = 0; c < d; c++) o[c] = 0;
            for (int j = wlo[x]; j < whi[x]; j++) {
                double wj = ww[(size_t)x * sw + j];
                const float *s = src + ((size_t)y * sw + j) * d;
                for (int c = 0; c < d; c++) o[c] += wj * s[c];
            }
        }
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            float *o = dst + ((size_t)y * gw + x) * d;
            for (int c = 0; c < d; c++) {
                double acc = 0;
                for (int j = hlo[y]; j < hhi[y]; j++) acc += wh[(size_t)y * sh + j] * tmp[((size_t)j * gw + x) * d + c];
                o[c] = (float)acc;
            }
        }
    free(ww);
    free(tmp);
    free(idx);
    return TX_OK;
}
