/* norm.c - batch normalization over the channel (last) axis.
 *
 * x[rows, c] with rows = n*h*w (NHWC). Statistics are accumulated in double, per
 * channel, over a row range per thread; the per-thread partial sums are combined in
 * thread order (an ordered loop), so a fixed thread count gives bit-identical results.
 * Channels are processed in tiles of BN_TILE so that every buffer lives on the stack:
 * the kernels never allocate and never fail.
 *
 * Mean/variance: one pass over shifted data, d = x - x[row 0], sums of d and d*d in
 * double. The shift keeps the cancellation in E[d^2] - E[d]^2 harmless even when
 * |mean| >> std, and double sums keep the error far below float resolution. The mean is
 * then applied as two floats (hi + lo), so x - mean is as exact as with a double mean.
 */
#include "ops/ops.h"

#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define BN_TILE 256
/* Elements of work per thread below which another thread does not pay off. */
#define BN_MIN_WORK_PER_THREAD 32768

static int bn_threads(int64_t rows, int c) {
#ifdef _OPENMP
    int64_t want = rows * (int64_t)c / BN_MIN_WORK_PER_THREAD;
    int64_t mx = omp_get_max_threads();
    if (want > mx) want = mx;
    if (want > rows) want = rows;
    return want < 1 ? 1 : (int)want;
#else
    (void)rows;
    (void)c;
    return 1;
#endif
}

static int team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

void tx_batchnorm_forward_train(float *y, float *save_mean, float *save_invstd,
                                float *running_mean, float *running_var, const float *x,
                                const float *gamma, const float *beta, int64_t rows, int c,
                                float eps, float momentum) {
    if (rows <= 0 || c <= 0) return;
    const int nth = bn_threads(rows, c);
    const double inv_rows = 1.0 / (double)rows;
    /* PyTorch updates running_var with the unbiased estimate; with one row that is
     * undefined (PyTorch refuses), so the biased one is used instead of inf/NaN. */
    const double unbias = rows > 1 ? (double)rows / (double)(rows - 1) : 1.0;
    for (int c0 = 0; c0 < c; c0 += BN_TILE) {
        const int tc = c - c0 < BN_TILE ? c - c0 : BN_TILE;
        double shift[BN_TILE], tot1[BN_TILE], tot2[BN_TILE];
        float hi_t[BN_TILE], lo_t[BN_TILE], scale_t[BN_TILE];
        for (int j = 0; j < tc; j++) {
            shift[j] = x[c0 + j];
            tot1[j] = 0;
            tot2[j] = 0;
        }
#pragma omp parallel num_threads(nth)
        {
            double p1[BN_TILE], p2[BN_TILE];
            for (int j = 0; j < tc; j++) p1[j] = p2[j] = 0;
#pragma omp for schedule(static) nowait
            for (int64_t r = 0; r < rows; r++) {
                const float *xr = x + r * c + c0;
#pragma omp simd
                for (int j = 0; j < tc; j++) {
                    double d = (double)xr[j] - shift[j];
                    p1[j] += d;
                    p2[j] += d * d;
                }
            }
            const int nt = team_size();
#pragma omp for ordered schedule(static, 1)
            for (int t = 0; t < nt; t++) {
#pragma omp ordered
                {
                    for (int j = 0; j < tc; j++) {
                        tot1[j] += p1[j];
                        tot2[j] += p2[j];
                    }
                }
            }
#pragma omp single
            {
                for (int j = 0; j < tc; j++) {
                    double md = tot1[j] * inv_rows;
                    double var = tot2[j] * inv_rows - md * md;
                    if (var < 0) var = 0;
                    double mean = shift[j] + md;
                    double invstd = 1.0 / sqrt(var + (double)eps);
                    /* mean = hi + lo in two floats: x - hi is exact near the mean,
                     * so (x - hi) - lo centres as precisely as a double mean would */
                    hi_t[j] = (float)mean;
                    lo_t[j] = (float)(mean - (double)hi_t[j]);
                    scale_t[j] = (float)(invstd * (double)gamma[c0 + j]);
                    if (save_mean) save_mean[c0 + j] = (float)mean;
                    if (save_invstd) save_invstd[c0 + j] = (float)invstd;
                    if (running_mean)
                        running_mean[c0 + j] = (float)((1.0 - momentum) * running_mean[c0 + j] +
                                                       (double)momentum * mean);
                    if (running_var)
                        running_var[c0 + j] = (float)((1.0 - momentum) * running_var[c0 + j] +
                                                      (double)momentum * var * unbias);
                }
            }
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                const float *xr = x + r * c + c0;
                float *yr = y + r * c + c0;
                const float *br = beta + c0;
#pragma omp simd
                for (int j = 0; j < tc; j++)
                    yr[j] = ((xr[j] - hi_t[j]) - lo_t[j]) * scale_t[j] + br[j];
            }
        }
    }
}

