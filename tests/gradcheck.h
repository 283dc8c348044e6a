/* gradcheck.h - the finite-difference harness shared by the op tests (test_ops.c,
 * test_ops2.c). Header-only, for tests. */
#ifndef TX_TESTS_GRADCHECK_H
#define TX_TESTS_GRADCHECK_H

#include "testutil.h"

/* forward() recomputes y (ny floats) from the current inputs; the loss is sum(dy*y) in
 * double, or op->scalar when dy is NULL. */
typedef struct fd_op {
    void (*forward)(struct fd_op *op);
    float *y;
    long ny;
    const float *dy;
    double scalar;
    void *ctx;
} fd_op;

static inline double fd_loss(fd_op *op) {
    op->forward(op);
    if (!op->dy) return op->scalar;
    double l = 0;
    for (long i = 0; i < op->ny; i++) l += (double)op->dy[i] * op->y[i];
    return l;
}

/* Compares analytic[i] with (L(p+h) - L(p-h)) / 2h for (up to ~300 sampled) i, printing
 * the largest difference; leaves y as the unperturbed forward. */
static inline int grad_check(const char *what, fd_op *op, float *param, long n,
                             const float *analytic, float h, float atol, float rtol) {
    long step = n > 300 ? n / 300 : 1;
    float *num = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    float *ana = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    if (!num || !ana) {
        printf("out of memory\n");
        exit(2);
    }
    long k = 0;
    for (long i = 0; i < n; i += step, k++) {
        float v = param[i], vp = v + h, vm = v - h;
        param[i] = vp;
        double lp = fd_loss(op);
        param[i] = vm;
        double lm = fd_loss(op);
        param[i] = v;
        num[k] = (float)((lp - lm) / ((double)vp - (double)vm));
        ana[k] = analytic[i];
    }
    int ok = tu_close(what, ana, num, k, atol, rtol);
    free(num);
    free(ana);
    op->forward(op);
    return ok;
}

#endif
