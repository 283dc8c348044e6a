/* act.c - elementwise kernels: relu, add, dropout; sigmoid, silu, gelu, hard-sigmoid,
 * hard-swish, relu6; per-channel scaling (squeeze-excitation, layer scale); drop path.
 * Flat arrays of n floats; each element is independent, so any static split over
 * threads gives the same result as one thread. */
#include "ops/ops.h"
#include "ops/vmath.h"

#include <math.h>
#include <string.h>

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

/* ==== smooth and piecewise activations ====================================
 * Formulas and backward rules are PyTorch's (the golden test holds them to it):
 *   sigmoid(x)     = 1 / (1 + exp(-x))            backward from y: dy * (1 - y) * y
 *   silu(x)        = x / (1 + exp(-x))            backward from x: dy * s * (1 + x(1 - s))
 *   gelu(x)        = x * Phi(x) (erf form)         backward from x: dy * (Phi + x phi)
 *   hardsigmoid(x) = min(max(x + 3, 0), 6) / 6    backward from x: dy/6 on -3 < x < 3
 *   hardswish(x)   = x * min(max(x + 3, 0), 6) / 6
 *                  backward from x: 0 for x < -3, dy for x >= 3, dy * (x/3 + 1/2) between
 *                  (at exactly x = 3 PyTorch's vectorized loop gives dy, its scalar tail
 *                  loop 1.5 dy; this follows the vectorized one, which sees most elements)
 *   relu6(x)       = min(max(x, 0), 6)            backward from y: dy on 0 < y < 6
 * The exponential and erfc come from vmath.h (vectorized, ~1e-7 relative); the *_ref
 * twins use libm in double. Outputs may alias inputs (y == x, dx == dy): every element
 * is read before it is written. */

/* Transcendental kernels are compute-bound: threads pay off sooner. */
#define ACT_PAR_MIN_T 16384

/* y = f(x) by vmath.h's row functions (the ones the conv epilogues use), in chunks. */
#define ACT_CHUNK 4096
static void map_rows(void (*f)(float *, const float *, int64_t), float *y, const float *x,
                     int64_t n) {
    const int64_t chunks = (n + ACT_CHUNK - 1) / ACT_CHUNK;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN_T)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t i0 = c * ACT_CHUNK;
        f(y + i0, x + i0, n - i0 < ACT_CHUNK ? n - i0 : ACT_CHUNK);
    }
}

void tx_sigmoid_forward(float *y, const float *x, int64_t n) { map_rows(tx_vsigmoid_row, y, x, n); }

void tx_sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i]) * y[i];
}

void tx_silu_forward(float *y, const float *x, int64_t n) { map_rows(tx_vsilu_row, y, x, n); }

void tx_silu_backward(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN_T)
    for (int64_t i = 0; i < n; i++) {
        float s = tx_vsigmoidf(x[i]);
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

void tx_gelu_forward(float *y, const float *x, int64_t n) { map_rows(tx_vgelu_row, y, x, n); }

void tx_gelu_backward(float *dx, const float *dy, const float *x, int64_t n) {
    const float inv_sqrt_2pi = 0.398942280401432678f;
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN_T)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], e = tx_vexp_halfsq(v);
        dx[i] = dy[i] * (tx_vphi_e(v, e) + v * (inv_sqrt_2pi * e));
    }
}

void tx_hardsigmoid_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float t = x[i] + 3.0f;
        t = t < 0.0f ? 0.0f : t;
        t = t > 6.0f ? 6.0f : t;
        y[i] = t / 6.0f;
    }
}

void tx_hardsigmoid_backward(float *dx, const float *dy, const float *x, int64_t n) {
    const float sixth = 1.0f / 6.0f;
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > -3.0f && x[i] < 3.0f ? dy[i] * sixth : 0.0f;
}

void tx_hardswish_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float t = x[i] + 3.0f;
        t = t < 0.0f ? 0.0f : t;
        t = t > 6.0f ? 6.0f : t;
        y[i] = x[i] * t / 6.0f;
    }
}

void tx_hardswish_backward(float *dx, const float *dy, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        dx[i] = v < -3.0f ? 0.0f : v >= 3.0f ? dy[i] : dy[i] * (v / 3.0f + 0.5f);
    }
}

/* NaN stays NaN (as in PyTorch's clamp). */
void tx_relu6_forward(float *y, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        v = v < 0.0f ? 0.0f : v;
        y[i] = v > 6.0f ? 6.0f : v;
    }
}

void tx_relu6_backward(float *dx, const float *dy, const float *y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f && y[i] < 6.0f ? dy[i] : 0.0f;
}

/* ---- references: straight loops in double with libm ---- */

void tx_sigmoid_forward_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
}

