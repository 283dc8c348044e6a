/* The ViT and ConvNeXt builders (src/models/vit.c, convnext.c):
 *  - parameter counts equal timm's at 224 / 1000 classes and at other sizes;
 *  - shapes at several image sizes, errors for sizes that do not fit;
 *  - initialization as timm's (statistics of each kind of parameter);
 *  - the timm / torchvision name mappings on examples (test_arch imports the full state
 *    dicts of tools/golden_arch.py and checks logits and vit_tiny's gradients against
 *    PyTorch);
 *  - the position-embedding resampling against timm's resample_abs_pos_embed
 *    (tools/golden_vit_resample.py);
 *  - forward / backward on random input at several sizes (inference plan = training
 *    forward) and gradients against central finite differences. */
#include "testutil.h"

#include <cJSON.h>

#include "graph/graph.h"
#include "models/models.h"
#include "models/vit.h"
#include "synth.h"

static tx_model *build(const char *arch, int h, int w, int classes, uint64_t seed) {
    tx_err err = {0};
    tx_model *m = NULL;
    int rc = tx_model_build(arch, h, w, 3, classes, seed, &m, &err);
    CHECK(rc == 0, "build %s %dx%d: %s", arch, h, w, err.msg);
    return rc == 0 ? m : NULL;
}

static void test_param_counts(void) {
    /* timm 1.0.31: sum(p.numel() for p in timm.create_model(arch, img_size=S,
     * num_classes=K).parameters()) */
    static const struct { const char *arch; int size, classes; int64_t want; } cases[] = {
        {"vit_tiny_patch16_224", 224, 1000, 5717416},
        {"vit_small_patch16_224", 224, 1000, 22050664},
        {"vit_base_patch16_224", 224, 1000, 86567656},
        {"convnext_tiny", 224, 1000, 28589128},
        {"vit_tiny_patch16_224", 32, 10, 5489482},
        {"vit_tiny_patch16_224", 64, 10, 5491786},
        {"vit_tiny_patch16_224", 96, 5, 5494661},
        {"vit_small_patch16_224", 32, 10, 21595786},
        {"vit_base_patch16_224", 96, 5, 85679621},
        {"convnext_tiny", 32, 10, 27827818},
        {"convnext_tiny", 96, 5, 27823973},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tx_model *m = build(cases[i].arch, cases[i].size, cases[i].size, cases[i].classes, 1);
        if (!m) continue;
        int64_t n = tx_model_param_count(m, 1), all = tx_model_param_count(m, 0);
        printf("  %-24s %3d px %4d classes: %lld parameters (timm %lld)\n", cases[i].arch,
               cases[i].size, cases[i].classes, (long long)n, (long long)cases[i].want);
        CHECK(n == cases[i].want, "%s: %lld parameters, timm has %lld", cases[i].arch,
              (long long)n, (long long)cases[i].want);
        CHECK(all == n, "%s: %lld non-trainable parameters", cases[i].arch, (long long)(all - n));
        const tx_node *o = &m->nodes[tx_model_output_node(m)];
        CHECK(o->oh == 1 && o->ow == 1 && o->oc == cases[i].classes, "output %dx%dx%d", o->oh,
              o->ow, o->oc);
        tx_model_free(m);
    }
}

static const tx_param *param(const tx_model *m, const char *name) {
    int i = tx_model_find_param(m, name);
    CHECK(i >= 0, "no parameter %s", name);
    return i >= 0 ? &m->params[i] : NULL;
}

