/* test_ops2.c - activations (sigmoid, silu, gelu, hard-sigmoid, hard-swish, relu6),
 * channel scaling (SE gate, layer scale), layer norm, drop path, attention core, class
 * token / position embedding, class-token pooling.
 *
 * Evidence per op:
 *  - finite differences: loss = sum(dy * y) for a random dy, central differences on
 *    float inputs, against every backward (and every input of it);
 *  - fast kernels against their *_ref twins (double, straight loops) on sizes that use
 *    several threads, tails and (for attention) strided q/k/v views;
 *  - the vectorized exp/erfc against libm over their whole range;
 *  - edge cases: one token, one head, one channel, empty batch, NaN/inf inputs;
 *  - determinism: the same thread count gives the same bits; 1 vs 2 threads agree.
 */
#include "ops/ops.h"
#include "ops/vmath.h"
#include "testutil.h"
#include "gradcheck.h"

#include <float.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- helpers -------------------------------------------------------------- */

static float *fa(long n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    return p;
}

static void fill_u(float *a, long n, tx_rng *r, float lo, float hi) {
    for (long i = 0; i < n; i++) a[i] = lo + (hi - lo) * tx_rng_uniform(r);
}

static void fill_n(float *a, long n, tx_rng *r, float mean, float std) {
    for (long i = 0; i < n; i++) a[i] = mean + std * tx_rng_normal(r);
}

static void set_threads(int t) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int same_bits(const float *a, const float *b, long n) {
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}




/* ---- vectorized exp / erfc --------------------------------------------------- */

/* The AVX-512 exp (tx_v16_exp) in one lane; without AVX-512, tx_vexpf again. */
static float v16_exp1(float x) {
#if defined(__AVX512F__)
    float out[16];
    _mm512_storeu_ps(out, tx_v16_exp(_mm512_set1_ps(x)));
    return out[7];
#else
    return tx_vexpf(x);
#endif
}

static void test_vmath_accuracy(void) {
    for (int k = 0; k < 2; k++) {
    /* exp: every 97th float bit pattern in [-104, 89], in ulp of the exact result
     * (denormal results in units of the smallest denormal); tx_vexpf, then tx_v16_exp */
    float (*fexp)(float) = k == 0 ? tx_vexpf : v16_exp1;
    double worst = 0;
    float worst_x = 0;
    long count = 0;
    for (uint32_t u = 0; u < 0xff800000u; u += 97) {
        float x = tx_v_f32(u);
        if (!(fabsf(x) <= 104.0f) || x > 89.0f) continue;
        double want = exp((double)x);
        float got = fexp(x);
        count++;
        if (want > FLT_MAX) {
            if (!isinf(got)) {
                worst = INFINITY;
                worst_x = x;
            }
            continue;
        }
        double ulp = want < FLT_MIN ? ldexp(1.0, -149) : ldexp(1.0, ilogb(want) - 23);
        double e = fabs((double)got - want) / ulp;
        if (!(e <= worst)) {
            worst = e;
            worst_x = x;
        }
    }
    const char *nm = k == 0 ? "tx_vexpf" : "tx_v16_exp";
    printf("  %s: %ld points, max error %.3g ulp at x=%.9g\n", nm, count, worst, worst_x);
    CHECK(worst <= 2.0, "%s is %.3g ulp off at %.9g", nm, worst, worst_x);
    CHECK(isnan(fexp(NAN)), "%s(NaN)", nm);
    CHECK(isinf(fexp(INFINITY)) && fexp(-INFINITY) == 0.0f, "%s(+-inf)", nm);
    CHECK(isinf(fexp(88.8f)) && fexp(88.7f) < INFINITY, "%s overflow threshold", nm);
    CHECK(fexp(0.0f) == 1.0f, "%s(0) = %.9g", nm, fexp(0.0f));
    }

    /* erfc on [0, 9.9], relative error (the result stays normal up to 9.1) */
    double wr = 0;
    float wz = 0;
    for (long i = 0; i <= 2000000; i++) {
        float z = (float)i * 9.1f / 2000000.0f;
        double want = erfc((double)z);
        double e = fabs((double)tx_verfcf(z) - want) / want;
        if (!(e <= wr)) {
            wr = e;
            wz = z;
        }
    }
    printf("  erfc: 2000001 points on [0, 9.1], max relative error %.3g at z=%.9g\n", wr, wz);
    CHECK(wr < 6e-7, "tx_verfcf relative error %.3g at %.9g", wr, wz);
    CHECK(tx_verfcf(INFINITY) == 0.0f && isnan(tx_verfcf(NAN)), "erfc(inf), erfc(NaN)");

    /* Phi (normal CDF) on [-12.9, 6], relative error in both tails */
    wr = 0;
    for (long i = 0; i <= 2000000; i++) {
        float x = -12.9f + (float)i * 18.9f / 2000000.0f;
        double want = 0.5 * erfc(-(double)x / sqrt(2.0));
        double e = fabs((double)tx_vphif(x) - want) / want;
        if (!(e <= wr)) {
            wr = e;
            wz = x;
        }
    }
    printf("  Phi: 2000001 points on [-12.9, 6], max relative error %.3g at x=%.9g\n", wr, wz);
    CHECK(wr < 1e-6, "tx_vphif relative error %.3g at %.9g", wr, wz);
    CHECK(tx_vphif(INFINITY) == 1.0f && tx_vphif(-INFINITY) == 0.0f && isnan(tx_vphif(NAN)),
          "Phi(+-inf), Phi(NaN)");
    CHECK(tx_verfcf(12.0f) == 0.0f, "erfc(12) underflows to 0");
}

/* ---- activations ---------------------------------------------------------------- */

typedef void (*act_fn)(float *, const float *, int64_t);
typedef void (*act_bwd)(float *, const float *, const float *, int64_t);

typedef struct {
    const char *name;
    act_fn fwd, fwd_ref;
    act_bwd bwd, bwd_ref;
    int from_y; /* backward reads the output */
} act_desc;

static const act_desc ACTS[] = {
    {"sigmoid", tx_sigmoid_forward, tx_sigmoid_forward_ref, tx_sigmoid_backward,
     tx_sigmoid_backward_ref, 1},
    {"silu", tx_silu_forward, tx_silu_forward_ref, tx_silu_backward, tx_silu_backward_ref, 0},
    {"gelu", tx_gelu_forward, tx_gelu_forward_ref, tx_gelu_backward, tx_gelu_backward_ref, 0},
    {"hardsigmoid", tx_hardsigmoid_forward, NULL, tx_hardsigmoid_backward, NULL, 0},
    {"hardswish", tx_hardswish_forward, NULL, tx_hardswish_backward, NULL, 0},
    {"relu6", tx_relu6_forward, NULL, tx_relu6_backward, NULL, 1},
};
#define NACTS (int)(sizeof ACTS / sizeof *ACTS)

