/* test_ops.c - batch norm, relu/add/dropout, pooling, linear, softmax cross-entropy.
 *
 * Three kinds of evidence per op:
 *  - finite differences: loss = sum(dy * y) for a random dy (or the scalar loss
 *    itself), central differences on float inputs, against every backward;
 *  - naive references written here in double (straight loops, no tiling/threads);
 *  - determinism: the same thread count gives the same bits, 1 vs 3 threads agree.
 */
#include "ops/ops.h"
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

/* Values whose pairwise gaps are >= 0.05 (a shuffled grid), so a perturbation of
 * 1e-3 never changes which element of a pooling window is the maximum. */
static void fill_distinct(float *a, long n, tx_rng *r) {
    for (long i = 0; i < n; i++) a[i] = (float)(i - n / 2) * 0.05f;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)tx_rng_below(r, (uint32_t)(i + 1));
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
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




/* ---- batch norm ------------------------------------------------------------ */

static void bn_train_ref(float *y, float *mean_o, float *invstd_o, float *rm, float *rv,
                         const float *x, const float *g, const float *b, long rows, int c,
                         double eps, double mom) {
    for (int j = 0; j < c; j++) {
        double m = 0, v = 0;
        for (long r = 0; r < rows; r++) m += x[r * c + j];
        m /= rows;
        for (long r = 0; r < rows; r++) v += (x[r * c + j] - m) * (x[r * c + j] - m);
        double var = v / rows, unb = rows > 1 ? v / (rows - 1) : var;
        double is = 1.0 / sqrt(var + eps);
        for (long r = 0; r < rows; r++) y[r * c + j] = (float)((x[r * c + j] - m) * is * g[j] + b[j]);
        mean_o[j] = (float)m;
        invstd_o[j] = (float)is;
        rm[j] = (float)((1 - mom) * rm[j] + mom * m);
        rv[j] = (float)((1 - mom) * rv[j] + mom * unb);
    }
}

static void bn_backward_ref(float *dx, float *dg, float *db, const float *dy, const float *x,
                            const float *g, long rows, int c, double eps) {
    for (int j = 0; j < c; j++) {
        double m = 0, v = 0;
        for (long r = 0; r < rows; r++) m += x[r * c + j];
        m /= rows;
        for (long r = 0; r < rows; r++) v += (x[r * c + j] - m) * (x[r * c + j] - m);
        double is = 1.0 / sqrt(v / rows + eps);
        double sdy = 0, sdyx = 0;
        for (long r = 0; r < rows; r++) {
            sdy += dy[r * c + j];
            sdyx += dy[r * c + j] * (x[r * c + j] - m) * is;
        }
        db[j] = (float)sdy;
        dg[j] = (float)sdyx;
        for (long r = 0; r < rows; r++) {
            double xh = (x[r * c + j] - m) * is;
            dx[r * c + j] = (float)(g[j] * is * (dy[r * c + j] - sdy / rows - xh * sdyx / rows));
        }
    }
}

typedef struct {
    float *x, *g, *b, *mean, *invstd, *rm, *rv;
    long rows;
    int c;
} bn_ctx;

static void bn_fwd(fd_op *op) {
    bn_ctx *k = op->ctx;
    tx_batchnorm_forward_train(op->y, k->mean, k->invstd, k->rm, k->rv, k->x, k->g, k->b,
                               k->rows, k->c, 1e-5f, 0.1f);
}

static void bn_fd_case(long rows, int c, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long n = rows * c;
    bn_ctx k = {fa(n), fa(c), fa(c), fa(c), fa(c), fa(c), fa(c), rows, c};
    float *y = fa(n), *dy = fa(n), *dx = fa(n), *dg = fa(c), *db = fa(c);
    fill_n(k.x, n, &r, 0.5f, 2.0f);
    fill_u(k.g, c, &r, 0.5f, 1.5f);
    fill_u(k.b, c, &r, -0.5f, 0.5f);
    fill_n(dy, n, &r, 0, 1);
    fd_op op = {bn_fwd, y, n, dy, 0, &k};
    bn_fwd(&op);
    tx_batchnorm_backward(dx, dg, db, dy, k.x, k.g, k.mean, k.invstd, rows, c);
    char name[96];
    snprintf(name, sizeof name, "bn dx rows=%ld c=%d", rows, c);
    CHECK(grad_check(name, &op, k.x, n, dx, 1e-2f, 2e-3f, 1e-2f), "dx");
    snprintf(name, sizeof name, "bn dgamma rows=%ld c=%d", rows, c);
    CHECK(grad_check(name, &op, k.g, c, dg, 1e-2f, 2e-3f, 1e-2f), "dgamma");
    snprintf(name, sizeof name, "bn dbeta rows=%ld c=%d", rows, c);
    CHECK(grad_check(name, &op, k.b, c, db, 1e-2f, 2e-3f, 1e-2f), "dbeta");
    free(k.x), free(k.g), free(k.b), free(k.mean), free(k.invstd), free(k.rm), free(k.rv);
    free(y), free(dy), free(dx), free(dg), free(db);
}

static void test_bn_backward_fd(void) {
    bn_fd_case(2 * 3 * 4, 3, 1);  /* n=2, 3x4 image, 3 channels */
    bn_fd_case(1 * 2 * 3, 1, 2);  /* batch 1, one channel */
    bn_fd_case(5, 7, 3);          /* odd sizes */
}

/* Forward (train and eval) and backward against the double references, on sizes that
 * use several channel tiles and several threads. */
