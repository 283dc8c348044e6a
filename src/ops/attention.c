/* attention.c - multi-head scaled dot-product attention core; class token and position
 * embedding; class-token pooling.
 *
 * Attention, per sample b and head h (Q, K, V: [t, hd] strided views of q, k, v):
 *   S = Q K^T * scale          tx_sgemm(0,1, t, t, hd, scale, Q, ld, K, ld)
 *   P = softmax(S) by rows     max, exp (vmath.h), float sum, times 1/sum
 *   O = P V                    tx_sgemm(0,0, t, hd, t, 1, P, t, V, ld) -> y (ld D)
 * Backward, with dO the head's slice of dy:
 *   dV = P^T dO                dP = dO V^T
 *   dS = P * (dP - rowsum(P * dP))       (softmax backward; row sums in double)
 *   dQ = dS K * scale          dK = dS^T Q * scale
 * timm computes (Q*scale) K^T; multiplying after the product differs by a rounding
 * (nothing at all for hd = 64, 16, 4, ... where scale is a power of two).
 *
 * Threads: the forward runs tasks (sample, head, block of query rows) - query blocks
 * only when there are fewer than 2 tasks per thread otherwise, so batch-1 inference
 * still uses every thread; the backward runs tasks (sample, head), since dK and dV sum
 * over all query rows. Tasks are split statically over an OpenMP team and every
 * tx_sgemm call runs on its calling thread (OpenBLAS runs single-threaded inside a
 * parallel region), so a fixed thread count gives the same bits run to run.
 * Scratch: each thread owns 2*t*t floats (scores when probs is not kept; P and dP in
 * the backward).
 */
#include "ops/ops.h"
#include "ops/vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Elements below which the token ops stay on one thread. */
#define TOK_PAR_MIN 65536

static int omp_max(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int omp_tid(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int tx_attn_shape_init(tx_attn_shape *s, tx_err *err) {
    if (s->n < 0 || s->t < 1 || s->heads < 1 || s->hd < 1)
        return tx_err_set(err, TX_ESHAPE,
                          "attention shape: n=%d t=%d heads=%d head_dim=%d (need n >= 0, "
                          "t, heads, head_dim >= 1)",
                          s->n, s->t, s->heads, s->hd);
    const int64_t D = (int64_t)s->heads * s->hd;
    if (D > INT32_MAX / 3)
        return tx_err_set(err, TX_ESHAPE, "attention shape: heads*head_dim = %lld too large",
                          (long long)D);
    if (s->ldqkv == 0) s->ldqkv = (int)D;
    if (s->ldqkv < D)
        return tx_err_set(err, TX_ESHAPE,
                          "attention shape: ldqkv=%d is less than heads*head_dim=%lld",
                          s->ldqkv, (long long)D);
    if (s->scale == 0.0f) s->scale = (float)(1.0 / sqrt((double)s->hd));
    if (!isfinite(s->scale))
        return tx_err_set(err, TX_EINVAL, "attention shape: scale is not finite");
    if (s->threads < 0)
        return tx_err_set(err, TX_EINVAL, "attention shape: threads=%d", s->threads);
    if (s->threads == 0) s->threads = omp_max();
    /* the kernels index in int64_t; probs, scratch and q/k/v must fit in memory */
    size_t tt, probs, scr, rows, qkv;
    if (!tx_mul_ok((size_t)s->t, (size_t)s->t, &tt) ||
        !tx_mul_ok(tt, (size_t)s->n * (size_t)s->heads * sizeof(float), &probs) ||
        !tx_mul_ok(tt, 2 * (size_t)s->threads * sizeof(float), &scr) ||
        !tx_mul_ok((size_t)s->n, (size_t)s->t, &rows) ||
        !tx_mul_ok(rows, (size_t)s->ldqkv * sizeof(float), &qkv))
        return tx_err_set(err, TX_ESHAPE, "attention shape: n=%d t=%d is too large", s->n,
                          s->t);
    return TX_OK;
}

/* Threads the kernels use: min(threads, omp_get_max_threads()). */
static int attn_threads(const tx_attn_shape *s) {
    int mx = omp_max();
    return s->threads > 0 && s->threads < mx ? s->threads : mx;
}

static int attn_ld(const tx_attn_shape *s) {
    return s->ldqkv > 0 ? s->ldqkv : s->heads * s->hd;
}

static float attn_scale(const tx_attn_shape *s) {
    return s->scale != 0.0f ? s->scale : (float)(1.0 / sqrt((double)s->hd));
}

size_t tx_attention_scratch_floats(const tx_attn_shape *s) {
    int th = s->threads > 0 ? s->threads : omp_max();
    return 2 * (size_t)th * (size_t)s->t * (size_t)s->t;
}

/* Softmax of each of m rows of length t, in place. */
static void softmax_rows(float *S, int64_t m, int t) {
    for (int64_t i = 0; i < m; i++) {
        float *r = S + i * t;
        /* row max in 16 lanes (a plain elementwise loop, which every compiler
         * vectorizes; a max reduction needs fast-math in some) */
        float lane[16];
        for (int l = 0; l < 16; l++) lane[l] = r[0];
        int j0 = 0;
        for (; j0 + 16 <= t; j0 += 16)
            for (int l = 0; l < 16; l++) lane[l] = r[j0 + l] > lane[l] ? r[j0 + l] : lane[l];
        for (int j = j0; j < t; j++) lane[0] = r[j] > lane[0] ? r[j] : lane[0];
        float mx = lane[0];
        for (int l = 1; l < 16; l++) mx = lane[l] > mx ? lane[l] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < t; j++) {
            float e = tx_vexpf(r[j] - mx);
            r[j] = e;
            sum += e;
        }
        const float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < t; j++) r[j] *= inv;
    }
}