/* Double formulas for the piecewise ones (PyTorch's rules). */
static double pw_fwd(int k, double x) {
    double t = fmin(fmax(x + 3, 0), 6);
    if (k == 3) return t / 6;
    if (k == 4) return x * t / 6;
    return fmin(fmax(x, 0), 6);
}

static double pw_bwd(int k, double x, double g) {
    if (k == 3) return x > -3 && x < 3 ? g / 6 : 0;
    if (k == 4) return x < -3 ? 0 : x >= 3 ? g : g * (x / 3 + 0.5);
    return x > 0 && x < 6 ? g : 0;
}

static void test_act_vs_ref(void) {
    tx_rng r;
    tx_rng_seed(&r, 1);
    long n = 100003; /* several threads and a vector tail */
    float *x = fa(n), *dy = fa(n), *y = fa(n), *yr = fa(n), *dx = fa(n), *dxr = fa(n);
    fill_u(x, n, &r, -12, 12);
    fill_n(x, 2000, &r, 0, 0.01f); /* dense near 0 */
    const float special[] = {0, -0.0f, 3, -3, 6, -6, 1e-30f, -1e-30f, 50, -50, 87, -87,
                             88.5f, -88.5f, 89, -89, 100, -100, 1e6f, -1e6f};
    memcpy(x + 2000, special, sizeof special);
    fill_n(dy, n, &r, 0, 1);
    for (int k = 0; k < NACTS; k++) {
        const act_desc *a = &ACTS[k];
        char nm[96];
        a->fwd(y, x, n);
        a->bwd(dx, dy, a->from_y ? y : x, n);
        if (a->fwd_ref) {
            a->fwd_ref(yr, x, n);
            a->bwd_ref(dxr, dy, a->from_y ? y : x, n);
        } else {
            for (long i = 0; i < n; i++) {
                yr[i] = (float)pw_fwd(k, x[i]);
                dxr[i] = (float)pw_bwd(k, x[i], dy[i]);
            }
        }
        /* a few ulp of the result, plus 1e-7 absolute where the result passes 0 */
        snprintf(nm, sizeof nm, "%s forward vs ref", a->name);
        CHECK(tu_close(nm, y, yr, n, 1e-7f, 1e-6f), "%s", nm);
        snprintf(nm, sizeof nm, "%s backward vs ref", a->name);
        CHECK(tu_close(nm, dx, dxr, n, 1e-7f, 2e-6f), "%s", nm);
    }
    free(x), free(dy), free(y), free(yr), free(dx), free(dxr);
}

typedef struct {
    const act_desc *a;
    float *x;
} act_ctx;

static void act_fwd(fd_op *op) {
    act_ctx *c = op->ctx;
    c->a->fwd(op->y, c->x, op->ny);
}

static void test_act_fd(void) {
    tx_rng r;
    tx_rng_seed(&r, 2);
    long n = 200;
    float *x = fa(n), *dy = fa(n), *y = fa(n), *dx = fa(n);
    for (int k = 0; k < NACTS; k++) {
        fill_u(x, n, &r, -8, 8);
        /* keep away from the kinks (+-3, 0, 6) by more than the step */
        for (long i = 0; i < n; i++)
            for (int j = 0; j < 4; j++) {
                const float kink[4] = {-3, 0, 3, 6};
                if (fabsf(x[i] - kink[j]) < 0.02f) x[i] = kink[j] + 0.05f;
            }
        fill_n(dy, n, &r, 0, 1);
        act_ctx c = {&ACTS[k], x};
        fd_op op = {act_fwd, y, n, dy, 0, &c};
        act_fwd(&op);
        ACTS[k].bwd(dx, dy, ACTS[k].from_y ? y : x, n);
        char nm[96];
        snprintf(nm, sizeof nm, "%s dx fd", ACTS[k].name);
        CHECK(grad_check(nm, &op, x, n, dx, 1e-2f, 2e-3f, 1e-2f), "%s", nm);
    }
    free(x), free(dy), free(y), free(dx);
}

static void test_act_special(void) {
    const float in[6] = {NAN, INFINITY, -INFINITY, -100, 100, 0};
    float y[6];
    tx_sigmoid_forward(y, in, 6);
    CHECK(isnan(y[0]) && y[1] == 1 && y[2] == 0 && y[3] == 0 && y[4] == 1 && y[5] == 0.5f,
          "sigmoid special values: %g %g %g %g %g %g", y[0], y[1], y[2], y[3], y[4], y[5]);
    tx_silu_forward(y, in, 6);
    CHECK(isnan(y[0]) && y[3] == 0 && y[4] == 100 && y[5] == 0,
          "silu special values: %g %g %g %g", y[0], y[3], y[4], y[5]);
    tx_gelu_forward(y, in, 6);
    CHECK(isnan(y[0]) && isinf(y[1]) && y[3] == 0 && y[4] == 100 && y[5] == 0,
          "gelu special values: %g %g %g %g %g", y[0], y[1], y[3], y[4], y[5]);
    tx_relu6_forward(y, in, 6);
    CHECK(isnan(y[0]) && y[1] == 6 && y[2] == 0 && y[4] == 6, "relu6 special values");
    /* gelu keeps relative accuracy in its negative tail */
    const float xs[3] = {-5, -8, -12};
    float g[3], gr[3];
    tx_gelu_forward(g, xs, 3);
    tx_gelu_forward_ref(gr, xs, 3);
    CHECK(tu_close("gelu negative tail (relative)", g, gr, 3, 0, 5e-7f), "tail");
    /* empty */
    tx_gelu_forward(y, in, 0);
    tx_gelu_backward(y, in, in, 0);
}

/* ---- per-channel scaling ----------------------------------------------------------- */

typedef struct {
    float *x, *s;
    int n, c;
    int64_t hw;
} cm_ctx;

static void cm_fwd(fd_op *op) {
    cm_ctx *k = op->ctx;
    tx_chanmul_forward(op->y, k->x, k->s, k->n, k->hw, k->c);
}

