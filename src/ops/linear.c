/* linear.c - fully connected layer, PyTorch's weight layout w[out, in].
 *   forward:  y[n,out]  = x[n,in] * w^T + b
 *   backward: dx[n,in]  = dy[n,out] * w[out,in]
 *             dw[out,in] = dy^T * x
 *             db[out]    = sum over n of dy
 * The matrix products go through tx_sgemm (BLAS when available). */
#include "ops/ops.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define DB_TILE 256
#define LIN_PAR_MIN 65536

void tx_linear_forward(float *y, const float *x, const float *w, const float *b, int64_t n,
                       int in, int out) {
    if (n <= 0 || out <= 0) return;
    if (in <= 0) { /* empty product: y = b */
        for (int64_t i = 0; i < n; i++) {
            if (b) memcpy(y + i * out, b, (size_t)out * sizeof(float));
            else memset(y + i * out, 0, (size_t)out * sizeof(float));
        }
        return;
    }
    float beta = 0.0f;
    if (b) {
        for (int64_t i = 0; i < n; i++) memcpy(y + i * out, b, (size_t)out * sizeof(float));
        beta = 1.0f;
    }
    tx_sgemm(0, 1, n, out, in, 1.0f, x, in, w, in, beta, y, out);
}

void tx_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int64_t n, int in, int out) {
    if (out <= 0) return;
    if (n <= 0 || in <= 0) { /* no rows or no inputs: the gradients are zero */
        if (dw && in > 0) memset(dw, 0, (size_t)out * (size_t)in * sizeof(float));
        if (db) memset(db, 0, (size_t)out * sizeof(float));
        return;
    }
    if (dx) tx_sgemm(0, 0, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
    if (dw) tx_sgemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 0.0f, dw, in);
    if (db) {
        /* column sums in double, rows in order; tiles of outputs are independent */
        const int tiles = (out + DB_TILE - 1) / DB_TILE;
        int nth = 1;
#ifdef _OPENMP
        if (n * (int64_t)out >= 2 * LIN_PAR_MIN) {
            nth = omp_get_max_threads();
            if (nth > tiles) nth = tiles;
        }
#endif
#pragma omp parallel for schedule(static) num_threads(nth)
        for (int t = 0; t < tiles; t++) {
            const int o0 = t * DB_TILE;
            const int to = out - o0 < DB_TILE ? out - o0 : DB_TILE;
            double acc[DB_TILE];
            for (int j = 0; j < to; j++) acc[j] = 0;
            for (int64_t i = 0; i < n; i++) {
                const float *g = dy + i * out + o0;
#pragma omp simd
                for (int j = 0; j < to; j++) acc[j] += g[j];
            }
            for (int j = 0; j < to; j++) db[o0 + j] = (float)acc[j];
        }
    }
}