void tx_attention_forward(float *y, float *probs, const float *q, const float *k,
                          const float *v, const tx_attn_shape *s, float *scratch) {
    const int n = s->n, t = s->t, H = s->heads, hd = s->hd, D = H * hd;
    const int64_t ld = attn_ld(s);
    const float scale = attn_scale(s);
    if (n <= 0) return;
    int nth = attn_threads(s);
    const int64_t bh = (int64_t)n * H;
    /* query blocks: enough tasks for 2 per thread, blocks of at least 16 rows */
    int64_t nqb = 1;
    if (bh < 2 * (int64_t)nth) {
        nqb = (2 * (int64_t)nth + bh - 1) / bh;
        int64_t cap = (t + 15) / 16;
        if (nqb > cap) nqb = cap;
        if (nqb < 1) nqb = 1;
    }
    const int64_t qrows = (t + nqb - 1) / nqb;
    nqb = (t + qrows - 1) / qrows;
    const int64_t tasks = bh * nqb;
    if (nth > tasks) nth = (int)tasks;
#pragma omp parallel num_threads(nth)
    {
        float *sbuf = probs ? NULL : scratch + (size_t)omp_tid() * t * t;
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t b = task / (H * nqb), h = (task / nqb) % H, qb = task % nqb;
            const int64_t i0 = qb * qrows, m = t - i0 < qrows ? t - i0 : qrows;
            const float *Q = q + (b * t + i0) * ld + h * hd;
            const float *K = k + b * t * ld + h * hd, *V = v + b * t * ld + h * hd;
            float *S = probs ? probs + ((b * H + h) * t + i0) * t : sbuf;
            tx_sgemm(0, 1, m, t, hd, scale, Q, ld, K, ld, 0.0f, S, t);
            softmax_rows(S, m, t);
            tx_sgemm(0, 0, m, hd, t, 1.0f, S, t, V, ld, 0.0f, y + (b * t + i0) * D + h * hd, D);
        }
    }
}