static void chanmul_case(int n, int64_t hw, int c, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long nx = (long)n * hw * c;
    cm_ctx k = {fa(nx), fa((long)n * c), n, c, hw};
    float *y = fa(nx), *dy = fa(nx), *dx = fa(nx), *ds = fa((long)n * c);
    float *want = fa(nx), *wds = fa((long)n * c);
    fill_n(k.x, nx, &r, 0, 1);
    fill_u(k.s, (long)n * c, &r, 0, 1);
    fill_n(dy, nx, &r, 0, 1);
    fd_op op = {cm_fwd, y, nx, dy, 0, &k};
    cm_fwd(&op);
    tx_chanmul_backward(dx, ds, dy, k.x, k.s, n, hw, c);
    for (long b = 0; b < n; b++)
        for (int j = 0; j < c; j++) {
            double acc = 0;
            for (int64_t p = 0; p < hw; p++) {
                long i = (long)((b * hw + p) * c + j);
                want[i] = k.x[i] * k.s[b * c + j];
                acc += (double)dy[i] * k.x[i];
            }
            wds[b * c + j] = (float)acc;
        }
    char nm[96];
    snprintf(nm, sizeof nm, "chanmul y n=%d hw=%ld c=%d", n, (long)hw, c);
    CHECK(tu_close(nm, y, want, nx, 0, 0), "%s", nm);
    snprintf(nm, sizeof nm, "chanmul ds vs double n=%d hw=%ld c=%d", n, (long)hw, c);
    CHECK(tu_close(nm, ds, wds, (long)n * c, 1e-6f, 1e-6f), "%s", nm);
    if (nx <= 5000) {
        snprintf(nm, sizeof nm, "chanmul dx fd n=%d hw=%ld c=%d", n, (long)hw, c);
        CHECK(grad_check(nm, &op, k.x, nx, dx, 1e-2f, 2e-3f, 1e-2f), "%s", nm);
        snprintf(nm, sizeof nm, "chanmul ds fd n=%d hw=%ld c=%d", n, (long)hw, c);
        CHECK(grad_check(nm, &op, k.s, (long)n * c, ds, 1e-2f, 2e-3f, 1e-2f), "%s", nm);
    }
    /* NULL outputs and in place */
    float *ds2 = fa((long)n * c);
    tx_chanmul_backward(NULL, ds2, dy, k.x, k.s, n, hw, c);
    CHECK(same_bits(ds, ds2, (long)n * c), "ds without dx differs");
    memcpy(want, dy, (size_t)nx * sizeof *want);
    tx_chanmul_backward(want, ds2, want, k.x, k.s, n, hw, c);
    CHECK(same_bits(want, dx, nx) && same_bits(ds, ds2, (long)n * c), "dx in place differs");
    free(k.x), free(k.s), free(y), free(dy), free(dx), free(ds), free(want), free(wds), free(ds2);
}

static void test_chanmul(void) {
    chanmul_case(2, 12, 5, 10);
    chanmul_case(3, 4, 1, 11);      /* one channel */
    chanmul_case(2, 1, 40, 12);     /* one pixel (the SE squeeze output itself) */
    chanmul_case(4, 28 * 28, 72, 13); /* threaded, several channel tiles */
    /* hw == 0: ds is zero */
    float ds[3] = {1, 2, 3}, s[3] = {1, 1, 1};
    tx_chanmul_backward(NULL, ds, NULL, NULL, s, 1, 0, 3);
    CHECK(ds[0] == 0 && ds[1] == 0 && ds[2] == 0, "hw=0: ds not zeroed");
}

typedef struct {
    float *x, *g;
    int64_t rows;
    int c;
} ls_ctx;

static void ls_fwd(fd_op *op) {
    ls_ctx *k = op->ctx;
    tx_layerscale_forward(op->y, k->x, k->g, k->rows, k->c);
}

static void test_layerscale(void) {
    tx_rng r;
    tx_rng_seed(&r, 14);
    for (int cs = 0; cs < 2; cs++) {
        int64_t rows = cs ? 3000 : 9;
        int c = cs ? 96 : 7;
        long nx = (long)rows * c;
        ls_ctx k = {fa(nx), fa(c), rows, c};
        float *y = fa(nx), *dy = fa(nx), *dx = fa(nx), *dg = fa(c), *wdg = fa(c);
        fill_n(k.x, nx, &r, 0, 1);
        fill_n(k.g, c, &r, 0, 0.1f);
        fill_n(dy, nx, &r, 0, 1);
        fd_op op = {ls_fwd, y, nx, dy, 0, &k};
        ls_fwd(&op);
        tx_layerscale_backward(dx, dg, dy, k.x, k.g, rows, c);
        int ok = 1;
        for (long i = 0; i < nx; i++) ok &= y[i] == k.x[i] * k.g[i % c] && dx[i] == dy[i] * k.g[i % c];
        CHECK(ok, "layerscale y or dx is not the plain product");
        for (int j = 0; j < c; j++) {
            double acc = 0;
            for (int64_t rr = 0; rr < rows; rr++) acc += (double)dy[rr * c + j] * k.x[rr * c + j];
            wdg[j] = (float)acc;
        }
        CHECK(tu_close("layerscale dgamma vs double", dg, wdg, c, 1e-6f, 1e-6f), "dgamma");
        if (!cs) {
            CHECK(grad_check("layerscale dx fd", &op, k.x, nx, dx, 1e-2f, 2e-3f, 1e-2f), "dx");
            CHECK(grad_check("layerscale dgamma fd", &op, k.g, c, dg, 1e-2f, 2e-3f, 1e-2f), "dg");
        }
        free(k.x), free(k.g), free(y), free(dy), free(dx), free(dg), free(wdg);
    }
}

/* ---- layer norm ------------------------------------------------------------------ */

typedef struct {
    float *x, *w, *b, *m, *rs;
    int64_t rows;
    int c;
    float eps;
} ln_ctx;

static void ln_fwd(fd_op *op) {
    ln_ctx *k = op->ctx;
    tx_layernorm_forward(op->y, k->m, k->rs, k->x, k->w, k->b, k->rows, k->c, k->eps);
}

