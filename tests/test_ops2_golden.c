/* test_ops2_golden.c - the second set of op kernels against PyTorch.
 *
 * tests/golden/ops2.safetensors comes from tools/golden_ops2.py (PyTorch float32 on
 * the CPU, 4-D tensors NHWC; timm's drop_path and attention written out in torch).
 * Every forward output and gradient stored there is compared with tu_close at about
 * 1e-5 scaled to the tensor's magnitude. Only a missing file is a SKIP; a missing or
 * misshapen tensor inside it is a failure.
 */
#include "io/safetensors.h"
#include "ops/ops.h"
#include "testutil.h"

static const char *GOLDEN = "tests/golden/ops2.safetensors";
#include "golden_cases.h"

static long numel(const tx_st_tensor *t) { return (long)(t->nbytes / 4); }

/* Compares got with the golden tensor: |diff| <= 1e-5 * max(1, max|want|) + rtol*|want|. */
static void cmp(const char *tag, const char *name, const float *got, long n, float rtol) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", tag, name);
    const tx_st_tensor *t = tx_st_find(&g_st, full);
    if (!t || t->dtype != TX_F32 || t->nbytes != (size_t)n * sizeof(float)) {
        printf("  golden tensor '%s' missing or of the wrong size\n", full);
        tu_failed_case = 1;
        return;
    }
    float *want = malloc(t->nbytes ? t->nbytes : 1);
    if (!want) exit(2);
    memcpy(want, t->data, t->nbytes);
    float mx = 1;
    for (long i = 0; i < n; i++) mx = fabsf(want[i]) > mx ? fabsf(want[i]) : mx;
    CHECK(tu_close(full, got, want, n, 1e-5f * mx, rtol), "%s", full);
    free(want);
}

#define NEED(p) \
    do { if (!(p)) { release(); return; } } while (0)
#define GOLDEN_OR_SKIP() \
    do { if (!g_have) { if (g_absent) SKIP("%.200s", g_why); CHECK(0, "%s", g_why); return; } } while (0)

/* ---- activations --------------------------------------------------------------- */

typedef void (*act_fn)(float *, const float *, int64_t);
typedef void (*act_bwd)(float *, const float *, const float *, int64_t);

/* bwd_from_y: the backward reads the forward output instead of the input. */
static void act_case(const char *tag, act_fn fwd, act_bwd bwd, int bwd_from_y, float rtol) {
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 1, NULL);
    NEED(tx);
    long n = numel(tx);
    float *x = loadf(tag, "x", 1, tx->shape), *dy = loadf(tag, "dy", 1, tx->shape);
    NEED(x && dy);
    float *y = scratch(n), *dx = scratch(n);
    fwd(y, x, n);
    bwd(dx, dy, bwd_from_y ? y : x, n);
    cmp(tag, "y", y, n, rtol);
    cmp(tag, "dx", dx, n, rtol);
    /* in place: y over x, dx over dy */
    float *x2 = scratch(n), *g2 = scratch(n);
    memcpy(x2, x, (size_t)n * sizeof *x2);
    fwd(x2, x2, n);
    long bad = 0;
    for (long i = 0; i < n; i++) bad += memcmp(&x2[i], &y[i], sizeof *y) != 0;
    memcpy(g2, dy, (size_t)n * sizeof *g2);
    bwd(g2, g2, bwd_from_y ? y : x, n);
    for (long i = 0; i < n; i++) bad += memcmp(&g2[i], &dx[i], sizeof *dx) != 0;
    CHECK(bad == 0, "%s: %ld elements differ when run in place", tag, bad);
    release();
}

static void test_golden_activations(void) {
    GOLDEN_OR_SKIP();
    /* the smooth ones go through a polynomial exp/erfc: a few ulp */
    act_case("sigmoid", tx_sigmoid_forward, tx_sigmoid_backward, 1, 1e-6f);
    act_case("silu", tx_silu_forward, tx_silu_backward, 0, 1e-6f);
    act_case("gelu", tx_gelu_forward, tx_gelu_backward, 0, 2e-6f);
    /* the piecewise ones are the same float operations as PyTorch's: exact */
    act_case("hardsigmoid", tx_hardsigmoid_forward, tx_hardsigmoid_backward, 0, 0);
    act_case("hardswish", tx_hardswish_forward, tx_hardswish_backward, 0, 0);
    act_case("relu6", tx_relu6_forward, tx_relu6_backward, 1, 0);
}

