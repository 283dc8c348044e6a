/* test_conv.c - fast conv2d kernels against the _ref twins, finite-difference checks of
 * the _ref backward, shape validation, determinism. */
#include "ops/ops.h"
#include "testutil.h"

#include <omp.h>

/* A second copy of conv.c compiled as if the CPU had no AVX-512, so the portable paths
 * (im2col + GEMM, col2im, the AVX2/plain FMA helper) are tested here too. */
#undef __AVX512F__
#define tx_conv_shape_init portable_conv_shape_init
#define tx_conv2d_scratch_floats portable_conv2d_scratch_floats
#define tx_conv2d_forward portable_conv2d_forward
#define tx_conv2d_backward portable_conv2d_backward
#define tx_conv2d_forward_ref portable_conv2d_forward_ref
#define tx_conv2d_backward_ref portable_conv2d_backward_ref
#define tx_conv2d_packed_floats portable_conv2d_packed_floats
#define tx_conv2d_pack portable_conv2d_pack
#define tx_conv2d_forward_packed portable_conv2d_forward_packed
#define tx_conv2d_packed_scratch_floats portable_conv2d_packed_scratch_floats
#define tx_convdw_ok portable_convdw_ok
#define tx_convdw_scratch_floats portable_convdw_scratch_floats
#define tx_convdw_forward_packed portable_convdw_forward_packed
#define tx_conv2d_gate_ok portable_conv2d_gate_ok
#define tx_conv2d_gated_scratch_floats portable_conv2d_gated_scratch_floats
#define tx_conv2d_forward_packed_gated portable_conv2d_forward_packed_gated
#define tx_conv2d_rowsum_ok portable_conv2d_rowsum_ok
#include "ops/conv.c"
#undef tx_conv_shape_init
#undef tx_conv2d_scratch_floats
#undef tx_conv2d_forward
#undef tx_conv2d_backward
#undef tx_conv2d_forward_ref
#undef tx_conv2d_backward_ref
#undef tx_conv2d_packed_floats
#undef tx_conv2d_pack
#undef tx_conv2d_forward_packed
#undef tx_conv2d_packed_scratch_floats
#undef tx_convdw_ok
#undef tx_convdw_scratch_floats
#undef tx_convdw_forward_packed
#undef tx_conv2d_rowsum_ok
#undef tx_conv2d_gate_ok
#undef tx_conv2d_gated_scratch_floats
#undef tx_conv2d_forward_packed_gated

typedef struct {
    const char *name;
    size_t (*scratch)(const tx_conv_shape *);
    void (*fwd)(float *, const float *, const float *, const float *, const tx_conv_shape *,
                float *);
    void (*bwd)(float *, float *, float *, const float *, const float *, const float *,
                const tx_conv_shape *, float *);
    size_t (*packed_floats)(const tx_conv_shape *);
    void (*pack)(float *, const float *, const tx_conv_shape *);
    void (*fwd_packed)(float *, const float *, const float *, const float *,
                       const tx_conv_shape *, float *);
} conv_impl;

static const conv_impl IMPLS[] = {
    {"fast", tx_conv2d_scratch_floats, tx_conv2d_forward, tx_conv2d_backward,
     tx_conv2d_packed_floats, tx_conv2d_pack, tx_conv2d_forward_packed},
    {"portable", portable_conv2d_scratch_floats, portable_conv2d_forward, portable_conv2d_backward,
     portable_conv2d_packed_floats, portable_conv2d_pack, portable_conv2d_forward_packed},
};

typedef struct {
    const char *name;
    int n, h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups;
    int oh, ow; /* 0: computed from the padding */
    int bias;
} conv_case;