static void ln_fd_case(int64_t rows, int c, int affine, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long nx = (long)rows * c;
    ln_ctx k = {fa(nx), affine ? fa(c) : NULL, affine ? fa(c) : NULL, fa(rows), fa(rows),
                rows, c, 1e-5f};
    float *y = fa(nx), *dy = fa(nx), *dx = fa(nx), *dw = fa(c), *db = fa(c);
    fill_n(k.x, nx, &r, 0.3f, 1.5f);
    if (affine) {
        fill_u(k.w, c, &r, 0.5f, 1.5f);
        fill_n(k.b, c, &r, 0, 0.5f);
    }
    fill_n(dy, nx, &r, 0, 1);
    fd_op op = {ln_fwd, y, nx, dy, 0, &k};
    ln_fwd(&op);
    tx_layernorm_backward(dx, affine ? dw : NULL, affine ? db : NULL, dy, k.x, k.w, k.m, k.rs,
                          rows, c);
    char nm[96];
    snprintf(nm, sizeof nm, "ln dx fd rows=%ld c=%d%s", (long)rows, c, affine ? "" : " no affine");
    CHECK(grad_check(nm, &op, k.x, nx, dx, 1e-2f, 2e-3f, 1e-2f), "%s", nm);
    if (affine) {
        snprintf(nm, sizeof nm, "ln dw fd rows=%ld c=%d", (long)rows, c);
        CHECK(grad_check(nm, &op, k.w, c, dw, 1e-2f, 2e-3f, 1e-2f), "%s", nm);
        snprintf(nm, sizeof nm, "ln db fd rows=%ld c=%d", (long)rows, c);
        CHECK(grad_check(nm, &op, k.b, c, db, 1e-2f, 2e-3f, 1e-2f), "%s", nm);
    }
    free(k.x), free(k.w), free(k.b), free(k.m), free(k.rs), free(y), free(dy), free(dx);
    free(dw), free(db);
}

static void test_layernorm_fd(void) {
    ln_fd_case(6, 10, 1, 20);
    ln_fd_case(1, 16, 1, 21);  /* one row */
    ln_fd_case(4, 1, 1, 22);   /* one channel: y = b, dx = dw = 0 */
    ln_fd_case(5, 9, 0, 23);   /* no weight/bias */
}

/* Against the double reference; mean/std set the offset of the data. */
static void ln_ref_case(int64_t rows, int c, float mean, float std, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long nx = (long)rows * c;
    float *x = fa(nx), *w = fa(c), *b = fa(c), *dy = fa(nx);
    float *y = fa(nx), *m = fa(rows), *rs = fa(rows), *dx = fa(nx), *dw = fa(c), *db = fa(c);
    float *yr = fa(nx), *mr = fa(rows), *rsr = fa(rows), *dxr = fa(nx), *dwr = fa(c), *dbr = fa(c);
    fill_n(x, nx, &r, mean, std);
    fill_u(w, c, &r, 0.5f, 1.5f);
    fill_n(b, c, &r, 0, 0.5f);
    fill_n(dy, nx, &r, 0, 1);
    tx_layernorm_forward(y, m, rs, x, w, b, rows, c, 1e-6f);
    tx_layernorm_backward(dx, dw, db, dy, x, w, m, rs, rows, c);
    tx_layernorm_forward_ref(yr, mr, rsr, x, w, b, rows, c, 1e-6f);
    tx_layernorm_backward_ref(dxr, dwr, dbr, dy, x, w, rows, c, 1e-6f);
    char nm[128];
    const char *what[6] = {"y", "mean", "rstd", "dx", "dw", "db"};
    const float *got[6] = {y, m, rs, dx, dw, db}, *want[6] = {yr, mr, rsr, dxr, dwr, dbr};
    const long cnt[6] = {nx, rows, rows, nx, c, c};
    for (int i = 0; i < 6; i++) {
        float mx = 1;
        for (long j = 0; j < cnt[i]; j++) mx = fmaxf(mx, fabsf(want[i][j]));
        snprintf(nm, sizeof nm, "ln %s vs ref rows=%ld c=%d mean=%g", what[i], (long)rows, c, mean);
        CHECK(tu_close(nm, got[i], want[i], cnt[i], 2e-6f * mx, 2e-6f), "%s", nm);
    }
    /* without saved statistics and in place: same y */
    float *y2 = fa(nx);
    memcpy(y2, x, (size_t)nx * sizeof *y2);
    tx_layernorm_forward(y2, NULL, NULL, y2, w, b, rows, c, 1e-6f);
    CHECK(same_bits(y, y2, nx), "ln in place / without statistics differs");
    free(x), free(w), free(b), free(dy), free(y), free(m), free(rs), free(dx), free(dw), free(db);
    free(yr), free(mr), free(rsr), free(dxr), free(dwr), free(dbr), free(y2);
}

static void test_layernorm_reference(void) {
    ln_ref_case(197 * 2, 192, 0, 1, 30);     /* ViT-tiny rows */
    ln_ref_case(3, 768, 0, 1, 31);           /* ViT-base width */
    ln_ref_case(7, 1, 0, 1, 32);             /* one channel */
    ln_ref_case(1, 5, 0, 1, 33);             /* one row */
    ln_ref_case(50, 96, 1000, 0.01f, 34);    /* |mean| >> std */
    ln_ref_case(6, 3000, 0, 1, 35);          /* wider than the fused dw/db path */
    ln_ref_case(6, 3000, 200, 0.1f, 36);
    ln_ref_case(4096, 64, 0, 1, 37);         /* many rows: threaded */
}

/* ---- drop path ------------------------------------------------------------------- */

typedef struct {
    float *x;
    uint8_t *keep;
    int n;
    int64_t per;
    float p;
} dp_ctx;

static void dp_fwd(fd_op *op) {
    dp_ctx *k = op->ctx;
    tx_droppath_backward(op->y, k->x, k->keep, k->n, k->per, k->p); /* y = x * mask */
}