static void test_shapes_and_sizes(void) {
    static const struct { int h, w, grid; } vs[] = {{16, 16, 1}, {32, 48, 6}, {40, 40, 4}, {224, 224, 196}};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        tx_model *m = build("vit_tiny_patch16_224", vs[i].h, vs[i].w, 7, 2);
        if (!m) continue;
        const tx_param *p = param(m, "cls_pos.pos_embed"), *c = param(m, "cls_pos.cls_token");
        CHECK(p && p->t.ndim == 2 && p->t.shape[0] == vs[i].grid + 1 && p->t.shape[1] == 192,
              "%dx%d: pos_embed shape", vs[i].h, vs[i].w);
        CHECK(c && c->t.ndim == 1 && c->t.shape[0] == 192, "cls_token shape");
        CHECK(m->pp.height == vs[i].h && m->pp.width == vs[i].w && m->pp.crop_fraction == 0.9f &&
              m->pp.mean[0] == 0.5f && m->pp.std[2] == 0.5f, "vit preprocessing");
        /* the embedding is the normalized class token */
        int f = tx_model_feature_node(m);
        CHECK(!strcmp(m->nodes[f].name, "norm") && m->nodes[f].oc == 192, "feature node %s",
              m->nodes[f].name);
        tx_model_free(m);
    }
    static const struct { int h, w; } cs[] = {{32, 32}, {48, 80}, {224, 224}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        tx_model *m = build("convnext_tiny", cs[i].h, cs[i].w, 3, 2);
        if (!m) continue;
        int d = tx_model_find_param(m, "stages.3.downsample.1.weight");
        CHECK(d >= 0, "no stages.3.downsample.1.weight");
        if (d >= 0) {
            for (int k = 0; k < m->n_nodes; k++)
                if (m->nodes[k].param[0] == d && m->nodes[k].n_param) {
                    CHECK(m->nodes[k].oh == cs[i].h / 32 && m->nodes[k].ow == cs[i].w / 32,
                          "stage 3 is %dx%d", m->nodes[k].oh, m->nodes[k].ow);
                    break;
                }
        }
        CHECK(m->pp.crop_fraction == 0.95f && m->pp.mean[0] == 0.485f && m->pp.std[0] == 0.229f,
              "convnext preprocessing");
        int f = tx_model_feature_node(m);
        CHECK(!strcmp(m->nodes[f].name, "head.norm"), "feature node %s", m->nodes[f].name);
        tx_model_free(m);
    }
    /* sizes that do not fit are errors that say why */
    tx_err err = {0};
    tx_model *m = NULL;
    int rc = tx_model_build("vit_small_patch16_224", 8, 32, 3, 10, 1, &m, &err);
    CHECK(rc != 0 && !m && strstr(err.msg, "patch"), "vit at 8x32: rc %d '%s'", rc, err.msg);
    rc = tx_model_build("convnext_tiny", 24, 24, 3, 10, 1, &m, &err);
    CHECK(rc != 0 && !m && strstr(err.msg, "at least 32"), "convnext at 24: rc %d '%s'", rc, err.msg);
}

static void stats(const tx_param *p, double *mean, double *sd, double *maxabs) {
    const float *d = p->t.data;
    int64_t n = tx_tensor_numel(&p->t);
    double s = 0, s2 = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        s += d[i];
        s2 += (double)d[i] * d[i];
        if (fabs(d[i]) > mx) mx = fabs(d[i]);
    }
    *mean = s / n;
    *sd = sqrt(fmax(0.0, s2 / n - *mean * *mean));
    *maxabs = mx;
}

/* mean ~ 0 and standard deviation within 5% of std (big tensors), or all == value */
static void check_init(const tx_model *m, const char *name, double std, double value) {
    const tx_param *p = param(m, name);
    if (!p) return;
    double mean, sd, mx;
    stats(p, &mean, &sd, &mx);
    if (std > 0) {
        CHECK(fabs(sd / std - 1) < 0.05 && fabs(mean) < 0.1 * std, "%s: mean %.3g sd %.3g, want sd %.3g",
              name, mean, sd, std);
    } else {
        CHECK(sd == 0 && mean == value, "%s: mean %.3g sd %.3g, want all %.3g", name, mean, sd, value);
    }
}