static const conv_case CASES[] = {
    /* name              n  h  w   c  oc kh kw sh sw pt pl pb pr dh dw  g  oh ow bias */
    {"3x3 same",         2, 7, 6,  5,  7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"3x3 valid c32",    3, 9, 9, 32, 64, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    {"3x3 s2 p1",        1, 11, 10, 6, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"3x3 s2 asym pad",  3, 9, 8,  4,  5, 3, 3, 2, 2, 0, 1, 2, 1, 1, 1, 1, 0, 0, 0},
    {"tflite same oh",   2, 8, 7,  3,  4, 3, 3, 2, 2, 0, 1, 0, 0, 1, 1, 1, 4, 4, 1},
    {"dilation 2",       2, 10, 9, 5,  6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0, 0, 1},
    {"dil 2 stride 2",   1, 13, 12, 3, 4, 3, 3, 2, 2, 1, 2, 0, 1, 2, 2, 1, 0, 0, 1},
    {"groups 2",         3, 6, 7,  8,  6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0, 0, 1},
    {"groups 4 s2",      2, 9, 9, 16, 12, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 4, 0, 0, 0},
    {"depthwise 24",     2, 7, 8, 24, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 24, 0, 0, 1},
    {"depthwise 37 s2",  3, 9, 7, 37, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 37, 0, 0, 1},
    {"depthwise 80 5x5", 1, 9, 9, 80, 80, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 80, 0, 0, 0},
    {"depthwise 64 dil", 2, 8, 8, 64, 64, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 64, 0, 0, 1},
    {"depthwise asym",   1, 8, 9, 16, 16, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 16, 0, 0, 1},
    {"depthwise s2 d2",  2, 11, 12, 32, 32, 3, 3, 2, 2, 2, 1, 2, 3, 2, 2, 32, 0, 0, 1},
    {"depthwise s3 5x5", 1, 13, 14, 16, 16, 5, 5, 3, 3, 2, 2, 2, 2, 1, 1, 16, 0, 0, 0},
    /* depthwise fast path: strips of 7 (widths multiple of 7) and 8, edges, 7x7, tails */
    {"dw 7x7 14x14 c48",  2, 14, 14, 48, 48, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 48, 0, 0, 1},
    {"dw 7x7 on 5x5 c40", 1, 5, 5, 40, 40, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, 40, 0, 0, 1},
    {"dw 3x3 s2 28 c32",  1, 28, 28, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 32, 0, 0, 1},
    {"dw 5x5 s2 29 c20",  2, 29, 27, 20, 20, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 20, 0, 0, 1},
    {"dw 3x3 s(1,2)",     1, 12, 23, 16, 16, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1, 16, 0, 0, 1},
    {"dw 2x2 s2 any",     2, 9, 10, 33, 33, 2, 2, 2, 2, 0, 0, 1, 0, 1, 1, 33, 0, 0, 1},
    {"dw 1x1",            1, 5, 6, 17, 17, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 17, 0, 0, 1},
    {"dw pad > kernel",   1, 3, 3, 16, 16, 3, 3, 1, 1, 4, 4, 4, 4, 1, 1, 16, 0, 0, 1},
    {"dw 8x8 wide",       1, 9, 40, 16, 16, 8, 8, 1, 1, 3, 4, 4, 3, 1, 1, 16, 0, 0, 0},
    {"chan mult 2",      2, 6, 5,  3,  6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 0, 0, 1},
    {"chan mult 16",     1, 6, 6,  2, 32, 3, 3, 1, 1, 1, 0, 1, 2, 1, 1, 2, 0, 0, 1},
    {"c1 -> 32 (conv1)", 3, 10, 9, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    {"c1 -> 5",          1, 7, 7,  1,  5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"1x1",              3, 5, 4, 12, 10, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    {"1x1 groups 2",     2, 4, 5, 12, 10, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, 0, 0, 1},
    {"1x1 stride 2",     2, 7, 6, 16, 20, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0},
    {"1x1 padded",       1, 4, 4,  5,  3, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1},
    {"5x4 s(2,1) d(1,2)", 2, 11, 12, 6, 9, 5, 4, 2, 1, 2, 1, 1, 3, 1, 2, 1, 0, 0, 1},
    {"pad > kernel",     1, 5, 4,  3,  4, 2, 2, 1, 1, 3, 3, 3, 3, 1, 1, 1, 0, 0, 1},
    {"7x7 s2 rgb",       1, 20, 19, 3, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, 0, 0, 0},
    {"4x4 s4 rgb",       2, 16, 18, 3, 24, 4, 4, 4, 4, 0, 0, 0, 2, 1, 1, 1, 0, 0, 1},
    {"3x3 s2 rgb oc80",  1, 17, 16, 3, 80, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"8x5 rgba merged",  2, 13, 12, 4, 20, 8, 5, 1, 2, 3, 2, 4, 2, 1, 1, 1, 0, 0, 1},
    {"batch 1 odd",      1, 5, 3,  7, 11, 3, 2, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0, 0, 1},
    /* weight passes split by taps, channel tails of every width */
    {"c128 k3 oc20",     1, 5, 6, 128, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"c40 oc70",         2, 6, 5, 40, 70, 3, 3, 1, 1, 1, 0, 1, 2, 1, 1, 1, 0, 0, 1},
    {"c40 oc70 s2 g2",   2, 9, 8, 40, 70, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 0, 0, 1},
    {"c96 oc136 1x1",    2, 3, 4, 96, 136, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    {"c100 oc3 5x5 d2",  1, 11, 12, 100, 3, 5, 5, 1, 1, 4, 3, 4, 5, 2, 2, 1, 0, 0, 1},
    /* Winograd-eligible (3x3 stride 1, channels multiples of 16, >= 256 tiles) */
    {"wino odd out",     3, 23, 21, 16, 32, 3, 3, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1},
    {"wino c48 oc80",    2, 24, 24, 48, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"wino pad 3",       1, 30, 30, 32, 16, 3, 3, 1, 1, 3, 3, 3, 3, 1, 1, 1, 0, 0, 0},
    {"wino valid",       1, 34, 36, 64, 64, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    /* packed Winograd: few tiles, channel products past the training path's limit */
    {"wino c320 oc272",  1, 5, 6, 320, 272, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    /* packed F(4x4, 3x3): >= 36 4x4 tiles per image; partial tiles on both sides (27 x 25
     * outputs), 4 chunks of 32 tiles (one thread: each whole; more: shared) */
    {"wino4 odd c32 oc48", 2, 27, 25, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    /* several im2col chunks, boundaries inside images */
    {"chunks c32",       3, 30, 30, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"chunks c64 valid", 2, 26, 26, 64, 24, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    {"chunks g2 s2",     2, 40, 38, 32, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 0, 0, 1},
    {"chunks 1x1",       2, 40, 40, 48, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    {"chunks depthwise", 2, 40, 40, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32, 0, 0, 1},
};

/* threads: how many threads the scratch is sized for (0: the current maximum). */
static int make_shape_t(const conv_case *k, tx_conv_shape *s, int threads, tx_err *err) {
    *s = (tx_conv_shape){.n = k->n, .h = k->h, .w = k->w, .c = k->c, .oc = k->oc,
                         .kh = k->kh, .kw = k->kw, .sh = k->sh, .sw = k->sw,
                         .pad_t = k->pt, .pad_l = k->pl, .pad_b = k->pb, .pad_r = k->pr,
                         .dh = k->dh, .dw = k->dw, .groups = k->groups, .oh = k->oh,
                         .ow = k->ow, .threads = threads};
    return tx_conv_shape_init(s, err);
}

static int make_shape(const conv_case *k, tx_conv_shape *s, tx_err *err) {
    return make_shape_t(k, s, 0, err);
}

static float *rnd(int64_t n, tx_rng *r) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = 2.0f * tx_rng_uniform(r) - 1.0f;
    return p;
}

static float *nans(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

/* Scratch of exactly the announced size plus a guard tail that must stay intact. */
enum { GUARD = 64 };
static float *scratch_alloc(size_t n) {
    float *p = malloc(sizeof(float) * (n + GUARD));
    for (size_t i = 0; i < n + GUARD; i++) p[i] = i < n ? NAN : -7.0f;
    return p;
}
static int guard_ok(const float *p, size_t n) {
    for (size_t i = n; i < n + GUARD; i++)
        if (p[i] != -7.0f) return 0;
    return 1;
}

static double g_worst_fwd, g_worst_dx, g_worst_dw, g_worst_db;

static void track(double *worst, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= *worst)) *worst = d;
    }
}

/* The kernels run with 1, 2 and 3 threads on scratch sized for `sized_for` threads
 * (they use at most that many); sized_for 0 leaves the field 0 after init, so scratch
 * and kernels follow omp_get_max_threads() at each call. */
static void check_case(const conv_impl *im, const conv_case *k, int sized_for) {
    tx_err err = {0};
    tx_conv_shape s;
    CHECK_OK(make_shape_t(k, &s, sized_for, &err), &err);
    CHECK(s.threads == (sized_for ? sized_for : omp_get_max_threads()),
          "threads field %d after init", s.threads);
    if (!sized_for) s.threads = 0;
    tx_rng r;
    tx_rng_seed(&r, (uint64_t)(k->n * 131 + k->h * 17 + k->c * 7 + k->oc + k->groups * 1000));
    int64_t nx = (int64_t)s.n * s.h * s.w * s.c, ny = (int64_t)s.n * s.oh * s.ow * s.oc;
    int64_t nw = (int64_t)s.oc * s.kh * s.kw * (s.c / s.groups);
    float *x = rnd(nx, &r), *w = rnd(nw, &r), *b = k->bias ? rnd(s.oc, &r) : NULL;
    float *dy = rnd(ny, &r);
    float *y_ref = nans(ny), *dx_ref = nans(nx), *dw_ref = nans(nw), *db_ref = nans(s.oc);
    tx_conv2d_forward_ref(y_ref, x, w, b, &s);
    tx_conv2d_backward_ref(dx_ref, dw_ref, db_ref, dy, x, w, &s);

    size_t ns = 0;
    float *scratch = NULL;
    float *y = nans(ny), *y2 = nans(ny), *dx = nans(nx), *dx2 = nans(nx);
    float *dw = nans(nw), *dw2 = nans(nw), *db = nans(s.oc), *db2 = nans(s.oc);
    int terms_fwd = s.kh * s.kw * (s.c / s.groups);
    int64_t terms_dw = (int64_t)s.n * s.oh * s.ow;
    int terms_dx = s.kh * s.kw * (s.oc / s.groups);
    char what[160];
    static const int threads[] = {1, 2, 3};
    for (int ti = 0; ti < 3; ti++) {
        omp_set_num_threads(threads[ti]);
        free(scratch);
        ns = im->scratch(&s);
        scratch = scratch_alloc(ns);
        im->fwd(y, x, w, b, &s, scratch);
        snprintf(what, sizeof what, "%s %s fwd t%d", im->name, k->name, threads[ti]);
        CHECK(tu_close(what, y, y_ref, ny, 1e-6f * terms_fwd, 1e-5f), "%s", what);
        im->fwd(y2, x, w, b, &s, scratch);
        CHECK(memcmp(y, y2, sizeof(float) * (size_t)ny) == 0, "%s: forward not repeatable", what);
        track(&g_worst_fwd, y, y_ref, ny);

        im->bwd(dx, dw, k->bias ? db : NULL, dy, x, w, &s, scratch);
        snprintf(what, sizeof what, "%s %s dx t%d", im->name, k->name, threads[ti]);
        CHECK(tu_close(what, dx, dx_ref, nx, 1e-6f * terms_dx, 1e-5f), "%s", what);
        snprintf(what, sizeof what, "%s %s dw t%d", im->name, k->name, threads[ti]);
        CHECK(tu_close(what, dw, dw_ref, nw, 1e-6f * (float)terms_dw, 1e-5f), "%s", what);
        if (k->bias) {
            snprintf(what, sizeof what, "%s %s db t%d", im->name, k->name, threads[ti]);
            CHECK(tu_close(what, db, db_ref, s.oc, 1e-6f * (float)terms_dw, 1e-5f), "%s", what);
            track(&g_worst_db, db, db_ref, s.oc);
        }
        track(&g_worst_dx, dx, dx_ref, nx);
        track(&g_worst_dw, dw, dw_ref, nw);
        /* again, and without dx: dw/db bit-identical to the first run */
        im->bwd(dx2, dw2, k->bias ? db2 : NULL, dy, x, w, &s, scratch);
        CHECK(memcmp(dx, dx2, sizeof(float) * (size_t)nx) == 0, "%s: dx not repeatable", k->name);
        CHECK(memcmp(dw, dw2, sizeof(float) * (size_t)nw) == 0, "%s: dw not repeatable", k->name);
        for (int64_t i = 0; i < nw; i++) dw2[i] = NAN;
        im->bwd(NULL, dw2, k->bias ? db2 : NULL, dy, x, w, &s, scratch);
        CHECK(memcmp(dw, dw2, sizeof(float) * (size_t)nw) == 0,
              "%s: dw differs when dx is not wanted", k->name);
        if (k->bias)
            CHECK(memcmp(db, db2, sizeof(float) * (size_t)s.oc) == 0, "%s: db not repeatable",
                  k->name);
        CHECK(guard_ok(scratch, ns), "%s: wrote past the scratch it asked for (%zu floats)",
              k->name, ns);
    }
    omp_set_num_threads(2);
    free(x); free(w); free(b); free(dy); free(y_ref); free(dx_ref); free(dw_ref); free(db_ref);
    free(scratch); free(y); free(y2); free(dx); free(dx2); free(dw); free(dw2); free(db); free(db2);
}

static double g_worst_act, g_worst_packed;

/* Fused activation on every forward path, and the forward with weights packed once (for
 * batch 1, used at the case's batch). */
static void check_packed_act(const conv_impl *im, const conv_case *k, int idx) {
    tx_err err = {0};
    char what_act[160];
    tx_conv_shape s, s1;
    CHECK_OK(make_shape_t(k, &s, 0, &err), &err);
    conv_case k1 = *k;
    k1.n = 1;
    CHECK_OK(make_shape_t(&k1, &s1, 0, &err), &err);
    s.act = 1 + idx % 5;          /* unpacked forward: relu, clamp, relu6, silu, gelu in turn */
    s1.act = idx % 6;             /* packed: also none */
    tx_rng r;
    tx_rng_seed(&r, (uint64_t)(77 + idx));
    int64_t nx = (int64_t)s.n * s.h * s.w * s.c, ny = (int64_t)s.n * s.oh * s.ow * s.oc;
    int64_t nw = (int64_t)s.oc * s.kh * s.kw * (s.c / s.groups);
    float *x = rnd(nx, &r), *w = rnd(nw, &r), *b = k->bias ? rnd(s.oc, &r) : NULL;
    /* values that cross every clamp: scale the inputs up */
    for (int64_t i = 0; i < nx; i++) x[i] *= 3.0f;
    /* every other case adds a residual before the activation (inference's folded add) */
    float *res = idx % 2 ? rnd(ny, &r) : NULL;
    s.res = res;
    s1.res = res;
    float *y_ref = nans(ny), *yp_ref = nans(ny), *y = nans(ny), *y2 = nans(ny);
    tx_conv2d_forward_ref(y_ref, x, w, b, &s);
    tx_conv_shape sp = s;
    sp.act = s1.act;
    tx_conv2d_forward_ref(yp_ref, x, w, b, &sp);
    if (s.act <= 3) {
        /* the reference applies the clamp: some outputs must sit on the bounds */
        int64_t clamped = 0;
        float lo = s.act == 2 ? -1.0f : 0.0f, hi = s.act == 3 ? 6.0f : s.act == 2 ? 1.0f : 1e30f;
        for (int64_t i = 0; i < ny; i++) clamped += y_ref[i] == lo || y_ref[i] == hi;
        CHECK(clamped > 0 && y_ref[0] >= lo && y_ref[0] <= hi, "%s: act %d clamped nothing",
              k->name, s.act);
    } else {
        /* silu / gelu: the reference's epilogue against libm in double on its plain output */
        float *plain = nans(ny), *want = nans(ny);
        tx_conv_shape s0 = s;
        s0.act = 0;
        tx_conv2d_forward_ref(plain, x, w, b, &s0);
        for (int64_t i = 0; i < ny; i++) {
            double v = plain[i];
            want[i] = (float)(s.act == 4 ? v / (1 + exp(-v)) : 0.5 * v * erfc(-v / sqrt(2.0)));
        }
        snprintf(what_act, sizeof what_act, "%s ref act%d vs libm", k->name, s.act);
        CHECK(tu_close(what_act, y_ref, want, ny, 1e-6f, 1e-5f), "%s", what_act);
        free(plain);
        free(want);
    }
    size_t np = im->packed_floats(&s1);
    CHECK(np == im->packed_floats(&s), "%s: packed size depends on the batch", k->name);
    float *wp = scratch_alloc(np);
    im->pack(wp, w, &s1);
    CHECK(guard_ok(wp, np), "%s: pack wrote past %zu floats", k->name, np);
    int terms = s.kh * s.kw * (s.c / s.groups);
    char what[160];
    static const int threads[] = {1, 2, 3};
    for (int ti = 0; ti < 3; ti++) {
        omp_set_num_threads(threads[ti]);
        size_t ns = im->scratch(&s);
        float *scratch = scratch_alloc(ns);
        im->fwd(y, x, w, b, &s, scratch);
        snprintf(what, sizeof what, "%s %s fwd act%d t%d", im->name, k->name, s.act,
                 threads[ti]);
        CHECK(tu_close(what, y, y_ref, ny, 1e-6f * terms * 3, 1e-5f), "%s", what);
        track(&g_worst_act, y, y_ref, ny);
        im->fwd_packed(y, x, wp, b, &sp, scratch);
        snprintf(what, sizeof what, "%s %s packed act%d t%d", im->name, k->name, sp.act,
                 threads[ti]);
        CHECK(tu_close(what, y, yp_ref, ny, 1e-6f * terms * 3, 1e-5f), "%s", what);
        track(&g_worst_packed, y, yp_ref, ny);
        im->fwd_packed(y2, x, wp, b, &sp, scratch);
        CHECK(memcmp(y, y2, sizeof(float) * (size_t)ny) == 0, "%s: not repeatable", what);
        CHECK(guard_ok(scratch, ns), "%s: wrote past the scratch (%zu floats)", what, ns);
        free(scratch);
    }
    omp_set_num_threads(2);
    free(x); free(w); free(b); free(y_ref); free(yp_ref); free(y); free(y2); free(wp); free(res);
}

static void test_packed_act(void) {
    for (size_t m = 0; m < sizeof IMPLS / sizeof *IMPLS; m++)
        for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
            check_packed_act(&IMPLS[m], &CASES[i], (int)i);
    printf("  largest |diff| vs ref: fused activation %.3g  packed weights %.3g\n",
           g_worst_act, g_worst_packed);
}

static void test_fast_vs_ref(void) {
    for (size_t m = 0; m < sizeof IMPLS / sizeof *IMPLS; m++)
        for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++)
            check_case(&IMPLS[m], &CASES[i], (int)(i % 4));
    printf("  largest |diff| fast vs ref: fwd %.3g  dx %.3g  dw %.3g  db %.3g\n", g_worst_fwd,
           g_worst_dx, g_worst_dw, g_worst_db);
}

/* ---- finite differences on the reference backward -------------------------------- */

/* L = sum(y * g), in double. */
static double loss(const float *x, const float *w, const float *b, const float *g,
                   const tx_conv_shape *s, float *y) {
    tx_conv2d_forward_ref(y, x, w, b, s);
    double l = 0;
    for (int64_t i = 0; i < (int64_t)s->n * s->oh * s->ow * s->oc; i++) l += (double)y[i] * g[i];
    return l;
}

/* The convolution is linear in x, w and b, so a central difference with a large step
 * is exact up to rounding: this checks the reference gradients to ~1e-6. */
static int fd_param(const char *what, float *p, int64_t n, const float *grad, const float *x,
                    const float *w, const float *b, const float *g, const tx_conv_shape *s,
                    float *y) {
    const float eps = 0.5f;
    float *num = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + eps;
        double lp = loss(x, w, b, g, s, y);
        p[i] = keep - eps;
        double lm = loss(x, w, b, g, s, y);
        p[i] = keep;
        num[i] = (float)((lp - lm) / (2.0 * eps));
    }
    int ok = tu_close(what, grad, num, n, 2e-5f, 1e-5f);
    free(num);
    return ok;
}

static void test_fd_reference(void) {
    static const conv_case fd[] = {
        {"fd 3x3 s2 asym", 2, 5, 4, 4, 6, 3, 3, 2, 1, 1, 0, 1, 2, 1, 1, 2, 0, 0, 1},
        {"fd dil2",        1, 6, 5, 3, 2, 2, 3, 1, 2, 1, 2, 0, 1, 2, 1, 1, 0, 0, 1},
        {"fd depthwise",   2, 4, 5, 3, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 0, 0, 1},
        {"fd 1x1",         1, 3, 3, 4, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1},
    };
    for (size_t ci = 0; ci < sizeof fd / sizeof *fd; ci++) {
        tx_err err = {0};
        tx_conv_shape s;
        CHECK_OK(make_shape(&fd[ci], &s, &err), &err);
        tx_rng r;
        tx_rng_seed(&r, 1000 + ci);
        int64_t nx = (int64_t)s.n * s.h * s.w * s.c, ny = (int64_t)s.n * s.oh * s.ow * s.oc;
        int64_t nw = (int64_t)s.oc * s.kh * s.kw * (s.c / s.groups);
        float *x = rnd(nx, &r), *w = rnd(nw, &r), *b = rnd(s.oc, &r), *g = rnd(ny, &r);
        float *dx = nans(nx), *dw = nans(nw), *db = nans(s.oc), *y = nans(ny);
        tx_conv2d_backward_ref(dx, dw, db, g, x, w, &s);
        char what[96];
        snprintf(what, sizeof what, "%s d/dx", fd[ci].name);
        CHECK(fd_param(what, x, nx, dx, x, w, b, g, &s, y), "%s", what);
        snprintf(what, sizeof what, "%s d/dw", fd[ci].name);
        CHECK(fd_param(what, w, nw, dw, x, w, b, g, &s, y), "%s", what);
        snprintf(what, sizeof what, "%s d/db", fd[ci].name);
        CHECK(fd_param(what, b, s.oc, db, x, w, b, g, &s, y), "%s", what);
        free(x); free(w); free(b); free(g); free(dx); free(dw); free(db); free(y);
    }
}

/* ---- shapes ------------------------------------------------------------------------- */

static void test_shape_init(void) {
    tx_err err = {0};
    tx_conv_shape base = {.n = 2, .h = 28, .w = 28, .c = 1, .oc = 32, .kh = 3, .kw = 3,
                          .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    tx_conv_shape s = base;
    CHECK_OK(tx_conv_shape_init(&s, &err), &err);
    CHECK(s.oh == 26 && s.ow == 26, "oh=%d ow=%d, want 26", s.oh, s.ow);

    s = base;
    s.h = 9; s.w = 8; s.sh = s.sw = 2; s.pad_t = 1; s.pad_b = 0; s.pad_l = 2; s.pad_r = 1;
    CHECK_OK(tx_conv_shape_init(&s, &err), &err);
    /* (9+1+0-3)/2+1 = 4, (8+2+1-3)/2+1 = 5 */
    CHECK(s.oh == 4 && s.ow == 5, "asym: oh=%d ow=%d, want 4 5", s.oh, s.ow);

    /* TFLite SAME: oh given, trailing padding implied */
    s = base;
    s.h = s.w = 8; s.sh = s.sw = 2; s.oh = s.ow = 4; s.pad_t = s.pad_l = 0;
    CHECK_OK(tx_conv_shape_init(&s, &err), &err);
    CHECK(s.pad_b == 1 && s.pad_r == 1, "implied pad_b=%d pad_r=%d, want 1", s.pad_b, s.pad_r);

    /* dilation: effective kernel 5 */
    s = base;
    s.h = s.w = 7; s.dh = s.dw = 2;
    CHECK_OK(tx_conv_shape_init(&s, &err), &err);
    CHECK(s.oh == 3 && s.ow == 3, "dilated oh=%d, want 3", s.oh);

    struct { const char *why; tx_conv_shape s; } bad[] = {
        {"groups", {.n = 1, .h = 5, .w = 5, .c = 6, .oc = 4, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
                    .dh = 1, .dw = 1, .groups = 4}},
        {"oc % groups", {.n = 1, .h = 5, .w = 5, .c = 4, .oc = 6, .kh = 3, .kw = 3, .sh = 1,
                         .sw = 1, .dh = 1, .dw = 1, .groups = 4}},
        {"stride 0", {.n = 1, .h = 5, .w = 5, .c = 4, .oc = 4, .kh = 3, .kw = 3, .sh = 0,
                      .sw = 1, .dh = 1, .dw = 1, .groups = 1}},
        {"kernel > input", {.n = 1, .h = 2, .w = 5, .c = 4, .oc = 4, .kh = 3, .kw = 3, .sh = 1,
                            .sw = 1, .dh = 1, .dw = 1, .groups = 1}},
        {"negative pad", {.n = 1, .h = 5, .w = 5, .c = 4, .oc = 4, .kh = 3, .kw = 3, .sh = 1,
                          .sw = 1, .dh = 1, .dw = 1, .groups = 1, .pad_l = -1}},
        {"oh vs pad_b", {.n = 1, .h = 5, .w = 5, .c = 4, .oc = 4, .kh = 3, .kw = 3, .sh = 1,
                         .sw = 1, .dh = 1, .dw = 1, .groups = 1, .pad_b = 1, .oh = 5}},
        {"oh too small", {.n = 1, .h = 9, .w = 5, .c = 4, .oc = 4, .kh = 3, .kw = 3, .sh = 1,
                          .sw = 1, .dh = 1, .dw = 1, .groups = 1, .oh = 3}},
        {"n 0", {.n = 0, .h = 5, .w = 5, .c = 4, .oc = 4, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
                 .dh = 1, .dw = 1, .groups = 1}},
        {"act 6", {.n = 1, .h = 5, .w = 5, .c = 4, .oc = 4, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
                   .dh = 1, .dw = 1, .groups = 1, .act = 6}},
        {"huge", {.n = 1 << 20, .h = 1 << 12, .w = 1 << 12, .c = 64, .oc = 4, .kh = 3, .kw = 3,
                  .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        int rc = tx_conv_shape_init(&bad[i].s, &err);
        CHECK(rc == TX_ESHAPE, "%s: rc=%d, want TX_ESHAPE", bad[i].why, rc);
        CHECK(err.msg[0] && strstr(err.msg, "conv2d"), "%s: message '%s'", bad[i].why, err.msg);
    }
}

/* Scratch stays bounded when the batch grows. */
static void test_scratch_bounded(void) {
    tx_err err = {0};
    tx_conv_shape s = {.n = 256, .h = 26, .w = 26, .c = 32, .oc = 64, .kh = 3, .kw = 3,
                       .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    CHECK_OK(tx_conv_shape_init(&s, &err), &err);
    size_t a = tx_conv2d_scratch_floats(&s);
    s.n = 4096; s.oh = s.ow = 0;
    CHECK_OK(tx_conv_shape_init(&s, &err), &err);
    size_t b = tx_conv2d_scratch_floats(&s);
    CHECK(a == b && a < ((size_t)8 << 20), "scratch grows with batch: %zu -> %zu", a, b);
    printf("  scratch for 26x26x32 -> 64 3x3: %zu floats at any batch\n", a);
    /* executors size the scratch for their largest batch: every smaller batch must fit
     * (the kernels pick their path by batch size, e.g. Winograd needs enough tiles) */
    for (size_t m = 0; m < sizeof IMPLS / sizeof *IMPLS; m++)
        for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
            tx_conv_shape big;
            conv_case k = CASES[i];
            k.n = 64;
            CHECK_OK(make_shape_t(&k, &big, 2, &err), &err);
            size_t most = IMPLS[m].scratch(&big);
            for (int n = 1; n < 64; n++) {
                tx_conv_shape sm;
                k.n = n;
                CHECK_OK(make_shape_t(&k, &sm, 2, &err), &err);
                size_t need = IMPLS[m].scratch(&sm);
                if (need > most) {
                    CHECK(0, "%s %s: batch %d needs %zu scratch floats, batch 64 only %zu",
                          IMPLS[m].name, k.name, n, need, most);
                    break;
                }
            }
        }
}

/* The fused block against the packed convolutions one after the other: the same bits,
 * for every band split, padding, stride and thread count, with and without the first conv
 * and the projection (and its residual). */
static void test_convdw(void) {
    /* k1 x k1 stride s1 first conv (k1 = 0: none), k x k depthwise stride st, projection to
     * p channels (0: none; < 0: -p channels plus a residual) */
    typedef struct { int n, h, w, c, e, k1, s1, k, st, p, a1, adw; } pc;
    static const pc cases[] = {
        {1, 112, 112, 16, 96, 1, 1, 3, 2, 0, 3, 3},   /* mobilenet_v2 blocks.1.0 */
        {2, 56, 56, 24, 144, 1, 1, 3, 1, 0, 3, 3},    /* blocks.1.1, two images */
        {1, 57, 43, 24, 144, 1, 1, 5, 2, 0, 4, 4},    /* odd sizes, 5x5, silu (efficientnet) */
        {1, 30, 29, 8, 40, 1, 1, 7, 1, 0, 0, 1},      /* 7x7, no first activation */
        {1, 9, 200, 4, 136, 1, 1, 3, 1, 0, 3, 3},     /* wide rows: one output row per band */
        {1, 224, 224, 3, 32, 3, 2, 3, 1, 0, 3, 3},    /* the stem: 3x3 s2 on RGB, merged taps */
        {1, 33, 31, 24, 48, 3, 1, 3, 2, 0, 4, 4},     /* 3x3 s1 first conv, odd sizes */
        {1, 56, 56, 24, 144, 1, 1, 3, 1, -24, 3, 3},  /* the whole block, with its residual */
        {2, 28, 28, 32, 192, 1, 1, 3, 2, 64, 3, 3},   /* whole block, stride 2, two images */
        {1, 14, 14, 96, 576, 0, 1, 3, 1, -96, 0, 3},  /* depthwise + projection + residual */
        {1, 15, 13, 40, 40, 0, 1, 5, 2, 24, 0, 4},    /* depthwise + projection, odd */
    };
    tx_err err = {0};
    double worst = 0;
    int ran = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const pc *k = &cases[ci];
        tx_conv_shape sp = {.n = k->n, .h = k->h, .w = k->w, .c = k->c, .oc = k->e, .kh = k->k1,
                            .kw = k->k1, .sh = k->s1, .sw = k->s1, .pad_t = k->k1 / 2,
                            .pad_l = k->k1 / 2, .pad_b = k->k1 / 2, .pad_r = k->k1 / 2, .dh = 1,
                            .dw = 1, .groups = 1, .act = k->a1};
        if (k->k1) CHECK_OK(tx_conv_shape_init(&sp, &err), &err);
        else {
            sp.oh = k->h;
            sp.ow = k->w;
        }
        tx_conv_shape sd = {.n = k->n, .h = sp.oh, .w = sp.ow, .c = k->e, .oc = k->e, .kh = k->k,
                            .kw = k->k, .sh = k->st, .sw = k->st, .pad_t = k->k / 2,
                            .pad_l = k->k / 2, .pad_b = k->k / 2, .pad_r = k->k / 2, .dh = 1,
                            .dw = 1, .groups = k->e, .act = k->adw};
        CHECK_OK(tx_conv_shape_init(&sd, &err), &err);
        const int P = k->p < 0 ? -k->p : k->p;
        tx_conv_shape s3 = {.n = k->n, .h = sd.oh, .w = sd.ow, .c = k->e, .oc = P, .kh = 1,
                            .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
        if (P) CHECK_OK(tx_conv_shape_init(&s3, &err), &err);
        const tx_conv_shape *c1 = k->k1 ? &sp : NULL, *c3 = P ? &s3 : NULL;
        {
            /* the portable build's fallback: the convs one after the other in its scratch,
             * the same bits as calling them separately */
            CHECK(!portable_convdw_ok(c1, &sd, c3), "case %zu: the portable build claims the fused path", ci);
            tx_rng pr;
            tx_rng_seed(&pr, 700 + ci);
            int64_t nx0 = (int64_t)k->n * k->h * k->w * k->c, ne0 = (int64_t)k->n * sp.oh * sp.ow * k->e;
            int64_t nd0 = (int64_t)k->n * sd.oh * sd.ow * k->e;
            const int P0 = k->p < 0 ? -k->p : k->p;
            int64_t ny0 = P0 ? (int64_t)k->n * sd.oh * sd.ow * P0 : nd0;
            float *px = rnd(k->k1 ? nx0 : ne0, &pr), *pw1 = rnd((int64_t)k->e * k->c * k->k1 * k->k1, &pr);
            float *pwd = rnd((int64_t)k->e * k->k * k->k, &pr), *pw3 = rnd((int64_t)P0 * k->e, &pr);
            float *pb = rnd(k->e > P0 ? k->e : P0, &pr);
            float *q1 = k->k1 ? scratch_alloc(portable_conv2d_packed_floats(&sp)) : NULL;
            float *qd = scratch_alloc(portable_conv2d_packed_floats(&sd));
            float *q3 = P0 ? scratch_alloc(portable_conv2d_packed_floats(&s3)) : NULL;
            if (q1) portable_conv2d_pack(q1, pw1, &sp);
            portable_conv2d_pack(qd, pwd, &sd);
            if (q3) portable_conv2d_pack(q3, pw3, &s3);
            tx_conv_shape s3n = s3;
            s3n.res = NULL;
            const tx_conv_shape *pc3 = P0 ? &s3n : NULL;
            size_t ns = portable_convdw_scratch_floats(c1, &sd, pc3), n2 = ns;
            if (c1 && portable_conv2d_packed_scratch_floats(&sp) > n2) n2 = portable_conv2d_packed_scratch_floats(&sp);
            if (portable_conv2d_packed_scratch_floats(&sd) > n2) n2 = portable_conv2d_packed_scratch_floats(&sd);
            if (pc3 && portable_conv2d_packed_scratch_floats(pc3) > n2) n2 = portable_conv2d_packed_scratch_floats(pc3);
            float *sc = scratch_alloc(ns), *sc2 = scratch_alloc(n2);
            float *m1 = nans(ne0), *m2 = nans(nd0), *yw = nans(ny0), *yg = nans(ny0);
            const float *din = px;
            if (c1) {
                portable_conv2d_forward_packed(m1, px, q1, pb, &sp, sc2);
                din = m1;
            }
            portable_conv2d_forward_packed(pc3 ? m2 : yw, din, qd, pb, &sd, sc2);
            if (pc3) portable_conv2d_forward_packed(yw, m2, q3, pb, pc3, sc2);
            portable_convdw_forward_packed(yg, px, q1, pb, c1, qd, pb, &sd, q3, pb, pc3, sc);
            CHECK(memcmp(yg, yw, sizeof(float) * (size_t)ny0) == 0, "case %zu: portable fallback differs", ci);
            CHECK(guard_ok(sc, ns), "case %zu: portable fallback wrote past the scratch", ci);
            free(px); free(pw1); free(pwd); free(pw3); free(pb); free(q1); free(qd); free(q3);
            free(sc); free(sc2); free(m1); free(m2); free(yw); free(yg);
        }
        if (!tx_convdw_ok(c1, &sd, c3)) continue; /* only without AVX-512 (checked below) */
        tx_rng r;
        tx_rng_seed(&r, 500 + ci);
        int64_t nx = (int64_t)k->n * k->h * k->w * k->c, ne = (int64_t)k->n * sp.oh * sp.ow * k->e;
        int64_t nd = (int64_t)k->n * sd.oh * sd.ow * k->e, ny = P ? (int64_t)k->n * sd.oh * sd.ow * P : nd;
        float *x = rnd(k->k1 ? nx : ne, &r), *w1 = rnd((int64_t)k->e * k->c * k->k1 * k->k1, &r);
        float *b1 = rnd(k->e, &r), *wdw = rnd((int64_t)k->e * k->k * k->k, &r), *bdw = rnd(k->e, &r);
        float *w3 = rnd((int64_t)P * k->e, &r), *b3 = rnd(P, &r);
        float *res = k->p < 0 ? rnd(ny, &r) : NULL;
        s3.res = res;
        for (int64_t i = 0; i < (k->k1 ? nx : ne); i++) x[i] *= 3.0f;
        float *p1 = k->k1 ? scratch_alloc(tx_conv2d_packed_floats(&sp)) : NULL;
        float *pd = scratch_alloc(tx_conv2d_packed_floats(&sd));
        float *p3 = P ? scratch_alloc(tx_conv2d_packed_floats(&s3)) : NULL;
        if (p1) tx_conv2d_pack(p1, w1, &sp);
        tx_conv2d_pack(pd, wdw, &sd);
        if (p3) tx_conv2d_pack(p3, w3, &s3);
        float *mid = nans(ne), *mid2 = nans(nd), *want = nans(ny), *y = nans(ny);
        static const int threads[] = {1, 2, 3};
        for (int ti = 0; ti < 3; ti++) {
            omp_set_num_threads(threads[ti]);
            sp.threads = sd.threads = s3.threads = threads[ti];
            size_t ns = tx_convdw_scratch_floats(c1, &sd, c3);
            if (c1 && tx_conv2d_packed_scratch_floats(&sp) > ns) ns = tx_conv2d_packed_scratch_floats(&sp);
            if (tx_conv2d_packed_scratch_floats(&sd) > ns) ns = tx_conv2d_packed_scratch_floats(&sd);
            if (c3 && tx_conv2d_packed_scratch_floats(&s3) > ns) ns = tx_conv2d_packed_scratch_floats(&s3);
            float *scratch = scratch_alloc(ns);
            const float *din = x;
            if (c1) {
                tx_conv2d_forward_packed(mid, x, p1, b1, &sp, scratch);
                din = mid;
            }
            tx_conv2d_forward_packed(c3 ? mid2 : want, din, pd, bdw, &sd, scratch);
            if (c3) tx_conv2d_forward_packed(want, mid2, p3, b3, &s3, scratch);
            for (int64_t i = 0; i < ny; i++) y[i] = NAN;
            tx_convdw_forward_packed(y, x, p1, b1, c1, pd, bdw, &sd, p3, b3, c3, scratch);
            char what[112];
            snprintf(what, sizeof what, "block %dx%d %d->%d->%d k%d/%d s%d/%d%s t%d", k->h, k->w,
                     k->c, k->e, P, k->k1, k->k, k->s1, k->st, res ? " +res" : "", threads[ti]);
            CHECK(tu_close(what, y, want, ny, 0, 0), "%s: fused differs", what);
            CHECK(memcmp(y, want, sizeof(float) * (size_t)ny) == 0, "%s: not the same bits", what);
            CHECK(guard_ok(scratch, ns), "%s: wrote past the scratch", what);
            for (int64_t i = 0; i < ny; i++) {
                double d = fabs((double)y[i] - want[i]);
                if (!(d <= worst)) worst = d;
            }
            ran++;
            free(scratch);
        }
        omp_set_num_threads(2);
        free(x); free(w1); free(b1); free(wdw); free(bdw); free(w3); free(b3); free(res);
        free(p1); free(pd); free(p3); free(mid); free(mid2); free(want); free(y);
    }
    if (!ran) SKIP("no AVX-512: the fused block path is not built");
    CHECK(ran == 3 * (int)(sizeof cases / sizeof *cases), "only %d of the runs qualified", ran);
    printf("  %d runs, largest |fused - separate| %.3g\n", ran, worst);
}

/* Row sums of a depthwise conv's output (tx_conv_shape.rowsum, what the executor's fused
 * global pool reads): on the plain path and inside a fused block (first conv + depthwise),
 * 1-3 threads, against the sums of y taken in double; the bits of the sums must not depend
 * on the thread count, and y must not change. */
static void test_rowsum(void) {
    typedef struct { int n, h, w, c, k, st, act, k1; } rc;
    static const rc cases[] = {
        {1, 112, 112, 32, 3, 1, 4, 3}, /* efficientnet_b0 stem + blocks.0.0's depthwise */
        {2, 56, 56, 144, 5, 2, 4, 1},  /* blocks.2.0 (5x5 s2), two images */
        {1, 15, 13, 37, 3, 1, 3, 0},   /* odd sizes, a channel tail, relu6 */
        {3, 7, 7, 40, 5, 2, 0, 1},     /* 7x7 map, stride 2, no activation */
        {1, 9, 11, 48, 3, 1, 5, 0},    /* GELU: a pass after the store, sums from memory */
    };
    tx_err err = {0};
    double worst = 0;
    int fused = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const rc *k = &cases[ci];
        const int cin = k->k1 == 3 ? 3 : 16;
        tx_conv_shape sp = {.n = k->n, .h = k->k1 == 3 ? 2 * k->h : k->h, .w = k->k1 == 3 ? 2 * k->w : k->w,
                            .c = cin, .oc = k->c, .kh = k->k1, .kw = k->k1, .sh = k->k1 == 3 ? 2 : 1,
                            .sw = k->k1 == 3 ? 2 : 1, .pad_t = k->k1 / 2, .pad_l = k->k1 / 2,
                            .pad_b = k->k1 / 2, .pad_r = k->k1 / 2, .dh = 1, .dw = 1, .groups = 1,
                            .act = k->act};
        if (k->k1) CHECK_OK(tx_conv_shape_init(&sp, &err), &err);
        tx_conv_shape sd = {.n = k->n, .h = k->h, .w = k->w, .c = k->c, .oc = k->c, .kh = k->k,
                            .kw = k->k, .sh = k->st, .sw = k->st, .pad_t = k->k / 2,
                            .pad_l = k->k / 2, .pad_b = k->k / 2, .pad_r = k->k / 2, .dh = 1,
                            .dw = 1, .groups = k->c, .act = k->act};
        CHECK_OK(tx_conv_shape_init(&sd, &err), &err);
        CHECK(tx_conv2d_rowsum_ok(&sd), "case %zu: a depthwise conv without row sums", ci);
        if (k->k1) CHECK(!tx_conv2d_rowsum_ok(&sp), "case %zu: a dense conv claims row sums", ci);
        tx_rng r;
        tx_rng_seed(&r, 1300 + ci);
        const int64_t nx = (int64_t)k->n * sp.h * sp.w * cin, nm = (int64_t)k->n * k->h * k->w * k->c;
        const int64_t ny = (int64_t)k->n * sd.oh * sd.ow * k->c, nr = (int64_t)k->n * sd.oh * k->c;
        float *x = rnd(k->k1 ? nx : nm, &r), *w1 = rnd((int64_t)k->c * cin * k->k1 * k->k1, &r);
        float *b1 = rnd(k->c, &r), *wd = rnd((int64_t)k->c * k->k * k->k, &r), *bd = rnd(k->c, &r);
        float *p1 = k->k1 ? scratch_alloc(tx_conv2d_packed_floats(&sp)) : NULL;
        float *pd = scratch_alloc(tx_conv2d_packed_floats(&sd));
        float *pp = scratch_alloc(portable_conv2d_packed_floats(&sd));
        if (p1) tx_conv2d_pack(p1, w1, &sp);
        tx_conv2d_pack(pd, wd, &sd);
        portable_conv2d_pack(pp, wd, &sd);
        CHECK(portable_conv2d_rowsum_ok(&sd), "case %zu: no row sums without AVX-512", ci);
        float *mid = nans(nm), *want = nans(ny), *y = nans(ny), *rs = nans(nr), *rs1 = nans(nr);
        static const int threads[] = {1, 2, 3};
        for (int path = 0; path < 3; path++) { /* plain, fused, portable build's plain */
            const tx_conv_shape *c1 = k->k1 ? &sp : NULL;
            if (path == 1 && (!c1 || !tx_convdw_ok(c1, &sd, NULL))) continue; /* no AVX-512 */
            for (int ti = 0; ti < 3; ti++) {
                omp_set_num_threads(threads[ti]);
                sp.threads = sd.threads = threads[ti];
                size_t ns = tx_conv2d_packed_scratch_floats(&sd);
                if (c1 && tx_conv2d_packed_scratch_floats(&sp) > ns) ns = tx_conv2d_packed_scratch_floats(&sp);
                if (path == 1 && tx_convdw_scratch_floats(c1, &sd, NULL) > ns) ns = tx_convdw_scratch_floats(c1, &sd, NULL);
                float *scratch = scratch_alloc(ns);
                const float *din = x;
                if (c1) {
                    tx_conv2d_forward_packed(mid, x, p1, b1, &sp, scratch);
                    din = mid;
                }
                if (path == 2 && portable_conv2d_packed_scratch_floats(&sd) > ns) {
                    free(scratch);
                    scratch = scratch_alloc(ns = portable_conv2d_packed_scratch_floats(&sd));
                }
                sd.rowsum = NULL;
                if (path < 2) tx_conv2d_forward_packed(want, din, pd, bd, &sd, scratch);
                else portable_conv2d_forward_packed(want, din, pp, bd, &sd, scratch);
                for (int64_t i = 0; i < ny; i++) y[i] = NAN;
                for (int64_t i = 0; i < nr; i++) rs[i] = NAN;
                sd.rowsum = rs;
                if (path == 0) tx_conv2d_forward_packed(y, din, pd, bd, &sd, scratch);
                else if (path == 1) tx_convdw_forward_packed(y, x, p1, b1, c1, pd, bd, &sd, NULL, NULL, NULL, scratch);
                else portable_conv2d_forward_packed(y, din, pp, bd, &sd, scratch);
                sd.rowsum = NULL;
                char what[96];
                snprintf(what, sizeof what, "%s %dx%d c%d k%d s%d t%d",
                         path == 0 ? "plain" : path == 1 ? "fused" : "portable",
                         k->h, k->w, k->c, k->k, k->st, threads[ti]);
                CHECK(memcmp(y, want, sizeof(float) * (size_t)ny) == 0, "%s: y changed", what);
                for (int64_t row = 0; row < (int64_t)k->n * sd.oh; row++)
                    for (int o = 0; o < k->c; o++) {
                        double sum = 0, mag = 0;
                        for (int ox = 0; ox < sd.ow; ox++) {
                            const double v = y[(row * sd.ow + ox) * k->c + o];
                            sum += v;
                            mag += fabs(v);
                        }
                        const double d = fabs(rs[row * k->c + o] - sum) / (1 + mag);
                        CHECK(d < 1e-5, "%s: row %lld channel %d: sum %g, want %g", what,
                              (long long)row, o, rs[row * k->c + o], sum);
                        if (!(d <= worst)) worst = d;
                    }
                if (ti == 0) memcpy(rs1, rs, sizeof(float) * (size_t)nr);
                else CHECK(memcmp(rs, rs1, sizeof(float) * (size_t)nr) == 0, "%s: sums depend on the threads", what);
                CHECK(guard_ok(scratch, ns), "%s: wrote past the scratch", what);
                fused += path == 1;
                free(scratch);
            }
        }
        omp_set_num_threads(2);
        free(x); free(w1); free(b1); free(wd); free(bd); free(p1); free(pd); free(pp);
        free(mid); free(want); free(y); free(rs); free(rs1);
    }
    tx_conv_shape sr = {.n = 1, .h = 8, .w = 8, .c = 16, .oc = 16, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
                        .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1, .dh = 1, .dw = 1, .groups = 16};
    CHECK_OK(tx_conv_shape_init(&sr, &err), &err);
    float one = 0;
    sr.res = &one;
    CHECK(!tx_conv2d_rowsum_ok(&sr), "row sums claimed for a conv with a residual");
    printf("  %d fused runs; largest |row sum - sum of y| / (1 + sum |y|) %.3g\n", fused, worst);
}

/* A conv of a gated input (squeeze-excitation before the projection): the weight-scaling
 * path (1x1 convs) and the fallback (a 3x3) against the gate applied to x first, then the
 * packed conv, with 1-3 threads, activations and residuals. */
static void test_gated(void) {
    typedef struct { int n, h, w, c, oc, k, act, res; } gc;
    static const gc cases[] = {
        {1, 56, 56, 96, 24, 1, 0, 0},   /* efficientnet_b0 blocks.1.0's projection */
        {3, 14, 14, 672, 112, 1, 0, 1}, /* blocks.4.1, three images, residual */
        {2, 7, 9, 40, 37, 1, 4, 0},     /* odd sizes and channels, SiLU */
        {1, 5, 5, 300, 16, 1, 1, 1},    /* cin past the built-in zero row, relu + residual */
        {2, 6, 6, 16, 24, 3, 0, 0},     /* 3x3: the fallback */
    };
    tx_err err = {0};
    double worst = 0;
    int fast = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const gc *k = &cases[ci];
        tx_conv_shape s = {.n = k->n, .h = k->h, .w = k->w, .c = k->c, .oc = k->oc, .kh = k->k,
                           .kw = k->k, .sh = 1, .sw = 1, .pad_t = k->k / 2, .pad_l = k->k / 2,
                           .pad_b = k->k / 2, .pad_r = k->k / 2, .dh = 1, .dw = 1, .groups = 1,
                           .act = k->act};
        CHECK_OK(tx_conv_shape_init(&s, &err), &err);
        fast += tx_conv2d_gate_ok(&s);
        CHECK(k->k == 1 || !tx_conv2d_gate_ok(&s), "a 3x3 conv claims the weight-scaling path");
        tx_rng r;
        tx_rng_seed(&r, 900 + ci);
        const int64_t nx = (int64_t)k->n * k->h * k->w * k->c, ny = (int64_t)k->n * s.oh * s.ow * k->oc;
        float *x = rnd(nx, &r), *g = rnd((int64_t)k->n * k->c, &r), *w = rnd((int64_t)k->oc * k->c * k->k * k->k, &r);
        float *b = rnd(k->oc, &r), *res = k->res ? rnd(ny, &r) : NULL, *xg = nans(nx);
        for (int64_t i = 0; i < nx; i++) xg[i] = x[i] * g[(i / ((int64_t)k->h * k->w * k->c)) * k->c + i % k->c];
        s.res = res;
        float *wp = scratch_alloc(tx_conv2d_packed_floats(&s));
        tx_conv2d_pack(wp, w, &s);
        float *want = nans(ny), *y = nans(ny);
        static const int threads[] = {1, 2, 3};
        for (int ti = 0; ti < 3; ti++) {
            omp_set_num_threads(threads[ti]);
            s.threads = threads[ti];
            size_t ns = tx_conv2d_gated_scratch_floats(&s);
            if (tx_conv2d_packed_scratch_floats(&s) > ns) ns = tx_conv2d_packed_scratch_floats(&s);
            float *scratch = scratch_alloc(ns);
            tx_conv2d_forward_packed(want, xg, wp, b, &s, scratch);
            for (int64_t i = 0; i < ny; i++) y[i] = NAN;
            tx_conv2d_forward_packed_gated(y, x, g, wp, b, &s, scratch);
            char what[112];
            snprintf(what, sizeof what, "gated %dx%dx%d -> %d k%d act %d%s x%d t%d", k->h, k->w, k->c,
                     k->oc, k->k, k->act, res ? " +res" : "", k->n, threads[ti]);
            CHECK(tu_close(what, y, want, ny, 1e-6f * k->c, 1e-5f), "%s", what);
            CHECK(guard_ok(scratch, ns), "%s: wrote past the scratch", what);
            for (int64_t i = 0; i < ny; i++) {
                double d = fabs((double)y[i] - want[i]) / (1.0 + fabs((double)want[i]));
                if (!(d <= worst)) worst = d;
            }
            free(scratch);
        }
        omp_set_num_threads(2);
        s.threads = 2;
        { /* the portable build: always the fallback */
            float *pp = scratch_alloc(portable_conv2d_packed_floats(&s));
            portable_conv2d_pack(pp, w, &s);
            size_t ns = portable_conv2d_gated_scratch_floats(&s);
            if (portable_conv2d_packed_scratch_floats(&s) > ns) ns = portable_conv2d_packed_scratch_floats(&s);
            float *scratch = scratch_alloc(ns);
            portable_conv2d_forward_packed(want, xg, pp, b, &s, scratch);
            portable_conv2d_forward_packed_gated(y, x, g, pp, b, &s, scratch);
            CHECK(!portable_conv2d_gate_ok(&s), "the portable build claims the weight-scaling path");
            CHECK(tu_close("  portable", y, want, ny, 1e-6f * k->c, 1e-5f), "portable gated conv differs");
            CHECK(guard_ok(scratch, ns), "portable: wrote past the scratch");
            free(pp);
            free(scratch);
        }
        free(x); free(g); free(w); free(b); free(res); free(xg); free(wp); free(want); free(y);
    }
#if defined(__AVX512F__)
    CHECK(fast == 4, "only %d of the 1x1 shapes took the weight-scaling path", fast);
#endif
    printf("  %d of %d shapes on the weight-scaling path, largest |gated - gate then conv| / (1 + |y|) %.3g\n",
           fast, (int)(sizeof cases / sizeof *cases), worst);
}

/* Accuracy of the packed Winograd forwards on ResNet-sized layers against a direct
 * convolution in double: F(4x4, 3x3) at 56x56 (64 -> 64 channels) and 14x14 (256 -> 256),
 * F(2x2) at 7x7 (512 -> 512: too few 4x4 tiles, and too many weights, for F(4x4)). Error
 * relative to the largest output. */
static double wino_rel_err(int hw, int c, int oc) {
    tx_err err = {0};
    tx_conv_shape s = {.n = 1, .h = hw, .w = hw, .c = c, .oc = oc, .kh = 3, .kw = 3, .sh = 1,
                       .sw = 1, .pad_t = 1, .pad_l = 1, .pad_b = 1, .pad_r = 1, .dh = 1, .dw = 1,
                       .groups = 1};
    if (tx_conv_shape_init(&s, &err)) {
        CHECK(0, "wino %dx%d shape: %s", hw, hw, err.msg);
        return 1;
    }
    tx_rng r;
    tx_rng_seed(&r, (uint64_t)(hw * 1000 + c));
    const int64_t nx = (int64_t)hw * hw * c, ny = (int64_t)hw * hw * oc, nw = (int64_t)oc * 9 * c;
    float *x = rnd(nx, &r), *w = rnd(nw, &r), *b = rnd(oc, &r), *y = nans(ny);
    float *wp = scratch_alloc(tx_conv2d_packed_floats(&s));
    size_t ns = tx_conv2d_packed_scratch_floats(&s);
    float *scratch = scratch_alloc(ns);
    tx_conv2d_pack(wp, w, &s);
    tx_conv2d_forward_packed(y, x, wp, b, &s, scratch);
    double worst = 0, top = 0;
    for (int oy = 0; oy < hw; oy++)
        for (int ox = 0; ox < hw; ox++)
            for (int o = 0; o < oc; o++) {
                double a = b[o];
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        const int iy = oy + ky - 1, ix = ox + kx - 1;
                        if (iy < 0 || iy >= hw || ix < 0 || ix >= hw) continue;
                        const float *xp = x + ((int64_t)iy * hw + ix) * c;
                        const float *wq = w + (((int64_t)o * 3 + ky) * 3 + kx) * c;
                        for (int i = 0; i < c; i++) a += (double)xp[i] * wq[i];
                    }
                const double d = fabs(y[((int64_t)oy * hw + ox) * oc + o] - a);
                if (!(d <= worst)) worst = d; /* NaN-sticky */
                if (fabs(a) > top) top = fabs(a);
            }
    CHECK(guard_ok(scratch, ns), "wino %dx%d: wrote past the scratch", hw, hw);
    free(x); free(w); free(b); free(y); free(wp); free(scratch);
    return worst / top;
}

static void test_winograd_accuracy(void) {
    const double f4a = wino_rel_err(56, 64, 64), f4b = wino_rel_err(14, 256, 256);
    const double f2 = wino_rel_err(7, 512, 512);
    printf("  packed Winograd vs double, of the largest output: F(4x4) 56x56x64 %.3g, "
           "14x14x256 %.3g; F(2x2) 7x7x512 %.3g\n", f4a, f4b, f2);
    CHECK(f4a < 3e-5 && f4b < 3e-5, "F(4x4) relative errors %.3g %.3g", f4a, f4b);
    CHECK(f2 < 1e-5, "F(2x2) relative error %.3g", f2);
}

int main(void) {
    RUN(test_shape_init);
    RUN(test_scratch_bounded);
    RUN(test_fd_reference);
    RUN(test_fast_vs_ref);
    RUN(test_packed_act);
    RUN(test_winograd_accuracy);
    RUN(test_convdw);
    RUN(test_gated);
    RUN(test_rowsum);
    TEST_MAIN_END();
}