static void bn_ref_case(long rows, int c, float mean, float std, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long n = rows * c;
    float *x = fa(n), *g = fa(c), *b = fa(c), *y = fa(n), *y2 = fa(n), *dy = fa(n);
    float *m = fa(c), *is = fa(c), *rm = fa(c), *rv = fa(c);
    float *m2 = fa(c), *is2 = fa(c), *rm2 = fa(c), *rv2 = fa(c);
    float *dx = fa(n), *dg = fa(c), *db = fa(c), *dx2 = fa(n), *dg2 = fa(c), *db2 = fa(c);
    fill_n(x, n, &r, mean, std);
    fill_u(g, c, &r, 0.5f, 1.5f);
    fill_u(b, c, &r, -1, 1);
    fill_u(rm, c, &r, -1, 1);
    fill_u(rv, c, &r, 0.5f, 2);
    fill_n(dy, n, &r, 0, 1);
    memcpy(rm2, rm, (size_t)c * 4);
    memcpy(rv2, rv, (size_t)c * 4);
    tx_batchnorm_forward_train(y, m, is, rm, rv, x, g, b, rows, c, 1e-5f, 0.1f);
    bn_train_ref(y2, m2, is2, rm2, rv2, x, g, b, rows, c, 1e-5, 0.1);
    char name[128];
    snprintf(name, sizeof name, "bn train y rows=%ld c=%d mean=%g", rows, c, mean);
    CHECK(tu_close(name, y, y2, n, 2e-5f, 2e-5f), "y");
    CHECK(tu_close("bn train save_mean", m, m2, c, 1e-6f, 1e-6f), "mean");
    CHECK(tu_close("bn train save_invstd", is, is2, c, 1e-6f, 2e-6f), "invstd");
    CHECK(tu_close("bn train running_mean", rm, rm2, c, 1e-6f, 1e-6f), "rm");
    CHECK(tu_close("bn train running_var", rv, rv2, c, 1e-6f, 2e-6f), "rv");

    tx_batchnorm_backward(dx, dg, db, dy, x, g, m, is, rows, c);
    bn_backward_ref(dx2, dg2, db2, dy, x, g, rows, c, 1e-5);
    CHECK(tu_close("bn backward dx", dx, dx2, n, 2e-5f, 1e-4f), "dx");
    CHECK(tu_close("bn backward dgamma", dg, dg2, c, 1e-3f, 1e-5f), "dg");
    CHECK(tu_close("bn backward dbeta", db, db2, c, 1e-3f, 1e-5f), "db");

    tx_batchnorm_forward_eval(y, x, g, b, rm, rv, rows, c, 1e-5f);
    for (long i = 0; i < n; i++) {
        int j = (int)(i % c);
        y2[i] = (float)((x[i] - (double)rm[j]) / sqrt((double)rv[j] + 1e-5) * g[j] + b[j]);
    }
    CHECK(tu_close("bn eval y", y, y2, n, 2e-5f, 2e-5f), "eval");
    free(x), free(g), free(b), free(y), free(y2), free(dy), free(m), free(is), free(rm);
    free(rv), free(m2), free(is2), free(rm2), free(rv2), free(dx), free(dg), free(db);
    free(dx2), free(dg2), free(db2);
}

static void test_bn_reference(void) {
    bn_ref_case(37, 5, 0, 1, 10);
    bn_ref_case(3000, 300, 0.3f, 2, 11); /* two channel tiles, several threads */
    bn_ref_case(4096, 1, 1, 1, 12);      /* one channel */
    bn_ref_case(2, 600, 0, 1, 13);       /* two rows (batch 1, 1x2) */
}

/* Mean far from zero relative to the spread: naive E[x^2]-E[x]^2 in float fails here. */
static void test_bn_large_mean(void) {
    bn_ref_case(2000, 16, 1000.0f, 0.01f, 14);
}

static void test_bn_one_row(void) {
    /* A single row: variance 0, y = beta; running_var uses the biased 0, not inf. */
    float x[3] = {1, -2, 3}, g[3] = {1, 2, 3}, b[3] = {0.5f, 0, -1}, y[3];
    float m[3], is[3], rm[3] = {0, 0, 0}, rv[3] = {1, 1, 1};
    tx_batchnorm_forward_train(y, m, is, rm, rv, x, g, b, 1, 3, 1e-5f, 0.1f);
    CHECK(tu_close("bn one row y == beta", y, b, 3, 1e-6f, 0), "y");
    for (int j = 0; j < 3; j++) CHECK(isfinite(rv[j]) && fabsf(rv[j] - 0.9f) < 1e-6f, "rv %g", rv[j]);
}

/* ---- relu, add, dropout ---------------------------------------------------- */

typedef struct {
    float *x, *x2;
    uint8_t *mask;
    long n;
    float p;
    uint64_t seed;
} ew_ctx;

static void relu_fwd(fd_op *op) {
    ew_ctx *k = op->ctx;
    tx_relu_forward(op->y, k->x, k->n);
}
static void add_fwd(fd_op *op) {
    ew_ctx *k = op->ctx;
    tx_add_forward(op->y, k->x, k->x2, k->n);
}
static void drop_fwd(fd_op *op) {
    ew_ctx *k = op->ctx;
    tx_rng r;
    tx_rng_seed(&r, k->seed); /* same seed every call: a fixed mask */
    tx_dropout_forward(op->y, k->mask, k->x, k->n, k->p, &r);
}