static void test_init(void) {
    tx_model *m = build("vit_tiny_patch16_224", 224, 224, 1000, 7);
    if (m) {
        check_init(m, "blocks.0.attn.qkv.weight", 0.02, 0);
        check_init(m, "blocks.3.mlp.fc2.weight", 0.02, 0);
        check_init(m, "head.weight", 0.02, 0);
        check_init(m, "cls_pos.pos_embed", 0.02, 0);
        check_init(m, "blocks.3.attn.qkv.bias", 0, 0);
        check_init(m, "head.bias", 0, 0);
        check_init(m, "blocks.11.norm2.weight", 0, 1);
        check_init(m, "norm.bias", 0, 0);
        /* nn.Conv2d default: U(+-1/sqrt(768)), sd = bound / sqrt(3) */
        check_init(m, "patch_embed.proj.weight", 1 / sqrt(768.0) / sqrt(3.0), 0);
        double mean, sd, mx;
        const tx_param *c = param(m, "cls_pos.cls_token");
        if (c) {
            stats(c, &mean, &sd, &mx);
            CHECK(sd > 0.5e-6 && sd < 2e-6, "cls_token sd %.3g, want 1e-6", sd);
        }
        const tx_param *b = param(m, "patch_embed.proj.bias");
        if (b) {
            stats(b, &mean, &sd, &mx);
            CHECK(mx <= 1 / sqrt(768.0) && sd > 0.3 / sqrt(768.0), "patch bias: max %.3g sd %.3g", mx, sd);
        }
        tx_model_free(m);
    }
    m = build("convnext_tiny", 64, 64, 1000, 7);
    if (m) {
        check_init(m, "stem.0.weight", 0.02, 0);
        check_init(m, "stages.2.blocks.4.conv_dw.weight", 0.02, 0);
        check_init(m, "stages.2.blocks.4.mlp.fc1.weight", 0.02, 0);
        check_init(m, "stages.3.downsample.1.weight", 0.02, 0);
        check_init(m, "head.fc.weight", 0.02, 0);
        check_init(m, "stages.1.blocks.2.conv_dw.bias", 0, 0);
        check_init(m, "stages.1.blocks.2.gamma", 0, 1e-6f);
        check_init(m, "stages.1.blocks.2.norm.weight", 0, 1);
        check_init(m, "head.norm.bias", 0, 0);
        tx_model_free(m);
    }
    /* the seed decides the weights */
    tx_model *a = build("vit_tiny_patch16_224", 32, 32, 10, 1), *b = build("vit_tiny_patch16_224", 32, 32, 10, 1),
             *c = build("vit_tiny_patch16_224", 32, 32, 10, 2);
    if (a && b && c) {
        int p = tx_model_find_param(a, "blocks.2.mlp.fc1.weight");
        size_t nb = tx_tensor_nbytes(&a->params[p].t);
        CHECK(!memcmp(a->params[p].t.data, b->params[p].t.data, nb), "same seed, different weights");
        CHECK(memcmp(a->params[p].t.data, c->params[p].t.data, nb), "different seeds, same weights");
    }
    tx_model_free(a);
    tx_model_free(b);
    tx_model_free(c);
}

static int map_name(const char *arch, const char *from, const char *name, char *out, size_t n) {
    const tx_arch_family *f = tx_arch_family_of(arch);
    CHECK(f && f->rename, "no family / rename for %s", arch);
    return f && f->rename ? f->rename(arch, from, name, out, n) : -2;
}

