/* loss.c - softmax, softmax cross-entropy with label smoothing.
 *
 * Per row (logits x[k], label l, smoothing eps), with m = max x and s = sum exp(x - m):
 *   log p_j = x_j - m - log s
 *   nll     = (m - x_l) + log s                   (>= 0 term by term)
 *   smooth  = mean_j (m - x_j) + log s            (= -mean_j log p_j)
 *   loss    = (1 - eps) * nll + eps * smooth      (PyTorch's label_smoothing)
 * The batch loss is the mean over rows; per-thread partial sums (double) are added in
 * thread order, so a fixed thread count gives the same bits.
 * Labels must lie in [0, k) (the graph checks them); a label outside makes the loss
 * NaN instead of reading out of bounds, and its row's gradient has no one-hot term.
 */
#include "ops/ops.h"

#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define LOSS_MAXT 256
#define LOSS_PAR_MIN 32768

static int loss_threads(int n, int k) {
#ifdef _OPENMP
    int64_t want = (int64_t)n * k / LOSS_PAR_MIN;
    int64_t mx = omp_get_max_threads();
    if (want > mx) want = mx;
    if (want > n) want = n;
    if (want > LOSS_MAXT) want = LOSS_MAXT;
    return want < 1 ? 1 : (int)want;
#else
    (void)n;
    (void)k;
    return 1;
#endif
}

/* Writes the softmax of x[k] into p[k]; returns max and log(sum exp(x - max)). */
static void softmax_row(float *p, const float *x, int k, float *max_out, double *logs_out) {
    float m = x[0];
    for (int j = 1; j < k; j++) m = x[j] > m ? x[j] : m;
    double s = 0;
    for (int j = 0; j < k; j++) {
        float e = expf(x[j] - m);
        p[j] = e;
        s += e;
    }
    const float inv = (float)(1.0 / s);
#pragma omp simd
    for (int j = 0; j < k; j++) p[j] *= inv;
    *max_out = m;
    *logs_out = log(s);
}

float tx_softmax_xent_forward(float *probs, const float *logits, const int32_t *labels,
                              int n, int k, float smoothing) {
    if (n <= 0 || k <= 0) return 0.0f;
    const int nth = loss_threads(n, k);
    const double eps = smoothing;
    double part[LOSS_MAXT] = {0};
#pragma omp parallel num_threads(nth)
    {
        double acc = 0;
#pragma omp for schedule(static) nowait
        for (int i = 0; i < n; i++) {
            const float *x = logits + (int64_t)i * k;
            float m;
            double logs;
            softmax_row(probs + (int64_t)i * k, x, k, &m, &logs);
            const int32_t l = labels[i];
            double nll = (l >= 0 && l < k) ? (double)m - (double)x[l] + logs : NAN;
            double row = nll;
            if (eps != 0.0) {
                double d = 0;
                for (int j = 0; j < k; j++) d += (double)m - (double)x[j];
                row = (1.0 - eps) * nll + eps * (d / k + logs);
            }
            acc += row;
        }
#ifdef _OPENMP
        part[omp_get_thread_num()] = acc;
#else
        part[0] = acc;
#endif
    }
    double total = 0;
    for (int t = 0; t < nth; t++) total += part[t];
    return (float)(total / n);
}

void tx_softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels,
                              int n, int k, float smoothing) {
    if (n <= 0 || k <= 0) return;
    const int nth = loss_threads(n, k);
    const float inv_n = 1.0f / (float)n;
    const float off = smoothing / (float)k;     /* target mass on every class */
    const float hit = 1.0f - smoothing;         /* extra mass on the label */
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int i = 0; i < n; i++) {
        const float *p = probs + (int64_t)i * k;
        float *d = dlogits + (int64_t)i * k;
#pragma omp simd
        for (int j = 0; j < k; j++) d[j] = (p[j] - off) * inv_n;
        const int32_t l = labels[i];
        if (l >= 0 && l < k) d[l] = (p[l] - off - hit) * inv_n;
    }
}

void tx_softmax_forward(float *y, const float *x, int n, int k) {
    if (n <= 0 || k <= 0) return;
    const int nth = loss_threads(n, k);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int i = 0; i < n; i++) {
        float m;
        double logs;
        softmax_row(y + (int64_t)i * k, x + (int64_t)i * k, k, &m, &logs);
    }
}

/* dx = y * (dy - sum_j dy_j y_j) per row (softmax's Jacobian-vector product). */
void tx_softmax_backward(float *dx, const float *dy, const float *y, int n, int k) {
    if (n <= 0 || k <= 0) return;
    const int nth = loss_threads(n, k);
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int i = 0; i < n; i++) {
        const float *yr = y + (int64_t)i * k, *dr = dy + (int64_t)i * k;
        float *o = dx + (int64_t)i * k;
        double s = 0;
        for (int j = 0; j < k; j++) s += (double)dr[j] * yr[j];
        for (int j = 0; j < k; j++) o[j] = yr[j] * (dr[j] - (float)s);
    }
}