static void test_droppath(void) {
    tx_rng r, r2;
    tx_rng_seed(&r, 40);
    int n = 20000;
    int64_t per = 3;
    float p = 0.3f;
    long nx = (long)n * per;
    float *x = fa(nx), *y = fa(nx), *dy = fa(nx), *dx = fa(nx), *y2 = fa(nx);
    uint8_t *keep = malloc((size_t)n), *keep2 = malloc((size_t)n);
    fill_n(x, nx, &r, 0, 1);
    fill_n(dy, nx, &r, 0, 1);
    tx_rng_seed(&r, 41);
    tx_rng_seed(&r2, 41);
    tx_droppath_forward(y, keep, x, n, per, p, &r);
    tx_droppath_forward(y2, keep2, x, n, per, p, &r2);
    CHECK(memcmp(keep, keep2, (size_t)n) == 0 && same_bits(y, y2, nx), "same seed, other mask");
    long kept = 0, bad = 0;
    const float scale = 1.0f / (float)(1.0 - (double)p);
    for (int b = 0; b < n; b++) {
        kept += keep[b];
        for (int64_t i = 0; i < per; i++) {
            long j = (long)(b * per + i);
            bad += y[j] != (keep[b] ? x[j] * scale : 0.0f) * (keep[b] ? 1.0f : 1.0f);
        }
    }
    double frac = (double)kept / n, sd = sqrt(0.3 * 0.7 / n);
    printf("  drop path: kept %.4f of %d samples (expected 0.7 +- %.4f)\n", frac, n, sd);
    CHECK(fabs(frac - 0.7) < 5 * sd, "kept fraction %.4f", frac);
    CHECK(bad == 0, "%ld outputs are not x * keep / (1-p)", bad);
    /* whole samples are kept or dropped */
    tx_droppath_backward(dx, dy, keep, n, per, p);
    bad = 0;
    for (long j = 0; j < nx; j++) bad += dx[j] != dy[j] * (keep[j / per] ? scale : 0.0f);
    CHECK(bad == 0, "%ld gradients are not dy * keep / (1-p)", bad);
    /* p = 0: identity, no random numbers drawn */
    tx_rng before = r;
    tx_droppath_forward(y, keep, x, n, per, 0.0f, &r);
    CHECK(memcmp(&before, &r, sizeof r) == 0, "p=0 drew random numbers");
    CHECK(same_bits(y, x, nx), "p=0 is not the identity");
    /* p = 1: everything dropped */
    tx_droppath_forward(y, keep, x, n, per, 1.0f, &r);
    bad = 0;
    for (long j = 0; j < nx; j++) bad += y[j] != 0.0f;
    for (int b = 0; b < n; b++) bad += keep[b] != 0;
    CHECK(bad == 0, "p=1 kept something");
    /* one draw per sample: the mask depends on the rng and n only, not on per */
    tx_rng_seed(&r, 42);
    tx_rng_seed(&r2, 42);
    tx_droppath_forward(y, keep, x, 100, 3, 0.5f, &r);
    tx_droppath_forward(y2, keep2, x, 100, 1, 0.5f, &r2);
    CHECK(memcmp(keep, keep2, 100) == 0, "mask depends on the sample size");
    /* big samples (threaded inner loop) */
    int nb = 3;
    int64_t pb = 70000;
    float *xb = fa(nb * pb), *yb = fa(nb * pb);
    fill_n(xb, nb * pb, &r, 0, 1);
    keep[0] = 1, keep[1] = 0, keep[2] = 1;
    tx_droppath_backward(yb, xb, keep, nb, pb, 0.25f);
    bad = 0;
    for (long j = 0; j < nb * pb; j++) bad += yb[j] != xb[j] * (keep[j / pb] ? 1.0f / 0.75f : 0.0f);
    CHECK(bad == 0, "large samples: %ld wrong", bad);
    /* finite differences (the op is linear in x, so this checks the scaling) */
    dp_ctx dc = {x, keep, 8, 5, 0.4f};
    for (int b = 0; b < 8; b++) keep[b] = (uint8_t)(b % 3 != 1);
    fd_op op = {dp_fwd, y, 40, dy, 0, &dc};
    dp_fwd(&op);
    tx_droppath_backward(dx, dy, keep, 8, 5, 0.4f);
    CHECK(grad_check("drop path dx fd", &op, x, 40, dx, 1e-2f, 1e-3f, 1e-3f), "fd");
    free(x), free(y), free(dy), free(dx), free(y2), free(keep), free(keep2), free(xb), free(yb);
}

/* ---- attention --------------------------------------------------------------------- */

/* q, k, v as views of one qkv[n, t, 3D] buffer (timm's layout), or three separate
 * [n, t, D] buffers when fused == 0 (ldqkv = D). */
typedef struct {
    tx_attn_shape s;
    float *qkv, *q, *k, *v, *probs, *scratch;
} at_ctx;

static void at_fwd(fd_op *op) {
    at_ctx *c = op->ctx;
    tx_attention_forward(op->y, c->probs, c->q, c->k, c->v, &c->s, c->scratch);
}

static int at_setup(at_ctx *c, int n, int t, int heads, int hd, int fused, tx_rng *r) {
    memset(c, 0, sizeof *c);
    c->s.n = n, c->s.t = t, c->s.heads = heads, c->s.hd = hd;
    const int D = heads * hd;
    c->s.ldqkv = fused ? 3 * D : D;
    tx_err err = {0};
    if (tx_attn_shape_init(&c->s, &err) != TX_OK) {
        printf("  shape init: %s\n", err.msg);
        return 0;
    }
    long nq = (long)n * t * D;
    c->qkv = fa(3 * nq);
    fill_n(c->qkv, 3 * nq, r, 0, 1);
    c->q = c->qkv;
    c->k = fused ? c->qkv + D : c->qkv + nq;
    c->v = fused ? c->qkv + 2 * D : c->qkv + 2 * nq;
    c->probs = fa((long)n * heads * t * t);
    c->scratch = fa((long)tx_attention_scratch_floats(&c->s));
    return 1;
}

static void at_free(at_ctx *c) { free(c->qkv), free(c->probs), free(c->scratch); }

static void attn_fd_case(int n, int t, int heads, int hd, int fused, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    at_ctx c;
    if (!at_setup(&c, n, t, heads, hd, fused, &r)) {
        CHECK(0, "setup");
        return;
    }
    const int D = heads * hd;
    long ny = (long)n * t * D;
    float *y = fa(ny), *dy = fa(ny), *g = fa(3 * ny), *g2 = fa(3 * ny);
    fill_n(dy, ny, &r, 0, 1);
    fd_op op = {at_fwd, y, ny, dy, 0, &c};
    at_fwd(&op);
    /* gradient buffer laid out like the inputs */
    float *dq = g, *dk = fused ? g + D : g + ny, *dv = fused ? g + 2 * D : g + 2 * ny;
    tx_attention_backward(dq, dk, dv, dy, c.probs, c.q, c.k, c.v, &c.s, c.scratch);
    char nm[128];
    snprintf(nm, sizeof nm, "attn dqkv fd n=%d t=%d h=%d hd=%d %s", n, t, heads, hd,
             fused ? "fused qkv" : "separate");
    CHECK(grad_check(nm, &op, c.qkv, 3 * ny, g, 1e-2f, 2e-3f, 1e-2f), "%s", nm);
    /* recomputing backward gives the same gradients */
    float *dq2 = g2, *dk2 = fused ? g2 + D : g2 + ny, *dv2 = fused ? g2 + 2 * D : g2 + 2 * ny;
    tx_attention_backward(dq2, dk2, dv2, dy, NULL, c.q, c.k, c.v, &c.s, c.scratch);
    snprintf(nm, sizeof nm, "attn backward recomputing P, t=%d", t);
    CHECK(tu_close(nm, g2, g, 3 * ny, 1e-6f, 1e-5f), "%s", nm);
    free(y), free(dy), free(g), free(g2);
    at_free(&c);
}