void tx_sigmoid_backward_ref(float *dx, const float *dy, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] = (float)((double)dy[i] * (1.0 - y[i]) * y[i]);
}

void tx_silu_forward_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

void tx_silu_backward_ref(float *dx, const float *dy, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], s = 1.0 / (1.0 + exp(-v));
        dx[i] = (float)(dy[i] * s * (1.0 + v * (1.0 - s)));
    }
}

void tx_gelu_forward_ref(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(v * 0.5 * erfc(-v * 0.70710678118654752));
    }
}

void tx_gelu_backward_ref(float *dx, const float *dy, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        double cdf = 0.5 * erfc(-v * 0.70710678118654752);
        double pdf = exp(-0.5 * v * v) * 0.398942280401432678;
        dx[i] = (float)(dy[i] * (cdf + v * pdf));
    }
}

/* ==== per-channel scaling ================================================= */
/* Forward is one product per element. The scale gradient is a sum over the spatial
 * rows per (sample, channel): tasks are (sample, tile of CM_TILE channels), each sums
 * its rows in order in double, so the result does not depend on the thread count. */

#define CM_TILE 16

void tx_chanmul_forward(float *y, const float *x, const float *s, int n, int64_t hw, int c) {
    if (n <= 0 || hw <= 0 || c <= 0) return;
    const int64_t rows = (int64_t)n * hw;
#pragma omp parallel for schedule(static) if (rows * c >= ACT_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *sr = s + (r / hw) * c, *xr = x + r * c;
        float *yr = y + r * c;
#pragma omp simd
        for (int j = 0; j < c; j++) yr[j] = xr[j] * sr[j];
    }
}

void tx_chanmul_backward(float *dx, float *ds, const float *dy, const float *x,
                         const float *s, int n, int64_t hw, int c) {
    if (n <= 0 || c <= 0) return;
    if (hw <= 0) {
        if (ds) memset(ds, 0, (size_t)n * (size_t)c * sizeof *ds);
        return;
    }
    const int64_t rows = (int64_t)n * hw;
    /* ds first: dx may overwrite dy */
    if (ds) {
        const int tiles = (c + CM_TILE - 1) / CM_TILE;
        const int64_t tasks = (int64_t)n * tiles;
#pragma omp parallel for schedule(static) if (rows * c >= ACT_PAR_MIN)
        for (int64_t t = 0; t < tasks; t++) {
            const int64_t b = t / tiles;
            const int c0 = (int)(t % tiles) * CM_TILE;
            const int tc = c - c0 < CM_TILE ? c - c0 : CM_TILE;
            double acc[CM_TILE] = {0};
            for (int64_t r = b * hw; r < (b + 1) * hw; r++) {
                const float *xr = x + r * c + c0, *gr = dy + r * c + c0;
#pragma omp simd
                for (int j = 0; j < tc; j++) acc[j] += (double)gr[j] * xr[j];
            }
            for (int j = 0; j < tc; j++) ds[b * c + c0 + j] = (float)acc[j];
        }
    }
    if (dx) {
#pragma omp parallel for schedule(static) if (rows * c >= ACT_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const float *sr = s + (r / hw) * c, *gr = dy + r * c;
            float *dr = dx + r * c;
#pragma omp simd
            for (int j = 0; j < c; j++) dr[j] = gr[j] * sr[j];
        }
    }
}

void tx_layerscale_forward(float *y, const float *x, const float *gamma, int64_t rows, int c) {
    if (rows <= 0 || c <= 0) return;
    tx_chanmul_forward(y, x, gamma, 1, rows, c);
}

void tx_layerscale_backward(float *dx, float *dgamma, const float *dy, const float *x,
                            const float *gamma, int64_t rows, int c) {
    tx_chanmul_backward(dx, dgamma, dy, x, gamma, 1, rows, c);
}

/* ==== drop path (stochastic depth) ======================================== */
/* timm's drop_path with scale_by_keep: one Bernoulli(1-p) draw per sample (one
 * tx_rng_u64 each, in sample order; dropped when its high 32 bits < p * 2^32), and
 *   y = x * m,  m = keep / (1 - p)  (m = 0 for dropped samples, 1/(1-p) rounded to
 * float as timm's random_tensor.div_(keep_prob) does); p >= 1 drops all (m = 0, no
 * division), p <= 0 is the identity and draws nothing. */

static float droppath_scale(float p) {
    if (!(p > 0.0f)) return 1.0f;
    if (p >= 1.0f) return 0.0f;
    return 1.0f / (float)(1.0 - (double)p);
}