static void test_relu(void) {
    tx_rng r;
    tx_rng_seed(&r, 20);
    long n = 300000; /* large enough for the threaded path */
    ew_ctx k = {fa(n), NULL, NULL, n, 0, 0};
    float *y = fa(n), *dy = fa(n), *dx = fa(n), *want = fa(n);
    fill_u(k.x, n, &r, -1, 1);
    for (long i = 0; i < n; i++)
        if (fabsf(k.x[i]) < 0.05f) k.x[i] = k.x[i] < 0 ? -0.05f : 0.05f; /* away from the kink */
    fill_n(dy, n, &r, 0, 1);
    tx_relu_forward(y, k.x, n);
    for (long i = 0; i < n; i++) want[i] = k.x[i] > 0 ? k.x[i] : 0;
    CHECK(tu_close("relu forward", y, want, n, 0, 0), "fwd");
    tx_relu_backward(dx, dy, y, n);
    for (long i = 0; i < n; i++) want[i] = k.x[i] > 0 ? dy[i] : 0;
    CHECK(tu_close("relu backward (from output)", dx, want, n, 0, 0), "bwd");
    k.n = 64; /* finite differences on a small prefix */
    fd_op op = {relu_fwd, y, 64, dy, 0, &k};
    CHECK(grad_check("relu dx fd", &op, k.x, 64, dx, 1e-3f, 1e-3f, 1e-3f), "fd");
    float nanv = NAN, out;
    tx_relu_forward(&out, &nanv, 1);
    CHECK(isnan(out), "relu(NaN) should stay NaN, got %g", out);
    free(k.x), free(y), free(dy), free(dx), free(want);
}

static void test_add(void) {
    tx_rng r;
    tx_rng_seed(&r, 21);
    long n = 100;
    ew_ctx k = {fa(n), fa(n), NULL, n, 0, 0};
    float *y = fa(n), *dy = fa(n);
    fill_n(k.x, n, &r, 0, 1);
    fill_n(k.x2, n, &r, 0, 1);
    fill_n(dy, n, &r, 0, 1);
    tx_add_forward(y, k.x, k.x2, n);
    int ok = 1;
    for (long i = 0; i < n; i++) ok &= y[i] == k.x[i] + k.x2[i];
    CHECK(ok, "add forward");
    fd_op op = {add_fwd, y, n, dy, 0, &k};
    /* the gradient of an add is dy for both inputs */
    CHECK(grad_check("add da fd", &op, k.x, n, dy, 1e-2f, 1e-3f, 1e-3f), "da");
    CHECK(grad_check("add db fd", &op, k.x2, n, dy, 1e-2f, 1e-3f, 1e-3f), "db");
    tx_add_forward(y, k.x, k.x2, n);   /* the fd loop left a perturbed y behind */
    tx_add_forward(k.x, k.x, k.x2, n); /* in place */
    CHECK(tu_close("add in place", k.x, y, n, 0, 0), "in place");
    free(k.x), free(k.x2), free(y), free(dy);
}

static void test_dropout(void) {
    tx_rng r;
    tx_rng_seed(&r, 22);
    long n = 200001; /* odd: the last element takes its own draw */
    float p = 0.3f;
    ew_ctx k = {fa(n), NULL, malloc((size_t)n), n, p, 99};
    float *y = fa(n), *y2 = fa(n), *dy = fa(n), *dx = fa(n);
    uint8_t *mask2 = malloc((size_t)n);
    fill_n(k.x, n, &r, 0, 1);
    fill_n(dy, n, &r, 0, 1);
    fd_op op = {drop_fwd, y, n, dy, 0, &k};
    drop_fwd(&op);
    long kept = 0;
    int ok = 1;
    for (long i = 0; i < n; i++) {
        ok &= k.mask[i] <= 1;
        kept += k.mask[i];
        float want = k.mask[i] ? k.x[i] * (1.0f / (1.0f - p)) : 0.0f;
        ok &= y[i] == want;
    }
    CHECK(ok, "dropout output is x*mask/(1-p) with a 0/1 mask");
    double frac = (double)kept / n; /* 1-p = 0.7, std of the fraction ~0.001 */
    printf("  dropout kept fraction %.5f (want %.2f)\n", frac, 1 - p);
    CHECK(fabs(frac - (1 - p)) < 0.006, "kept fraction %g", frac);
    /* same seed, same mask; a different seed, a different mask */
    memcpy(mask2, k.mask, (size_t)n);
    drop_fwd(&op);
    CHECK(memcmp(mask2, k.mask, (size_t)n) == 0, "same seed gives the same mask");
    k.seed = 100;
    drop_fwd(&op);
    CHECK(memcmp(mask2, k.mask, (size_t)n) != 0, "another seed gives another mask");
    tx_dropout_backward(dx, dy, k.mask, n, p);
    for (long i = 0; i < n; i++) y2[i] = k.mask[i] ? dy[i] / (1 - p) : 0;
    CHECK(tu_close("dropout backward", dx, y2, n, 1e-6f, 1e-6f), "bwd");
    op.ny = k.n = 50;
    CHECK(grad_check("dropout dx fd (fixed mask)", &op, k.x, 50, dx, 1e-2f, 1e-3f, 1e-3f), "fd");
    /* p = 0: identity; p = 1: zeros */
    k.n = 1000;
    tx_dropout_forward(y, k.mask, k.x, 1000, 0.0f, &r);
    CHECK(tu_close("dropout p=0 is identity", y, k.x, 1000, 0, 0), "p0");
    tx_dropout_forward(y, k.mask, k.x, 1000, 1.0f, &r);
    tx_dropout_backward(dx, dy, k.mask, 1000, 1.0f);
    for (long i = 0; i < 1000; i++) y2[i] = 0;
    CHECK(tu_close("dropout p=1 gives zeros", y, y2, 1000, 0, 0), "p1");
    CHECK(tu_close("dropout p=1 backward zeros", dx, y2, 1000, 0, 0), "p1b");
    free(k.x), free(k.mask), free(mask2), free(y), free(y2), free(dy), free(dx);
}

/* ---- pooling --------------------------------------------------------------- */

static tx_pool_shape pool_shape(int n, int h, int w, int c, int k, int st, int pt, int pl,
                                int pb, int pr, int incl) {
    tx_pool_shape s = {n, h, w, c, k, k, st, st, pt, pl, pb, pr, 0, 0, incl};
    return s;
}