static void test_rename_examples(void) {
    static const struct { const char *arch, *from, *name, *want; } ok[] = {
        {"vit_tiny_patch16_224", "timm", "cls_token", "cls_pos.cls_token"},
        {"vit_tiny_patch16_224", "timm", "pos_embed", "cls_pos.pos_embed"},
        {"vit_tiny_patch16_224", "timm", "blocks.11.attn.qkv.weight", "blocks.11.attn.qkv.weight"},
        {"vit_tiny_patch16_224", "timm", "head.bias", "head.bias"},
        {"vit_base_patch16_224", "torchvision", "class_token", "cls_pos.cls_token"},
        {"vit_base_patch16_224", "torchvision", "encoder.pos_embedding", "cls_pos.pos_embed"},
        {"vit_base_patch16_224", "torchvision", "conv_proj.weight", "patch_embed.proj.weight"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_7.self_attention.in_proj_weight",
         "blocks.7.attn.qkv.weight"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_0.self_attention.in_proj_bias",
         "blocks.0.attn.qkv.bias"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_10.self_attention.out_proj.bias",
         "blocks.10.attn.proj.bias"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_3.mlp.3.weight",
         "blocks.3.mlp.fc2.weight"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_3.mlp.linear_1.bias",
         "blocks.3.mlp.fc1.bias"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_11.ln_2.weight",
         "blocks.11.norm2.weight"},
        {"vit_base_patch16_224", "torchvision", "encoder.ln.bias", "norm.bias"},
        {"vit_base_patch16_224", "torchvision", "heads.head.weight", "head.weight"},
        {"convnext_tiny", "timm", "stages.2.blocks.8.gamma", "stages.2.blocks.8.gamma"},
        {"convnext_tiny", "timm", "stem.1.bias", "stem.1.bias"},
        {"convnext_tiny", "torchvision", "features.0.0.weight", "stem.0.weight"},
        {"convnext_tiny", "torchvision", "features.0.1.bias", "stem.1.bias"},
        {"convnext_tiny", "torchvision", "features.5.8.layer_scale", "stages.2.blocks.8.gamma"},
        {"convnext_tiny", "torchvision", "features.7.2.block.0.weight", "stages.3.blocks.2.conv_dw.weight"},
        {"convnext_tiny", "torchvision", "features.1.0.block.2.bias", "stages.0.blocks.0.norm.bias"},
        {"convnext_tiny", "torchvision", "features.3.1.block.3.weight", "stages.1.blocks.1.mlp.fc1.weight"},
        {"convnext_tiny", "torchvision", "features.3.1.block.5.bias", "stages.1.blocks.1.mlp.fc2.bias"},
        {"convnext_tiny", "torchvision", "features.6.0.weight", "stages.3.downsample.0.weight"},
        {"convnext_tiny", "torchvision", "features.2.1.bias", "stages.1.downsample.1.bias"},
        {"convnext_tiny", "torchvision", "classifier.0.weight", "head.norm.weight"},
        {"convnext_tiny", "torchvision", "classifier.2.bias", "head.fc.bias"},
    };
    char out[128];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = map_name(ok[i].arch, ok[i].from, ok[i].name, out, sizeof out);
        CHECK(rc == 1 && !strcmp(out, ok[i].want), "%s %s: rc %d '%s', want '%s'", ok[i].from,
              ok[i].name, rc, rc == 1 ? out : "", ok[i].want);
    }
    static const struct { const char *arch, *from, *name; } bad[] = {
        {"vit_tiny_patch16_224", "timm", "blocks.1.attn.qkv.weightx"},
        {"vit_tiny_patch16_224", "timm", "blocks.01.attn.qkv.weight"},
        {"vit_tiny_patch16_224", "timm", "blocks.x.norm1.weight"},
        {"vit_tiny_patch16_224", "timm", "fc_norm.weight"},
        {"vit_tiny_patch16_224", "timm", "class_token"},
        {"vit_tiny_patch16_224", "onnx", "cls_token"},
        {"vit_base_patch16_224", "torchvision", "heads.pre_logits.weight"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_1.mlp.1.weight"},
        {"vit_base_patch16_224", "torchvision", "encoder.layers.encoder_layer_1.self_attention.in_proj"},
        {"vit_base_patch16_224", "torchvision", "cls_token"},
        {"convnext_tiny", "timm", "stages.1.blocks.0.ls.gamma"},
        {"convnext_tiny", "torchvision", "features.8.0.weight"},
        {"convnext_tiny", "torchvision", "features.1.0.block.1.weight"},
        {"convnext_tiny", "torchvision", "features.1.0.block.4.weight"},
        {"convnext_tiny", "torchvision", "features.2.2.weight"},
        {"convnext_tiny", "torchvision", "features.0.1.running_mean"},
        {"convnext_tiny", "torchvision", "classifier.1.weight"},
        {"convnext_tiny", "torchvision", "stem.0.weight"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = map_name(bad[i].arch, bad[i].from, bad[i].name, out, sizeof out);
        CHECK(rc == -1, "%s %s: rc %d, want -1", bad[i].from, bad[i].name, rc);
    }
    /* an output buffer too small is "not mapped", not a truncated name */
    CHECK(map_name("vit_tiny_patch16_224", "timm", "cls_token", out, 8) == -1, "truncation");
}

/* ---- position embedding at another grid size ------------------------------------ */

static void test_resample_pos_embed(void) {
    tx_safetensors st;
    tx_err err = {0};
    CHECK_OK(tx_st_load("tests/golden/vit_resample.safetensors", &st, &err), &err);
    const char *js = tx_st_meta_get(&st, "cases");
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    CHECK(cJSON_IsArray(j), "metadata 'cases'");
    int k = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, j) {
        int v[5];
        for (int q = 0; q < 5; q++) v[q] = cJSON_GetArrayItem(c, q) ? cJSON_GetArrayItem(c, q)->valueint : 0;
        int sh = v[0], sw = v[1], gh = v[2], gw = v[3], d = v[4];
        char sn[32], dn[32], what[96];
        snprintf(sn, sizeof sn, "src.%d", k);
        snprintf(dn, sizeof dn, "dst.%d", k);
        int64_t ss[2] = {1 + sh * sw, d}, ds[2] = {1 + gh * gw, d};
        float *src = tu_golden_copy(&st, sn, TX_F32, 2, ss), *want = tu_golden_copy(&st, dn, TX_F32, 2, ds);
        float *got = malloc(sizeof(float) * (size_t)ds[0] * d);
        if (src && want) {
            int rc = tx_vit_resample_pos_embed(got, gh, gw, src, sh, sw, d, 1, &err);
            CHECK(rc == 0, "%s", err.msg);
            snprintf(what, sizeof what, "pos_embed %dx%d -> %dx%d", sh, sw, gh, gw);
            if (rc == 0) CHECK(tu_close(what, got, want, (long)ds[0] * d, 1e-6f, 1e-5f), "%s", what);
        }
        free(src);
        free(want);
        free(got);
        k++;
    }
    CHECK(k >= 5, "only %d cases", k);
    cJSON_Delete(j);
    tx_st_free(&st);
    float one[2] = {0};
    CHECK(tx_vit_resample_pos_embed(one, 0, 1, one, 1, 1, 1, 1, &err) == TX_EINVAL &&
              strstr(err.msg, "sizes"), "bad size: '%s'", err.msg);
}