/* The piecewise activations must agree with PyTorch bit for bit (incl. at +-3, 0, 6). */
static void test_golden_piecewise_exact(void) {
    GOLDEN_OR_SKIP();
    const char *tags[3] = {"hardsigmoid", "hardswish", "relu6"};
    act_fn f[3] = {tx_hardsigmoid_forward, tx_hardswish_forward, tx_relu6_forward};
    act_bwd b[3] = {tx_hardsigmoid_backward, tx_hardswish_backward, tx_relu6_backward};
    for (int k = 0; k < 3; k++) {
        const tx_st_tensor *tx = find(tags[k], "x", TX_F32, 1, NULL);
        NEED(tx);
        long n = numel(tx);
        float *x = loadf(tags[k], "x", 1, tx->shape), *dy = loadf(tags[k], "dy", 1, tx->shape);
        float *wy = loadf(tags[k], "y", 1, tx->shape), *wdx = loadf(tags[k], "dx", 1, tx->shape);
        NEED(x && dy && wy && wdx);
        float *y = scratch(n), *dx = scratch(n);
        f[k](y, x, n);
        b[k](dx, dy, k == 2 ? y : x, n);
        long bad = 0;
        for (long i = 0; i < n; i++) {
            int e = y[i] != wy[i] || dx[i] != wdx[i];
            if (e && bad < 3)
                printf("  %s x=%.9g: y %.9g want %.9g, dx %.9g want %.9g\n", tags[k], x[i],
                       y[i], wy[i], dx[i], wdx[i]);
            bad += e;
        }
        printf("  %-40s n=%-8ld mismatches=%ld\n", tags[k], n, bad);
        CHECK(bad == 0, "%s: %ld values differ from PyTorch", tags[k], bad);
        release();
    }
}

/* ---- channel scaling ------------------------------------------------------------ */

static void chanmul_case(const char *tag) {
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 4, NULL);
    NEED(tx);
    const int64_t *s = tx->shape; /* n h w c */
    int n = (int)s[0], c = (int)s[3];
    int64_t hw = s[1] * s[2], ss[2] = {n, c};
    float *x = loadf(tag, "x", 4, s), *sc = loadf(tag, "s", 2, ss), *dy = loadf(tag, "dy", 4, s);
    NEED(x && sc && dy);
    long nx = numel(tx);
    float *y = scratch(nx), *dx = scratch(nx), *ds = scratch((long)n * c);
    tx_chanmul_forward(y, x, sc, n, hw, c);
    tx_chanmul_backward(dx, ds, dy, x, sc, n, hw, c);
    cmp(tag, "y", y, nx, 1e-6f);
    cmp(tag, "dx", dx, nx, 1e-6f);
    cmp(tag, "ds", ds, (long)n * c, 1e-5f);
    release();
}

static void test_golden_chanmul(void) {
    GOLDEN_OR_SKIP();
    chanmul_case("chanmul");
    chanmul_case("chanmul_c1");
}

static void test_golden_layerscale(void) {
    GOLDEN_OR_SKIP();
    const char *tag = "layerscale";
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 3, NULL);
    NEED(tx);
    int c = (int)tx->shape[2];
    int64_t rows = tx->shape[0] * tx->shape[1], gs[1] = {c};
    float *x = loadf(tag, "x", 3, tx->shape), *g = loadf(tag, "gamma", 1, gs);
    float *dy = loadf(tag, "dy", 3, tx->shape);
    NEED(x && g && dy);
    long nx = numel(tx);
    float *y = scratch(nx), *dx = scratch(nx), *dg = scratch(c);
    tx_layerscale_forward(y, x, g, rows, c);
    tx_layerscale_backward(dx, dg, dy, x, g, rows, c);
    cmp(tag, "y", y, nx, 1e-6f);
    cmp(tag, "dx", dx, nx, 1e-6f);
    cmp(tag, "dgamma", dg, c, 1e-5f);
    release();
}

/* ---- layer norm ---------------------------------------------------------------- */