static void maxpool_ref(float *y, int32_t *am, const float *x, const tx_pool_shape *s) {
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int j = 0; j < s->c; j++) {
                    float best = -INFINITY;
                    int32_t arg = -1;
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int iy = oy * s->sh - s->pad_t + ky, ix = ox * s->sw - s->pad_l + kx;
                            if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                            float v = x[(((long)n * s->h + iy) * s->w + ix) * s->c + j];
                            if (arg < 0 || v > best) best = v, arg = iy * s->w + ix;
                        }
                    long o = (((long)n * s->oh + oy) * s->ow + ox) * s->c + j;
                    y[o] = best;
                    am[o] = arg;
                }
}

/* Independent formulation: count the window positions inside the padded (or real)
 * input one by one. */
static void avgpool_ref(float *y, const float *x, const tx_pool_shape *s) {
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                for (int j = 0; j < s->c; j++) {
                    double sum = 0;
                    int cnt = 0;
                    for (int ky = 0; ky < s->kh; ky++)
                        for (int kx = 0; kx < s->kw; kx++) {
                            int iy = oy * s->sh - s->pad_t + ky, ix = ox * s->sw - s->pad_l + kx;
                            int inside = iy >= 0 && iy < s->h && ix >= 0 && ix < s->w;
                            int inpad = iy >= -s->pad_t && iy < s->h + s->pad_b &&
                                        ix >= -s->pad_l && ix < s->w + s->pad_r;
                            if (inside) sum += x[(((long)n * s->h + iy) * s->w + ix) * s->c + j];
                            if (s->count_include_pad ? inpad : inside) cnt++;
                        }
                    y[(((long)n * s->oh + oy) * s->ow + ox) * s->c + j] = (float)(sum / cnt);
                }
}

/* dx by gathering, for each input element, dy/divisor of every window covering it. */
static void avgpool_backward_ref(float *dx, const float *dy, const tx_pool_shape *s) {
    for (int n = 0; n < s->n; n++)
        for (int iy = 0; iy < s->h; iy++)
            for (int ix = 0; ix < s->w; ix++)
                for (int j = 0; j < s->c; j++) {
                    double acc = 0;
                    for (int oy = 0; oy < s->oh; oy++)
                        for (int ox = 0; ox < s->ow; ox++) {
                            int y0 = oy * s->sh - s->pad_t, x0 = ox * s->sw - s->pad_l;
                            if (iy < y0 || iy >= y0 + s->kh || ix < x0 || ix >= x0 + s->kw) continue;
                            int cnt = 0;
                            for (int ky = 0; ky < s->kh; ky++)
                                for (int kx = 0; kx < s->kw; kx++) {
                                    int yy = y0 + ky, xx = x0 + kx;
                                    int inside = yy >= 0 && yy < s->h && xx >= 0 && xx < s->w;
                                    int inpad = yy >= -s->pad_t && yy < s->h + s->pad_b &&
                                                xx >= -s->pad_l && xx < s->w + s->pad_r;
                                    if (s->count_include_pad ? inpad : inside) cnt++;
                                }
                            acc += dy[(((long)n * s->oh + oy) * s->ow + ox) * s->c + j] / cnt;
                        }
                    dx[(((long)n * s->h + iy) * s->w + ix) * s->c + j] = (float)acc;
                }
}

/* dx by scattering dy to the reference argmax. */
static void maxpool_backward_ref(float *dx, const float *dy, const int32_t *am,
                                 const tx_pool_shape *s) {
    long plane = (long)s->h * s->w, opl = (long)s->oh * s->ow;
    memset(dx, 0, (size_t)s->n * plane * s->c * sizeof(float));
    for (int n = 0; n < s->n; n++)
        for (long p = 0; p < opl; p++)
            for (int j = 0; j < s->c; j++) {
                long o = ((long)n * opl + p) * s->c + j;
                dx[((long)n * plane + am[o]) * s->c + j] += dy[o];
            }
}

typedef struct {
    float *x;
    int32_t *am;
    tx_pool_shape s;
} pool_ctx;

static void maxpool_fwd(fd_op *op) {
    pool_ctx *k = op->ctx;
    tx_maxpool_forward(op->y, k->am, k->x, &k->s);
}
static void avgpool_fwd(fd_op *op) {
    pool_ctx *k = op->ctx;
    tx_avgpool_forward(op->y, k->x, &k->s);
}

