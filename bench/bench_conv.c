/* bench_conv.c - GFLOP/s of tx_conv2d_forward / tx_conv2d_backward on a few shapes.
 * Not a test. Build by hand, e.g.:
 *   cc -std=c17 -O2 -march=native -fopenmp -D_GNU_SOURCE -DTX_HAVE_BLAS -Iinclude -Isrc \
 *      $(pkg-config --cflags openblas) bench/bench_conv.c src/ops/conv.c src/ops/gemm.c \
 *      src/core/core.c $(pkg-config --libs openblas) -lm -o /tmp/bench_conv
 *   /tmp/bench_conv [reps] [filter]      (prints the best of reps runs)
 * Backward FLOPs count dW and dx (2x forward) or dW only when dx is not wanted. */
#include "ops/ops.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int n, h, w, c, oc, k, s, pad, groups, need_dx;
} bcase;

static const bcase CASES[] = {
    {"cnn conv1 28x28x1->32 3x3 b128", 128, 28, 28, 1, 32, 3, 1, 0, 1, 0},
    {"cnn conv2 26x26x32->64 3x3 b128", 128, 26, 26, 32, 64, 3, 1, 0, 1, 1},
    {"cnn conv2 padded 28x28x32->64 b128", 128, 28, 28, 32, 64, 3, 1, 1, 1, 1},
    {"cnn conv2 26x26x32->64 3x3 b256", 256, 26, 26, 32, 64, 3, 1, 0, 1, 1},
    {"cnn conv2 26x26x32->64 3x3 b16", 16, 26, 26, 32, 64, 3, 1, 0, 1, 1},
    {"r50 56x56x64->64 3x3 b8", 8, 56, 56, 64, 64, 3, 1, 1, 1, 1},
    {"r50 56x56x256->64 1x1 b8", 8, 56, 56, 256, 64, 1, 1, 0, 1, 1},
    {"r50 56x56x64->256 1x1 b8", 8, 56, 56, 64, 256, 1, 1, 0, 1, 1},
    {"r50 28x28x128->128 3x3 b8", 8, 28, 28, 128, 128, 3, 1, 1, 1, 1},
    {"r50 224x224x3->64 7x7 s2 b8", 8, 224, 224, 3, 64, 7, 2, 3, 1, 0},
    {"r50 56x56x64->64 3x3 b1", 1, 56, 56, 64, 64, 3, 1, 1, 1, 0},
    {"r50 14x14x256->256 3x3 b1", 1, 14, 14, 256, 256, 3, 1, 1, 1, 0},
    {"mbv2 dw 112x112x96 s2 b8", 8, 112, 112, 96, 96, 3, 2, 1, 96, 1},
    {"mbv2 dw 56x56x144 s1 b8", 8, 56, 56, 144, 144, 3, 1, 1, 144, 1},
};

static float *rnd(size_t n) {
    float *p = tx_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    const char *filter = argc > 2 ? argv[2] : NULL;
    printf("threads %d\n", omp_get_max_threads());
    for (size_t ci = 0; ci < sizeof CASES / sizeof *CASES; ci++) {
        const bcase *b = &CASES[ci];
        if (filter && !strstr(b->name, filter)) continue;
        tx_conv_shape s = {.n = b->n, .h = b->h, .w = b->w, .c = b->c, .oc = b->oc,
                           .kh = b->k, .kw = b->k, .sh = b->s, .sw = b->s, .pad_t = b->pad,
                           .pad_l = b->pad, .pad_b = b->pad, .pad_r = b->pad, .dh = 1,
                           .dw = 1, .groups = b->groups};
        tx_err err;
        if (tx_conv_shape_init(&s, &err)) {
            printf("%s: %s\n", b->name, err.msg);
            return 1;
        }
        size_t nx = (size_t)s.n * s.h * s.w * s.c, ny = (size_t)s.n * s.oh * s.ow * s.oc;
        size_t nw = (size_t)s.oc * s.kh * s.kw * (s.c / s.groups);
        float *x = rnd(nx), *w = rnd(nw), *bias = rnd(s.oc), *dy = rnd(ny);
        float *y = rnd(ny), *dx = rnd(nx), *dw = rnd(nw), *db = rnd(s.oc);
        size_t ns = tx_conv2d_scratch_floats(&s);
        float *scratch = rnd(ns ? ns : 1);
        double flops = 2.0 * ny * s.kh * s.kw * (s.c / s.groups);
        /* best of reps: the machine is shared, the minimum is the least disturbed run */
        double tf = 1e30, tb = 1e30;
        tx_conv2d_forward(y, x, w, bias, &s, scratch);
        for (int r = 0; r < reps; r++) {
            double t0 = tx_now();
            tx_conv2d_forward(y, x, w, bias, &s, scratch);
            double dt = tx_now() - t0;
            if (dt < tf) tf = dt;
        }
        float *dxp = b->need_dx ? dx : NULL;
        tx_conv2d_backward(dxp, dw, db, dy, x, w, &s, scratch);
        for (int r = 0; r < reps; r++) {
            double t0 = tx_now();
            tx_conv2d_backward(dxp, dw, db, dy, x, w, &s, scratch);
            double dt = tx_now() - t0;
            if (dt < tb) tb = dt;
        }
        double bflops = flops * (b->need_dx ? 2 : 1);
        printf("%-36s fwd %8.2f ms %6.1f GF/s   bwd%s %8.2f ms %6.1f GF/s  (scratch %.1f MB)\n",
               b->name, tf * 1e3, flops / tf * 1e-9, b->need_dx ? "" : "(no dx)", tb * 1e3,
               bflops / tb * 1e-9, ns * 4.0 / 1e6);
        tx_free(x); tx_free(w); tx_free(bias); tx_free(dy); tx_free(y); tx_free(dx);
        tx_free(dw); tx_free(db); tx_free(scratch);
    }
    return 0;
}