void tx_attention_backward(float *dq, float *dk, float *dv, const float *dy,
                           const float *probs, const float *q, const float *k,
                           const float *v, const tx_attn_shape *s, float *scratch) {
    const int n = s->n, t = s->t, H = s->heads, hd = s->hd, D = H * hd;
    const int64_t ld = attn_ld(s);
    const float scale = attn_scale(s);
    if (n <= 0 || (!dq && !dk && !dv)) return;
    int nth = attn_threads(s);
    const int64_t tasks = (int64_t)n * H;
    if (nth > tasks) nth = (int)tasks;
#pragma omp parallel num_threads(nth)
    {
        float *dP = scratch + (size_t)omp_tid() * 2 * t * t, *Pbuf = dP + (size_t)t * t;
#pragma omp for schedule(static)
        for (int64_t task = 0; task < tasks; task++) {
            const int64_t b = task / H, h = task % H;
            const int64_t off = b * t * ld + h * hd;
            const float *Q = q + off, *K = k + off, *V = v + off;
            const float *dO = dy + b * t * D + h * hd;
            const float *P;
            if (probs) {
                P = probs + (b * H + h) * t * t;
            } else {
                tx_sgemm(0, 1, t, t, hd, scale, Q, ld, K, ld, 0.0f, Pbuf, t);
                softmax_rows(Pbuf, t, t);
                P = Pbuf;
            }
            if (dv) tx_sgemm(1, 0, t, hd, t, 1.0f, P, t, dO, D, 0.0f, dv + off, ld);
            if (!dq && !dk) continue;
            tx_sgemm(0, 1, t, t, hd, 1.0f, dO, D, V, ld, 0.0f, dP, t);
            for (int64_t i = 0; i < t; i++) {
                const float *pr = P + i * t;
                float *gr = dP + i * t;
                double dot = 0;
#pragma omp simd reduction(+ : dot)
                for (int j = 0; j < t; j++) dot += (double)pr[j] * gr[j];
                const float df = (float)dot;
#pragma omp simd
                for (int j = 0; j < t; j++) gr[j] = pr[j] * (gr[j] - df);
            }
            if (dq) tx_sgemm(0, 0, t, hd, t, scale, dP, t, K, ld, 0.0f, dq + off, ld);
            if (dk) tx_sgemm(1, 0, t, hd, t, scale, dP, t, Q, ld, 0.0f, dk + off, ld);
        }
    }
}

/* ---- references: straight loops in double ---- */

void tx_attention_forward_ref(float *y, float *probs, const float *q, const float *k,
                              const float *v, const tx_attn_shape *s) {
    const int n = s->n, t = s->t, H = s->heads, hd = s->hd, D = H * hd;
    const int64_t ld = attn_ld(s);
    const double scale = attn_scale(s);
    double *sc = malloc((size_t)t * sizeof *sc), *acc = malloc((size_t)hd * sizeof *acc);
    if (!sc || !acc) { /* test twin: no memory, no answer */
        free(sc);
        free(acc);
        return;
    }
    for (int64_t b = 0; b < n; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < t; i++) {
                const float *Q = q + (b * t + i) * ld + h * hd;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < t; j++) {
                    const float *K = k + (b * t + j) * ld + h * hd;
                    double d = 0;
                    for (int e = 0; e < hd; e++) d += (double)Q[e] * K[e];
                    sc[j] = d * scale;
                    mx = sc[j] > mx ? sc[j] : mx;
                }
                for (int64_t j = 0; j < t; j++) sum += sc[j] = exp(sc[j] - mx);
                for (int e = 0; e < hd; e++) acc[e] = 0;
                for (int64_t j = 0; j < t; j++) {
                    double p = sc[j] / sum;
                    if (probs) probs[((b * H + h) * t + i) * t + j] = (float)p;
                    const float *V = v + (b * t + j) * ld + h * hd;
                    for (int e = 0; e < hd; e++) acc[e] += p * V[e];
                }
                for (int e = 0; e < hd; e++) y[(b * t + i) * D + h * hd + e] = (float)acc[e];
            }
    free(sc);
    free(acc);
}