static void pool_case(const char *tag, tx_pool_shape s, int is_max, uint64_t seed) {
    tx_err err = {0};
    CHECK_OK(tx_pool_shape_init(&s, &err), &err);
    tx_rng r;
    tx_rng_seed(&r, seed);
    long nin = (long)s.n * s.h * s.w * s.c, nout = (long)s.n * s.oh * s.ow * s.c;
    pool_ctx k = {fa(nin), calloc((size_t)nout, 4), s};
    int32_t *am2 = calloc((size_t)nout, 4);
    float *y = fa(nout), *y2 = fa(nout), *dy = fa(nout), *dx = fa(nin), *dx2 = fa(nin);
    if (is_max) fill_distinct(k.x, nin, &r); /* no ties: the max is unique */
    else fill_n(k.x, nin, &r, 0, 1);
    fill_n(dy, nout, &r, 0, 1);
    fd_op op = {is_max ? maxpool_fwd : avgpool_fwd, y, nout, dy, 0, &k};
    op.forward(&op);
    char name[160];
    if (is_max) {
        maxpool_ref(y2, am2, k.x, &s);
        snprintf(name, sizeof name, "maxpool %s y vs ref", tag);
        CHECK(tu_close(name, y, y2, nout, 0, 0), "y");
        CHECK(memcmp(k.am, am2, (size_t)nout * 4) == 0, "argmax differs from the reference");
        tx_maxpool_backward(dx, dy, k.am, &s);
        maxpool_backward_ref(dx2, dy, am2, &s);
        CHECK(tu_close("maxpool dx vs ref", dx, dx2, nin, 1e-6f, 1e-6f), "dx ref");
    } else {
        avgpool_ref(y2, k.x, &s);
        snprintf(name, sizeof name, "avgpool %s y vs ref", tag);
        CHECK(tu_close(name, y, y2, nout, 1e-6f, 1e-5f), "y");
        tx_avgpool_backward(dx, dy, &s);
        avgpool_backward_ref(dx2, dy, &s);
        CHECK(tu_close("avgpool dx vs ref", dx, dx2, nin, 1e-6f, 1e-5f), "dx ref");
    }
    if (nin <= 30000) { /* big cases: the reference above already pins the forward */
        snprintf(name, sizeof name, "%s %s dx fd", is_max ? "maxpool" : "avgpool", tag);
        CHECK(grad_check(name, &op, k.x, nin, dx, 1e-3f, 2e-3f, 2e-3f), "dx");
    }
    /* the threaded path must agree bit for bit with one thread */
    float *y1 = fa(nout), *dx1 = fa(nin);
    int t0 = max_threads();
    set_threads(1);
    op.forward(&op);
    memcpy(y1, y, (size_t)nout * 4);
    if (is_max) tx_maxpool_backward(dx1, dy, k.am, &s);
    else tx_avgpool_backward(dx1, dy, &s);
    set_threads(3);
    op.forward(&op);
    if (is_max) tx_maxpool_backward(dx, dy, k.am, &s);
    else tx_avgpool_backward(dx, dy, &s);
    set_threads(t0);
    CHECK(memcmp(y1, y, (size_t)nout * 4) == 0, "1 vs 3 threads: forward differs");
    CHECK(memcmp(dx1, dx, (size_t)nin * 4) == 0, "1 vs 3 threads: backward differs");
    free(k.x), free(k.am), free(am2), free(y), free(y2), free(dy), free(dx), free(dx2), free(y1), free(dx1);
}

static void test_maxpool(void) {
    pool_case("k2s2 n2 6x6 c3", pool_shape(2, 6, 6, 3, 2, 2, 0, 0, 0, 0, 1), 1, 30);
    pool_case("k3s2p1 n2 7x5 c4", pool_shape(2, 7, 5, 4, 3, 2, 1, 1, 1, 1, 1), 1, 31);
    pool_case("k3s2 same-pad b/r n1 6x6 c1", pool_shape(1, 6, 6, 1, 3, 2, 0, 0, 1, 1, 1), 1, 32);
    pool_case("k2s1p1 n1 3x3 c2", pool_shape(1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1, 33);
    pool_case("k3s2p1 big n8 33x33 c40", pool_shape(8, 33, 33, 40, 3, 2, 1, 1, 1, 1, 1), 1, 34);
}

static void test_maxpool_padding_never_wins(void) {
    /* All inputs negative: a padded -inf (not 0) must lose everywhere. */
    tx_pool_shape s = pool_shape(1, 3, 3, 2, 3, 2, 1, 1, 1, 1, 1);
    tx_err err = {0};
    CHECK_OK(tx_pool_shape_init(&s, &err), &err);
    float x[18], y[8], y2[8];
    int32_t am[8], am2[8];
    for (int i = 0; i < 18; i++) x[i] = -1.0f - (float)((i * 7) % 18);
    tx_maxpool_forward(y, am, x, &s);
    maxpool_ref(y2, am2, x, &s);
    CHECK(tu_close("maxpool negative inputs", y, y2, 8, 0, 0), "y");
    for (int i = 0; i < 8; i++) CHECK(y[i] < 0 && am[i] == am2[i], "element %d: %g at %d", i, y[i], am[i]);
    /* NaN propagates like PyTorch */
    x[0] = NAN;
    tx_maxpool_forward(y, NULL, x, &s);
    CHECK(isnan(y[0]), "NaN in the window should give NaN, got %g", y[0]);
}

static void test_maxpool_ties(void) {
    /* Few distinct values: ties everywhere. PyTorch keeps the first position in scan
     * order (rows, then columns), and so must we. */
    tx_pool_shape s = pool_shape(2, 7, 7, 5, 3, 2, 1, 1, 1, 1, 1);
    tx_err err = {0};
    CHECK_OK(tx_pool_shape_init(&s, &err), &err);
    long nin = (long)s.n * s.h * s.w * s.c, nout = (long)s.n * s.oh * s.ow * s.c;
    float *x = fa(nin), *y = fa(nout), *y2 = fa(nout);
    int32_t *am = calloc((size_t)nout, 4), *am2 = calloc((size_t)nout, 4);
    tx_rng r;
    tx_rng_seed(&r, 35);
    for (long i = 0; i < nin; i++) x[i] = (float)tx_rng_below(&r, 3);
    tx_maxpool_forward(y, am, x, &s);
    maxpool_ref(y2, am2, x, &s);
    long bad = 0;
    for (long i = 0; i < nout; i++) bad += am[i] != am2[i];
    CHECK(tu_close("maxpool ties y", y, y2, nout, 0, 0), "y");
    CHECK(bad == 0, "%ld argmax entries are not the first maximum", bad);
    free(x), free(y), free(y2), free(am), free(am2);
}

static void test_avgpool(void) {
    pool_case("k3s2p1 incl n2 7x5 c3", pool_shape(2, 7, 5, 3, 3, 2, 1, 1, 1, 1, 1), 0, 40);
    pool_case("k3s2p1 excl n2 7x5 c3", pool_shape(2, 7, 5, 3, 3, 2, 1, 1, 1, 1, 0), 0, 41);
    pool_case("k2s2 n1 4x4 c1", pool_shape(1, 4, 4, 1, 2, 2, 0, 0, 0, 0, 1), 0, 42);
    pool_case("k3s1 pad t/l only excl n1 5x5 c2", pool_shape(1, 5, 5, 2, 3, 1, 2, 2, 0, 0, 0), 0, 43);
    pool_case("k3s1 pad t/l only incl n1 5x5 c2", pool_shape(1, 5, 5, 2, 3, 1, 2, 2, 0, 0, 1), 0, 44);
    pool_case("k3s2p1 incl big n8 33x33 c40", pool_shape(8, 33, 33, 40, 3, 2, 1, 1, 1, 1, 1), 0, 45);
    pool_case("k3s2p1 excl c300 (tiles)", pool_shape(2, 9, 9, 300, 3, 2, 1, 1, 1, 1, 0), 0, 46);
}

static void test_pool_shape_init(void) {
    tx_err err = {0};
    tx_pool_shape s = pool_shape(2, 7, 5, 3, 3, 2, 1, 1, 1, 1, 1);
    CHECK(tx_pool_shape_init(&s, &err) == TX_OK && s.oh == 4 && s.ow == 3, "oh=%d ow=%d", s.oh, s.ow);
    s = pool_shape(1, 224, 224, 64, 3, 2, 0, 0, 1, 1, 0); /* TFLite SAME, stride 2 */
    CHECK(tx_pool_shape_init(&s, &err) == TX_OK && s.oh == 112 && s.ow == 112, "same: %d %d", s.oh, s.ow);
    struct { tx_pool_shape s; int code; const char *word; } bad[] = {
        {pool_shape(0, 4, 4, 1, 2, 2, 0, 0, 0, 0, 1), TX_ESHAPE, "n=0"},
        {pool_shape(1, 4, 4, 0, 2, 2, 0, 0, 0, 0, 1), TX_ESHAPE, "c=0"},
        {pool_shape(1, 4, 4, 1, 0, 2, 0, 0, 0, 0, 1), TX_EINVAL, "kernel"},
        {pool_shape(1, 4, 4, 1, 2, 0, 0, 0, 0, 0, 1), TX_EINVAL, "stride"},
        {pool_shape(1, 4, 4, 1, 2, 2, -1, 0, 0, 0, 1), TX_EINVAL, "padding"},
        {pool_shape(1, 4, 4, 1, 2, 2, 2, 0, 0, 0, 1), TX_EINVAL, "smaller than the kernel"},
        {pool_shape(1, 4, 4, 1, 2, 2, 0, 0, 0, 2, 1), TX_EINVAL, "smaller than the kernel"},
        {pool_shape(1, 2, 2, 1, 3, 1, 0, 0, 0, 0, 1), TX_ESHAPE, "larger than the padded"},
        {pool_shape(1, 70000, 70000, 1, 1, 1, 0, 0, 0, 0, 1), TX_ESHAPE, "int32"},
    };
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        int rc = tx_pool_shape_init(&bad[i].s, &err);
        CHECK(rc == bad[i].code && strstr(err.msg, bad[i].word), "case %u: rc=%d msg=%s", i, rc, err.msg);
    }
    CHECK(tx_pool_shape_init(NULL, &err) == TX_EINVAL, "NULL shape");
}

