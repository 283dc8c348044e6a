/* pool.c - max, average and global average pooling, NHWC.
 *
 * Windows: output (oy, ox) covers input rows oy*sh - pad_t .. + kh-1 and columns
 * ox*sw - pad_l .. + kw-1, clipped to the input. tx_pool_shape_init requires every
 * padding to be smaller than the kernel, so no window lies entirely in padding.
 * Forward kernels split output rows over threads; backward kernels scatter into dx
 * one image per thread (each dx element is written by one thread in a fixed order),
 * so results do not depend on the thread count. Inner loops run over the contiguous
 * channel axis.
 */
#include "ops/ops.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Work (multiply-adds or compares) below which one thread is used. */
#define POOL_PAR_MIN 65536
#define GAP_TILE 256

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

int tx_pool_shape_init(tx_pool_shape *s, tx_err *err) {
    if (!s) return tx_err_set(err, TX_EINVAL, "pool: shape is NULL");
    if (s->n < 1 || s->h < 1 || s->w < 1 || s->c < 1)
        return tx_err_set(err, TX_ESHAPE, "pool: input n=%d h=%d w=%d c=%d: every size must be >= 1",
                          s->n, s->h, s->w, s->c);
    if (s->kh < 1 || s->kw < 1)
        return tx_err_set(err, TX_EINVAL, "pool: kernel %dx%d: kh and kw must be >= 1", s->kh,
                          s->kw);
    if (s->sh < 1 || s->sw < 1)
        return tx_err_set(err, TX_EINVAL, "pool: stride %dx%d: sh and sw must be >= 1", s->sh,
                          s->sw);
    if (s->pad_t < 0 || s->pad_l < 0 || s->pad_b < 0 || s->pad_r < 0)
        return tx_err_set(err, TX_EINVAL,
                          "pool: padding t=%d l=%d b=%d r=%d: must be >= 0", s->pad_t,
                          s->pad_l, s->pad_b, s->pad_r);
    if (s->pad_t >= s->kh || s->pad_b >= s->kh || s->pad_l >= s->kw || s->pad_r >= s->kw)
        return tx_err_set(err, TX_EINVAL,
                          "pool: padding t=%d l=%d b=%d r=%d must be smaller than the kernel "
                          "%dx%d (a window would lie entirely in padding)",
                          s->pad_t, s->pad_l, s->pad_b, s->pad_r, s->kh, s->kw);
    const int64_t eh = (int64_t)s->h + s->pad_t + s->pad_b;
    const int64_t ew = (int64_t)s->w + s->pad_l + s->pad_r;
    if (eh < s->kh || ew < s->kw)
        return tx_err_set(err, TX_ESHAPE,
                          "pool: kernel %dx%d is larger than the padded input %lldx%lld",
                          s->kh, s->kw, (long long)eh, (long long)ew);
    if ((int64_t)s->h * s->w > INT32_MAX)
        return tx_err_set(err, TX_ESHAPE,
                          "pool: input plane h*w=%lld does not fit the int32 argmax index",
                          (long long)s->h * s->w);
    s->oh = (int)((eh - s->kh) / s->sh + 1);
    s->ow = (int)((ew - s->kw) / s->sw + 1);
    size_t b = sizeof(float);
    if (!tx_mul_ok(b, (size_t)s->n, &b) || !tx_mul_ok(b, (size_t)s->h, &b) ||
        !tx_mul_ok(b, (size_t)s->w, &b) || !tx_mul_ok(b, (size_t)s->c, &b) ||
        b > (size_t)INT64_MAX)
        return tx_err_set(err, TX_ESHAPE,
                          "pool: input n=%d h=%d w=%d c=%d is too large to address", s->n,
                          s->h, s->w, s->c);
    return TX_OK;
}

static int pool_threads(int64_t work, int64_t tasks) {
#ifdef _OPENMP
    int64_t want = work / POOL_PAR_MIN;
    int64_t mx = omp_get_max_threads();
    if (want > mx) want = mx;
    if (want > tasks) want = tasks;
    return want < 1 ? 1 : (int)want;
#else
    (void)work;
    (void)tasks;
    return 1;
#endif
}

/* ---- max pool ------------------------------------------------------------ */

/* PyTorch's rule: a value replaces the maximum when it is larger or NaN, scanning
 * rows then columns, so ties keep the first position and NaN propagates. */
