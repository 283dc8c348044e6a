/* test_ops_golden.c - the op kernels against PyTorch.
 *
 * tests/golden/ops.safetensors comes from tools/golden_ops.py (PyTorch float32 on the
 * CPU; 4-D tensors NHWC). Every forward output and gradient stored there is compared
 * with tu_close at about 1e-5 scaled to the tensor's magnitude. Only a missing file
 * is a SKIP; a missing or misshapen tensor inside it is a failure.
 */
#include "io/safetensors.h"
#include "ops/ops.h"
#include "testutil.h"

static const char *GOLDEN = "tests/golden/ops.safetensors";
#include "golden_cases.h"

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

/* ---- batch norm ------------------------------------------------------------- */

static void bn_train_case(const char *tag) {
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 4, NULL);
    NEED(tx);
    const int64_t *s = tx->shape; /* n h w c */
    long rows = (long)(s[0] * s[1] * s[2]);
    int c = (int)s[3];
    int64_t cs[1] = {c};
    float *x = loadf(tag, "x", 4, s), *g = loadf(tag, "gamma", 1, cs), *b = loadf(tag, "beta", 1, cs);
    float *rm = loadf(tag, "running_mean_in", 1, cs), *rv = loadf(tag, "running_var_in", 1, cs);
    float *dy = loadf(tag, "dy", 4, s);
    NEED(x && g && b && rm && rv && dy);
    float *y = scratch(rows * c), *m = scratch(c), *is = scratch(c);
    float *dx = scratch(rows * c), *dg = scratch(c), *db = scratch(c);
    tx_batchnorm_forward_train(y, m, is, rm, rv, x, g, b, rows, c, 1e-5f, 0.1f);
    cmp(tag, "y", y, rows * c, 1e-5f);
    cmp(tag, "save_mean", m, c, 1e-5f);
    cmp(tag, "save_invstd", is, c, 1e-5f);
    cmp(tag, "running_mean", rm, c, 1e-5f);
    cmp(tag, "running_var", rv, c, 1e-5f);
    tx_batchnorm_backward(dx, dg, db, dy, x, g, m, is, rows, c);
    cmp(tag, "dx", dx, rows * c, 1e-4f);
    cmp(tag, "dgamma", dg, c, 1e-5f);
    cmp(tag, "dbeta", db, c, 1e-5f);
    release();
}

static void test_golden_bn_train(void) {
    GOLDEN_OR_SKIP();
    bn_train_case("bn_train");
    bn_train_case("bn_train_c1");
    bn_train_case("bn_train_offset");
}

static void test_golden_bn_eval(void) {
    GOLDEN_OR_SKIP();
    const char *tag = "bn_eval";
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 4, NULL);
    NEED(tx);
    const int64_t *s = tx->shape;
    long rows = (long)(s[0] * s[1] * s[2]);
    int c = (int)s[3];
    int64_t cs[1] = {c};
    float *x = loadf(tag, "x", 4, s), *g = loadf(tag, "gamma", 1, cs), *b = loadf(tag, "beta", 1, cs);
    float *rm = loadf(tag, "running_mean", 1, cs), *rv = loadf(tag, "running_var", 1, cs);
    NEED(x && g && b && rm && rv);
    float *y = scratch(rows * c);
    tx_batchnorm_forward_eval(y, x, g, b, rm, rv, rows, c, 1e-5f);
    cmp(tag, "y", y, rows * c, 1e-5f);
    release();
}

/* ---- relu --------------------------------------------------------------------- */

static void test_golden_relu(void) {
    GOLDEN_OR_SKIP();
    const char *tag = "relu";
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 4, NULL);
    NEED(tx);
    long n = (long)(tx->nbytes / sizeof(float));
    float *x = loadf(tag, "x", 4, tx->shape), *dy = loadf(tag, "dy", 4, tx->shape);
    NEED(x && dy);
    float *y = scratch(n), *dx = scratch(n);
    tx_relu_forward(y, x, n);
    tx_relu_backward(dx, dy, y, n);
    cmp(tag, "y", y, n, 0);
    cmp(tag, "dx", dx, n, 0);
    release();
}

/* ---- pooling ------------------------------------------------------------------ */

static void pool_case(const char *tag, int is_max, int k, int st, int pad, int incl) {
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 4, NULL), *ty = find(tag, "y", TX_F32, 4, NULL);
    NEED(tx && ty);
    const int64_t *s = tx->shape;
    tx_pool_shape ps = {(int)s[0], (int)s[1], (int)s[2], (int)s[3], k, k, st, st,
                        pad, pad, pad, pad, 0, 0, incl};
    tx_err err = {0};
    CHECK_OK(tx_pool_shape_init(&ps, &err), &err);
    int64_t os[4] = {ps.n, ps.oh, ps.ow, ps.c};
    float *x = loadf(tag, "x", 4, s), *dy = loadf(tag, "dy", 4, os);
    NEED(x && dy);
    long nin = (long)ps.n * ps.h * ps.w * ps.c, nout = (long)ps.n * ps.oh * ps.ow * ps.c;
    float *y = scratch(nout), *dx = scratch(nin);
    if (is_max) {
        int32_t *am = keep(calloc((size_t)nout, sizeof(int32_t)));
        int32_t *want = loadi(tag, "argmax", 4, os);
        NEED(want);
        tx_maxpool_forward(y, am, x, &ps);
        long bad = 0;
        for (long i = 0; i < nout; i++) bad += am[i] != want[i];
        printf("  %-40s n=%-8ld mismatches=%ld\n", "argmax", nout, bad);
        CHECK(bad == 0, "%ld argmax indices differ from PyTorch", bad);
        tx_maxpool_backward(dx, dy, am, &ps);
    } else {
        tx_avgpool_forward(y, x, &ps);
        tx_avgpool_backward(dx, dy, &ps);
    }
    cmp(tag, "y", y, nout, 1e-5f);
    cmp(tag, "dx", dx, nin, 1e-5f);
    release();
}