/* ---- random input: inference plan vs training forward, backward finite ------- */

static void run_random(const char *arch, int h, int w) {
    tx_err err = {0};
    tx_model *m = build(arch, h, w, 4, 11);
    if (!m) return;
    int N = 2, D = h * w * 3;
    float *x = malloc(sizeof(float) * N * D);
    tx_rng r;
    tx_rng_seed(&r, 9);
    for (int i = 0; i < N * D; i++) x[i] = tx_rng_normal(&r);
    tx_exec *ei = NULL, *et = NULL;
    if (tx_exec_create(m, N, 0, 0, &ei, &err) || tx_exec_create(m, N, 1, 0, &et, &err)) {
        CHECK(0, "%s %dx%d: %s", arch, h, w, err.msg);
    } else {
        float yi[8];
        memcpy(yi, tx_exec_forward(ei, x, N), sizeof(float) * N * 4);
        const float *yt = tx_exec_forward(et, x, N);
        char what[96];
        snprintf(what, sizeof what, "%s %dx%d inference vs training", arch, h, w);
        CHECK(tu_close(what, yi, yt, N * 4, 1e-5f, 1e-4f), "%s", what);
        float dout[8];
        for (int i = 0; i < N * 4; i++) dout[i] = tx_rng_normal(&r);
        tx_exec_backward(et, dout);
        int bad = 0, zero = 0;
        for (int p = 0; p < m->n_params; p++) {
            const float *g = tx_exec_param_grad(et, p);
            double s = 0;
            for (int64_t k = 0; k < tx_tensor_numel(&m->params[p].t); k++) {
                if (!isfinite(g[k])) bad++;
                s += fabs(g[k]);
            }
            if (s == 0) zero++;
        }
        CHECK(bad == 0, "%d non-finite gradients", bad);
        CHECK(zero == 0, "%d parameters with an all-zero gradient", zero);
    }
    tx_exec_free(ei);
    tx_exec_free(et);
    free(x);
    tx_model_free(m);
}

static void test_random_forward_backward(void) {
    run_random("vit_tiny_patch16_224", 16, 16);
    run_random("vit_tiny_patch16_224", 48, 32);
    run_random("vit_tiny_patch16_224", 40, 40);
    run_random("vit_small_patch16_224", 32, 32);
    run_random("convnext_tiny", 32, 32);
    run_random("convnext_tiny", 64, 48);
}

/* ---- finite differences ------------------------------------------------------ */