void tx_droppath_forward(float *y, uint8_t *keep, const float *x, int n, int64_t per,
                         float p, tx_rng *rng) {
    if (n <= 0) return;
    const uint64_t thr = drop_threshold(p);
    for (int b = 0; b < n; b++) {
        if (thr == 0) keep[b] = 1;
        else if (thr >= (UINT64_C(1) << 32)) keep[b] = 0;
        else keep[b] = (tx_rng_u64(rng) >> 32) >= thr;
    }
    tx_droppath_backward(y, x, keep, n, per, p);
}

void tx_droppath_backward(float *dx, const float *dy, const uint8_t *keep, int n,
                          int64_t per, float p) {
    if (n <= 0 || per <= 0) return;
    const float scale = droppath_scale(p);
    if (per >= ACT_PAR_MIN) { /* big samples: split each one over the threads */
        for (int b = 0; b < n; b++) {
            const float m = keep[b] ? scale : 0.0f;
            const float *g = dy + (int64_t)b * per;
            float *d = dx + (int64_t)b * per;
#pragma omp parallel for simd schedule(static)
            for (int64_t i = 0; i < per; i++) d[i] = g[i] * m;
        }
        return;
    }
#pragma omp parallel for schedule(static) if ((int64_t)n * per >= ACT_PAR_MIN)
    for (int b = 0; b < n; b++) {
        const float m = keep[b] ? scale : 0.0f;
        const float *g = dy + (int64_t)b * per;
        float *d = dx + (int64_t)b * per;
#pragma omp simd
        for (int64_t i = 0; i < per; i++) d[i] = g[i] * m;
    }
}

/* ---- elementwise product, clamping, channel concatenation, spatial padding ---- */

void tx_mul_forward(float *y, const float *a, const float *b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void tx_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                     int64_t n) {
    if (da) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] = dy[i] * b[i];
    }
    if (db) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
        for (int64_t i = 0; i < n; i++) db[i] = dy[i] * a[i];
    }
}

void tx_clamp_forward(float *y, const float *x, int64_t n, float lo, float hi) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

void tx_clamp_backward(float *dx, const float *dy, const float *y, int64_t n, float lo, float hi) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = (y[i] > lo && y[i] < hi) ? dy[i] : 0.0f;
}

void tx_channel_copy(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows,
                     int c) {
#pragma omp parallel for schedule(static) if (rows * c >= ACT_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) memcpy(dst + r * ld_dst, src + r * ld_src, (size_t)c * sizeof(float));
}

void tx_pad_forward(float *y, const float *x, int n, int h, int w, int c, int pt, int pl, int pb,
                    int pr) {
    const int oh = h + pt + pb, ow = w + pl + pr;
#pragma omp parallel for schedule(static) if ((int64_t)n * oh * ow * c >= ACT_PAR_MIN)
    for (int64_t r = 0; r < (int64_t)n * oh; r++) {
        int b = (int)(r / oh), oy = (int)(r % oh), iy = oy - pt;
        float *yr = y + r * ow * c;
        if (iy < 0 || iy >= h) {
            memset(yr, 0, (size_t)ow * c * sizeof(float));
            continue;
        }
        memset(yr, 0, (size_t)pl * c * sizeof(float));
        memcpy(yr + (int64_t)pl * c, x + (((int64_t)b * h + iy) * w) * c, (size_t)w * c * sizeof(float));
        memset(yr + (int64_t)(pl + w) * c, 0, (size_t)pr * c * sizeof(float));
    }
}

void tx_pad_backward(float *dx, const float *dy, int n, int h, int w, int c, int pt, int pl,
                     int pb, int pr) {
    const int oh = h + pt + pb, ow = w + pl + pr;
#pragma omp parallel for schedule(static) if ((int64_t)n * h * w * c >= ACT_PAR_MIN)
    for (int64_t r = 0; r < (int64_t)n * h; r++) {
        int b = (int)(r / h), iy = (int)(r % h);
        memcpy(dx + r * w * c, dy + (((int64_t)b * oh + iy + pt) * ow + pl) * c, (size_t)w * c * sizeof(float));
    }
}

/* ---- fake quantization (quantization-aware float graphs) ------------------- */

void tx_fakequant_forward(float *y, const float *x, int64_t n, float scale, int32_t zp, int qmin,
                          int qmax) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float q = nearbyintf(x[i] / scale) + (float)zp;
        q = q < (float)qmin ? (float)qmin : q > (float)qmax ? (float)qmax : q;
        y[i] = scale * (q - (float)zp);
    }
}

void tx_fakequant_backward(float *dx, const float *dy, const float *y, int64_t n, float scale,
                           int32_t zp, int qmin, int qmax) {
#pragma omp parallel for simd schedule(static) if (n >= ACT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float q = nearbyintf(y[i] / scale) + (float)zp;
        dx[i] = (q > (float)qmin && q < (float)qmax) ? dy[i] : 0.0f;
    }
}