static void test_attention_fd(void) {
    attn_fd_case(2, 5, 3, 4, 1, 50);
    attn_fd_case(1, 6, 2, 3, 0, 51);
    attn_fd_case(1, 1, 1, 4, 1, 52); /* one token: dq = dk = 0, dv = dy */
    attn_fd_case(2, 4, 1, 1, 1, 53); /* one head of size 1 */
}

/* Fast against the double reference: forward (training and inference), backward
 * (with and without probs), for the given thread count. */
static void attn_ref_case(int n, int t, int heads, int hd, int fused, int threads,
                          uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    at_ctx c;
    if (!at_setup(&c, n, t, heads, hd, fused, &r)) {
        CHECK(0, "setup");
        return;
    }
    c.s.threads = threads;
    const int D = heads * hd;
    long ny = (long)n * t * D, np = (long)n * heads * t * t;
    float *y = fa(ny), *y2 = fa(ny), *yr = fa(ny), *pr = fa(np), *dy = fa(ny);
    float *g = fa(3 * ny), *g2 = fa(3 * ny), *gr = fa(3 * ny);
    fill_n(dy, ny, &r, 0, 1);
    long off_k = fused ? D : ny, off_v = fused ? 2 * D : 2 * ny;
    tx_attention_forward(y, c.probs, c.q, c.k, c.v, &c.s, NULL);
    tx_attention_forward(y2, NULL, c.q, c.k, c.v, &c.s, c.scratch);
    tx_attention_forward_ref(yr, pr, c.q, c.k, c.v, &c.s);
    tx_attention_backward(g, g + off_k, g + off_v, dy, c.probs, c.q, c.k, c.v, &c.s, c.scratch);
    tx_attention_backward(g2, g2 + off_k, g2 + off_v, dy, NULL, c.q, c.k, c.v, &c.s, c.scratch);
    tx_attention_backward_ref(gr, gr + off_k, gr + off_v, dy, c.q, c.k, c.v, &c.s);
    char nm[160];
    snprintf(nm, sizeof nm, "attn y vs ref n=%d t=%d h=%d hd=%d th=%d%s", n, t, heads, hd,
             threads, fused ? "" : " sep");
    CHECK(tu_close(nm, y, yr, ny, 2e-6f, 1e-5f), "%s", nm);
    snprintf(nm, sizeof nm, "attn y (inference) vs ref t=%d", t);
    CHECK(tu_close(nm, y2, yr, ny, 2e-6f, 1e-5f), "%s", nm);
    snprintf(nm, sizeof nm, "attn probs vs ref t=%d", t);
    CHECK(tu_close(nm, c.probs, pr, np, 1e-7f, 1e-5f), "%s", nm);
    snprintf(nm, sizeof nm, "attn dqkv vs ref t=%d", t);
    CHECK(tu_close(nm, g, gr, 3 * ny, 1e-5f, 1e-4f), "%s", nm);
    snprintf(nm, sizeof nm, "attn dqkv (recompute) vs ref t=%d", t);
    CHECK(tu_close(nm, g2, gr, 3 * ny, 1e-5f, 1e-4f), "%s", nm);
    free(y), free(y2), free(yr), free(pr), free(dy), free(g), free(g2), free(gr);
    at_free(&c);
}

static void test_attention_reference(void) {
    int th = max_threads();
    attn_ref_case(2, 7, 3, 4, 1, th, 60);
    attn_ref_case(2, 7, 3, 4, 0, 1, 61);
    attn_ref_case(1, 197, 3, 64, 1, th, 62); /* ViT-tiny block, batch 1 (query blocks) */
    attn_ref_case(1, 197, 3, 64, 1, 1, 63);
    attn_ref_case(3, 50, 4, 16, 1, th, 64);
    attn_ref_case(1, 1, 1, 1, 1, th, 65);
    attn_ref_case(1, 33, 1, 8, 0, th, 66); /* one head, batch 1 */
}

/* Partial gradients (NULL outputs) and untouched memory around strided outputs. */
static void test_attention_partial(void) {
    tx_rng r;
    tx_rng_seed(&r, 70);
    at_ctx c;
    if (!at_setup(&c, 2, 6, 2, 4, 1, &r)) {
        CHECK(0, "setup");
        return;
    }
    const int D = 8;
    long ny = 2L * 6 * D;
    float *y = fa(ny), *dy = fa(ny), *g = fa(3 * ny), *g2 = fa(3 * ny);
    fill_n(dy, ny, &r, 0, 1);
    tx_attention_forward(y, c.probs, c.q, c.k, c.v, &c.s, NULL);
    tx_attention_backward(g, g + D, g + 2 * D, dy, c.probs, c.q, c.k, c.v, &c.s, c.scratch);
    for (long i = 0; i < 3 * ny; i++) g2[i] = 12345.0f;
    tx_attention_backward(NULL, g2 + D, NULL, dy, c.probs, c.q, c.k, c.v, &c.s, c.scratch);
    long bad = 0;
    for (long i = 0; i < 3 * ny; i++) {
        int col = (int)(i % (3 * D));
        int is_k = col >= D && col < 2 * D;
        bad += is_k ? g2[i] != g[i] : g2[i] != 12345.0f;
    }
    CHECK(bad == 0, "dk alone: %ld values wrong or written outside dk", bad);
    for (long i = 0; i < 3 * ny; i++) g2[i] = 12345.0f;
    tx_attention_backward(NULL, NULL, g2 + 2 * D, dy, c.probs, c.q, c.k, c.v, &c.s, c.scratch);
    bad = 0;
    for (long i = 0; i < 3 * ny; i++) {
        int col = (int)(i % (3 * D));
        bad += col >= 2 * D ? g2[i] != g[i] : g2[i] != 12345.0f;
    }
    CHECK(bad == 0, "dv alone: %ld values wrong or written outside dv", bad);
    /* an empty batch writes nothing */
    tx_attn_shape s0 = c.s;
    s0.n = 0;
    y[0] = 7;
    tx_attention_forward(y, NULL, c.q, c.k, c.v, &s0, c.scratch);
    tx_attention_backward(g, g + D, g + 2 * D, dy, NULL, c.q, c.k, c.v, &s0, c.scratch);
    CHECK(y[0] == 7, "n=0 wrote output");
    free(y), free(dy), free(g), free(g2);
    at_free(&c);
}