void tx_attention_backward_ref(float *dq, float *dk, float *dv, const float *dy,
                               const float *q, const float *k, const float *v,
                               const tx_attn_shape *s) {
    const int n = s->n, t = s->t, H = s->heads, hd = s->hd, D = H * hd;
    const int64_t ld = attn_ld(s);
    const double scale = attn_scale(s);
    double *P = malloc((size_t)t * t * sizeof *P), *G = malloc((size_t)t * t * sizeof *G);
    if (!P || !G) {
        free(P);
        free(G);
        return;
    }
    for (int64_t b = 0; b < n; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t off = b * t * ld + h * hd;
            const float *dO = dy + b * t * D + h * hd;
            for (int64_t i = 0; i < t; i++) { /* P */
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < t; j++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++) d += (double)q[off + i * ld + e] * k[off + j * ld + e];
                    P[i * t + j] = d * scale;
                    mx = P[i * t + j] > mx ? P[i * t + j] : mx;
                }
                for (int64_t j = 0; j < t; j++) sum += P[i * t + j] = exp(P[i * t + j] - mx);
                for (int64_t j = 0; j < t; j++) P[i * t + j] /= sum;
            }
            for (int64_t i = 0; i < t; i++) { /* dS */
                double dot = 0;
                for (int64_t j = 0; j < t; j++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++) d += (double)dO[i * D + e] * v[off + j * ld + e];
                    G[i * t + j] = d;
                    dot += P[i * t + j] * d;
                }
                for (int64_t j = 0; j < t; j++) G[i * t + j] = P[i * t + j] * (G[i * t + j] - dot);
            }
            for (int64_t i = 0; i < t; i++)
                for (int e = 0; e < hd; e++) {
                    double aq = 0, ak = 0, av = 0;
                    for (int64_t j = 0; j < t; j++) {
                        aq += G[i * t + j] * k[off + j * ld + e];
                        ak += G[j * t + i] * q[off + j * ld + e];
                        av += P[j * t + i] * dO[j * D + e];
                    }
                    if (dq) dq[off + i * ld + e] = (float)(aq * scale);
                    if (dk) dk[off + i * ld + e] = (float)(ak * scale);
                    if (dv) dv[off + i * ld + e] = (float)av;
                }
        }
    free(P);
    free(G);
}

/* ==== class token, position embedding, class-token pooling ================== */

void tx_cls_pos_forward(float *y, const float *x, const float *cls, const float *pos,
                        int n, int t, int d) {
    if (n <= 0 || d <= 0) return;
    const int has = cls != NULL, ty = t + has;
    const int64_t rows = (int64_t)n * ty;
#pragma omp parallel for schedule(static) if (rows * d >= TOK_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t b = r / ty, j = r % ty;
        const float *src = has && j == 0 ? cls : x + (b * t + j - has) * d;
        float *yr = y + r * d;
        if (pos) {
            const float *pr = pos + j * d;
#pragma omp simd
            for (int e = 0; e < d; e++) yr[e] = src[e] + pr[e];
        } else {
            memcpy(yr, src, (size_t)d * sizeof *yr);
        }
    }
}

void tx_cls_pos_backward(float *dx, float *dcls, float *dpos, const float *dy, int has_cls,
                         int n, int t, int d) {
    if (d <= 0) return;
    const int has = has_cls != 0, ty = t + has;
    if (dx && n > 0 && t > 0) {
        const int64_t rows = (int64_t)n * t;
#pragma omp parallel for schedule(static) if (rows * d >= TOK_PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
            const int64_t b = r / t, j = r % t;
            memcpy(dx + r * d, dy + (b * ty + j + has) * d, (size_t)d * sizeof *dx);
        }
    }
    if (dcls && has) { /* token 0 summed over the batch */
        for (int e = 0; e < d; e++) {
            double acc = 0;
            for (int64_t b = 0; b < n; b++) acc += dy[b * ty * d + e];
            dcls[e] = (float)acc;
        }
    }
    if (dpos) { /* every token summed over the batch; tasks are tokens */
#pragma omp parallel for schedule(static) if ((int64_t)n * ty * d >= TOK_PAR_MIN)
        for (int j = 0; j < ty; j++) {
            for (int e0 = 0; e0 < d; e0 += 64) {
                const int te = d - e0 < 64 ? d - e0 : 64;
                double acc[64] = {0};
                for (int64_t b = 0; b < n; b++) {
                    const float *g = dy + (b * ty + j) * d + e0;
#pragma omp simd
                    for (int e = 0; e < te; e++) acc[e] += g[e];
                }
                for (int e = 0; e < te; e++) dpos[(int64_t)j * d + e0 + e] = (float)acc[e];
            }
        }
    }
}

void tx_token0_forward(float *y, const float *x, int n, int t, int d) {
    if (d <= 0 || t <= 0) return;
    for (int64_t b = 0; b < n; b++)
        memcpy(y + b * d, x + b * t * d, (size_t)d * sizeof *y);
}

void tx_token0_backward(float *dx, const float *dy, int n, int t, int d) {
    if (d <= 0 || t <= 0) return;
    for (int64_t b = 0; b < n; b++) {
        memcpy(dx + b * t * d, dy + b * d, (size_t)d * sizeof *dx);
        memset(dx + (b * t + 1) * d, 0, (size_t)(t - 1) * (size_t)d * sizeof *dx);
    }
}