/* ---- global average pool ------------------------------------------------------ */

typedef struct {
    float *x;
    int n, hw, c;
} gap_ctx;

static void gap_fwd(fd_op *op) {
    gap_ctx *k = op->ctx;
    tx_global_avgpool_forward(op->y, k->x, k->n, k->hw, k->c);
}

static void gap_case(int n, int hw, int c, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long nin = (long)n * hw * c, nout = (long)n * c;
    gap_ctx k = {fa(nin), n, hw, c};
    float *y = fa(nout), *y2 = fa(nout), *dy = fa(nout), *dx = fa(nin), *dx2 = fa(nin);
    fill_n(k.x, nin, &r, 0, 1);
    fill_n(dy, nout, &r, 0, 1);
    fd_op op = {gap_fwd, y, nout, dy, 0, &k};
    gap_fwd(&op);
    for (int b = 0; b < n; b++)
        for (int j = 0; j < c; j++) {
            double s = 0;
            for (int p = 0; p < hw; p++) s += k.x[((long)b * hw + p) * c + j];
            y2[(long)b * c + j] = (float)(s / hw);
        }
    char name[96];
    snprintf(name, sizeof name, "gap n=%d hw=%d c=%d y vs ref", n, hw, c);
    CHECK(tu_close(name, y, y2, nout, 1e-6f, 1e-6f), "y");
    tx_global_avgpool_backward(dx, dy, n, hw, c);
    for (long i = 0; i < nin; i++) dx2[i] = dy[(i / ((long)hw * c)) * c + i % c] / hw;
    CHECK(tu_close("gap dx vs ref", dx, dx2, nin, 1e-7f, 1e-6f), "dx");
    if (nin <= 30000) {
        snprintf(name, sizeof name, "gap n=%d hw=%d c=%d dx fd", n, hw, c);
        CHECK(grad_check(name, &op, k.x, nin, dx, 1e-2f, 1e-3f, 1e-3f), "fd");
    }
    free(k.x), free(y), free(y2), free(dy), free(dx), free(dx2);
}

static void test_global_avgpool(void) {
    gap_case(2, 9, 3, 50);
    gap_case(1, 4, 1, 51);
    gap_case(16, 49, 600, 52); /* several channel tiles and threads */
}

/* ---- linear ------------------------------------------------------------------ */