static void maxpool_row(float *yr, int32_t *ar, const float *xn, const tx_pool_shape *s,
                        int oy) {
    const int c = s->c, w = s->w;
    const int y0 = oy * s->sh - s->pad_t;
    const int ya = imax(y0, 0), yb = imin(y0 + s->kh, s->h);
    for (int ox = 0; ox < s->ow; ox++) {
        const int x0 = ox * s->sw - s->pad_l;
        const int xa = imax(x0, 0), xb = imin(x0 + s->kw, w);
        float *yo = yr + (int64_t)ox * c;
        const int32_t first = ya * w + xa;
        memcpy(yo, xn + (int64_t)first * c, (size_t)c * sizeof(float));
        if (ar) {
            int32_t *ao = ar + (int64_t)ox * c;
            for (int j = 0; j < c; j++) ao[j] = first;
            for (int iy = ya; iy < yb; iy++)
                for (int ix = xa; ix < xb; ix++) {
                    const int32_t idx = iy * w + ix;
                    if (idx == first) continue;
                    const float *xp = xn + (int64_t)idx * c;
#pragma omp simd
                    for (int j = 0; j < c; j++) {
                        const float v = xp[j];
                        const int take = (v > yo[j]) | (v != v);
                        yo[j] = take ? v : yo[j];
                        ao[j] = take ? idx : ao[j];
                    }
                }
        } else {
            for (int iy = ya; iy < yb; iy++)
                for (int ix = xa; ix < xb; ix++) {
                    const int32_t idx = iy * w + ix;
                    if (idx == first) continue;
                    const float *xp = xn + (int64_t)idx * c;
#pragma omp simd
                    for (int j = 0; j < c; j++) {
                        const float v = xp[j];
                        yo[j] = ((v > yo[j]) | (v != v)) ? v : yo[j];
                    }
                }
        }
    }
}

void tx_maxpool_forward(float *y, int32_t *argmax, const float *x, const tx_pool_shape *s) {
    const int64_t rows = (int64_t)s->n * s->oh;
    const int64_t out_row = (int64_t)s->ow * s->c;
    const int nth = pool_threads(rows * out_row * s->kh * s->kw, rows);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t r = 0; r < rows; r++) {
        const int n = (int)(r / s->oh), oy = (int)(r % s->oh);
        maxpool_row(y + r * out_row, argmax ? argmax + r * out_row : NULL,
                    x + (int64_t)n * s->h * s->w * s->c, s, oy);
    }
}

static void maxpool_backward(float *dx, const float *dy, const float *gate, const int32_t *argmax,
                             const tx_pool_shape *s) {
    const int c = s->c;
    const int64_t in_img = (int64_t)s->h * s->w * c;
    const int64_t out_img = (int64_t)s->oh * s->ow * c;
    const int nth = pool_threads(s->n * (in_img + out_img), s->n);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int n = 0; n < s->n; n++) {
        float *dxn = dx + n * in_img;
        const float *dyn = dy + n * out_img;
        const int32_t *an = argmax + n * out_img;
        memset(dxn, 0, (size_t)in_img * sizeof(float));
        for (int64_t p = 0; p < (int64_t)s->oh * s->ow; p++) {
            const float *g = dyn + p * c;
            const int32_t *a = an + p * c;
            /* distinct j address distinct elements, so this is safe to vectorize */
            if (gate) {
                const float *y = gate + n * out_img + p * c;
#pragma omp simd
                for (int j = 0; j < c; j++) dxn[(int64_t)a[j] * c + j] += y[j] > 0.0f ? g[j] : 0.0f;
            } else {
#pragma omp simd
                for (int j = 0; j < c; j++) dxn[(int64_t)a[j] * c + j] += g[j];
            }
        }
    }
}

void tx_maxpool_backward(float *dx, const float *dy, const int32_t *argmax,
                         const tx_pool_shape *s) {
    maxpool_backward(dx, dy, NULL, argmax, s);
}

void tx_maxpool_relu_backward(float *dx, const float *dy, const float *y, const int32_t *argmax,
                              const tx_pool_shape *s) {
    maxpool_backward(dx, dy, y, argmax, s);
}

/* ---- average pool -------------------------------------------------------- */

/* Divisor of the window starting at (y0, x0): with count_include_pad the window
 * clipped to the padded input (PyTorch), else the number of real input elements. */
static inline int avg_divisor(const tx_pool_shape *s, int y0, int x0) {
    if (s->count_include_pad)
        return (imin(y0 + s->kh, s->h + s->pad_b) - y0) * (imin(x0 + s->kw, s->w + s->pad_r) - x0);
    return (imin(y0 + s->kh, s->h) - imax(y0, 0)) * (imin(x0 + s->kw, s->w) - imax(x0, 0));
}