static void test_attn_shape_init(void) {
    tx_err err = {0};
    tx_attn_shape s = {2, 197, 3, 64, 0, 0.0f, 0};
    CHECK_OK(tx_attn_shape_init(&s, &err), &err);
    CHECK(s.ldqkv == 192 && s.scale == 0.125f && s.threads == max_threads(),
          "defaults: ldqkv=%d scale=%g threads=%d", s.ldqkv, s.scale, s.threads);
    CHECK(tx_attention_scratch_floats(&s) == 2 * (size_t)s.threads * 197 * 197, "scratch size");
    tx_attn_shape s2 = {1, 5, 2, 48, 0, 0.0f, 1};
    CHECK_OK(tx_attn_shape_init(&s2, &err), &err);
    CHECK(fabsf(s2.scale - 0.144337567f) < 1e-7f, "scale for hd=48: %.9g", s2.scale);
    const tx_attn_shape bad[] = {
        {1, 0, 1, 4, 0, 0, 0},  {1, 4, 0, 4, 0, 0, 0},        {1, 4, 1, 0, 0, 0, 0},
        {-1, 4, 1, 4, 0, 0, 0}, {1, 4, 2, 4, 7, 0, 0},        {1, 4, 1, 4, 0, INFINITY, 0},
        {1, 4, 1, 4, 0, 0, -2}, {1, 4, 1 << 20, 1 << 12, 0, 0, 0}, {1 << 30, 1 << 20, 1, 4, 0, 0, 1},
    };
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        tx_attn_shape b = bad[i];
        err.msg[0] = 0;
        int rc = tx_attn_shape_init(&b, &err);
        CHECK(rc != TX_OK && err.msg[0], "bad shape %u accepted", i);
        if (i == 0) printf("  e.g. %s\n", err.msg);
    }
}

/* The same thread count gives the same bits; 1 thread agrees with 2 closely. */
static void test_attention_determinism(void) {
    int t0 = max_threads();
    float *out[3];
    const int threads[3] = {2, 2, 1};
    const int n = 2, t = 37, H = 3, hd = 16, D = H * hd;
    long ny = (long)n * t * D, np = (long)n * H * t * t, tot = 8 * ny + np; /* y y2 probs g ln */
    for (int i = 0; i < 3; i++) {
        set_threads(threads[i]);
        tx_rng r;
        tx_rng_seed(&r, 80);
        at_ctx c;
        if (!at_setup(&c, n, t, H, hd, 1, &r)) {
            CHECK(0, "setup");
            return;
        }
        float *o = out[i] = fa(tot), *dy = fa(ny);
        fill_n(dy, ny, &r, 0, 1);
        float *y = o, *y2 = o + ny, *probs = o + 2 * ny, *g = probs + np, *ln = g + 3 * ny;
        tx_attention_forward(y, probs, c.q, c.k, c.v, &c.s, NULL);
        tx_attention_forward(y2, NULL, c.q, c.k, c.v, &c.s, c.scratch);
        tx_attention_backward(g, g + D, g + 2 * D, dy, probs, c.q, c.k, c.v, &c.s, c.scratch);
        /* layer norm on the same data (dw/db sums depend on the thread count) */
        float *m = fa(n * t), *rs = fa(n * t);
        tx_layernorm_forward(ln, m, rs, c.qkv, NULL, NULL, n * t, 3 * D, 1e-6f);
        free(m), free(rs), free(dy);
        at_free(&c);
    }
    set_threads(t0);
    CHECK(same_bits(out[0], out[1], tot), "2 threads twice: results differ");
    CHECK(tu_close("attention + ln: 1 vs 2 threads", out[2], out[0], tot, 1e-6f, 1e-5f), "1 vs 2");
    for (int i = 0; i < 3; i++) free(out[i]);
}

/* Thread count given in the shape below the OpenMP maximum: the scratch sized for it
 * is enough (ASan would see an overflow). */
static void test_attention_threads_cap(void) {
    tx_rng r;
    tx_rng_seed(&r, 90);
    at_ctx c;
    if (!at_setup(&c, 4, 20, 2, 8, 1, &r)) {
        CHECK(0, "setup");
        return;
    }
    c.s.threads = 1;
    free(c.scratch);
    c.scratch = fa((long)tx_attention_scratch_floats(&c.s));
    long ny = 4L * 20 * 16;
    float *y = fa(ny), *yr = fa(ny), *dy = fa(ny), *g = fa(3 * ny), *gr = fa(3 * ny);
    fill_n(dy, ny, &r, 0, 1);
    tx_attention_forward(y, NULL, c.q, c.k, c.v, &c.s, c.scratch);
    tx_attention_backward(g, g + 16, g + 32, dy, NULL, c.q, c.k, c.v, &c.s, c.scratch);
    tx_attention_forward_ref(yr, NULL, c.q, c.k, c.v, &c.s);
    tx_attention_backward_ref(gr, gr + 16, gr + 32, dy, c.q, c.k, c.v, &c.s);
    CHECK(tu_close("attn threads=1 in shape: y", y, yr, ny, 2e-6f, 1e-5f), "y");
    CHECK(tu_close("attn threads=1 in shape: dqkv", g, gr, 3 * ny, 1e-5f, 1e-4f), "g");
    free(y), free(yr), free(dy), free(g), free(gr);
    at_free(&c);
}

/* ---- class token, position embedding, token pooling -------------------------------- */

typedef struct {
    float *x, *cls, *pos;
    int n, t, d;
} cp_ctx;

static void cp_fwd(fd_op *op) {
    cp_ctx *k = op->ctx;
    tx_cls_pos_forward(op->y, k->x, k->cls, k->pos, k->n, k->t, k->d);
}