/* Synthetic O(1) weights (as the golden files) instead of the small init, so every path
 * carries signal. For every `every`-th parameter tensor, the directional derivative along
 * a random direction u (entries +-s, s = the tensor's rms, at least 0.05) by central
 * differences, (L(p + h u) - L(p - h u)) / 2h, against the analytic sum of grad * u, with
 * L = sum(w . logits). A direction sums the gradient over the whole tensor, so the
 * difference quotient stands well above float32 noise even where single elements have
 * tiny gradients. */
static double loss_at(tx_exec *e, const float *x, const float *w, int n) {
    const float *y = tx_exec_forward(e, x, n);
    double acc = 0;
    for (int i = 0; i < n * 3; i++) acc += (double)w[i] * y[i];
    return acc;
}

static void check_fd(const char *arch, int size, int every) {
    tx_err err = {0};
    tx_model *m = build(arch, size, size, 3, 5);
    if (!m) return;
    for (int p = 0; p < m->n_params; p++) {
        tx_tensor *t = &m->params[p].t;
        synth_fill(t->data, m->params[p].name, t->ndim, t->shape);
    }
    int N = 2, K = 3, D = size * size * 3;
    float *x = malloc(sizeof(float) * N * D), w[6];
    tx_rng r;
    tx_rng_seed(&r, 21);
    for (int i = 0; i < N * D; i++) x[i] = tx_rng_normal(&r);
    for (int i = 0; i < N * K; i++) w[i] = tx_rng_normal(&r);
    tx_exec *e;
    CHECK_OK(tx_exec_create(m, N, 1, 0, &e, &err), &err);
    double l0 = loss_at(e, x, w, N);
    tx_exec_backward(e, w);
    double worst = 0;
    int checked = 0, bad = 0;
    for (int p = 0; p < m->n_params; p++) {
        if (p % every && p != m->n_params - 1) continue;
        float *v = m->params[p].t.data;
        const float *g = tx_exec_param_grad(e, p);
        int64_t n = tx_tensor_numel(&m->params[p].t);
        float *keep = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n);
        memcpy(keep, v, sizeof(float) * n);
        double ss = 0, dot = 0;
        for (int64_t k = 0; k < n; k++) ss += (double)v[k] * v[k];
        float sc = fmaxf(0.05f, (float)sqrt(ss / n)), h = 4e-2f;
        for (int64_t k = 0; k < n; k++) {
            u[k] = (tx_rng_u64(&r) & 1) ? sc : -sc;
            dot += (double)g[k] * u[k];
        }
        /* central differences at h and h/2, Richardson-extrapolated (cancels the h^2 term) */
        double q[2];
        for (int j = 0; j < 2; j++) {
            float hj = j ? h / 2 : h;
            double f[2];
            for (int s = 0; s < 2; s++) {
                for (int64_t k = 0; k < n; k++) v[k] = keep[k] + (s ? -hj : hj) * u[k];
                f[s] = loss_at(e, x, w, N);
            }
            q[j] = (f[0] - f[1]) / (2.0 * hj);
        }
        memcpy(v, keep, sizeof(float) * n);
        double num = (4 * q[1] - q[0]) / 3;
        /* floor: float32 rounding of the loss (~1e-6 relative) through the quotients */
        double d = fabs(num - dot) / (fabs(dot) + 1e-6 * (fabs(l0) + 1) / h);
        if (d > worst) worst = d;
        if (d > 5e-2 || getenv("FDV")) {
            bad += d > 5e-2;
            printf("  %-36s analytic %.7g numeric %.7g (rel %.3g)\n", m->params[p].name, dot, num, d);
        }
        checked++;
        free(keep);
        free(u);
    }
    printf("  %s %dpx: %d parameter tensors checked, largest relative difference %.3g\n", arch,
           size, checked, worst);
    CHECK(bad == 0, "%d gradients off", bad);
    tx_exec_free(e);
    free(x);
    tx_model_free(m);
}

static void test_fd_vit_tiny(void) { check_fd("vit_tiny_patch16_224", 32, 3); }
static void test_fd_convnext_tiny(void) { check_fd("convnext_tiny", 32, 16); }

int main(void) {
    RUN(test_param_counts);
    RUN(test_shapes_and_sizes);
    RUN(test_init);
    RUN(test_rename_examples);
    RUN(test_resample_pos_embed);
    RUN(test_random_forward_backward);
    RUN(test_fd_vit_tiny);
    RUN(test_fd_convnext_tiny);
    TEST_MAIN_END();
}