void tx_batchnorm_forward_eval(float *y, const float *x, const float *gamma,
                               const float *beta, const float *running_mean,
                               const float *running_var, int64_t rows, int c, float eps) {
    if (rows <= 0 || c <= 0) return;
    const int nth = bn_threads(rows, c);
    for (int c0 = 0; c0 < c; c0 += BN_TILE) {
        const int tc = c - c0 < BN_TILE ? c - c0 : BN_TILE;
        float scale_t[BN_TILE];
        for (int j = 0; j < tc; j++)
            scale_t[j] = (float)((double)gamma[c0 + j] /
                                 sqrt((double)running_var[c0 + j] + (double)eps));
        const float *mr = running_mean + c0, *br = beta + c0;
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * c + c0;
            float *yr = y + r * c + c0;
#pragma omp simd
            for (int j = 0; j < tc; j++) yr[j] = (xr[j] - mr[j]) * scale_t[j] + br[j];
        }
    }
}

/* With xhat = (x - mean) * invstd and N = rows:
 *   dbeta  = sum dy
 *   dgamma = sum dy * xhat
 *   dx     = gamma * invstd * (dy - dbeta/N - xhat * dgamma/N)
 * The pass also sums x - save_mean: its mean (lo) is the part of the batch mean that
 * the float save_mean could not hold, so centring stays exact when |mean| >> std. */
void tx_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *gamma, const float *save_mean,
                           const float *save_invstd, int64_t rows, int c) {
    if (rows <= 0 || c <= 0) return;
    const int nth = bn_threads(rows, c);
    const double inv_rows = 1.0 / (double)rows;
    for (int c0 = 0; c0 < c; c0 += BN_TILE) {
        const int tc = c - c0 < BN_TILE ? c - c0 : BN_TILE;
        double tot1[BN_TILE], tot2[BN_TILE], tot3[BN_TILE];
        float k_t[BN_TILE], a_t[BN_TILE], b_t[BN_TILE], lo_t[BN_TILE];
        const float *hr = save_mean + c0;
        for (int j = 0; j < tc; j++) tot1[j] = tot2[j] = tot3[j] = 0;
#pragma omp parallel num_threads(nth)
        {
            double p1[BN_TILE], p2[BN_TILE], p3[BN_TILE];
            for (int j = 0; j < tc; j++) p1[j] = p2[j] = p3[j] = 0;
#pragma omp for schedule(static) nowait
            for (int64_t r = 0; r < rows; r++) {
                const float *xr = x + r * c + c0, *gr = dy + r * c + c0;
#pragma omp simd
                for (int j = 0; j < tc; j++) {
                    double g = gr[j], d = (double)xr[j] - (double)hr[j];
                    p1[j] += g;
                    p2[j] += g * d;
                    p3[j] += d;
                }
            }
            const int nt = team_size();
#pragma omp for ordered schedule(static, 1)
            for (int t = 0; t < nt; t++) {
#pragma omp ordered
                {
                    for (int j = 0; j < tc; j++) {
                        tot1[j] += p1[j];
                        tot2[j] += p2[j];
                        tot3[j] += p3[j];
                    }
                }
            }
#pragma omp single
            {
                for (int j = 0; j < tc; j++) {
                    double is = save_invstd[c0 + j];
                    double lo = tot3[j] * inv_rows;      /* batch mean - save_mean */
                    double sdx = tot2[j] - lo * tot1[j]; /* sum dy * (x - mean) */
                    if (dbeta) dbeta[c0 + j] = (float)tot1[j];
                    if (dgamma) dgamma[c0 + j] = (float)(sdx * is);
                    k_t[j] = (float)((double)gamma[c0 + j] * is);
                    a_t[j] = (float)(tot1[j] * inv_rows);
                    b_t[j] = (float)(sdx * is * is * inv_rows);
                    lo_t[j] = (float)lo;
                }
            }
            if (dx) {
#pragma omp for schedule(static)
                for (int64_t r = 0; r < rows; r++) {
                    const float *xr = x + r * c + c0, *gr = dy + r * c + c0;
                    float *dr = dx + r * c + c0;
#pragma omp simd
                    for (int j = 0; j < tc; j++)
                        dr[j] = k_t[j] * (gr[j] - a_t[j] - ((xr[j] - hr[j]) - lo_t[j]) * b_t[j]);
                }
            }
        }
    }
}
