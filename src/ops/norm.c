/* norm.c - batch normalization over the channel (last) axis; layer normalization over
 * the last axis (at the end of the file).
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
#include <stdlib.h>
#include <string.h>

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

/* ==== layer normalization over the last axis ================================
 *
 * x[rows, c], each row normalized on its own (torch.nn.LayerNorm over the last dim).
 * Rows are independent, so the forward and the dx pass split rows over threads and
 * give the same bits for any thread count. Per row, in double: mean = sum x / c, then
 * var = sum (x - mean)^2 / c (two passes; the row is in L1 for the second). The mean is
 * applied as two floats (hi + lo) as in the batch norm above. save_mean holds hi.
 *
 * Backward, with g = dy * w, xhat = (x - mean) * rstd:
 *   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
 *   dw = sum_rows dy * xhat,  db = sum_rows dy
 * The backward recovers the lo part of the mean (mean of x - save_mean over the row), so
 * centring stays exact when |mean| >> std. One pass over the rows (split over threads)
 * writes dx and adds dw/db into per-thread double sums, combined in thread order (same
 * thread count, same bits; the forward and dx do not depend on the thread count at all).
 */

/* Channels whose dw/db partial sums live on the stack (2 x 2048 doubles per thread);
 * wider rows take one more pass over the data per 2048 channels. */
#define LN_MAXC 2048

static int ln_threads(int64_t rows, int c, int64_t tasks) {
    int nth = bn_threads(rows, c);
    return tasks < nth ? (int)(tasks > 0 ? tasks : 1) : nth;
}

void tx_layernorm_forward(float *y, float *save_mean, float *save_rstd, const float *x,
                          const float *w, const float *b, int64_t rows, int c, float eps) {
    if (rows <= 0 || c <= 0) return;
    const int nth = ln_threads(rows, c, rows);
    const double inv_c = 1.0 / (double)c;
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < c; j++) s += xr[j];
        const double mean = s * inv_c;
        double v = 0;
#pragma omp simd reduction(+ : v)
        for (int j = 0; j < c; j++) {
            double d = (double)xr[j] - mean;
            v += d * d;
        }
        const double rstd = 1.0 / sqrt(v * inv_c + (double)eps);
        const float hi = (float)mean, lo = (float)(mean - (double)hi), rs = (float)rstd;
        if (save_mean) save_mean[r] = hi;
        if (save_rstd) save_rstd[r] = rs;
        if (w && b) {
#pragma omp simd
            for (int j = 0; j < c; j++) yr[j] = ((xr[j] - hi) - lo) * rs * w[j] + b[j];
        } else if (w) {
#pragma omp simd
            for (int j = 0; j < c; j++) yr[j] = ((xr[j] - hi) - lo) * rs * w[j];
        } else if (b) {
#pragma omp simd
            for (int j = 0; j < c; j++) yr[j] = ((xr[j] - hi) - lo) * rs + b[j];
        } else {
#pragma omp simd
            for (int j = 0; j < c; j++) yr[j] = ((xr[j] - hi) - lo) * rs;
        }
    }
}

/* One row of the backward: dx (when dr is non-NULL) and, when aw is non-NULL,
 * aw[j - c0] += dy * xhat, ab[j - c0] += dy for channels j in [c0, c0 + cc), with xhat
 * centred on the row's exact mean (hi + lo). */
static void ln_row_backward(float *dr, double *aw, double *ab, int c0, int cc,
                            const float *gr, const float *xr, const float *w, float hi,
                            float rs, int c, double inv_c) {
    double s1 = 0, s2 = 0, s3 = 0;
    if (w) {
#pragma omp simd reduction(+ : s1, s2, s3)
        for (int j = 0; j < c; j++) {
            double g = (double)gr[j] * w[j], d = (double)xr[j] - hi;
            s1 += g;
            s2 += g * d;
            s3 += d;
        }
    } else {
#pragma omp simd reduction(+ : s1, s2, s3)
        for (int j = 0; j < c; j++) {
            double g = gr[j], d = (double)xr[j] - hi;
            s1 += g;
            s2 += g * d;
            s3 += d;
        }
    }
    const double lo = s3 * inv_c;          /* true row mean - hi */
    const double sgx = (s2 - lo * s1) * rs; /* sum g * xhat */
    const float a = (float)(s1 * inv_c), bb = (float)(sgx * inv_c), lof = (float)lo;
    if (dr && w) {
#pragma omp simd
        for (int j = 0; j < c; j++)
            dr[j] = rs * (gr[j] * w[j] - a - ((xr[j] - hi) - lof) * rs * bb);
    } else if (dr) {
#pragma omp simd
        for (int j = 0; j < c; j++) dr[j] = rs * (gr[j] - a - ((xr[j] - hi) - lof) * rs * bb);
    }
    if (aw) {
        const float *xc = xr + c0, *gc = gr + c0;
#pragma omp simd
        for (int j = 0; j < cc; j++) {
            aw[j] += (double)gc[j] * (((xc[j] - hi) - lof) * rs);
            ab[j] += gc[j];
        }
    }
}