static void ln_case(const char *tag, float eps) {
    const tx_st_tensor *tx = find(tag, "x", TX_F32, -1, NULL);
    NEED(tx);
    int c = (int)tx->shape[tx->ndim - 1];
    long nx = numel(tx);
    int64_t rows = nx / c, cs[1] = {c};
    float *x = loadf(tag, "x", tx->ndim, tx->shape), *dy = loadf(tag, "dy", tx->ndim, tx->shape);
    float *w = loadf(tag, "w", 1, cs), *b = loadf(tag, "b", 1, cs);
    NEED(x && dy && w && b);
    float *y = scratch(nx), *m = scratch(rows), *rs = scratch(rows);
    float *dx = scratch(nx), *dw = scratch(c), *db = scratch(c);
    tx_layernorm_forward(y, m, rs, x, w, b, rows, c, eps);
    tx_layernorm_backward(dx, dw, db, dy, x, w, m, rs, rows, c);
    cmp(tag, "y", y, nx, 1e-5f);
    cmp(tag, "dx", dx, nx, 1e-4f);
    cmp(tag, "dw", dw, c, 1e-5f);
    cmp(tag, "db", db, c, 1e-5f);
    release();
}

static void test_golden_layernorm(void) {
    GOLDEN_OR_SKIP();
    ln_case("ln", 1e-6f);
    ln_case("ln_c1", 1e-5f);
    ln_case("ln_nhwc", 1e-6f);
    ln_case("ln_offset", 1e-6f);
}

/* ---- drop path ----------------------------------------------------------------- */

static void droppath_case(const char *tag) {
    const tx_st_tensor *tx = find(tag, "x", TX_F32, -1, NULL);
    NEED(tx);
    int n = (int)tx->shape[0];
    long nx = numel(tx);
    int64_t per = nx / n, ks[1] = {n}, ps[1] = {1};
    float *x = loadf(tag, "x", tx->ndim, tx->shape), *dy = loadf(tag, "dy", tx->ndim, tx->shape);
    int32_t *k32 = loadi(tag, "keep", 1, ks);
    float *p = loadf(tag, "p", 1, ps);
    NEED(x && dy && k32 && p);
    uint8_t *keepm = keep(calloc((size_t)n, 1));
    for (int i = 0; i < n; i++) keepm[i] = (uint8_t)(k32[i] != 0);
    float *y = scratch(nx), *dx = scratch(nx);
    /* the forward with a given mask is the backward's product */
    tx_droppath_backward(y, x, keepm, n, per, p[0]);
    tx_droppath_backward(dx, dy, keepm, n, per, p[0]);
    cmp(tag, "y", y, nx, 0);
    cmp(tag, "dx", dx, nx, 0);
    release();
}

static void test_golden_droppath(void) {
    GOLDEN_OR_SKIP();
    droppath_case("droppath");
    droppath_case("droppath_nhwc");
    droppath_case("droppath_p1");
}

/* ---- attention ----------------------------------------------------------------- */

static void attn_case(const char *tag) {
    int64_t four[1] = {4};
    int32_t *dims = loadi(tag, "dims", 1, four);
    NEED(dims);
    tx_attn_shape s = {dims[0], dims[1], dims[2], dims[3], 0, 0.0f, 0};
    const int D = s.heads * s.hd;
    s.ldqkv = 3 * D;
    tx_err err = {0};
    CHECK_OK(tx_attn_shape_init(&s, &err), &err);
    int64_t qs[3] = {s.n, s.t, 3 * D}, ys[3] = {s.n, s.t, D}, ps[4] = {s.n, s.heads, s.t, s.t};
    float *qkv = loadf(tag, "qkv", 3, qs), *dy = loadf(tag, "dy", 3, ys);
    NEED(qkv && dy);
    long ny = (long)s.n * s.t * D, nq = 3 * ny, np = (long)s.n * s.heads * s.t * s.t;
    float *y = scratch(ny), *probs = scratch(np), *dqkv = scratch(nq), *y2 = scratch(ny);
    float *dqkv2 = scratch(nq), *scr = scratch((long)tx_attention_scratch_floats(&s));
    /* training path: probabilities kept */
    tx_attention_forward(y, probs, qkv, qkv + D, qkv + 2 * D, &s, NULL);
    tx_attention_backward(dqkv, dqkv + D, dqkv + 2 * D, dy, probs, qkv, qkv + D, qkv + 2 * D,
                          &s, scr);
    cmp(tag, "y", y, ny, 1e-5f);
    cmp(tag, "probs", probs, np, 1e-5f);
    cmp(tag, "dqkv", dqkv, nq, 1e-4f);
    /* inference forward and recomputing backward */
    tx_attention_forward(y2, NULL, qkv, qkv + D, qkv + 2 * D, &s, scr);
    tx_attention_backward(dqkv2, dqkv2 + D, dqkv2 + 2 * D, dy, NULL, qkv, qkv + D, qkv + 2 * D,
                          &s, scr);
    cmp(tag, "y", y2, ny, 1e-5f);
    cmp(tag, "dqkv", dqkv2, nq, 1e-4f);
    (void)ps;
    release();
}