static void cls_pos_case(int n, int t, int d, int has, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    int ty = t + has;
    long nx = (long)n * t * d, ny = (long)n * ty * d;
    cp_ctx k = {fa(nx), has ? fa(d) : NULL, fa((long)ty * d), n, t, d};
    float *y = fa(ny), *dy = fa(ny), *dx = fa(nx), *dcls = fa(d), *dpos = fa((long)ty * d);
    fill_n(k.x, nx, &r, 0, 1);
    if (has) fill_n(k.cls, d, &r, 0, 1);
    fill_n(k.pos, (long)ty * d, &r, 0, 1);
    fill_n(dy, ny, &r, 0, 1);
    fd_op op = {cp_fwd, y, ny, dy, 0, &k};
    cp_fwd(&op);
    long bad = 0;
    for (int b = 0; b < n; b++)
        for (int j = 0; j < ty; j++)
            for (int e = 0; e < d; e++) {
                float src = has && j == 0 ? k.cls[e] : k.x[((long)b * t + j - has) * d + e];
                bad += y[((long)b * ty + j) * d + e] != src + k.pos[(long)j * d + e];
            }
    CHECK(bad == 0, "cls/pos forward: %ld wrong", bad);
    tx_cls_pos_backward(dx, has ? dcls : NULL, dpos, dy, has, n, t, d);
    /* direct sums */
    float *wdpos = fa((long)ty * d);
    bad = 0;
    for (int j = 0; j < ty; j++)
        for (int e = 0; e < d; e++) {
            double acc = 0;
            for (int b = 0; b < n; b++) acc += dy[((long)b * ty + j) * d + e];
            wdpos[(long)j * d + e] = (float)acc;
            if (has && j == 0) bad += dcls[e] != (float)acc;
        }
    for (int b = 0; b < n; b++)
        for (int j = 0; j < t; j++)
            for (int e = 0; e < d; e++)
                bad += dx[((long)b * t + j) * d + e] != dy[((long)b * ty + j + has) * d + e];
    CHECK(bad == 0, "cls/pos backward: %ld of dx/dcls wrong", bad);
    CHECK(same_bits(dpos, wdpos, (long)ty * d), "cls/pos dpos is not the sum over the batch");
    free(wdpos);
    char nm[96];
    if (ny <= 5000) {
        snprintf(nm, sizeof nm, "cls_pos dx fd n=%d t=%d d=%d cls=%d", n, t, d, has);
        CHECK(grad_check(nm, &op, k.x, nx, dx, 1e-2f, 1e-3f, 1e-3f), "%s", nm);
        if (has) {
            snprintf(nm, sizeof nm, "cls_pos dcls fd");
            CHECK(grad_check(nm, &op, k.cls, d, dcls, 1e-2f, 1e-3f, 1e-3f), "%s", nm);
        }
        snprintf(nm, sizeof nm, "cls_pos dpos fd");
        CHECK(grad_check(nm, &op, k.pos, (long)ty * d, dpos, 1e-2f, 1e-3f, 1e-3f), "%s", nm);
    }
    /* no position embedding: a copy with the class token in front */
    tx_cls_pos_forward(y, k.x, k.cls, NULL, n, t, d);
    bad = 0;
    for (int b = 0; b < n; b++)
        for (int j = 0; j < ty; j++)
            for (int e = 0; e < d; e++)
                bad += y[((long)b * ty + j) * d + e] !=
                       (has && j == 0 ? k.cls[e] : k.x[((long)b * t + j - has) * d + e]);
    CHECK(bad == 0, "cls without pos: %ld wrong", bad);
    free(k.x), free(k.cls), free(k.pos), free(y), free(dy), free(dx), free(dcls), free(dpos);
}

static void test_cls_pos(void) {
    cls_pos_case(2, 4, 6, 1, 100);
    cls_pos_case(3, 5, 4, 0, 101);
    cls_pos_case(1, 1, 1, 1, 102);      /* one patch, one channel */
    cls_pos_case(4, 196, 192, 1, 103);  /* ViT-tiny: threaded */
}

typedef struct {
    float *x;
    int n, t, d;
} t0_ctx;

static void t0_fwd(fd_op *op) {
    t0_ctx *k = op->ctx;
    tx_token0_forward(op->y, k->x, k->n, k->t, k->d);
}

static void test_token0(void) {
    tx_rng r;
    tx_rng_seed(&r, 110);
    const int n = 3, t = 5, d = 7;
    float *x = fa(n * t * d), *y = fa(n * d), *dy = fa(n * d), *dx = fa(n * t * d);
    fill_n(x, n * t * d, &r, 0, 1);
    fill_n(dy, n * d, &r, 0, 1);
    for (int i = 0; i < n * t * d; i++) dx[i] = NAN;
    tx_token0_forward(y, x, n, t, d);
    tx_token0_backward(dx, dy, n, t, d);
    long bad = 0;
    for (int b = 0; b < n; b++)
        for (int j = 0; j < t; j++)
            for (int e = 0; e < d; e++) {
                if (j == 0) bad += y[b * d + e] != x[(b * t) * d + e];
                bad += dx[(b * t + j) * d + e] != (j == 0 ? dy[b * d + e] : 0.0f);
            }
    CHECK(bad == 0, "token0: %ld wrong", bad);
    /* finite differences */
    t0_ctx tc = {x, n, t, d};
    fd_op op = {t0_fwd, y, n * d, dy, 0, &tc};
    CHECK(grad_check("token0 dx fd", &op, x, n * t * d, dx, 1e-2f, 1e-3f, 1e-3f), "fd");
    /* one token: the backward is a copy */
    tx_token0_backward(dx, dy, n, 1, d);
    CHECK(same_bits(dx, dy, n * d), "token0 t=1");
    free(x), free(y), free(dy), free(dx);
}

int main(void) {
    RUN(test_vmath_accuracy);
    RUN(test_act_vs_ref);
    RUN(test_act_fd);
    RUN(test_act_special);
    RUN(test_chanmul);
    RUN(test_layerscale);
    RUN(test_layernorm_fd);
    RUN(test_layernorm_reference);
    RUN(test_droppath);
    RUN(test_attention_fd);
    RUN(test_attention_reference);
    RUN(test_attention_partial);
    RUN(test_attn_shape_init);
    RUN(test_attention_determinism);
    RUN(test_attention_threads_cap);
    RUN(test_cls_pos);
    RUN(test_token0);
    TEST_MAIN_END();
}