void tx_layernorm_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, const float *save_mean, const float *save_rstd,
                           int64_t rows, int c) {
    if (c <= 0) return;
    if (rows <= 0) {
        if (dw) memset(dw, 0, (size_t)c * sizeof *dw);
        if (db) memset(db, 0, (size_t)c * sizeof *db);
        return;
    }
    const double inv_c = 1.0 / (double)c;
    const int sums = dw || db;
    if (!dx && !sums) return;
    const int nth = ln_threads(rows, c, rows);
    /* Pass k covers dw/db channels [k*LN_MAXC, ...) (one pass unless c > LN_MAXC);
     * pass 0 also writes dx. Rows are split over threads; per-thread partial sums
     * (double) are added in thread order. */
    for (int c0 = 0; c0 == 0 || (sums && c0 < c); c0 += LN_MAXC) {
        const int cc = !sums ? 0 : c - c0 < LN_MAXC ? c - c0 : LN_MAXC;
        float *dxp = c0 == 0 ? dx : NULL;
        double tw[LN_MAXC], tb[LN_MAXC];
        for (int j = 0; j < cc; j++) tw[j] = tb[j] = 0;
#pragma omp parallel num_threads(nth)
        {
            double pw[LN_MAXC], pb[LN_MAXC];
            for (int j = 0; j < cc; j++) pw[j] = pb[j] = 0;
#pragma omp for schedule(static) nowait
            for (int64_t r = 0; r < rows; r++)
                ln_row_backward(dxp ? dxp + r * c : NULL, sums ? pw : NULL, pb, c0, cc,
                                dy + r * c, x + r * c, w, save_mean[r], save_rstd[r], c, inv_c);
            if (sums) {
                const int nt = team_size();
#pragma omp for ordered schedule(static, 1)
                for (int t = 0; t < nt; t++) {
#pragma omp ordered
                    {
                        for (int j = 0; j < cc; j++) {
                            tw[j] += pw[j];
                            tb[j] += pb[j];
                        }
                    }
                }
            }
        }
        for (int j = 0; j < cc; j++) {
            if (dw) dw[c0 + j] = (float)tw[j];
            if (db) db[c0 + j] = (float)tb[j];
        }
    }
}

void tx_layernorm_forward_ref(float *y, float *save_mean, float *save_rstd, const float *x,
                              const float *w, const float *b, int64_t rows, int c, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        double m = 0, v = 0;
        for (int j = 0; j < c; j++) m += xr[j];
        m /= c;
        for (int j = 0; j < c; j++) v += ((double)xr[j] - m) * ((double)xr[j] - m);
        double rs = 1.0 / sqrt(v / c + (double)eps);
        for (int j = 0; j < c; j++)
            y[r * c + j] = (float)(((double)xr[j] - m) * rs * (w ? w[j] : 1.0) + (b ? b[j] : 0.0));
        if (save_mean) save_mean[r] = (float)m;
        if (save_rstd) save_rstd[r] = (float)rs;
    }
}

/* Recomputes the statistics in double from x (it needs no saved tensors). */
void tx_layernorm_backward_ref(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, int64_t rows, int c, float eps) {
    for (int j = 0; j < c; j++) {
        if (dw) dw[j] = 0;
        if (db) db[j] = 0;
    }
    double *aw = calloc((size_t)c, sizeof *aw), *ab = calloc((size_t)c, sizeof *ab);
    if (!aw || !ab) { /* the reference is for tests; no memory means no answer */
        free(aw);
        free(ab);
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c, *gr = dy + r * c;
        double m = 0, v = 0;
        for (int j = 0; j < c; j++) m += xr[j];
        m /= c;
        for (int j = 0; j < c; j++) v += ((double)xr[j] - m) * ((double)xr[j] - m);
        double rs = 1.0 / sqrt(v / c + (double)eps);
        double sg = 0, sgx = 0;
        for (int j = 0; j < c; j++) {
            double g = (double)gr[j] * (w ? w[j] : 1.0), xh = ((double)xr[j] - m) * rs;
            sg += g;
            sgx += g * xh;
            aw[j] += gr[j] * xh;
            ab[j] += gr[j];
        }
        if (dx)
            for (int j = 0; j < c; j++) {
                double g = (double)gr[j] * (w ? w[j] : 1.0), xh = ((double)xr[j] - m) * rs;
                dx[r * c + j] = (float)(rs * (g - sg / c - xh * sgx / c));
            }
    }
    for (int j = 0; j < c; j++) {
        if (dw) dw[j] = (float)aw[j];
        if (db) db[j] = (float)ab[j];
    }
    free(aw);
    free(ab);
}
