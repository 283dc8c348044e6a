/* act.c - elementwise kernels: relu, add, dropout.
 * Flat arrays of n floats; each element is independent, so any static split over
 * threads gives the same result as one thread. */
#include "ops/ops.h"

/* Below this many elements one thread is faster than waking a team. */
#define ACT_PAR_MIN 65536

/* y = max(x, 0); NaN stays NaN (as in PyTorch) so divergence stays visible. */
void tx_relu_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void tx_relu_backward(float *dx, const float *dy, const float *y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void tx_add_forward(float *y, const float *a, const float *b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* Keep threshold: an element is dropped when a 32-bit uniform u < p * 2^32, so
 * P(keep) = 1 - p up to 2^-32. Each tx_rng_u64 draw decides two elements, in index
 * order, so the mask depends only on the rng state and n (not on threads). */
static uint64_t drop_threshold(float p) {
    if (!(p > 0.0f)) return 0; /* also NaN: keep everything */
    if (p >= 1.0f) return UINT64_C(1) << 32;
    return (uint64_t)((double)p * 4294967296.0);
}

void tx_dropout_forward(float *y, uint8_t *mask, const float *x, int64_t n, float p,
                        tx_rng *rng) {
    if (n <= 0) return;
    const uint64_t thr = drop_threshold(p);
    if (thr == 0) { /* p == 0: identity, no random numbers drawn */
        for (int64_t i = 0; i < n; i++) {
            mask[i] = 1;
            y[i] = x[i];
        }
        return;
    }
    if (thr >= (UINT64_C(1) << 32)) { /* p == 1: everything dropped */
        for (int64_t i = 0; i < n; i++) {
            mask[i] = 0;
            y[i] = 0.0f;
        }
        return;
    }
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t r = tx_rng_u64(rng);
        mask[i] = (r & 0xffffffffu) >= thr;
        mask[i + 1] = (r >> 32) >= thr;
    }
    if (i < n) mask[i] = (tx_rng_u64(rng) & 0xffffffffu) >= thr;
    const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t j = 0; j < n; j++) y[j] = mask[j] ? x[j] * scale : 0.0f;
}

void tx_dropout_backward(float *dx, const float *dy, const uint8_t *mask, int64_t n,
                         float p) {
    const float scale = !(p > 0.0f) ? 1.0f : p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}