static void test_golden_attention(void) {
    GOLDEN_OR_SKIP();
    attn_case("attn");
    attn_case("attn_t1");
    attn_case("attn_h2");
    attn_case("attn_hd64");
    attn_case("attn_sharp");
}

/* ---- class token / position embedding / token pooling ----------------------------- */

static void test_golden_cls_pos(void) {
    GOLDEN_OR_SKIP();
    for (int has = 1; has >= 0; has--) {
        const char *tag = has ? "clspos" : "pos_only";
        const tx_st_tensor *tx = find(tag, "x", TX_F32, 3, NULL);
        NEED(tx);
        int n = (int)tx->shape[0], t = (int)tx->shape[1], d = (int)tx->shape[2];
        int64_t ds[1] = {d}, ps[2] = {t + has, d}, ys[3] = {n, t + has, d};
        float *x = loadf(tag, "x", 3, tx->shape), *pos = loadf(tag, "pos", 2, ps);
        float *cls = has ? loadf(tag, "cls", 1, ds) : NULL, *dy = loadf(tag, "dy", 3, ys);
        NEED(x && pos && dy && (cls || !has));
        long ny = (long)n * (t + has) * d;
        float *y = scratch(ny), *dx = scratch((long)n * t * d), *dcls = scratch(d);
        float *dpos = scratch((long)(t + has) * d);
        tx_cls_pos_forward(y, x, cls, pos, n, t, d);
        tx_cls_pos_backward(dx, has ? dcls : NULL, dpos, dy, has, n, t, d);
        cmp(tag, "y", y, ny, 0);
        cmp(tag, "dx", dx, (long)n * t * d, 0);
        if (has) cmp(tag, "dcls", dcls, d, 1e-6f);
        cmp(tag, "dpos", dpos, (long)(t + has) * d, 1e-6f);
        release();
    }
}

static void test_golden_token0(void) {
    GOLDEN_OR_SKIP();
    const char *tag = "token0";
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 3, NULL);
    NEED(tx);
    int n = (int)tx->shape[0], t = (int)tx->shape[1], d = (int)tx->shape[2];
    int64_t ys[2] = {n, d};
    float *x = loadf(tag, "x", 3, tx->shape), *dy = loadf(tag, "dy", 2, ys);
    NEED(x && dy);
    float *y = scratch((long)n * d), *dx = scratch(numel(tx));
    for (long i = 0; i < numel(tx); i++) dx[i] = 1e30f; /* must be overwritten */
    tx_token0_forward(y, x, n, t, d);
    tx_token0_backward(dx, dy, n, t, d);
    cmp(tag, "y", y, (long)n * d, 0);
    cmp(tag, "dx", dx, numel(tx), 0);
    release();
}

int main(void) {
    struct stat sb;
    tx_err err = {0};
    if (stat(GOLDEN, &sb) != 0) {
        g_absent = 1;
        snprintf(g_why, sizeof g_why, "%s missing (run /usr/bin/python3 tools/golden_ops2.py)",
                 GOLDEN);
    } else if (tx_st_load(GOLDEN, &g_st, &err) != TX_OK) {
        snprintf(g_why, sizeof g_why, "%s", err.msg);
    } else {
        g_have = 1;
    }
    RUN(test_golden_activations);
    RUN(test_golden_piecewise_exact);
    RUN(test_golden_chanmul);
    RUN(test_golden_layerscale);
    RUN(test_golden_layernorm);
    RUN(test_golden_droppath);
    RUN(test_golden_attention);
    RUN(test_golden_cls_pos);
    RUN(test_golden_token0);
    if (g_have) tx_st_free(&g_st);
    TEST_MAIN_END();
}