void tx_avgpool_forward(float *y, const float *x, const tx_pool_shape *s) {
    const int c = s->c, w = s->w;
    const int64_t rows = (int64_t)s->n * s->oh;
    const int64_t out_row = (int64_t)s->ow * c;
    const int nth = pool_threads(rows * out_row * s->kh * s->kw, rows);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t r = 0; r < rows; r++) {
        const int n = (int)(r / s->oh), oy = (int)(r % s->oh);
        const float *xn = x + (int64_t)n * s->h * w * c;
        const int y0 = oy * s->sh - s->pad_t;
        const int ya = imax(y0, 0), yb = imin(y0 + s->kh, s->h);
        for (int ox = 0; ox < s->ow; ox++) {
            const int x0 = ox * s->sw - s->pad_l;
            const int xa = imax(x0, 0), xb = imin(x0 + s->kw, w);
            float *yo = y + r * out_row + (int64_t)ox * c;
            memset(yo, 0, (size_t)c * sizeof(float));
            for (int iy = ya; iy < yb; iy++)
                for (int ix = xa; ix < xb; ix++) {
                    const float *xp = xn + ((int64_t)iy * w + ix) * c;
#pragma omp simd
                    for (int j = 0; j < c; j++) yo[j] += xp[j];
                }
            const float div = (float)avg_divisor(s, y0, x0);
#pragma omp simd
            for (int j = 0; j < c; j++) yo[j] /= div;
        }
    }
}

void tx_avgpool_backward(float *dx, const float *dy, const tx_pool_shape *s) {
    const int c = s->c, w = s->w;
    const int64_t in_img = (int64_t)s->h * w * c;
    const int64_t out_img = (int64_t)s->oh * s->ow * c;
    const int nth = pool_threads(s->n * (in_img + out_img * s->kh * s->kw), s->n);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int n = 0; n < s->n; n++) {
        float *dxn = dx + n * in_img;
        const float *dyn = dy + n * out_img;
        memset(dxn, 0, (size_t)in_img * sizeof(float));
        for (int oy = 0; oy < s->oh; oy++) {
            const int y0 = oy * s->sh - s->pad_t;
            const int ya = imax(y0, 0), yb = imin(y0 + s->kh, s->h);
            for (int ox = 0; ox < s->ow; ox++) {
                const int x0 = ox * s->sw - s->pad_l;
                const int xa = imax(x0, 0), xb = imin(x0 + s->kw, w);
                const float div = (float)avg_divisor(s, y0, x0);
                const float *g = dyn + ((int64_t)oy * s->ow + ox) * c;
                for (int c0 = 0; c0 < c; c0 += GAP_TILE) {
                    const int tc = imin(GAP_TILE, c - c0);
                    float gd[GAP_TILE]; /* dy / divisor, as PyTorch adds it */
                    for (int j = 0; j < tc; j++) gd[j] = g[c0 + j] / div;
                    for (int iy = ya; iy < yb; iy++)
                        for (int ix = xa; ix < xb; ix++) {
                            float *dp = dxn + ((int64_t)iy * w + ix) * c + c0;
#pragma omp simd
                            for (int j = 0; j < tc; j++) dp[j] += gd[j];
                        }
                }
            }
        }
    }
}

/* ---- global average pool ------------------------------------------------- */

/* Sums in double per channel tile, in row order. */
void tx_global_avgpool_forward(float *y, const float *x, int n, int hw, int c) {
    if (n <= 0 || hw <= 0 || c <= 0) return;
    const int tiles = (c + GAP_TILE - 1) / GAP_TILE;
    const int64_t tasks = (int64_t)n * tiles;
    const int nth = pool_threads((int64_t)n * hw * c, tasks);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t t = 0; t < tasks; t++) {
        const int b = (int)(t / tiles), c0 = (int)(t % tiles) * GAP_TILE;
        const int tc = imin(GAP_TILE, c - c0);
        double acc[GAP_TILE];
        for (int j = 0; j < tc; j++) acc[j] = 0;
        const float *xb = x + (int64_t)b * hw * c + c0;
        for (int r = 0; r < hw; r++) {
            const float *xr = xb + (int64_t)r * c;
#pragma omp simd
            for (int j = 0; j < tc; j++) acc[j] += xr[j];
        }
        float *yb = y + (int64_t)b * c + c0;
        for (int j = 0; j < tc; j++) yb[j] = (float)(acc[j] / hw);
    }
}

void tx_global_avgpool_backward(float *dx, const float *dy, int n, int hw, int c) {
    if (n <= 0 || hw <= 0 || c <= 0) return;
    const int64_t rows = (int64_t)n * hw;
    const int nth = pool_threads(rows * c, rows);
    const float div = (float)hw;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dy + (r / hw) * c;
        float *d = dx + r * c;
#pragma omp simd
        for (int j = 0; j < c; j++) d[j] = g[j] / div;
    }
}