typedef struct {
    float *x, *w, *b;
    int n, in, out;
} lin_ctx;

static void lin_fwd(fd_op *op) {
    lin_ctx *k = op->ctx;
    tx_linear_forward(op->y, k->x, k->w, k->b, k->n, k->in, k->out);
}

static void linear_case(int n, int in, int out, int bias, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long nx = (long)n * in, nw = (long)out * in, ny = (long)n * out;
    lin_ctx k = {fa(nx), fa(nw), bias ? fa(out) : NULL, n, in, out};
    float *y = fa(ny), *y2 = fa(ny), *dy = fa(ny), *dx = fa(nx), *dw = fa(nw), *db = fa(out);
    float *dx2 = fa(nx), *dw2 = fa(nw), *db2 = fa(out);
    fill_n(k.x, nx, &r, 0, 1);
    fill_n(k.w, nw, &r, 0, 0.3f);
    if (bias) fill_n(k.b, out, &r, 0, 1);
    fill_n(dy, ny, &r, 0, 1);
    fd_op op = {lin_fwd, y, ny, dy, 0, &k};
    lin_fwd(&op);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = bias ? k.b[o] : 0;
            for (int j = 0; j < in; j++) s += (double)k.x[(long)i * in + j] * k.w[(long)o * in + j];
            y2[(long)i * out + o] = (float)s;
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < in; j++) {
            double s = 0;
            for (int o = 0; o < out; o++) s += (double)dy[(long)i * out + o] * k.w[(long)o * in + j];
            dx2[(long)i * in + j] = (float)s;
        }
    for (int o = 0; o < out; o++) {
        double sb = 0;
        for (int i = 0; i < n; i++) sb += dy[(long)i * out + o];
        db2[o] = (float)sb;
        for (int j = 0; j < in; j++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += (double)dy[(long)i * out + o] * k.x[(long)i * in + j];
            dw2[(long)o * in + j] = (float)s;
        }
    }
    tx_linear_backward(dx, dw, bias ? db : NULL, dy, k.x, k.w, n, in, out);
    char name[96];
    snprintf(name, sizeof name, "linear n=%d in=%d out=%d b=%d y", n, in, out, bias);
    CHECK(tu_close(name, y, y2, ny, 1e-4f, 1e-4f), "y");
    CHECK(tu_close("linear dx vs ref", dx, dx2, nx, 1e-4f, 1e-4f), "dx");
    CHECK(tu_close("linear dw vs ref", dw, dw2, nw, 1e-4f, 1e-4f), "dw");
    if (bias) CHECK(tu_close("linear db vs ref", db, db2, out, 1e-5f, 1e-5f), "db");
    if ((long)n * in * out <= 20000) {
        CHECK(grad_check("linear dx fd", &op, k.x, nx, dx, 1e-2f, 2e-3f, 2e-3f), "fd dx");
        CHECK(grad_check("linear dw fd", &op, k.w, nw, dw, 1e-2f, 2e-3f, 2e-3f), "fd dw");
        if (bias) CHECK(grad_check("linear db fd", &op, k.b, out, db, 1e-2f, 2e-3f, 2e-3f), "fd db");
    }
    /* dx may be NULL */
    memset(dw, 0, (size_t)nw * 4);
    tx_linear_backward(NULL, dw, NULL, dy, k.x, k.w, n, in, out);
    CHECK(tu_close("linear dw with dx=NULL", dw, dw2, nw, 1e-4f, 1e-4f), "dw2");
    free(k.x), free(k.w), free(k.b), free(y), free(y2), free(dy), free(dx), free(dw), free(db);
    free(dx2), free(dw2), free(db2);
}

static void test_linear(void) {
    linear_case(4, 7, 5, 1, 60);
    linear_case(1, 3, 2, 1, 61);    /* batch 1 */
    linear_case(3, 5, 1, 0, 62);    /* no bias, one output */
    linear_case(256, 300, 600, 1, 63); /* threaded db, BLAS-sized */
}

/* ---- softmax cross-entropy ----------------------------------------------------- */

typedef struct {
    float *logits, *probs;
    int32_t *labels;
    int n, k;
    float eps;
} xent_ctx;

static void xent_fwd(fd_op *op) {
    xent_ctx *c = op->ctx;
    op->scalar = tx_softmax_xent_forward(c->probs, c->logits, c->labels, c->n, c->k, c->eps);
}

static double xent_ref(const float *x, const int32_t *lab, int n, int k, double eps) {
    double tot = 0;
    for (int i = 0; i < n; i++) {
        const float *r = x + (long)i * k;
        double m = r[0], s = 0;
        for (int j = 1; j < k; j++) m = r[j] > m ? r[j] : m;
        for (int j = 0; j < k; j++) s += exp(r[j] - m);
        double lse = m + log(s);
        for (int j = 0; j < k; j++) {
            double t = (j == lab[i] ? 1 - eps : 0) + eps / k;
            tot += -t * (r[j] - lse);
        }
    }
    return tot / n;
}