static void test_golden_maxpool(void) {
    GOLDEN_OR_SKIP();
    pool_case("maxpool_k2s2", 1, 2, 2, 0, 1);
    pool_case("maxpool_k3s2p1", 1, 3, 2, 1, 1);
}

static void test_golden_avgpool(void) {
    GOLDEN_OR_SKIP();
    pool_case("avgpool_incl", 0, 3, 2, 1, 1);
    pool_case("avgpool_excl", 0, 3, 2, 1, 0);
}

static void test_golden_global_avgpool(void) {
    GOLDEN_OR_SKIP();
    const char *tag = "gap";
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 4, NULL);
    NEED(tx);
    const int64_t *s = tx->shape;
    int n = (int)s[0], hw = (int)(s[1] * s[2]), c = (int)s[3];
    int64_t ys[2] = {n, c};
    float *x = loadf(tag, "x", 4, s), *dy = loadf(tag, "dy", 2, ys);
    NEED(x && dy);
    float *y = scratch((long)n * c), *dx = scratch((long)n * hw * c);
    tx_global_avgpool_forward(y, x, n, hw, c);
    tx_global_avgpool_backward(dx, dy, n, hw, c);
    cmp(tag, "y", y, (long)n * c, 1e-5f);
    cmp(tag, "dx", dx, (long)n * hw * c, 1e-5f);
    release();
}

/* ---- linear -------------------------------------------------------------------- */

static void test_golden_linear(void) {
    GOLDEN_OR_SKIP();
    const char *tag = "linear";
    const tx_st_tensor *tx = find(tag, "x", TX_F32, 2, NULL), *tw = find(tag, "w", TX_F32, 2, NULL);
    NEED(tx && tw);
    int n = (int)tx->shape[0], in = (int)tx->shape[1], out = (int)tw->shape[0];
    int64_t ws[2] = {out, in}, bs[1] = {out}, ys[2] = {n, out};
    float *x = loadf(tag, "x", 2, tx->shape), *w = loadf(tag, "w", 2, ws);
    float *b = loadf(tag, "b", 1, bs), *dy = loadf(tag, "dy", 2, ys);
    NEED(x && w && b && dy);
    float *y = scratch((long)n * out), *dx = scratch((long)n * in), *dw = scratch((long)out * in);
    float *db = scratch(out);
    tx_linear_forward(y, x, w, b, n, in, out);
    tx_linear_backward(dx, dw, db, dy, x, w, n, in, out);
    cmp(tag, "y", y, (long)n * out, 1e-5f);
    cmp(tag, "dx", dx, (long)n * in, 1e-5f);
    cmp(tag, "dw", dw, (long)out * in, 1e-5f);
    cmp(tag, "db", db, out, 1e-5f);
    release();
}

/* ---- loss ------------------------------------------------------------------------ */

static void xent_case(const char *tag, float smoothing) {
    const tx_st_tensor *tl = find(tag, "logits", TX_F32, 2, NULL);
    NEED(tl);
    int n = (int)tl->shape[0], k = (int)tl->shape[1];
    int64_t ls[1] = {n};
    float *logits = loadf(tag, "logits", 2, tl->shape);
    int32_t *labels = loadi(tag, "labels", 1, ls);
    NEED(logits && labels);
    float *probs = scratch((long)n * k), *d = scratch((long)n * k);
    float loss = tx_softmax_xent_forward(probs, logits, labels, n, k, smoothing);
    tx_softmax_xent_backward(d, probs, labels, n, k, smoothing);
    cmp(tag, "loss", &loss, 1, 1e-5f);
    cmp(tag, "probs", probs, (long)n * k, 1e-5f);
    cmp(tag, "dlogits", d, (long)n * k, 1e-5f);
    release();
}

static void test_golden_softmax_xent(void) {
    GOLDEN_OR_SKIP();
    xent_case("xent_s0", 0.0f);
    xent_case("xent_s01", 0.1f);
}

static void test_golden_softmax(void) {
    GOLDEN_OR_SKIP();
    const tx_st_tensor *tx = find("softmax", "x", TX_F32, 2, NULL);
    NEED(tx);
    int n = (int)tx->shape[0], k = (int)tx->shape[1];
    float *x = loadf("softmax", "x", 2, tx->shape);
    NEED(x);
    float *y = scratch((long)n * k);
    tx_softmax_forward(y, x, n, k);
    cmp("softmax", "y", y, (long)n * k, 1e-5f);
    release();
}

int main(void) {
    struct stat sb;
    tx_err err = {0};
    if (stat(GOLDEN, &sb) != 0) {
        g_absent = 1;
        snprintf(g_why, sizeof g_why, "%s missing (run /usr/bin/python3 tools/golden_ops.py)", GOLDEN);
    } else if (tx_st_load(GOLDEN, &g_st, &err) != TX_OK) {
        snprintf(g_why, sizeof g_why, "%s", err.msg);
    } else {
        g_have = 1;
    }
    RUN(test_golden_bn_train);
    RUN(test_golden_bn_eval);
    RUN(test_golden_relu);
    RUN(test_golden_maxpool);
    RUN(test_golden_avgpool);
    RUN(test_golden_global_avgpool);
    RUN(test_golden_linear);
    RUN(test_golden_softmax_xent);
    RUN(test_golden_softmax);
    if (g_have) tx_st_free(&g_st);
    TEST_MAIN_END();
}
