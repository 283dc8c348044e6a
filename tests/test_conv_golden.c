/* test_conv_golden.c - conv2d (fast kernels and references) against PyTorch.
 *
 * tests/golden/conv.safetensors comes from tools/golden_conv.py (float32 PyTorch on the
 * CPU; x/y/dy/dx NHWC, w/dw OHWI). Its __metadata__ lists each case's shape; every
 * stored output and gradient is compared at |diff| <= 1e-5 * max(1, max|want|) +
 * 1e-5 * |want|. Only a missing file is a SKIP; anything wrong inside it is a failure.
 */
#include "io/safetensors.h"
#include "ops/ops.h"
#include "testutil.h"

#include <errno.h>

static const char *GOLDEN = "tests/golden/conv.safetensors";
enum { MIN_CASES = 12 };

static float *copy_tensor(const tx_safetensors *st, const char *tag, const char *name,
                          const int64_t *shape, int ndim) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", tag, name);
    return tu_golden_copy(st, full, TX_F32, ndim, shape);
}

static double g_worst[4]; /* y, dx, dw, db: largest |diff| of the fast kernels */

static void cmp(const char *tag, const char *what, const float *got, const float *want,
                long n, double *worst) {
    float mx = 1;
    for (long i = 0; i < n; i++) mx = fabsf(want[i]) > mx ? fabsf(want[i]) : mx;
    char full[128];
    snprintf(full, sizeof full, "%s %s", tag, what);
    CHECK(tu_close(full, got, want, n, 1e-5f * mx, 1e-5f), "%s", full);
    if (worst)
        for (long i = 0; i < n; i++) {
            double d = fabs((double)got[i] - want[i]);
            if (!(d <= *worst)) *worst = d;
        }
}

static void run_case(const tx_safetensors *st, const char *tag, const char *spec) {
    int v[16];
    int used = 0;
    if (sscanf(spec, "%d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d%n", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13],
               &v[14], &v[15], &used) != 16 || spec[used] != 0) {
        CHECK(0, "case '%s': bad shape spec '%s'", tag, spec);
        return;
    }
    tx_conv_shape s = {.n = v[0], .h = v[1], .w = v[2], .c = v[3], .oc = v[4], .kh = v[5],
                       .kw = v[6], .sh = v[7], .sw = v[8], .pad_t = v[9], .pad_l = v[10],
                       .pad_b = v[11], .pad_r = v[12], .dh = v[13], .dw = v[14],
                       .groups = v[15]};
    tx_err err = {0};
    CHECK_OK(tx_conv_shape_init(&s, &err), &err);
    int64_t xs[4] = {s.n, s.h, s.w, s.c}, ys[4] = {s.n, s.oh, s.ow, s.oc};
    int64_t ws[4] = {s.oc, s.kh, s.kw, s.c / s.groups}, bs[1] = {s.oc};
    char bname[128];
    snprintf(bname, sizeof bname, "%s.b", tag);
    int has_bias = tx_st_find(st, bname) != NULL;
    float *x = copy_tensor(st, tag, "x", xs, 4), *w = copy_tensor(st, tag, "w", ws, 4);
    float *y_want = copy_tensor(st, tag, "y", ys, 4), *dy = copy_tensor(st, tag, "dy", ys, 4);
    float *dx_want = copy_tensor(st, tag, "dx", xs, 4), *dw_want = copy_tensor(st, tag, "dw", ws, 4);
    float *b = has_bias ? copy_tensor(st, tag, "b", bs, 1) : NULL;
    float *db_want = has_bias ? copy_tensor(st, tag, "db", bs, 1) : NULL;
    long nx = (long)(xs[0] * xs[1] * xs[2] * xs[3]), ny = (long)(ys[0] * ys[1] * ys[2] * ys[3]);
    long nw = (long)(ws[0] * ws[1] * ws[2] * ws[3]);
    if (x && w && y_want && dy && dx_want && dw_want && (!has_bias || (b && db_want))) {
        float *y = calloc((size_t)ny, sizeof(float)), *dx = calloc((size_t)nx, sizeof(float));
        float *dw = calloc((size_t)nw, sizeof(float)), *db = calloc((size_t)s.oc, sizeof(float));
        float *scratch = malloc(sizeof(float) * (tx_conv2d_scratch_floats(&s) + 1));
        if (!y || !dx || !dw || !db || !scratch) exit(2);
        /* fast kernels */
        tx_conv2d_forward(y, x, w, b, &s, scratch);
        cmp(tag, "y", y, y_want, ny, &g_worst[0]);
        tx_conv2d_backward(dx, dw, has_bias ? db : NULL, dy, x, w, &s, scratch);
        cmp(tag, "dx", dx, dx_want, nx, &g_worst[1]);
        cmp(tag, "dw", dw, dw_want, nw, &g_worst[2]);
        if (has_bias) cmp(tag, "db", db, db_want, s.oc, &g_worst[3]);
        /* references */
        tx_conv2d_forward_ref(y, x, w, b, &s);
        cmp(tag, "y (ref)", y, y_want, ny, NULL);
        tx_conv2d_backward_ref(dx, dw, has_bias ? db : NULL, dy, x, w, &s);
        cmp(tag, "dx (ref)", dx, dx_want, nx, NULL);
        cmp(tag, "dw (ref)", dw, dw_want, nw, NULL);
        if (has_bias) cmp(tag, "db (ref)", db, db_want, s.oc, NULL);
        free(y); free(dx); free(dw); free(db); free(scratch);
    }
    free(x); free(w); free(y_want); free(dy); free(dx_want); free(dw_want); free(b); free(db_want);
}

static void test_conv_golden(void) {
    struct stat stt;
    if (stat(GOLDEN, &stt) != 0 && errno == ENOENT)
        SKIP("%s is missing (regenerate with /usr/bin/python3 tools/golden_conv.py)", GOLDEN);
    tx_safetensors st;
    tx_err err = {0};
    CHECK_OK(tx_st_load(GOLDEN, &st, &err), &err);
    int cases = 0;
    for (int i = 0; i < st.n_meta; i++) {
        if (!strcmp(st.meta[i].key, "generator")) continue;
        run_case(&st, st.meta[i].key, st.meta[i].value);
        cases++;
    }
    CHECK(cases >= MIN_CASES, "only %d cases in %s, expected at least %d", cases, GOLDEN,
          MIN_CASES);
    printf("  %d cases; largest |diff| of the fast kernels: y %.3g  dx %.3g  dw %.3g  db %.3g\n",
           cases, g_worst[0], g_worst[1], g_worst[2], g_worst[3]);
    tx_st_free(&st);
}

int main(void) {
    RUN(test_conv_golden);
    TEST_MAIN_END();
}