static void xent_case(int n, int k, float eps, float scale, uint64_t seed) {
    tx_rng r;
    tx_rng_seed(&r, seed);
    long nl = (long)n * k;
    xent_ctx c = {fa(nl), fa(nl), calloc((size_t)n, 4), n, k, eps};
    float *d = fa(nl), *p2 = fa(nl);
    fill_n(c.logits, nl, &r, 0, scale);
    for (int i = 0; i < n; i++) c.labels[i] = (int32_t)tx_rng_below(&r, (uint32_t)k);
    fd_op op = {xent_fwd, NULL, 0, NULL, 0, &c};
    xent_fwd(&op);
    float loss = (float)op.scalar, want = (float)xent_ref(c.logits, c.labels, n, k, eps);
    char name[128];
    snprintf(name, sizeof name, "xent n=%d k=%d eps=%g scale=%g loss", n, k, eps, scale);
    CHECK(tu_close(name, &loss, &want, 1, 1e-6f, 1e-5f), "loss");
    for (int i = 0; i < n; i++) {
        const float *x = c.logits + (long)i * k;
        double m = x[0], s = 0;
        for (int j = 1; j < k; j++) m = x[j] > m ? x[j] : m;
        for (int j = 0; j < k; j++) s += exp(x[j] - m);
        for (int j = 0; j < k; j++) p2[(long)i * k + j] = (float)(exp(x[j] - m) / s);
    }
    CHECK(tu_close("xent probs vs ref", c.probs, p2, nl, 1e-7f, 1e-5f), "probs");
    tx_softmax_forward(d, c.logits, n, k);
    CHECK(tu_close("softmax vs ref", d, p2, nl, 1e-7f, 1e-5f), "softmax");
    tx_softmax_xent_backward(d, c.probs, c.labels, n, k, eps);
    if (scale <= 4 && nl <= 5000) {
        snprintf(name, sizeof name, "xent n=%d k=%d eps=%g dlogits fd", n, k, eps);
        CHECK(grad_check(name, &op, c.logits, nl, d, 1e-2f, 1e-4f, 5e-3f), "fd");
    }
    free(c.logits), free(c.probs), free(c.labels), free(d), free(p2);
}

static void test_softmax_xent(void) {
    xent_case(5, 7, 0.0f, 2, 70);
    xent_case(5, 7, 0.1f, 2, 71);
    xent_case(1, 3, 0.1f, 1, 72);       /* batch 1 */
    xent_case(4, 1, 0.1f, 1, 73);       /* one class: loss 0 */
    xent_case(300, 1000, 0.1f, 3, 74);  /* threaded */
    xent_case(8, 10, 0.0f, 300, 75);    /* huge logits: still finite and exact */
}

static void test_xent_stability(void) {
    float x[4] = {1000, -1000, 0, 999}, p[4];
    int32_t l = 1;
    float loss = tx_softmax_xent_forward(p, x, &l, 1, 4, 0);
    CHECK(isfinite(loss) && fabsf(loss - 2000.3133f) < 1e-2f, "loss %g", loss);
    CHECK(fabsf(p[0] - 0.7310586f) < 1e-6f && p[1] == 0, "probs %g %g", p[0], p[1]);
    l = 7; /* out of range: NaN loss, never an out-of-bounds read */
    loss = tx_softmax_xent_forward(p, x, &l, 1, 4, 0);
    CHECK(isnan(loss), "out-of-range label gives NaN, got %g", loss);
}

/* ---- determinism ----------------------------------------------------------------- */

/* The reducing kernels: same thread count twice -> same bits; 1 vs 3 threads -> close. */
static void test_determinism(void) {
    tx_rng r;
    tx_rng_seed(&r, 80);
    long rows = 5000, n;
    int c = 96;
    n = rows * c;
    float *x = fa(n), *g = fa(c), *b = fa(c), *dy = fa(n);
    fill_n(x, n, &r, 0, 1);
    fill_u(g, c, &r, 0.5f, 1.5f);
    fill_u(b, c, &r, -1, 1);
    fill_n(dy, n, &r, 0, 1);
    float *out[3];
    int t0 = max_threads();
    const int threads[3] = {3, 3, 1};
    for (int t = 0; t < 3; t++) {
        set_threads(threads[t]);
        /* y | mean | invstd | rm | rv | dx | dg | db | gap | lin db | loss */
        float *o = out[t] = fa(2 * n + 8 * c + 1);
        float *y = o, *m = o + n, *is = m + c, *rm = is + c, *rv = rm + c, *dx = rv + c;
        float *dg = dx + n, *db = dg + c, *gp = db + c, *ldb = gp + c, *loss = ldb + c;
        tx_batchnorm_forward_train(y, m, is, rm, rv, x, g, b, rows, c, 1e-5f, 0.1f);
        tx_batchnorm_backward(dx, dg, db, dy, x, g, m, is, rows, c);
        tx_global_avgpool_forward(gp, x, 1, (int)rows, c);
        tx_linear_backward(NULL, NULL, ldb, dy, x, g, rows, 1, c);
        int32_t *lab = calloc((size_t)rows, 4);
        for (long i = 0; i < rows; i++) lab[i] = (int32_t)(i % c);
        float *probs = fa(n);
        *loss = tx_softmax_xent_forward(probs, x, lab, (int)rows, c, 0.1f);
        free(lab), free(probs);
    }
    set_threads(t0);
    long tot = 2 * n + 8 * c + 1;
    CHECK(memcmp(out[0], out[1], (size_t)tot * 4) == 0, "3 threads twice: results differ");
    CHECK(tu_close("1 vs 3 threads (bn, gap, db, loss)", out[2], out[0], tot, 1e-5f, 1e-5f), "1 vs 3");
    for (int t = 0; t < 3; t++) free(out[t]);
    free(x), free(g), free(b), free(dy);
}

int main(void) {
    RUN(test_bn_backward_fd);
    RUN(test_bn_reference);
    RUN(test_bn_large_mean);
    RUN(test_bn_one_row);
    RUN(test_relu);
    RUN(test_add);
    RUN(test_dropout);
    RUN(test_pool_shape_init);
    RUN(test_maxpool);
    RUN(test_maxpool_padding_never_wins);
    RUN(test_maxpool_ties);
    RUN(test_avgpool);
    RUN(test_global_avgpool);
    RUN(test_linear);
    RUN(test_softmax_xent);
    RUN(test_xent_stability);
    RUN(test_determinism);
    TEST_MAIN_END();
}
